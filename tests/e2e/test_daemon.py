"""`autodoc run`: the daemon as a process, fed while it runs, stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace, log_events, named, sha256, wait_for

STORE_WITHIN_S = 5.0  # it polls about every second


def _events(log: Path) -> list[dict[str, Any]]:
    text = log.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]  # a line being written is not JSON yet
    return log_events(complete)


def _stored(log: Path, name: str) -> dict[str, Any] | None:
    events = _events(log)
    run_ids = {e["run_id"] for e in named(events, "run.created") if e["origin"].endswith(name)}
    return next((e for e in named(events, "run.stored") if e["run_id"] in run_ids), None)


def test_daemon_stores_files_dropped_while_running_warns_once_and_exits_0_on_sigterm(
    workspace: Workspace,
) -> None:
    ws = workspace
    (ws.inbox / "single_conf" / "link.conf").symlink_to(ws.config)
    (ws.inbox / "stray.conf").write_bytes(b"[x]\n")
    log, err = ws.root / "daemon.log", ws.root / "daemon.err"
    with open(log, "w") as out, open(err, "w") as errors:
        proc = ws.popen("run", stdout=out, stderr=errors)
    try:
        wait_for(lambda: named(_events(log), "daemon.started"), 20, "daemon.started")

        # Published by rename (rsync, mv) ...
        renamed = b"[monitor:///var/log/audit]\nindex = linux\n"
        dropped_at = time.monotonic()
        ws.drop("single_conf", "audit.conf", renamed, feeder="web-01")
        first = wait_for(lambda: _stored(log, "audit.conf"), 20, "audit.conf stored")
        assert time.monotonic() - dropped_at < STORE_WITHIN_S
        # ... and written in place (settle_seconds is 0 here).
        in_place = b"[tcpout]\ndefaultGroup = idx\n"
        (ws.inbox / "single_conf" / "outputs.conf").write_bytes(in_place)
        second = wait_for(lambda: _stored(log, "outputs.conf"), 20, "outputs.conf stored")
        assert proc.poll() is None, "the daemon must keep running"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    events = _events(log)
    assert "Traceback" not in err.read_text(), err.read_text()
    assert first["sha256"] == sha256(renamed) and second["sha256"] == sha256(in_place)
    # Seen by at least three scans, warned about once.
    assert len([e for e in named(events, "inbox.refused") if e["path"].endswith("link.conf")]) == 1
    assert len([e for e in named(events, "inbox.unroutable") if e["path"] == "stray.conf"]) == 1
    assert named(events, "daemon.stopped"), events[-3:]

    shown = ws.run("runs", "show", str(first["run_id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert (run["status"], run["label"]) == ("stored", "web-01")
    assert (ws.inbox / "single_conf" / "link.conf").is_symlink()
    assert (ws.inbox / "stray.conf").read_bytes() == b"[x]\n"
