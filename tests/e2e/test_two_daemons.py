"""Two daemons sharing one inbox, one PostgreSQL database and one blob store: the atomic
claim means every file is ingested exactly once."""

from __future__ import annotations

import gzip
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace, wait_for

FILES = 300


@pytest.mark.postgres
def test_two_daemons_on_one_inbox_never_ingest_a_file_twice(
    make_workspace: object, pg_url: str, tmp_path: Path
) -> None:
    ws: Workspace = make_workspace(database_url=pg_url)  # type: ignore[operator]
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(FILES):
        (staging / f"etc-{i:04d}.tgz").write_bytes(gzip.compress(f"bundle {i}".encode()))
    logs = [open(ws.root / f"daemon{n}.log", "w") for n in range(2)]  # noqa: SIM115
    procs = [ws.popen("run", stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        for n in range(2):
            wait_for(
                lambda n=n: "daemon.started" in (ws.root / f"daemon{n}.log").read_text(),
                30,
                f"daemon {n} started",
            )
        # Published by rename, all at once: both daemons race for every file.
        for path in sorted(staging.iterdir()):
            path.rename(ws.inbox / "ds_etc" / path.name)
        wait_for(
            lambda: len(ws.runs()) >= FILES and not list((ws.inbox / "ds_etc").iterdir()),
            120,
            "all files ingested",
        )
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()

    runs = ws.runs()
    names = Counter(run["files"][0]["path"] for run in runs)
    assert len(runs) == FILES
    assert set(names.values()) == {1}
    assert {run["status"] for run in runs} == {"stored"}
    # Both daemons did a share of the work (each logged stores of its own).
    per_daemon = [(ws.root / f"daemon{n}.log").read_text().count('"run.stored"') for n in range(2)]
    assert sum(per_daemon) == FILES
    assert all(per_daemon), per_daemon
    assert [
        p.name for p in ws.processing.rglob("*") if p.is_file() and not p.name.startswith("daemon-")
    ] == []
