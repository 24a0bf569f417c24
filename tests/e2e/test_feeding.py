"""The daemon fed by real tools and real habits: rsync into a feeder folder, cp and slow writers
in place, mv, files already there at start, a 1,000-file burst, hostile drops (a FIFO among
them, which must never be opened), and a type folder made anew while running."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import service_missing
from tests.e2e.conftest import TIMEOUT, Workspace, sha256, wait_for
from tests.e2e.test_crash_recovery import (
    DaemonProcess,
    all_taken,
    check_invariants,
    configure,
    drop_only_a_rescan_can_see,
    file_sha256,
    inbox_files,
    running,
    tarball,
)

BIG_MB = 192


def _random_archive(seed: str, size: int) -> bytes:
    """Gzip magic followed by incompressible bytes: a large drop that passes validation."""
    return b"\x1f\x8b\x08\x00" + random.Random(seed).randbytes(size)


def _created_for(daemon: DaemonProcess, path: Path) -> list[dict[str, Any]]:
    return [e for e in daemon.named("run.created") if e["origin"] == str(path)]


def _stored_with(daemon: DaemonProcess, digest: str) -> list[dict[str, Any]]:
    return [e for e in daemon.named("run.stored") if e["sha256"] == digest]


def _never_claimed_while_running(
    writer: subprocess.Popen[bytes], daemon: DaemonProcess, path: Path
) -> None:
    """Poll until `writer` exits; the daemon must not claim `path` meanwhile."""
    deadline = time.monotonic() + TIMEOUT
    while writer.poll() is None:
        assert not _created_for(daemon, path), f"{path.name} claimed while still being written"
        assert time.monotonic() < deadline, "writer hung"
        time.sleep(0.02)
    assert writer.returncode == 0, writer.returncode


def _no_retries_or_crashes(daemon: DaemonProcess) -> None:
    events = daemon.events()
    bad = [e for e in events if e["event"] in ("run.deferred", "run.crashed", "pipeline.crashed")]
    assert not bad, bad
    assert "Traceback" not in daemon.stderr(), daemon.stderr()


# -- (a) rsync ---------------------------------------------------------------------------------


def test_rsync_into_a_feeder_folder_stores_all_with_its_label_and_never_claims_its_temp_files(
    make_workspace: Callable[..., Workspace],
) -> None:
    rsync = shutil.which("rsync")
    if rsync is None:
        service_missing("rsync is not installed")
    ws = configure(make_workspace(), settle=0.3)
    source = ws.root / "export"
    source.mkdir()
    files: dict[str, bytes] = {
        f"etc-{n:02}.tgz": tarball(f"rsync{n}", size=n * 997) for n in range(20)
    }
    # Two larger ones, so that rsync's `.<name>.XXXXXX` temp files exist for a while.
    files |= {f"big-{n}.tgz": _random_archive(f"rsync-big{n}", 8 << 20) for n in range(2)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    feeder = ws.inbox / "ds_etc" / "web-01"

    with running(ws) as daemon:
        daemon.wait_started()
        result = subprocess.run(
            [rsync, "-a", f"{source}/", f"{feeder}/"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        wait_for(lambda: all_taken(ws), TIMEOUT, "every rsynced file stored")
        daemon.assert_clean_exit()

    runs = check_invariants(ws, {feeder / name: data for name, data in files.items()})
    assert {r["label"] for r in runs.values()} == {"web-01"}
    events = daemon.events()
    origins = [Path(e["origin"]).name for e in daemon.named("run.created")]
    assert sorted(origins) == sorted(files), origins
    warned = [e for e in events if e["event"] in ("inbox.unroutable", "inbox.refused")]
    assert not warned, warned
    _no_retries_or_crashes(daemon)


# -- (b), (c) in-place writers -------------------------------------------------------------------


def test_large_file_copied_in_place_with_cp_is_stored_once_after_cp_finishes(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3)
    source = ws.root / "big-etc.tgz"
    block = random.Random("cp").randbytes(4 << 20)
    with open(source, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00")
        for _ in range(BIG_MB // 4):
            out.write(block)
    digest = file_sha256(source)
    target = ws.inbox / "instance_etc" / "big-etc.tgz"
    try:
        with running(ws) as daemon:
            daemon.wait_started()
            cp = subprocess.Popen(["cp", str(source), str(target)])
            try:
                _never_claimed_while_running(cp, daemon, target)
            finally:
                if cp.poll() is None:
                    cp.kill()
                cp.wait()
            wait_for(lambda: _stored_with(daemon, digest), TIMEOUT, "the copy stored")
            daemon.assert_clean_exit()

        assert len(_created_for(daemon, target)) == 1
        _no_retries_or_crashes(daemon)
        (run,) = ws.runs()
        assert (run["status"], run["files"][0]["sha256"]) == ("stored", digest), run
        assert file_sha256(ws.blobs / run["files"][0]["stored_object_key"]) == digest
        assert not target.exists()
    finally:
        for path in (source, *ws.blob_files()):
            path.unlink(missing_ok=True)


SLOW_WRITER = """
import sys, time
path, pause = sys.argv[1], float(sys.argv[2])
data = sys.stdin.buffer.read()
third = len(data) // 3
with open(path, "wb") as out:
    for n, part in enumerate((data[:third], data[third : 2 * third], data[2 * third :])):
        if n:
            time.sleep(pause)  # the file stays open, quiet for longer than settle_seconds
        out.write(part)
        out.flush()
"""


def test_slow_writer_pausing_longer_than_settle_seconds_is_stored_once_complete_after_close(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3)
    data = _random_archive("slow", 3 << 20)
    target = ws.inbox / "app_bundle" / "slow-app.tgz"

    with running(ws) as daemon:
        daemon.wait_started()
        writer = subprocess.Popen(
            [sys.executable, "-c", SLOW_WRITER, str(target), "0.9"], stdin=subprocess.PIPE
        )
        try:
            assert writer.stdin is not None
            writer.stdin.write(data)
            writer.stdin.close()
            _never_claimed_while_running(writer, daemon, target)
        finally:
            if writer.poll() is None:
                writer.kill()
            writer.wait()
        wait_for(lambda: _stored_with(daemon, sha256(data)), TIMEOUT, "the slow file stored")
        daemon.assert_clean_exit()

    assert len(_created_for(daemon, target)) == 1
    _no_retries_or_crashes(daemon)
    check_invariants(ws, {target: data})


# -- (d), (e) renames and files present at start -------------------------------------------------


def test_file_moved_in_is_stored_without_waiting_settle_seconds(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=2.0)
    staging = ws.root / "staging"
    staging.mkdir()
    dropped: dict[Path, bytes] = {}
    latencies = []
    with running(ws) as daemon:
        daemon.wait_started()
        for n in range(3):
            data = tarball(f"mv{n}")
            (staging / f"mv-{n}.tgz").write_bytes(data)  # a fresh mtime: not settled by age
            target = ws.inbox / "ds_etc" / f"mv-{n}.tgz"
            moved = time.monotonic()
            os.rename(staging / target.name, target)
            wait_for(
                lambda d=data: _stored_with(daemon, sha256(d)), TIMEOUT, target.name, interval=0.01
            )
            latencies.append(time.monotonic() - moved)
            dropped[target] = data
        daemon.assert_clean_exit()

    assert max(latencies) < 1.0, f"mv -> run.stored took {latencies} s with settle_seconds = 2"
    check_invariants(ws, dropped)


def test_files_present_before_start_are_stored_at_start(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3)
    dropped: dict[Path, bytes] = {}
    data = tarball("renamed")
    dropped[ws.drop("ds_etc", "renamed.tgz", data)] = data  # mtime: just now
    old = ws.inbox / "instance_etc" / "old.tgz"
    dropped[old] = tarball("old")
    old.write_bytes(dropped[old])
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    data = b"[tcpout]\ndefaultGroup = idx\n"
    dropped[ws.drop("single_conf", "outputs.conf", data, feeder="uf-9")] = data

    with running(ws) as daemon:
        daemon.wait_started()
        started = time.monotonic()
        wait_for(lambda: all_taken(ws), TIMEOUT, "the files present at start stored")
        taken = time.monotonic() - started
        daemon.assert_clean_exit()

    assert taken < 5, f"took {taken:.1f} s after start"
    runs = check_invariants(ws, dropped)
    assert runs[ws.inbox / "single_conf" / "uf-9" / "outputs.conf"]["label"] == "uf-9"


# -- (f) a burst -------------------------------------------------------------------------------


def test_burst_of_1000_files_moved_in_gives_1000_stored_runs_and_the_daemon_stays_up(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3)
    staging = ws.root / "staging"
    dropped: dict[Path, bytes] = {}
    for n in range(1000):
        rel = Path("ds_etc" if n % 2 else "instance_etc", f"feeder-{n % 4}", f"f{n:04}.tgz")
        (staging / rel.parent).mkdir(parents=True, exist_ok=True)
        data = tarball(f"burst{n}", size=n)
        (staging / rel).write_bytes(data)
        dropped[ws.inbox / rel] = data
    for folder in {p.parent for p in dropped}:
        folder.mkdir(parents=True, exist_ok=True)

    with running(ws) as daemon:
        daemon.wait_started()
        for path in dropped:
            os.rename(staging / path.relative_to(ws.inbox), path)
        wait_for(lambda: all_taken(ws), 120, "1,000 files stored")
        assert daemon.alive()
        daemon.assert_clean_exit()

    assert len(daemon.named("run.stored")) == 1000
    _no_retries_or_crashes(daemon)
    runs = check_invariants(ws, dropped)
    assert {r["label"] for r in runs.values()} == {f"feeder-{n}" for n in range(4)}


# -- (g) hostile drops ---------------------------------------------------------------------------


def test_hostile_drops_while_running_fail_or_are_refused_and_a_later_good_file_is_stored(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.3, rescan=60)
    conf = ws.inbox / "single_conf"
    outside = ws.root / "outside.conf"
    outside.write_bytes(b"[monitor:///etc]\n")
    failing = {
        conf / "empty.conf": (b"", "empty"),
        ws.inbox / "ds_etc" / "etc.tgz": (b"[serverClass:all]\n", "archive"),
        conf / os.fsdecode(b"caf\xe9.conf"): (b"[a]\n", "UTF-8"),
    }
    link, fifo = conf / "link.conf", conf / "pipe.conf"

    with running(ws) as daemon:
        daemon.wait_started()
        link.symlink_to(outside)
        os.mkfifo(fifo)
        for path, (data, _) in failing.items():
            ws.drop(path.parent.name, os.fsencode(path.name), data)
        wait_for(lambda: len(daemon.named("run.failed")) == 3, TIMEOUT, "three failed runs")
        good = b"[tcpout]\nindexAndForward = false\n"
        ws.drop("single_conf", "good.conf", good)
        wait_for(lambda: _stored_with(daemon, sha256(good)), TIMEOUT, "the good file stored")
        assert daemon.alive()
        # Refused promptly: long before the next full rescan (rescan_seconds = 60).
        special = {"single_conf/link.conf", "single_conf/pipe.conf"}

        def refused_both() -> list[dict[str, Any]]:
            events = [e for e in daemon.named("inbox.refused") if e["path"] in special]
            return events if {e["path"] for e in events} == special else []

        refused = wait_for(refused_both, 5, "the symlink and the FIFO refused")
        daemon.assert_clean_exit()

    assert {e["reason"] for e in refused} == {"symbolic link", "FIFO"}, refused
    assert link.is_symlink() and os.readlink(link) == str(outside)
    assert outside.read_bytes() == b"[monitor:///etc]\n"
    assert fifo.exists() and not fifo.is_file()
    _no_retries_or_crashes(daemon)

    runs = {r["id"]: r for r in ws.runs()}
    assert len(runs) == 4, runs  # three failed, one stored; nothing for the refused two
    failed = {e["run_id"]: e["reason"] for e in daemon.named("run.failed")}
    created = {e["origin"]: e["run_id"] for e in daemon.named("run.created")}
    for path, (data, reason) in failing.items():
        run_id = created[_printable(path)]
        assert runs[run_id]["status"] == "failed", runs[run_id]
        assert reason.lower() in failed[run_id].lower(), failed[run_id]
        assert _printable(path) in runs[run_id]["notes"], runs[run_id]["notes"]
        moved = sorted(
            (p for p in ws.failed_files() if p.name.startswith(f"{run_id}-")),
            key=lambda p: len(p.name),
        )
        assert len(moved) == 2, moved  # the file and its .error.json
        assert moved[0].read_bytes() == data
        assert moved[1].name == moved[0].name + ".error.json"
    (stored,) = [r for r in runs.values() if r["status"] == "stored"]
    assert stored["files"][0]["sha256"] == sha256(good)
    assert inbox_files(ws) == sorted([link, fifo])


def _printable(path: Path) -> str:
    """A path as the daemon logs and records it (undecodable bytes as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _blocked_opening_fifo(pid: int) -> bool:
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False
    return wchan in ("wait_for_partner", "fifo_open")


def test_fifo_appearing_in_the_inbox_is_refused_without_being_opened(
    make_workspace: Callable[..., Workspace],
) -> None:
    """A process blocked opening a FIFO for writing gets through as soon as anyone opens it
    for reading: the FIFO's writer must still be blocked after the daemon refused it."""
    ws = configure(make_workspace(), settle=0.2, rescan=60)
    hidden = ws.inbox / "single_conf" / ".pipe.conf"  # a dot-name: ignored as in progress
    fifo = ws.inbox / "single_conf" / "pipe.conf"

    with running(ws) as daemon:
        daemon.wait_started()
        os.mkfifo(hidden)
        writer = subprocess.Popen(["sh", "-c", 'exec 3>"$1"', "sh", str(hidden)])
        try:
            wait_for(lambda: _blocked_opening_fifo(writer.pid), 5, "the writer blocked")
            # Appears in place (created, not renamed), as `mkfifo pipe.conf` would make it.
            os.link(hidden, fifo)
            hidden.unlink()
            refused = wait_for(
                lambda: (
                    writer.poll() is not None
                    or [
                        e
                        for e in daemon.named("inbox.refused")
                        if e["path"] == "single_conf/pipe.conf"
                    ]
                ),
                5,
                "the FIFO refused",
            )
            assert writer.poll() is None, (
                "the daemon opened the FIFO: its blocked writer got through"
            )
            assert refused[0]["reason"] == "FIFO", refused
        finally:
            if writer.poll() is None:
                writer.kill()
            writer.wait()
        assert daemon.alive()
        daemon.assert_clean_exit()
    assert fifo.exists() and not fifo.is_file()


# -- (h) a type folder made anew -------------------------------------------------------------------


def test_type_folder_replaced_while_running_is_watched_again_so_moved_in_files_are_stored_at_once(
    make_workspace: Callable[..., Workspace],
) -> None:
    """`rm -r single_conf && mkdir single_conf` (or a deploy tool doing the same): inotify
    watches the old folder's inode, so the new folder needs a watch of its own, or renames
    into it wait for the next full rescan (rescan_seconds = 60 here)."""
    ws = configure(make_workspace(), settle=0.3, rescan=60)
    conf = ws.inbox / "single_conf"
    linked, linked_data = ws.inbox / "ds_etc" / "linked.tgz", tarball("linked")
    data = b"[monitor:///var/log/secure]\nindex = os\n"

    with running(ws) as daemon:
        daemon.wait_started()
        drop_only_a_rescan_can_see(ws, daemon, linked, linked_data)
        os.rename(conf, ws.root / "old-single_conf")
        conf.mkdir()
        # The daemon rescans when a folder appears; the linked file stored shows it has.
        wait_for(
            lambda: _stored_with(daemon, sha256(linked_data)), TIMEOUT, "the rescan's file stored"
        )
        moved = time.monotonic()
        ws.drop("single_conf", "secure.conf", data)
        wait_for(lambda: _stored_with(daemon, sha256(data)), 3, "secure.conf stored")
        assert time.monotonic() - moved < 1.5
        daemon.assert_clean_exit()

    check_invariants(ws, {conf / "secure.conf": data, linked: linked_data})
