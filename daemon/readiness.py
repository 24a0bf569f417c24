"""When is a dropped file ready? Pure bookkeeping over events and stat results, no I/O.

- moved or renamed into place (rsync's final rename, `mv`): ready at once;
- created or written in place: ready once closed after its last write (when the observer
  reports closes) and unchanged in size and mtime for `settle_seconds`;
- found by a scan with no events (present at start-up, missed events): ready once its size
  and mtime have been unchanged for `settle_seconds`.

Ready paths leave in the order they became ready (FIFO), each once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Stat = tuple[int, int]  # (size, mtime_ns); size -1 for what is not a regular file


@dataclass
class _Pending:
    stat: Stat | None
    last_change: float  # monotonic-ish seconds of the last write or stat change seen
    open_for_write: bool
    recheck_at: float = 0.0  # while a writer keeps it open: when to ask again
    closed_seen: bool = False  # inotify reported close-after-write


WRITER_RECHECK_SECONDS = 0.5

# `autodoc scan` waits this long at most for drops still settling, or three settle times
# when that is longer (a copy that ended just before the scan needs one).
SCAN_MAX_WAIT_SECONDS = 30.0
SCAN_MAX_WAIT_SETTLES = 3


def scan_max_wait(settle_seconds: float) -> float:
    """How long a one-shot scan waits, by default, for drops still being written."""
    return max(SCAN_MAX_WAIT_SECONDS, SCAN_MAX_WAIT_SETTLES * settle_seconds)


class ReadinessTracker:
    def __init__(
        self, settle_seconds: float, sees_closes: bool, give_up_seconds: float = 60.0
    ) -> None:
        self.settle_seconds = settle_seconds
        self.give_up_seconds = max(give_up_seconds, settle_seconds)
        # inotify reports close-after-write; a polling observer does not.
        self.sees_closes = sees_closes
        self._pending: dict[Path, _Pending] = {}
        self._ready: OrderedDict[Path, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending) + len(self._ready)

    # -- events ------------------------------------------------------------------------------

    def moved_in(self, path: Path) -> None:
        """Published by rename: complete by construction."""
        self._pending.pop(path, None)
        self._mark_ready(path)

    def written(self, path: Path, now: float) -> None:
        """Created or modified in place: the writer may not be done."""
        if path in self._ready:
            # Written again after it looked ready: wait for it to settle again.
            del self._ready[path]
        entry = self._pending.get(path)
        if entry is None:
            self._pending[path] = _Pending(None, now, open_for_write=self.sees_closes)
        else:
            entry.last_change = now
            entry.open_for_write = self.sees_closes

    def closed(self, path: Path, now: float) -> None:
        entry = self._pending.get(path)
        if entry is not None:
            entry.open_for_write = False
            entry.closed_seen = True
            entry.last_change = now

    def gone(self, path: Path) -> None:
        """Deleted, moved away, or claimed."""
        self._pending.pop(path, None)
        self._ready.pop(path, None)

    def scanned(self, path: Path, stat: Stat, now: float) -> None:
        """Seen by a full scan with no event: it must keep the same size and mtime for
        settle_seconds (an mtime's age alone is not trusted: on NFS it is another clock)."""
        if path in self._ready or path in self._pending:
            return
        self._pending[path] = _Pending(stat, now, open_for_write=False)

    # -- decisions ---------------------------------------------------------------------------

    def due(
        self,
        now: float,
        now_wall: float,
        stat: Callable[[Path], Stat | None],
        writers: Callable[[Path], bool | None],
    ) -> None:
        """Promote pending files that have settled; `stat` returns None for a vanished file,
        `writers` whether a process has the file open for writing (None: cannot tell).

        Settled means: no write seen for settle_seconds, closed (a close event seen, or no
        writer has it open), not empty, and then the same size and mtime as at the last
        look (or, after a close event, an mtime that old). A file whose close we never see
        and cannot check, or that stays empty, is taken after `give_up_seconds` of quiet.
        """
        for path, entry in list(self._pending.items()):
            quiet = now - entry.last_change
            if quiet < self.settle_seconds or now < entry.recheck_at:
                continue
            if entry.open_for_write:
                open_now = writers(path)
                if open_now or (open_now is None and quiet < self.give_up_seconds):
                    entry.recheck_at = now + min(self.settle_seconds, WRITER_RECHECK_SECONDS)
                    continue
                entry.open_for_write = False
            current = stat(path)
            if current is None:
                del self._pending[path]
                continue
            if current[0] == 0 and quiet < self.give_up_seconds:
                # Empty: a writer may not have started (`ssh host cat > file`).
                entry.stat = current
                entry.recheck_at = now + min(self.settle_seconds, WRITER_RECHECK_SECONDS)
                continue
            closed_long_ago = (
                entry.closed_seen and now_wall - current[1] / 1e9 >= self.settle_seconds
            )
            if current == entry.stat or closed_long_ago:
                del self._pending[path]
                self._mark_ready(path)
            else:
                entry.stat = current
                entry.last_change = now

    def next_due_in(self, now: float) -> float | None:
        """Seconds until a pending file should be looked at again, or None."""
        waits = [
            max(self.settle_seconds - (now - e.last_change), e.recheck_at - now)
            for e in self._pending.values()
        ]
        return max(min(waits), 0.0) if waits else None

    def pop_ready(self) -> Path | None:
        if not self._ready:
            return None
        path, _ = self._ready.popitem(last=False)
        return path

    def _mark_ready(self, path: Path) -> None:
        if path not in self._ready:
            self._ready[path] = None
