"""SQLAlchemy models: the seed's schema (revision 001, seed/database-schema.md) and the
normalized configuration of revision 002 (conf files, stanzas, findings and the typed tables
the routing resolver reads).

Enums are stored as VARCHAR(50) so later milestones add states without a schema change.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from daemon.conf.types import Layer, Scope
from daemon.domain import (
    IndexKind,
    OutputKind,
    PropsTarget,
    ResolutionStatus,
    RunStatus,
    ServerClassKind,
    UploadType,
)

# Re-exported: code that works with the database imports its enums from here too.
__all__ = [
    "IndexKind",
    "OutputKind",
    "PropsTarget",
    "ResolutionStatus",
    "RunStatus",
    "ServerClassKind",
    "UploadType",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that always hands back aware UTC datetimes (SQLite drops tz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumColumn(TypeDecorator[Any]):
    """A Python StrEnum kept in a VARCHAR column."""

    impl = String(50)
    cache_ok = True

    def __init__(self, enum_type: type[enum.StrEnum]) -> None:
        super().__init__()
        self.enum_type = enum_type

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else self.enum_type(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IngestionRun(Base):
    __tablename__ = "ingestion_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    type: Mapped[UploadType] = mapped_column(StrEnumColumn(UploadType), nullable=False)
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[RunStatus] = mapped_column(StrEnumColumn(RunStatus), nullable=False)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)

    files: Mapped[list[File]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="File.id",
    )

    __table_args__ = (
        Index("ix_ingestion_runs_created_at", "created_at"),
        Index("ix_ingestion_runs_status", "status"),
    )


class File(Base):
    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stored_object_key: Mapped[str] = mapped_column(String(512), nullable=False)

    run: Mapped[IngestionRun] = relationship(back_populates="files")

    __table_args__ = (
        Index("ix_files_run_id", "run_id"),
        Index("ix_files_sha256", "sha256"),
    )


class RunClaim(Base):
    """The claim token of a file renamed into `.processing/` and the run made for it (revision
    003): recovery finds a claimed file's run by its token, however old the run."""

    __tablename__ = "run_claims"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )

    __table_args__ = (Index("ix_run_claims_run_id", "run_id"),)


# -- revision 002: normalized configuration ---------------------------------------------------
#
# Every table hangs off its run (ON DELETE CASCADE, indexed), so deleting a run, or replacing
# its configuration (daemon.conf.store), removes everything derived from it; stanzas and
# findings also cascade from their conf file, conf files from their archive's files row.
# Typed rows point at the stanza they come from (stanza_id, without an FK: see _TypedRow) and
# hold each stanza's own values as written: [default] merging and precedence across layers
# are the resolver's job. User-controlled text (paths, names, values) is TEXT: one overlong
# value in one add-on must not fail a whole bundle on PostgreSQL's VARCHAR limits.

# Ids of the bulk tables outgrow 2**31 over years of re-normalized bundles. SQLite keeps
# INTEGER, the only type that makes a primary key an alias of the rowid (autoincrementing).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL (GIN-indexable containment queries), JSON text on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class ParseClaim(Base):
    """Which process is parsing a run (daemon.parsing): renewed while it works, so a run left
    `parsing` by a process that is gone can be told from one still in hand."""

    __tablename__ = "parse_claims"

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(255), nullable=False)  # "<host>:<pid>"
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Parsers that took this run in turn: one more each time a dead one's claim is taken.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))


class ConfFile(Base):
    """One .conf/.meta member of a stored archive, and where it sits in the Splunk tree."""

    __tablename__ = "conf_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    file_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(Text, nullable=False)  # member path inside the archive
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    encoding: Mapped[str] = mapped_column(String(50), nullable=False)
    layer: Mapped[Layer | None] = mapped_column(StrEnumColumn(Layer), nullable=True)
    app: Mapped[str | None] = mapped_column(Text, nullable=True)
    scope: Mapped[Scope | None] = mapped_column(StrEnumColumn(Scope), nullable=True)
    conf_type: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ix_conf_files_run_id", "run_id"),
        Index("ix_conf_files_file_id", "file_id"),
    )


class ConfStanza(Base):
    """One stanza of a conf file: effective settings (JSONB, GIN-indexed on PostgreSQL, whose
    key order is its own) and every `key = value` line as `[key, value, line]` (JSON, in file
    order: the evidence, and the first-seen key order)."""

    __tablename__ = "stanzas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    conf_file_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conf_files.id", ondelete="CASCADE"), nullable=False
    )
    conf_type: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    order_in_file: Mapped[int] = mapped_column(Integer, nullable=False)  # 0-based
    line: Mapped[int] = mapped_column(Integer, nullable=False)  # 0: the implicit global stanza
    app: Mapped[str | None] = mapped_column(Text, nullable=True)
    scope: Mapped[Scope | None] = mapped_column(StrEnumColumn(Scope), nullable=True)
    layer: Mapped[Layer | None] = mapped_column(StrEnumColumn(Layer), nullable=True)
    settings: Mapped[dict[str, str]] = mapped_column(JSONDocument, nullable=False)
    occurrences: Mapped[list[list[Any]]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_stanzas_run_id", "run_id"),
        Index(
            "ix_stanzas_conf_file_id_order_in_file", "conf_file_id", "order_in_file", unique=True
        ),
        # GIN exists on PostgreSQL only: on SQLite it would be a B-tree over JSON text.
        # jsonb_path_ops serves containment (settings @> '{"index": "os"}') and jsonpath, not
        # key existence (?); it costs a third of the default opclass on bulk inserts.
        Index(
            "ix_stanzas_settings",
            "settings",
            postgresql_using="gin",
            postgresql_ops={"settings": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )


class ConfFinding(Base):
    """Something a person should know about a run's configuration (daemon.conf.types.Finding);
    conf_file_id is NULL for findings about the archive rather than one member."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    conf_file_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conf_files.id", ondelete="CASCADE"), nullable=True
    )
    code: Mapped[str] = mapped_column(String(100), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    line: Mapped[int] = mapped_column(Integer, nullable=False)  # 0: about the whole file
    path: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_findings_run_id", "run_id"),
        Index("ix_findings_conf_file_id", "conf_file_id"),
    )


class _TypedRow:
    """Columns every typed table shares: its run, its stanza, the stanza's name and where its
    file sits, for precedence.

    stanza_id (and through it the conf file) has no FK on purpose. A typed row is written with
    its stanza in one transaction and deleted with it, by run: the run's cascade, or
    daemon.conf.store replacing the run's rows (nothing deletes a files or conf_files row on
    its own). Each FK costs PostgreSQL a trigger per row: six tables referencing stanzas made
    deleting 100,000 stanzas take 2.5 s, and FKs to conf_files (with their indexes) added 1.4 s
    of server time, a quarter of the whole, to writing 100,000 typed rows."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    stanza_id: Mapped[int] = mapped_column(BigId, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)  # the stanza name
    app: Mapped[str | None] = mapped_column(Text, nullable=True)
    scope: Mapped[Scope | None] = mapped_column(StrEnumColumn(Scope), nullable=True)
    layer: Mapped[Layer | None] = mapped_column(StrEnumColumn(Layer), nullable=True)


def _typed_indexes(table: str) -> tuple[Index]:
    return (Index(f"ix_{table}_run_id", "run_id"),)


class Input(_TypedRow, Base):
    """inputs.conf: `stanza_type` is the scheme before `://` (monitor, tcp, WinEventLog, ...)
    and `target` what follows; stanzas without one ([default], [splunktcp], [http]) keep their
    whole name as stanza_type and a NULL target."""

    __tablename__ = "inputs"

    stanza_type: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str | None] = mapped_column(Text, nullable=True)
    index: Mapped[str | None] = mapped_column(Text, nullable=True)
    sourcetype: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    tcp_routing: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    syslog_routing: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = _typed_indexes("inputs")


class Prop(_TypedRow, Base):
    """props.conf: the index-time settings that route events. `transforms` and `rulesets` are
    `[{"class": c, "transforms": [t1, t2]}]` in ASCII order of the class (the order Splunk
    runs them); `sedcmds` is `[{"class": c, "value": v}]` in the same order."""

    __tablename__ = "props"

    target_kind: Mapped[PropsTarget] = mapped_column(StrEnumColumn(PropsTarget), nullable=False)
    pattern: Mapped[str] = mapped_column(Text, nullable=False)
    sourcetype: Mapped[str | None] = mapped_column(Text, nullable=True)
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transforms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    rulesets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    sedcmds: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False)

    __table_args__ = _typed_indexes("props")


class Transform(_TypedRow, Base):
    """transforms.conf: the keys of index-time rewrites, and what `DEST_KEY`/`FORMAT` make of
    them (each conditional on `REGEX`)."""

    __tablename__ = "transforms"

    regex: Mapped[str | None] = mapped_column(Text, nullable=True)
    format: Mapped[str | None] = mapped_column(Text, nullable=True)
    dest_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    ingest_eval: Mapped[str | None] = mapped_column(Text, nullable=True)
    rewrites_index: Mapped[bool] = mapped_column(Boolean, nullable=False)
    rewrites_sourcetype: Mapped[bool] = mapped_column(Boolean, nullable=False)
    routes: Mapped[bool] = mapped_column(Boolean, nullable=False)
    null_queue: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = _typed_indexes("transforms")


class IndexDefinition(_TypedRow, Base):
    """indexes.conf: what an admin wants to see of an index (or volume, or [default])."""

    __tablename__ = "indexes"

    kind: Mapped[IndexKind] = mapped_column(StrEnumColumn(IndexKind), nullable=False)
    datatype: Mapped[str | None] = mapped_column(Text, nullable=True)
    home_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    cold_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    thawed_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    cold_to_frozen_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    frozen_time_period_in_secs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_total_data_size_mb: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_data_size: Mapped[str | None] = mapped_column(Text, nullable=True)
    rep_factor: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = _typed_indexes("indexes")


class Output(_TypedRow, Base):
    """outputs.conf: groups and their servers, the default groups, local indexing."""

    __tablename__ = "outputs"

    kind: Mapped[OutputKind] = mapped_column(StrEnumColumn(OutputKind), nullable=False)
    group_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    servers: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    default_group: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    index_and_forward: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    disabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = _typed_indexes("outputs")


class ServerClass(_TypedRow, Base):
    """serverclass.conf: each stanza's own filters, as written (inheritance from [global] and
    the parent class is the resolver's). A list is NULL when the stanza sets none of it."""

    __tablename__ = "serverclasses"

    kind: Mapped[ServerClassKind] = mapped_column(StrEnumColumn(ServerClassKind), nullable=False)
    server_class: Mapped[str | None] = mapped_column(Text, nullable=True)
    deployed_app: Mapped[str | None] = mapped_column(Text, nullable=True)
    whitelist: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    blacklist: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    whitelist_from_pathname: Mapped[str | None] = mapped_column(Text, nullable=True)
    blacklist_from_pathname: Mapped[str | None] = mapped_column(Text, nullable=True)
    filter_type: Mapped[str | None] = mapped_column(Text, nullable=True)
    machine_types_filter: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    repository_location: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_on_client: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = _typed_indexes("serverclasses")


# -- revision 004: the estate ------------------------------------------------------------------
#
# Parsing adds what the resolver needs beyond stanzas: an inventory's rows, and the folders of
# an etc/ tree (the apps of a deployment server's repository, also those without a .conf).
# A resolution and everything it computed cascade from one `resolutions` row (RESOLVER.md §1).


class InventoryRow(Base):
    """One usable row of an `inventory` run: a host as the deployment server knows it."""

    __tablename__ = "inventory_rows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based, header excluded
    client_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    hostname: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    dns: Mapped[str | None] = mapped_column(Text, nullable=True)
    guid: Mapped[str | None] = mapped_column(Text, nullable=True)
    machine_type: Mapped[str | None] = mapped_column(Text, nullable=True)  # utsname
    splunk_version: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_inventory_rows_run_id", "run_id"),)


class BundleDir(Base):
    """A folder two levels under an etc/ tree's root (`etc/deployment-apps/<app>`,
    `etc/apps/<app>`): which apps a bundle holds, whatever files they have."""

    __tablename__ = "bundle_dirs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ingestion_runs.id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(Text, nullable=False)  # from etc/ on

    __table_args__ = (Index("ix_bundle_dirs_run_id", "run_id"),)


class Resolution(Base):
    """One computation over the estate, with the exact runs it read (`inputs`). `running`
    while a resolver holds it (owner, heartbeat_at, as parse_claims); only `complete` ones
    are shown."""

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[ResolutionStatus] = mapped_column(
        StrEnumColumn(ResolutionStatus), nullable=False
    )
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ds_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_resolutions_status", "status"),)


def _resolution_fk() -> Mapped[int]:
    return mapped_column(Integer, ForeignKey("resolutions.id", ondelete="CASCADE"), nullable=False)


def _host_fk() -> Mapped[int]:
    return mapped_column(BigId, ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False)


def _name_lookups(table: str, *columns: str) -> tuple[Index, ...]:
    """The indexes a name is looked up by within a resolution: on PostgreSQL a B-tree on
    (resolution_id, md5(column)), whatever the name's length (a B-tree entry cannot hold a
    name over ~2.7 kB; revision 007 says why not hash indexes); on SQLite, which has no such
    limit, on (resolution_id, column). Queries ask through daemon.resolve.load.named."""
    return (
        *(
            Index(f"ix_{table}_resolution_id_{c}_md5", "resolution_id", text(f'md5("{c}")')).ddl_if(
                dialect="postgresql"
            )
            for c in columns
        ),
        *(
            Index(f"ix_{table}_resolution_id_{c}", "resolution_id", c).ddl_if(dialect="sqlite")
            for c in columns
        ),
    )


class ResolvedHost(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    client_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    hostname: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    dns: Mapped[str | None] = mapped_column(Text, nullable=True)
    guid: Mapped[str | None] = mapped_column(Text, nullable=True)
    machine_type: Mapped[str | None] = mapped_column(Text, nullable=True)
    splunk_version: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str] = mapped_column(String(50), nullable=False)
    ds: Mapped[str | None] = mapped_column(Text, nullable=True)  # the DS label it belongs to
    sources: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    stack: Mapped[str | None] = mapped_column(String(64), nullable=True)  # layer stack key

    __table_args__ = _name_lookups("hosts", "name")


class HostMembership(Base):
    """A host's result for one server class: `member` or `unknown` (see revision 004)."""

    __tablename__ = "host_memberships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    host_id: Mapped[int] = _host_fk()
    serverclass: Mapped[str] = mapped_column(Text, nullable=False)
    result: Mapped[str] = mapped_column(String(50), nullable=False)
    why: Mapped[Any] = mapped_column(JSON, nullable=False)
    missing: Mapped[list[str]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_host_memberships_host_id", "host_id"),
        *_name_lookups("host_memberships", "serverclass"),
    )


class HostApp(Base):
    """An app on a host: delivered by the DS (`deployed` or `unknown`) or `observed` in the
    host's own etc/ tree."""

    __tablename__ = "host_apps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    host_id: Mapped[int] = _host_fk()
    app: Mapped[str] = mapped_column(Text, nullable=False)
    serverclasses: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    result: Mapped[str] = mapped_column(String(50), nullable=False)
    state: Mapped[str | None] = mapped_column(String(50), nullable=True)
    target: Mapped[str | None] = mapped_column(Text, nullable=True)
    in_repository: Mapped[bool] = mapped_column(Boolean, nullable=False)
    why: Mapped[Any] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_host_apps_host_id", "host_id"),
        *_name_lookups("host_apps", "app"),
    )


class HostEffectiveInput(Base):
    """One effective inputs.conf stanza of a layer stack: {key: {value, file, line, layer,
    app, run}}; every host whose `stack` it is has it."""

    __tablename__ = "host_effective_inputs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    stack: Mapped[str] = mapped_column(String(64), nullable=False)
    stanza: Mapped[str] = mapped_column(Text, nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)

    __table_args__ = (
        Index("ix_host_effective_inputs_resolution_id_stack", "resolution_id", "stack"),
    )


class DataPathWalk(Base):
    """Where data goes from its reading host on, shared by the paths of hosts with one
    configuration (RESOLVER.md §5; see revision 006)."""

    __tablename__ = "data_path_walks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    hops: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    final: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    may_drop: Mapped[bool] = mapped_column(Boolean, nullable=False)
    evidence: Mapped[list[Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_data_path_walks_resolution_id", "resolution_id"),)


def _walk_fk() -> Mapped[int]:
    return mapped_column(
        BigId, ForeignKey("data_path_walks.id", ondelete="CASCADE"), nullable=False
    )


class HostDataPath(Base):
    """Where one input of a host sends its data: its own part, and its walk."""

    __tablename__ = "host_data_paths"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    host_id: Mapped[int] = _host_fk()
    walk_id: Mapped[int] = _walk_fk()
    input: Mapped[str] = mapped_column(Text, nullable=False)
    index: Mapped[str] = mapped_column(Text, nullable=False)
    sourcetype: Mapped[str] = mapped_column(Text, nullable=False)
    host_field: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    groups: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    servers: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    evidence: Mapped[list[Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_host_data_paths_host_id", "host_id"),
        Index("ix_host_data_paths_walk_id", "walk_id"),
        *_name_lookups("host_data_paths", "index", "sourcetype"),
    )


class DataPathFinal(Base):
    """One distinct final (index, sourcetype) of a walk, for the reverse lookups."""

    __tablename__ = "data_path_finals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    walk_id: Mapped[int] = _walk_fk()
    index: Mapped[str | None] = mapped_column(Text, nullable=True)
    sourcetype: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_data_path_finals_walk_id", "walk_id"),
        *_name_lookups("data_path_finals", "index", "sourcetype"),
    )


class ResolutionFinding(Base):
    """What is broken or assumed in the estate (RESOLVER.md §6), with its evidence."""

    __tablename__ = "resolution_findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resolution_id: Mapped[int] = _resolution_fk()
    code: Mapped[str] = mapped_column(String(100), nullable=False)
    severity: Mapped[str] = mapped_column(String(50), nullable=False)
    host: Mapped[str | None] = mapped_column(Text, nullable=True)  # hosts.name, when about one
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[list[Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (
        Index("ix_resolution_findings_resolution_id_code", "resolution_id", "code"),
        *_name_lookups("resolution_findings", "host"),
    )
