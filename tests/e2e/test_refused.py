"""What the daemon must not take: special files and hard links (refused unopened), files outside
a type folder (unroutable), in-progress names (ignored). All stay exactly where they are.

One workspace holds all of them beside one good drop and is scanned once.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace, log_events, named, workspace_factory

IN_PROGRESS = [
    ".inputs.conf.Xa81bc",  # rsync's temporary name
    "inputs.conf.tmp",
    "inputs.conf.part",
    "inputs.conf.partial",
    "inputs.conf.filepart",
    "inputs.conf~",
]


@dataclass
class Scanned:
    ws: Workspace
    result: subprocess.CompletedProcess[str]
    events: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    status: dict[str, Any]
    status_text: str
    refused: dict[str, Path] = field(default_factory=dict)  # kind -> path in the inbox
    unroutable: list[Path] = field(default_factory=list)
    in_progress: list[Path] = field(default_factory=list)
    before: dict[Path, tuple[int, int, int, int]] = field(default_factory=dict)
    outside: Path | None = None  # the symlink target and the other hard link
    notes: list[str] = field(default_factory=list)


def _fingerprint(path: Path) -> tuple[int, int, int, int]:
    st = os.lstat(path)
    return (st.st_ino, st.st_mode, st.st_nlink, st.st_mtime_ns)


@pytest.fixture(scope="module")
def scanned(migrated_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    ws = workspace_factory(migrated_db, tmp_path_factory)()
    folder = ws.inbox / "single_conf"
    outside = ws.root / "outside.conf"
    outside.write_bytes(b"[monitor:///etc]\n")
    refused: dict[str, Path] = {}
    notes: list[str] = []

    refused["symlink"] = folder / "link.conf"
    refused["symlink"].symlink_to(outside)
    refused["fifo"] = folder / "pipe.conf"
    os.mkfifo(refused["fifo"])
    refused["socket"] = folder / "sock.conf"
    cwd = os.getcwd()
    os.chdir(folder)  # AF_UNIX paths are limited to 108 bytes; bind a relative one
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("sock.conf")
    finally:
        os.chdir(cwd)
    try:
        # /dev/zero's numbers: were it opened, it would read zeros forever.
        os.mknod(folder / "zero.conf", stat.S_IFCHR | 0o644, os.makedev(1, 5))
        refused["char device"] = folder / "zero.conf"
    except PermissionError:
        notes.append("character device not creatable here (no CAP_MKNOD)")
    refused["hard link"] = folder / "linked.conf"
    os.link(outside, refused["hard link"])

    unroutable = [ws.inbox / "in-root.conf", ws.inbox / "bogus" / "x.conf"]
    unroutable.append(ws.inbox / "bogus" / "feeder" / "y.conf")
    for path in unroutable:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"[default]\n")
    in_progress = [folder / name for name in IN_PROGRESS]
    in_progress.append(ws.inbox / "app_bundle" / "host-1" / "app.tgz.part")
    for path in in_progress:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"[default]\n")
    ws.drop("single_conf", "good.conf", b"[good]\n")

    everything = [*refused.values(), *unroutable, *in_progress, outside]
    before = {p: _fingerprint(p) for p in everything}
    result = ws.run("scan")
    events = log_events(result.stdout)
    status_json, status_text = ws.run_many(["status", "--json"], ["status"])
    assert status_json.returncode == 0, status_json.stderr
    assert status_text.returncode == 0, status_text.stderr
    return Scanned(
        ws,
        result,
        events,
        ws.runs(),
        json.loads(status_json.stdout),
        status_text.stdout,
        refused,
        unroutable,
        in_progress,
        before,
        outside,
        notes,
    )


def _rel(scanned: Scanned, path: Path) -> str:
    return str(path.relative_to(scanned.ws.inbox))


def test_scan_finishes_and_takes_only_the_regular_file(scanned: Scanned) -> None:
    """A FIFO opened for reading would hang the scan (the subprocess would time out)."""
    assert scanned.result.returncode == 0, scanned.result.stderr
    assert [r["files"][0]["path"] for r in scanned.runs] == ["good.conf"]
    assert len(named(scanned.events, "run.created")) == 1


@pytest.mark.parametrize("kind", ["symlink", "fifo", "socket", "char device", "hard link"])
def test_special_file_is_refused_left_in_place_warned_once_and_listed_by_status(
    scanned: Scanned, kind: str
) -> None:
    if kind not in scanned.refused:
        pytest.skip("; ".join(scanned.notes))
    path = scanned.refused[kind]
    assert _fingerprint(path) == scanned.before[path], "a refused file must stay as it was"
    rel = _rel(scanned, path)
    warnings = [e for e in named(scanned.events, "inbox.refused") if e.get("path") == rel]
    assert len(warnings) == 1, named(scanned.events, "inbox.refused")
    assert warnings[0].get("reason")
    assert rel in [item["path"] for item in scanned.status["refused"]], scanned.status
    assert rel in scanned.status_text


def test_symlink_target_and_other_hard_link_outside_inbox_are_untouched(scanned: Scanned) -> None:
    assert scanned.outside is not None
    assert scanned.outside.read_bytes() == b"[monitor:///etc]\n"
    assert _fingerprint(scanned.outside) == scanned.before[scanned.outside]
    (blob,) = scanned.ws.blob_files()  # good.conf's, and nothing reached through a link
    assert blob.read_bytes() == b"[good]\n"
    assert not scanned.ws.failed_files()


def test_unroutable_files_are_left_untouched_warned_once_and_listed_by_status(
    scanned: Scanned,
) -> None:
    listed = [item["path"] for item in scanned.status["unroutable"]]
    for path in scanned.unroutable:
        rel = _rel(scanned, path)
        assert path.read_bytes() == b"[default]\n"
        assert _fingerprint(path) == scanned.before[path]
        warnings = [e for e in named(scanned.events, "inbox.unroutable") if e.get("path") == rel]
        assert len(warnings) == 1, (rel, named(scanned.events, "inbox.unroutable"))
        assert rel in listed, scanned.status
        assert rel in scanned.status_text


def test_in_progress_names_are_left_alone_without_warning(scanned: Scanned) -> None:
    for path in scanned.in_progress:
        assert _fingerprint(path) == scanned.before[path], path
        rel = _rel(scanned, path)
        assert not [e for e in scanned.events if rel in json.dumps(e)], rel
        assert rel not in scanned.status_text
        assert rel not in [i["path"] for i in scanned.status["unroutable"]]
