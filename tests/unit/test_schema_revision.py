"""The revision commands check against (without Alembic) is the newest migration."""

from __future__ import annotations

from sqlalchemy import create_engine

from daemon import migrate
from daemon.database import SCHEMA_REVISION


def test_schema_revision_constant_is_the_migrations_head() -> None:
    engine = create_engine("sqlite://")
    assert migrate.head_revision(engine) == SCHEMA_REVISION
