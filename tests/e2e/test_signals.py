"""`autodoc run` and its signals: SIGTERM and SIGINT stop claiming, finish (or, past
stop_timeout_seconds, abandon) the file in flight and exit 0, and the next start finishes
whatever was abandoned; SIGHUP rescans the inbox at once."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import TIMEOUT, Workspace, sha256, wait_for
from tests.e2e.test_crash_recovery import (
    all_taken,
    check_invariants,
    claimed_files,
    configure,
    drop_only_a_rescan_can_see,
    running,
    tarball,
)

BIG_MB = 128  # hashed at ~1 GB/s plus an fsync of dirty pages: in flight for ~0.2 s


def _write_big(path: Path, megabytes: int) -> str:
    """A gzip-looking file of real (not sparse) data; returns its sha256. Random 4 MiB blocks
    repeated: as slow to hash and to fsync as fully random data, much faster to make."""
    rng = random.Random(path.name)
    blocks = [rng.randbytes(4 << 20) for _ in range(4)]
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        head = b"\x1f\x8b\x08\x00" + path.name.encode()
        out.write(head)
        digest.update(head)
        for n in range(megabytes // 4):
            block = blocks[n % len(blocks)]
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def _origin_is(event: dict[str, object], path: Path) -> bool:
    return event.get("origin") == str(path)


@pytest.mark.parametrize(
    ("sig", "stop_timeout"),
    [
        pytest.param(signal.SIGTERM, 30.0, id="SIGTERM-finishes_in_flight"),
        pytest.param(signal.SIGINT, 30.0, id="SIGINT-finishes_in_flight"),
        # SIGINT takes the same path; one abandon case keeps the suite fast.
        pytest.param(signal.SIGTERM, 0.0, id="SIGTERM-abandons_past_stop_timeout"),
    ],
)
def test_stop_signal_during_a_large_ingest_exits_0_claims_nothing_more_and_loses_nothing(
    make_workspace: Callable[..., Workspace], sig: signal.Signals, stop_timeout: float
) -> None:
    ws = configure(make_workspace(), settle=0.2, workers=1, stop_timeout=stop_timeout)
    staging = ws.root / "staging"
    staging.mkdir()
    big = ws.inbox / "ds_etc" / "big-etc.tgz"
    small = ws.inbox / "ds_etc" / "small-etc.tgz"
    small_data = tarball("small")
    big_sha = _write_big(staging / big.name, BIG_MB)
    try:
        with running(ws, "first") as first:
            first.wait_started()
            os.rename(staging / big.name, big)
            created = wait_for(
                lambda: [e for e in first.named("run.created") if _origin_is(e, big)],
                TIMEOUT,
                "the large file's run.created",
                interval=0.01,
            )
            big_run = created[0]["run_id"]
            # Ready at once (renamed in), but the only worker is busy: waits in the inbox.
            ws.drop("ds_etc", small.name, small_data)
            signalled = time.monotonic()
            code = first.stop(sig, timeout=stop_timeout + TIMEOUT)
            took = time.monotonic() - signalled
        assert code == 0, (code, first.stderr())
        assert "Traceback" not in first.stderr(), first.stderr()
        events = first.events()
        names = [e["event"] for e in events]
        assert "daemon.stopping" in names and "daemon.stopped" in names, names
        stopping = names.index("daemon.stopping")
        (stopped,) = [e for e in events if e["event"] == "daemon.stopped"]
        stored = [i for i, e in enumerate(events) if e["event"] == "run.stored"]
        assert all(i > stopping for i in stored), "the signal came after the ingest: no test"
        # Nothing is claimed after the signal: the small file is still where it was dropped.
        assert not [e for e in first.named("run.created") if _origin_is(e, small)]
        assert small.read_bytes() == small_data
        first_stored = [events[i]["run_id"] for i in stored]
        left_claimed = claimed_files(ws)
        if stop_timeout:
            # Finished before exit, within the timeout.
            assert took < stop_timeout, f"exit took {took:.1f} s"
            assert stopped["abandoned"] == 0, stopped
            assert first_stored == [big_run], events
            assert not big.exists() and left_claimed == [], left_claimed
        else:
            # Exit does not wait; the worker may still finish while the daemon shuts down.
            assert took < 10, f"exit took {took:.1f} s with stop_timeout_seconds = 0"
            assert first_stored in ([], [big_run]), events
            assert len(left_claimed) == (0 if first_stored else 1), left_claimed

        with running(ws, "second") as second:
            second.wait_started()
            wait_for(lambda: all_taken(ws), TIMEOUT, "both files stored")
            second.assert_clean_exit()
        assert not [e for e in second.named("run.created") if _origin_is(e, big)], (
            "an abandoned file must be finished under its first run, not a new one"
        )
        if left_claimed:
            finished = second.named("run.resumed") + second.named("run.recovered")
            assert big_run in {e["run_id"] for e in finished}, second.events()
        _check_big_and_small(ws, big, big_sha, big_run, small, small_data)
    finally:
        for path in (*ws.blob_files(), staging / big.name):
            path.unlink(missing_ok=True)


def _check_big_and_small(
    ws: Workspace, big: Path, big_sha: str, big_run: int, small: Path, small_data: bytes
) -> None:
    runs = ws.runs()
    assert sorted((r["status"], r["files"][0]["path"]) for r in runs) == [
        ("stored", big.name),
        ("stored", small.name),
    ], runs
    (big_record,) = [r for r in runs if r["files"][0]["path"] == big.name]
    assert big_record["id"] == big_run
    assert big_record["files"][0]["sha256"] == big_sha
    (small_record,) = [r for r in runs if r["files"][0]["path"] == small.name]
    assert small_record["files"][0]["sha256"] == sha256(small_data)
    blob = ws.blobs / big_record["files"][0]["stored_object_key"]
    assert blob.stat().st_size == BIG_MB * (1 << 20) + 4 + len(big.name)
    assert claimed_files(ws) == [], claimed_files(ws)


def test_sighup_rescans_at_once_and_takes_a_file_the_watcher_cannot_see(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.2, rescan=3600, workers=1)
    data, barrier_data = tarball("linked"), tarball("barrier")
    linked = ws.inbox / "ds_etc" / "linked.tgz"
    barrier = ws.inbox / "ds_etc" / "barrier.tgz"

    with running(ws) as daemon:
        daemon.wait_started()
        drop_only_a_rescan_can_see(ws, daemon, linked, data)
        # A barrier written in place in the same folder (same inotify watch, so its events
        # come after any the unlink could have caused), stored by the only worker: had the
        # watcher seen the change, the linked file would have been claimed first.
        with open(barrier, "wb") as out:
            out.write(barrier_data)
        wait_for(
            lambda: [e for e in daemon.named("run.stored") if e["sha256"] == sha256(barrier_data)],
            TIMEOUT,
            "the barrier stored",
        )
        assert linked.exists(), "taken without a rescan: this test no longer proves SIGHUP"
        assert not [e for e in daemon.named("run.created") if e["origin"] == str(linked)]

        hup = time.monotonic()
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: [e for e in daemon.named("run.stored") if e["sha256"] == sha256(data)],
            5,
            "the linked file stored after SIGHUP",
        )
        assert time.monotonic() - hup < 3
        assert daemon.alive(), "SIGHUP must not stop the daemon"
        daemon.assert_clean_exit()

    check_invariants(ws, {linked: data, barrier: barrier_data})
