"""The command line: --help everywhere, config selection and errors, exit codes, `runs list`
and `runs show` output, `ingest`, and the `db` commands."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon.database import SCHEMA_REVISION
from tests.e2e.conftest import (
    FILE_FIELDS,
    RUN_FIELDS,
    TIMEOUT,
    Workspace,
    log_events,
    named,
    one_line_error,
    sha256,
)

COMMANDS = [
    [],
    ["run"],
    ["scan"],
    ["ingest"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
    ["db", "history"],
    ["db", "check"],
    ["runs"],
    ["runs", "list"],
    ["runs", "show"],
    ["status"],
    ["resolve"],
    ["hosts"],
    ["host"],
    ["btool"],
]


def test_help_works_on_every_command(workspace: Workspace) -> None:
    results = workspace.run_batch(*[[*command, "--help"] for command in COMMANDS])
    for command, result in zip(COMMANDS, results, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("usage: autodoc"), (command, result.stdout)
        assert " ".join(["autodoc", *command]) in result.stdout.splitlines()[0], command
        assert "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_traceback(workspace: Workspace) -> None:
    commands = [
        [],
        ["frobnicate"],
        ["ingest", "x.conf"],  # --type is required
        ["ingest", "x.conf", "--type", "no_such_type"],
        ["runs", "list", "--limit", "-1"],
        ["runs", "show", "99999999999999999999"],  # past any id column: no driver traceback
        ["runs", "list", "--status", "no_such_status"],
        ["runs", "show", "not-a-number"],
        ["scan", "--no-wait", "--max-wait", "5"],  # one or the other
        ["scan", "--max-wait", "-1"],
        ["db"],
    ]
    for command, result in zip(commands, workspace.run_batch(*commands), strict=True):
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert "usage:" in result.stderr, (command, result.stderr)


def test_config_option_wins_over_environment_before_and_after_the_command(
    make_workspace: Callable[..., Workspace],
) -> None:
    """`autodoc [--config PATH] COMMAND` is the documented form; AUTODOC_CONFIG points
    elsewhere, so a --config that is silently dropped shows up as the other inbox."""
    chosen = make_workspace()
    other = make_workspace()
    forms = [
        ["--config", str(chosen.config), "status", "--json"],
        ["status", "--json", "--config", str(chosen.config)],
    ]
    for form, result in zip(forms, other.run_many(*forms), strict=True):
        assert result.returncode == 0, (form, result.stderr)
        assert json.loads(result.stdout)["inbox"] == str(chosen.inbox), form

    missing = str(chosen.root / "missing.toml")
    result = other.run("--config", missing, "status")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert missing in one_line_error(result)


INVALID_CONFIGS = {
    # id: (command, config text or None for a missing file, words the one line must contain)
    "missing_file": (["status"], None, ["does not exist"]),
    "bad_toml": (["scan"], "[inbox\npath = 'x'\n", ["toml"]),
    "unknown_storage_backend": (
        ["runs", "list"],
        '[storage]\nbackend = "ftp"\n',
        ["storage.backend", "ftp"],
    ),
    "unknown_database_backend": (
        ["ingest", "x.conf", "--type", "single_conf"],
        '[database]\nurl = "mysql://root@localhost/autodoc"\n',
        ["database.url", "mysql"],
    ),
    "negative_number": (["run"], "[inbox]\nmax_file_bytes = -5\n", ["inbox.max_file_bytes", "-5"]),
    "negative_seconds": (["db", "current"], "[inbox]\nsettle_seconds = -1.5\n", ["settle_seconds"]),
    "unknown_key": (["status"], '[inbox]\ncolour = "red"\n', ["inbox.colour", "unknown"]),
    "wrong_type": (["scan"], '[daemon]\nworkers = "two"\n', ["daemon.workers"]),
}


@pytest.fixture(scope="module")
def invalid_config_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every invalid config, each through its own command, in one batch."""
    root = tmp_path_factory.mktemp("invalid-configs")
    configs = {}
    for case, (_command, text, _words) in INVALID_CONFIGS.items():
        (root / case).mkdir()
        configs[case] = root / case / "config.toml"
        if text is not None:
            configs[case].write_text(text, encoding="utf-8")
    ws = Workspace(root, root / "unused.toml")
    results = ws.run_batch(
        *[
            [*command, "--config", str(configs[case])]
            for case, (command, *_) in INVALID_CONFIGS.items()
        ]
    )
    return {
        case: (configs[case], result) for case, result in zip(INVALID_CONFIGS, results, strict=True)
    }


@pytest.mark.parametrize("case", list(INVALID_CONFIGS))
def test_invalid_config_exits_2_with_one_line_naming_file_key_and_problem(
    invalid_config_results: dict[str, tuple[Path, subprocess.CompletedProcess[str]]], case: str
) -> None:
    config, result = invalid_config_results[case]
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line_error(result)
    assert str(config) in line
    for word in INVALID_CONFIGS[case][2]:
        assert word.lower() in line.lower(), line
    assert not (config.parent / "var").exists(), "nothing may be created from an invalid config"


def _tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def test_runs_list_json_is_newest_first_with_documented_fields_and_filters(
    workspace: Workspace,
) -> None:
    ws = workspace
    app = _tgz({"myapp/default/app.conf": b"[launcher]\nversion = 1.0\n"})
    ws.drop("single_conf", "inputs.conf", b"[monitor:///var/log]\n")
    ws.drop("single_conf", "empty.conf", b"")
    assert ws.run("scan").returncode == 1
    ws.drop("app_bundle", "myapp.tgz", app, feeder="sh-01")
    ws.drop("instance_etc", "idx.tar", b"not a tar")
    assert ws.run("scan").returncode == 1

    every, failed, apps, newest, table = ws.run_many(
        ["runs", "list", "--json"],
        ["runs", "list", "--json", "--status", "failed"],
        ["runs", "list", "--json", "--type", "app_bundle"],
        ["runs", "list", "--json", "--limit", "1"],
        ["runs", "list"],
    )
    for result in (every, failed, apps, newest, table):
        assert result.returncode == 0, result.stderr
    runs = json.loads(every.stdout)
    assert isinstance(runs, list) and len(runs) == 4
    for run in runs:
        assert set(run) == RUN_FIELDS, run
        for file in run["files"]:
            assert set(file) == FILE_FIELDS, file
    stamps = [run["created_at"] for run in runs]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    second_scan = {"app_bundle", "instance_etc"}
    assert {r["type"] for r in runs[:2]} == second_scan, [r["type"] for r in runs]

    app_run = next(r for r in runs if r["type"] == "app_bundle")
    assert app_run["status"] == "stored"
    assert app_run["label"] == "sh-01"
    assert app_run["files"] == [
        {
            "path": "myapp.tgz",
            "sha256": sha256(app),
            "size_bytes": len(app),
            "stored_object_key": f"sha256/{sha256(app)[:2]}/{sha256(app)[2:4]}/{sha256(app)}",
        }
    ]
    assert json.loads(failed.stdout) == [r for r in runs if r["status"] == "failed"]
    assert len(json.loads(failed.stdout)) == 2
    assert json.loads(apps.stdout) == [app_run]
    assert json.loads(newest.stdout) == runs[:1]
    for run in runs:
        assert re.search(rf"^{run['id']}\s", table.stdout, re.MULTILINE), table.stdout


def test_runs_show_json_matches_the_runs_list_entry_and_unknown_id_is_one_line_error(
    workspace: Workspace,
) -> None:
    ws = workspace
    ws.drop("single_conf", "props.conf", b"[syslog]\nTRANSFORMS = x\n", feeder="hf-2")
    scan = ws.run("scan")
    assert scan.returncode == 0, scan.stderr
    run_id = str(named(log_events(scan.stdout), "run.stored")[0]["run_id"])

    listed, shown, text, unknown = ws.run_many(
        ["runs", "list", "--json"],
        ["runs", "show", run_id, "--json"],
        ["runs", "show", run_id],
        ["runs", "show", "999999"],
    )

    (run,) = json.loads(listed.stdout)
    assert shown.returncode == 0, shown.stderr
    shown_run = json.loads(shown.stdout)
    counts = shown_run.pop("counts")
    assert shown_run == run
    assert counts == {  # stored, not parsed (scan does not parse)
        name: 0
        for name in ("conf_files", "stanzas", "inputs", "props", "transforms", "indexes",
                     "outputs", "serverclasses", "inventory_rows", "findings")
    }  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert run["files"][0]["sha256"] in text.stdout
    assert "hf-2" in text.stdout
    assert unknown.returncode in (1, 2), (unknown.stdout, unknown.stderr)
    assert "999999" in one_line_error(unknown)


def test_ingest_copies_the_file_and_never_moves_or_changes_it(workspace: Workspace) -> None:
    ws = workspace
    user_file = ws.root / "home" / "outputs.conf"
    user_file.parent.mkdir()
    data = b"[tcpout:primary]\nserver = idx1:9997, idx2:9997\n"
    user_file.write_bytes(data)
    os.utime(user_file, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = os.stat(user_file)

    result = ws.run("ingest", str(user_file), "--type", "single_conf", "--label", "uf-9")

    assert result.returncode == 0, result.stderr
    events = log_events(result.stdout)
    stored = named(events, "run.stored")
    assert len(stored) == 1, events
    after = os.stat(user_file)
    assert user_file.read_bytes() == data
    assert (after.st_ino, after.st_mtime_ns, after.st_mode, after.st_nlink) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_mode,
        1,
    ), "the user's file must not be moved, changed or hard-linked into the store"
    (run,) = ws.runs()
    assert run["id"] == stored[0]["run_id"]
    assert (run["type"], run["label"], run["status"]) == ("single_conf", "uf-9", "stored")
    assert run["files"][0]["sha256"] == sha256(data)
    blob = ws.blobs / run["files"][0]["stored_object_key"]
    assert blob.read_bytes() == data
    assert not os.path.samefile(blob, user_file)


def test_ingest_of_a_bad_file_fails_the_run_with_exit_1_and_leaves_the_file_alone(
    workspace: Workspace,
) -> None:
    ws = workspace
    user_file = ws.root / "bundle.tgz"
    data = b"this is not an archive\n"
    user_file.write_bytes(data)

    bad, missing = ws.run_many(
        ["ingest", str(user_file), "--type", "app_bundle"],
        ["ingest", str(ws.root / "nope.tgz"), "--type", "app_bundle"],
    )

    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    one_line_error(bad)
    assert user_file.read_bytes() == data
    assert missing.returncode == 2, (missing.stdout, missing.stderr)
    assert "nope.tgz" in one_line_error(missing)
    (run,) = ws.runs()
    assert run["status"] == "failed"
    assert str(user_file) in run["notes"]
    assert named(log_events(bad.stdout), "run.failed")[0]["run_id"] == run["id"]


def test_db_commands_upgrade_check_downgrade_round_trip(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace(migrated=False)

    upgrade = ws.run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert SCHEMA_REVISION in upgrade.stdout

    current, check, history = ws.run_many(["db", "current"], ["db", "check"], ["db", "history"])
    assert current.returncode == 0 and SCHEMA_REVISION in current.stdout, current.stdout
    assert check.returncode == 0, check.stdout
    assert "FAIL" not in check.stdout
    assert history.returncode == 0 and "001" in history.stdout, history.stdout
    assert SCHEMA_REVISION in history.stdout

    downgrade = ws.run("db", "downgrade", "base")
    assert downgrade.returncode == 0, downgrade.stderr
    current, check = ws.run_many(["db", "current"], ["db", "check"])
    assert current.returncode == 0, current.stderr
    assert "001" not in current.stdout
    assert check.returncode == 1, check.stdout


def _set_settle_seconds(ws: Workspace, seconds: float) -> None:
    text = ws.config.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^settle_seconds = .*$", f"settle_seconds = {seconds}", text)
    assert count == 1, text
    ws.config.write_text(text, encoding="utf-8")


def test_scan_waits_for_a_file_just_copied_in_and_no_wait_leaves_it(workspace: Workspace) -> None:
    ws = workspace
    data = _tgz({"etc/system/local/inputs.conf": b"[monitor:///var/log]\nindex = main\n"})
    copied = ws.inbox / "ds_etc" / "bundle.tgz"
    copied.write_bytes(data)  # what `cp` does: written in place, closed, a fresh mtime
    # Longer than the scan's start-up can take: --no-wait must find it unsettled.
    _set_settle_seconds(ws, 30)

    left = ws.run("scan", "--no-wait")

    assert left.returncode == 0, left.stderr
    assert not named(log_events(left.stdout), "run.created"), left.stdout
    assert copied.read_bytes() == data
    assert "stored 0, failed 0, deferred 0, waiting 1 (not settled yet)" in left.stderr

    _set_settle_seconds(ws, 3)
    os.utime(copied)  # copied again, just now: the scan has to wait for it

    scan = ws.run("scan")

    assert scan.returncode == 0, scan.stderr
    (stored,) = named(log_events(scan.stdout), "run.stored")
    assert stored["sha256"] == sha256(data)
    assert not copied.exists()
    assert "stored 1, failed 0, deferred 0, still settling 0" in scan.stderr

    (usage,) = ws.run_batch(["scan", "--help"])
    assert "--no-wait" in usage.stdout and "--max-wait" in usage.stdout, usage.stdout


def test_scan_gives_up_on_files_still_being_written_names_them_and_exits_0(
    workspace: Workspace,
) -> None:
    ws = workspace
    _set_settle_seconds(ws, 1)
    growing_data = _tgz({"etc/system/local/inputs.conf": os.urandom(16 << 10)})
    held_data = _tgz({"held/default/app.conf": b"[ui]\n"})
    growing = ws.inbox / "ds_etc" / "growing.tgz"
    held = ws.inbox / "app_bundle" / "held.tgz"
    done = threading.Event()

    with open(held, "wb") as held_out, open(growing, "wb") as growing_out:
        # Written long ago but still open for writing: only the lease check can tell.
        held_out.write(held_data)
        held_out.flush()
        os.utime(held, (1_600_000_000, 1_600_000_000))

        def write_slowly() -> None:
            # A byte at a time while the scan runs (a copy over a slow link), then the rest.
            written = 0
            while not done.wait(0.05) and written < len(growing_data) // 2:
                growing_out.write(growing_data[written : written + 1])
                growing_out.flush()
                written += 1
            growing_out.write(growing_data[written:])

        writer = threading.Thread(target=write_slowly)
        writer.start()
        try:
            start = time.monotonic()
            gave_up = ws.run("scan", "--max-wait", "2")
            took = time.monotonic() - start
        finally:
            done.set()
            writer.join(TIMEOUT)

    assert gave_up.returncode == 0, gave_up.stderr
    assert not named(log_events(gave_up.stdout), "run.created"), gave_up.stdout
    assert took >= 2, f"gave up after {took:.1f} s with --max-wait 2"
    assert "stored 0, failed 0, deferred 0, still settling 2" in gave_up.stderr
    for path in ("ds_etc/growing.tgz", "app_bundle/held.tgz"):
        assert f"autodoc: {path}: still settling after 2 s" in gave_up.stderr, gave_up.stderr
    assert (growing.read_bytes(), held.read_bytes()) == (growing_data, held_data)

    # Both closed now: the next scan takes them (the grown file after settle_seconds).
    scan = ws.run("scan")
    assert scan.returncode == 0, scan.stderr
    stored = named(log_events(scan.stdout), "run.stored")
    assert sorted(e["sha256"] for e in stored) == sorted(map(sha256, (growing_data, held_data)))
    assert "still settling 0" in scan.stderr
