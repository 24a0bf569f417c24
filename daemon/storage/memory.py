"""An in-memory blob store for tests of the pipeline; it follows the same contract."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import BinaryIO

from daemon.errors import StorageUnavailable
from daemon.storage import (
    StoredBlob,
    blob_key,
    hash_stream,
)


class MemoryBlobStore:
    def __init__(self) -> None:
        self.description = "memory"
        self.blobs: dict[str, bytes] = {}
        self.available = True
        self._lock = threading.Lock()

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        self.ping()
        buffer = bytearray()
        digest, size = hash_stream(source, buffer.extend)
        key = blob_key(digest)
        with self._lock:
            created = key not in self.blobs
            if created:
                self.blobs[key] = bytes(buffer)
        return StoredBlob(key, digest, size, created)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.blobs[key])

    def size(self, key: str) -> int | None:
        blob = self.blobs.get(key)
        return None if blob is None else len(blob)

    def ping(self) -> None:
        if not self.available:
            raise StorageUnavailable("memory store switched off")
