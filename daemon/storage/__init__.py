"""Content-addressed blob storage: one interface, a local and an S3 backend, an in-memory fake.

A blob's key is `sha256/<aa>/<bb>/<digest>`; identical content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from daemon import faults
from daemon.errors import SourceChanged

if TYPE_CHECKING:
    from daemon.config import StorageConfig

CHUNK_BYTES = 1024 * 1024
# Files from this size on are read by a thread while they are hashed (see _read_ahead).
READ_AHEAD_MIN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size_bytes: int
    created: bool  # False when the same content was already stored


class BlobStore(Protocol):
    """What the pipeline needs from a blob store."""

    description: str

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        """Store the bytes of `source` (open, at offset 0), hashing them on the way.

        `link_from` names the same file on disk when the store may take it without copying
        (the daemon owns it). Returns only once the blob is durable.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """Read a stored blob."""
        ...

    def size(self, key: str) -> int | None:
        """The stored size, or None when the key does not exist."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot be reached or written."""
        ...


def blob_key(digest: str, prefix: str = "") -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return f"{prefix}sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def hash_stream(
    source: BinaryIO, sink: Callable[[memoryview], object] | None = None
) -> tuple[str, int]:
    """sha256 and size of `source`, read once from where it stands; each chunk also goes to
    `sink`. Raises SourceChanged when the file's size or mtime moved while it was read."""
    before = _stat(source)
    digest = hashlib.sha256()
    size = 0
    big = before is not None and before[0] >= READ_AHEAD_MIN_BYTES
    for chunk in (_read_ahead if big else _read)(source):
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
        if not size:
            faults.point("mid_store")
        size += len(chunk)
    after = _stat(source)
    if before is not None and (before != after or after[0] != size):
        raise SourceChanged(f"file changed while it was read ({before[0]} -> {size} bytes)")
    return digest.hexdigest(), size


def _read(source: BinaryIO) -> Iterator[memoryview]:
    view = memoryview(bytearray(CHUNK_BYTES))
    while n := source.readinto(view):  # type: ignore[attr-defined]  # BinaryIO lacks it
        yield view[:n]


def _read_ahead(source: BinaryIO) -> Iterator[memoryview]:
    """Chunks read by a thread of their own: the disk reads the next ones while this one is
    hashed (both release the GIL), so a big cold file costs the slower of the two, not their
    sum. Three buffers go round; each comes back once the caller asks for the next chunk."""
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[bytearray, int] | BaseException] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(CHUNK_BYTES))

    def reader() -> None:
        try:
            while (buffer := free.get()) is not None:
                n = source.readinto(memoryview(buffer))  # type: ignore[attr-defined]
                full.put((buffer, n))
                if not n:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again by the caller's thread
            full.put(exc)

    thread = threading.Thread(target=reader, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            buffer, n = item
            if not n:
                return
            yield memoryview(buffer)[:n]
            free.put(buffer)
    finally:
        free.put(None)  # stops the reader if it is still going (the caller gave up)
        thread.join()


def _stat(source: BinaryIO) -> tuple[int, int] | None:
    try:
        st = os.fstat(source.fileno())
    except (AttributeError, OSError, ValueError):
        return None  # not a real file (BytesIO in tests)
    return st.st_size, st.st_mtime_ns


def make_store(config: StorageConfig) -> BlobStore:
    if config.backend == "s3":
        from daemon.storage.s3 import S3BlobStore

        return S3BlobStore(config.s3)
    from daemon.storage.local import LocalBlobStore

    return LocalBlobStore(config.path)
