"""Content-addressed blob storage: one interface, a local and an S3 backend, an in-memory fake.

A blob's key is `sha256/<aa>/<bb>/<digest>`; identical content is stored once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from daemon import faults
from daemon.errors import SourceChanged

if TYPE_CHECKING:
    from daemon.config import StorageConfig

CHUNK_BYTES = 1024 * 1024


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
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    while True:
        n = source.readinto(view)  # type: ignore[attr-defined]  # BinaryIO lacks it
        if not n:
            break
        chunk = view[:n]
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
        if not size:
            faults.point("mid_store")
        size += n
    after = _stat(source)
    if before is not None and (before != after or after[0] != size):
        raise SourceChanged(f"file changed while it was read ({before[0]} -> {size} bytes)")
    return digest.hexdigest(), size


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
