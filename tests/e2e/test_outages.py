"""Database or blob store unreachable: one-shot commands exit 3 with a one-line reason, the
dropped or claimed file stays recoverable, and a later scan with the service back stores it."""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    NOBODY,
    Workspace,
    free_tcp_port,
    log_events,
    named,
    one_line_error,
    sha256,
    write_workspace_config,
)


def _copies_of(ws: Workspace, data: bytes) -> list[Path]:
    """Where the dropped bytes are now: still in the inbox or claimed in .processing."""
    return [p for p in ws.inbox.rglob("*") if p.is_file() and p.read_bytes() == data]


@pytest.mark.postgres
def test_database_unreachable_scan_exits_3_keeps_file_and_later_scan_stores_it(
    make_workspace: Callable[..., Workspace], pg_url: str
) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_tcp_port()}/autodoc"
    ws = make_workspace(database_url=closed)
    data = b"[monitor:///var/log/secure]\nindex = os\n"
    ws.drop("single_conf", "inputs.conf", data, feeder="web-01")

    result = ws.run("scan")

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "database" in one_line_error(result).lower()
    assert len(_copies_of(ws, data)) == 1, "the drop must stay in the inbox or .processing"
    assert not ws.failed_files()

    write_workspace_config(ws.root, database_url=pg_url)  # the database is back
    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    runs = ws.runs()
    assert len(runs) == 1, runs
    assert runs[0]["status"] == "stored"
    assert runs[0]["label"] == "web-01"
    assert runs[0]["files"][0]["sha256"] == sha256(data)
    assert (ws.blobs / runs[0]["files"][0]["stored_object_key"]).read_bytes() == data
    assert _copies_of(ws, data) == []


def test_database_unreachable_one_shot_commands_exit_3_with_one_line_reason(
    make_workspace: Callable[..., Workspace],
) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_tcp_port()}/autodoc"
    ws = make_workspace(database_url=closed)
    user_file = ws.root / "server.conf"
    user_file.write_bytes(b"[general]\nserverName = a\n")
    commands = [
        ["runs", "list"],
        ["runs", "list", "--json"],
        ["runs", "show", "1"],
        ["db", "current"],
        ["ingest", str(user_file), "--type", "single_conf"],
    ]
    *results, status = ws.run_many(*commands, ["status"])

    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert "database" in one_line_error(result).lower(), command
    assert status.returncode == 3, status.stdout
    assert "Traceback" not in status.stderr
    assert "unavailable" in status.stdout or "unreachable" in status.stdout, status.stdout
    assert user_file.read_bytes() == b"[general]\nserverName = a\n"


def test_sqlite_database_in_uncreatable_folder_exits_3_with_one_line_reason(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace(migrated=False, database_url="sqlite:///blocker/sub/autodoc.db")
    (ws.root / "blocker").write_text("a file where the database folder should be\n")
    data = b"[x]\n"
    ws.drop("single_conf", "x.conf", data)

    result = ws.run("scan")

    assert result.returncode == 3, (result.stdout, result.stderr)
    one_line_error(result)
    assert len(_copies_of(ws, data)) == 1


def test_storage_unreachable_scan_exits_3_keeps_file_and_later_scan_stores_it(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    ws.blobs.parent.mkdir(parents=True, exist_ok=True)
    ws.blobs.write_text("a file where the blob store folder should be\n")
    data = b"[tcpout]\ndefaultGroup = idx\n"
    ws.drop("single_conf", "outputs.conf", data)

    result = ws.run("scan")

    assert result.returncode == 3, (result.stdout, result.stderr)
    one_line_error(result)
    assert len(_copies_of(ws, data)) == 1
    assert not ws.failed_files()

    ws.blobs.unlink()  # the store is back
    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    runs = ws.runs()
    assert [r["status"] for r in runs] == ["stored"]
    assert (ws.blobs / runs[0]["files"][0]["stored_object_key"]).read_bytes() == data


def test_storage_failing_after_claim_leaves_file_in_processing_and_next_scan_stores_same_run(
    make_workspace: Callable[..., Workspace], public_dir: Path
) -> None:
    """The blob store answers the start-up check but refuses the write of the blob itself."""
    ws = make_workspace(root=public_dir / "ws")
    data = b"[monitor:///opt/app/logs]\nsourcetype = app\n"
    ws.drop("single_conf", "inputs.conf", data)
    (ws.blobs / "sha256").mkdir(parents=True)
    if os.geteuid() == 0:
        ws.chown(NOBODY)
        os.chown(ws.blobs / "sha256", 0, 0)  # root's: nobody cannot write there
        ws.run_as = NOBODY
    os.chmod(ws.blobs / "sha256", 0o555)

    result = ws.run("scan")
    events = log_events(result.stdout)

    assert result.returncode == 3, (result.stdout, result.stderr)
    one_line_error(result)
    created = named(events, "run.created")
    assert len(created) == 1, events
    run_id = created[0]["run_id"]
    claimed = [p for p in ws.processing.rglob("*") if p.is_file()]
    assert len(claimed) == 1 and claimed[0].read_bytes() == data, claimed
    assert [(r["id"], r["status"]) for r in ws.runs()] == [(run_id, "pending")]

    os.chmod(ws.blobs / "sha256", 0o755)
    if os.geteuid() == 0:
        os.chown(ws.blobs / "sha256", NOBODY, NOBODY)
    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    runs = ws.runs()
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "stored")]
    assert (ws.blobs / runs[0]["files"][0]["stored_object_key"]).read_bytes() == data
    assert not [p for p in ws.processing.rglob("*") if p.is_file()]


def test_file_left_in_processing_by_a_crash_is_stored_by_the_next_scan(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    plain = ws.processing / "single_conf" / "0123456789abcdef.props.conf"
    fed = ws.processing / "app_bundle" / "idx-3" / "fedcba9876543210.app.tgz"
    for path in (plain, fed):
        path.parent.mkdir(parents=True, exist_ok=True)
    plain.write_bytes(b"[source::/var/log/x]\nTRUNCATE = 0\n")
    shutil.copyfile(Path(__file__).parent / "conftest.py", ws.root / "c.py")
    with tarfile.open(fed, "w:gz") as tar:
        tar.add(ws.root / "c.py", arcname="app/bin/c.py")

    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    runs = {r["type"]: r for r in ws.runs()}
    assert runs["single_conf"]["status"] == "stored"
    assert runs["single_conf"]["label"] is None
    assert runs["single_conf"]["files"][0]["path"] == "props.conf"  # the archive filename
    assert runs["app_bundle"]["status"] == "stored"
    assert runs["app_bundle"]["label"] == "idx-3"
    assert not [p for p in ws.processing.rglob("*") if p.is_file()]
