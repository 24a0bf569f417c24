"""Persistence of a run's normalized configuration: replace it in one transaction with bulk
inserts, count it, list its stanzas. An `inventory` run's rows (daemon.inventory) are
replaced the same way (`replace_run_inventory`) and counted with the rest.

`replace_run_conf` streams: members come from an iterator and rows go out in chunks (20,000
rows or 32 MB of stanza JSON), so memory stays bounded whatever the bundle's size. On
PostgreSQL the chunks go by COPY on a second thread, so the server's work on one chunk
overlaps building the next; elsewhere by the driver's executemany. Values are made ready for
the database here (JSON text, enum values), once, for both.

Ids of conf files and stanzas are allocated client-side, so typed rows and findings link to
them before anything is written: from the table's sequence on PostgreSQL (`nextval`, batches
per query, safe with concurrent writers), from `max(id) + 1` on SQLite (the transaction holds
the write lock from its BEGIN IMMEDIATE, daemon.database). Replacing one run twice at once
is serialized by a row lock on the run (SQLite's write lock does it there), so the later
replace deletes the earlier one's rows: never duplicates.

NUL characters (a binary file parsed as text) are replaced by U+FFFD with a `nul-replaced`
finding, on every backend: PostgreSQL's text and JSONB cannot hold them.
"""

from __future__ import annotations

import contextlib
import json
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import JSON, Connection, Engine, Table, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from daemon.conf.normalize import TYPED_TABLES, normalize_stanza, occurrence_list
from daemon.conf.types import Finding, Occurrence, ParsedConf, Provenance, Stanza
from daemon.database import translate_errors
from daemon.errors import RunNotFound
from daemon.inventory import HostRow
from daemon.models import Base, IngestionRun

TABLES = Base.metadata.tables
# What `autodoc runs show --json` counts, in its order.
COUNTED = (
    "conf_files",
    "stanzas",
    "inputs",
    "props",
    "transforms",
    "indexes",
    "outputs",
    "serverclasses",
    "inventory_rows",
    "findings",
)
# Parents before children: each flush writes every table in this order.
_INSERT_ORDER = ("conf_files", "stanzas", *TYPED_TABLES.values(), "findings", "bundle_dirs")
_DELETE_ORDER = tuple(reversed(_INSERT_ORDER))
# A flush when either is reached (all tables together). Larger chunks cost PostgreSQL less
# per row (fewer COPY statements); two chunks are in memory at most, one being written.
CHUNK_ROWS = 20_000
CHUNK_BYTES = 32 * 1024 * 1024  # of stanza JSON: a few huge stanzas must not pile up


class ConfMember(NamedTuple):
    """One parsed member of a stored archive (`file_id`: its `files` row)."""

    file_id: int
    path: str
    sha256: str
    size_bytes: int
    provenance: Provenance
    parsed: ParsedConf


Bind = Engine | Connection


def replace_run_conf(
    bind: Bind,
    run_id: int,
    members: Iterable[ConfMember],
    findings: Iterable[Finding] = (),
    *,
    dirs: Iterable[str] = (),
    chunk_rows: int = CHUNK_ROWS,
    commit_chunks: bool = False,
) -> dict[str, int]:
    """Delete the run's normalized rows and insert those of `members` (plus `findings` about
    the archive itself, not tied to a member) in one transaction; the counts written, as
    `run_counts` would give them.

    `commit_chunks` (for SQLite, whose one writer would otherwise hold every other write up
    for the whole parse): commit after the delete and after each chunk, so others write in
    between, with no transaction open while the next chunk is built. The caller keeps the
    run `parsing` meanwhile (a crash leaves part of the rows, which the next replace deletes
    first) and makes sure no one else writes these tables until it is done: the ids are
    handed out from the tables' highest at the start. Needs a Connection.

    `findings` and `dirs` (the bundle's app folders, daemon.conf.archive.read_members) are
    read once `members` is exhausted, so a reader may fill them while members are read.
    With an Engine the transaction is this call's; with a Connection it is the caller's
    when one is open (committed by the caller), else this call's. Raises
    RunNotFound; driver errors come as SQLAlchemy's, translated as daemon.database does.
    """
    if commit_chunks:
        assert isinstance(bind, Connection), "commit_chunks needs a Connection"
        with translate_errors():
            return _replace(bind, run_id, members, findings, dirs, chunk_rows, commit_chunks=True)
    with _transaction(bind) as connection:
        return _replace(connection, run_id, members, findings, dirs, chunk_rows)


@contextlib.contextmanager
def _transaction(bind: Bind) -> Iterator[Connection]:
    with translate_errors():
        if isinstance(bind, Engine):
            with bind.begin() as connection:
                yield connection
        elif bind.in_transaction():
            yield bind
        else:
            with bind.begin():
                yield bind


def _clear_run(connection: Connection, run_id: int) -> None:
    """Lock the run's row and delete what an earlier parse wrote."""
    found = connection.execute(
        select(IngestionRun.id).where(IngestionRun.id == run_id).with_for_update()
    ).first()
    if found is None:
        raise RunNotFound(f"run {run_id} does not exist")
    delete_run_conf(connection, run_id)


def _replace(
    connection: Connection,
    run_id: int,
    members: Iterable[ConfMember],
    findings: Iterable[Finding],
    dirs: Iterable[str],
    chunk_rows: int,
    *,
    commit_chunks: bool = False,
) -> dict[str, int]:
    _clear_run(connection, run_id)
    writer = _Writer(connection, run_id, chunk_rows, commit_chunks=commit_chunks)
    if commit_chunks:
        connection.commit()  # the delete; no transaction is open again until the next flush
    try:
        for member in members:
            writer.add_member(*member)
        for finding in findings:
            writer.add_finding(finding, None, finding.path)
        for path in sorted(dirs):
            writer.add("bundle_dirs", (run_id, _clean(path)))
        writer.flush()
        writer.flusher.wait()
    finally:
        writer.flusher.abandon()  # on the way out of a failure, the connection must be idle
    return {name: writer.counts[name] for name in COUNTED}


def delete_run_conf(connection: Connection, run_id: int) -> None:
    """Remove every normalized row of the run (in the caller's transaction): its
    configuration, or its inventory."""
    for name in (*_DELETE_ORDER, "inventory_rows"):
        table = TABLES[name]
        connection.execute(delete(table).where(table.c.run_id == run_id))


class _Ids:
    """Primary keys handed out before the rows are written. On PostgreSQL they come from the
    table's sequence in batches that double from 16 (a small run wastes few ids, a large
    one makes few round trips); `idle` is called first, as no query may run during a COPY."""

    def __init__(
        self, connection: Connection, table: str, most: int, idle: Callable[[], None]
    ) -> None:
        self.connection = connection
        self.batch = 16
        self.most = max(most, self.batch)
        self.idle = idle
        self.free: list[int] = []
        self.sequence: str | None = None
        self.next_id = 0
        if connection.dialect.name == "postgresql":
            self.sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}
            ).scalar_one()
        else:
            self.table = table
            self.refresh()

    def refresh(self) -> None:
        """SQLite: the next id above the table's highest (every id handed out so far has
        been written by then)."""
        if self.sequence is None:
            top = self.connection.execute(select(func.max(TABLES[self.table].c.id))).scalar_one()
            self.next_id = max(self.next_id, (top or 0) + 1)

    def take(self) -> int:
        if self.sequence is None:
            self.next_id += 1
            return self.next_id - 1
        if not self.free:
            self.idle()
            self.free = list(
                self.connection.execute(
                    text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                    {"s": self.sequence, "n": self.batch},
                ).scalars()
            )
            self.free.reverse()
            self.batch = min(self.batch * 2, self.most)
        return self.free.pop()


class _Sink:
    """One table's rows as tuples in `columns` order, written in bulk: COPY on PostgreSQL
    (several times faster than SQLAlchemy's executemany, which psycopg runs as one pipelined
    INSERT per row), the driver's executemany of the Core insert elsewhere. Values arrive
    ready for the database: JSON as text, enums as str (both drivers write a StrEnum's value)."""

    def __init__(self, connection: Connection, table: Table, columns: tuple[str, ...]) -> None:
        self.connection = connection
        self.rows: list[tuple[Any, ...]] = []
        names = ", ".join(f'"{c}"' for c in columns)
        self.copy_sql = f"COPY {table.name} ({names}) FROM STDIN"
        self.postgresql = connection.dialect.name == "postgresql"
        self.insert_sql = str(
            insert(table).compile(dialect=connection.dialect, column_keys=list(columns))
        )

    def take(self) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows, []
        return rows

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self.postgresql:
            self.connection.exec_driver_sql(self.insert_sql, rows)
            return
        dialect = self.connection.dialect
        driver: Any = self.connection.connection.driver_connection
        try:
            with driver.cursor() as cursor, cursor.copy(self.copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:
            # What SQLAlchemy raises for its own statements (OperationalError, IntegrityError,
            # ...), so that translate_errors() and the callers' except clauses apply.
            raise DBAPIError.instance(
                self.copy_sql,
                None,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=dialect.is_disconnect(exc, driver, None),
                dialect=dialect,
            ) from exc


class _Flusher:
    """Writes batches of rows; on PostgreSQL on a thread, so that the server's share (parsing,
    constraints, indexes) overlaps building the next batch on the second core. One batch at
    a time: `submit` waits for the previous one and re-raises its error. (sqlite3 objects stay
    on the thread that made them.)"""

    def __init__(self, threaded: bool) -> None:
        self.threaded = threaded
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def submit(self, batch: list[tuple[_Sink, list[tuple[Any, ...]]]]) -> None:
        self.wait()
        if not self.threaded:
            _write(batch)
            return
        self.thread = threading.Thread(
            target=self._run, args=(batch,), name="conf-store-flush", daemon=True
        )
        self.thread.start()

    def _run(self, batch: list[tuple[_Sink, list[tuple[Any, ...]]]]) -> None:
        try:
            _write(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread by wait()
            self.error = exc

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def abandon(self) -> None:
        """Wait without raising (the caller is already failing, or wait() raised)."""
        with contextlib.suppress(BaseException):
            self.wait()


def _write(batch: list[tuple[_Sink, list[tuple[Any, ...]]]]) -> None:
    for sink, rows in batch:  # parents first
        sink.write(rows)


_CONF_FILE_COLUMNS = (
    "id",
    "run_id",
    "file_id",
    "path",
    "sha256",
    "size_bytes",
    "encoding",
    "layer",
    "app",
    "scope",
    "conf_type",
)
_STANZA_COLUMNS = (
    "id",
    "run_id",
    "conf_file_id",
    "conf_type",
    "name",
    "order_in_file",
    "line",
    "app",
    "scope",
    "layer",
    "settings",
    "occurrences",
)
_FINDING_COLUMNS = ("run_id", "conf_file_id", "code", "message", "line", "path")


class _Typed:
    """A typed table's dict rows (normalize + linkage) as tuples, JSON columns dumped."""

    def __init__(self, table: Table) -> None:
        self.columns = tuple(c.name for c in table.columns if c.name != "id")
        self.getter = operator.itemgetter(*self.columns)
        self.json = [i for i, c in enumerate(self.columns) if isinstance(table.c[c].type, JSON)]

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = list(self.getter(row))
        for i in self.json:
            if values[i] is not None:
                values[i] = _encode(values[i])
        return tuple(values)


class _Writer:
    def __init__(
        self, connection: Connection, run_id: int, chunk_rows: int, *, commit_chunks: bool = False
    ) -> None:
        self.connection = connection
        self.commit_chunks = commit_chunks
        self.run_id = run_id
        self.chunk_rows = max(1, chunk_rows)
        self.pending = self.pending_bytes = 0
        self.counts = dict.fromkeys((*COUNTED, "bundle_dirs"), 0)
        self.typed = {name: _Typed(TABLES[name]) for name in TYPED_TABLES.values()}
        columns = {"conf_files": _CONF_FILE_COLUMNS, "stanzas": _STANZA_COLUMNS}
        columns.update({name: t.columns for name, t in self.typed.items()})
        columns["findings"] = _FINDING_COLUMNS
        columns["bundle_dirs"] = ("run_id", "path")
        # Parents before children: each flush writes every sink in this order.
        self.sinks = {
            name: _Sink(connection, TABLES[name], columns[name]) for name in _INSERT_ORDER
        }
        self.flusher = _Flusher(threaded=connection.dialect.name == "postgresql")
        self.conf_file_ids = _Ids(connection, "conf_files", 4096, self.flusher.wait)
        self.stanza_ids = _Ids(connection, "stanzas", 8 * self.chunk_rows, self.flusher.wait)

    def add(self, table: str, row: tuple[Any, ...], size: int = 0) -> None:
        self.sinks[table].rows.append(row)
        self.counts[table] += 1
        self.pending += 1
        self.pending_bytes += size
        if self.pending >= self.chunk_rows or self.pending_bytes >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        self.flusher.submit([(sink, sink.take()) for sink in self.sinks.values()])
        self.pending = self.pending_bytes = 0
        if self.commit_chunks:
            self.flusher.wait()
            self.connection.commit()

    def add_member(
        self,
        file_id: int,
        path: str,
        sha256: str,
        size_bytes: int,
        provenance: Provenance,
        parsed: ParsedConf,
    ) -> None:
        conf_file_id = self.conf_file_ids.take()
        path, app = _clean(path), _clean_optional(provenance.app)
        layer, scope = provenance.layer, provenance.scope
        conf_type = _clean(provenance.conf_type)
        self.add(
            "conf_files",
            (conf_file_id, self.run_id, file_id, path, sha256, size_bytes, parsed.encoding,
             layer, app, scope, conf_type),
        )  # fmt: skip
        for finding in parsed.findings:
            self.add_finding(finding, conf_file_id, finding.path or path)
        # .meta files share the grammar but not the meaning of a conf type's stanzas.
        typed = not path.endswith(".meta")
        where = {"app": app, "scope": scope, "layer": layer}
        for stanza in parsed.stanzas:
            stanza_id = self.stanza_ids.take()
            occurrences = _encode(occurrence_list(stanza))
            # PostgreSQL's text and JSONB cannot hold NUL (a binary file parsed as text has
            # them); JSON escapes every NUL as \u0000, so one look finds them all.
            if ("\\u0000" in occurrences or "\x00" in stanza.name) and _has_nul(stanza):
                stanza = _scrubbed(stanza)
                occurrences = _encode(occurrence_list(stanza))
                self.add_finding(
                    Finding("nul-replaced", f"[{stanza.name}] NUL characters replaced by U+FFFD",
                            stanza.line),
                    conf_file_id,
                    path,
                )  # fmt: skip
            settings = _encode(stanza.settings)
            self.add(
                "stanzas",
                (stanza_id, self.run_id, conf_file_id, conf_type, stanza.name, stanza.order,
                 stanza.line, app, scope, layer, settings, occurrences),
                len(settings) + len(occurrences),
            )  # fmt: skip
            result = normalize_stanza(conf_type, stanza) if typed else None
            if result is None:
                continue
            for finding in result.findings:
                self.add_finding(finding, conf_file_id, path)
            if result.table is not None and result.row is not None:
                result.row.update(where, run_id=self.run_id, stanza_id=stanza_id)
                self.add(result.table, self.typed[result.table].values(result.row))

    def add_finding(self, finding: Finding, conf_file_id: int | None, path: str | None) -> None:
        self.add(
            "findings",
            (self.run_id, conf_file_id, _clean(finding.code), _clean(finding.message),
             finding.line, _clean_optional(path)),
        )  # fmt: skip


_INVENTORY_COLUMNS = (
    "run_id",
    "row_number",
    "client_name",
    "hostname",
    "ip",
    "dns",
    "guid",
    "machine_type",
    "splunk_version",
    "role",
)


def replace_run_inventory(
    bind: Bind,
    run_id: int,
    items: Iterable[HostRow | Finding],
    *,
    chunk_rows: int = CHUNK_ROWS,
    commit_chunks: bool = False,
) -> dict[str, int]:
    """Delete the run's rows and insert the `inventory_rows` and findings (about no conf
    file) of an inventory read by daemon.inventory, as `replace_run_conf` does: streamed in
    chunks, one transaction (or, with `commit_chunks`, a commit per chunk); the counts
    written, as `run_counts` gives them. An exception from `items` propagates after the
    chunks before it were written."""
    if commit_chunks:
        assert isinstance(bind, Connection), "commit_chunks needs a Connection"
        with translate_errors():
            return _replace_inventory(bind, run_id, items, chunk_rows, commit_chunks=True)
    with _transaction(bind) as connection:
        return _replace_inventory(connection, run_id, items, chunk_rows)


def _replace_inventory(
    connection: Connection,
    run_id: int,
    items: Iterable[HostRow | Finding],
    chunk_rows: int,
    *,
    commit_chunks: bool = False,
) -> dict[str, int]:
    _clear_run(connection, run_id)
    if commit_chunks:
        connection.commit()
    rows = _Sink(connection, TABLES["inventory_rows"], _INVENTORY_COLUMNS)
    findings = _Sink(connection, TABLES["findings"], _FINDING_COLUMNS)
    flusher = _Flusher(threaded=connection.dialect.name == "postgresql")
    counts = dict.fromkeys(COUNTED, 0)
    pending = 0

    def flush() -> None:
        flusher.submit([(rows, rows.take()), (findings, findings.take())])
        if commit_chunks:
            flusher.wait()
            connection.commit()

    try:
        for item in items:
            if isinstance(item, Finding):
                findings.rows.append(
                    (run_id, None, _clean(item.code), _clean(item.message), item.line,
                     _clean_optional(item.path))
                )  # fmt: skip
                counts["findings"] += 1
            else:
                rows.rows.append(
                    (run_id, item.row_number, *(_clean_optional(v) for v in item.values()))
                )
                counts["inventory_rows"] += 1
            pending += 1
            if pending >= chunk_rows:
                flush()
                pending = 0
        flush()
        flusher.wait()
    finally:
        flusher.abandon()  # on the way out of a failure, the connection must be idle
    return counts


def _unserializable(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _make_encoder() -> Callable[[Any], str]:
    """Compact JSON, without the C encoder's per-call set-up that json.dumps() pays (40% of
    the time on a stanza's small dict). Rows hold plain values, never cycles."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    chunks = c_make_encoder(
        None, _unserializable, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_encode = _make_encoder()


def _clean(value: str) -> str:
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _clean_optional(value: str | None) -> str | None:
    return None if value is None else _clean(value)


def _has_nul(stanza: Stanza) -> bool:
    return "\x00" in stanza.name or any(
        "\x00" in o.key or "\x00" in o.value for o in stanza.occurrences
    )


def _scrubbed(stanza: Stanza) -> Stanza:
    return Stanza(
        _clean(stanza.name),
        stanza.line,
        stanza.order,
        {_clean(k): _clean(v) for k, v in stanza.settings.items()},
        [Occurrence(_clean(o.key), _clean(o.value), o.line) for o in stanza.occurrences],
    )


# -- reads -----------------------------------------------------------------------------------


Reader = Engine | Connection | Session


@contextlib.contextmanager
def _reading(bind: Reader) -> Iterator[Connection | Session]:
    with translate_errors():
        if isinstance(bind, Engine):
            with bind.connect() as connection:
                yield connection
        else:
            yield bind


def run_counts(bind: Reader, run_id: int) -> dict[str, int]:
    """Rows of the run in each normalized table (COUNTED's order), in one query."""
    counts = [
        select(func.count())
        .select_from(TABLES[name])
        .where(TABLES[name].c.run_id == run_id)
        .scalar_subquery()
        .label(name)
        for name in COUNTED
    ]
    with _reading(bind) as connection:
        row = connection.execute(select(*counts)).one()
    return {name: int(row._mapping[name]) for name in COUNTED}


def list_stanzas(
    bind: Reader,
    run_id: int,
    conf_type: str | None = None,
    app: str | None = None,
    layer: str | None = None,
) -> list[dict[str, Any]]:
    """The run's stanzas by file path, then order in the file: conf_type, name, app, scope,
    layer, path and settings (in first-seen key order, which JSONB does not keep)."""
    s, f = TABLES["stanzas"], TABLES["conf_files"]
    query = (
        select(
            s.c.conf_type,
            s.c.name,
            s.c.app,
            s.c.scope,
            s.c.layer,
            f.c.path,
            s.c.settings,
            s.c.occurrences,
        )
        .join(f, f.c.id == s.c.conf_file_id)
        .where(s.c.run_id == run_id)
        .order_by(f.c.path, f.c.id, s.c.order_in_file)
    )
    if conf_type is not None:
        query = query.where(s.c.conf_type == conf_type)
    if app is not None:
        query = query.where(s.c.app == app)
    if layer is not None:
        query = query.where(s.c.layer == layer)
    with _reading(bind) as connection:
        rows = connection.execute(query).all()
    return [
        {
            "conf_type": r.conf_type,
            "name": r.name,
            "app": r.app,
            "scope": None if r.scope is None else str(r.scope),
            "layer": None if r.layer is None else str(r.layer),
            "path": r.path,
            "settings": _first_seen(r.settings, r.occurrences),
        }
        for r in rows
    ]


def _first_seen(settings: dict[str, str], occurrences: list[list[Any]]) -> dict[str, str]:
    order = dict.fromkeys(str(o[0]) for o in occurrences)
    ordered = {key: settings[key] for key in order if key in settings}
    ordered.update(settings)  # keys without an occurrence (none from the parser) go last
    return ordered
