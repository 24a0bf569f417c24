"""Blob store on a local filesystem: temp file, fsync, rename, fsync the directory.

A claimed file on the same filesystem is hard-linked into place instead of copied, so a
multi-gigabyte bundle costs one read (for the hash) and no write. That is only safe when no
writer still has the file open (it would write into the blob): a read lease proves it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from daemon.errors import SourceChanged, StorageUnavailable
from daemon.fsutil import fsync_dir, makedirs_durable, open_for_writing_elsewhere
from daemon.storage import (
    KnownKeys,
    PutItem,
    PutResult,
    StoredBlob,
    blob_key,
    hash_stream,
    put_each,
)

# Errors of the store's disk, not of the file being stored: retry later.
_TRANSIENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOENT,
    errno.ENOTDIR,
}
_STALE_TEMP_SECONDS = 24 * 3600


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"local:{root}"
        self._tmp = root / ".tmp"
        self._made = False

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        try:
            if not self._made:
                makedirs_durable(self._tmp)  # also the root, which _same_device looks at
                self._made = True
            if link_from is not None and _same_device(link_from, self.root):
                writers = open_for_writing_elsewhere(source.fileno())
                if writers:
                    raise SourceChanged("file is still open for writing")
                if writers is False:  # None: cannot tell, so copy, which is always safe
                    return self._put_by_link(source, link_from)
            return self._put_by_copy(source)
        except OSError as exc:
            if exc.errno in _TRANSIENT_ERRNOS:
                raise StorageUnavailable(f"blob store {self.root}: {exc.strerror}") from exc
            raise

    def put_many(self, items: Sequence[PutItem], known: KnownKeys | None = None) -> list[PutResult]:
        """One by one (whether a blob exists costs a stat here, not a request), stopping at an
        outage. The files to be linked are fsync'd together first: they share journal
        commits, and each put's own fsync then finds nothing left to write."""
        linked = [source.fileno() for source, link_from in items if link_from is not None]
        if len(linked) > 1:
            with ThreadPoolExecutor(min(len(linked), 8), "fsync") as pool:
                pool.map(_fsync_quietly, linked)
        return put_each(self, items)

    def _put_by_link(self, source: BinaryIO, path: Path) -> StoredBlob:
        digest, size = hash_stream(source)
        # Data written by rsync or cp is not necessarily on disk yet.
        os.fsync(source.fileno())
        with contextlib.suppress(OSError):  # not the owner: the blob keeps the writer's mode
            os.fchmod(source.fileno(), 0o444)
        key = blob_key(digest)
        final = self._path(key)
        for _attempt in range(3):
            try:
                os.link(path, final)
            except FileExistsError:
                if self._intact(key, size):
                    # Another worker's link may not be durable yet: this run relies on it too.
                    fsync_dir(final.parent)
                    return StoredBlob(key, digest, size, created=False)
                continue  # a damaged copy was removed: link again
            except FileNotFoundError:
                if not path.exists():
                    raise
                makedirs_durable(final.parent)  # the first blob of its folder
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                source.seek(0)
                return self._put_by_copy(source)  # filesystem without hard links
            fsync_dir(final.parent)
            return StoredBlob(key, digest, size, created=True)
        raise StorageUnavailable(f"blob {key} keeps changing under the store")

    def _put_by_copy(self, source: BinaryIO) -> StoredBlob:
        makedirs_durable(self._tmp)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                digest, size = hash_stream(source, lambda chunk: _write_all(out.fileno(), chunk))
                os.fsync(out.fileno())
            key = blob_key(digest)
            final = self._path(key)
            if final.exists() and self._intact(key, size):
                tmp.unlink()
                fsync_dir(final.parent)  # as above: another worker's entry, maybe not durable
                return StoredBlob(key, digest, size, created=False)
            makedirs_durable(final.parent)
            tmp.chmod(0o444)
            tmp.rename(final)
            fsync_dir(final.parent)
            return StoredBlob(key, digest, size, created=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _intact(self, key: str, size: int) -> bool:
        """Same sha256 means same content unless the stored copy was damaged (a wrong size):
        then it is removed, to be replaced."""
        if self.size(key) == size:
            return True
        self._path(key).unlink(missing_ok=True)
        return False

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def ping(self) -> None:
        """Writable, or creatable below a writable folder; changes nothing."""
        folder = self._tmp
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"blob store {self.root} is not writable (at {folder})")

    def clean_stale_temp_files(self) -> int:
        """Remove copies a crash left in .tmp/ more than a day ago; returns how many."""
        removed = 0
        cutoff = time.time() - _STALE_TEMP_SECONDS
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self._tmp):
                if entry.name.startswith("put-") and entry.stat().st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed


def _write_all(fd: int, data: memoryview) -> None:
    """os.write may write less than asked (a disk filling up): write the rest, or raise."""
    while data:
        data = data[os.write(fd, data) :]


def _fsync_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # not a regular file, EIO...: the put's fsync says so
        os.fsync(fd)


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
