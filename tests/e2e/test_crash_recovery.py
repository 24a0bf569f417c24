"""`autodoc run` killed with SIGKILL at every step of the pipeline, then started again: every
dropped file ends as exactly one run (stored, or failed for a bad one), every blob is intact,
nothing is left claimed or `pending`.

The fault points (daemon/faults.py, env AUTODOC_FAULT=<step>) SIGKILL the daemon at a step
boundary; one more test kills it from outside in the middle of a burst.

This module also holds the daemon-as-a-process helpers that test_signals.py and
test_feeding.py import (kept here rather than in the shared conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import tarfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.faults import INGEST_STEPS
from tests.e2e.conftest import (
    AUTODOC,
    TIMEOUT,
    Workspace,
    base_env,
    log_events,
    named,
    sha256,
    wait_for,
)

# -- helpers shared with test_signals.py and test_feeding.py ---------------------------------


def configure(
    ws: Workspace,
    *,
    settle: float = 0.3,
    rescan: float = 60.0,
    workers: int = 2,
    stop_timeout: float = 30.0,
) -> Workspace:
    """Rewrite the workspace config's daemon timings (conftest writes settle_seconds = 0)."""
    text = ws.config.read_text(encoding="utf-8")
    assert "settle_seconds = 0.0\n" in text, text
    text = text.replace(
        "settle_seconds = 0.0\n", f"settle_seconds = {settle}\nrescan_seconds = {rescan}\n"
    )
    text += f"\n[daemon]\nworkers = {workers}\nstop_timeout_seconds = {stop_timeout}\n"
    ws.config.write_text(text, encoding="utf-8")
    return ws


def tarball(seed: str, size: int = 256) -> bytes:
    """A small, valid tar.gz whose content (and so sha256) depends on `seed`."""
    body = (f"[monitor:///var/log/{seed}]\nindex = main\n# " + "x" * size + "\n").encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"etc/apps/{seed}/local/inputs.conf")
        info.size = len(body)
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def claimed_files(ws: Workspace) -> list[Path]:
    """Files in .processing other than the daemon's state file."""
    if not ws.processing.exists():
        return []
    return sorted(
        p
        for p in ws.processing.rglob("*")
        if (p.is_file() or p.is_symlink()) and not re.fullmatch(r"daemon-.*\.json", p.name)
    )


def inbox_files(ws: Workspace) -> list[Path]:
    """Every non-directory entry in the inbox outside .processing."""
    return sorted(
        p
        for p in ws.inbox.rglob("*")
        if not p.is_dir() and ws.processing not in p.parents and p != ws.processing
    )


def all_taken(ws: Workspace) -> bool:
    """The inbox and .processing are empty: every drop reached `stored` or `failed` for good
    (the claimed source is removed only after the commit, and moved to failed_path only after
    the run is `failed`)."""
    return not claimed_files(ws) and not inbox_files(ws)


class DaemonProcess:
    """`autodoc run` as a child process, its JSON log in `<ws>/<name>.log`."""

    def __init__(self, ws: Workspace, name: str, env: dict[str, str]) -> None:
        self.ws = ws
        self.log = ws.root / f"{name}.log"
        self.err = ws.root / f"{name}.err"
        with open(self.log, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [*AUTODOC, "run"],
                env=base_env(AUTODOC_CONFIG=str(ws.config), **ws.env, **env),
                cwd=ws.root,
                stdout=out,
                stderr=err,
                text=True,
            )

    def events(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return log_events(text[: text.rfind("\n") + 1])  # a line being written is not JSON yet

    def named(self, name: str) -> list[dict[str, Any]]:
        return named(self.events(), name)

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_started(self, timeout: float = TIMEOUT) -> None:
        def started() -> bool:
            if not self.alive():
                pytest.fail(f"daemon exited {self.proc.returncode}: {self.stderr()}")
            return bool(self.named("daemon.started"))

        wait_for(started, timeout, "daemon.started")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def assert_clean_exit(self, sig: int = signal.SIGTERM) -> None:
        code = self.stop(sig)
        assert code == 0, (code, self.stderr())
        assert "Traceback" not in self.stderr(), self.stderr()
        assert self.named("daemon.stopped"), self.events()[-3:]


@contextlib.contextmanager
def running(ws: Workspace, name: str = "daemon", **env: str) -> Iterator[DaemonProcess]:
    """Start `autodoc run`; whatever happens, it is dead when the block is left."""
    daemon = DaemonProcess(ws, name, env)
    try:
        yield daemon
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        daemon.proc.wait()


def drop_only_a_rescan_can_see(
    ws: Workspace, daemon: DaemonProcess, path: Path, data: bytes
) -> None:
    """Leave an acceptable drop at `path` that the watcher has no event for.

    A file with two hard links is refused (README); removing the other link, outside the
    inbox, makes it acceptable, but only the inode's link count changes: no inotify event
    reaches the inbox folder, and the refused path is not tracked any more. Only a full
    rescan can take it."""
    outside = ws.root / f"other-link-of-{path.name}"
    outside.write_bytes(data)
    os.link(outside, path)
    rel = str(path.relative_to(ws.inbox))
    wait_for(
        lambda: [e for e in daemon.named("inbox.refused") if e["path"] == rel],
        TIMEOUT,
        f"{rel} refused for its second hard link",
    )
    outside.unlink()


def origin_marker(path: Path) -> str:
    """How a run's notes name the inbox path it came from."""
    return f"from {path} [claim "


def check_invariants(
    ws: Workspace,
    dropped: dict[Path, bytes],
    bad: Collection[Path] = (),
) -> dict[Path, dict[str, Any]]:
    """Every dropped file is exactly one run, `stored` with its sha256 (or `failed` and in
    failed_path for a bad one); blobs hash to their names; nothing is claimed or pending.
    Returns the run of each dropped path."""
    runs = ws.runs()
    assert not [r for r in runs if r["status"] == "pending"], runs
    assert len(runs) == len(dropped), (
        f"{len(runs)} runs for {len(dropped)} drops",
        sorted(str(r["notes"]) for r in runs),
    )
    by_path: dict[Path, dict[str, Any]] = {}
    for path, data in dropped.items():
        mine = [r for r in runs if origin_marker(path) in (r["notes"] or "")]
        assert len(mine) == 1, f"{path}: {len(mine)} runs: {mine}"
        run = by_path[path] = mine[0]
        if path in bad:
            assert run["status"] == "failed", run
            assert run["files"] == [], run
        else:
            assert run["status"] == "stored", run
            (record,) = run["files"]
            assert record["path"] == path.name, record
            assert record["sha256"] == sha256(data), (path, record)
            assert record["size_bytes"] == len(data), (path, record)
            assert record["stored_object_key"].endswith(record["sha256"]), record

    # Blobs: exactly the distinct good contents, each hashing to its name.
    blobs = ws.blob_files()
    assert {p.name for p in blobs} == {sha256(d) for p, d in dropped.items() if p not in bad}
    for blob in blobs:
        assert file_sha256(blob) == blob.name, f"damaged blob {blob}"

    # Nothing left claimed or in the inbox; failed files beside their .error.json.
    assert claimed_files(ws) == [], claimed_files(ws)
    assert not [p for p in inbox_files(ws) if p in dropped], inbox_files(ws)
    for path in bad:
        run = by_path[path]
        rel = path.parent.relative_to(ws.inbox)
        moved = ws.failed / rel / f"{run['id']}-{path.name}"
        assert moved.read_bytes() == dropped[path], moved
        report = json.loads(moved.with_name(moved.name + ".error.json").read_text())
        assert report["run_id"] == run["id"], report
    return by_path


# -- the tests -------------------------------------------------------------------------------

# The run that finishes a file a crash interrupted (after_claim leaves no run behind: the
# restart creates the file's only run).
RECOVERY_EVENT = {
    "after_run_insert": "run.resumed",
    "mid_store": "run.resumed",
    "after_blob_durable": "run.resumed",
    "after_commit": "run.recovered",
    "after_failed_commit": "run.recovered",
}


def _drop_set(ws: Workspace) -> tuple[dict[Path, bytes], Path, Path, Path]:
    """Four distinct good tarballs, a copy of the first under another name, one bad file."""
    dropped: dict[Path, bytes] = {}
    for n in range(4):
        data = tarball(f"app{n}", size=2000 * n)
        dropped[ws.drop("ds_etc", f"good-{n}.tgz", data, feeder="ds-01")] = data
    first = ws.inbox / "ds_etc" / "ds-01" / "good-0.tgz"
    duplicate = ws.drop("ds_etc", "copy-of-good-0.tgz", dropped[first], feeder="ds-01")
    dropped[duplicate] = dropped[first]
    bad_data = b"[serverClass:all]\nwhitelist.0 = *\n"  # text where an archive belongs
    bad = ws.drop("ds_etc", "not-an-archive.tgz", bad_data, feeder="ds-01")
    dropped[bad] = bad_data
    return dropped, first, duplicate, bad


@pytest.mark.parametrize("step", INGEST_STEPS)  # the parse steps: test_parse_daemon.py
def test_sigkill_at_each_step_then_restart_ends_every_drop_as_exactly_one_run(
    make_workspace: Callable[..., Workspace], step: str
) -> None:
    ws = configure(make_workspace(), settle=0.2)
    dropped, first, duplicate, bad = _drop_set(ws)

    with running(ws, "crashing", AUTODOC_FAULT=step) as crashing:
        code = crashing.proc.wait(timeout=TIMEOUT)
    assert code == -signal.SIGKILL, (code, crashing.stderr())
    crashed_runs = {e["run_id"] for e in crashing.named("run.created")}
    assert claimed_files(ws), f"the kill at {step} should have left a claimed file"

    with running(ws, "restarted") as restarted:
        restarted.wait_started()
        wait_for(lambda: all_taken(ws), TIMEOUT, "every drop stored or failed")
        restarted.assert_clean_exit()

    runs = check_invariants(ws, dropped, bad={bad})
    # The duplicate shares the first one's blob, and exactly one of the two names the other.
    shared = {runs[p]["files"][0]["stored_object_key"] for p in (first, duplicate)}
    assert len(shared) == 1, shared
    a, b = runs[first], runs[duplicate]
    names_other = [
        re.search(rf"\brun {y['id']}\b", x["notes"]) is not None for x, y in ((a, b), (b, a))
    ]
    assert sorted(names_other) == [False, True], (a["notes"], b["notes"])
    # The interrupted run was finished by the restart, not replaced by a second one.
    if step in RECOVERY_EVENT:
        finished = {e["run_id"] for e in restarted.named(RECOVERY_EVENT[step])}
        assert finished & crashed_runs, (step, restarted.events())


def test_sigkill_in_the_middle_of_a_200_file_burst_then_restart_stores_each_exactly_once(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = configure(make_workspace(), settle=0.2)
    staging = ws.root / "staging"
    staging.mkdir()
    dropped: dict[Path, bytes] = {}
    for n in range(200):
        data = tarball(f"burst{n}")
        (staging / f"b{n:03}.tgz").write_bytes(data)
        dropped[ws.inbox / "instance_etc" / f"b{n:03}.tgz"] = data

    with running(ws, "killed") as killed:
        killed.wait_started()
        for path in dropped:
            os.rename(staging / path.name, path)
        wait_for(lambda: len(killed.named("run.stored")) >= 40, TIMEOUT, "40 runs stored")
        killed.proc.kill()
        assert killed.proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    stored_before = len(killed.named("run.stored"))
    assert stored_before < len(dropped), "the burst was over before the kill: test proves nothing"

    with running(ws, "restarted") as restarted:
        restarted.wait_started()
        wait_for(lambda: all_taken(ws), 60, "every drop stored")
        restarted.assert_clean_exit()

    check_invariants(ws, dropped)
