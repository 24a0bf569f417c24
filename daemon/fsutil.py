"""Durable filesystem steps: a rename or a new file is only on disk once its directory is."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

_deferred = threading.local()


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable; inside `batched_dir_syncs()`, at its end."""
    pending: dict[Path, None] | None = getattr(_deferred, "dirs", None)
    if pending is not None:
        pending[path] = None
        return
    _fsync_dir_now(path)


def _fsync_dir_now(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def batched_dir_syncs() -> Iterator[None]:
    """Collect this thread's directory fsyncs and do each directory once, at the end.

    For a batch of files: the first fsync commits the filesystem journal with every entry of
    the batch, so the others find nothing left to do. Code inside must not publish anything
    (commit a run, remove a source) that relies on an entry made inside: that comes after
    the block. Nothing is synced when the block raises; the caller treats the batch as not
    durable (its runs stay `pending`).
    """
    if getattr(_deferred, "dirs", None) is not None:
        yield  # nested: the outer block syncs
        return
    _deferred.dirs = {}
    try:
        yield
        dirs = list(_deferred.dirs)
    finally:
        _deferred.dirs = None
    for path in dirs:
        _fsync_dir_now(path)


def makedirs_durable(path: Path) -> None:
    """mkdir -p that makes each new directory durable (fsync of its parent)."""
    if path.is_dir():
        return
    makedirs_durable(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def open_for_writing_elsewhere(fd: int) -> bool | None:
    """Whether any process has the file open for writing, by asking for a read lease.

    True: a writer has it open. False: nobody does. None: cannot tell (leases need the
    file's owner or CAP_LEASE, and a local filesystem).
    """
    try:
        # A lease break would send SIGIO, whose default action kills the process; the lease
        # is held for microseconds, but make any break harmless anyway.
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGWINCH)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno == errno.EAGAIN else None
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    return False
