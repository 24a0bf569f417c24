"""A resolution to the database: the claim that lets one resolver work at a time, the rows it
computed, and the final status. The only SQL that writes resolutions.

A resolution is claimed like parse work: a `running` row names its owner and is renewed while
it works. Its rows are written in chunks (on SQLite each chunk commits, so ingestion and
parsing are never held up), and it becomes visible only when it is set `complete`; readers
never look at a `running` one. A resolver that dies leaves a `running` row that the next one
deletes, with everything written under it (ON DELETE CASCADE), before it starts again.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from json.encoder import encode_basestring_ascii as _string  # what json.dumps uses
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from daemon.database import Database
from daemon.errors import AutodocError
from daemon.models import Base, ResolutionStatus, utcnow
from daemon.owners import is_gone
from daemon.resolve.layers import EffectiveValue
from daemon.resolve.load import PATH_FIELDS
from daemon.resolve.paths import Hop
from daemon.resolve.result import HOST_FIELDS, Resolution

RESOLVE_LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 20.0
_CHUNK = 5000
# Any constant: the same for every splunk-autodoc host (pg_advisory_xact_lock).
_BEGIN_LOCK = 0x5A17D0D

TABLES = Base.metadata.tables
RESOLUTIONS = TABLES["resolutions"]


class ResolutionBusy(AutodocError):
    """Another process is resolving the estate."""


class ResolutionLost(AutodocError):
    """This resolution was taken over (its claim ran out) before it finished."""


def begin(db: Database, owner: str, inputs: Mapping[str, Any], ds_version: str | None) -> int:
    """Claim the resolver and open a `running` resolution; its id. A resolution left running
    by a process that is gone (or silent for RESOLVE_LEASE_SECONDS) is deleted first.
    Raises ResolutionBusy when a live one is running."""
    with db.session() as session:
        connection = session.connection()
        if db.is_postgresql:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BEGIN_LOCK})
        stale = utcnow() - timedelta(seconds=RESOLVE_LEASE_SECONDS)
        running = connection.execute(
            select(RESOLUTIONS.c.id, RESOLUTIONS.c.owner, RESOLUTIONS.c.heartbeat_at).where(
                RESOLUTIONS.c.status == ResolutionStatus.RUNNING
            )
        ).all()
        for rid, other, beat in running:
            if other is not None and beat is not None and beat >= stale and not is_gone(other):
                raise ResolutionBusy(f"resolution {rid} is being computed by {other}")
            connection.execute(delete(RESOLUTIONS).where(RESOLUTIONS.c.id == rid))
        now = utcnow()
        rid = connection.execute(
            insert(RESOLUTIONS)
            .values(
                created_at=now,
                status=ResolutionStatus.RUNNING,
                owner=owner,
                heartbeat_at=now,
                ds_version=ds_version,
                inputs=dict(inputs),
            )
            .returning(RESOLUTIONS.c.id)
        ).scalar_one()
        return int(rid)


def heartbeat(db: Database, resolution_id: int, owner: str) -> None:
    with db.session() as session:
        session.connection().execute(
            update(RESOLUTIONS)
            .where(RESOLUTIONS.c.id == resolution_id, RESOLUTIONS.c.owner == owner)
            .values(heartbeat_at=utcnow())
        )


def write(db: Database, resolution_id: int, resolution: Resolution) -> None:
    """Every row of the resolution, in chunks; invisible until `complete`."""
    encode = JsonText()
    rid = resolution_id
    _bulk(
        db,
        "hosts",
        ("resolution_id", "name", *HOST_FIELDS, "role", "ds", "sources", "stack"),
        (
            (
                rid,
                h.name,
                *(getattr(h, f) for f in HOST_FIELDS),
                h.role,
                h.ds,
                encode(h.sources),
                h.stack,
            )
            for h in resolution.hosts
        ),
    )
    hosts = TABLES["hosts"]
    with db.read_session() as session:
        host_ids: dict[str, int] = {
            name: host_id
            for name, host_id in session.execute(
                select(hosts.c.name, hosts.c.id).where(hosts.c.resolution_id == rid)
            )
        }
    _bulk(
        db,
        "host_memberships",
        ("resolution_id", "host_id", "serverclass", "result", "why", "missing"),
        (
            (
                rid,
                host_ids[m.host],
                m.serverclass,
                m.result.value,
                encode(m.why),
                encode(m.missing),
            )
            for m in resolution.memberships
        ),
    )
    _bulk(
        db,
        "host_apps",
        (
            "resolution_id",
            "host_id",
            "app",
            "serverclasses",
            "result",
            "state",
            "target",
            "in_repository",
            "why",
        ),
        (
            (
                rid,
                host_ids[a.host],
                a.app,
                encode(a.serverclasses),
                a.result,
                a.state,
                a.target,
                a.in_repository,
                encode(a.why),
            )
            for a in resolution.apps
        ),
    )
    _bulk(
        db,
        "host_effective_inputs",
        ("resolution_id", "stack", "stanza", "settings"),
        (
            (rid, stack, name, encode.settings(stanza.settings))
            for stack, conf in resolution.effective_inputs.items()
            for name, stanza in conf.stanzas.items()
        ),
    )
    _write_paths(db, rid, resolution, host_ids, encode)
    _bulk(
        db,
        "resolution_findings",
        ("resolution_id", "code", "severity", "host", "subject", "message", "evidence"),
        (
            (
                rid,
                f.code.value,
                f.severity.value,
                f.host,
                f.subject,
                f.message,
                encode(f.evidence),
            )
            for f in resolution.findings
        ),
    )


def _write_paths(
    db: Database,
    rid: int,
    resolution: Resolution,
    host_ids: Mapping[str, int],
    encode: JsonText,
) -> None:
    """Each distinct walk once (hosts that share a configuration share their walks) with
    its final (index, sourcetype) pairs, then each path with its walk's id. A walk's id is
    known from the order its rows were written in: ids grow in insertion order, and no one
    else writes under this resolution (the claim)."""
    paths = resolution.paths
    walks = list({id(p.walk): p.walk for p in paths}.values())
    hop_text: dict[Hop, str] = {}

    def hops(hop: Hop) -> str:
        found = hop_text.get(hop)
        if found is None:
            found = hop_text[hop] = encode(_hop(hop))
        return found

    _bulk(
        db,
        "data_path_walks",
        ("resolution_id", "hops", "final", "may_drop", "evidence"),
        (
            (
                rid,
                encode.array(hops(h) for h in w.hops),
                encode.items(w.final),
                w.may_drop,
                encode.items(w.evidence),
            )
            for w in walks
        ),
    )
    table = TABLES["data_path_walks"]
    with db.read_session() as session:
        ids = (
            session.execute(
                select(table.c.id).where(table.c.resolution_id == rid).order_by(table.c.id)
            )
            .scalars()
            .all()
        )
    if len(ids) != len(walks):
        raise RuntimeError(f"wrote {len(walks)} data path walks, read back {len(ids)}")
    walk_ids = {id(w): walk_id for w, walk_id in zip(walks, ids, strict=True)}
    _bulk(
        db,
        "data_path_finals",
        ("resolution_id", "walk_id", "index", "sourcetype"),
        (
            (rid, walk_ids[id(w)], index, sourcetype)
            for w in walks
            for index, sourcetype in dict.fromkeys((f.index, f.sourcetype) for f in w.final)
        ),
    )
    _bulk(
        db,
        "host_data_paths",
        ("resolution_id", "host_id", "walk_id", *PATH_FIELDS),
        (
            (
                rid,
                host_ids[p.host],
                walk_ids[id(p.walk)],
                p.input,
                p.index,
                p.sourcetype,
                p.host_field,
                p.source,
                encode.items(p.groups),
                encode.items(p.servers),
                encode.items(p.own_evidence),
            )
            for p in paths
        ),
    )


def _hop(hop: Hop) -> dict[str, str | None]:
    """A hop as RESOLVER.md §7 shows it ("from" is a keyword in Python)."""
    return {"from": hop.source, "group": hop.group, "server": hop.server, "to": hop.to}


def complete(
    db: Database,
    resolution_id: int,
    owner: str,
    summary: Mapping[str, Any],
    ds_version: str | None = None,
) -> None:
    """Make the resolution visible. Raises ResolutionLost if it is no longer ours."""
    _finish(
        db,
        resolution_id,
        owner,
        status=ResolutionStatus.COMPLETE,
        summary=dict(summary),
        ds_version=ds_version,
    )


def fail(db: Database, resolution_id: int, owner: str, error: str) -> None:
    """Record why it failed; its partial rows go (a failed resolution shows nothing)."""
    with db.session() as session:
        connection = session.connection()
        for name in (
            "resolution_findings",
            "host_effective_inputs",
            "host_apps",
            "host_memberships",
            "hosts",
        ):
            table = TABLES[name]
            connection.execute(delete(table).where(table.c.resolution_id == resolution_id))
    _finish(db, resolution_id, owner, status=ResolutionStatus.FAILED, error=error)


def _finish(db: Database, resolution_id: int, owner: str, **values: Any) -> None:
    with db.session() as session:
        changed = session.connection().execute(
            update(RESOLUTIONS)
            .where(
                RESOLUTIONS.c.id == resolution_id,
                RESOLUTIONS.c.owner == owner,
                RESOLUTIONS.c.status == ResolutionStatus.RUNNING,
            )
            .values(finished_at=utcnow(), owner=None, heartbeat_at=None, **values)
        )
        if changed.rowcount != 1:
            raise ResolutionLost(f"resolution {resolution_id} was taken over before it finished")


def _bulk(
    db: Database, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Rows as tuples in `columns` order, JSON columns as text, one transaction a chunk (on
    SQLite each commits, so ingestion and parsing are never held up long): COPY on
    PostgreSQL, the driver's executemany elsewhere. SQLAlchemy's executemany costs more than
    everything else together here: it binds and converts each value of each row in Python
    (psycopg then runs one pipelined INSERT per row), where 100,000 rows of a resolution
    hold ~150 MB of JSON. On PostgreSQL a chunk is written on a second thread while the
    next one is encoded (the server's parsing of the JSON and its index and foreign-key
    work overlap ours); sqlite3 connections stay on the thread that made them."""
    if not db.is_postgresql:
        for chunk in _chunks(rows):
            with db.session() as session:
                connection = session.connection()
                sql = insert(TABLES[table]).compile(
                    dialect=connection.dialect, column_keys=list(columns)
                )
                connection.exec_driver_sql(str(sql), chunk)
        return
    writing: threading.Thread | None = None
    errors: list[BaseException] = []

    def write(chunk: list[tuple[Any, ...]]) -> None:
        try:
            with db.session() as session:
                _copy(session.connection(), table, columns, chunk)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            errors.append(exc)

    def wait() -> None:
        if writing is not None:
            writing.join()
        if errors:
            raise errors[0]

    try:
        for chunk in _chunks(rows):
            wait()
            writing = threading.Thread(target=write, args=(chunk,), name="resolve-copy")
            writing.start()
    finally:
        wait()


def _copy(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f"COPY {table} ({names}) FROM STDIN"
    dialect = connection.dialect
    driver: Any = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:
        # What SQLAlchemy raises for its own statements, so translate_errors() applies.
        raise DBAPIError.instance(
            sql,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(exc, driver, None),
            dialect=dialect,
        ) from exc


def _chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _one(name: str) -> Callable[[Any], tuple[Any]]:
    return lambda value: (getattr(value, name),)


class JsonText:
    """JSON text of resolver results, as `json.dumps(to_json(value))` writes it, where an
    object many rows share (a why, an evidence, an effective value) is encoded once: a
    resolution's whys and effective values are mostly shared objects (daemon.resolve.types).
    Objects are remembered by identity and kept alive while the encoder lives."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, str]] = {}
        # A dataclass type's fields: the `"name": ` of each and a getter of all values.
        self._fields: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}

    def __call__(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _string(value)
        if value is None:
            return "null"
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        found = self._memo.get(id(value))
        if found is not None:
            return found[1]
        text = self._encode(value)
        self._memo[id(value)] = (value, text)
        return text

    def _encode(self, value: Any) -> str:
        fields = self._fields.get(type(value))
        if fields is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = [f.name for f in dataclasses.fields(value)]
            getter = operator.attrgetter(*names) if len(names) > 1 else _one(names[0])
            fields = self._fields[type(value)] = (tuple(_string(n) + ": " for n in names), getter)
        if fields is not None:
            keys, getter = fields
            parts = []
            for key, item in zip(keys, getter(value), strict=True):
                if type(item) is str:
                    parts.append(key + _string(item))
                elif item is None:
                    parts.append(key + "null")
                else:
                    parts.append(key + self(item))
            return "{" + ", ".join(parts) + "}"
        if isinstance(value, enum.Enum):
            return json.dumps(value.value)
        if isinstance(value, tuple | list):
            return "[" + ", ".join([self(item) for item in value]) + "]"
        if isinstance(value, dict):
            return (
                "{" + ", ".join([f"{_string(str(k))}: {self(v)}" for k, v in value.items()]) + "}"
            )
        return json.dumps(value)

    def items(self, values: Iterable[Any]) -> str:
        """A JSON array of values, each encoded (and remembered) as __call__ does, the array
        itself not remembered: for a container no other row shares, as a data path's
        evidence, which would otherwise keep every path's text alive until the end."""
        return "[" + ", ".join([self(value) for value in values]) + "]"

    @staticmethod
    def array(texts: Iterable[str]) -> str:
        """A JSON array of values already encoded."""
        return "[" + ", ".join(texts) + "]"

    def settings(self, settings: Mapping[str, EffectiveValue]) -> str:
        """An effective stanza's settings as `{KEY: {value, file, line, layer, app, run}}`
        (daemon.resolve.btool.effective_to_json's shape); each value encoded once."""
        parts = []
        for key, value in settings.items():
            found = self._memo.get(id(value))
            if found is None:
                origin = value.origin
                text = (
                    f'{{"value": {_string(value.value)}, "file": {_string(origin.file)}, '
                    f'"line": {value.line}, "layer": {_string(origin.kind.value)}, '
                    f'"app": {self(origin.app)}, "run": {self(origin.run)}}}'
                )
                self._memo[id(value)] = found = (value, text)
            parts.append(f"{_string(key)}: {found[1]}")
        return "{" + ", ".join(parts) + "}"
