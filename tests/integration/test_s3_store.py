"""What the S3 store does beyond the blob store contract, against a real SeaweedFS: the server
checks each body against its checksum headers, a new object costs one request, the database is
asked once per batch, requests are signed as a verifying server wants, and every failure ends
as StorageUnavailable or UploadRejected."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import random
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest

from daemon.config import S3Config
from daemon.errors import DatabaseUnavailable, StorageUnavailable, UploadRejected
from daemon.storage import StoredBlob, blob_key
from daemon.storage.s3 import S3BlobStore
from tests.s3_server import S3Calls, SigningServer, s3_client, unique_bucket_name

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
MakeStore = Callable[[S3Config], S3BlobStore]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


@pytest.fixture
def s3_store(s3_config: S3Config, make_s3_store: MakeStore) -> S3BlobStore:
    return make_s3_store(s3_config)


def nothing_known(keys: Collection[str]) -> set[str]:
    """A database that has never seen these blobs."""
    return set()


class SwappedBody(io.BytesIO):
    """Hashed as `hashed`, then sent as other bytes of the same length: what a file changed
    between the hash and the upload (or a body damaged on the way) looks like to the store."""

    def __init__(self, hashed: bytes) -> None:
        super().__init__(hashed)
        self.sent = bytes(b ^ 0xFF for b in hashed)

    def read(self, size: int | None = -1) -> bytes:
        return self.sent


# -- the server checks the body ----------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["Content-MD5", "x-amz-checksum-sha256"])
def test_seaweedfs_rejects_a_put_whose_checksum_header_does_not_match(
    s3_store: S3BlobStore, wrong: str
) -> None:
    body = payload(3000)
    other = b"not the body"
    right = {
        "Content-MD5": b64(hashlib.md5(body).digest()),
        "x-amz-checksum-sha256": b64(hashlib.sha256(body).digest()),
    }
    headers = {name: value for name, value in right.items() if name != wrong}
    headers[wrong] = b64(
        hashlib.md5(other).digest() if wrong == "Content-MD5" else hashlib.sha256(other).digest()
    )
    key = blob_key(sha256(body))

    status, _headers, answer = s3_store._send("PUT", key, body, headers, what="test")

    assert status == 400
    assert b"<Code>BadDigest</Code>" in answer
    assert s3_store.size(key) is None


@pytest.mark.parametrize("verify", ["checksum", "head"])
def test_a_body_that_differs_from_the_hashed_one_is_rejected_and_nothing_is_stored(
    s3_config: S3Config, make_s3_store: MakeStore, verify: str
) -> None:
    store = make_s3_store(dataclasses.replace(s3_config, verify=verify))  # type: ignore[arg-type]
    data = payload(5000, seed=1)

    with pytest.raises(UploadRejected) as caught:
        store.put(SwappedBody(data))

    assert "BadDigest" in caught.value.message
    assert "\n" not in caught.value.message
    assert store.size(blob_key(sha256(data))) is None


# -- one request per new object ----------------------------------------------------------------


def test_put_many_asks_known_once_and_sends_one_put_per_new_object(
    s3_store: S3BlobStore,
) -> None:
    contents = [payload(1000 + n, seed=n) for n in range(5)]
    old, new = contents[:2], contents[2:]
    items = [io.BytesIO(data) for data in [*contents, new[-1]]]  # the last one twice
    asked: list[set[str]] = []

    def known(keys: Collection[str]) -> set[str]:
        asked.append(set(keys))
        return {blob_key(sha256(data)) for data in old}

    calls = S3Calls(s3_store)

    results = s3_store.put_many([(item, None) for item in items], known=known)

    assert asked == [{blob_key(sha256(data)) for data in contents}]
    assert calls.counts == {"PutObject": 3}  # no HEAD at all
    assert all(isinstance(r, StoredBlob) for r in results)
    created = [r.created for r in results if isinstance(r, StoredBlob)]
    assert created == [False, False, True, True, True, False]
    assert [r.key for r in results if isinstance(r, StoredBlob)] == [
        blob_key(sha256(data)) for data in [*contents, new[-1]]
    ]
    for data in new:
        with s3_store.open(blob_key(sha256(data))) as back:
            assert back.read() == data
        assert s3_store.metadata(blob_key(sha256(data)))["sha256"] == sha256(data)


def test_without_a_database_put_asks_the_store_whether_the_blob_exists(
    s3_store: S3BlobStore,
) -> None:
    calls = S3Calls(s3_store)

    s3_store.put(io.BytesIO(b"first"))

    assert calls.counts == {"HeadObject": 1, "PutObject": 1}


def test_verify_head_checks_each_upload_with_a_head(
    s3_config: S3Config, make_s3_store: MakeStore
) -> None:
    store = make_s3_store(dataclasses.replace(s3_config, verify="head"))
    calls = S3Calls(store)

    results = store.put_many(
        [(io.BytesIO(b"one"), None), (io.BytesIO(b"two"), None)], known=nothing_known
    )

    assert [isinstance(r, StoredBlob) and r.created for r in results] == [True, True]
    assert calls.counts == {"PutObject": 2, "HeadObject": 2}


def test_an_outage_of_the_database_is_handed_to_every_item_and_nothing_is_sent(
    s3_store: S3BlobStore,
) -> None:
    calls = S3Calls(s3_store)

    def known(keys: Collection[str]) -> set[str]:
        raise DatabaseUnavailable("database unavailable: connection refused")

    results = s3_store.put_many([(io.BytesIO(b"a"), None), (io.BytesIO(b"b"), None)], known)

    assert [type(r) for r in results] == [DatabaseUnavailable, DatabaseUnavailable]
    assert calls.counts == {}


def test_uploads_of_a_batch_use_at_most_max_concurrency_connections(
    s3_config: S3Config, make_s3_store: MakeStore
) -> None:
    store = make_s3_store(dataclasses.replace(s3_config, max_concurrency=3))
    items = [(io.BytesIO(payload(2000, seed=n)), None) for n in range(20)]

    results = store.put_many(items, known=nothing_known)

    assert all(isinstance(r, StoredBlob) and r.created for r in results)
    assert 1 <= len(store._connections) <= 3 + 1  # the upload threads' (+ the caller's)


# -- multipart -----------------------------------------------------------------------------------


def test_a_multipart_upload_that_fails_raises_storage_unavailable(
    s3_endpoint: str, make_s3_store: MakeStore, tmp_path: Path
) -> None:
    """boto3's transfer manager wraps the request's error in S3UploadFailedError."""
    bucket = unique_bucket_name()  # never created
    store = make_s3_store(
        S3Config(
            bucket=bucket,
            endpoint_url=s3_endpoint,
            multipart_threshold_bytes=5 * MiB,
            multipart_chunk_bytes=5 * MiB,
        )
    )
    path = tmp_path / "big.tgz"
    path.write_bytes(payload(6 * MiB))

    with open(path, "rb") as source, pytest.raises(StorageUnavailable) as caught:
        store.put(source)

    assert bucket in caught.value.message
    assert "\n" not in caught.value.message


def test_multipart_parts_carry_their_sha256_checksum(
    s3_config: S3Config, make_s3_store: MakeStore, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        s3_config, multipart_threshold_bytes=5 * MiB, multipart_chunk_bytes=5 * MiB
    )
    store = make_s3_store(config)
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("x-amz-checksum-sha256", b"")
        sent.append(value.decode() if isinstance(value, bytes) else value)

    store.client.meta.events.register("before-send.s3.UploadPart", record)
    data = payload(11 * MiB, seed=11)
    path = tmp_path / "big.tgz"
    path.write_bytes(data)

    with open(path, "rb") as source:
        stored = store.put_many([(source, None)], known=nothing_known)[0]

    assert isinstance(stored, StoredBlob) and stored.created
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert sorted(sent) == sorted(b64(hashlib.sha256(part).digest()) for part in parts)
    with store.open(stored.key) as back:
        assert back.read() == data


# -- signing -------------------------------------------------------------------------------------


@pytest.fixture
def signed_bucket(s3_signing_server: SigningServer) -> str:
    name = unique_bucket_name()
    key = (s3_signing_server.key_id, s3_signing_server.secret)
    s3_client(s3_signing_server.endpoint, 10.0, credentials=key).create_bucket(Bucket=name)
    return name


def use_credentials(monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_a_server_that_verifies_signatures_accepts_every_request_the_store_signs(
    s3_signing_server: SigningServer,
    signed_bucket: str,
    make_s3_store: MakeStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_credentials(monkeypatch, s3_signing_server.key_id, s3_signing_server.secret)
    store = make_s3_store(
        S3Config(
            bucket=signed_bucket,
            endpoint_url=s3_signing_server.endpoint,
            prefix="odd prefix/ü+é=&~/",
        )
    )
    data = payload(4000, seed=4)

    store.ping()
    first = store.put(io.BytesIO(data))  # HEAD (missing), then PUT
    results = store.put_many([(io.BytesIO(b"x" * n), None) for n in (1, 2, 3)], known=nothing_known)

    assert first.created and first.key.startswith("odd prefix/ü+é=&~/sha256/")
    assert store.size(first.key) == 4000
    with store.open(first.key) as back:  # boto3's own signing
        assert back.read() == data
    assert all(isinstance(r, StoredBlob) and r.created for r in results)


def test_a_wrong_secret_is_refused_by_the_server_as_storage_unavailable(
    s3_signing_server: SigningServer,
    signed_bucket: str,
    make_s3_store: MakeStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_credentials(monkeypatch, s3_signing_server.key_id, "not-the-secret")
    store = make_s3_store(S3Config(bucket=signed_bucket, endpoint_url=s3_signing_server.endpoint))

    with pytest.raises(StorageUnavailable) as on_ping:
        store.ping()
    [result] = store.put_many([(io.BytesIO(b"data"), None)], known=nothing_known)

    assert "403" in on_ping.value.message
    assert isinstance(result, StorageUnavailable)
    assert "SignatureDoesNotMatch" in result.message


def test_credentials_come_from_the_aws_chain_when_the_environment_has_none(
    s3_signing_server: SigningServer,
    signed_bucket: str,
    make_s3_store: MakeStore,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    shared = tmp_path / "credentials"
    shared.write_text(
        "[default]\n"
        f"aws_access_key_id = {s3_signing_server.key_id}\n"
        f"aws_secret_access_key = {s3_signing_server.secret}\n",
        encoding="utf-8",
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask the network
    store = make_s3_store(S3Config(bucket=signed_bucket, endpoint_url=s3_signing_server.endpoint))

    [result] = store.put_many([(io.BytesIO(b"from the profile"), None)], known=nothing_known)

    assert isinstance(result, StoredBlob) and result.created
