"""The pure modules stay pure: importing them loads no database, storage or CLI code, so they
run (and are tested) with plain data alone."""

from __future__ import annotations

import json
import subprocess
import sys

PURE = [
    "daemon.domain",
    "daemon.inbox",
    "daemon.handlers",
    "daemon.conf.parser",
    "daemon.conf.archive",
    "daemon.conf.normalize",
    "daemon.inventory",
    "daemon.resolve",
    "daemon.docs.diff",
    "daemon.docs.ticket",
]
# Whole packages that must not come along with them.
IMPURE = ["sqlalchemy", "alembic", "psycopg", "boto3", "botocore", "daemon.models", "daemon.cli"]


def test_pure_modules_import_no_database_storage_or_cli_code() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {PURE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    leaked = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in IMPURE)]
    assert leaked == []
