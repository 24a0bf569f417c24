"""The readiness rules, with a fake clock and fake stat results."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.readiness import ReadinessTracker

A, B, C = Path("/in/ds_etc/a.tgz"), Path("/in/ds_etc/b.tgz"), Path("/in/ds_etc/c.tgz")


def drain(tracker: ReadinessTracker) -> list[Path]:
    out = []
    while (path := tracker.pop_ready()) is not None:
        out.append(path)
    return out


def no_writers(_path: Path) -> bool | None:
    return False


def test_file_renamed_into_place_is_ready_at_once_without_settle_delay() -> None:
    tracker = ReadinessTracker(settle_seconds=30, sees_closes=True)
    tracker.moved_in(A)
    assert drain(tracker) == [A]


def test_file_written_in_place_waits_for_close_and_settle() -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=True)
    stats = {A: (10, 1_000_000_000)}
    writers = {A: True}
    tracker.written(A, now=100.0)
    tracker.due(101.0, 1.5, stats.get, writers.get)
    assert drain(tracker) == []
    # A writer pausing longer than settle_seconds with the file still open is not taken.
    tracker.due(110.0, 1.5, stats.get, writers.get)
    assert drain(tracker) == []
    tracker.closed(A, now=110.0)
    writers[A] = False
    tracker.due(111.0, 1.5, stats.get, writers.get)
    assert drain(tracker) == []  # closed, but not settled yet
    tracker.due(112.0, 1.5, stats.get, writers.get)  # first look: records the stat
    tracker.due(112.5, 1.5, stats.get, writers.get)
    assert drain(tracker) == []
    tracker.due(114.6, 1.5, stats.get, writers.get)  # unchanged since the last look
    assert drain(tracker) == [A]


def test_a_file_whose_mtime_is_already_old_is_ready_at_the_first_look() -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=True)
    tracker.written(A, now=100.0)
    tracker.closed(A, now=100.0)
    tracker.due(102.0, 5000.0, {A: (10, 1_000 * 10**9)}.get, no_writers)
    assert drain(tracker) == [A]


def test_a_size_change_restarts_the_settle_time() -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=False)
    stats = {A: (10, 99 * 10**9)}
    tracker.written(A, now=100.0)
    tracker.due(102.0, 100.0, stats.get, no_writers)  # looks, records
    stats[A] = (20, 99 * 10**9)
    tracker.due(104.0, 100.0, stats.get, no_writers)  # changed: settle again
    assert drain(tracker) == []
    tracker.due(106.0, 100.0, stats.get, no_writers)
    assert drain(tracker) == [A]


def test_a_close_never_seen_is_given_up_on_when_writers_cannot_be_checked() -> None:
    tracker = ReadinessTracker(settle_seconds=1, sees_closes=True, give_up_seconds=30)
    stats = {A: (10, 0)}
    tracker.written(A, now=0.0)  # e.g. `ln`: a create event, no writer, no close event
    tracker.due(10.0, 1000.0, stats.get, lambda _p: None)
    assert drain(tracker) == []
    tracker.due(31.0, 1000.0, stats.get, lambda _p: None)  # gives up waiting; looks
    tracker.due(32.0, 1000.0, stats.get, lambda _p: None)  # unchanged since
    assert drain(tracker) == [A]


def test_scanned_files_must_stay_unchanged_for_settle_seconds_whatever_their_mtime() -> None:
    # An mtime set by an NFS server's clock says little: only an unchanged stat counts.
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=True)
    stats = {A: (1, 10 * 10**9), B: (1, 99 * 10**9)}
    tracker.scanned(A, stats[A], now=50.0)
    tracker.scanned(B, stats[B], now=50.0)
    tracker.due(51.0, 100.0, stats.get, no_writers)
    assert drain(tracker) == []
    stats[B] = (2, 100 * 10**9)  # still being written
    tracker.due(52.0, 100.0, stats.get, no_writers)
    assert drain(tracker) == [A]
    tracker.due(54.0, 102.0, stats.get, no_writers)
    assert drain(tracker) == [B]


def test_an_empty_file_waits_for_its_writer_until_give_up() -> None:
    tracker = ReadinessTracker(settle_seconds=1, sees_closes=False, give_up_seconds=10)
    stats = {A: (0, 0)}
    tracker.scanned(A, stats[A], now=0.0)
    tracker.due(5.0, 100.0, stats.get, no_writers)
    assert drain(tracker) == []
    tracker.due(10.0, 100.0, stats.get, no_writers)
    assert drain(tracker) == [A]


def test_deleted_or_claimed_files_are_forgotten() -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=True)
    tracker.moved_in(A)
    tracker.written(B, now=0.0)
    tracker.gone(A)
    tracker.gone(B)
    assert len(tracker) == 0


def test_a_vanished_pending_file_is_dropped_at_its_next_look() -> None:
    tracker = ReadinessTracker(settle_seconds=0, sees_closes=False)
    tracker.written(A, now=0.0)
    tracker.due(1.0, 1.0, lambda _p: None, no_writers)
    assert len(tracker) == 0


@given(st.lists(st.sampled_from([A, B, C]), min_size=1, max_size=20))
def test_ready_files_leave_in_the_order_they_became_ready_each_once(order: list[Path]) -> None:
    tracker = ReadinessTracker(settle_seconds=5, sees_closes=True)
    for path in order:
        tracker.moved_in(path)
    assert drain(tracker) == list(dict.fromkeys(order))


@pytest.mark.parametrize("sees_closes", [True, False])
def test_next_due_in_says_when_to_look_again(sees_closes: bool) -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=sees_closes)
    assert tracker.next_due_in(0.0) is None
    tracker.written(A, now=10.0)
    assert tracker.next_due_in(11.5) == pytest.approx(0.5)


def test_a_file_held_open_is_rechecked_at_most_twice_a_second() -> None:
    tracker = ReadinessTracker(settle_seconds=2, sees_closes=True)
    checks: list[Path] = []

    def writers(path: Path) -> bool:
        checks.append(path)
        return True

    tracker.written(A, now=0.0)
    for step in range(10):  # a busy main loop, every 0.1 s
        tracker.due(2.0 + step / 10, 5.0, {A: (1, 0)}.get, writers)
    assert len(checks) == 2
    assert tracker.next_due_in(2.95) == pytest.approx(0.05)
