"""Blob store on a local filesystem: temp file, fsync, rename, fsync the directory.

A claimed file on the same filesystem is hard-linked into place instead of copied, so a
multi-gigabyte bundle costs one read (for the hash) and no write.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from daemon.errors import StorageUnavailable
from daemon.storage import StoredBlob, blob_key, hash_stream

# Errors of the store's disk, not of the file being stored: retry later.
_TRANSIENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
}


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"local:{root}"
        self._tmp = root / ".tmp"

    def _path(self, key: str) -> Path:
        return self.root / key

    def _prepare(self) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"blob store {self.root}: {exc.strerror}") from exc

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        self._prepare()
        try:
            if link_from is not None and _same_device(link_from, self.root):
                return self._put_by_link(source, link_from)
            return self._put_by_copy(source)
        except OSError as exc:
            if exc.errno in _TRANSIENT_ERRNOS:
                raise StorageUnavailable(f"blob store {self.root}: {exc.strerror}") from exc
            raise

    def _put_by_link(self, source: BinaryIO, path: Path) -> StoredBlob:
        digest, size = hash_stream(source)
        # Data written by rsync or cp is not necessarily on disk yet.
        os.fsync(source.fileno())
        key = blob_key(digest)
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, final)
        except FileExistsError:
            return self._existing(key, digest, size)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            source.seek(0)
            return self._put_by_copy(source)  # filesystem without hard links
        _fsync_dir(final.parent)
        return StoredBlob(key, digest, size, created=True)

    def _put_by_copy(self, source: BinaryIO) -> StoredBlob:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                digest, size = hash_stream(source, out.write)
                os.fsync(out.fileno())
            key = blob_key(digest)
            final = self._path(key)
            if final.exists():
                tmp.unlink()
                return self._existing(key, digest, size)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            tmp.rename(final)
            _fsync_dir(final.parent)
            return StoredBlob(key, digest, size, created=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _existing(self, key: str, digest: str, size: int) -> StoredBlob:
        stored = self.size(key)
        if stored != size:
            # Same sha256, different size: the stored copy is damaged. Replace it.
            self._path(key).unlink()
            raise StorageUnavailable(f"blob {key} was damaged ({stored} bytes); removed, retry")
        return StoredBlob(key, digest, size, created=False)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def ping(self) -> None:
        self._prepare()
        if not os.access(self._tmp, os.W_OK):
            raise StorageUnavailable(f"blob store {self.root} is not writable")


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
