"""`autodoc resolve`, `hosts` and `host` as a user runs them on the DCOM deployment server
and a client list."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace

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
