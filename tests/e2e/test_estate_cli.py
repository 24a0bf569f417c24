"""`autodoc resolve`, `hosts` and `host` as a user runs them on the DCOM deployment server
and a client list."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import TIMEOUT, Workspace, wait_for
from tests.e2e.test_crash_recovery import configure, running

DCOM = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "ds_etc" / "dcom"
CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    "sh1,DCOMSearchHead01,10.0.0.1,dcomsearchhead01.example.com,,linux-x86_64\n"
    "web,webserver9,10.0.0.9,webserver9.example.com,,linux-x86_64\n"
)


def test_resolve_then_hosts_and_host_answer_which_host_gets_which_class_and_why(
    workspace: Workspace,
) -> None:
    if not DCOM.is_dir():
        pytest.skip(f"corpus not found at {DCOM}")
    early = workspace.run("hosts")
    assert early.returncode == 2 and "not been resolved yet" in early.stderr
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(DCOM / "etc", arcname="etc")
    (workspace.root / "dcom.tgz").write_bytes(buffer.getvalue())
    (workspace.root / "clients.csv").write_text(CLIENTS)
    for name, kind in (("dcom.tgz", "ds_etc"), ("clients.csv", "inventory")):
        done = workspace.run("ingest", str(workspace.root / name), "--type", kind, "--label", "ds1")
        assert done.returncode == 0, done.stderr
    assert workspace.run("parse", "1", "2").returncode == 0
    resolved = workspace.run("resolve", "--json")
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["hosts"] == 2
    again = workspace.run("resolve", "--if-changed")
    assert "nothing to do" in again.stdout

    hosts = json.loads(workspace.run("hosts", "--json").stdout)
    assert [(h["name"], h["serverclasses"]) for h in hosts] == [
        ("sh1", ["SearchHead"]),
        ("web", []),
    ]
    assert "sos" in hosts[0]["apps"]
    # Any of its names finds it: here the short hostname, case-insensitively.
    host = json.loads(workspace.run("host", "dcomsearchhead01", "--json").stdout)
    [member] = host["serverclasses"]
    entry = member["why"]["whitelist"]["entry"]
    assert (member["name"], member["result"], entry["pattern"]) == (
        "SearchHead",
        "member",
        "DCOMSearchHead*",
    )
    # Effective inputs over the shipped system/default: btool's [default] host value.
    assert host["inputs"]["default"]["host"]["value"] == "$decideOnStartup"
    text = workspace.run("host", "sh1").stdout
    assert "whitelist.0 = DCOMSearchHead* matched" in text
    # btool: the shipped [splunktcp] with its origin; --debug prefixes the host's file path.
    btool = json.loads(workspace.run("btool", "sh1", "inputs", "splunktcp", "--json").stdout)
    assert btool["splunktcp"]["route"]["file"] == "etc/system/default/inputs.conf"
    debug = workspace.run("btool", "sh1", "inputs", "--debug").stdout.splitlines()
    assert "/opt/splunk/etc/system/default/inputs.conf" in debug[0]
    assert workspace.run("btool", "sh1", "nosuch").returncode == 2
    missing = workspace.run("host", "nope")
    assert missing.returncode == 2 and "no host named 'nope'" in missing.stderr


def _estate_drops(ws: Workspace) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(DCOM / "etc", arcname="etc")
    ws.drop("ds_etc", "dcom.tgz", buffer.getvalue(), feeder="ds1")
    ws.drop("inventory", "clients.csv", CLIENTS.encode(), feeder="ds1")


def _resolutions(ws: Workspace) -> list[tuple[int, str]]:
    import sqlite3

    with sqlite3.connect(ws.var / "autodoc.db") as db:
        return [tuple(r) for r in db.execute("SELECT id, status FROM resolutions ORDER BY id")]


def test_the_daemon_resolves_by_itself_and_a_resolver_killed_midway_is_redone_at_the_next_start(
    workspace: Workspace,
) -> None:
    if not DCOM.is_dir():
        pytest.skip(f"corpus not found at {DCOM}")
    ws = configure(workspace)
    text = ws.config.read_text().replace("[parse]\nworkers = 0\n", "[parse]\nworkers = 1\n")
    ws.config.write_text(text + "\n[resolve]\ndebounce_seconds = 0.5\n")
    # The resolver is killed (SIGKILL) once it has written its rows, before they are visible.
    with running(ws, AUTODOC_FAULT="after_resolution_rows") as daemon:
        daemon.wait_started()
        _estate_drops(ws)
        wait_for(lambda: _resolutions(ws), TIMEOUT, "a resolution begun")
        wait_for(
            lambda: (
                all(s == "running" for _i, s in _resolutions(ws))
                and not daemon.named("resolution.complete")
            ),
            TIMEOUT,
            "the resolver killed midway",
        )
        assert daemon.stop() == 0
    assert workspace.run("hosts").returncode == 2  # nothing half-done is shown
    with running(ws, "again") as daemon:
        daemon.wait_started()
        wait_for(lambda: _resolutions(ws)[-1][1] == "complete", TIMEOUT, "resolved at start")
        assert daemon.stop() == 0
    [(rid, status)] = _resolutions(ws)
    assert status == "complete"
    hosts = json.loads(workspace.run("hosts", "--json").stdout)
    assert [h["name"] for h in hosts] == ["sh1", "web"]
    # A second drop makes a second resolution by itself.
    with running(ws, "third") as daemon:
        daemon.wait_started()
        ws.drop(
            "inventory",
            "clients2.csv",
            (CLIENTS + "x,hostx,10.0.0.7,hostx.example.com,,\n").encode(),
            feeder="ds1",
        )
        wait_for(lambda: len(_resolutions(ws)) == 2, TIMEOUT, "a second resolution")
        wait_for(lambda: _resolutions(ws)[-1][1] == "complete", TIMEOUT, "it completes")
        assert daemon.stop() == 0
    assert _resolutions(ws)[0] == (rid, "complete")
