"""The queries of `autodoc host` and `autodoc btool` on each database: one host found by one
query answers as find_host over every host does (case, short names, non-ASCII names, LIKE's
wildcards), and the reader without the ORM reads what the Database reads."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Boolean

from daemon.database import Database
from daemon.models import Base
from daemon.resolve import store
from daemon.resolve.load import (
    TABLES,
    AmbiguousHost,
    EstateReader,
    find_host,
    find_stored_host,
    host_details,
    latest_resolution,
    stored_hosts,
)
from daemon.resolve.result import Resolution, ResolvedHost

KELVIN = "\u212a"  # str.lower() gives an ASCII "k"; SQLite's lower() leaves it alone
HOSTS = (
    ResolvedHost(
        "web-01", "uf", client_name="web-01", hostname="web-01.example.com", ip="10.0.0.1"
    ),
    ResolvedHost("mail-a", "uf", hostname="MAIL.site-a.example.com", guid="AB-CD"),
    ResolvedHost("mail-b", "uf", hostname="mail.site-b.example.com"),
    ResolvedHost("db_1", "uf", hostname="db_1.example.com", dns="db%1.example.com"),
    ResolvedHost("dbx1", "uf", hostname="dbx1.example.com"),
    ResolvedHost(f"{KELVIN}ube", "uf", hostname=f"{KELVIN}UBE.example.com"),
    ResolvedHost("\u00e9cole", "uf", client_name="\u00c9COLE-1"),
    ResolvedHost("plain", "unknown", ip="10.0.0.9", dns="web-01"),
)
NAMES = (
    "web-01",  # name (also another host's dns: name wins)
    "WEB-01.EXAMPLE.COM",  # hostname, any case
    " 10.0.0.1 ",  # ip, stripped
    "ab-cd",  # guid
    "mail",  # the short name of two hosts: ambiguous
    "db_1",  # `_` is no wildcard: not dbx1
    "db%1.example.com",  # nor `%`
    "DBX1",  # a unique short name
    "kube",  # the short name of a name with the Kelvin sign
    "KUBE.example.com",
    "\u00e9cole-1",  # a non-ASCII client name, other case
    "nope",
    "",
)


@pytest.fixture
def resolved(db: Database) -> int:
    resolution_id = store.begin(db, "test", {"runs": {}}, None)
    store.write(db, resolution_id, Resolution(HOSTS, (), (), {}, ()))
    store.complete(db, resolution_id, "test", {"hosts": len(HOSTS)})
    return resolution_id


def _answer(lookup: object) -> object:
    try:
        found = lookup()  # type: ignore[operator]
    except AmbiguousHost as exc:
        return ("ambiguous", exc.hosts)
    return None if found is None else found["name"]


def test_one_host_by_any_name_as_find_host_over_every_host(db: Database, resolved: int) -> None:
    every = stored_hosts(db, resolved)
    answers = {
        name: _answer(lambda name=name: find_stored_host(db, resolved, name)) for name in NAMES
    }
    assert answers == {name: _answer(lambda name=name: find_host(every, name)) for name in NAMES}
    assert answers["mail"] == ("ambiguous", ("mail-a", "mail-b"))
    assert answers["db_1"] == "db_1" and answers["DBX1"] == "dbx1"
    assert answers["kube"] == f"{KELVIN}ube"
    assert answers["nope"] is None
    found = find_stored_host(db, resolved, "web-01")
    assert found is not None
    assert {k: v for k, v in found.items() if k != "_deployed"} == every[
        [h["name"] for h in every].index("web-01")
    ]


def test_the_reader_without_the_orm_reads_what_the_database_reads(
    db: Database, resolved: int
) -> None:
    reader = EstateReader(db.url)
    try:
        assert latest_resolution(reader) == latest_resolution(db)
        assert stored_hosts(reader, resolved) == stored_hosts(db, resolved)
        host = find_stored_host(reader, resolved, "web-01")
        assert host is not None
        assert host_details(reader, resolved, host) == host_details(db, resolved, host)
    finally:
        reader.dispose()


def test_the_tables_read_are_columns_of_the_models_with_their_json_and_booleans() -> None:
    for name, light in TABLES.items():
        model = Base.metadata.tables[name]
        for column in light.columns:
            assert column.name in model.columns, f"{name}.{column.name}"
            kind = model.columns[column.name].type
            assert isinstance(column.type, JSON) == isinstance(kind, JSON), column.name
            assert isinstance(column.type, Boolean) == isinstance(kind, Boolean), column.name
