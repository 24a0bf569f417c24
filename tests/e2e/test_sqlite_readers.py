"""On SQLite, read-only commands begin their transactions deferred: with WAL they answer while
another process holds the write lock (a daemon writing a parse chunk), instead of queueing."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess

import pytest

from tests.e2e.conftest import Workspace

# Well under the 30 s that a reader waiting for the lock would take to fail ("database is
# locked"): a command that queues behind the writer times out here and fails the test.
ANSWER_WITHIN = 15.0

READERS = [
    ["runs", "list", "--json"],
    ["runs", "show", "1", "--json"],
    ["stanzas", "1", "--json"],
    ["status", "--json"],
    ["db", "current"],
    ["db", "check"],
]


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_read_only_command_answers_while_another_process_holds_the_write_lock(
    workspace: Workspace, command: list[str]
) -> None:
    bundle = workspace.root / "etc.tgz"
    bundle.write_bytes(gzip.compress(b"\0" * 1024, mtime=0))
    ingested = workspace.run("ingest", str(bundle), "--type", "ds_etc")
    assert ingested.returncode == 0, ingested.stderr
    writer = sqlite3.connect(workspace.var / "autodoc.db", isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO ingestion_runs (created_at, type, status, notes)"
            " VALUES ('2026-12-04 00:00:00', 'ds_etc', 'pending', 'uncommitted')"
        )
        try:
            result = workspace.run(*command, timeout=ANSWER_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"autodoc {' '.join(command)} waited for the writer's lock")
        assert result.returncode == 0, result.stderr
        if command[:2] == ["runs", "list"]:
            assert [r["notes"] for r in json.loads(result.stdout)] != ["uncommitted"]
            assert len(json.loads(result.stdout)) == 1  # the uncommitted run is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()
