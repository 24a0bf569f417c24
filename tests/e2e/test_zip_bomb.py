"""Issue 9: an app bundle zip whose member declares 100 bytes and inflates to 1.5 GiB of
zeros (deflate: 1.5 MB, bzip2: 1.7 KB) fails its parse at a limit with `autodoc parse`
staying small. It used to complete (the headers' CRC is that of 100 zeros) at 2.2 GB
(deflate) and 3.3 GB (bzip2) of peak RSS; see benchmarks/zip_bomb.py."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.e2e.conftest import AUTODOC, TIMEOUT, Workspace, base_env
from tests.zip_bombs import bomb

PEAK_RSS_LIMIT = 300 * 1000 * 1000  # bytes
METHODS = ("deflate", "bzip2")


# Runs the command and writes its peak RSS (bytes) to argv[1]. Not measured from pytest
# itself: Linux counts what the parent held when it forked into the child's ru_maxrss (after
# the unit tests, pytest holds ~300 MB); this small interpreter holds ~10 MB.
_MEASURE = """
import os, subprocess, sys, threading
proc = subprocess.Popen(sys.argv[3:])
killer = threading.Timer(float(sys.argv[2]), proc.kill)
killer.start()
_, status, usage = os.wait4(proc.pid, 0)
killer.cancel()
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(ws: Workspace, *args: str) -> tuple[int, str, int]:
    """Exit code, stdout and peak RSS in bytes of `autodoc *args`, from wait4 on that one
    process (RUSAGE_CHILDREN would report the largest child this session ever waited for)."""
    peak = ws.root / "peak-rss"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(peak), str(TIMEOUT), *AUTODOC, *args],
        env=base_env(AUTODOC_CONFIG=str(ws.config), **ws.env),
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 10,
        check=False,
    )
    return result.returncode, result.stdout, int(peak.read_text())


@pytest.mark.parametrize(
    ("max_ratio", "limit"),
    [
        (None, "parse.max_ratio"),
        # With the ratio out of the way, the member is kept up to parse.max_member_bytes
        # (64 MiB) and no further.
        (1e12, "parse.max_member_bytes"),
    ],
    ids=["default-limits", "max-ratio-raised"],
)
def test_a_zip_bomb_lying_about_its_size_fails_its_parse_with_bounded_memory(
    make_workspace: Callable[..., Workspace], max_ratio: float | None, limit: str
) -> None:
    ws = make_workspace(
        parse=f"workers = 0\nmax_ratio = {max_ratio}" if max_ratio else "workers = 0"
    )
    for method in METHODS:
        blob = bomb(method)
        assert len(blob) < 2 * 1024 * 1024
        ws.drop("app_bundle", "bomb.zip", blob, feeder=method)  # the feeder is the label
    scanned = ws.run("scan")
    assert scanned.returncode == 0, scanned.stderr
    runs = {run["label"]: run for run in ws.runs()}
    assert {m: r["status"] for m, r in runs.items()} == dict.fromkeys(METHODS, "stored"), runs

    for method in METHODS:
        run_id = runs[method]["id"]
        code, output, peak = run_measured(ws, "parse", str(run_id))

        assert code == 1, output
        assert re.fullmatch(rf"run {run_id}: failed: .*{re.escape(limit)}.*\n", output), output
        assert peak < PEAK_RSS_LIMIT, f"{method}: peak RSS {peak / 1e6:.0f} MB"
    for run in ws.runs():
        assert run["status"] == "failed", run
        assert limit in run["notes"], run["notes"]
