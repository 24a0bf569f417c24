"""Bad drops end their run `failed` with the reason in notes, and the file moves to
failed_path/<type>/[<feeder>/]<run_id>-<name> beside <run_id>-<name>.error.json. Nothing is lost.

One workspace holds every bad drop and is scanned once; each test checks one of them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    NOBODY,
    Workspace,
    log_events,
    named,
    sha256,
    workspace_factory,
)

MAX_BYTES = 4096


@dataclass(frozen=True)
class Case:
    upload_type: str
    name: str | bytes
    data: bytes
    reason: str  # regex the reason must match (case-insensitive)
    feeder: str = ""


CASES = {
    "empty": Case("single_conf", "empty--inputs.conf", b"", r"empty"),
    "text_in_ds_etc": Case(
        "ds_etc", "text--etc.tar.gz", b"[serverClass:all]\nwhitelist.0 = *\n", r"archive|format"
    ),
    "gzip_in_single_conf": Case(
        "single_conf",
        "gzip--inputs.conf",
        gzip.compress(b"[monitor:///var/log/messages]\nindex = os\n"),
        r"archive|text|format",
    ),
    "binary_in_single_conf": Case(
        "single_conf", "binary--props.conf", bytes(range(256)) * 4, r"binary|text|format"
    ),
    "over_max_file_bytes": Case(
        "single_conf", "big--outputs.conf", b"#" * (MAX_BYTES + 1), r"max_file_bytes|large"
    ),
    "name_not_utf8": Case("single_conf", b"nonutf8--caf\xe9.conf", b"[a]\n", r"utf-?8|name"),
    "name_with_newline": Case("single_conf", "newline--two\nlines.conf", b"[b]\n", r"line|name"),
    "name_over_200_bytes": Case(
        "single_conf", "long--" + "n" * 200 + ".conf", b"[c]\n", r"long|name|bytes"
    ),
    "empty_from_feeder": Case(
        "single_conf", "feederempty--inputs.conf", b"", r"empty", feeder="host-7"
    ),
}
AT_LIMIT = Case("single_conf", "limit--server.conf", b"#" * MAX_BYTES, "")


@dataclass
class Scanned:
    ws: Workspace
    result: subprocess.CompletedProcess[str]
    events: list[dict[str, Any]]
    runs: dict[int, dict[str, Any]]
    dropped: dict[str, Path]


def _prefix(key: str) -> str:
    name = CASES[key].name if key in CASES else AT_LIMIT.name
    text = os.fsdecode(name) if isinstance(name, bytes) else name
    return text.split("--")[0] + "--"


@pytest.fixture(scope="module")
def scanned(migrated_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    ws = workspace_factory(migrated_db, tmp_path_factory)(inbox=f"max_file_bytes = {MAX_BYTES}")
    dropped = {
        key: ws.drop(case.upload_type, case.name, case.data, case.feeder)
        for key, case in {**CASES, "at_limit": AT_LIMIT}.items()
    }
    result, events = ws.scan()
    runs = {r["id"]: r for r in ws.runs()}
    return Scanned(ws, result, events, runs, dropped)


def _run(scanned: Scanned, key: str) -> dict[str, Any]:
    created = [
        e
        for e in named(scanned.events, "run.created")
        if e["origin"].rsplit("/", 1)[-1].startswith(_prefix(key))
    ]
    assert len(created) == 1, f"expected one run.created for {key}, got {created}"
    return scanned.runs[created[0]["run_id"]]


def _check_failed_and_quarantined(scanned: Scanned, key: str) -> None:
    case = CASES[key]
    ws = scanned.ws
    run = _run(scanned, key)
    run_id = run["id"]

    assert run["status"] == "failed", run
    assert run["files"] == []
    assert run["type"] == case.upload_type
    assert run["label"] == (case.feeder or None)
    failed_events = [e for e in named(scanned.events, "run.failed") if e["run_id"] == run_id]
    assert len(failed_events) == 1, scanned.events
    reason = failed_events[0]["reason"]
    assert re.search(case.reason, reason, re.IGNORECASE), reason
    assert reason in run["notes"], run["notes"]

    # The drop left the inbox and .processing ...
    assert not os.path.lexists(scanned.dropped[key])
    assert not [p for p in ws.processing.rglob("*") if p.is_file()]
    # ... for failed_path/<type>/[<feeder>/]<run_id>-<name>, content intact.
    folder = (
        ws.failed / case.upload_type / case.feeder if case.feeder else ws.failed / case.upload_type
    )
    moved = [
        p
        for p in folder.iterdir()
        if p.name.startswith(f"{run_id}-") and not p.name.endswith(".error.json")
    ]
    assert len(moved) == 1, sorted(p.name for p in folder.iterdir())
    assert moved[0].read_bytes() == case.data
    if isinstance(case.name, str) and "\n" not in case.name and len(case.name) <= 200:
        assert moved[0].name == f"{run_id}-{case.name}"
        assert str(scanned.dropped[key]) in run["notes"], "notes must name the inbox path"

    error_json = moved[0].with_name(moved[0].name + ".error.json")
    assert error_json.is_file(), sorted(p.name for p in folder.iterdir())
    report = json.loads(error_json.read_text(encoding="utf-8"))
    assert report["run_id"] == run_id
    assert report["reason"] == reason
    when = datetime.fromisoformat(report["time"])
    assert when.tzinfo is not None
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=10)
    inbox_folder = (
        ws.inbox / case.upload_type / case.feeder if case.feeder else ws.inbox / case.upload_type
    )
    assert report["origin"].startswith(f"{inbox_folder}/"), report
    if isinstance(case.name, str) and "\n" not in case.name:
        assert report["origin"] == str(scanned.dropped[key])


def test_empty_file_fails_run_and_moves_to_failed_with_error_json(scanned: Scanned) -> None:
    _check_failed_and_quarantined(scanned, "empty")


@pytest.mark.parametrize("key", ["text_in_ds_etc", "gzip_in_single_conf", "binary_in_single_conf"])
def test_wrong_format_fails_run_with_reason_and_moves_to_failed(scanned: Scanned, key: str) -> None:
    _check_failed_and_quarantined(scanned, key)


def test_file_over_max_file_bytes_fails_run_and_moves_to_failed(scanned: Scanned) -> None:
    _check_failed_and_quarantined(scanned, "over_max_file_bytes")


def test_file_of_exactly_max_file_bytes_is_stored(scanned: Scanned) -> None:
    run = _run(scanned, "at_limit")
    assert run["status"] == "stored", run
    assert run["files"][0]["size_bytes"] == MAX_BYTES
    assert run["files"][0]["sha256"] == sha256(AT_LIMIT.data)


@pytest.mark.parametrize("key", ["name_not_utf8", "name_with_newline", "name_over_200_bytes"])
def test_unrecordable_file_name_fails_run_and_moves_to_failed(scanned: Scanned, key: str) -> None:
    _check_failed_and_quarantined(scanned, key)


def test_failed_drop_from_a_feeder_folder_moves_to_failed_type_feeder_folder(
    scanned: Scanned,
) -> None:
    _check_failed_and_quarantined(scanned, "empty_from_feeder")


def test_scan_with_failed_items_exits_1_and_logs_every_run_with_run_id(scanned: Scanned) -> None:
    assert scanned.result.returncode == 1, scanned.result.stderr
    assert "Traceback" not in scanned.result.stderr
    assert len(named(scanned.events, "run.created")) == len(CASES) + 1
    assert len(named(scanned.events, "run.failed")) == len(CASES)
    assert len(named(scanned.events, "run.stored")) == 1


def test_unreadable_file_fails_run_and_moves_to_failed(
    make_workspace: Any, public_dir: Path
) -> None:
    """Root reads everything, so autodoc runs as nobody and the file is root's, mode 000."""
    ws: Workspace = make_workspace(root=public_dir / "ws")
    secret = ws.drop("single_conf", "secret--inputs.conf", b"[monitor:///x]\n")
    readable = ws.drop("single_conf", "readable--inputs.conf", b"[monitor:///y]\n")
    os.chmod(secret, 0o000)
    if os.geteuid() == 0:
        ws.chown(NOBODY)
        os.chown(secret, 0, 0)
        ws.run_as = NOBODY
    else:
        assert not os.access(secret, os.R_OK)

    result = ws.run("scan")
    events = log_events(result.stdout)

    assert result.returncode == 1, result.stderr
    failed = named(events, "run.failed")
    assert len(failed) == 1, events
    run_id = failed[0]["run_id"]
    assert re.search(r"read|permission", failed[0]["reason"], re.IGNORECASE)
    runs = {r["id"]: r for r in ws.runs()}
    assert runs[run_id]["status"] == "failed"
    assert failed[0]["reason"] in runs[run_id]["notes"]
    assert [r["status"] for r in runs.values()].count("stored") == 1
    assert not secret.exists() and not readable.exists()
    moved = ws.failed / "single_conf" / f"{run_id}-secret--inputs.conf"
    assert moved.exists(), ws.failed_files()
    os.chmod(moved, 0o600)  # we are root (or the owner) again
    assert moved.read_bytes() == b"[monitor:///x]\n"
    report = json.loads(moved.with_name(moved.name + ".error.json").read_text(encoding="utf-8"))
    assert report["run_id"] == run_id
    assert report["origin"] == str(secret)
