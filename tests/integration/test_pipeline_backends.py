"""The whole scan on PostgreSQL with each blob store: round trip and deduplication."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config, S3Config, StorageConfig, load_config
from daemon.database import Database
from daemon.inbox import Inbox
from daemon.models import RunStatus
from daemon.pipeline import Pipeline
from daemon.scanner import Scanner
from daemon.storage import BlobStore, make_store
from daemon.storage.s3 import S3BlobStore
from tests.conftest import write_config
from tests.s3_server import S3Calls

CORPUS = Path(__file__).parents[3] / "shared" / "corpus" / "ds_etc" / "dcom"


def corpus_tarball() -> bytes:
    """A real ds_etc bundle: the shared corpus's etc/ tree as a tar.gz."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(CORPUS / "etc", arcname="etc")
    return buffer.getvalue()


@pytest.fixture(params=["local", "s3"])
def backend_config(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Config:
    config = load_config(write_config(tmp_path, database_url=pg_url))
    if request.param == "s3":
        s3: S3Config = request.getfixturevalue("s3_config")
        storage = StorageConfig(backend="s3", path=config.storage.path, s3=s3)
        return dataclasses.replace(config, storage=storage)
    return config


def blob_count(store: BlobStore, config: Config) -> int:
    if config.storage.backend == "local":
        return sum(1 for p in (config.storage.path / "sha256").rglob("*") if p.is_file())
    client = store.client  # type: ignore[attr-defined]
    listing = client.list_objects_v2(Bucket=config.storage.s3.bucket)
    return int(listing.get("KeyCount", 0))


def test_corpus_bundle_round_trips_and_a_second_drop_shares_the_blob(
    backend_config: Config,
) -> None:
    config = backend_config
    db = Database(config.database.url)
    store = make_store(config.storage)
    inbox = Inbox(config.inbox.path)
    scanner = Scanner(inbox, Pipeline(config, db, store), workers=2, settle_seconds=0.0)
    bundle = corpus_tarball()
    inbox.ensure()
    (inbox.root / "ds_etc" / "dcom").mkdir()
    (inbox.root / "ds_etc" / "dcom" / "etc.tgz").write_bytes(bundle)

    assert scanner.scan().stored == 1
    [run] = db.list_runs()
    assert (run.status, run.label) == (RunStatus.STORED, "dcom")
    [file] = run.files
    with store.open(file.stored_object_key) as blob:
        content = blob.read()
    assert hashlib.sha256(content).hexdigest() == file.sha256 == hashlib.sha256(bundle).hexdigest()
    assert gzip.decompress(content)  # a readable archive came back

    (inbox.root / "instance_etc" / "again.tgz").write_bytes(bundle)
    assert scanner.scan().stored == 1
    second, first = db.list_runs()
    assert first.id == run.id
    assert second.files[0].stored_object_key == file.stored_object_key
    assert f"same content as run {run.id}" in (second.notes or "")
    assert blob_count(store, config) == 1
    assert list(inbox.claimed()) == []
    db.dispose()


def test_stored_corpus_bundle_parses_from_either_store(backend_config: Config) -> None:
    """The parser streams the bundle back from the store it went into (S3's body is not
    seekable): the same counts from both."""
    from daemon.conf.store import run_counts
    from daemon.parsing import RunParser

    config = backend_config
    db = Database(config.database.url)
    store = make_store(config.storage)
    inbox = Inbox(config.inbox.path)
    scanner = Scanner(inbox, Pipeline(config, db, store), workers=1, settle_seconds=0.0)
    inbox.ensure()
    (inbox.root / "ds_etc" / "etc.tgz").write_bytes(corpus_tarball())
    assert scanner.scan().stored == 1
    [run] = db.list_runs()

    outcome = RunParser(config, db, store).parse_next()

    assert outcome is not None and outcome.status == RunStatus.COMPLETE, outcome
    assert db.get_run(run.id).status == RunStatus.COMPLETE
    counts = run_counts(db.engine, run.id)
    assert counts == outcome.counts
    # Read off the corpus: 235 .conf/.meta files where Splunk reads them, 4 server classes
    # and their 17 app stanzas.
    assert (counts["conf_files"], counts["serverclasses"]) == (235, 21)
    db.dispose()


@pytest.fixture
def s3_pipeline_config(tmp_path: Path, pg_url: str, s3_config: S3Config) -> Config:
    config = load_config(write_config(tmp_path, database_url=pg_url))
    storage = StorageConfig(backend="s3", path=config.storage.path, s3=s3_config)
    return dataclasses.replace(config, storage=storage)


def drop_bundles(inbox: Inbox, count: int, seed: int = 0) -> list[bytes]:
    """`count` small app bundles, each its own content, dropped into the inbox."""
    inbox.ensure()
    contents = []
    for n in range(count):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = f"[stanza]\nkey = {seed}-{n}\n".encode()
            info = tarfile.TarInfo(f"app{n}/default/app.conf")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        contents.append(gzip.compress(buffer.getvalue(), mtime=0))  # the same bytes each time
        (inbox.root / "app_bundle" / f"app{n}.tgz").write_bytes(contents[-1])
    return contents


def test_s3_batch_asks_the_database_once_and_sends_one_put_per_new_blob(
    s3_pipeline_config: Config,
) -> None:
    config = s3_pipeline_config
    db = Database(config.database.url)
    store = make_store(config.storage)
    assert isinstance(store, S3BlobStore)
    pipeline = Pipeline(config, db, store)
    batches: list[int] = []
    lookups: list[int] = []
    process_batch, stored_keys = pipeline.process_batch, db.stored_keys

    def spy_batch(batch: Any) -> Any:
        batches.append(len(batch))
        return process_batch(batch)

    def spy_lookup(keys: Any) -> set[str]:
        lookups.append(len(keys))
        return stored_keys(keys)

    pipeline.process_batch = spy_batch  # type: ignore[method-assign]
    db.stored_keys = spy_lookup  # type: ignore[method-assign]
    inbox = Inbox(config.inbox.path)
    scanner = Scanner(inbox, pipeline, workers=1, settle_seconds=0.0)
    calls = S3Calls(store)
    contents = drop_bundles(inbox, 12)

    assert scanner.scan().stored == 12
    assert calls.counts == {"HeadBucket": 1, "PutObject": 12}  # the scan's ping, then PUTs
    assert len(lookups) == len(batches) >= 1 and sum(lookups) == 12

    calls.reset()
    lookups.clear()
    batches.clear()
    again = drop_bundles(inbox, 12)  # the same contents again: nothing to upload
    assert again == contents
    assert scanner.scan().stored == 12
    assert calls.counts == {"HeadBucket": 1}
    assert len(lookups) == len(batches)
    runs = db.list_runs(limit=None)
    assert len(runs) == 24 and {r.status for r in runs} == {RunStatus.STORED}
    assert blob_count(store, config) == 12
    store.close()
    db.dispose()


def test_s3_body_rejected_by_the_store_leaves_the_run_pending_and_is_stored_on_retry(
    s3_pipeline_config: Config,
) -> None:
    """A PUT whose checksum the store rejects (BadDigest) is a transient failure: the file
    stays claimed, its run `pending`, and the next pass stores it; never a stored run without
    its blob."""
    config = s3_pipeline_config
    db = Database(config.database.url)
    store = make_store(config.storage)
    assert isinstance(store, S3BlobStore)
    send = store._send
    damaged: list[str] = []

    def damage_first_put(
        method: str | None, key: str | None, body: bytes = b"", *a: Any, **k: Any
    ) -> Any:
        if method == "PUT" and not damaged:
            damaged.append(str(key))
            body = bytes(b ^ 0xFF for b in body)  # what the network delivered
        return send(method, key, body, *a, **k)

    store._send = damage_first_put  # type: ignore[method-assign]
    inbox = Inbox(config.inbox.path)
    scanner = Scanner(inbox, Pipeline(config, db, store), workers=1, settle_seconds=0.0)
    [content] = drop_bundles(inbox, 1)

    first = scanner.scan()

    assert (first.stored, first.deferred, first.failed) == (0, 1, 0)
    [run] = db.list_runs()
    assert run.status == RunStatus.PENDING and run.files == []
    assert store.size(damaged[0]) is None
    assert len(list(inbox.claimed())) == 1

    second = scanner.scan()

    assert (second.stored, second.failed) == (1, 0)
    [run] = db.list_runs()
    assert run.status == RunStatus.STORED
    [file] = run.files
    assert file.stored_object_key == damaged[0]
    with store.open(file.stored_object_key) as blob:
        assert blob.read() == content
    assert list(inbox.claimed()) == []
    store.close()
    db.dispose()
