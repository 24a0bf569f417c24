"""The one-file pipeline on SQLite and the in-memory blob store, including every way a crash
or an outage can interrupt it."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import update
from structlog.testing import capture_logs

from daemon import migrate
from daemon.config import Config
from daemon.database import Database, FileRecord
from daemon.errors import BlobMissing, DatabaseUnavailable, StorageUnavailable
from daemon.inbox import Claimed, Inbox
from daemon.models import IngestionRun, RunStatus, UploadType
from daemon.pipeline import Outcome, Pipeline, _new_run, claim_marker
from daemon.scanner import Scanner
from daemon.status import collect_status
from daemon.storage import BlobStore, StoredBlob, make_store
from daemon.storage.memory import MemoryBlobStore

BUNDLE = gzip.compress(b"etc/system/local/inputs.conf" + b"\0" * 600, mtime=0)


@pytest.fixture
def database(config: Config) -> Database:
    db = Database(config.database.url)
    migrate.upgrade(db.engine)
    return db


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def pipeline(config: Config, database: Database, store: MemoryBlobStore) -> Pipeline:
    return Pipeline(config, database, store)


@pytest.fixture
def inbox(config: Config) -> Inbox:
    inbox = Inbox(config.inbox.path)
    inbox.ensure()
    return inbox


def drop(inbox: Inbox, rel: str, data: bytes = BUNDLE) -> Path:
    path = inbox.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def claim_one(inbox: Inbox) -> Claimed:
    [(item, _st)] = inbox.survey()[0]
    claimed = inbox.claim(item)
    assert claimed is not None
    return claimed


def test_claimed_file_is_stored_recorded_and_removed(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/web01/etc.tgz")
    claimed = claim_one(inbox)
    with capture_logs() as logs:
        outcome = pipeline.process(claimed)
    assert outcome.result == "stored"
    run = database.get_run(outcome.run_id or 0)
    assert run.status == RunStatus.STORED
    assert (run.type, run.label) == (UploadType.DS_ETC, "web01")
    [file] = run.files
    assert file.path == "etc.tgz"
    assert file.sha256 == hashlib.sha256(BUNDLE).hexdigest()
    assert file.size_bytes == len(BUNDLE)
    assert store.blobs[file.stored_object_key] == BUNDLE
    assert not claimed.path.exists()
    assert [e["event"] for e in logs] == ["run.created", "run.stored"]
    assert all(e["run_id"] == run.id for e in logs)
    assert "duration_ms" in logs[-1]


def test_identical_content_makes_a_new_run_sharing_one_blob(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/a.tgz")
    first = pipeline.process(claim_one(inbox))
    drop(inbox, "instance_etc/b.tgz")
    second = pipeline.process(claim_one(inbox))
    assert first.run_id != second.run_id
    assert len(store.blobs) == 1
    notes = database.get_run(second.run_id or 0).notes or ""
    assert f"same content as run {first.run_id}" in notes


def test_bad_file_fails_its_run_and_moves_to_failed_path_with_error_json(
    inbox: Inbox, pipeline: Pipeline, database: Database, config: Config
) -> None:
    drop(inbox, "ds_etc/feed/notes.txt", b"just text, not an archive\n")
    claimed = claim_one(inbox)
    outcome = pipeline.process(claimed)
    assert outcome.result == "failed"
    run = database.get_run(outcome.run_id or 0)
    assert run.status == RunStatus.FAILED
    assert "not an archive" in (run.notes or "")
    assert str(inbox.root / "ds_etc/feed/notes.txt") in (run.notes or "")
    moved = config.inbox.failed_path / "ds_etc" / "feed" / f"{run.id}-notes.txt"
    assert moved.read_bytes() == b"just text, not an archive\n"
    report = json.loads(moved.with_name(moved.name + ".error.json").read_text())
    assert report["run_id"] == run.id
    assert "not an archive" in report["reason"]
    assert report["origin"].endswith("ds_etc/feed/notes.txt")
    assert not claimed.path.exists()


def test_over_max_file_bytes_fails(
    inbox: Inbox, database: Database, store: MemoryBlobStore, config: Config
) -> None:
    import dataclasses

    small = dataclasses.replace(config, inbox=dataclasses.replace(config.inbox, max_file_bytes=10))
    drop(inbox, "ds_etc/big.tgz")
    outcome = Pipeline(small, database, store).process(claim_one(inbox))
    assert outcome.result == "failed"
    assert "max_file_bytes is 10" in outcome.reason
    assert store.blobs == {}


def test_unreadable_file_fails_without_a_traceback(
    inbox: Inbox, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop(inbox, "ds_etc/secret.tgz")
    claimed = claim_one(inbox)
    real_open = __import__("os").open

    def deny(path: object, *args: object, **kwargs: object) -> int:
        if str(path) == str(claimed.path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("daemon.pipeline.os.open", deny)
    outcome = pipeline.process(claimed)
    assert outcome.result == "failed"
    assert "permission denied" in outcome.reason


def test_storage_outage_keeps_the_file_claimed_and_the_run_pending_then_resumes(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    store.available = False
    with pytest.raises(StorageUnavailable):
        pipeline.process(claimed)
    assert claimed.path.exists()
    [run] = database.list_runs()
    assert run.status == RunStatus.PENDING
    store.available = True
    [again] = list(inbox.claimed())
    outcome = pipeline.process(again, recovering=True)
    assert (outcome.result, outcome.run_id) == ("stored", run.id)
    assert len(database.list_runs()) == 1
    assert not claimed.path.exists()


class CrashAfterPut:
    """A store whose put succeeds, then the 'process' dies before the commit."""

    def __init__(self, inner: MemoryBlobStore) -> None:
        self.inner = inner
        self.description = "crashy"

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        self.inner.put(source, link_from=link_from)
        raise SystemExit("killed after the blob became durable")

    def open(self, key: str) -> BinaryIO:
        return self.inner.open(key)

    def size(self, key: str) -> int | None:
        return self.inner.size(key)

    def ping(self) -> None:
        pass


def test_crash_after_blob_stored_is_finished_by_recovery_without_a_second_run_or_blob(
    inbox: Inbox, config: Config, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    with pytest.raises(SystemExit):
        Pipeline(config, database, CrashAfterPut(store)).process(claimed)
    assert len(store.blobs) == 1
    [pending] = database.list_runs()
    assert pending.status == RunStatus.PENDING
    [again] = list(inbox.claimed())
    outcome = Pipeline(config, database, store).process(again, recovering=True)
    assert (outcome.result, outcome.run_id) == ("stored", pending.id)
    assert len(store.blobs) == 1
    assert [r.status for r in database.list_runs()] == [RunStatus.STORED]


def _commit_as_if_crashed(database: Database, store: BlobStore, claimed: Claimed) -> int:
    """What a process that died right after its commit leaves: a stored run, a claimed file."""
    with open(claimed.path, "rb") as source:
        blob = store.put(source)
    marker = claim_marker(claimed.token)
    run_id = database.create_run(UploadType.DS_ETC, None, f"x {marker}", claimed.token)
    record = FileRecord("etc.tgz", blob.sha256, blob.size_bytes, blob.key)
    database.mark_stored(run_id, record, lambda _earlier: f"stored {marker}")
    return run_id


def test_crash_after_commit_before_source_removal_only_removes_the_source(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = _commit_as_if_crashed(database, store, claimed)
    outcome = pipeline.process(claimed, recovering=True)
    assert (outcome.result, outcome.run_id) == ("stored", run_id)
    assert not claimed.path.exists()
    assert len(database.list_runs()) == 1
    assert len(store.blobs) == 1


def test_recovery_restores_a_missing_blob_before_removing_the_last_copy(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    _commit_as_if_crashed(database, store, claimed)
    store.blobs.clear()  # the blob was lost (e.g. not yet durable at a power cut)
    assert pipeline.process(claimed, recovering=True).result == "stored"
    assert list(store.blobs.values()) == [BUNDLE]
    assert not claimed.path.exists()


def test_recovery_keeps_the_last_copy_when_the_missing_blob_cannot_be_restored(
    inbox: Inbox, database: Database, config: Config
) -> None:
    store = make_store(config.storage)  # the store `autodoc status` looks in
    pipeline = Pipeline(config, database, store)
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = _commit_as_if_crashed(database, store, claimed)
    assert collect_status(config)["held"] == []
    [blob] = (p for p in config.storage.path.rglob("*") if p.is_file() and len(p.name) == 64)
    blob.unlink()  # lost, e.g. not yet durable at a power cut
    # ...and the claimed file no longer holds the recorded content, so it cannot be put back.
    claimed.path.write_bytes(gzip.compress(b"other content", mtime=0))
    with capture_logs() as logs, pytest.raises(BlobMissing, match=f"run {run_id}"):
        pipeline.process(claimed, recovering=True)
    assert claimed.path.exists()  # still claimed: retried later, shown by `autodoc status`
    assert [e for e in logs if e["event"] == "run.blob_missing"]
    [held] = collect_status(config)["held"]
    assert held["run_id"] == run_id
    assert "missing from the store" in held["reason"]


def test_recovery_keeps_a_claimed_file_it_cannot_open_when_the_blob_is_missing(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = _commit_as_if_crashed(database, store, claimed)
    store.blobs.clear()
    run = database.find_run_by_claim(claimed.token)
    assert run is not None and run.id == run_id
    # fd None: what _exclusive yields for a file that cannot be opened (EACCES, ...).
    with pytest.raises(BlobMissing, match="cannot be opened"):
        pipeline._finish_recovered(claimed, None, run)
    assert claimed.path.exists()


def test_recovery_finds_a_run_a_week_older_than_the_claimed_files_ctime(
    inbox: Inbox, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    """Every retried store attempt moves the file's ctime (fchmod in the local store): a run
    created before a week-long outage must still be found by its claim token."""
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = database.create_run(*_new_run(claimed), claimed.token)
    with database.session() as session:
        session.execute(
            update(IngestionRun)
            .where(IngestionRun.id == run_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=7))
        )
    outcome = pipeline.process(claimed, recovering=True)
    assert (outcome.result, outcome.run_id) == ("stored", run_id)
    assert [(r.id, r.status) for r in database.list_runs()] == [(run_id, RunStatus.STORED)]


def test_a_claim_token_is_recorded_with_its_run_in_the_same_transaction(
    inbox: Inbox, pipeline: Pipeline, database: Database
) -> None:
    for name in ("a.tgz", "b.tgz", "c.tgz"):
        drop(inbox, f"ds_etc/{name}")
    claims = [c for item, _st in inbox.survey()[0] if (c := inbox.claim(item)) is not None]
    outcomes = pipeline.process_batch(claims)
    found = database.find_runs_by_claims([c.token for c in claims])
    assert {t: r.id for t, r in found.items()} == {
        c.token: o.run_id for c, o in zip(claims, outcomes, strict=True) if isinstance(o, Outcome)
    }
    assert len(found) == 3


def test_crash_after_failing_a_run_moves_the_file_on_recovery(
    inbox: Inbox, pipeline: Pipeline, database: Database, config: Config
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = database.create_run(UploadType.DS_ETC, None, "x", claimed.token)
    database.mark_failed(run_id, f"failed: empty {claim_marker(claimed.token)}")
    outcome = pipeline.process(claimed, recovering=True)
    assert outcome.result == "failed"
    assert (config.inbox.failed_path / "ds_etc" / f"{run_id}-etc.tgz").exists()
    assert len(database.list_runs()) == 1


def test_crash_right_after_claim_is_processed_as_a_new_run(
    inbox: Inbox, pipeline: Pipeline, database: Database
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claim_one(inbox)  # and then the process died
    [claimed] = list(inbox.claimed())
    assert pipeline.process(claimed, recovering=True).result == "stored"
    assert len(database.list_runs()) == 1


def test_a_file_already_in_a_workers_hands_is_skipped_by_another(
    inbox: Inbox, pipeline: Pipeline, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    inside = threading.Event()
    release = threading.Event()
    real_create = database.create_run

    def slow_create(*args: object, **kwargs: object) -> int:
        inside.set()
        assert release.wait(10)
        return real_create(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(database, "create_run", slow_create)
    results = []
    worker = threading.Thread(target=lambda: results.append(pipeline.process(claimed)))
    worker.start()
    assert inside.wait(10)
    assert pipeline.process(claimed, recovering=True).result == "skipped"
    release.set()
    worker.join(10)
    assert [r.result for r in results] == ["stored"]


def test_ingest_copies_and_never_touches_the_users_file(
    tmp_path: Path, pipeline: Pipeline, database: Database, store: MemoryBlobStore
) -> None:
    source = tmp_path / "mine.tgz"
    source.write_bytes(BUNDLE)
    before = source.stat()
    outcome = pipeline.ingest(source, UploadType.APP_BUNDLE, "manual")
    assert outcome.result == "stored"
    assert source.read_bytes() == BUNDLE
    assert source.stat().st_mtime_ns == before.st_mtime_ns
    run = database.get_run(outcome.run_id or 0)
    assert (run.label, run.files[0].path) == ("manual", "mine.tgz")
    assert list(store.blobs.values()) == [BUNDLE]


def test_ingest_of_bad_content_fails_the_run_but_leaves_the_file(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    source = tmp_path / "x.conf"
    source.write_bytes(b"")
    outcome = pipeline.ingest(source, UploadType.SINGLE_CONF, None)
    assert outcome.result == "failed"
    assert source.exists()


def test_scan_claims_nothing_while_the_database_is_down(
    inbox: Inbox, pipeline: Pipeline, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = drop(inbox, "ds_etc/etc.tgz")

    def down() -> None:
        raise DatabaseUnavailable("database unavailable: connection refused")

    monkeypatch.setattr(pipeline.db, "ping", down)
    scanner = Scanner(inbox, pipeline, 2, 0.0)
    with pytest.raises(DatabaseUnavailable):
        scanner.scan()
    assert dropped.exists()


def test_scan_stores_every_ready_drop_with_parallel_workers(
    inbox: Inbox, pipeline: Pipeline, database: Database
) -> None:
    for i in range(20):
        drop(inbox, f"ds_etc/feed{i % 3}/etc{i}.tgz", BUNDLE + bytes([i]))
    report = Scanner(inbox, pipeline, 4, 0.0).scan()
    assert (report.stored, report.failed) == (20, 0)
    assert {r.status for r in database.list_runs(limit=None)} == {RunStatus.STORED}
    assert list(inbox.claimed()) == []


def test_scan_leaves_recently_written_files_for_later(inbox: Inbox, pipeline: Pipeline) -> None:
    dropped = drop(inbox, "ds_etc/etc.tgz")
    report = Scanner(inbox, pipeline, 1, settle_seconds=3600).scan()
    assert (report.stored, report.waiting) == (0, 1)
    assert dropped.exists()


def test_unwritable_failed_path_keeps_the_file_claimed_until_it_can_be_moved(
    inbox: Inbox,
    pipeline: Pipeline,
    database: Database,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    from daemon import pipeline as pipeline_module
    from daemon.errors import TransientError

    drop(inbox, "single_conf/empty.conf", b"")
    claimed = claim_one(inbox)
    real_write = pipeline_module.atomic_write

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline_module, "atomic_write", full)
    with pytest.raises(TransientError, match="No space left"):
        pipeline.process(claimed)
    assert claimed.path.exists()
    [run] = database.list_runs()
    assert run.status == RunStatus.FAILED
    monkeypatch.setattr(pipeline_module, "atomic_write", real_write)
    [again] = list(inbox.claimed())
    assert pipeline.process(again, recovering=True).result == "failed"
    assert (config.inbox.failed_path / "single_conf" / f"{run.id}-empty.conf").exists()
    assert len(database.list_runs()) == 1


def test_a_file_held_as_the_last_copy_is_named_by_scan_and_fails_its_exit_code(
    inbox: Inbox, database: Database, config: Config
) -> None:
    store = make_store(config.storage)
    drop(inbox, "ds_etc/etc.tgz")
    claimed = claim_one(inbox)
    run_id = _commit_as_if_crashed(database, store, claimed)
    [blob] = (p for p in config.storage.path.rglob("*") if p.is_file() and len(p.name) == 64)
    blob.unlink()
    claimed.path.write_bytes(gzip.compress(b"other content", mtime=0))
    report = Scanner(inbox, Pipeline(config, database, store), 1, 0.0).scan()
    assert [f"run {run_id}" in reason for reason in report.held] == [True]
    assert claimed.path.exists()
