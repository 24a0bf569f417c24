"""Persisting normalized configuration (daemon.conf.store) on SQLite and PostgreSQL: round
trip, idempotent replace in one transaction, cascades, counts, NUL characters, and concurrent
writers on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from daemon.conf.store import (
    COUNTED,
    ConfMember,
    list_stanzas,
    replace_run_conf,
    run_counts,
)
from daemon.conf.types import Finding, Layer, ParsedConf, Provenance, Scope
from daemon.database import Database, FileRecord
from daemon.errors import RunNotFound
from daemon.models import Base, UploadType
from tests.unit.test_normalize import stanzas

TABLES = Base.metadata.tables

SERVERCLASS = """
[global]
repositoryLocation = $SPLUNK_HOME/etc/deployment-apps

[serverClass:Forwarder]
whitelist.0 = DCOMForwarder*
whitelist.3 = 10.1.*
blacklist.0 = *-test-*

[serverClass:Forwarder:app:DCOM_DS_myforwarder]
stateOnClient = enabled
"""
INPUTS = """
[default]
host = uf-par-01

[monitor:///var/log/secure]
sourcetype = linux_secure
index = os
disabled = 0
_TCP_ROUTING = lb, dr

[udp://514]
sourcetype = syslog
disabled = perhaps
"""
PROPS = """
[pan_log]
SHOULD_LINEMERGE = false
TRANSFORMS-sourcetype = pan_threat, pan_traffic
"""
TRANSFORMS = """
[pan_threat]
DEST_KEY = MetaData:Sourcetype
REGEX = ^[^,]+,[^,]+,[^,]+,THREAT,
FORMAT = sourcetype::pan:threat
"""
OUTPUTS = """
[tcpout]
defaultGroup = lb

[tcpout:lb]
server = 172.30.200.101:9997, 172.30.200.102:9997
"""
INDEXES = """
[ios]
homePath = $SPLUNK_DB/ios/db
frozenTimePeriodInSecs = 7776000
"""
METADATA = """
[]
access = read : [ * ], write : [ admin ]
"""


def conf(body: str, findings: list[Finding] | None = None) -> ParsedConf:
    return ParsedConf("utf-8", stanzas(body), findings or [])


def member(file_id: int, path: str, body: str, **parsed: Any) -> ConfMember:
    """A member of a ds_etc bundle, its provenance from the path (as the archive reader)."""
    parts = path.split("/")
    conf_type = parts[-1].rsplit(".", 1)[0]
    if parts[1] == "system":
        provenance = Provenance(Layer.SYSTEM, None, Scope(parts[2]), conf_type)
    else:  # <app>/(default|local)/X.conf, or <app>/metadata/(default|local).meta
        scope = Scope(conf_type if parts[3] == "metadata" else parts[3])
        provenance = Provenance(Layer.DEPLOYMENT_APP, parts[2], scope, conf_type)
    data = body.encode()
    return ConfMember(
        file_id, path, f"{len(data):064x}", len(data), provenance, conf(body, **parsed)
    )


def bundle(file_id: int) -> list[ConfMember]:
    app = "etc/deployment-apps"
    return [
        member(file_id, "etc/system/local/serverclass.conf", SERVERCLASS),
        member(
            file_id,
            f"{app}/DCOM_DS_myforwarder/local/inputs.conf",
            INPUTS,
            findings=[Finding("no-equals", "line without =", 12)],
        ),
        member(file_id, f"{app}/DCOM_DS_myforwarder/default/outputs.conf", OUTPUTS),
        member(file_id, f"{app}/Splunk_TA_paloalto/default/props.conf", PROPS),
        member(file_id, f"{app}/Splunk_TA_paloalto/default/transforms.conf", TRANSFORMS),
        member(file_id, f"{app}/TA-cisco_ios/default/indexes.conf", INDEXES),
        member(file_id, f"{app}/TA-cisco_ios/metadata/default.meta", METADATA),
    ]


EXPECTED_COUNTS = {
    "conf_files": 7,
    "stanzas": 12,
    "inputs": 3,
    "props": 1,
    "transforms": 1,
    "indexes": 1,
    "outputs": 2,
    "serverclasses": 3,
    "inventory_rows": 0,
    "findings": 3,  # the parser's no-equals, a bad boolean, the archive's refused member
}


def stored_run(db: Database, sha: str = "a") -> tuple[int, int]:
    """A run in `stored` with its files row: (run id, file id)."""
    run_id = db.create_run(UploadType.DS_ETC, "ds", "n")
    db.mark_stored(run_id, FileRecord("dcom.tgz", sha * 64, 100, "k"), lambda _e: "stored")
    return run_id, db.get_run(run_id).files[0].id


def archive_findings() -> list[Finding]:
    return [Finding("member-refused", "a symlink", 0, "etc/apps/x/local/evil.conf")]


def table_rows(db: Database, name: str, run_id: int) -> list[dict[str, Any]]:
    """The run's rows of one table without ids (they differ between two replaces)."""
    table = TABLES[name]
    with db.engine.connect() as conn:
        result = conn.execute(select(table).where(table.c.run_id == run_id)).mappings().all()
    skip = {"id", "conf_file_id", "stanza_id"}
    return sorted(
        ({k: v for k, v in r.items() if k not in skip} for r in result), key=lambda r: repr(r)
    )


def snapshot(db: Database, run_id: int) -> dict[str, list[dict[str, Any]]]:
    return {name: table_rows(db, name, run_id) for name in COUNTED}


# -- round trip ------------------------------------------------------------------------------


def test_replace_writes_every_table_and_counts_match(db: Database) -> None:
    run_id, file_id = stored_run(db)
    written = replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    assert written == EXPECTED_COUNTS
    assert run_counts(db.engine, run_id) == EXPECTED_COUNTS
    assert list(run_counts(db.engine, run_id)) == list(COUNTED)


def test_typed_rows_round_trip_with_lists_booleans_and_provenance(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    inputs = {r["name"]: r for r in table_rows(db, "inputs", run_id)}
    monitor = inputs["monitor:///var/log/secure"]
    assert (monitor["stanza_type"], monitor["target"], monitor["index"]) == (
        "monitor",
        "/var/log/secure",
        "os",
    )
    assert monitor["disabled"] is False
    assert monitor["tcp_routing"] == ["lb", "dr"]
    assert (monitor["app"], monitor["scope"], monitor["layer"]) == (
        "DCOM_DS_myforwarder",
        Scope.LOCAL,
        Layer.DEPLOYMENT_APP,
    )
    assert inputs["udp://514"]["disabled"] is None
    assert inputs["default"]["tcp_routing"] is None

    classes = {r["name"]: r for r in table_rows(db, "serverclasses", run_id)}
    forwarder = classes["serverClass:Forwarder"]
    assert (forwarder["whitelist"], forwarder["blacklist"]) == (
        ["DCOMForwarder*", "10.1.*"],
        ["*-test-*"],
    )
    assert (forwarder["layer"], forwarder["app"], forwarder["scope"]) == (
        Layer.SYSTEM,
        None,
        Scope.LOCAL,
    )
    assert classes["global"]["repository_location"] == "$SPLUNK_HOME/etc/deployment-apps"
    assert classes["serverClass:Forwarder:app:DCOM_DS_myforwarder"]["deployed_app"] == (
        "DCOM_DS_myforwarder"
    )

    [props] = table_rows(db, "props", run_id)
    assert props["transforms"] == [
        {"class": "sourcetype", "transforms": ["pan_threat", "pan_traffic"]}
    ]
    [transform] = table_rows(db, "transforms", run_id)
    assert (transform["rewrites_sourcetype"], transform["rewrites_index"]) == (True, False)
    outputs = {r["name"]: r for r in table_rows(db, "outputs", run_id)}
    assert outputs["tcpout:lb"]["servers"] == ["172.30.200.101:9997", "172.30.200.102:9997"]
    [index] = table_rows(db, "indexes", run_id)
    assert index["frozen_time_period_in_secs"] == 7776000


def test_typed_rows_point_at_their_stanza(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    inputs, stanzas_t = TABLES["inputs"], TABLES["stanzas"]
    with db.engine.connect() as conn:
        joined = conn.execute(
            select(inputs.c.name, stanzas_t.c.name, stanzas_t.c.settings)
            .join(stanzas_t, stanzas_t.c.id == inputs.c.stanza_id)
            .where(inputs.c.run_id == run_id)
        ).all()
    assert len(joined) == 3
    assert all(typed_name == stanza_name for typed_name, stanza_name, _ in joined)
    settings = {name: s for name, _, s in joined}
    assert settings["udp://514"] == {"sourcetype": "syslog", "disabled": "perhaps"}


def test_stanzas_keep_settings_and_every_occurrence_with_lines(db: Database) -> None:
    run_id, file_id = stored_run(db)
    body = "[monitor:///a]\nindex = first\nsourcetype = s\nindex = second\n"
    replace_run_conf(db.engine, run_id, [member(file_id, "etc/system/local/inputs.conf", body)])
    [row] = table_rows(db, "stanzas", run_id)
    assert row["settings"] == {"index": "second", "sourcetype": "s"}
    assert row["occurrences"] == [
        ["index", "first", 2],
        ["sourcetype", "s", 3],
        ["index", "second", 4],
    ]
    assert (row["name"], row["order_in_file"], row["line"], row["conf_type"]) == (
        "monitor:///a",
        0,
        1,
        "inputs",
    )
    [inp] = table_rows(db, "inputs", run_id)
    assert inp["index"] == "second"


def test_findings_are_linked_to_their_file_and_path(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    findings = {r["code"]: r for r in table_rows(db, "findings", run_id)}
    assert (
        findings["no-equals"]["path"] == "etc/deployment-apps/DCOM_DS_myforwarder/local/inputs.conf"
    )
    assert findings["no-equals"]["line"] == 12
    assert findings["bad-boolean"]["path"] == findings["no-equals"]["path"]
    assert findings["bad-boolean"]["line"] == 13
    assert findings["member-refused"]["path"] == "etc/apps/x/local/evil.conf"
    f = TABLES["findings"]
    with db.engine.connect() as conn:
        linked = dict(
            conn.execute(select(f.c.code, f.c.conf_file_id).where(f.c.run_id == run_id)).all()
        )
    assert linked["member-refused"] is None
    assert linked["no-equals"] is not None and linked["no-equals"] == linked["bad-boolean"]


def test_meta_files_get_stanzas_but_no_typed_rows(db: Database) -> None:
    run_id, file_id = stored_run(db)
    # a .meta file whose name is a typed conf type must still not be read as inputs.conf
    body = "[]\nexport = system\n"
    where = Provenance(Layer.DEPLOYMENT_APP, "x", Scope.DEFAULT, "inputs")
    meta = ConfMember(
        file_id, "etc/deployment-apps/x/metadata/inputs.meta", "0" * 64, 20, where, conf(body)
    )
    replace_run_conf(db.engine, run_id, [meta])
    counts = run_counts(db.engine, run_id)
    assert (counts["stanzas"], counts["inputs"]) == (1, 0)


def test_list_stanzas_orders_by_file_then_order_and_filters(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    with db.engine.connect() as conn:
        listed = list_stanzas(conn, run_id)
    paths = [s["path"] for s in listed]
    assert paths == sorted(paths)
    assert set(listed[0]) == {"conf_type", "name", "app", "scope", "layer", "path", "settings"}
    forwarder_inputs = [s["name"] for s in listed if s["conf_type"] == "inputs"]
    assert forwarder_inputs == ["default", "monitor:///var/log/secure", "udp://514"]
    monitor = next(s for s in listed if s["name"] == "monitor:///var/log/secure")
    # first-seen key order, which JSONB does not keep
    assert list(monitor["settings"]) == ["sourcetype", "index", "disabled", "_TCP_ROUTING"]
    assert (monitor["layer"], monitor["scope"], monitor["app"]) == (
        "deployment_app",
        "local",
        "DCOM_DS_myforwarder",
    )

    by_type = list_stanzas(db.engine, run_id, conf_type="serverclass")
    assert [s["name"] for s in by_type] == [
        "global",
        "serverClass:Forwarder",
        "serverClass:Forwarder:app:DCOM_DS_myforwarder",
    ]
    by_app = list_stanzas(db.engine, run_id, app="Splunk_TA_paloalto")
    assert {s["conf_type"] for s in by_app} == {"props", "transforms"}
    assert [s["layer"] for s in list_stanzas(db.engine, run_id, layer="system")] == ["system"] * 3
    assert list_stanzas(db.engine, run_id, conf_type="savedsearches") == []


def test_counts_through_a_session_a_connection_and_an_engine(db: Database) -> None:
    run_id, file_id = stored_run(db)
    empty = dict.fromkeys(COUNTED, 0)
    assert run_counts(db.engine, run_id) == empty
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    with db.session() as session:
        assert run_counts(session, run_id) == EXPECTED_COUNTS
    with db.engine.connect() as conn:
        assert run_counts(conn, run_id) == EXPECTED_COUNTS
    assert run_counts(db.engine, run_id + 1000) == empty


# -- replace -----------------------------------------------------------------------------------


def test_replacing_twice_leaves_the_same_rows_and_no_duplicates(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    first = snapshot(db, run_id)
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    assert snapshot(db, run_id) == first
    assert run_counts(db.engine, run_id) == EXPECTED_COUNTS


def test_replace_drops_what_the_new_content_lacks_and_leaves_other_runs_alone(
    db: Database,
) -> None:
    run_id, file_id = stored_run(db)
    other_id, other_file = stored_run(db, "b")
    replace_run_conf(db.engine, run_id, bundle(file_id))
    replace_run_conf(db.engine, other_id, bundle(other_file))
    smaller = [member(file_id, "etc/system/local/outputs.conf", OUTPUTS)]
    assert replace_run_conf(db.engine, run_id, smaller)["outputs"] == 2
    counts = run_counts(db.engine, run_id)
    assert counts == dict.fromkeys(COUNTED, 0) | {"conf_files": 1, "stanzas": 2, "outputs": 2}
    assert run_counts(db.engine, other_id) == EXPECTED_COUNTS | {"findings": 2}


def test_a_failing_member_iterator_leaves_the_previous_rows(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    before = snapshot(db, run_id)

    def broken() -> Iterator[ConfMember]:
        yield from bundle(file_id)
        raise OSError("the blob store went away")

    with pytest.raises(OSError, match="went away"):
        # a chunk of 4 rows: several flushes (on a thread on PostgreSQL) before the failure
        replace_run_conf(db.engine, run_id, broken(), chunk_rows=4)
    assert snapshot(db, run_id) == before
    # the engine's connections are still usable
    assert run_counts(db.engine, run_id)["stanzas"] == 12


def test_small_chunks_write_the_same_rows(db: Database) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    whole = snapshot(db, run_id)
    assert replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings(), chunk_rows=1)
    assert snapshot(db, run_id) == whole


def test_many_files_and_stanzas_get_distinct_ids(db: Database) -> None:
    """More ids than one allocation batch, of both conf files and stanzas."""
    run_id, file_id = stored_run(db)
    body = "".join(f"[monitor:///var/log/{n}]\nindex = os\n\n" for n in range(40))
    members = [
        member(file_id, f"etc/deployment-apps/a{n:03}/local/inputs.conf", body) for n in range(60)
    ]
    written = replace_run_conf(db.engine, run_id, members, chunk_rows=500)
    assert (written["conf_files"], written["stanzas"], written["inputs"]) == (60, 2400, 2400)
    s, i = TABLES["stanzas"], TABLES["inputs"]
    with db.engine.connect() as conn:
        orphans = conn.execute(
            select(i.c.id).outerjoin(s, s.c.id == i.c.stanza_id).where(s.c.id.is_(None))
        ).all()
    assert orphans == []


def test_replace_in_the_callers_transaction_commits_with_it(db: Database) -> None:
    run_id, file_id = stored_run(db)
    with db.engine.connect() as conn, conn.begin() as transaction:
        replace_run_conf(conn, run_id, bundle(file_id))
        assert run_counts(conn, run_id)["stanzas"] == 12
        transaction.rollback()
    assert run_counts(db.engine, run_id)["stanzas"] == 0
    with db.engine.connect() as conn:
        replace_run_conf(conn, run_id, bundle(file_id))  # no transaction open: its own
    assert run_counts(db.engine, run_id)["stanzas"] == 12


def test_a_constraint_violation_is_sqlalchemys_error_and_writes_nothing(db: Database) -> None:
    """COPY runs on the driver's connection: its errors must look like SQLAlchemy's."""
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    with pytest.raises(IntegrityError):
        replace_run_conf(db.engine, run_id, bundle(file_id + 1000))  # no such files row
    assert run_counts(db.engine, run_id) == EXPECTED_COUNTS | {"findings": 2}


def test_an_unknown_run_is_refused(db: Database) -> None:
    with pytest.raises(RunNotFound):
        replace_run_conf(db.engine, 999_999, [])


def test_nul_characters_are_replaced_with_a_finding(db: Database) -> None:
    """PostgreSQL's text and JSONB cannot hold NUL; a binary file parsed as text has them."""
    run_id, file_id = stored_run(db)
    body = "[monitor:///x\x00y]\nindex = o\x00s\nsourcetype = a\\u0000b\n"
    replace_run_conf(db.engine, run_id, [member(file_id, "etc/system/local/inputs.conf", body)])
    [stanza] = list_stanzas(db.engine, run_id)
    assert stanza["name"] == "monitor:///x\ufffdy"
    # a literal backslash-u0000 is text, not a NUL: kept
    assert stanza["settings"] == {"index": "o\ufffds", "sourcetype": "a\\u0000b"}
    [inp] = table_rows(db, "inputs", run_id)
    assert inp["index"] == "o\ufffds"
    assert [f["code"] for f in table_rows(db, "findings", run_id)] == ["nul-replaced"]


def test_a_literal_backslash_u0000_alone_is_no_finding(db: Database) -> None:
    run_id, file_id = stored_run(db)
    body = "[t]\nREGEX = \\u0000\n"
    replace_run_conf(db.engine, run_id, [member(file_id, "etc/system/local/transforms.conf", body)])
    [transform] = table_rows(db, "transforms", run_id)
    assert transform["regex"] == "\\u0000"
    assert run_counts(db.engine, run_id)["findings"] == 0


# -- cascades ----------------------------------------------------------------------------------


def test_deleting_a_run_cascades_to_every_normalized_table(db: Database) -> None:
    run_id, file_id = stored_run(db)
    other_id, other_file = stored_run(db, "b")
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    replace_run_conf(db.engine, other_id, bundle(other_file))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingestion_runs WHERE id = :id"), {"id": run_id})
    assert run_counts(db.engine, run_id) == dict.fromkeys(COUNTED, 0)
    assert run_counts(db.engine, other_id)["stanzas"] == 12


def test_deleting_a_files_row_cascades_to_its_conf_files_stanzas_and_findings(
    db: Database,
) -> None:
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM files WHERE id = :id"), {"id": file_id})
    counts = run_counts(db.engine, run_id)
    assert (counts["conf_files"], counts["stanzas"]) == (0, 0)
    assert counts["findings"] == 1  # the archive's own finding belongs to the run only


# -- PostgreSQL: concurrent writers ---------------------------------------------------------------


@pytest.mark.postgres
def test_two_replaces_of_one_run_at_once_never_duplicate(pg_url: str) -> None:
    db = Database(pg_url)
    run_id, file_id = stored_run(db)
    errors: list[BaseException] = []
    with db.engine.connect() as first:
        first.begin()
        replace_run_conf(first, run_id, bundle(file_id))  # uncommitted: holds the run's row lock

        def second() -> None:
            try:
                replace_run_conf(db.engine, run_id, bundle(file_id), archive_findings())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 30
        waiting = 0
        with db.engine.connect() as probe:
            while not waiting and time.monotonic() < deadline and thread.is_alive():
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                        "WHERE NOT l.granted AND a.datname = current_database()"
                    )
                ).scalar_one()
                probe.rollback()
        assert waiting, "the second replace did not wait for the first"
        first.commit()
    thread.join(timeout=60)
    assert not errors
    assert run_counts(db.engine, run_id) == EXPECTED_COUNTS
    db.dispose()


@pytest.mark.postgres
def test_concurrent_replaces_of_two_runs_allocate_distinct_ids(pg_url: str) -> None:
    db = Database(pg_url)
    run_a, file_a = stored_run(db)
    run_b, file_b = stored_run(db, "b")
    with db.engine.connect() as first, db.engine.connect() as second:
        first.begin()
        second.begin()
        replace_run_conf(first, run_a, bundle(file_a))
        replace_run_conf(second, run_b, bundle(file_b))
        second.commit()
        first.commit()
    assert run_counts(db.engine, run_a)["stanzas"] == run_counts(db.engine, run_b)["stanzas"] == 12
    db.dispose()


@pytest.mark.postgres
def test_settings_are_jsonb_and_containment_queries_work(pg_url: str) -> None:
    db = Database(pg_url)
    run_id, file_id = stored_run(db)
    replace_run_conf(db.engine, run_id, bundle(file_id))
    with db.engine.connect() as conn:
        names = (
            conn.execute(
                text(
                    "SELECT name FROM stanzas WHERE run_id = :id "
                    """AND settings @> '{"index": "os"}'::jsonb"""
                ),
                {"id": run_id},
            )
            .scalars()
            .all()
        )
        kind = conn.execute(
            text("SELECT jsonb_typeof(settings) FROM stanzas WHERE run_id = :id LIMIT 1"),
            {"id": run_id},
        ).scalar_one()
    assert names == ["monitor:///var/log/secure"]
    assert kind == "object"
    db.dispose()
