"""Happy paths through `autodoc scan`: a real tarball, labels from feeder folders, and identical
content stored once while every drop still gets its own run."""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace, log_events, named, sha256

CORPUS_ETC = Path("/work/shared/corpus/ds_etc/dcom/etc")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_corpus_tarball_in_feeder_folder_is_stored_with_matching_sha256_and_feeder_label(
    workspace: Workspace,
) -> None:
    if not CORPUS_ETC.is_dir():
        pytest.skip(f"corpus not found at {CORPUS_ETC}")
    ws = workspace
    staging = ws.root / "dcom-etc.tar.gz"
    with tarfile.open(staging, "w:gz") as tar:
        tar.add(CORPUS_ETC, arcname="etc")
    expected = _file_sha256(staging)
    size = staging.stat().st_size
    members = sorted(
        str(Path("etc") / p.relative_to(CORPUS_ETC)) for p in CORPUS_ETC.rglob("*") if p.is_file()
    )
    target = ws.inbox / "ds_etc" / "dcom" / "dcom-etc.tar.gz"
    target.parent.mkdir()
    os.rename(staging, target)  # published atomically, like rsync or mv

    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    events = log_events(result.stdout)
    (stored,) = named(events, "run.stored")
    (run,) = ws.runs()
    assert run["id"] == stored["run_id"]
    assert (run["type"], run["label"], run["status"]) == ("ds_etc", "dcom", "stored")
    (file,) = run["files"]
    assert file["sha256"] == expected
    assert file["size_bytes"] == size
    assert file["path"] == "dcom-etc.tar.gz"
    assert file["stored_object_key"] == f"sha256/{expected[:2]}/{expected[2:4]}/{expected}"
    blob = ws.blobs / file["stored_object_key"]
    assert _file_sha256(blob) == expected
    with tarfile.open(blob) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == members
    assert not target.exists()
    assert not [p for p in ws.processing.rglob("*") if p.is_file()]


def test_identical_content_dropped_twice_gives_two_runs_one_blob_and_second_notes_name_first(
    workspace: Workspace,
) -> None:
    ws = workspace
    data = b"[default]\nhost = splunk-uf-01\n"
    ws.drop("single_conf", "inputs.conf", data, feeder="uf-01")
    first_scan = ws.run("scan")
    assert first_scan.returncode == 0, first_scan.stderr
    ws.drop("single_conf", "inputs.conf", data, feeder="uf-01")
    second_scan = ws.run("scan")
    assert second_scan.returncode == 0, second_scan.stderr

    second, first = ws.runs()
    assert first["id"] < second["id"]
    assert first["status"] == second["status"] == "stored"
    assert first["files"][0]["sha256"] == second["files"][0]["sha256"] == sha256(data)
    assert first["files"][0]["stored_object_key"] == second["files"][0]["stored_object_key"]
    assert len(ws.blob_files()) == 1
    assert re.search(rf"\brun {first['id']}\b", second["notes"]), second["notes"]
    assert not re.search(rf"\brun {second['id']}\b", first["notes"]), first["notes"]
    (event,) = named(log_events(second_scan.stdout), "run.stored")
    assert event["deduplicated"] is True


def test_identical_content_dropped_together_every_later_run_names_an_earlier_one(
    make_workspace: Callable[..., Workspace],
) -> None:
    """Several workers store the same content at the same moment; the notes must still say
    it is shared (the check for an earlier run must not race the other worker's commit)."""
    ws = make_workspace(extra="[daemon]\nworkers = 8\n")
    data = b"[tcpout]\ndefaultGroup = primary\n"
    for n in range(8):
        ws.drop("single_conf", f"outputs-{n}.conf", data, feeder=f"uf-{n}")

    result = ws.run("scan")

    assert result.returncode == 0, result.stderr
    runs = sorted(ws.runs(), key=lambda r: r["id"])
    assert len(runs) == 8
    assert {r["status"] for r in runs} == {"stored"}
    assert len(ws.blob_files()) == 1
    ids = {r["id"] for r in runs}
    naming = {
        r["id"]: {int(n) for n in re.findall(r"\brun (\d+)", r["notes"])} & (ids - {r["id"]})
        for r in runs
    }
    unnamed = [run_id for run_id, named_ids in naming.items() if not named_ids]
    assert len(unnamed) == 1, f"runs whose notes name no other run with this content: {naming}"
