"""Schemas 001 and 002 on SQLite and PostgreSQL: exactly the seed's schema, then the
normalized configuration tables; reversible, no drift, cascades."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from daemon import migrate
from daemon.database import Database
from daemon.models import Base
from daemon.resolve.load import stored_findings
from tests.conftest import write_config

ADVISORY_LOCK_KEY = 0x5A17D0C  # migrations/env.py

SEED_COLUMNS = {
    "ingestion_runs": {
        "id": ("INTEGER", False),
        "created_at": ("TIMESTAMP", False),
        "type": ("VARCHAR(50)", False),
        "label": ("VARCHAR(255)", True),
        "status": ("VARCHAR(50)", False),
        "notes": ("TEXT", True),
    },
    "files": {
        "id": ("INTEGER", False),
        "run_id": ("INTEGER", False),
        "path": ("VARCHAR(1024)", False),
        "sha256": ("VARCHAR(64)", False),
        "size_bytes": ("BIGINT", False),
        "stored_object_key": ("VARCHAR(512)", False),
    },
}
SEED_INDEXES = {
    "ingestion_runs": {
        "ix_ingestion_runs_created_at": ["created_at"],
        "ix_ingestion_runs_status": ["status"],
    },
    "files": {"ix_files_run_id": ["run_id"], "ix_files_sha256": ["sha256"]},
}


def _type(t: object) -> str:
    return str(t).upper().replace("DATETIME", "TIMESTAMP")


def assert_exactly_the_seed_schema(inspector: Any) -> None:
    assert set(inspector.get_table_names()) == {"alembic_version", "ingestion_runs", "files"}
    for table, columns in SEED_COLUMNS.items():
        found = {c["name"]: (_type(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
        assert found == columns
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
        assert indexes == SEED_INDEXES[table]


def test_upgrade_001_creates_exactly_the_seed_schema(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "001")
    inspector = inspect(db.engine)
    assert_exactly_the_seed_schema(inspector)
    for table in SEED_COLUMNS:
        assert inspector.get_pk_constraint(table)["constrained_columns"] == ["id"]
    [fk] = inspector.get_foreign_keys("files")
    assert (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]) == (
        ["run_id"],
        "ingestion_runs",
        ["id"],
    )
    assert fk["options"]["ondelete"] == "CASCADE"
    db.dispose()


@pytest.mark.postgres
def test_postgres_columns_have_the_documented_sql_types(pg_empty_url: str) -> None:
    db = Database(pg_empty_url)
    migrate.upgrade(db.engine, "001")
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, data_type, character_maximum_length "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name IN ('ingestion_runs', 'files')"
            )
        ).all()
    types = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    assert types[("ingestion_runs", "created_at")] == ("timestamp with time zone", None)
    assert types[("ingestion_runs", "status")] == ("character varying", 50)
    assert types[("ingestion_runs", "notes")] == ("text", None)
    assert types[("files", "size_bytes")] == ("bigint", None)
    assert types[("files", "stored_object_key")] == ("character varying", 512)
    db.dispose()


def test_downgrade_base_removes_the_schema(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "001")
    migrate.downgrade(db.engine, "base")
    tables = set(inspect(db.engine).get_table_names())
    assert not tables & {"ingestion_runs", "files"}
    assert migrate.current_revision(db.engine) is None
    db.dispose()


def test_models_and_migrated_database_do_not_drift(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine)
    with db.engine.connect() as conn:

        def include(item: object, name: str | None, kind: str, *_: object) -> bool:
            # Alembic ignores .ddl_if(): the GIN index is PostgreSQL's only.
            return kind != "index" or migrate.applies_to(item, conn.dialect)

        opts = {"compare_type": True, "include_object": include}
        context = MigrationContext.configure(conn, opts=opts)
        with warnings.catch_warnings():
            if conn.dialect.name == "sqlite":
                # The md5 expression indexes are PostgreSQL's only (include() leaves them
                # out), but Alembic warns that SQLite cannot reflect such indexes first.
                warnings.filterwarnings(
                    "ignore", "autogenerate skipping metadata-specified expression-based index"
                )
            assert compare_metadata(context, Base.metadata) == []
    db.dispose()


def test_db_check_passes_at_head_and_names_a_missing_index(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_files_sha256"))
    failed = [c for c in migrate.check(db.engine) if not c.ok]
    assert [(c.name, c.detail) for c in failed] == [("index ix_files_sha256", "missing")]
    db.dispose()


def test_db_check_reports_a_database_behind_head(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    checks = {c.name: c for c in migrate.check(db.engine)}
    assert not checks["table ingestion_runs"].ok
    assert not checks["revision at head"].ok
    db.dispose()


def test_deleting_a_run_cascades_to_its_files(db: Database) -> None:
    from daemon.database import FileRecord
    from daemon.models import UploadType

    run_id = db.create_run(UploadType.DS_ETC, "x", "n")
    db.mark_stored(run_id, FileRecord("a.tgz", "a" * 64, 3, "k"), lambda _earlier: "stored")
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingestion_runs WHERE id = :id"), {"id": run_id})
        assert conn.execute(text("SELECT count(*) FROM files")).scalar() == 0


def test_timestamps_come_back_as_aware_utc(db: Database) -> None:
    from datetime import UTC

    from daemon.models import UploadType

    run = db.get_run(db.create_run(UploadType.SINGLE_CONF, None, None or ""))
    assert run.created_at.tzinfo is not None
    assert run.created_at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.postgres
def test_upgrade_on_postgres_waits_for_the_migration_advisory_lock(
    pg_empty_url: str, tmp_path: Path
) -> None:
    """A second host (here: this test holding the lock) makes `db upgrade` wait its turn."""
    config = write_config(tmp_path, database_url=pg_empty_url)
    env = {**os.environ, "AUTODOC_CONFIG": str(config)}
    env.pop("AUTODOC_DATABASE_URL", None)
    db = Database(pg_empty_url)
    with db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        holder.commit()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            waiting = 0
            while time.monotonic() < deadline and not waiting and proc.poll() is None:
                waiting = holder.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar_one()
                holder.commit()
            assert waiting == 1, "db upgrade did not wait for the advisory lock"
            assert proc.poll() is None
            assert migrate.current_revision(db.engine) is None
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            holder.commit()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


def test_a_run_finished_elsewhere_is_not_finished_twice(db: Database) -> None:
    """Where file locks do not reach (NFS without lockd) the database is the arbiter."""
    from daemon.database import FileRecord
    from daemon.models import UploadType

    run_id = db.create_run(UploadType.DS_ETC, None, "n")
    record = FileRecord("a.tgz", "b" * 64, 3, "k")
    assert db.mark_stored(run_id, record, lambda _e: "stored") is True
    assert db.mark_stored(run_id, record, lambda _e: "again") is False
    assert db.mark_failed(run_id, "failed") is False
    run = db.get_run(run_id)
    assert (run.status.value, run.notes, len(run.files)) == ("stored", "stored", 1)


# -- 002: normalized configuration -------------------------------------------------------------

# "ID" is BIGINT on PostgreSQL and INTEGER on SQLite (the rowid alias); "DOC" JSONB and JSON.
_PROVENANCE = {
    "app": ("TEXT", True),
    "scope": ("VARCHAR(50)", True),
    "layer": ("VARCHAR(50)", True),
}
_TYPED = {
    "id": ("ID", False),
    "run_id": ("INTEGER", False),
    "stanza_id": ("ID", False),
    "name": ("TEXT", False),
    **_PROVENANCE,
}
SCHEMA_002_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "parse_claims": {
        "run_id": ("INTEGER", False),
        "owner": ("VARCHAR(255)", False),
        "claimed_at": ("TIMESTAMP", False),
        "heartbeat_at": ("TIMESTAMP", False),
        "attempts": ("INTEGER", False),
    },
    "conf_files": {
        "id": ("ID", False),
        "run_id": ("INTEGER", False),
        "file_id": ("INTEGER", False),
        "path": ("TEXT", False),
        "sha256": ("VARCHAR(64)", False),
        "size_bytes": ("BIGINT", False),
        "encoding": ("VARCHAR(50)", False),
        "conf_type": ("TEXT", False),
        **_PROVENANCE,
    },
    "stanzas": {
        "id": ("ID", False),
        "run_id": ("INTEGER", False),
        "conf_file_id": ("ID", False),
        "conf_type": ("TEXT", False),
        "name": ("TEXT", False),
        "order_in_file": ("INTEGER", False),
        "line": ("INTEGER", False),
        "settings": ("DOC", False),
        "occurrences": ("JSON", False),
        **_PROVENANCE,
    },
    "findings": {
        "id": ("ID", False),
        "run_id": ("INTEGER", False),
        "conf_file_id": ("ID", True),
        "code": ("VARCHAR(100)", False),
        "message": ("TEXT", False),
        "line": ("INTEGER", False),
        "path": ("TEXT", True),
    },
    "inputs": {
        **_TYPED,
        "stanza_type": ("TEXT", False),
        "target": ("TEXT", True),
        "index": ("TEXT", True),
        "sourcetype": ("TEXT", True),
        "host": ("TEXT", True),
        "disabled": ("BOOLEAN", True),
        "tcp_routing": ("JSON", True),
        "syslog_routing": ("JSON", True),
    },
    "props": {
        **_TYPED,
        "target_kind": ("VARCHAR(50)", False),
        "pattern": ("TEXT", False),
        "sourcetype": ("TEXT", True),
        "priority": ("INTEGER", True),
        "transforms": ("JSON", False),
        "rulesets": ("JSON", False),
        "sedcmds": ("JSON", False),
    },
    "transforms": {
        **_TYPED,
        "regex": ("TEXT", True),
        "format": ("TEXT", True),
        "dest_key": ("TEXT", True),
        "source_key": ("TEXT", True),
        "ingest_eval": ("TEXT", True),
        "rewrites_index": ("BOOLEAN", False),
        "rewrites_sourcetype": ("BOOLEAN", False),
        "routes": ("BOOLEAN", False),
        "null_queue": ("BOOLEAN", False),
    },
    "indexes": {
        **_TYPED,
        "kind": ("VARCHAR(50)", False),
        "datatype": ("TEXT", True),
        "home_path": ("TEXT", True),
        "cold_path": ("TEXT", True),
        "thawed_path": ("TEXT", True),
        "cold_to_frozen_dir": ("TEXT", True),
        "frozen_time_period_in_secs": ("BIGINT", True),
        "max_total_data_size_mb": ("BIGINT", True),
        "max_data_size": ("TEXT", True),
        "rep_factor": ("TEXT", True),
        "disabled": ("BOOLEAN", True),
    },
    "outputs": {
        **_TYPED,
        "kind": ("VARCHAR(50)", False),
        "group_name": ("TEXT", True),
        "servers": ("JSON", True),
        "default_group": ("JSON", True),
        "index_and_forward": ("BOOLEAN", True),
        "disabled": ("BOOLEAN", True),
    },
    "serverclasses": {
        **_TYPED,
        "kind": ("VARCHAR(50)", False),
        "server_class": ("TEXT", True),
        "deployed_app": ("TEXT", True),
        "whitelist": ("JSON", True),
        "blacklist": ("JSON", True),
        "whitelist_from_pathname": ("TEXT", True),
        "blacklist_from_pathname": ("TEXT", True),
        "filter_type": ("TEXT", True),
        "machine_types_filter": ("JSON", True),
        "repository_location": ("TEXT", True),
        "state_on_client": ("TEXT", True),
    },
}
TYPED_TABLES = ("inputs", "props", "transforms", "indexes", "outputs", "serverclasses")
# name -> (columns, unique)
SCHEMA_002_INDEXES: dict[str, dict[str, tuple[list[str], bool]]] = {
    "parse_claims": {},  # its primary key is the run
    "conf_files": {
        "ix_conf_files_run_id": (["run_id"], False),
        "ix_conf_files_file_id": (["file_id"], False),
    },
    "stanzas": {
        "ix_stanzas_run_id": (["run_id"], False),
        "ix_stanzas_conf_file_id_order_in_file": (["conf_file_id", "order_in_file"], True),
    },
    "findings": {
        "ix_findings_run_id": (["run_id"], False),
        "ix_findings_conf_file_id": (["conf_file_id"], False),
    },
    **{t: {f"ix_{t}_run_id": (["run_id"], False)} for t in TYPED_TABLES},
}
# (table, column) -> referred table; every one ON DELETE CASCADE
SCHEMA_002_FKS = {
    **{(t, "run_id"): "ingestion_runs" for t in SCHEMA_002_COLUMNS},
    ("conf_files", "file_id"): "files",
    ("stanzas", "conf_file_id"): "conf_files",
    ("findings", "conf_file_id"): "conf_files",
}


def _dialect_type(kind: str, dialect: str) -> str:
    postgres = dialect == "postgresql"
    return {"ID": "BIGINT" if postgres else "INTEGER", "DOC": "JSONB" if postgres else "JSON"}.get(
        kind, kind
    )


def test_upgrade_002_creates_the_normalized_tables(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "002")
    dialect = db.engine.dialect.name
    inspector = inspect(db.engine)
    assert set(inspector.get_table_names()) == {
        "alembic_version",
        *SEED_COLUMNS,
        *SCHEMA_002_COLUMNS,
    }
    fks = {}
    for table, columns in SCHEMA_002_COLUMNS.items():
        found = {c["name"]: (_type(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
        assert found == {k: (_dialect_type(t, dialect), n) for k, (t, n) in columns.items()}, table
        indexes = {
            i["name"]: (i["column_names"], bool(i["unique"]))
            for i in inspector.get_indexes(table)
            if i["name"] != "ix_stanzas_settings"
        }
        assert indexes == SCHEMA_002_INDEXES[table], table
        primary_key = ["run_id"] if table == "parse_claims" else ["id"]
        assert inspector.get_pk_constraint(table)["constrained_columns"] == primary_key
        for fk in inspector.get_foreign_keys(table):
            [column] = fk["constrained_columns"]
            assert fk["referred_columns"] == ["id"]
            assert fk["options"]["ondelete"] == "CASCADE", (table, column)
            fks[(table, column)] = fk["referred_table"]
    assert fks == SCHEMA_002_FKS
    gin = [i for i in inspector.get_indexes("stanzas") if i["name"] == "ix_stanzas_settings"]
    if dialect == "postgresql":
        [index] = gin
        assert index["column_names"] == ["settings"]
        assert index["dialect_options"]["postgresql_using"] == "gin"
        assert index["dialect_options"]["postgresql_ops"] == {"settings": "jsonb_path_ops"}
    else:
        assert gin == []  # a B-tree over JSON text would only cost
    db.dispose()


def test_downgrade_to_001_restores_exactly_001_and_upgrades_again(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine)
    migrate.downgrade(db.engine, "001")
    assert migrate.current_revision(db.engine) == "001"
    assert_exactly_the_seed_schema(inspect(db.engine))
    if db.is_postgresql:  # nothing of 002 left behind: no sequence, no index
        with db.engine.connect() as conn:
            left = (
                conn.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                        "AND relname NOT LIKE 'ingestion_runs%' AND relname NOT LIKE 'files%' "
                        "AND relname NOT LIKE 'ix_ingestion_runs%' "
                        "AND relname NOT LIKE 'ix_files%' "
                        "AND relname NOT LIKE 'pk_%' AND relname NOT LIKE 'alembic_version%'"
                    )
                )
                .scalars()
                .all()
            )
        assert left == []
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


def test_db_check_at_head_covers_the_002_tables(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine)
    checks = {c.name: c for c in migrate.check(db.engine)}
    assert all(c.ok for c in checks.values())
    for table in SCHEMA_002_COLUMNS:
        assert checks[f"table {table}"].ok
    assert "foreign key stanzas.conf_file_id -> conf_files.id" in checks
    assert "column stanzas.settings" in checks
    if db.is_postgresql:
        assert checks["column stanzas.settings"].detail == "JSONB"
        assert checks["index ix_stanzas_settings"].detail == (
            "on settings using gin (jsonb_path_ops)"
        )
    else:
        assert "index ix_stanzas_settings" not in checks
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_stanzas_conf_file_id_order_in_file"))
        conn.execute(
            text(
                "CREATE INDEX ix_stanzas_conf_file_id_order_in_file "
                "ON stanzas (conf_file_id, order_in_file)"
            )
        )
    failed = [(c.name, c.detail) for c in migrate.check(db.engine) if not c.ok]
    assert failed == [
        ("index ix_stanzas_conf_file_id_order_in_file", "unique=False, expected True")
    ]
    db.dispose()


@pytest.mark.postgres
def test_db_check_names_a_gin_index_that_is_missing_or_a_btree(pg_empty_url: str) -> None:
    db = Database(pg_empty_url)
    migrate.upgrade(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_stanzas_settings"))
    failed = [(c.name, c.detail) for c in migrate.check(db.engine) if not c.ok]
    assert failed == [("index ix_stanzas_settings", "missing")]
    with db.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_stanzas_settings ON stanzas USING gin (settings)"))
    [check] = [c for c in migrate.check(db.engine) if not c.ok]
    assert check.detail == "operator classes {}, expected {'settings': 'jsonb_path_ops'}"
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_stanzas_settings"))
        conn.execute(text("CREATE INDEX ix_stanzas_settings ON stanzas (md5(settings::text))"))
    [check] = [c for c in migrate.check(db.engine) if not c.ok]
    assert "using btree, expected gin" in check.detail
    db.dispose()


def test_sqlite_connections_enforce_foreign_keys(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_deleting_a_run_cascades_to_every_002_table(db: Database) -> None:
    """One row in each table, by plain SQL, then the run goes: nothing of it is left."""
    from daemon.database import FileRecord
    from daemon.models import UploadType

    run_id = db.create_run(UploadType.DS_ETC, "x", "n")
    db.mark_stored(run_id, FileRecord("a.tgz", "c" * 64, 3, "k"), lambda _e: "stored")
    keep_id = db.create_run(UploadType.DS_ETC, "y", "n")
    db.mark_stored(keep_id, FileRecord("b.tgz", "d" * 64, 3, "k"), lambda _e: "stored")
    tables = Base.metadata.tables
    with db.engine.begin() as conn:
        for run in (run_id, keep_id):
            file_id = conn.execute(
                text("SELECT id FROM files WHERE run_id = :r"), {"r": run}
            ).scalar()
            conf_file_id = conn.execute(
                tables["conf_files"].insert().returning(tables["conf_files"].c.id),
                {"run_id": run, "file_id": file_id, "path": "etc/system/local/inputs.conf",
                 "sha256": "e" * 64, "size_bytes": 1, "encoding": "utf-8", "conf_type": "inputs"},
            ).scalar_one()  # fmt: skip
            stanza_id = conn.execute(
                tables["stanzas"].insert().returning(tables["stanzas"].c.id),
                {"run_id": run, "conf_file_id": conf_file_id, "conf_type": "inputs", "name": "x",
                 "order_in_file": 0, "line": 1, "settings": {"a": "b"},
                 "occurrences": [["a", "b", 2]]},
            ).scalar_one()  # fmt: skip
            conn.execute(
                tables["findings"].insert(),
                {
                    "run_id": run,
                    "conf_file_id": conf_file_id,
                    "code": "c",
                    "message": "m",
                    "line": 0,
                },
            )
            base = {"run_id": run, "stanza_id": stanza_id, "name": "x"}
            flags = dict.fromkeys(
                ("rewrites_index", "rewrites_sourcetype", "routes", "null_queue"), False
            )
            lists = {"transforms": [], "rulesets": [], "sedcmds": []}
            conn.execute(tables["inputs"].insert(), base | {"stanza_type": "monitor"})
            conn.execute(
                tables["props"].insert(),
                base | {"target_kind": "sourcetype", "pattern": "x"} | lists,
            )
            conn.execute(tables["transforms"].insert(), base | flags)
            conn.execute(tables["indexes"].insert(), base | {"kind": "index"})
            conn.execute(tables["outputs"].insert(), base | {"kind": "tcpout"})
            conn.execute(tables["serverclasses"].insert(), base | {"kind": "global"})
            now = datetime.now(UTC)
            conn.execute(
                tables["parse_claims"].insert(),
                {
                    "run_id": run,
                    "owner": "host:1",
                    "claimed_at": now,
                    "heartbeat_at": now,
                    "attempts": 1,
                },
            )
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingestion_runs WHERE id = :id"), {"id": run_id})
    with db.engine.connect() as conn:
        for table in SCHEMA_002_COLUMNS:
            left = conn.execute(text(f"SELECT run_id, count(*) FROM {table} GROUP BY run_id")).all()
            assert [tuple(r) for r in left] == [(keep_id, 1)], table


# -- 003: run_claims ---------------------------------------------------------------------------


def test_upgrade_003_backfills_run_claims_from_the_notes_and_downgrades(empty_db_url: str) -> None:
    """Runs made before 003 kept their claim token only in notes. A second run carries a
    token when the old time-windowed lookup missed the first; from then on that lookup found
    the newer one, so the newer keeps it and the orphaned older one, still pending, is failed.
    A feeder's file name may hold a fake marker: the token is the last one on the first line."""
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "002")
    notes = [
        "claimed from /in/ds_etc/a.tgz [claim 0123456789abcdef]",
        "stored from /in/ds_etc/b.tgz [claim fedcba9876543210]\nparsed: 3 conf files",
        "claimed from /in/ds_etc/a.tgz [claim 0123456789abcdef]",  # the duplicate, later
        "stored from /home/me/c.tgz",  # `autodoc ingest`: no claim
        "claimed from /in/ds_etc/x [claim 1111111111111111].tgz [claim 2222222222222222]",
    ]
    with db.engine.begin() as conn:
        ids = [
            conn.execute(
                text(
                    "INSERT INTO ingestion_runs (created_at, type, status, notes)"
                    " VALUES (:at, 'ds_etc', 'pending', :notes) RETURNING id"
                ),
                {"at": datetime.now(UTC), "notes": n},
            ).scalar_one()
            for n in notes
        ]
    migrate.upgrade(db.engine)
    with db.engine.connect() as conn:
        claims = dict(conn.execute(text("SELECT token, run_id FROM run_claims")).all())
    assert claims == {
        "0123456789abcdef": ids[2],
        "fedcba9876543210": ids[1],
        "2222222222222222": ids[4],
    }
    with db.engine.connect() as conn:
        status = dict(conn.execute(text("SELECT id, status FROM ingestion_runs")).all())
    assert (status[ids[0]], status[ids[2]]) == ("failed", "pending")
    inspector = inspect(db.engine)
    assert inspector.get_pk_constraint("run_claims")["constrained_columns"] == ["token"]
    [fk] = inspector.get_foreign_keys("run_claims")
    assert (fk["referred_table"], fk["options"]["ondelete"]) == ("ingestion_runs", "CASCADE")
    assert {i["name"]: i["column_names"] for i in inspector.get_indexes("run_claims")} == {
        "ix_run_claims_run_id": ["run_id"]
    }
    assert all(c.ok for c in migrate.check(db.engine))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingestion_runs WHERE id = :id"), {"id": ids[2]})
        assert conn.execute(text("SELECT count(*) FROM run_claims")).scalar() == 2
    migrate.downgrade(db.engine, "002")
    assert "run_claims" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


# -- 004: the estate ---------------------------------------------------------------------------

SCHEMA_004_INDEXES = {
    "inventory_rows": {"ix_inventory_rows_run_id": ["run_id"]},
    "bundle_dirs": {"ix_bundle_dirs_run_id": ["run_id"]},
    "resolutions": {"ix_resolutions_status": ["status"]},
    "hosts": {"ix_hosts_resolution_id_name": ["resolution_id", "name"]},
    "host_memberships": {
        "ix_host_memberships_host_id": ["host_id"],
        "ix_host_memberships_resolution_id_serverclass": ["resolution_id", "serverclass"],
    },
    "host_apps": {
        "ix_host_apps_host_id": ["host_id"],
        "ix_host_apps_resolution_id_app": ["resolution_id", "app"],
    },
    "host_effective_inputs": {
        "ix_host_effective_inputs_resolution_id_stack": ["resolution_id", "stack"]
    },
    "resolution_findings": {
        "ix_resolution_findings_resolution_id_code": ["resolution_id", "code"],
        "ix_resolution_findings_resolution_id_host": ["resolution_id", "host"],
    },
}


def test_upgrade_004_creates_the_estate_tables_every_row_cascading_from_its_resolution(
    empty_db_url: str,
) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "004")
    inspector = inspect(db.engine)
    for table, indexes in SCHEMA_004_INDEXES.items():
        found = {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
        assert found == indexes, table
        for fk in inspector.get_foreign_keys(table):
            assert fk["options"]["ondelete"] == "CASCADE", table
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        rid = conn.execute(
            text(
                "INSERT INTO resolutions (created_at, status, inputs)"
                " VALUES (:now, 'complete', '{}') RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        host = conn.execute(
            text(
                "INSERT INTO hosts (resolution_id, name, role, sources)"
                " VALUES (:r, 'web-01', 'uf', '[]') RETURNING id"
            ),
            {"r": rid},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO host_memberships (resolution_id, host_id, serverclass, result, why,"
                " missing) VALUES (:r, :h, 'web', 'member', '{}', '[]')"
            ),
            {"r": rid, "h": host},
        )
        conn.execute(
            text(
                "INSERT INTO host_apps (resolution_id, host_id, app, serverclasses, result,"
                " in_repository, why) VALUES (:r, :h, 'nix', '[]', 'deployed', true, '{}')"
            ),
            {"r": rid, "h": host},
        )
        conn.execute(
            text(
                "INSERT INTO host_effective_inputs (resolution_id, stack, stanza, settings)"
                " VALUES (:r, 's', 'monitor:///var/log', '{}')"
            ),
            {"r": rid},
        )
        conn.execute(
            text(
                "INSERT INTO resolution_findings (resolution_id, code, severity, subject,"
                " message, evidence) VALUES (:r, 'APP_UNUSED', 'info', 's', 'm', '[]')"
            ),
            {"r": rid},
        )
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM resolutions WHERE id = :r"), {"r": rid})
    with db.engine.connect() as conn:
        for table in SCHEMA_004_INDEXES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    migrate.downgrade(db.engine, "003")
    assert not set(SCHEMA_004_INDEXES) & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


# -- 005: hash indexes for the estate's names on PostgreSQL -------------------------------------

NAME_LOOKUPS = {
    "hosts": ("name", "ix_hosts_resolution_id"),
    "host_memberships": ("serverclass", "ix_host_memberships_resolution_id"),
    "host_apps": ("app", "ix_host_apps_resolution_id"),
    "resolution_findings": ("host", None),
}


def _methods(db: Database, table: str) -> dict[str, tuple[list[str], str]]:
    """{index: (what it is on, method)} as the database reports them, an expression as
    PostgreSQL spells it."""
    found = {}
    for i in inspect(db.engine).get_indexes(table):
        columns = i["column_names"]
        expressions = i.get("expressions") or columns
        on = [c or str(e) for c, e in zip(columns, expressions, strict=True)]
        found[i["name"]] = (
            on,
            str(i.get("dialect_options", {}).get("postgresql_using") or "btree"),
        )
    return found


def _resolution_with_host(conn: Connection, name: str) -> tuple[int, int]:
    """A complete resolution with one host of that name: (resolution id, host id)."""
    rid = conn.execute(
        text(
            "INSERT INTO resolutions (created_at, status, inputs)"
            " VALUES (:now, 'complete', '{}') RETURNING id"
        ),
        {"now": datetime.now(UTC)},
    ).scalar_one()
    host = conn.execute(
        text(
            "INSERT INTO hosts (resolution_id, name, role, sources)"
            " VALUES (:r, :n, 'uf', '[]') RETURNING id"
        ),
        {"r": rid, "n": name},
    ).scalar_one()
    return int(rid), int(host)


def test_upgrade_005_lets_postgresql_store_a_name_no_btree_entry_can_hold(
    empty_db_url: str,
) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "005")
    for table, (column, by_resolution) in NAME_LOOKUPS.items():
        found = _methods(db, table)
        old = f"ix_{table}_resolution_id_{column}"
        if db.is_postgresql:
            assert old not in found, table
            assert found[f"ix_{table}_{column}"] == ([column], "hash"), table
            if by_resolution:
                assert found[by_resolution] == (["resolution_id"], "btree"), table
        else:  # SQLite has no entry size limit: 004's composite B-trees stay
            assert found[old] == (["resolution_id", column], "btree"), table
    # An incompressible 10 kB name (PostgreSQL compresses a run of one letter).
    name = "".join(f"{i:04x}" for i in range(2_500))
    with db.engine.begin() as conn:
        rid, host = _resolution_with_host(conn, name)
        conn.execute(
            text(
                "INSERT INTO host_apps (resolution_id, host_id, app, serverclasses, result,"
                " in_repository, why) VALUES (:r, :h, :n, '[]', 'deployed', true, '{}')"
            ),
            {"r": rid, "h": host, "n": name},
        )
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT id FROM hosts WHERE name = :n"), {"n": name})
        assert found.scalar_one() == host
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM resolutions"))
    migrate.downgrade(db.engine, "004")
    for table, indexes in SCHEMA_004_INDEXES.items():
        found_columns = {i: c for i, (c, _m) in _methods(db, table).items()}
        assert found_columns == indexes, table
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


# -- 006: data paths ---------------------------------------------------------------------------


def test_upgrade_006_stores_data_paths_their_walks_and_finals_cascading_from_the_resolution(
    empty_db_url: str,
) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "006")
    for table in ("host_data_paths", "data_path_finals"):
        found = _methods(db, table)
        for column in ("index", "sourcetype"):
            if db.is_postgresql:
                assert found[f"ix_{table}_{column}"] == ([column], "hash"), table
            else:
                assert found[f"ix_{table}_resolution_id_{column}"] == (
                    ["resolution_id", column],
                    "btree",
                ), table
    with db.engine.begin() as conn:
        rid, host = _resolution_with_host(conn, "uf1")
        walk = conn.execute(
            text(
                "INSERT INTO data_path_walks (resolution_id, hops, final, may_drop, evidence)"
                " VALUES (:r, '[]', '[]', false, '[]') RETURNING id"
            ),
            {"r": rid},
        ).scalar_one()
        conn.execute(
            text(
                'INSERT INTO host_data_paths (resolution_id, host_id, walk_id, input, "index",'
                " sourcetype, host_field, source, groups, servers, evidence) VALUES (:r, :h, :w,"
                " 'monitor:///a', 'web', 'auto', 'uf1', '/a', '[]', '[]', '[]')"
            ),
            {"r": rid, "h": host, "w": walk},
        )
        conn.execute(
            text(
                'INSERT INTO data_path_finals (resolution_id, walk_id, "index", sourcetype)'
                " VALUES (:r, :w, 'web', 'auto')"
            ),
            {"r": rid, "w": walk},
        )
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM resolutions WHERE id = :r"), {"r": rid})
    tables = ("data_path_walks", "host_data_paths", "data_path_finals")
    with db.engine.connect() as conn:
        for table in tables:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    migrate.downgrade(db.engine, "005")
    assert not set(tables) & set(inspect(db.engine).get_table_names())
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()


# -- 007: name lookups through (resolution_id, md5(name)) B-trees on PostgreSQL ----------------

LOOKUPS_007 = (
    ("hosts", "name"),
    ("host_memberships", "serverclass"),
    ("host_apps", "app"),
    ("resolution_findings", "host"),
    ("host_data_paths", "index"),
    ("host_data_paths", "sourcetype"),
    ("data_path_finals", "index"),
    ("data_path_finals", "sourcetype"),
)


def test_upgrade_007_looks_names_up_by_resolution_and_md5_and_downgrades_to_hash(
    empty_db_url: str,
) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "007")
    for table, column in LOOKUPS_007:
        found = _methods(db, table)
        if db.is_postgresql:
            assert found[f"ix_{table}_resolution_id_{column}_md5"] == (
                ["resolution_id", f"md5({column})"],
                "btree",
            ), table
            assert f"ix_{table}_{column}" not in found, table  # the hash index went
            assert f"ix_{table}_resolution_id" not in found, table
        else:  # unchanged on SQLite
            assert found[f"ix_{table}_resolution_id_{column}"] == (
                ["resolution_id", column],
                "btree",
            ), table
    # A 10 kB incompressible name is stored and found by the lookup the index serves.
    name = "".join(f"{i:04x}" for i in range(2_500))
    with db.engine.begin() as conn:
        rid, _host = _resolution_with_host(conn, name)
        conn.execute(
            text(
                "INSERT INTO resolution_findings (resolution_id, code, severity, host, subject,"
                " message, evidence) VALUES (:r, 'HOST_UNMANAGED', 'info', :n, 's', 'm', '[]')"
            ),
            {"r": rid, "n": name},
        )
    assert [f["host"] for f in stored_findings(db, rid, host=name)] == [name]
    assert stored_findings(db, rid, host=name[:-1]) == []
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM resolutions"))
    migrate.downgrade(db.engine, "006")
    for table, column in LOOKUPS_007:
        if db.is_postgresql:
            assert _methods(db, table)[f"ix_{table}_{column}"] == ([column], "hash"), table
    migrate.upgrade(db.engine)
    assert all(c.ok for c in migrate.check(db.engine))
    db.dispose()
