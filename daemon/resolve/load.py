"""The estate from the database: which runs are the latest, and what they say (conf stanzas,
bundle folders, inventory rows). The only SQL that reads for the resolver; everything it
returns is plain data (daemon.resolve.estate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from daemon.database import Database
from daemon.domain import ResolutionStatus, RunStatus, UploadType
from daemon.models import Base
from daemon.resolve.estate import Bundle, ConfFile, Estate, InventoryEntry, StanzaRow

TABLES = Base.metadata.tables
RUNS = TABLES["ingestion_runs"]
ESTATE_TYPES = (UploadType.DS_ETC, UploadType.INSTANCE_ETC, UploadType.INVENTORY)
BUNDLE_TYPES = (UploadType.DS_ETC, UploadType.INSTANCE_ETC)

# type -> label ("" for none) -> run id
EstateRuns = dict[str, dict[str, int]]


def latest_runs(db: Database) -> EstateRuns:
    """The newest complete run of each (type, label) that makes up the estate."""
    with db.read_session() as session:
        rows = session.execute(
            select(RUNS.c.type, RUNS.c.label, func.max(RUNS.c.id))
            .where(RUNS.c.status == RunStatus.COMPLETE, RUNS.c.type.in_(ESTATE_TYPES))
            .group_by(RUNS.c.type, RUNS.c.label)
        ).all()
    found: EstateRuns = {}
    for upload_type, label, run_id in rows:
        found.setdefault(str(upload_type), {})[label or ""] = int(run_id)
    return found


def load_estate(
    db: Database,
    runs: EstateRuns,
    *,
    system_default: tuple[ConfFile, ...] = (),
    read_file: Callable[[int, str], bytes | None] | None = None,
    conf_types: Sequence[str] | None = None,
) -> Estate:
    """The estate those runs say (see latest_runs)."""
    bundle_runs = {
        run_id: (upload_type, label)
        for upload_type in BUNDLE_TYPES
        for label, run_id in runs.get(upload_type.value, {}).items()
    }
    inventory_runs = dict(runs.get(UploadType.INVENTORY.value, {}).items())
    with db.read_session() as session:
        connection = session.connection()
        files = _conf_files(connection, list(bundle_runs), conf_types)
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
    connection: Connection, run_ids: list[int], conf_types: Sequence[str] | None = None
) -> dict[int, list[ConfFile]]:
    if not run_ids:
        return {}
    conf_files, stanzas = TABLES["conf_files"], TABLES["stanzas"]
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
    table = TABLES["bundle_dirs"]
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
    table = TABLES["inventory_rows"]
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


def latest_resolution(db: Database, resolution_id: int | None = None) -> dict[str, Any]:
    """The newest complete resolution (or that one): id, created_at, ds_version, inputs,
    summary. Raises NoResolution saying why there is none."""
    table = TABLES["resolutions"]
    with db.read_session() as session:
        query = select(table).where(table.c.status == ResolutionStatus.COMPLETE)
        if resolution_id is not None:
            query = query.where(table.c.id == resolution_id)
        row = session.execute(query.order_by(table.c.id.desc()).limit(1)).mappings().first()
        if row is not None:
            return dict(row)
        running = session.execute(
            select(table.c.id).where(table.c.status == ResolutionStatus.RUNNING)
        ).first()
    if resolution_id is not None:
        raise NoResolution(f"no complete resolution {resolution_id}")
    if running is not None:
        raise NoResolution("the first resolution is still being computed: try again shortly")
    raise NoResolution(
        "the estate has not been resolved yet: drop a ds_etc bundle (and an inventory) and let "
        "the daemon resolve it, or run 'autodoc resolve'"
    )


def stored_hosts(db: Database, resolution_id: int) -> list[dict[str, Any]]:
    """Every host with its member classes and delivered apps (hosts --json), by name."""
    hosts, memberships, apps = TABLES["hosts"], TABLES["host_memberships"], TABLES["host_apps"]
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
    return [
        {
            **{k: row[k] for k in ("name", *HOST_COLUMNS, "role", "sources")},
            "serverclasses": classes.get(row["id"], []),
            "apps": delivered.get(row["id"], []),
            "_id": row["id"],
            "_stack": row["stack"],
            "_ds": row["ds"],
        }
        for row in rows
    ]


HOST_COLUMNS = ("client_name", "hostname", "ip", "dns", "guid", "machine_type")


def find_host(hosts: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """A host by any of its names: name, client name, hostname, short name, dns, ip, guid."""
    wanted = name.strip().lower()
    for field in ("name", "client_name", "hostname", "dns", "ip", "guid"):
        for host in hosts:
            if (host.get(field) or "").lower() == wanted:
                return host
    short = [h for h in hosts if (h.get("hostname") or "").lower().split(".")[0] == wanted]
    return short[0] if len(short) == 1 else None


def host_details(db: Database, resolution_id: int, host: dict[str, Any]) -> dict[str, Any]:
    """Classes (member and unknown) with why, apps, effective inputs and findings of a host."""
    memberships, apps = TABLES["host_memberships"], TABLES["host_apps"]
    inputs, findings = TABLES["host_effective_inputs"], TABLES["resolution_findings"]
    with db.read_session() as session:
        classes = [
            {"name": r.serverclass, "result": r.result, "why": r.why, "missing": r.missing}
            for r in session.execute(
                select(memberships)
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
                select(apps)
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
        found = [
            {
                "code": r.code,
                "severity": r.severity,
                "host": r.host,
                "subject": r.subject,
                "message": r.message,
                "evidence": r.evidence,
            }
            for r in session.execute(
                select(findings)
                .where(findings.c.resolution_id == resolution_id, findings.c.host == host["name"])
                .order_by(findings.c.code, findings.c.id)
            )
        ]
    return {
        "serverclasses": classes,
        "apps": host_apps,
        "inputs": effective,
        "paths": [],
        "findings": found,
    }
