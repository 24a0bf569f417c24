"""The watcher: events become tuples, a lost-events overflow becomes a rescan, and an
exhausted inotify falls back to polling."""

from __future__ import annotations

import errno
import logging
import queue
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon.inbox import Inbox
from daemon.watcher import Watcher


def _inbox(tmp_path: Path) -> Path:
    Inbox(tmp_path).ensure()
    return tmp_path


def _wait_for(events: queue.SimpleQueue[Any], wanted: tuple[str, Path]) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            seen.append(events.get(timeout=0.1))
        except queue.Empty:
            continue
        if seen[-1] == wanted:
            return seen
    pytest.fail(f"{wanted} never arrived; saw {seen}")


@pytest.mark.parametrize(
    ("mode", "kind"),
    # Polling sees only the result of a write-then-rename within one poll: a new file, which
    # then waits settle_seconds; inotify sees the rename itself.
    [("inotify", "moved_in"), ("polling", "written")],
)
def test_a_file_renamed_into_a_type_folder_arrives_as_an_event(
    tmp_path: Path, mode: str, kind: str
) -> None:
    root = _inbox(tmp_path)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    watcher = Watcher(root, mode, events, poll_seconds=0.1)  # type: ignore[arg-type]
    watcher.start()
    try:
        (root / "ds_etc" / ".a.tgz.XYZ").write_bytes(b"x")
        (root / "ds_etc" / ".a.tgz.XYZ").rename(root / "ds_etc" / "a.tgz")
        _wait_for(events, (kind, root / "ds_etc" / "a.tgz"))
    finally:
        watcher.stop()


def test_inotify_reports_close_after_write_in_new_feeder_folders(tmp_path: Path) -> None:
    root = _inbox(tmp_path)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    watcher = Watcher(root, "inotify", events)
    watcher.start()
    try:
        feeder = root / "app_bundle" / "sh01"
        feeder.mkdir()
        _wait_for(events, ("rescan", feeder))
        (feeder / "app.spl").write_bytes(b"x")
        _wait_for(events, ("closed", feeder / "app.spl"))
    finally:
        watcher.stop()


def test_an_inotify_queue_overflow_warning_asks_for_a_rescan(tmp_path: Path) -> None:
    root = _inbox(tmp_path)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    watcher = Watcher(root, "inotify", events)
    watcher.start()
    try:
        # What watchdog does on IN_Q_OVERFLOW: it only logs.
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        _wait_for(events, ("overflow", root))
    finally:
        watcher.stop()


def test_auto_falls_back_to_polling_when_the_inotify_limit_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.observers import inotify

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(inotify.InotifyObserver, "schedule", exhausted)
    watcher = Watcher(_inbox(tmp_path), "auto", queue.SimpleQueue())
    with capture_logs() as logs:
        watcher.start()
    try:
        assert watcher.kind == "polling"
        assert not watcher.sees_closes
        assert "watcher.fallback" in [e["event"] for e in logs]
    finally:
        watcher.stop()


def test_explicit_inotify_does_not_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.observers import inotify

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(inotify.InotifyObserver, "schedule", exhausted)
    with pytest.raises(OSError, match="limit"):
        Watcher(_inbox(tmp_path), "inotify", queue.SimpleQueue()).start()
