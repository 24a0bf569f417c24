"""The `inventory` upload type end to end: a client list dropped in `inbox/inventory/<ds>/` is
stored by `autodoc scan` (labelled with the DS) and parsed by `autodoc parse` into rows and
findings; what is not a client list is refused at ingestion and moved to failed_path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Workspace, log_events, named

CLIENTS = (
    b"\xef\xbb\xbfclientName,hostname,ip,utsname,splunkVersion,lastPhoneHomeTime\r\n"
    b"uf-01,web-01,10.0.0.1,linux-x86_64,9.4.3,1700000000\r\n"
    b'uf-02,"web-02",10.0.0.999,windows-x64,9.2.1,1700000000\r\n'
    b",,,linux-x86_64,9.4.3,1700000000\r\n"
)


def show(ws: Workspace, run_id: int) -> dict[str, Any]:
    result = ws.run("runs", "show", str(run_id), "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_csv_dropped_in_inventory_ds_01_is_stored_by_scan_and_parsed_by_parse(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    assert (ws.inbox / "inventory").is_dir()
    ws.drop("inventory", "clients.csv", CLIENTS, feeder="ds-01")

    scanned = ws.run("scan")
    assert scanned.returncode == 0, scanned.stderr
    [run] = ws.runs()
    assert (run["type"], run["label"], run["status"]) == ("inventory", "ds-01", "stored"), run
    assert run["files"][0]["path"] == "clients.csv"

    parsed = ws.run("parse", "--waiting")
    assert parsed.returncode == 0, parsed.stderr
    match = re.fullmatch(rf"run {run['id']}: complete: (.+)\n", parsed.stdout)
    assert match, parsed.stdout

    data = show(ws, run["id"])
    assert data["status"] == "complete"
    # Two hosts (web-02 without its bad ip); the bad ip, the row without identity and the
    # ignored column are findings.
    assert (data["counts"]["inventory_rows"], data["counts"]["findings"]) == (2, 3)
    assert data["counts"]["stanzas"] == 0
    assert match[1] == ", ".join(f"{n} {name}" for name, n in data["counts"].items())
    assert data["notes"].splitlines()[-1] == "parsed: inventory: 2 hosts, 3 findings"


def test_what_is_not_a_client_list_is_refused_at_ingestion_with_the_reason(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    drops = {
        "binary.csv": (bytes(range(256)) * 8, "binary content"),
        "noheader.csv": (b"web-01,10.0.0.1\nweb-02,10.0.0.2\n", "names none of the columns"),
        "clients.tgz": (b"\x1f\x8b\x08\x00" + bytes(200), "an archive"),
    }
    for name, (data, _reason) in drops.items():
        ws.drop("inventory", name, data, feeder="ds-01")

    result = ws.run("scan")
    assert result.returncode == 1, (result.stdout, result.stderr)  # some item failed
    events = log_events(result.stdout)
    runs = {r["id"]: r for r in ws.runs()}
    assert len(runs) == 3
    origins = {e["run_id"]: e["origin"] for e in named(events, "run.created")}
    for event in named(events, "run.failed"):
        run = runs[event["run_id"]]
        name = origins[run["id"]].rsplit("/", 1)[-1]
        data, reason = drops[name]
        assert reason in event["reason"], (name, event)
        assert (run["type"], run["status"]) == ("inventory", "failed")
        assert event["reason"] in run["notes"]
        moved = ws.failed / "inventory" / "ds-01" / f"{run['id']}-{name}"
        assert moved.read_bytes() == data
    assert len(named(events, "run.failed")) == 3
