"""What translate_errors makes of errors a real PostgreSQL raises."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from daemon.database import Database, DatabaseUnavailable, translate_errors


def test_a_program_limit_is_not_an_outage(pg_url: str) -> None:
    # SQLSTATE 54000: an incompressible 10 kB value in a B-tree. psycopg raises it as an
    # OperationalError, yet the same row fails every time: retrying it as an outage would
    # hold the work forever.
    db = Database(pg_url)
    value = "".join(f"{i:04x}" for i in range(2_500))
    try:
        with (
            pytest.raises(OperationalError) as raised,
            translate_errors(),
            db.engine.begin() as conn,
        ):
            conn.execute(text("CREATE TABLE limited (v text)"))
            conn.execute(text("CREATE INDEX ix_limited_v ON limited (v)"))
            conn.execute(text("INSERT INTO limited VALUES (:v)"), {"v": value})
        assert not isinstance(raised.value, DatabaseUnavailable)
        assert getattr(raised.value.orig, "sqlstate", "") == "54000"
    finally:
        db.dispose()


def test_a_connection_refused_is_an_outage() -> None:
    db = Database("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    try:
        with pytest.raises(DatabaseUnavailable), translate_errors(), db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        db.dispose()
