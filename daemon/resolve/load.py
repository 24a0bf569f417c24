"""The estate from the database: which runs are the latest, and what they say (conf stanzas,
bundle folders, inventory rows), and the stored resolutions the queries of RESOLVER.md §7
read. The only SQL that reads for the resolver; everything it returns is plain data
(daemon.resolve.estate).

The tables are SQLAlchemy Core clauses of the columns read here, not daemon.models: the ORM
and the models cost ~0.15 s of start-up, a third of what `autodoc btool` may take. A test
keeps them in step with daemon.models. Every function takes any `Reader`: a
daemon.database.Database, or the `EstateReader` the one-host commands open.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _string  # as json.dumps writes strings
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Boolean,
    LargeBinary,
    Text,
    and_,
    cast,
    column,
    create_engine,
    func,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.engine import Connection, Engine, Result, RowMapping
from sqlalchemy.sql import Executable, TableClause

from daemon.domain import ResolutionStatus, RunStatus, UploadType
from daemon.resolve.estate import Bundle, ConfFile, Estate, InventoryEntry, StanzaRow


def _table(
    name: str, *columns: str, json: Sequence[str] = (), boolean: Sequence[str] = ()
) -> TableClause:
    """A table with the columns read; JSON and Boolean ones typed, so that SQLite's text and
    integers come back as PostgreSQL's do."""
    return table(
        name,
        *(column(c) for c in columns),
        *(column(c, JSON) for c in json),
        *(column(c, Boolean) for c in boolean),
    )


RUNS = _table("ingestion_runs", "id", "type", "label", "status")
CONF_FILES = _table("conf_files", "id", "run_id", "path", "conf_type", "layer", "app", "scope")
STANZAS = _table(
    "stanzas", "conf_file_id", "name", "line", "order_in_file", json=("settings", "occurrences")
)
BUNDLE_DIRS = _table("bundle_dirs", "run_id", "path")
INVENTORY_ROWS = _table(
    "inventory_rows",
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
RESOLUTIONS = _table("resolutions", "id", "status", "ds_version", json=("inputs", "summary"))
HOSTS = _table(
    "hosts",
    "id",
    "resolution_id",
    "name",
    "client_name",
    "hostname",
    "ip",
    "dns",
    "guid",
    "machine_type",
    "role",
    "ds",
    "stack",
    json=("sources",),
)
MEMBERSHIPS = _table(
    "host_memberships",
    "resolution_id",
    "host_id",
    "serverclass",
    "result",
    json=("why", "missing"),
)
HOST_APPS = _table(
    "host_apps",
    "resolution_id",
    "host_id",
    "app",
    "result",
    "state",
    "target",
    json=("serverclasses",),
    boolean=("in_repository",),
)
EFFECTIVE_INPUTS = _table(
    "host_effective_inputs", "resolution_id", "stack", "stanza", json=("settings",)
)
FINDINGS = _table(
    "resolution_findings",
    "id",
    "resolution_id",
    "code",
    "severity",
    "host",
    "subject",
    "message",
    json=("evidence",),
)
WALKS = _table(
    "data_path_walks",
    "id",
    "resolution_id",
    json=("hops", "final", "evidence"),
    boolean=("may_drop",),
)
PATHS = _table(
    "host_data_paths",
    "id",
    "resolution_id",
    "host_id",
    "walk_id",
    "input",
    "index",
    "sourcetype",
    "host_field",
    "source",
    json=("groups", "servers", "evidence"),
)
FINALS = _table("data_path_finals", "id", "resolution_id", "walk_id", "index", "sourcetype")
# A path's own columns, as the store writes them (its walk's come from data_path_walks).
PATH_FIELDS = (
    "input",
    "index",
    "sourcetype",
    "host_field",
    "source",
    "groups",
    "servers",
    "evidence",
)
TABLES = {
    t.name: t
    for t in (
        RUNS,
        CONF_FILES,
        STANZAS,
        BUNDLE_DIRS,
        INVENTORY_ROWS,
        RESOLUTIONS,
        HOSTS,
        MEMBERSHIPS,
        HOST_APPS,
        EFFECTIVE_INPUTS,
        FINDINGS,
        WALKS,
        PATHS,
        FINALS,
    )
}
ESTATE_TYPES = (UploadType.DS_ETC, UploadType.INSTANCE_ETC, UploadType.INVENTORY)
BUNDLE_TYPES = (UploadType.DS_ETC, UploadType.INSTANCE_ETC)

# type -> label ("" for none) -> run id
EstateRuns = dict[str, dict[str, int]]


class Reading(Protocol):
    """What a read transaction offers here (an ORM Session does)."""

    def execute(self, statement: Executable) -> Result[Any]: ...
    def connection(self) -> Connection: ...


class Reader(Protocol):
    def read_session(self) -> contextlib.AbstractContextManager[Reading]: ...


class EstateReader:
    """The database opened for reading only, without daemon.database (whose models and ORM
    sessions cost ~0.15 s of start-up): what `autodoc host` and `autodoc btool` use. Errors
    are translated as daemon.database translates them (imported on failure only). It does
    not check the schema revision: the caller falls back to the full check on an error."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        args: dict[str, Any] = {"timeout": 30} if self.sqlite else {"connect_timeout": 10}
        self.engine: Engine = create_engine(url, connect_args=args, poolclass=_null_pool())

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Reading]:
        try:
            with self.engine.connect() as connection:
                if self.sqlite:
                    # One snapshot for every query (deferred: it never waits for a writer).
                    connection.exec_driver_sql("BEGIN")
                yield _Reading(connection)
        except Exception:
            from daemon.database import translate_errors

            with translate_errors():
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


class _Reading:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def execute(self, statement: Executable) -> Result[Any]:
        return self._connection.execute(statement)

    def connection(self) -> Connection:
        return self._connection


def latest_runs(db: Reader) -> EstateRuns:
    """The newest complete run of each (type, label) that makes up the estate."""
    with db.read_session() as session:
        rows = session.execute(
            select(RUNS.c.type, RUNS.c.label, func.max(RUNS.c.id))
            .where(
                RUNS.c.status == RunStatus.COMPLETE.value,
                RUNS.c.type.in_([t.value for t in ESTATE_TYPES]),
            )
            .group_by(RUNS.c.type, RUNS.c.label)
        ).all()
    found: EstateRuns = {}
    for upload_type, label, run_id in rows:
        found.setdefault(str(upload_type), {})[label or ""] = int(run_id)
    return found


def load_estate(
    db: Reader,
    runs: EstateRuns,
    *,
    system_default: tuple[ConfFile, ...] = (),
    read_file: Callable[[int, str], bytes | None] | None = None,
    conf_types: Sequence[str] | None = None,
    deployment_apps: Collection[str] | None = None,
) -> Estate:
    """The estate those runs say (see latest_runs): only files of `conf_types` when given,
    and of a DS repository's apps only those of `deployment_apps` when given (one host's)."""
    bundle_runs = {
        run_id: (upload_type, label)
        for upload_type in BUNDLE_TYPES
        for label, run_id in runs.get(upload_type.value, {}).items()
    }
    inventory_runs = dict(runs.get(UploadType.INVENTORY.value, {}).items())
    with db.read_session() as session:
        connection = session.connection()
        files = _conf_files(connection, list(bundle_runs), conf_types, deployment_apps)
        dirs = _bundle_dirs(connection, list(bundle_runs))
        inventory = _inventory(connection, inventory_runs)
    bundles: dict[str, list[Bundle]] = defaultdict(list)
    for run_id, (upload_type, label) in sorted(bundle_runs.items(), key=lambda item: item[0]):
        bundles[upload_type.value].append(
            Bundle(
                run=run_id,
                upload_type=upload_type.value,
                label=label or None,
                files=tuple(files.get(run_id, ())),
                dirs=frozenset(dirs.get(run_id, ())),
            )
        )
    kwargs: dict[str, Any] = {} if read_file is None else {"read_file": read_file}
    return Estate(
        deployment_servers=tuple(bundles[UploadType.DS_ETC.value]),
        instances=tuple(bundles[UploadType.INSTANCE_ETC.value]),
        inventory=tuple(inventory),
        system_default=system_default,
        **kwargs,
    )


def _conf_files(
    connection: Connection,
    run_ids: list[int],
    conf_types: Sequence[str] | None = None,
    deployment_apps: Collection[str] | None = None,
) -> dict[int, list[ConfFile]]:
    if not run_ids:
        return {}
    conf_files, stanzas = CONF_FILES, STANZAS
    query = (
        select(
            conf_files.c.id,
            conf_files.c.run_id,
            conf_files.c.path,
            conf_files.c.conf_type,
            conf_files.c.layer,
            conf_files.c.app,
            conf_files.c.scope,
            stanzas.c.name,
            stanzas.c.line,
            stanzas.c.settings,
            stanzas.c.occurrences,
        )
        .select_from(conf_files.outerjoin(stanzas, stanzas.c.conf_file_id == conf_files.c.id))
        .where(conf_files.c.run_id.in_(run_ids))
        .order_by(conf_files.c.id, stanzas.c.order_in_file)
    )
    if conf_types is not None:
        query = query.where(conf_files.c.conf_type.in_(conf_types))
    if deployment_apps is not None:
        query = query.where(
            or_(
                conf_files.c.layer.is_(None),
                conf_files.c.layer != "deployment_app",
                conf_files.c.app.in_(list(deployment_apps)),
            )
        )
    rows = connection.execute(query).all()
    heads: dict[int, tuple[Any, ...]] = {}
    stanza_rows: dict[int, list[StanzaRow]] = defaultdict(list)
    for file_id, run_id, path, conf_type, layer, app, scope, name, line, settings, occ in rows:
        heads.setdefault(file_id, (run_id, path, conf_type, layer, app, scope))
        if name is not None:
            stanza_rows[file_id].append(_stanza(name, line, settings, occ))
    by_run: dict[int, list[ConfFile]] = defaultdict(list)
    for file_id, (run_id, path, conf_type, layer, app, scope) in heads.items():
        by_run[run_id].append(
            ConfFile(
                run=run_id,
                path=path,
                conf_type=conf_type,
                layer=None if layer is None else str(layer),
                app=app,
                scope=None if scope is None else str(scope),
                stanzas=tuple(stanza_rows.get(file_id, ())),
            )
        )
    return by_run


def _stanza(name: str, line: int, settings: Mapping[str, str], occurrences: Any) -> StanzaRow:
    lines: dict[str, int] = {}
    for key, _value, key_line in occurrences or ():
        lines[key] = int(key_line)  # the last occurrence wins, as in the parser
    return StanzaRow(name=name, line=int(line), settings=dict(settings), lines=lines)


def _bundle_dirs(connection: Connection, run_ids: list[int]) -> dict[int, list[str]]:
    if not run_ids:
        return {}
    table = BUNDLE_DIRS
    found: dict[int, list[str]] = defaultdict(list)
    for run_id, path in connection.execute(
        select(table.c.run_id, table.c.path).where(table.c.run_id.in_(run_ids))
    ):
        found[run_id].append(path)
    return found


def _inventory(connection: Connection, runs: Mapping[str, int]) -> list[InventoryEntry]:
    if not runs:
        return []
    labels = {run_id: label for label, run_id in runs.items()}
    table = INVENTORY_ROWS
    entries = []
    for row in connection.execute(
        select(table)
        .where(table.c.run_id.in_(list(labels)))
        .order_by(table.c.run_id, table.c.row_number)
    ).mappings():
        entries.append(
            InventoryEntry(
                run=row["run_id"],
                label=labels[row["run_id"]] or None,
                row_number=row["row_number"],
                client_name=row["client_name"],
                hostname=row["hostname"],
                ip=row["ip"],
                dns=row["dns"],
                guid=row["guid"],
                machine_type=row["machine_type"],
                splunk_version=row["splunk_version"],
                role=row["role"],
            )
        )
    return entries


# -- stored resolutions (the queries of RESOLVER.md §7) -----------------------------------------


class NoResolution(Exception):
    """No complete resolution to answer from."""


def latest_resolution(db: Reader, resolution_id: int | None = None) -> dict[str, Any]:
    """The newest complete resolution (or that one): id, status, ds_version, inputs,
    summary. Raises NoResolution saying why there is none."""
    table = RESOLUTIONS
    with db.read_session() as session:
        query = select(table).where(table.c.status == ResolutionStatus.COMPLETE.value)
        if resolution_id is not None:
            query = query.where(table.c.id == resolution_id)
        row = session.execute(query.order_by(table.c.id.desc()).limit(1)).mappings().first()
        if row is not None:
            return dict(row)
        running = session.execute(
            select(table.c.id).where(table.c.status == ResolutionStatus.RUNNING.value)
        ).first()
    if resolution_id is not None:
        raise NoResolution(f"no complete resolution {resolution_id}")
    if running is not None:
        raise NoResolution("the first resolution is still being computed: try again shortly")
    raise NoResolution(
        "the estate has not been resolved yet: drop a ds_etc (and a client list) or "
        "instance_etc trees and let the daemon resolve them, or run 'autodoc resolve'"
    )


def stored_hosts(db: Reader, resolution_id: int) -> list[dict[str, Any]]:
    """Every host with its member classes and delivered apps (hosts --json), by name."""
    hosts, memberships, apps = HOSTS, MEMBERSHIPS, HOST_APPS
    with db.read_session() as session:
        rows = (
            session.execute(
                select(hosts).where(hosts.c.resolution_id == resolution_id).order_by(hosts.c.name)
            )
            .mappings()
            .all()
        )
        classes: dict[int, list[str]] = defaultdict(list)
        for host_id, name in session.execute(
            select(memberships.c.host_id, memberships.c.serverclass)
            .where(memberships.c.resolution_id == resolution_id, memberships.c.result == "member")
            .order_by(memberships.c.serverclass)
        ):
            classes[host_id].append(name)
        delivered: dict[int, list[str]] = defaultdict(list)
        for host_id, app in session.execute(
            select(apps.c.host_id, apps.c.app)
            .where(apps.c.resolution_id == resolution_id, apps.c.result == "deployed")
            .order_by(apps.c.app)
        ):
            delivered[host_id].append(app)
    return [_host(row, classes.get(row["id"], []), delivered.get(row["id"], [])) for row in rows]


def _host(row: RowMapping, classes: list[str], apps: list[str]) -> dict[str, Any]:
    return {
        **{k: row[k] for k in ("name", *HOST_COLUMNS, "role", "sources")},
        "serverclasses": classes,
        "apps": apps,
        "_id": row["id"],
        "_stack": row["stack"],
        "_ds": row["ds"],
    }


HOST_COLUMNS = ("client_name", "hostname", "ip", "dns", "guid", "machine_type")
# The names a host is found by (find_host), in the order they are tried.
NAME_COLUMNS = ("name", "client_name", "hostname", "dns", "ip", "guid")


class AmbiguousHost(Exception):
    """NAME is the short name of several hosts and none of their full names."""

    def __init__(self, name: str, hosts: Sequence[str]) -> None:
        super().__init__(f"{name!r} is the short name of several hosts: {', '.join(hosts)}")
        self.hosts = tuple(hosts)


def find_host(hosts: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """A host by any of its names: name, client name, hostname, short name, dns, ip, guid.
    The first field in that order that some host has (case-insensitively) decides, then the
    first such host by name; a short name must be the first label of one hostname only
    (several: AmbiguousHost). `hosts` in name order, as stored_hosts gives them."""
    wanted = name.strip().lower()
    if not wanted:  # a blank name is nobody's (not every host that lacks a field)
        return None
    for field in NAME_COLUMNS:
        for host in hosts:
            if (host.get(field) or "").lower() == wanted:
                return host
    short = [h for h in hosts if (h.get("hostname") or "").lower().split(".")[0] == wanted]
    if len(short) > 1:
        raise AmbiguousHost(name, [h["name"] for h in short])
    return short[0] if short else None


def find_stored_host(db: Reader, resolution_id: int, name: str) -> dict[str, Any] | None:
    """One host of a resolution by any of its names (find_host's rules), with its member
    classes and delivered apps, as stored_hosts gives it; None when no host has that name.
    Raises AmbiguousHost.

    The query selects the hosts whose names could match: SQL's lower() on ASCII is
    Python's, and a host with a non-ASCII name is always selected (SQLite's lower() leaves
    such characters alone, Python's folds some to ASCII, e.g. the Kelvin sign); find_host
    then decides among them exactly as over every host, in the same (name) order."""
    hosts, memberships, apps = HOSTS, MEMBERSHIPS, HOST_APPS
    wanted = name.strip().lower()
    pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
    with db.read_session() as session:
        lower, non_ascii = _sql_text(session.connection())
        could = [lower(hosts.c[c]) == wanted for c in NAME_COLUMNS]
        could.append(lower(hosts.c.hostname).like(pattern, escape="\\"))
        could.extend(non_ascii(hosts.c[c]) for c in NAME_COLUMNS)
        rows = (
            session.execute(
                select(hosts)
                .where(hosts.c.resolution_id == resolution_id, or_(*could))
                .order_by(hosts.c.name)
            )
            .mappings()
            .all()
        )
        found = find_host([_host(row, [], []) for row in rows], name)
        if found is None:
            return None
        found["serverclasses"] = list(
            session.execute(
                select(memberships.c.serverclass)
                .where(memberships.c.host_id == found["_id"], memberships.c.result == "member")
                .order_by(memberships.c.serverclass)
            ).scalars()
        )
        deployed = session.execute(
            select(apps.c.app, apps.c.state, apps.c.target)
            .where(apps.c.host_id == found["_id"], apps.c.result == "deployed")
            .order_by(apps.c.app)
        ).all()
    found["apps"] = [app for app, _state, _target in deployed]
    found["_deployed"] = [tuple(row) for row in deployed]  # (app, state, target)
    return found


def _sql_text(connection: Connection) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """SQL for a column lower-cased in ASCII only (SQLite's lower(); PostgreSQL's under the
    "C" collation, which is also several times faster than a locale's), and for "the
    column holds a character outside ASCII" (UTF-8 takes more bytes than characters)."""
    if connection.dialect.name == "postgresql":
        return (
            lambda c: func.lower(c.collate("C")),
            lambda c: func.octet_length(c) != func.char_length(c),
        )
    return func.lower, lambda c: func.length(cast(c, LargeBinary)) != func.length(c)


def named(connection: Connection, column: Any, name: str) -> Any:
    """`column = name` as the name lookup indexes serve it (daemon.models._name_lookups): on
    PostgreSQL through md5(column), whatever the name's length."""
    if connection.dialect.name == "postgresql":
        return and_(func.md5(column) == func.md5(name), column == name)
    return column == name


def host_details(db: Reader, resolution_id: int, host: dict[str, Any]) -> dict[str, Any]:
    """Classes (member and unknown) with why, apps, effective inputs and findings of a host."""
    memberships, apps, inputs = MEMBERSHIPS, HOST_APPS, EFFECTIVE_INPUTS
    with db.read_session() as session:
        classes = [
            {"name": r.serverclass, "result": r.result, "why": r.why, "missing": r.missing}
            for r in session.execute(
                select(
                    memberships.c.serverclass,
                    memberships.c.result,
                    memberships.c.why,
                    memberships.c.missing,
                )
                .where(memberships.c.host_id == host["_id"])
                .order_by(memberships.c.serverclass)
            )
        ]
        host_apps = [
            {
                "app": r.app,
                "serverclasses": r.serverclasses,
                "result": r.result,
                "state": r.state,
                "target": r.target,
                "in_repository": r.in_repository,
            }
            for r in session.execute(
                select(
                    apps.c.app,
                    apps.c.serverclasses,
                    apps.c.result,
                    apps.c.state,
                    apps.c.target,
                    apps.c.in_repository,
                )
                .where(apps.c.host_id == host["_id"])
                .order_by(apps.c.app, apps.c.result)
            )
        ]
        effective = {
            r.stanza: r.settings
            for r in session.execute(
                select(inputs.c.stanza, inputs.c.settings)
                .where(inputs.c.resolution_id == resolution_id, inputs.c.stack == host["_stack"])
                .order_by(inputs.c.stanza)
            )
        }
    found = stored_findings(db, resolution_id, host=host["name"])
    return {
        "serverclasses": classes,
        "apps": host_apps,
        "inputs": effective,
        "paths": stored_paths(db, resolution_id, host_id=host["_id"]),
        "findings": found,
    }


def stored_findings(
    db: Reader, resolution_id: int, *, code: str | None = None, host: str | None = None
) -> list[dict[str, Any]]:
    """A resolution's findings ({code, severity, host, subject, message, evidence}, RESOLVER.md
    §7), of one code and about one host (its name) when given; by code, then as found."""
    findings = FINDINGS
    query = select(
        findings.c.code,
        findings.c.severity,
        findings.c.host,
        findings.c.subject,
        findings.c.message,
        findings.c.evidence,
    ).where(findings.c.resolution_id == resolution_id)
    if code is not None:
        query = query.where(findings.c.code == code)
    with db.read_session() as session:
        if host is not None:
            query = query.where(named(session.connection(), findings.c.host, host))
        return [
            dict(r)
            for r in session.execute(query.order_by(findings.c.code, findings.c.id)).mappings()
        ]


def _paths_query(
    connection: Connection,
    resolution_id: int,
    columns: Sequence[Any],
    *,
    host_id: int | None,
    index: str | None,
    sourcetype: str | None,
) -> Any:
    """The paths of a resolution (host name, walk id, then `columns`), of one host and read
    as or ending in that index and/or sourcetype when given, by host name and input. Each
    of "read as" and "ends in" goes through its own index (an OR of the two would read every
    path of the resolution)."""
    paths, hosts, finals = PATHS, HOSTS, FINALS
    query = (
        select(hosts.c.name, paths.c.walk_id, *columns)
        .join(hosts, hosts.c.id == paths.c.host_id)
        .where(paths.c.resolution_id == resolution_id)
    )
    if host_id is not None:
        query = query.where(paths.c.host_id == host_id)
    for name, wanted in (("index", index), ("sourcetype", sourcetype)):
        if wanted is not None:
            read_as = select(paths.c.id).where(
                paths.c.resolution_id == resolution_id, named(connection, paths.c[name], wanted)
            )
            ending = select(paths.c.id).where(
                paths.c.walk_id.in_(
                    select(finals.c.walk_id).where(
                        finals.c.resolution_id == resolution_id,
                        named(connection, finals.c[name], wanted),
                    )
                )
            )
            query = query.where(paths.c.id.in_(union_all(read_as, ending)))
    return query.order_by(hosts.c.name, paths.c.input)


def _walks(session: Reading, ids: Collection[int], columns: Sequence[Any]) -> dict[int, Any]:
    """Each walk once, however many paths share it (its JSON is most of a path)."""
    walks = WALKS
    wanted = sorted(ids)
    shared: dict[int, Any] = {}
    for start in range(0, len(wanted), 10_000):
        batch = wanted[start : start + 10_000]
        query = select(walks.c.id, *columns).where(walks.c.id.in_(batch))
        for walk in session.execute(query):
            shared[walk[0]] = walk
    return shared


def stored_paths(
    db: Reader,
    resolution_id: int,
    *,
    host_id: int | None = None,
    index: str | None = None,
    sourcetype: str | None = None,
) -> list[dict[str, Any]]:
    """A resolution's data paths ({host, input, index, sourcetype, host_field, source, groups,
    servers, receivers, final, may_drop, evidence}, RESOLVER.md §7) by host name and input:
    of one host, and read as or ending in that index and/or sourcetype, when given."""
    paths, walks = PATHS, WALKS
    with db.read_session() as session:
        query = _paths_query(
            session.connection(),
            resolution_id,
            [paths.c[f] for f in PATH_FIELDS],
            host_id=host_id,
            index=index,
            sourcetype=sourcetype,
        )
        rows = session.execute(query).mappings().all()
        columns = (walks.c.hops, walks.c.final, walks.c.may_drop, walks.c.evidence)
        shared = {
            walk_id: walk._mapping
            for walk_id, walk in _walks(session, {r["walk_id"] for r in rows}, columns).items()
        }
    out = []
    for r in rows:
        walk = shared[r["walk_id"]]
        out.append(
            {
                "host": r["name"],
                **{f: r[f] for f in PATH_FIELDS if f != "evidence"},
                "receivers": walk["hops"],
                "final": walk["final"],
                "may_drop": walk["may_drop"],
                # The input's own settings, then the walk's (no setting is in both).
                "evidence": [*r["evidence"], *walk["evidence"]],
            }
        )
    return out


def stored_paths_json(
    db: Reader,
    resolution_id: int,
    *,
    host_id: int | None = None,
    index: str | None = None,
    sourcetype: str | None = None,
) -> Iterator[str]:
    """stored_paths as JSON text, one path an item, without decoding the JSON the store
    wrote: each object's text is spliced from the stored texts (tens of thousands of paths
    an index may have: decoding and encoding them again was most of `paths --json`)."""
    paths, walks = PATHS, WALKS
    texts = [cast(paths.c[f], Text) for f in ("groups", "servers", "evidence")]
    with db.read_session() as session:
        query = _paths_query(
            session.connection(),
            resolution_id,
            [*(paths.c[f] for f in _OWN_STRINGS), *texts],
            host_id=host_id,
            index=index,
            sourcetype=sourcetype,
        )
        rows = session.execute(query).all()
        columns = [cast(walks.c[f], Text) for f in ("hops", "final", "evidence")]
        shared = _walks(session, {r[1] for r in rows}, [*columns, walks.c.may_drop])
    for (
        host,
        walk_id,
        input_,
        index_,
        sourcetype_,
        host_field,
        source,
        groups,
        servers,
        own,
    ) in rows:
        _id, hops, final, evidence, may_drop = shared[walk_id]
        yield (
            f'{{"host": {_string(host)}, "input": {_string(input_)}, '
            f'"index": {_string(index_)}, "sourcetype": {_string(sourcetype_)}, '
            f'"host_field": {_string(host_field)}, "source": {_string(source)}, '
            f'"groups": {groups}, "servers": {servers}, "receivers": {hops}, '
            f'"final": {final}, "may_drop": {"true" if may_drop else "false"}, '
            f'"evidence": {_joined(own, evidence)}}}'
        )


_OWN_STRINGS = PATH_FIELDS[:5]  # input, index, sourcetype, host_field, source


def _joined(first: str, second: str) -> str:
    """Two JSON arrays' texts as the text of one array holding the items of both."""
    first, second = first.strip(), second.strip()
    if not first[1:-1].strip():
        return second
    if not second[1:-1].strip():
        return first
    return f"{first[:-1]}, {second[1:]}"
