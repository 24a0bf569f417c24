"""One resolution read for the site: the only SQL of daemon.docs. Everything comes back as
plain dataclasses and dicts.

Two passes keep a 10,000-host estate small in memory. `load_site` reads what every page needs
at once, by a few set-based queries and without the heavy JSON (whys, evidence): hosts,
memberships, apps, data paths and their walks' hops and finals, findings, and the bundles'
conf files of the types the pages show. `host_details` then reads the heavy part of a batch
of hosts at a time (whys, evidence), for their own pages only. `load_view` reads what a diff
compares (daemon.docs.diff.ResolutionView).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Text, cast, column, func, select, table

from daemon.docs.diff import (
    ConfStanzas,
    FindingView,
    HostView,
    InputStanza,
    ResolutionView,
    app_contents,
    final_indexes,
)
from daemon.domain import ResolutionStatus, UploadType
from daemon.resolve.defaults import shipped_system_default
from daemon.resolve.estate import Bundle, ConfFile
from daemon.resolve.load import (
    CONF_FILES,
    EFFECTIVE_INPUTS,
    FINALS,
    FINDINGS,
    HOST_APPS,
    HOSTS,
    MEMBERSHIPS,
    PATHS,
    RESOLUTIONS,
    STANZAS,
    WALKS,
    Reader,
    latest_resolution,
    load_estate,
)

# The conf types whose effective configuration a host page shows (those the resolver reads
# for data paths) and that the app, index and sourcetype pages read; app.conf for versions
# and install states.
CONF_TYPES = ("inputs", "outputs", "props", "transforms", "indexes")
_READ_TYPES = (*CONF_TYPES, "app", "serverclass")
BATCH = 500  # hosts whose details are read at once


@dataclass(frozen=True, slots=True)
class Host:
    id: int
    name: str
    client_name: str | None
    hostname: str | None
    ip: str | None
    dns: str | None
    guid: str | None
    machine_type: str | None
    splunk_version: str | None
    role: str
    ds: str | None
    stack: str | None
    sources: tuple[str, ...]

    @property
    def instance_run(self) -> int | None:
        """The instance_etc run of the host's own tree, when it sent one."""
        for source in self.sources:
            if source.startswith("instance_etc:run "):
                return int(source.rsplit(" ", 1)[1])
        return None


@dataclass(frozen=True, slots=True)
class Membership:
    host_id: int
    serverclass: str
    result: str  # member | unknown (not_member is not stored)
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostApp:
    host_id: int
    app: str
    serverclasses: tuple[str, ...]
    result: str  # deployed | unknown | observed
    state: str | None
    target: str | None
    in_repository: bool


@dataclass(frozen=True, slots=True)
class Final:
    index: str | None
    sourcetype: str | None
    certainty: str
    at: str | None


@dataclass(frozen=True, slots=True)
class Walk:
    """Where data goes from its reading host on, shared by every path with the same one."""

    id: int
    hops: tuple[tuple[str, str | None, str | None, str | None], ...]  # from, group, server, to
    final: tuple[Final, ...]
    may_drop: bool


@dataclass(frozen=True, slots=True)
class DataPath:
    host_id: int
    input: str
    index: str | None
    sourcetype: str | None
    walk_id: int


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: str
    host: str | None
    subject: str
    message: str


@dataclass(frozen=True, slots=True)
class AppFile:
    """A conf file of an app in one bundle: the DS repository's copy or a host's own."""

    run: int
    bundle: str  # "ds_etc ds1", "instance_etc hf01"
    path: str
    conf_type: str
    layer: str
    scope: str | None
    stanzas: int


@dataclass
class Site:
    """What every page needs, read once."""

    resolution: dict[str, Any]
    runs: list[tuple[str, str, int]]  # (type, label, run id), as the resolution read them
    hosts: list[Host]
    memberships: list[Membership]
    host_apps: list[HostApp]
    paths: list[DataPath]
    walks: dict[int, Walk]
    findings: list[Finding]
    bundles: list[Bundle]  # with their files of _READ_TYPES
    shipped: tuple[ConfFile, ...]  # the shipped system/default files of CONF_TYPES
    app_files: dict[str, list[AppFile]] = field(default_factory=dict)


@dataclass
class HostDetails:
    """The heavy part of one host's page."""

    memberships: list[dict[str, Any]] = field(default_factory=list)  # {name, result, why, missing}
    # RESOLVER.md §7 shape without servers (the hops say them), the output groups and the
    # evidence lists as their stored JSON text (groups, own_evidence, walk_evidence): a page
    # decodes each distinct one once (daemon.docs.hostpage)
    paths: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)  # with evidence


def load_site(db: Reader, resolution_id: int | None = None) -> Site:
    """The resolution (the latest complete one when None). Raises NoResolution."""
    resolution = latest_resolution(db, resolution_id)
    rid = int(resolution["id"])
    runs_by_type: dict[str, dict[str, int]] = (resolution.get("inputs") or {}).get("runs", {})
    runs = sorted(
        (
            (kind, label, int(run))
            for kind, labels in runs_by_type.items()
            for label, run in labels.items()
        ),
        key=lambda r: r[2],
    )
    with db.read_session() as session:
        hosts = [
            Host(
                id=int(r.id),
                name=r.name,
                client_name=r.client_name,
                hostname=r.hostname,
                ip=r.ip,
                dns=r.dns,
                guid=r.guid,
                machine_type=r.machine_type,
                splunk_version=r.splunk_version,
                role=r.role,
                ds=r.ds,
                stack=r.stack,
                sources=tuple(r.sources or ()),
            )
            for r in session.execute(
                select(_HOSTS).where(_HOSTS.c.resolution_id == rid).order_by(_HOSTS.c.name)
            )
        ]
        memberships = [
            Membership(int(r.host_id), r.serverclass, r.result, tuple(r.missing or ()))
            for r in session.execute(
                select(
                    MEMBERSHIPS.c.host_id,
                    MEMBERSHIPS.c.serverclass,
                    MEMBERSHIPS.c.result,
                    MEMBERSHIPS.c.missing,
                )
                .where(MEMBERSHIPS.c.resolution_id == rid)
                .order_by(MEMBERSHIPS.c.serverclass)
            )
        ]
        host_apps = [
            HostApp(
                int(r.host_id),
                r.app,
                tuple(r.serverclasses or ()),
                r.result,
                r.state,
                r.target,
                bool(r.in_repository),
            )
            for r in session.execute(
                select(
                    HOST_APPS.c.host_id,
                    HOST_APPS.c.app,
                    HOST_APPS.c.serverclasses,
                    HOST_APPS.c.result,
                    HOST_APPS.c.state,
                    HOST_APPS.c.target,
                    HOST_APPS.c.in_repository,
                )
                .where(HOST_APPS.c.resolution_id == rid)
                .order_by(HOST_APPS.c.app)
            )
        ]
        paths = [
            DataPath(int(r.host_id), r.input, r._mapping["index"], r.sourcetype, int(r.walk_id))
            for r in session.execute(
                select(
                    PATHS.c.host_id,
                    PATHS.c.input,
                    PATHS.c.index,
                    PATHS.c.sourcetype,
                    PATHS.c.walk_id,
                )
                .where(PATHS.c.resolution_id == rid)
                .order_by(PATHS.c.host_id, PATHS.c.input)
            )
        ]
        walks = {
            int(r.id): Walk(
                int(r.id),
                tuple(_hop(h) for h in r.hops or ()),
                tuple(_final(f) for f in r.final or ()),
                bool(r.may_drop),
            )
            for r in session.execute(
                select(WALKS.c.id, WALKS.c.hops, WALKS.c.final, WALKS.c.may_drop).where(
                    WALKS.c.resolution_id == rid
                )
            )
        }
        findings = [
            Finding(r.code, r.severity, r.host, r.subject, r.message)
            for r in session.execute(
                select(
                    FINDINGS.c.code,
                    FINDINGS.c.severity,
                    FINDINGS.c.host,
                    FINDINGS.c.subject,
                    FINDINGS.c.message,
                )
                .where(FINDINGS.c.resolution_id == rid)
                .order_by(FINDINGS.c.code, FINDINGS.c.id)
            )
        ]
        # One order whatever the ids: two resolutions of the same estate render the same bytes.
        name_of = {h.id: h.name for h in hosts}
        memberships.sort(key=lambda m: (m.serverclass, name_of.get(m.host_id, ""), m.result))
        host_apps.sort(key=lambda a: (a.app, name_of.get(a.host_id, ""), a.result, a.state or ""))
        bundle_runs = {
            run: (kind, label) for kind, label, run in runs if kind in ("ds_etc", "instance_etc")
        }
        app_files = _app_files(session.connection(), bundle_runs)
    estate = load_estate(
        db,
        {k: v for k, v in runs_by_type.items() if k in ("ds_etc", "instance_etc")},
        conf_types=_READ_TYPES,
    )
    return Site(
        resolution=dict(resolution),
        runs=runs,
        hosts=hosts,
        memberships=memberships,
        host_apps=host_apps,
        paths=paths,
        walks=walks,
        findings=findings,
        bundles=[*estate.deployment_servers, *estate.instances],
        shipped=shipped_system_default(*CONF_TYPES),
        app_files=app_files,
    )


# daemon.resolve.load's hosts with splunk_version, which its queries do not read.
_HOSTS = table(
    "hosts",
    *(column(c.name) for c in HOSTS.columns if c.name != "sources"),
    column("splunk_version"),
    column("sources", JSON),
)


def _hop(hop: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    return (hop["from"], hop.get("group"), hop.get("server"), hop.get("to"))


def _final(final: Mapping[str, Any]) -> Final:
    return Final(final.get("index"), final.get("sourcetype"), final["certainty"], final.get("at"))


def _app_files(
    connection: Any, bundle_runs: Mapping[int, tuple[str, str]]
) -> dict[str, list[AppFile]]:
    """Every conf file of an app in the bundles, with its number of stanzas, by app."""
    if not bundle_runs:
        return {}
    counts = (
        select(STANZAS.c.conf_file_id, func.count().label("n"))
        .group_by(STANZAS.c.conf_file_id)
        .subquery()
    )
    found: dict[str, list[AppFile]] = defaultdict(list)
    for r in connection.execute(
        select(
            CONF_FILES.c.run_id,
            CONF_FILES.c.path,
            CONF_FILES.c.conf_type,
            CONF_FILES.c.layer,
            CONF_FILES.c.app,
            CONF_FILES.c.scope,
            counts.c.n,
        )
        .select_from(CONF_FILES.outerjoin(counts, counts.c.conf_file_id == CONF_FILES.c.id))
        .where(
            CONF_FILES.c.run_id.in_(list(bundle_runs)),
            CONF_FILES.c.app.is_not(None),
            CONF_FILES.c.layer.in_(("app", "deployment_app")),
        )
        .order_by(CONF_FILES.c.app, CONF_FILES.c.run_id, CONF_FILES.c.path)
    ):
        kind, label = bundle_runs[int(r.run_id)]
        found[r.app].append(
            AppFile(
                int(r.run_id),
                f"{kind} {label}" if label else kind,
                r.path,
                r.conf_type,
                str(r.layer),
                None if r.scope is None else str(r.scope),
                int(r.n or 0),
            )
        )
    return dict(found)


def host_details(db: Reader, site: Site, hosts: Sequence[Host]) -> dict[int, HostDetails]:
    """The whys, paths with their evidence and findings with theirs, of these hosts (a
    batch: one query per table for all of them)."""
    rid = int(site.resolution["id"])
    ids = [h.id for h in hosts]
    names = {h.id: h.name for h in hosts}
    details = {h.id: HostDetails() for h in hosts}
    with db.read_session() as session:
        for r in session.execute(
            select(
                MEMBERSHIPS.c.host_id,
                MEMBERSHIPS.c.serverclass,
                MEMBERSHIPS.c.result,
                MEMBERSHIPS.c.why,
                MEMBERSHIPS.c.missing,
            )
            .where(MEMBERSHIPS.c.host_id.in_(ids))
            .order_by(MEMBERSHIPS.c.serverclass)
        ):
            details[int(r.host_id)].memberships.append(
                {"name": r.serverclass, "result": r.result, "why": r.why, "missing": r.missing}
            )
        rows = session.execute(
            select(PATHS.c.host_id, PATHS.c.walk_id, PATHS.c.input, PATHS.c.index)
            .add_columns(
                PATHS.c.sourcetype,
                PATHS.c.host_field,
                PATHS.c.source,
                cast(PATHS.c.groups, Text).label("groups"),
                cast(PATHS.c.evidence, Text).label("evidence"),
            )
            .where(PATHS.c.resolution_id == rid, PATHS.c.host_id.in_(ids))
            .order_by(PATHS.c.host_id, PATHS.c.input)
        ).all()
        wanted = sorted({int(r.walk_id) for r in rows})
        evidence: dict[int, str | None] = {}
        for start in range(0, len(wanted), 5000):
            for walk_id, found in session.execute(
                select(WALKS.c.id, cast(WALKS.c.evidence, Text)).where(
                    WALKS.c.id.in_(wanted[start : start + 5000])
                )
            ):
                evidence[int(walk_id)] = found
        for r in rows:
            walk = site.walks[int(r.walk_id)]
            details[int(r.host_id)].paths.append(
                {
                    "host": names[int(r.host_id)],
                    "input": r.input,
                    "index": r._mapping["index"],  # r.index is the tuple's method
                    "sourcetype": r.sourcetype,
                    "host_field": r.host_field,
                    "source": r.source,
                    "groups": r.groups,
                    "walk": walk,
                    "own_evidence": r.evidence,
                    "walk_evidence": evidence.get(int(r.walk_id)),
                }
            )
        by_name = {h.name: h.id for h in hosts}
        for r in session.execute(
            select(
                FINDINGS.c.code,
                FINDINGS.c.severity,
                FINDINGS.c.host,
                FINDINGS.c.subject,
                FINDINGS.c.message,
                FINDINGS.c.evidence,
            )
            .where(FINDINGS.c.resolution_id == rid, FINDINGS.c.host.in_(list(by_name)))
            .order_by(FINDINGS.c.code, FINDINGS.c.id)
        ):
            details[by_name[r.host]].findings.append(dict(r._mapping))
    return details


def batches(hosts: Sequence[Host], size: int = BATCH) -> Iterator[Sequence[Host]]:
    for start in range(0, len(hosts), size):
        yield hosts[start : start + size]


# -- the view of a resolution a diff compares (daemon.docs.diff) --------------------------------


def previous_resolution(db: Reader, resolution_id: int) -> int | None:
    """The newest complete resolution before this one; None when it is the first."""
    with db.read_session() as session:
        found = session.execute(
            select(func.max(RESOLUTIONS.c.id)).where(
                RESOLUTIONS.c.status == ResolutionStatus.COMPLETE.value,
                RESOLUTIONS.c.id < resolution_id,
            )
        ).scalar()
    return None if found is None else int(found)


def load_view(db: Reader, resolution_id: int | None = None) -> ResolutionView:
    """A stored resolution (the latest complete one when None) as a diff compares it. Raises
    NoResolution."""
    resolution = latest_resolution(db, resolution_id)
    rid = int(resolution["id"])
    ds_runs: dict[str, int] = (
        (resolution.get("inputs") or {}).get("runs", {}).get(UploadType.DS_ETC.value, {})
    )
    with db.read_session() as session:
        hosts = {
            int(r.id): (r.name, r.stack)
            for r in session.execute(
                select(HOSTS.c.id, HOSTS.c.name, HOSTS.c.stack).where(HOSTS.c.resolution_id == rid)
            )
        }
        classes: dict[int, set[str]] = defaultdict(set)
        for host_id, name in session.execute(
            select(MEMBERSHIPS.c.host_id, MEMBERSHIPS.c.serverclass).where(
                MEMBERSHIPS.c.resolution_id == rid, MEMBERSHIPS.c.result == "member"
            )
        ):
            classes[int(host_id)].add(name)
        apps: dict[int, set[str]] = defaultdict(set)
        for host_id, app in session.execute(
            select(HOST_APPS.c.host_id, HOST_APPS.c.app).where(
                HOST_APPS.c.resolution_id == rid, HOST_APPS.c.result == "deployed"
            )
        ):
            apps[int(host_id)].add(app)
        stacks: dict[str, dict[str, InputStanza]] = defaultdict(dict)
        for stack, stanza, settings in session.execute(
            select(
                EFFECTIVE_INPUTS.c.stack, EFFECTIVE_INPUTS.c.stanza, EFFECTIVE_INPUTS.c.settings
            ).where(EFFECTIVE_INPUTS.c.resolution_id == rid)
        ):
            stacks[stack][stanza] = InputStanza(
                {k: v["value"] for k, v in (settings or {}).items()},
                any(v.get("run") is not None for v in (settings or {}).values()),
            )
        ends: dict[int, list[str | None]] = defaultdict(list)
        for walk_id, index in session.execute(
            select(FINALS.c.walk_id, FINALS.c.index).where(FINALS.c.resolution_id == rid)
        ):
            ends[int(walk_id)].append(index)
        walk_finals = {w: final_indexes(found) for w, found in ends.items()}
        finals: dict[int, dict[str, tuple[str | None, ...]]] = defaultdict(dict)
        for host_id, name, walk_id in session.execute(
            select(PATHS.c.host_id, PATHS.c.input, PATHS.c.walk_id).where(
                PATHS.c.resolution_id == rid
            )
        ):
            finals[int(host_id)][name] = walk_finals.get(int(walk_id), ())
        findings = tuple(
            FindingView(r.code, r.severity, r.host, r.subject, r.message)
            for r in session.execute(
                select(
                    FINDINGS.c.code,
                    FINDINGS.c.severity,
                    FINDINGS.c.host,
                    FINDINGS.c.subject,
                    FINDINGS.c.message,
                ).where(FINDINGS.c.resolution_id == rid)
            )
        )
        contents = app_contents(_deployment_app_files(session.connection(), ds_runs))
    empty: dict[str, InputStanza] = {}
    return ResolutionView(
        id=rid,
        hosts={
            name: HostView(
                serverclasses=frozenset(classes.get(host_id, ())),
                apps=frozenset(apps.get(host_id, ())),
                inputs=stacks.get(stack, empty) if stack is not None else empty,
                finals=finals.get(host_id, {}),
            )
            for host_id, (name, stack) in hosts.items()
        },
        apps=contents,
        findings=findings,
    )


def _deployment_app_files(
    connection: Any, ds_runs: Mapping[str, int]
) -> Iterator[tuple[str, str, str, ConfStanzas]]:
    """(DS label, app, path, stanzas) of each conf file in the DS repositories of these runs."""
    if not ds_runs:
        return
    labels = {int(run): label for label, run in ds_runs.items()}
    files: dict[int, tuple[str, str, str]] = {}
    stanzas: dict[int, dict[str, dict[str, str]]] = defaultdict(dict)
    for file_id, run_id, path, app, name, settings in connection.execute(
        select(
            CONF_FILES.c.id,
            CONF_FILES.c.run_id,
            CONF_FILES.c.path,
            CONF_FILES.c.app,
            STANZAS.c.name,
            STANZAS.c.settings,
        )
        .select_from(CONF_FILES.outerjoin(STANZAS, STANZAS.c.conf_file_id == CONF_FILES.c.id))
        .where(
            CONF_FILES.c.run_id.in_(list(labels)),
            CONF_FILES.c.layer == "deployment_app",
            CONF_FILES.c.app.is_not(None),
        )
        .order_by(CONF_FILES.c.id, STANZAS.c.order_in_file)
    ):
        files.setdefault(int(file_id), (labels[int(run_id)], app, path))
        if name is not None:
            stanzas[int(file_id)][name] = dict(settings or {})
    for file_id, (label, app, path) in files.items():
        yield label, app, path, stanzas.get(file_id, {})
