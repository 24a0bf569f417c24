"""Inbox events from watchdog (inotify, or polling for NFS/CIFS), as plain tuples on a queue.

The daemon never trusts the event stream alone: watchdog drops events on an inotify queue
overflow (it only logs a warning), so the daemon rescans on a timer, and at once when that
warning is seen or the observer thread dies.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.polling import PollingObserver

from daemon.inbox import UPLOAD_TYPES
from daemon.logs import get_logger

log = get_logger()

EventKind = Literal["moved_in", "written", "closed", "gone", "rescan", "overflow"]
Event = tuple[EventKind, Path]
ObserverMode = Literal["auto", "inotify", "polling"]

# Kernel limits that make inotify unusable: watches (ENOSPC) or instances (EMFILE).
_LIMIT_ERRNOS = {errno.ENOSPC, errno.EMFILE}


class _Handler(FileSystemEventHandler):
    def __init__(self, events: queue.SimpleQueue[Any]) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                # A new feeder folder may arrive with files already inside (mv of a folder);
                # a type folder made anew needs a watch of its own (inotify watches inodes).
                target = event.dest_path or event.src_path
                self.events.put(("rescan", Path(_text(target))))
            return
        src = Path(_text(event.src_path)) if event.src_path else None
        if isinstance(event, FileMovedEvent):
            if src is not None:
                self.events.put(("gone", src))
            if event.dest_path:
                self.events.put(("moved_in", Path(_text(event.dest_path))))
        elif src is None:
            return
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            self.events.put(("written", src))
        elif isinstance(event, FileClosedEvent):
            self.events.put(("closed", src))
        elif isinstance(event, FileDeletedEvent):
            self.events.put(("gone", src))


def _text(path: bytes | str) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


class _OverflowSpy(logging.Handler):
    """watchdog reports a lost-events overflow only as a log warning: turn it into a rescan."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.on_overflow()


class Watcher:
    """Watches the inbox root (for stray files) and each type folder recursively."""

    def __init__(
        self,
        root: Path,
        mode: ObserverMode,
        events: queue.SimpleQueue[Any],
        poll_seconds: float = 1.0,
    ) -> None:
        self.root = root
        self.mode = mode
        self.poll_seconds = poll_seconds
        self.events = events
        self.observer: Any = None
        self.kind = ""
        self.sees_closes = False
        self._spy = _OverflowSpy(lambda: self.events.put(("overflow", self.root)))
        self._handler = _Handler(events)
        self._watches: dict[str, Any] = {}
        self._lock = threading.Lock()  # rewatch() may be called while start() runs

    def start(self) -> None:
        logging.getLogger("watchdog").addHandler(self._spy)
        # It warns about its own emitter threads at every stop; the overflow warning we need
        # comes from watchdog.observers.inotify_c.
        logging.getLogger("watchdog.observers.inotify").setLevel(logging.ERROR)
        if self.mode in ("auto", "inotify"):
            try:
                self._start(inotify=True)
                return
            except OSError as exc:
                if self.mode == "inotify" or exc.errno not in _LIMIT_ERRNOS:
                    raise
                log.warning(
                    "watcher.fallback",
                    reason=f"inotify unavailable: {exc.strerror}",
                    hint='raise fs.inotify.max_user_watches, or set observer = "polling"',
                )
        self._start(inotify=False)

    def _start(self, inotify: bool) -> None:
        if inotify:
            from watchdog.observers.inotify import InotifyObserver
            from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

            # watchdog holds every IN_MOVED_FROM for 0.5 s to pair it with its IN_MOVED_TO,
            # and its queue is FIFO: each claim (a rename out of the watched folder, never
            # paired) would delay every later event by half a second. Unpaired halves are
            # fine here (a "gone" plus a "moved_in"), so pair only what arrives together.
            InotifyMoveEventGrouper.delay = 0.0

            observer: Any = InotifyObserver(generate_full_events=True)
        else:
            observer = PollingObserver(timeout=self.poll_seconds)
        handler = self._handler
        self._watches = {}
        try:
            observer.schedule(handler, str(self.root), recursive=False)
            for name in UPLOAD_TYPES:
                folder = self.root / name
                if folder.is_dir() and not folder.is_symlink():
                    self._watches[name] = observer.schedule(handler, str(folder), recursive=True)
            observer.start()
        except BaseException:
            observer.unschedule_all()
            raise
        self.observer = observer
        self.kind = "inotify" if inotify else "polling"
        self.sees_closes = inotify
        log.info("watcher.started", observer=self.kind, root=str(self.root))

    def rewatch(self, folder: Path) -> None:
        """A type folder made anew while running: drop the watch on the old inode, if any,
        and watch the new folder."""
        if folder.parent != self.root or folder.name not in UPLOAD_TYPES:
            return
        with self._lock:
            observer = self.observer
            if observer is None or folder.is_symlink() or not folder.is_dir():
                return
            old = self._watches.pop(folder.name, None)
            if old is not None:
                with contextlib.suppress(KeyError):
                    observer.unschedule(old)
            try:
                self._watches[folder.name] = observer.schedule(
                    self._handler, str(folder), recursive=True
                )
            except OSError as exc:  # the watch limit, or the folder went again
                log.warning(
                    "watcher.rewatch_failed",
                    folder=str(folder),
                    reason=exc.strerror,
                    action="the timed rescan covers it",
                )

    def healthy(self) -> bool:
        """The observer and every emitter thread alive (an emitter stops itself when its
        folder is deleted or replaced, and the observer thread does not notice)."""
        observer = self.observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in list(observer.emitters))

    def restart(self) -> None:
        """After the observer or an emitter died; polling if inotify cannot be had again."""
        self.stop()
        try:
            self.start()
        except OSError as exc:
            log.warning("watcher.fallback", reason=f"inotify restart failed: {exc.strerror}")
            self._start(inotify=False)

    def stop(self) -> None:
        logging.getLogger("watchdog").removeHandler(self._spy)
        observer, self.observer = self.observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
