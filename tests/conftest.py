"""Shared fixtures: configs, databases (SQLite always, PostgreSQL when available) and S3.

Services are skipped when absent, but required when AUTODOC_TEST_REQUIRE_SERVICES=1 (CI), so a
green run can never come from skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from daemon import migrate
from daemon.config import Config, load_config
from daemon.database import Database

pytest_plugins = ["tests.s3_server"]

REQUIRE_SERVICES = os.environ.get("AUTODOC_TEST_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("AUTODOC_TEST_DATABASE_URL", "")


def service_missing(reason: str) -> None:
    """Skip locally, fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """cli.main() points structlog at the sys.stdout of its test; don't let the next test
    write to that closed capture."""
    yield
    structlog.reset_defaults()


# -- config --------------------------------------------------------------------------------


def write_config(folder: Path, body: str = "", *, database_url: str | None = None) -> Path:
    """A config file in `folder` with everything under it; `body` is appended TOML."""
    url = database_url or "sqlite:///var/autodoc.db"
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n'
        '[inbox]\npath = "var/inbox"\nfailed_path = "var/failed"\nsettle_seconds = 0.0\n'
        '[storage]\npath = "var/blobs"\n' + body,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AUTODOC_DATABASE_URL", raising=False)
    monkeypatch.delenv("AUTODOC_CONFIG", raising=False)
    return write_config(tmp_path)


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


# -- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated once to head; tests clone it (CREATE DATABASE TEMPLATE)."""
    for url in _pg_database(template=None):
        db = Database(url)
        migrate.upgrade(db.engine)
        db.dispose()
        yield url


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    yield from _pg_database(template=None)


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at head."""
    yield from _pg_database(template=make_url(pg_template).database)


def _pg_database(template: str | None) -> Iterator[str]:
    if not PG_URL:
        service_missing("AUTODOC_TEST_DATABASE_URL is not set")
    admin = make_url(PG_URL)
    name = f"autodoc_t_{uuid.uuid4().hex[:10]}"
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    except Exception as exc:
        service_missing(f"PostgreSQL at {admin.render_as_string()} unreachable: {exc}")
    yield admin.set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'autodoc.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_empty_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database on each engine."""
    if request.param == "sqlite":
        database = Database(request.getfixturevalue("sqlite_url"))
        migrate.upgrade(database.engine)
    else:
        database = Database(request.getfixturevalue("pg_url"))
    yield database
    database.dispose()
