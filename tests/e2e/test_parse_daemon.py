"""Parsing end to end: `autodoc run` with parse workers takes a dropped bundle to `complete`,
`autodoc stanzas` and `runs show` report what it parsed, a daemon killed in the middle of a
parse finishes it after a restart, `autodoc parse` parses what `scan` stored, and two daemons
sharing one PostgreSQL parse every run exactly once.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import re
import signal
import tarfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import service_missing
from tests.e2e.conftest import TIMEOUT, Workspace, one_line_error, wait_for
from tests.e2e.test_crash_recovery import DaemonProcess, configure, running, tarball

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus" / "ds_etc" / "dcom"
SERVER_CLASSES = ("SearchHead", "Indexer", "Forwarder", "DCN")
# Once the daemon is up, a parse of the corpus takes a fraction of a second.
PARSED_WITHIN = 15.0


def corpus_tarball() -> bytes:
    """The shared corpus's deployment server etc/ tree as a tar.gz (`tar -czf x.tgz etc`)."""
    if not (CORPUS / "etc").is_dir():
        service_missing(f"the sample corpus is not at {CORPUS}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(CORPUS / "etc", arcname="etc")
    return buffer.getvalue()


def corpus_whitelists() -> dict[str, str]:
    """whitelist.0 of each top-level server class, as written in the corpus file."""
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(CORPUS / "etc" / "system" / "local" / "serverclass.conf", encoding="utf-8")
    return {
        name: parser[name]["whitelist.0"]
        for name in parser.sections()
        if re.fullmatch(r"serverClass:[^:]+", name)
    }


@pytest.fixture(scope="module")
def corpus() -> bytes:
    return corpus_tarball()


@pytest.fixture(scope="module")
def reference_counts(corpus: bytes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """What a clean, uninterrupted parse of the corpus bundle writes (in-process, SQLite)."""
    from daemon import migrate
    from daemon.config import Config
    from daemon.database import Database, FileRecord
    from daemon.models import RunStatus, UploadType
    from daemon.parsing import RunParser
    from daemon.storage.local import LocalBlobStore

    folder = tmp_path_factory.mktemp("reference")
    db = Database(f"sqlite:///{folder / 'reference.db'}")
    try:
        migrate.upgrade(db.engine)
        store = LocalBlobStore(folder / "blobs")
        blob = store.put(io.BytesIO(corpus))
        run_id = db.create_run(UploadType.DS_ETC, None, "reference")
        record = FileRecord("dcom-etc.tgz", blob.sha256, blob.size_bytes, blob.key)
        db.mark_stored(run_id, record, lambda _earlier: "reference")
        outcome = RunParser(Config(source=folder / "config.toml"), db, store).parse_next()
    finally:
        db.dispose()
    assert outcome is not None
    assert outcome.status == RunStatus.COMPLETE, outcome
    return dict(outcome.counts)


def json_of(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_of(ws: Workspace, run_id: int) -> dict[str, Any]:
    [run] = [r for r in ws.runs() if r["id"] == run_id]
    return run


def summary_lines(notes: str | None) -> list[str]:
    return [
        line
        for line in (notes or "").splitlines()
        if line.startswith(("parsed: ", "parse failed: "))
    ]


def completed(daemon: DaemonProcess) -> set[int]:
    return {e["run_id"] for e in daemon.named("run.complete")}


# -- 5. the daemon parses a real bundle; stanzas and runs show report it ---------------------


def test_the_daemon_parses_a_dropped_corpus_bundle_and_stanzas_lists_it(
    make_workspace: Callable[..., Workspace], corpus: bytes, reference_counts: dict[str, int]
) -> None:
    ws = make_workspace(parse="workers = 1")
    with running(ws) as daemon:
        daemon.wait_started()
        ws.drop("ds_etc", "dcom-etc.tgz", corpus, feeder="dcom")
        [stored] = wait_for(lambda: daemon.named("run.stored"), TIMEOUT, "the bundle stored")
        run_id = stored["run_id"]
        wait_for(lambda: run_id in completed(daemon), TIMEOUT, f"run {run_id} complete")
        run = run_of(ws, run_id)
        assert run["status"] == "complete", run
        assert [e["run_id"] for e in daemon.named("run.parsing")] == [run_id]
        daemon.assert_clean_exit()

    lines = run["notes"].splitlines()
    assert lines[0].startswith("stored "), lines
    assert summary_lines(run["notes"]) == lines[1:]
    assert lines[1:] == [
        "parsed: " + ", ".join(f"{n} {name}" for name, n in reference_counts.items())
    ]

    rid = str(run_id)
    (
        classes,
        everything,
        shown,
        shown_text,
        system_text,
        one_app,
        system_layer,
        missing,
    ) = ws.run_many(
        ["stanzas", rid, "--conf", "serverclass", "--json"],
        ["stanzas", rid, "--json"],
        ["runs", "show", rid, "--json"],
        ["runs", "show", rid],
        ["stanzas", rid, "--conf", "serverclass", "--layer", "system"],
        ["stanzas", rid, "--app", "timewrap", "--json"],
        ["stanzas", rid, "--layer", "system", "--json"],
        ["stanzas", "99999"],
    )

    # The four server classes of the corpus, with their whitelists as written.
    classes_rows = json_of(classes)
    assert {r["conf_type"] for r in classes_rows} == {"serverclass"}
    top = {r["name"]: r for r in classes_rows if re.fullmatch(r"serverClass:[^:]+", r["name"])}
    assert sorted(top) == sorted(f"serverClass:{name}" for name in SERVER_CLASSES)
    whitelists = corpus_whitelists()
    assert {name: r["settings"]["whitelist.0"] for name, r in top.items()} == whitelists
    for row in top.values():
        assert (row["layer"], row["app"], row["scope"]) == ("system", None, "local"), row
        assert row["path"] == "etc/system/local/serverclass.conf"

    # runs show counts the rows the listings show.
    all_rows = json_of(everything)
    data = json_of(shown)
    assert data["id"] == run_id
    assert data["status"] == "complete"
    counts = data["counts"]
    assert counts == reference_counts
    assert counts["serverclasses"] == len(classes_rows)
    assert counts["stanzas"] == len(all_rows)
    assert counts["conf_files"] >= len({r["path"] for r in all_rows})
    assert counts["inputs"] == sum(r["conf_type"] == "inputs" for r in all_rows)
    assert counts["props"] == sum(r["conf_type"] == "props" for r in all_rows)
    assert shown_text.returncode == 0, shown_text.stderr
    assert "counts:     " + ", ".join(f"{n} {k}" for k, n in counts.items()) in shown_text.stdout

    # The text listing: a header per file, then the stanzas with their settings.
    assert system_text.returncode == 0, system_text.stderr
    text = system_text.stdout
    assert text.startswith("# etc/system/local/serverclass.conf  (system/local)\n"), text[:200]
    for name in SERVER_CLASSES:
        assert f"[serverClass:{name}]\nwhitelist.0 = {whitelists[f'serverClass:{name}']}\n" in text
    assert text.count("\n[") == len(classes_rows)

    # --app and --layer filter exactly what the full listing holds.
    app_rows = json_of(one_app)
    assert app_rows, "the corpus has a timewrap deployment app"
    assert app_rows == [r for r in all_rows if r["app"] == "timewrap"]
    assert {r["layer"] for r in app_rows} == {"deployment_app"}
    system_rows = json_of(system_layer)
    assert system_rows == [r for r in all_rows if r["layer"] == "system"]
    assert {r["path"].split("/")[1] for r in system_rows} == {"system"}

    assert missing.returncode == 2
    assert one_line_error(missing) == "autodoc: run 99999 does not exist"
    assert missing.stdout == ""


# -- 6. a daemon killed while parsing; the restart finishes the run --------------------------


@pytest.mark.parametrize(
    "step",
    [
        "after_parse_claim",
        "mid_parse",
        "after_normalized",
    ],
)
def test_a_daemon_killed_while_parsing_finishes_the_run_after_a_restart(
    make_workspace: Callable[..., Workspace],
    corpus: bytes,
    reference_counts: dict[str, int],
    step: str,
) -> None:
    ws = make_workspace(parse="workers = 1")
    with running(ws, "crashing", AUTODOC_FAULT=step) as crashing:
        crashing.wait_started()
        ws.drop("ds_etc", "dcom-etc.tgz", corpus)
        code = crashing.proc.wait(timeout=TIMEOUT)
    assert code == -signal.SIGKILL, (code, crashing.stderr())
    [left] = ws.runs()
    run_id = left["id"]
    if step != "after_parse_claim":  # killed before it could say so
        assert [e["run_id"] for e in crashing.named("run.parsing")] == [run_id]
    assert left["status"] == ("normalized" if step == "after_normalized" else "parsing"), left
    assert summary_lines(left["notes"]) == []

    with running(ws, "restarted") as restarted:
        restarted.wait_started()
        wait_for(
            lambda: run_id in completed(restarted),
            PARSED_WITHIN,
            f"run {run_id}, left {left['status']} by the kill at {step}, complete",
        )
        restarted.assert_clean_exit()
    assert [e["run_id"] for e in restarted.named("run.parsing")] == [run_id]

    data = json_of(ws.run("runs", "show", str(run_id), "--json"))
    assert data["status"] == "complete"
    assert data["counts"] == reference_counts  # one set of rows, as a clean parse writes
    assert summary_lines(data["notes"]) == [
        "parsed: " + ", ".join(f"{n} {name}" for name, n in reference_counts.items())
    ]
    assert len(ws.runs()) == 1


# -- 7. autodoc scan, then autodoc parse -----------------------------------------------------


def test_parse_waiting_parses_what_scan_stored_and_a_corrupt_bundle_fails(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    good = tarball("app0")
    ws.drop("ds_etc", "good.tgz", good)
    scanned = ws.run("scan")
    assert scanned.returncode == 0, scanned.stderr
    [stored] = ws.runs()
    assert stored["status"] == "stored", stored
    good_id = stored["id"]

    parsed = ws.run("parse", "--waiting")
    assert parsed.returncode == 0, parsed.stderr
    match = re.fullmatch(rf"run {good_id}: complete: (.+)\n", parsed.stdout)
    assert match, parsed.stdout
    data = json_of(ws.run("runs", "show", str(good_id), "--json"))
    assert data["status"] == "complete"
    assert match[1] == ", ".join(f"{n} {name}" for name, n in data["counts"].items())
    assert (data["counts"]["conf_files"], data["counts"]["inputs"]) == (1, 1)

    again = ws.run("parse", "--waiting")
    assert (again.returncode, again.stdout) == (0, ""), again
    assert "nothing to parse" in again.stderr

    # Ingestion only looks at the magic bytes: a .tgz cut in half is stored, and fails to parse.
    big = tarball("broken", size=200_000)
    broken = big[: len(big) // 2]
    assert broken[:2] == b"\x1f\x8b"
    ws.drop("ds_etc", "broken.tgz", broken)
    scanned = ws.run("scan")
    assert scanned.returncode == 0, scanned.stderr
    [broken_run] = [r for r in ws.runs() if r["id"] != good_id]
    assert broken_run["status"] == "stored", broken_run
    bad_id = broken_run["id"]

    failed = ws.run("parse", str(bad_id))
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert re.fullmatch(rf"run {bad_id}: failed: .*truncated.*\n", failed.stdout), failed.stdout
    reason = failed.stdout.split(": failed: ", 1)[1].strip()
    after = json_of(ws.run("runs", "show", str(bad_id), "--json"))
    assert after["status"] == "failed"
    assert summary_lines(after["notes"]) == [f"parse failed: {reason}"]
    assert set(after["counts"].values()) == {0}

    # A complete run parses again to the same rows; an unknown one is a usage error.
    reparsed, unknown = ws.run("parse", str(good_id)), ws.run("parse", "99999")
    assert (reparsed.returncode, reparsed.stdout) == (0, parsed.stdout), reparsed.stderr
    assert json_of(ws.run("runs", "show", str(good_id), "--json"))["counts"] == data["counts"]
    assert unknown.returncode == 2
    assert one_line_error(unknown) == "autodoc: run 99999 does not exist"


# -- 8. two daemons, one PostgreSQL ----------------------------------------------------------

BUNDLES = 40


@pytest.mark.postgres
def test_two_daemons_on_one_database_parse_every_run_exactly_once(
    make_workspace: Callable[..., Workspace], pg_url: str, tmp_path: Path
) -> None:
    ws = configure(make_workspace(database_url=pg_url, parse="workers = 2"), settle=0.2)
    staging = tmp_path / "staging"
    staging.mkdir()
    for n in range(BUNDLES):
        (staging / f"etc-{n:02d}.tgz").write_bytes(tarball(f"app{n}", size=64 * n))
    with contextlib.ExitStack() as stack:
        daemons = [stack.enter_context(running(ws, f"daemon{n}")) for n in range(2)]
        for daemon in daemons:
            daemon.wait_started()
        for path in sorted(staging.iterdir()):  # published by rename, all at once
            path.rename(ws.inbox / "ds_etc" / path.name)

        def all_complete() -> bool:
            done = set().union(*(completed(d) for d in daemons))
            return len(done) >= BUNDLES

        wait_for(all_complete, 60, f"{BUNDLES} runs complete")
        for daemon in daemons:
            daemon.assert_clean_exit()

    runs = ws.runs()
    assert len(runs) == BUNDLES
    assert Counter(r["status"] for r in runs) == {"complete": BUNDLES}
    assert all(len(summary_lines(r["notes"])) == 1 for r in runs), runs
    assert not [p for p in ws.processing.rglob("*") if p.is_file() and "daemon-" not in p.name]
    # Each bundle holds one inputs.conf with one stanza: one set of rows per run.
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.id, (SELECT count(*) FROM conf_files c WHERE c.run_id = r.id),"
                    " (SELECT count(*) FROM stanzas s WHERE s.run_id = r.id),"
                    " (SELECT count(*) FROM parse_claims p WHERE p.run_id = r.id)"
                    " FROM ingestion_runs r"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(tuple(r[1:]) for r in rows) == [(1, 1, 0)] * BUNDLES, rows

    # No run was parsed by both daemons: the database claim works between processes.
    by_daemon = [Counter(e["run_id"] for e in d.named("run.parsing")) for d in daemons]
    assert set(by_daemon[0]) | set(by_daemon[1]) == {r["id"] for r in runs}
    assert not set(by_daemon[0]) & set(by_daemon[1]), by_daemon
    # ... nor twice by one daemon's two parse workers.
    twice = {run_id: n for parsed in by_daemon for run_id, n in parsed.items() if n > 1}
    assert not twice, twice


def test_parse_reports_each_run_and_goes_on_past_one_it_cannot_take(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    ws.drop("ds_etc", "good.tgz", tarball("app1"))
    assert ws.run("scan").returncode == 0
    [run] = ws.runs()

    bare, mixed, listed = ws.run_many(
        ["parse"], ["parse", "999999", str(run["id"])], ["runs", "list"]
    )

    assert bare.returncode == 2 and "--waiting" in one_line_error(bare), bare
    # The unknown run is reported on stderr; the other is still parsed.
    assert mixed.returncode == 2, (mixed.stdout, mixed.stderr)
    assert "autodoc: run 999999 does not exist" in mixed.stderr.splitlines()  # logs follow
    assert re.fullmatch(rf"run {run['id']}: complete: .+\n", mixed.stdout), mixed.stdout
    # The list keeps one line a run although the notes now have two.
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and lines[1].split()[0] == str(run["id"]), listed.stdout
