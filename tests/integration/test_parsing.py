"""Parsing stored runs (daemon.parsing) on SQLite and PostgreSQL, with a local blob store:
the lifecycle `stored -> parsing -> normalized -> complete`, idempotent re-parses, claims
(two parsers, leases, dead owners, refusals), bad archives and bad .conf files, outages.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import resource
import socket
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sqlalchemy import create_engine, select, update

from daemon import faults, parsing
from daemon.conf.store import COUNTED, list_stanzas, replace_run_conf, run_counts
from daemon.config import Config, ParseConfig
from daemon.database import Database, FileRecord
from daemon.errors import Refused, RunNotFound, StorageUnavailable, TransientError
from daemon.models import Base, RunStatus, UploadType, utcnow
from daemon.parsing import PARSE_LEASE_SECONDS, RunParser
from daemon.storage.local import LocalBlobStore

TABLES = Base.metadata.tables
CLAIMS = TABLES["parse_claims"]
RUNS = TABLES["ingestion_runs"]
FINDINGS = TABLES["findings"]

# What ingestion leaves in notes: the claim marker crash recovery looks runs up by.
FIRST_LINE = "stored from /srv/inbox/ds_etc/ds-01/etc.tgz [claim 0f1e2d3c4b5a]"
ZERO = dict.fromkeys(COUNTED, 0)
NO_STORE: Any = None  # for claim tests: they never read a blob

# -- bundles ---------------------------------------------------------------------------------

INPUTS = b"""[default]
host = ds-01

[monitor:///var/log/messages]
index = os
sourcetype = syslog
"""
PROPS = b"""[syslog]
TRANSFORMS-host = syslog-host
"""
TRANSFORMS = b"""[syslog-host]
REGEX = ^\\S+ (\\S+)
FORMAT = host::$1
DEST_KEY = MetaData:Host
"""
INDEXES = b"""[os]
homePath = $SPLUNK_DB/os/db
"""
OUTPUTS = b"""[tcpout:lb]
server = 10.0.0.1:9997, 10.0.0.2:9997
"""
SERVERCLASS = b"""[serverClass:Forwarder]
whitelist.0 = fwd-*

[serverClass:Forwarder:app:fwd]
restartSplunkd = 1
"""
META = b"""[]
access = read : [ * ]
"""
DS_MEMBERS = [
    ("etc/system/local/inputs.conf", INPUTS),
    ("etc/system/local/serverclass.conf", SERVERCLASS),
    ("etc/apps/a/default/props.conf", PROPS),
    ("etc/apps/a/default/transforms.conf", TRANSFORMS),
    ("etc/apps/a/local/indexes.conf", INDEXES),
    ("etc/apps/a/metadata/default.meta", META),
    ("etc/apps/a/bin/tool.py", b"print('not a conf file')\n"),  # skipped silently
    ("etc/deployment-apps/fwd/local/outputs.conf", OUTPUTS),
]
DS_COUNTS = {
    "conf_files": 7,
    "stanzas": 9,
    "inputs": 2,
    "props": 1,
    "transforms": 1,
    "indexes": 1,
    "outputs": 1,
    "serverclasses": 2,
    "inventory_rows": 0,
    "findings": 0,
}

Entry = tuple[tarfile.TarInfo, bytes | None]


def file_entry(path: str, data: bytes) -> Entry:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mtime = 1_700_000_000
    return info, data


def link_entry(path: str, target: str) -> Entry:
    info = tarfile.TarInfo(path)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mtime = 1_700_000_000
    return info, None


def make_tar(entries: list[Entry], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.USTAR_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buffer.getvalue()


def ds_bundle(members: list[tuple[str, bytes]] = DS_MEMBERS) -> bytes:
    return make_tar([file_entry(path, data) for path, data in members])


def many_members_bundle(count: int) -> bytes:
    """A tar.gz of `count` empty members (skipped, not .conf files) and two real .conf files,
    written header by header: tarfile takes seconds for 100,000 members."""
    info = tarfile.TarInfo("etc/apps/big/bin/f000000.txt")
    info.mtime = 1_700_000_000
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    digits = header.index(b"000000.txt")
    header[148:156] = b" " * 8  # the checksum field counts as blanks
    base = sum(header)
    blocks = []
    for n in range(count):
        name = b"%06d" % n
        header[digits : digits + 6] = name
        checksum = base + sum(name) - 6 * ord("0")
        header[148:156] = b"%06o\0 " % checksum
        blocks.append(bytes(header))
    # The .conf members last: a reader that stopped early (a bad header) would miss them.
    blocks.append(make_tar([file_entry(p, d) for p, d in DS_MEMBERS[:2]], mode="w"))
    return gzip.compress(b"".join(blocks), compresslevel=1, mtime=0)


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def parse_config(**limits: Any) -> Config:
    return Config(source=Path("test-config.toml"), parse=ParseConfig(**limits))


def stored_run(
    db: Database,
    store: LocalBlobStore,
    data: bytes,
    name: str = "etc.tgz",
    upload_type: UploadType = UploadType.DS_ETC,
) -> int:
    """A run in `stored` whose bundle is `data`, created as ingestion does."""
    run_id = db.create_run(upload_type, "ds-01", "claimed")
    blob = store.put(io.BytesIO(data))
    record = FileRecord(name, blob.sha256, blob.size_bytes, blob.key)
    assert db.mark_stored(run_id, record, lambda _earlier: FIRST_LINE)
    return run_id


def bare_stored_run(db: Database, n: int) -> int:
    """A `stored` run whose blob is never read (claim tests)."""
    run_id = db.create_run(UploadType.DS_ETC, None, "claimed")
    record = FileRecord(f"b{n}.tgz", f"{n:064x}", 1, f"sha256/never/{n}")
    assert db.mark_stored(run_id, record, lambda _earlier: FIRST_LINE)
    return run_id


def claims(db: Database) -> dict[int, str]:
    with db.engine.connect() as conn:
        return {r.run_id: r.owner for r in conn.execute(select(CLAIMS))}


def status(db: Database, run_id: int) -> RunStatus:
    return db.get_run(run_id).status


def finding_codes(db: Database, run_id: int) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.scalars(select(FINDINGS.c.code).where(FINDINGS.c.run_id == run_id)))


def summary_lines(notes: str | None) -> list[str]:
    return [
        line
        for line in (notes or "").splitlines()
        if line.startswith(("parsed: ", "parse failed: "))
    ]


def dead_owner() -> str:
    """`<this host>:<pid>` of a process that has exited."""
    for _ in range(5):
        proc = subprocess.Popen(["true"])
        proc.wait()
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return f"{socket.gethostname()}:{proc.pid}"
    pytest.fail("could not find a pid that is not in use")


def set_heartbeat(db: Database, run_id: int, seconds_ago: float) -> None:
    with db.session() as session:
        session.execute(
            update(CLAIMS)
            .where(CLAIMS.c.run_id == run_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds_ago))
        )


def heartbeat_age(db: Database, run_id: int) -> float:
    with db.engine.connect() as conn:
        beat = conn.scalar(select(CLAIMS.c.heartbeat_at).where(CLAIMS.c.run_id == run_id))
    return (utcnow() - beat).total_seconds()


class Crash(BaseException):
    """Raised at a fault point, in place of the SIGKILL AUTODOC_FAULT would send."""


@contextlib.contextmanager
def fault_hook(monkeypatch: pytest.MonkeyPatch, hook: Callable[[str], None]) -> Iterator[None]:
    monkeypatch.setattr(faults, "point", hook)
    try:
        yield
    finally:
        monkeypatch.undo()


# -- 1. lifecycle and re-parse ---------------------------------------------------------------


def test_a_stored_bundle_parses_to_complete_through_each_status_and_reparses_identically(
    db: Database, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = stored_run(db, store, ds_bundle())
    # Another process's view of the database at each step (committed state only).
    observer = create_engine(db.url)
    seen: dict[str, tuple[str, dict[str, int]]] = {}

    def look(step: str) -> None:
        if step in seen:
            return
        with observer.connect() as conn:
            current = conn.scalar(select(RUNS.c.status).where(RUNS.c.id == run_id))
        seen[step] = (str(current), run_counts(observer, run_id))

    parser = RunParser(parse_config(), db, store, owner="parser-a:1")
    try:
        with fault_hook(monkeypatch, look):
            outcome = parser.parse_next()
    finally:
        observer.dispose()

    assert outcome is not None
    assert (outcome.run_id, outcome.status, outcome.reason) == (run_id, RunStatus.COMPLETE, "")
    assert outcome.counts == DS_COUNTS
    assert list(outcome.counts) == list(COUNTED)
    assert run_counts(db.engine, run_id) == DS_COUNTS
    # parsing while the rows are written in one transaction (none visible until it commits),
    # normalized once they are, then complete.
    assert seen == {
        "after_parse_claim": ("parsing", ZERO),
        "mid_parse": ("parsing", ZERO),
        "after_normalized": ("normalized", DS_COUNTS),
    }
    run = db.get_run(run_id)
    assert run.status == RunStatus.COMPLETE
    lines = (run.notes or "").splitlines()
    assert lines[0] == FIRST_LINE
    assert lines[1:] == ["parsed: " + ", ".join(f"{n} {name}" for name, n in DS_COUNTS.items())]
    assert claims(db) == {}
    assert parser.parse_next() is None  # nothing else waiting

    stanzas = list_stanzas(db.engine, run_id)
    assert len(stanzas) == DS_COUNTS["stanzas"]
    by_name = {(s["conf_type"], s["name"]): s for s in stanzas}
    forwarder = by_name[("serverclass", "serverClass:Forwarder")]
    assert (forwarder["layer"], forwarder["app"], forwarder["scope"]) == ("system", None, "local")
    assert forwarder["settings"] == {"whitelist.0": "fwd-*"}
    outputs = by_name[("outputs", "tcpout:lb")]
    assert (outputs["layer"], outputs["app"], outputs["scope"]) == (
        "deployment_app",
        "fwd",
        "local",
    )
    assert by_name[("props", "syslog")]["app"] == "a"

    # A re-parse replaces the rows: same counts, same stanzas, one summary line.
    for again in range(2):
        other = RunParser(parse_config(), db, store, owner=f"parser-b:{again}")
        other.claim(run_id)
        assert claims(db) == {run_id: f"parser-b:{again}"}
        redo = other.parse_claimed(run_id)
        assert (redo.status, redo.counts) == (RunStatus.COMPLETE, DS_COUNTS)
        assert run_counts(db.engine, run_id) == DS_COUNTS
        assert list_stanzas(db.engine, run_id) == stanzas
        run = db.get_run(run_id)
        assert run.status == RunStatus.COMPLETE
        assert (run.notes or "").splitlines() == lines
        assert claims(db) == {}


def test_each_upload_type_parses(db: Database, store: LocalBlobStore) -> None:
    app = make_tar([file_entry("myapp/default/props.conf", PROPS)])
    instance = ds_bundle(DS_MEMBERS[:1])
    runs = {
        stored_run(db, store, app, "myapp.spl", UploadType.APP_BUNDLE): ("props", "myapp"),
        stored_run(db, store, instance, "i.tgz", UploadType.INSTANCE_ETC): ("inputs", None),
        stored_run(db, store, OUTPUTS, "outputs.conf", UploadType.SINGLE_CONF): ("outputs", None),
    }
    parser = RunParser(parse_config(), db, store)
    done = {o.run_id: o for o in iter(parser.parse_next, None)}
    assert set(done) == set(runs)
    for run_id, (conf_type, app) in runs.items():
        assert done[run_id].status == RunStatus.COMPLETE, done[run_id]
        stanzas = list_stanzas(db.engine, run_id)
        assert stanzas, run_id
        assert {(s["conf_type"], s["app"]) for s in stanzas} == {(conf_type, app)}


# -- 2. claims -------------------------------------------------------------------------------


def test_two_parsers_claiming_at_once_share_the_runs_without_overlap(db: Database) -> None:
    runs = [bare_stored_run(db, n) for n in range(5)]
    owners = ["host-a:101", "host-b:202"]
    databases = [Database(db.url) for _ in owners]  # as two processes: engines of their own
    parsers = [
        RunParser(parse_config(), d, NO_STORE, owner=o)
        for d, o in zip(databases, owners, strict=True)
    ]
    got: dict[str, list[int]] = {owner: [] for owner in owners}
    errors: list[BaseException] = []
    start = threading.Barrier(len(parsers))

    def claim_all(parser: RunParser) -> None:
        try:
            start.wait()
            while (run_id := parser.claim_next()) is not None:
                got[parser.owner].append(run_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(p,)) for p in parsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for database in databases:
        database.dispose()
    assert not errors, errors
    a, b = got.values()
    assert not set(a) & set(b), got
    assert sorted(a + b) == runs, got
    assert claims(db) == {run_id: o for o, ids in got.items() for run_id in ids}
    assert {status(db, run_id) for run_id in runs} == {RunStatus.PARSING}


def test_claims_alternate_between_two_parsers_and_end_with_none(db: Database) -> None:
    runs = [bare_stored_run(db, n) for n in range(5)]
    a = RunParser(parse_config(), db, NO_STORE, owner="host-a:1")
    b = RunParser(parse_config(), db, NO_STORE, owner="host-b:2")
    taken = [a.claim_next(), b.claim_next(), a.claim_next(), b.claim_next(), a.claim_next()]
    assert taken == runs  # oldest first
    assert a.claim_next() is None
    assert b.claim_next() is None


def test_a_fresh_claim_of_another_host_is_left_alone_and_a_stale_one_taken(
    db: Database,
) -> None:
    run_id = bare_stored_run(db, 0)
    elsewhere = RunParser(parse_config(), db, NO_STORE, owner="otherhost:1")
    assert elsewhere.claim_next() == run_id
    me = RunParser(parse_config(), db, NO_STORE, owner="thishost-test:1")

    set_heartbeat(db, run_id, PARSE_LEASE_SECONDS - 30)  # renewed recently enough
    assert me.claim_next() is None
    assert claims(db) == {run_id: "otherhost:1"}

    set_heartbeat(db, run_id, PARSE_LEASE_SECONDS + 1)  # not renewed for a whole lease
    assert me.claim_next() == run_id
    assert claims(db) == {run_id: "thishost-test:1"}
    assert status(db, run_id) == RunStatus.PARSING
    # The former owner's lease renewal neither takes the run back nor renews it; ours does.
    set_heartbeat(db, run_id, PARSE_LEASE_SECONDS + 1)
    elsewhere.heartbeat()
    assert claims(db) == {run_id: "thishost-test:1"}
    assert heartbeat_age(db, run_id) > PARSE_LEASE_SECONDS
    me.heartbeat()
    assert heartbeat_age(db, run_id) < PARSE_LEASE_SECONDS / 2


def test_a_claim_of_a_dead_process_of_this_host_is_taken_at_once(db: Database) -> None:
    run_id = bare_stored_run(db, 0)
    gone = dead_owner()
    assert RunParser(parse_config(), db, NO_STORE, owner=gone).claim_next() == run_id
    alive = f"{socket.gethostname()}:{os.getpid()}"
    set_heartbeat(db, run_id, 0)

    # A live process of this host (this one) is left alone, however fresh the claim.
    with db.session() as session:
        session.execute(update(CLAIMS).values(owner=alive))
    me = RunParser(parse_config(), db, NO_STORE, owner="me-test:1")
    assert me.claim_next() is None

    with db.session() as session:
        session.execute(update(CLAIMS).values(owner=gone))
    assert me.claim_next() == run_id
    assert claims(db) == {run_id: "me-test:1"}


@pytest.mark.parametrize("holder", ["otherhost:1", "this-process"])
def test_claim_refuses_a_run_a_live_process_is_parsing_unless_forced(
    db: Database, store: LocalBlobStore, holder: str
) -> None:
    run_id = stored_run(db, store, ds_bundle())
    if holder == "this-process":
        holder = f"{socket.gethostname()}:{os.getpid()}"
    first = RunParser(parse_config(), db, store, owner=holder)
    assert first.claim_next() == run_id
    me = RunParser(parse_config(), db, store, owner="me-test:1")

    with pytest.raises(Refused, match=rf"run {run_id} is being parsed by {holder}; --force"):
        me.claim(run_id)
    assert claims(db) == {run_id: holder}

    me.claim(run_id, force=True)
    assert claims(db) == {run_id: "me-test:1"}
    # The first parser finds out before writing anything, and leaves the run to us.
    lost = first.parse_claimed(run_id)
    assert (lost.status, lost.counts) == (RunStatus.PARSING, {})
    assert run_counts(db.engine, run_id) == ZERO
    assert status(db, run_id) == RunStatus.PARSING
    done = me.parse_claimed(run_id)
    assert (done.status, done.counts) == (RunStatus.COMPLETE, DS_COUNTS)
    assert len(summary_lines(db.get_run(run_id).notes)) == 1


def test_claim_refuses_runs_without_a_stored_bundle_and_unknown_ids(db: Database) -> None:
    parser = RunParser(parse_config(), db, NO_STORE)
    pending = db.create_run(UploadType.DS_ETC, None, "claimed")
    with pytest.raises(Refused, match=rf"run {pending} is pending"):
        parser.claim(pending)
    rejected = db.create_run(UploadType.DS_ETC, None, "claimed")
    assert db.mark_failed(rejected, "not an archive")
    with pytest.raises(Refused, match=rf"run {rejected} is failed"):
        parser.claim(rejected)
    with pytest.raises(RunNotFound, match="run 99999 does not exist"):
        parser.claim(99999)
    assert claims(db) == {}
    assert {status(db, pending), status(db, rejected)} == {RunStatus.PENDING, RunStatus.FAILED}
    assert parser.claim_next() is None  # neither is waiting to be parsed


def test_two_threads_of_one_parser_never_claim_the_same_run(db: Database) -> None:
    run_id = bare_stored_run(db, 0)
    parser = RunParser(parse_config(), db, NO_STORE)
    main = threading.current_thread()
    real_session = db.session
    second: list[int | None] = []

    @contextlib.contextmanager
    def session() -> Iterator[Any]:
        with real_session() as s:
            yield s
        if threading.current_thread() is main and not second:
            # The first claim has just committed: a second worker thread looks for work now.
            thread = threading.Thread(target=lambda: second.append(parser.claim_next()))
            thread.start()
            thread.join(timeout=60)

    db.session = session  # type: ignore[method-assign]
    try:
        assert parser.claim_next() == run_id
    finally:
        db.session = real_session  # type: ignore[method-assign]
    assert second == [None], f"run {run_id} claimed twice by one parser: {second}"


@pytest.mark.parametrize(
    "step",
    [
        "after_parse_claim",
        "mid_parse",
        "after_normalized",
    ],
)
def test_a_run_whose_parser_died_at_a_fault_point_is_parsed_again(
    db: Database, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    run_id = stored_run(db, store, ds_bundle())

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    with fault_hook(monkeypatch, crash), pytest.raises(Crash):
        RunParser(parse_config(), db, store, owner=dead_owner()).parse_next()
    left = status(db, run_id)
    assert left == (RunStatus.NORMALIZED if step == "after_normalized" else RunStatus.PARSING)

    outcome = RunParser(parse_config(), db, store).parse_next()
    assert outcome is not None, f"the run left {left} is not parsed again"
    assert (outcome.run_id, outcome.status) == (run_id, RunStatus.COMPLETE)
    assert run_counts(db.engine, run_id) == DS_COUNTS
    assert len(summary_lines(db.get_run(run_id).notes)) == 1
    assert claims(db) == {}


# -- 3. bad archives and bad .conf files -----------------------------------------------------


def assert_failed(db: Database, run_id: int, *fragments: str) -> str:
    """The run is `failed` with the reason in notes and nothing normalized; the reason."""
    run = db.get_run(run_id)
    assert run.status == RunStatus.FAILED, run.notes
    lines = (run.notes or "").splitlines()
    assert lines[0] == FIRST_LINE
    assert len(lines) == 2, lines
    assert lines[1].startswith("parse failed: "), lines
    for fragment in fragments:
        assert fragment in lines[1], lines[1]
    assert run_counts(db.engine, run_id) == ZERO
    assert claims(db) == {}
    return lines[1]


def parse_one(db: Database, store: LocalBlobStore, run_id: int, **limits: Any) -> Any:
    outcome = RunParser(parse_config(**limits), db, store).parse_next()
    assert outcome is not None
    assert outcome.run_id == run_id
    return outcome


@pytest.mark.parametrize(
    ("kind", "fragments"),
    [
        ("truncated-gzip", ("truncated tar.gz archive",)),
        ("gzip-garbage", ("corrupt or truncated tar.gz archive",)),
        ("not-an-archive", ("not an archive",)),
        ("truncated-member", ("corrupt or truncated tar.gz archive",)),
    ],
)
def test_a_corrupt_archive_fails_the_run_with_the_reason_and_leaves_no_rows(
    db: Database,
    store: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    fragments: tuple[str, ...],
) -> None:
    good = ds_bundle()
    if kind == "truncated-gzip":
        data = good[: len(good) // 2]
    elif kind == "gzip-garbage":
        data = good[:10] + bytes(range(256)) * 8
    elif kind == "not-an-archive":
        data = b"[serverClass:all]\nwhitelist.0 = *\n"
    else:  # valid gzip of a tar cut inside its last member, after good members
        raw = make_tar([file_entry(p, d) for p, d in DS_MEMBERS], mode="w")
        cut = raw.index(b"etc/deployment-apps/fwd/local/outputs.conf") + 512 + 10
        data = gzip.compress(raw[:cut])
    run_id = stored_run(db, store, data)
    # Rows are flushed member by member, so the good members' rows do reach the database
    # before the failure: the rollback must take them away.
    monkeypatch.setattr(
        parsing, "replace_run_conf", functools.partial(replace_run_conf, chunk_rows=1)
    )
    outcome = parse_one(db, store, run_id)
    assert outcome.status == RunStatus.FAILED
    line = assert_failed(db, run_id, *fragments)
    assert line == f"parse failed: {outcome.reason}"


@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_an_archive_with_a_corrupt_header_in_the_middle_fails(
    db: Database, store: LocalBlobStore, mode: str
) -> None:
    raw = bytearray(make_tar([file_entry(p, d) for p, d in DS_MEMBERS], mode="w"))
    third = raw.index(DS_MEMBERS[2][0].encode())
    raw[third : third + 100] = b"\xff" * 100  # a damaged header (its checksum is wrong)
    data = gzip.compress(bytes(raw)) if mode == "w:gz" else bytes(raw)
    run_id = stored_run(db, store, data, name="etc.tgz" if mode == "w:gz" else "etc.tar")
    outcome = parse_one(db, store, run_id)
    assert outcome.status == RunStatus.FAILED, (outcome, run_counts(db.engine, run_id))
    assert_failed(db, run_id, "corrupt")


# ~2.5 MB of text that gzip shrinks ~10 times: fine by the default limits.
FILLER = b"".join(b"# line %07d of filler\n" % n for n in range(100_000))


@pytest.mark.parametrize(
    ("limits", "member", "setting"),
    [
        # 4 MiB of zeros gzip to ~4 KiB: a bomb, refused once the first MiB is out.
        ({"max_ratio": 10.0}, b"\0" * (4 << 20), "parse.max_ratio"),
        ({"max_ratio": 5.0}, FILLER, "parse.max_ratio"),
        # The header declares 2.5 MB: refused before a byte of it is read.
        ({"max_total_bytes": 1 << 20}, FILLER, "parse.max_total_bytes"),
        ({"max_member_bytes": 1 << 20}, FILLER, "parse.max_member_bytes"),
    ],
    ids=["bomb", "ratio", "total", "member"],
)
def test_a_bomb_or_a_member_over_the_limits_fails_the_run_naming_the_setting(
    db: Database,
    store: LocalBlobStore,
    limits: dict[str, Any],
    member: bytes,
    setting: str,
) -> None:
    data = make_tar(
        [file_entry(*DS_MEMBERS[0]), file_entry("etc/apps/bomb/local/props.conf", member)]
    )
    run_id = stored_run(db, store, data)
    outcome = parse_one(db, store, run_id, **limits)
    assert outcome.status == RunStatus.FAILED
    assert_failed(db, run_id, setting)


def test_the_default_limits_accept_what_small_limits_refuse(
    db: Database, store: LocalBlobStore
) -> None:
    data = make_tar(
        [file_entry(*DS_MEMBERS[0]), file_entry("etc/apps/big/local/props.conf", FILLER)]
    )
    run_id = stored_run(db, store, data)
    outcome = parse_one(db, store, run_id)
    assert outcome.status == RunStatus.COMPLETE, outcome
    assert outcome.counts["conf_files"] == 2


def test_hostile_members_are_refused_with_findings_and_the_run_completes(
    db: Database, store: LocalBlobStore
) -> None:
    data = make_tar(
        [
            file_entry(*DS_MEMBERS[0]),
            file_entry("etc/apps/../../../../tmp/evil.conf", b"[x]\na = 1\n"),
            file_entry("../etc/system/local/outputs.conf", b"[tcpout]\n"),
            link_entry("etc/system/local/props.conf", "/etc/passwd"),
            file_entry("/etc/system/local/web.conf", b"[settings]\n"),
        ]
    )
    run_id = stored_run(db, store, data)
    outcome = parse_one(db, store, run_id)
    assert outcome.status == RunStatus.COMPLETE, outcome
    assert sorted(finding_codes(db, run_id)) == [
        "absolute-path",
        "path-traversal",
        "path-traversal",
        "symlink-member",
    ]
    assert outcome.counts["conf_files"] == 1  # only the good inputs.conf
    assert {s["path"] for s in list_stanzas(db.engine, run_id)} == {DS_MEMBERS[0][0]}
    run = db.get_run(run_id)
    assert run.status == RunStatus.COMPLETE
    assert summary_lines(run.notes) == [
        "parsed: " + ", ".join(f"{n} {name}" for name, n in outcome.counts.items())
    ]


def test_binary_and_junk_conf_files_give_findings_not_a_failure(
    db: Database, store: LocalBlobStore
) -> None:
    binary = b"\x7fELF\x02\x01\x01\0\0\0[bin]\0key = v\0al\n" + bytes(range(256))
    junk = b"[ok]\na = 1\nthis line has no equals sign\n[unclosed\n= empty key\n[next]\nb = 2\n"
    data = make_tar(
        [
            file_entry("etc/apps/a/local/props.conf", binary),
            file_entry("etc/apps/a/local/inputs.conf", junk),
            file_entry(*DS_MEMBERS[1]),
        ]
    )
    run_id = stored_run(db, store, data)
    outcome = parse_one(db, store, run_id)
    assert outcome.status == RunStatus.COMPLETE, outcome
    codes = set(finding_codes(db, run_id))
    assert {"binary", "no-equals", "unclosed-header", "empty-key"} <= codes, codes
    assert outcome.counts["conf_files"] == 3
    stanzas = {s["name"]: s for s in list_stanzas(db.engine, run_id, conf_type="inputs")}
    assert stanzas["ok"]["settings"] == {"a": "1", "": "empty key"}
    assert stanzas["next"]["settings"] == {"b": "2"}
    # Nothing of the binary file holds a NUL any more (PostgreSQL could not store it).
    for stanza in list_stanzas(db.engine, run_id, conf_type="props"):
        assert "\0" not in repr(stanza)


def test_a_member_with_one_50_mb_line_completes(db: Database, store: LocalBlobStore) -> None:
    value = "v" * 50_000_000
    body = b"[monitor:///big]\nkey = " + value.encode() + b"\nindex = main\n"
    data = make_tar([file_entry("etc/system/local/inputs.conf", body)], mode="w")  # plain tar
    run_id = stored_run(db, store, data, name="etc.tar")
    del body, data
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    outcome = parse_one(db, store, run_id)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert outcome.status == RunStatus.COMPLETE, outcome
    # A few copies of the line at once (bytes, text, JSON of settings and occurrences), not
    # more: ~280 MiB on SQLite, ~140 MiB on PostgreSQL when this was written.
    assert grown_mib < 600, f"peak memory grew by {grown_mib:.0f} MiB"
    assert (outcome.counts["stanzas"], outcome.counts["inputs"]) == (1, 1)
    [stanza] = list_stanzas(db.engine, run_id)
    assert stanza["settings"]["index"] == "main"
    assert stanza["settings"]["key"] == value


@pytest.fixture(scope="module")
def hundred_thousand_members() -> bytes:
    return many_members_bundle(100_000)


def test_100000_members_pass_the_default_limits_and_fail_max_members(
    sqlite_url: str, store: LocalBlobStore, hundred_thousand_members: bytes
) -> None:
    from daemon import migrate

    db = Database(sqlite_url)
    migrate.upgrade(db.engine)
    try:
        ok = stored_run(db, store, hundred_thousand_members)
        outcome = parse_one(db, store, ok)
        assert outcome.status == RunStatus.COMPLETE, outcome
        # The two .conf files after the 100,000 others: every header was read.
        assert outcome.counts["conf_files"] == 2

        refused = stored_run(db, store, hundred_thousand_members, name="again.tgz")
        outcome = parse_one(db, store, refused, max_members=1000)
        assert outcome.status == RunStatus.FAILED
        assert_failed(db, refused, "more than 1000 members", "parse.max_members")
    finally:
        db.dispose()


def test_a_reparse_that_fails_marks_the_run_failed(db: Database, store: LocalBlobStore) -> None:
    run_id = stored_run(db, store, ds_bundle())
    assert parse_one(db, store, run_id).status == RunStatus.COMPLETE
    strict = RunParser(parse_config(max_members=2), db, store)
    strict.claim(run_id)
    outcome = strict.parse_claimed(run_id)
    assert outcome.status == RunStatus.FAILED
    run = db.get_run(run_id)
    assert run.status == RunStatus.FAILED
    assert summary_lines(run.notes) == [f"parse failed: {outcome.reason}"]


def test_a_failed_run_can_be_parsed_again_with_higher_limits(
    db: Database, store: LocalBlobStore
) -> None:
    run_id = stored_run(db, store, ds_bundle())
    assert parse_one(db, store, run_id, max_members=2).status == RunStatus.FAILED
    parser = RunParser(parse_config(), db, store)
    parser.claim(run_id)
    outcome = parser.parse_claimed(run_id)
    assert (outcome.status, outcome.counts) == (RunStatus.COMPLETE, DS_COUNTS)
    run = db.get_run(run_id)
    assert run.status == RunStatus.COMPLETE
    assert (run.notes or "").splitlines() == [FIRST_LINE, summary_lines(run.notes)[0]]
    assert summary_lines(run.notes)[0].startswith("parsed: ")


# -- 4. outages ------------------------------------------------------------------------------


class BrokenBlob(io.BytesIO):
    """A blob whose reads fail once `good` bytes were served, as a dropped connection."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data)
        self.good = good

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.good:
            raise StorageUnavailable("blob store unreachable (test): connection reset")
        return super().read(size if size is None or size < 0 else min(size, self.good))


class FlakyStore(LocalBlobStore):
    """A local store that can be switched off: open() fails, or reads fail midway."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.failure: str | None = None

    def open(self, key: str) -> BinaryIO:
        if self.failure == "open":
            raise StorageUnavailable("blob store unreachable (test)")
        blob = super().open(key)
        if self.failure == "read":
            with blob:
                return BrokenBlob(blob.read(), good=100)
        return blob


@pytest.mark.parametrize("failure", ["open", "read"])
def test_a_blob_store_outage_leaves_the_run_parsing_under_our_claim_until_it_is_back(
    db: Database, tmp_path: Path, failure: str
) -> None:
    store = FlakyStore(tmp_path / "blobs")
    run_id = stored_run(db, store, ds_bundle())
    parser = RunParser(parse_config(), db, store, owner="parser-test:1")
    store.failure = failure
    assert parser.claim_next() == run_id
    with pytest.raises(TransientError, match="blob store unreachable"):
        parser.parse_claimed(run_id)
    run = db.get_run(run_id)
    assert run.status == RunStatus.PARSING
    assert summary_lines(run.notes) == []
    assert claims(db) == {run_id: "parser-test:1"}
    assert run_counts(db.engine, run_id) == ZERO
    # Another live parser leaves it alone ...
    other = RunParser(parse_config(), db, store, owner="otherhost:1")
    assert other.claim_next() is None
    # ... and ours takes it again when the store is back.
    store.failure = None
    assert parser.claim_next() == run_id
    outcome = parser.parse_claimed(run_id)
    assert (outcome.status, outcome.counts) == (RunStatus.COMPLETE, DS_COUNTS)
    assert len(summary_lines(db.get_run(run_id).notes)) == 1
    assert claims(db) == {}


def test_parse_next_propagates_an_outage_and_keeps_the_claim(db: Database, tmp_path: Path) -> None:
    """What the daemon's parse worker calls: the outage reaches it (it backs off), the run
    stays claimed, and the next call after the outage finishes it."""
    store = FlakyStore(tmp_path / "blobs")
    run_id = stored_run(db, store, ds_bundle())
    parser = RunParser(parse_config(), db, store)
    store.failure = "open"
    with pytest.raises(StorageUnavailable):
        parser.parse_next()
    assert status(db, run_id) == RunStatus.PARSING
    store.failure = None
    outcome = parser.parse_next()
    assert outcome is not None
    assert (outcome.run_id, outcome.status) == (run_id, RunStatus.COMPLETE)
    assert parser.parse_next() is None


def test_a_run_whose_blob_is_gone_fails_instead_of_being_retried_forever(
    db: Database, store: LocalBlobStore
) -> None:
    run_id = stored_run(db, store, ds_bundle())
    [file] = db.get_run(run_id).files
    (store.root / file.stored_object_key).unlink()

    outcome = parse_one(db, store, run_id)

    assert outcome.status == RunStatus.FAILED
    run = db.get_run(run_id)
    assert run.status == RunStatus.FAILED
    assert "parse failed: the stored bundle is missing" in (run.notes or "")
    assert RunParser(parse_config(), db, store).claim_next() is None  # not taken again


def test_a_run_that_kills_its_parsers_is_failed_after_max_attempts(db: Database) -> None:
    """Each dead parser's claim taken over counts one more attempt; past MAX_PARSE_ATTEMPTS
    the run is failed instead of crashing the next daemon too; `autodoc parse RUN_ID` (an
    operator's `claim`) starts again from 1."""
    from daemon.parsing import MAX_PARSE_ATTEMPTS

    run_id = bare_stored_run(db, 0)

    def attempts() -> int | None:
        with db.engine.connect() as conn:
            return conn.scalar(select(CLAIMS.c.attempts).where(CLAIMS.c.run_id == run_id))

    for n in range(1, MAX_PARSE_ATTEMPTS + 1):  # each parser dies holding the run
        assert RunParser(parse_config(), db, NO_STORE, owner=dead_owner()).claim_next() == run_id
        assert attempts() == n
    me = RunParser(parse_config(), db, NO_STORE, owner="me-test:1")
    assert me.claim_next() is None

    run = db.get_run(run_id)
    assert run.status == RunStatus.FAILED
    assert summary_lines(run.notes) == [
        f"parse failed: {MAX_PARSE_ATTEMPTS} parsers died on this run (out of memory?); "
        f"'autodoc parse {run_id}' tries again"
    ]
    assert claims(db) == {}

    me.claim(run_id)
    assert attempts() == 1
    assert status(db, run_id) == RunStatus.PARSING


def test_a_parser_that_retries_its_own_claim_does_not_count_an_attempt(db: Database) -> None:
    run_id = bare_stored_run(db, 0)
    me = RunParser(parse_config(), db, NO_STORE, owner="me-test:1")
    assert me.claim_next() == run_id
    me._busy.clear()  # as after a transient error: the run is ours to take again
    assert me.claim_next() == run_id
    with db.engine.connect() as conn:
        assert conn.scalar(select(CLAIMS.c.attempts).where(CLAIMS.c.run_id == run_id)) == 1


def test_a_claim_released_at_a_stop_is_taken_at_once_without_counting_a_death(
    db: Database,
) -> None:
    run_id = bare_stored_run(db, 0)
    stopping = RunParser(parse_config(), db, NO_STORE, owner="otherhost-test:1")
    assert stopping.claim_next() == run_id
    stopping.release()  # what the daemon does for a parse it abandons at a stop

    nxt = RunParser(parse_config(), db, NO_STORE, owner="me-test:1")
    assert nxt.claim_next() == run_id  # no lease to wait for
    with db.engine.connect() as conn:
        assert conn.scalar(select(CLAIMS.c.attempts).where(CLAIMS.c.run_id == run_id)) == 1


def test_claim_next_goes_on_to_the_next_run_after_failing_one_for_its_attempts(
    db: Database,
) -> None:
    from daemon.parsing import MAX_PARSE_ATTEMPTS

    doomed, fine = bare_stored_run(db, 0), bare_stored_run(db, 1)
    dead = RunParser(parse_config(), db, NO_STORE, owner=dead_owner())
    assert (dead.claim_next(), dead.claim_next()) == (doomed, fine)  # then it died
    with db.session() as session:
        session.execute(
            update(CLAIMS).where(CLAIMS.c.run_id == doomed).values(attempts=MAX_PARSE_ATTEMPTS)
        )
    assert RunParser(parse_config(), db, NO_STORE, owner="me-test:1").claim_next() == fine
    assert status(db, doomed) == RunStatus.FAILED
