"""One contract for every blob store: memory, local (copy and hard-link), S3 (with and without
a key prefix) against a real server; then what is particular to each backend."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from daemon.config import S3Config
from daemon.errors import SourceChanged, StorageUnavailable
from daemon.storage import BlobStore, StoredBlob, blob_key
from daemon.storage.local import LocalBlobStore
from daemon.storage.memory import MemoryBlobStore
from daemon.storage.s3 import S3BlobStore
from tests.s3_server import S3Calls

MiB = 1024 * 1024
S3_PREFIX = "autodoc/blobs/"


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(source: BinaryIO) -> bytes:
    try:
        return source.read()
    finally:
        source.close()


@dataclass
class Backend:
    name: str
    store: BlobStore
    prefix: str
    sources: Path  # where source files are written before a put
    count_objects: Callable[[], int]
    link: bool = False  # put with link_from (the daemon owns the file)
    written: int = 0

    def source_file(self, data: bytes) -> Path:
        self.written += 1
        path = self.sources / f"source-{self.written}"
        path.write_bytes(data)
        return path

    def put(self, data: bytes) -> StoredBlob:
        return self.put_file(self.source_file(data))

    def put_file(self, path: Path) -> StoredBlob:
        with open(path, "rb") as source:
            return self.store.put(source, link_from=path if self.link else None)

    def expected_key(self, data: bytes) -> str:
        return blob_key(sha256(data), self.prefix)


def files_in(root: Path) -> list[Path]:
    """The stored blobs of a local store (temp files excluded)."""
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.relative_to(root).parts]


def temp_files(root: Path) -> list[Path]:
    tmp = root / ".tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


def s3_object_count(store: S3BlobStore) -> int:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


BACKENDS = [
    "memory",
    "local",
    "local-link",
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("s3-prefix", marks=pytest.mark.s3),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name: str = request.param
    sources = tmp_path / "inbox"
    sources.mkdir()
    if name == "memory":
        memory = MemoryBlobStore()
        return Backend(name, memory, "", sources, lambda: len(memory.blobs))
    if name.startswith("local"):
        root = tmp_path / "blobs"  # same filesystem as the sources: hard links work
        local = LocalBlobStore(root)
        return Backend(
            name, local, "", sources, lambda: len(files_in(root)), link=name == "local-link"
        )
    config: S3Config = request.getfixturevalue("s3_config")
    prefix = S3_PREFIX if name == "s3-prefix" else ""
    make = request.getfixturevalue("make_s3_store")
    s3: S3BlobStore = make(dataclasses.replace(config, prefix=prefix))
    return Backend(name, s3, prefix, sources, lambda: s3_object_count(s3))


# -- the contract, for every backend ---------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, MiB + 1], ids=["1B", "1000B", "1MiB+1"])
def test_put_returns_content_addressed_key_sha256_and_size(backend: Backend, size: int) -> None:
    data = payload(size)
    digest = sha256(data)

    stored = backend.put(data)

    assert stored.key == f"{backend.prefix}sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert stored.sha256 == digest
    assert stored.size_bytes == size
    assert stored.created is True


@pytest.mark.parametrize("size", [1, MiB + 1], ids=["1B", "1MiB+1"])
def test_open_reads_back_the_stored_bytes(backend: Backend, size: int) -> None:
    data = payload(size, seed=size)
    stored = backend.put(data)

    back = read_all(backend.store.open(stored.key))

    assert back == data
    assert hashlib.sha256(back).hexdigest() == stored.sha256


def test_size_of_a_stored_blob_is_its_byte_count(backend: Backend) -> None:
    stored = backend.put(payload(4321))

    assert backend.store.size(stored.key) == 4321


def test_size_of_a_missing_key_is_none(backend: Backend) -> None:
    assert backend.store.size(blob_key("0" * 64, backend.prefix)) is None


def test_putting_identical_bytes_twice_stores_one_object(backend: Backend) -> None:
    data = payload(2000, seed=7)

    first = backend.put(data)
    second = backend.put(data)

    assert first.created is True
    assert second.created is False
    assert second.key == first.key == backend.expected_key(data)
    assert (second.sha256, second.size_bytes) == (first.sha256, first.size_bytes)
    assert backend.count_objects() == 1
    assert read_all(backend.store.open(second.key)) == data


def test_different_bytes_are_stored_under_different_keys(backend: Backend) -> None:
    a = backend.put(b"alpha")
    b = backend.put(b"bravo")

    assert a.key != b.key
    assert backend.count_objects() == 2
    assert read_all(backend.store.open(a.key)) == b"alpha"
    assert read_all(backend.store.open(b.key)) == b"bravo"


def test_source_growing_while_read_raises_source_changed_and_stores_nothing(
    backend: Backend,
) -> None:
    path = backend.source_file(payload(3 * MiB))  # several read chunks

    with GrowingFile(path) as source, pytest.raises(SourceChanged):
        backend.store.put(source, link_from=path if backend.link else None)

    assert backend.count_objects() == 0


def test_ping_passes_on_a_working_store(backend: Backend) -> None:
    backend.store.ping()


class GrowingFile(io.FileIO):
    """A real file that another writer appends to after the first chunk has been read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.path = path
        self.grown = False

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        if not self.grown:
            self.grown = True
            with open(self.path, "ab") as writer:
                writer.write(b"appended by another writer")
        return n


# -- local -----------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, int]]:
    """(st_dev, st_ino) of everything os.fsync is called on."""
    seen: set[tuple[int, int]] = set()
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        seen.add((st.st_dev, st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def put_path(store: LocalBlobStore, path: Path, *, link: bool) -> StoredBlob:
    with open(path, "rb") as source:
        return store.put(source, link_from=path if link else None)


@pytest.mark.parametrize("link", [False, True], ids=["copy", "link"])
def test_local_blob_is_durable_by_construction(
    local: LocalBlobStore, tmp_path: Path, fsynced: set[tuple[int, int]], link: bool
) -> None:
    source = tmp_path / "bundle.tgz"
    source.write_bytes(payload(5000))

    stored = put_path(local, source, link=link)

    final = local.root / stored.key
    assert final.is_file()
    assert final.read_bytes() == source.read_bytes()
    assert ".tmp" not in final.relative_to(local.root).parts
    assert temp_files(local.root) == []
    # Its data and its directory entry were both flushed before put returned.
    assert identity(final) in fsynced
    assert identity(final.parent) in fsynced


def test_local_link_from_same_filesystem_hard_links_without_copying(
    local: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bundle.tgz"
    source.write_bytes(payload(3 * MiB))
    temp_files_made: list[str] = []
    real_mkstemp = tempfile.mkstemp

    def spy(*args: Any, **kwargs: Any) -> Any:
        fd, name = real_mkstemp(*args, **kwargs)
        temp_files_made.append(name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)

    stored = put_path(local, source, link=True)

    final = local.root / stored.key
    assert stored.created is True
    assert identity(final) == identity(source)
    assert final.stat().st_nlink == 2
    assert temp_files_made == []
    assert temp_files(local.root) == []


def test_local_link_refused_by_the_filesystem_falls_back_to_a_copy(
    local: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bundle.tgz"
    data = payload(4000)
    source.write_bytes(data)

    def no_links(*_: Any, **__: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)

    stored = put_path(local, source, link=True)

    final = local.root / stored.key
    assert stored.created is True
    assert final.read_bytes() == data
    assert identity(final) != identity(source)
    assert temp_files(local.root) == []


def test_local_second_link_of_identical_bytes_keeps_the_first_file(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    data = payload(1234)
    first_path, second_path = tmp_path / "first", tmp_path / "second"
    first_path.write_bytes(data)
    second_path.write_bytes(data)

    first = put_path(local, first_path, link=True)
    second = put_path(local, second_path, link=True)

    assert (first.created, second.created) == (True, False)
    assert identity(local.root / first.key) == identity(first_path)
    assert second_path.stat().st_nlink == 1
    assert files_in(local.root) == [local.root / first.key]


@pytest.mark.parametrize("link", [False, True], ids=["copy", "link"])
def test_local_source_changing_while_read_leaves_no_temp_files(
    local: LocalBlobStore, tmp_path: Path, link: bool
) -> None:
    path = tmp_path / "bundle.tgz"
    path.write_bytes(payload(3 * MiB))

    with GrowingFile(path) as source, pytest.raises(SourceChanged):
        local.put(source, link_from=path if link else None)

    assert files_in(local.root) == []
    assert temp_files(local.root) == []


def test_local_full_disk_raises_storage_unavailable_and_leaves_no_temp_files(
    local: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "bundle.tgz"
    source.write_bytes(payload(5000))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)

    with pytest.raises(StorageUnavailable) as caught:
        put_path(local, source, link=False)

    assert "No space left on device" in caught.value.message
    assert "\n" not in caught.value.message
    assert files_in(local.root) == []
    assert temp_files(local.root) == []


def test_local_store_that_cannot_be_created_raises_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")  # a file where the store's parent should be: even root can't
    store = LocalBlobStore(blocker / "blobs")
    source = tmp_path / "bundle.tgz"
    source.write_bytes(b"data")

    with pytest.raises(StorageUnavailable) as on_ping:
        store.ping()
    with pytest.raises(StorageUnavailable) as on_put:
        put_path(store, source, link=False)

    for caught in (on_ping, on_put):
        assert str(blocker / "blobs") in caught.value.message
        assert "\n" not in caught.value.message


# -- s3 --------------------------------------------------------------------------------------


@pytest.fixture
def s3_store(s3_config: S3Config, make_s3_store: Callable[[S3Config], S3BlobStore]) -> S3BlobStore:
    return make_s3_store(s3_config)


def put_bytes(store: S3BlobStore, data: bytes) -> StoredBlob:
    return store.put(io.BytesIO(data))


@pytest.mark.s3
def test_s3_second_put_of_identical_bytes_uploads_nothing(s3_store: S3BlobStore) -> None:
    calls = S3Calls(s3_store)
    data = payload(3000, seed=3)

    first = put_bytes(s3_store, data)
    assert calls.counts["PutObject"] == 1
    calls.reset()
    second = put_bytes(s3_store, data)

    assert (first.created, second.created) == (True, False)
    assert calls.uploads == 0
    assert calls.counts["UploadPart"] == 0
    assert s3_object_count(s3_store) == 1


@pytest.mark.s3
def test_s3_object_metadata_carries_the_sha256(s3_store: S3BlobStore) -> None:
    data = payload(777)

    stored = put_bytes(s3_store, data)

    assert s3_store.metadata(stored.key)["sha256"] == sha256(data)


@pytest.mark.s3
def test_s3_file_above_the_multipart_threshold_goes_multipart_and_round_trips(
    s3_config: S3Config, make_s3_store: Callable[[S3Config], S3BlobStore], tmp_path: Path
) -> None:
    config = dataclasses.replace(
        s3_config, multipart_threshold_bytes=5 * MiB, multipart_chunk_bytes=5 * MiB
    )
    store = make_s3_store(config)
    calls = S3Calls(store)
    data = payload(12 * MiB, seed=12)
    path = tmp_path / "big.tgz"
    path.write_bytes(data)

    with open(path, "rb") as source:
        stored = store.put(source)

    assert stored.created is True
    assert stored.size_bytes == 12 * MiB
    assert calls.counts["CreateMultipartUpload"] == 1
    assert calls.counts["UploadPart"] == 3  # 5 + 5 + 2 MiB
    assert calls.counts["CompleteMultipartUpload"] == 1
    assert calls.counts["PutObject"] == 0
    assert store.size(stored.key) == 12 * MiB
    assert store.metadata(stored.key)["sha256"] == sha256(data)
    back = read_all(store.open(stored.key))
    assert hashlib.sha256(back).hexdigest() == stored.sha256


@pytest.mark.s3
def test_s3_existing_key_with_a_different_size_is_uploaded_again(s3_store: S3BlobStore) -> None:
    data = payload(5000, seed=5)
    key = blob_key(sha256(data), s3_store.prefix)
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=key, Body=data[:100])  # damaged
    calls = S3Calls(s3_store)

    stored = put_bytes(s3_store, data)

    assert stored.key == key
    assert stored.created is True
    assert calls.uploads == 1
    assert s3_store.size(key) == 5000
    assert read_all(s3_store.open(key)) == data
    assert s3_store.metadata(key)["sha256"] == sha256(data)


@pytest.mark.s3
def test_s3_missing_bucket_raises_storage_unavailable_naming_the_bucket(
    s3_endpoint: str, make_s3_store: Callable[[S3Config], S3BlobStore]
) -> None:
    store = make_s3_store(S3Config(bucket="autodoc-no-such-bucket", endpoint_url=s3_endpoint))

    with pytest.raises(StorageUnavailable) as on_ping:
        store.ping()
    with pytest.raises(StorageUnavailable) as on_put:
        put_bytes(store, b"data")

    assert "autodoc-no-such-bucket" in on_ping.value.message
    for caught in (on_ping, on_put):
        assert "\n" not in caught.value.message


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port with nothing listening on it: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]  # bound but not listening: refused, and nobody else gets it


def test_s3_unreachable_endpoint_raises_storage_unavailable_quickly(
    closed_port: int, make_s3_store: Callable[[S3Config], S3BlobStore]
) -> None:
    store = make_s3_store(
        S3Config(bucket="autodoc-test", endpoint_url=f"http://127.0.0.1:{closed_port}")
    )

    for operation in (store.ping, lambda: put_bytes(store, b"data")):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            operation()
        elapsed = time.monotonic() - started

        assert elapsed < 10
        assert "\n" not in caught.value.message
        assert f"127.0.0.1:{closed_port}" in caught.value.message
