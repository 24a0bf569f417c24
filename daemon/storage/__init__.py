"""Content-addressed blob storage: one interface, a local and an S3 backend, an in-memory fake.

A blob's key is `sha256/<aa>/<bb>/<digest>`; identical content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from daemon import faults
from daemon.errors import ServiceUnavailable, SourceChanged

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


# One source to store: the open file (at offset 0) and, when the store may take it without
# copying, its path (see BlobStore.put).
PutItem = tuple[BinaryIO, Path | None]
# Per item: its blob, its exception, or None when it was not attempted (after an outage).
PutResult = StoredBlob | Exception | None
# Given keys, the ones the database already records a stored blob for.
KnownKeys = Callable[[Collection[str]], Collection[str]]


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


def put_many(
    store: BlobStore, items: Sequence[PutItem], known: KnownKeys | None = None
) -> list[PutResult]:
    """`put` for each item, as the store does it best: through its own put_many when it has
    one (S3: the keys `known` names are not uploaded, the rest in parallel; `known` is asked
    once, for all the items, and without it the store finds out itself), else one by one.
    Per item its blob or its exception, or None when an outage stopped the store before it."""
    own: Callable[..., list[PutResult]] | None = getattr(store, "put_many", None)
    if own is not None:
        return own(items, known=known)
    return put_each(store, items)


def put_each(store: BlobStore, items: Sequence[PutItem]) -> list[PutResult]:
    """put_many for a store with nothing to share between puts: one by one, stopping at an
    outage (the rest are left None, not attempted)."""
    results: list[PutResult] = [None] * len(items)
    for i, (source, link_from) in enumerate(items):
        try:
            results[i] = store.put(source, link_from=link_from)
        except Exception as exc:  # noqa: BLE001 - judged by the caller, per item
            results[i] = exc
            if isinstance(exc, ServiceUnavailable):
                break
    return results


def blob_key(digest: str, prefix: str = "") -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return f"{prefix}sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def hash_stream(
    source: BinaryIO, sink: Callable[[memoryview], object] | None = None
) -> tuple[str, int]:
    """sha256 and size of `source`, read once from where it stands; each chunk also goes to
    `sink`. Raises SourceChanged when the file's size or mtime moved while it was read."""
    before = file_stat(source)
    digest = hashlib.sha256()
    size = 0
    big = before is not None and before[0] >= READ_AHEAD_MIN_BYTES
    chunks = _read_ahead(source) if big else _read(source, before[0] if before else None)
    for chunk in chunks:
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
        if not size:
            faults.point("mid_store")
        size += len(chunk)
    after = file_stat(source)
    if before is not None and (before != after or after[0] != size):
        raise SourceChanged(f"file changed while it was read ({before[0]} -> {size} bytes)")
    return digest.hexdigest(), size


def _read(source: BinaryIO, size: int | None) -> Iterator[memoryview]:
    # A small file gets a buffer its size (+1, to see the end in one read), not a whole chunk.
    view = memoryview(bytearray(CHUNK_BYTES if size is None else min(CHUNK_BYTES, size + 1)))
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


def file_stat(source: BinaryIO) -> tuple[int, int] | None:
    """(size, mtime_ns) of a real file; None for anything else (BytesIO in tests)."""
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
