"""Schema 001 on SQLite and PostgreSQL: exactly the seed's schema, reversible, no drift."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from daemon import migrate
from daemon.database import Database
from daemon.models import Base
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


def test_upgrade_001_creates_exactly_the_seed_schema(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    migrate.upgrade(db.engine, "001")
    inspector = inspect(db.engine)
    assert set(inspector.get_table_names()) == {"alembic_version", "ingestion_runs", "files"}
    for table, columns in SEED_COLUMNS.items():
        found = {c["name"]: (_type(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
        assert found == columns
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table)}
        assert indexes == SEED_INDEXES[table]
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
        context = MigrationContext.configure(conn, opts={"compare_type": True})
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
