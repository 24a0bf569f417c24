"""Migrations ship inside the wheel and run from an installed package, not only a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from daemon.database import SCHEMA_REVISION
from tests.conftest import write_config

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("splunk_autodoc-*.whl")
    return built


def test_wheel_contains_the_migrations_as_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "daemon/migrations/env.py" in names
    assert "daemon/migrations/versions/001_initial_schema.py" in names
    # The documentation site's templates and assets (daemon/docs).
    for name in ("templates/base.html.j2", "templates/host.html.j2", "static/site.js"):
        assert f"daemon/docs/{name}" in names
    assert "daemon/docs/static/site.css" in names
    assert not any(name.startswith("tests/") for name in names)


def test_db_upgrade_runs_from_the_unpacked_wheel_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    config = write_config(tmp_path)
    # PYTHONPATH comes before the editable checkout on sys.path, so this imports the wheel's copy.
    env = {**os.environ, "PYTHONPATH": str(site), "AUTODOC_CONFIG": str(config)}
    env.pop("AUTODOC_DATABASE_URL", None)
    probe = subprocess.run(
        [sys.executable, "-c", "import daemon.migrate as m; print(m.migrations_dir())"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == str(site / "daemon" / "migrations")
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"database at revision {SCHEMA_REVISION}" in done.stdout
