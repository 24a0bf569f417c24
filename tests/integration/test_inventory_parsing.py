"""Parsing `inventory` runs (daemon.parsing with daemon.inventory and
daemon.conf.store.replace_run_inventory) on SQLite and PostgreSQL: rows and findings written,
the summary in notes, re-parses replacing the rows, failures leaving none."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon.conf.store import COUNTED, replace_run_inventory, run_counts
from daemon.conf.types import Finding
from daemon.config import Config
from daemon.database import Database, FileRecord
from daemon.inventory import HostRow, InventoryRejected
from daemon.models import Base, RunStatus, UploadType
from daemon.parsing import RunParser
from daemon.storage.local import LocalBlobStore

TABLES = Base.metadata.tables
ROWS = TABLES["inventory_rows"]
FINDINGS = TABLES["findings"]
FIRST_LINE = "stored from /srv/inbox/inventory/ds-01/clients.csv [claim 0f1e2d3c4b5a]"
ZERO = dict.fromkeys(COUNTED, 0)

CLIENTS = (
    b"clientName,hostname,ip,dns,guid,utsname,splunkVersion,lastPhoneHomeTime\r\n"
    b"uf-01,web-01,10.0.0.1,web-01.example.com,guid-1,linux-x86_64,9.4.3,1700000000\r\n"
    b",web-02,10.0.0.300,,,windows-x64,9.2.1,1700000000\r\n"  # bad ip: kept without it
    b",,,,,linux-x86_64,9.4.3,1700000000\r\n"  # no identity: skipped
    b"uf-01,web-01,10.0.0.1,web-01.example.com,guid-1,linux-x86_64,9.4.3,1700000000\r\n"
    b"web-04,10.0.0.4\r\n"  # two fields: skipped
    b"uf-05,db-05,fe80::5,,,linux-aarch64,,1700000000\r\n"
)
EXPECTED_ROWS = [
    (1, "uf-01", "web-01", "10.0.0.1", "web-01.example.com", "guid-1", "linux-x86_64", "9.4.3"),
    (2, None, "web-02", None, None, None, "windows-x64", "9.2.1"),
    (6, "uf-05", "db-05", "fe80::5", None, None, "linux-aarch64", None),
]
# (code, line of the file): a finding about a row names its line, the header being line 1.
EXPECTED_FINDINGS = [
    ("inventory-ignored-columns", 0),
    ("inventory-bad-ip", 3),
    ("inventory-no-identity", 4),
    ("inventory-duplicate-row", 5),
    ("inventory-column-count", 6),
]


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def stored_inventory(
    db: Database, store: LocalBlobStore, data: bytes, name: str = "clients.csv"
) -> int:
    """An `inventory` run in `stored` holding `data`, as ingestion leaves it."""
    run_id = db.create_run(UploadType.INVENTORY, "ds-01", "claimed")
    blob = store.put(io.BytesIO(data))
    assert db.mark_stored(
        run_id, FileRecord(name, blob.sha256, blob.size_bytes, blob.key), lambda _e: FIRST_LINE
    )
    return run_id


def parser(db: Database, store: LocalBlobStore) -> RunParser:
    return RunParser(Config(source=Path("test-config.toml")), db, store, owner="parser-a:1")


def written_rows(db: Database, run_id: int) -> list[tuple[Any, ...]]:
    columns = [ROWS.c[c] for c in ("row_number", "client_name", "hostname", "ip", "dns")]
    columns += [ROWS.c[c] for c in ("guid", "machine_type", "splunk_version")]
    with db.engine.connect() as conn:
        query = select(*columns).where(ROWS.c.run_id == run_id).order_by(ROWS.c.row_number)
        return [tuple(r) for r in conn.execute(query)]


def written_findings(db: Database, run_id: int) -> list[tuple[Any, ...]]:
    query = (
        select(FINDINGS.c.code, FINDINGS.c.line, FINDINGS.c.conf_file_id, FINDINGS.c.path)
        .where(FINDINGS.c.run_id == run_id)
        .order_by(FINDINGS.c.id)
    )
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_a_stored_inventory_parses_into_rows_and_findings_and_a_reparse_replaces_them(
    db: Database, store: LocalBlobStore
) -> None:
    run_id = stored_inventory(db, store, CLIENTS)
    outcome = parser(db, store).parse_next()

    assert outcome is not None
    assert (outcome.run_id, outcome.status, outcome.reason) == (run_id, RunStatus.COMPLETE, "")
    expected_counts = ZERO | {"inventory_rows": 3, "findings": 5}
    assert outcome.counts == expected_counts
    assert run_counts(db.engine, run_id) == expected_counts
    assert written_rows(db, run_id) == EXPECTED_ROWS
    # Findings about rows: no conf file, the row number as line, the file's name as path.
    assert written_findings(db, run_id) == [
        (code, line, None, "clients.csv") for code, line in EXPECTED_FINDINGS
    ]
    run = db.get_run(run_id)
    assert run.status == RunStatus.COMPLETE
    assert run.notes == f"{FIRST_LINE}\nparsed: inventory: 3 hosts, 5 findings"

    again = parser(db, store)
    again.claim(run_id)
    redo = again.parse_claimed(run_id)
    assert (redo.status, redo.counts) == (RunStatus.COMPLETE, expected_counts)
    assert written_rows(db, run_id) == EXPECTED_ROWS  # replaced, not added to
    assert len(written_findings(db, run_id)) == 5
    assert db.get_run(run_id).notes == f"{FIRST_LINE}\nparsed: inventory: 3 hosts, 5 findings"


def test_the_clients_endpoint_json_parses_into_rows(db: Database, store: LocalBlobStore) -> None:
    document = {
        "origin": "https://ds-01:8089/services/deployment/server/clients",
        "entry": [
            {
                "name": "e1",
                "content": {
                    "clientName": "uf-01",
                    "hostname": "web-01",
                    "ip": "10.0.0.1",
                    "dns": "web-01.example.com",
                    "guid": "guid-1",
                    "utsname": "linux-x86_64",
                    "splunkVersion": "9.4.3",
                    "applications": {"app1": {"result": "Ok"}},
                },
            },
            {"name": "e2", "content": {"hostname": "web-02", "ip": "10.0.0.2"}},
        ],
        "paging": {"total": 2},
    }
    run_id = stored_inventory(db, store, json.dumps(document).encode(), "clients.json")
    outcome = parser(db, store).parse_next()
    assert outcome is not None and outcome.status == RunStatus.COMPLETE, outcome
    assert written_rows(db, run_id) == [
        (1, "uf-01", "web-01", "10.0.0.1", "web-01.example.com", "guid-1", "linux-x86_64", "9.4.3"),
        (2, None, "web-02", "10.0.0.2", None, None, None, None),
    ]
    assert db.get_run(run_id).notes == f"{FIRST_LINE}\nparsed: inventory: 2 hosts, 0 findings"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hostname,ip\n,\n,10.0.0.300\n", "no usable row: none of the 2 rows names a host"),
        (b"hostname,ip\nweb-01," + b"9" * (2 * 1024 * 1024) + b"\n", "line 2 is longer than"),
        (b'{"entry": [{"content": {"hostname": "web-01"}}', "not a valid JSON document"),
    ],
    ids=["no-usable-row", "csv-bomb", "truncated-json"],
)
def test_an_unusable_inventory_fails_the_run_with_the_reason_and_leaves_no_rows(
    db: Database, store: LocalBlobStore, data: bytes, reason: str
) -> None:
    run_id = stored_inventory(db, store, data)
    outcome = parser(db, store).parse_next()
    assert outcome is not None
    assert outcome.status == RunStatus.FAILED
    assert reason in outcome.reason
    run = db.get_run(run_id)
    assert run.status == RunStatus.FAILED
    assert run.notes == f"{FIRST_LINE}\nparse failed: {outcome.reason}"
    assert run_counts(db.engine, run_id) == ZERO  # findings of bad rows go with it


def test_a_failed_reparse_removes_the_rows_of_the_earlier_parse(
    db: Database, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = stored_inventory(db, store, CLIENTS)
    first = parser(db, store).parse_next()
    assert first is not None and first.status == RunStatus.COMPLETE

    def broken(*_args: Any, **_kwargs: Any) -> Iterator[HostRow | Finding]:
        yield HostRow(1, hostname="half-written")
        raise InventoryRejected("cut short on purpose")

    monkeypatch.setattr("daemon.parsing.read_inventory", broken)
    again = parser(db, store)
    again.claim(run_id)
    outcome = again.parse_claimed(run_id)
    assert (outcome.status, outcome.reason) == (RunStatus.FAILED, "cut short on purpose")
    assert run_counts(db.engine, run_id) == ZERO


def test_replace_run_inventory_writes_in_chunks_and_counts_what_it_wrote(db: Database) -> None:
    run_id = db.create_run(UploadType.INVENTORY, None, "claimed")
    items: list[HostRow | Finding] = []
    for n in range(1, 26):
        items.append(HostRow(n, hostname=f"web-{n:02d}", ip=f"10.0.0.{n}"))
        if n % 5 == 0:
            items.append(Finding("inventory-bad-ip", "x", n, "clients.csv"))
    # NUL cannot be stored in PostgreSQL text: replaced, on every backend.
    items.append(HostRow(26, hostname="nul\x00host"))
    counts = replace_run_inventory(db.engine, run_id, items, chunk_rows=4)
    assert counts == ZERO | {"inventory_rows": 26, "findings": 5}
    assert run_counts(db.engine, run_id) == counts
    rows = written_rows(db, run_id)
    assert [r[0] for r in rows] == list(range(1, 27))
    assert rows[-1][2] == "nul\ufffdhost"

    # Replaced, not added to; other runs' rows untouched.
    other = db.create_run(UploadType.INVENTORY, None, "claimed")
    replace_run_inventory(db.engine, other, [HostRow(1, hostname="other")])
    assert replace_run_inventory(db.engine, run_id, items[:3]) == ZERO | {"inventory_rows": 3}
    assert run_counts(db.engine, run_id) == ZERO | {"inventory_rows": 3}
    assert written_rows(db, other) == [(1, None, "other", None, None, None, None, None)]
