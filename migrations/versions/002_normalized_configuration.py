"""Normalized configuration: conf_files, stanzas, findings and the typed tables; parse_claims.

Typed tables (inputs, props, transforms, indexes, outputs, serverclasses) hold what the routing
resolver reads, one row per stanza. Everything cascades from its run. The GIN index on
stanzas.settings (jsonb_path_ops) exists on PostgreSQL only (JSONB there, JSON text on
SQLite).

Revision ID: 002
Revises: 001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "002"
down_revision = "001"
branch_labels = None
depends_on = None

# Written out here rather than imported from daemon.models: a migration is frozen in time.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

TYPED_TABLES = ("inputs", "props", "transforms", "indexes", "outputs", "serverclasses")


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"],
        ["ingestion_runs.id"],
        name=op.f(f"fk_{table}_run_id_ingestion_runs"),
        ondelete="CASCADE",
    )


def _typed_table(table: str, *columns: sa.Column[object]) -> None:
    """The columns every typed table shares, then its own; one row per stanza. stanza_id has
    no FK: the row lives and dies with its stanza, by run, and FK triggers cost seconds per
    100,000 rows (daemon.models._TypedRow)."""
    op.create_table(
        table,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stanza_id", BIG_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("app", sa.Text(), nullable=True),
        sa.Column("scope", sa.String(length=50), nullable=True),
        sa.Column("layer", sa.String(length=50), nullable=True),
        *columns,
        _run_fk(table),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index(f"ix_{table}_run_id", table, ["run_id"])


def upgrade() -> None:
    op.create_table(
        "parse_claims",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1")),
        _run_fk("parse_claims"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_parse_claims")),
    )
    op.create_table(
        "conf_files",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=50), nullable=False),
        sa.Column("layer", sa.String(length=50), nullable=True),
        sa.Column("app", sa.Text(), nullable=True),
        sa.Column("scope", sa.String(length=50), nullable=True),
        sa.Column("conf_type", sa.Text(), nullable=False),
        _run_fk("conf_files"),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_conf_files_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conf_files")),
    )
    op.create_index("ix_conf_files_run_id", "conf_files", ["run_id"])
    op.create_index("ix_conf_files_file_id", "conf_files", ["file_id"])

    op.create_table(
        "stanzas",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("conf_file_id", BIG_ID, nullable=False),
        sa.Column("conf_type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("order_in_file", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("app", sa.Text(), nullable=True),
        sa.Column("scope", sa.String(length=50), nullable=True),
        sa.Column("layer", sa.String(length=50), nullable=True),
        sa.Column("settings", JSON_DOCUMENT, nullable=False),
        sa.Column("occurrences", sa.JSON(), nullable=False),
        _run_fk("stanzas"),
        sa.ForeignKeyConstraint(
            ["conf_file_id"],
            ["conf_files.id"],
            name=op.f("fk_stanzas_conf_file_id_conf_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stanzas")),
    )
    op.create_index("ix_stanzas_run_id", "stanzas", ["run_id"])
    op.create_index(
        "ix_stanzas_conf_file_id_order_in_file",
        "stanzas",
        ["conf_file_id", "order_in_file"],
        unique=True,
    )
    if _is_postgresql():
        op.create_index(
            "ix_stanzas_settings",
            "stanzas",
            ["settings"],
            postgresql_using="gin",
            postgresql_ops={"settings": "jsonb_path_ops"},
        )

    op.create_table(
        "findings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("conf_file_id", BIG_ID, nullable=True),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        _run_fk("findings"),
        sa.ForeignKeyConstraint(
            ["conf_file_id"],
            ["conf_files.id"],
            name=op.f("fk_findings_conf_file_id_conf_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index("ix_findings_run_id", "findings", ["run_id"])
    op.create_index("ix_findings_conf_file_id", "findings", ["conf_file_id"])

    _typed_table(
        "inputs",
        sa.Column("stanza_type", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("index", sa.Text(), nullable=True),
        sa.Column("sourcetype", sa.Text(), nullable=True),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=True),
        sa.Column("tcp_routing", sa.JSON(), nullable=True),
        sa.Column("syslog_routing", sa.JSON(), nullable=True),
    )
    _typed_table(
        "props",
        sa.Column("target_kind", sa.String(length=50), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("sourcetype", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("transforms", sa.JSON(), nullable=False),
        sa.Column("rulesets", sa.JSON(), nullable=False),
        sa.Column("sedcmds", sa.JSON(), nullable=False),
    )
    _typed_table(
        "transforms",
        sa.Column("regex", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=True),
        sa.Column("dest_key", sa.Text(), nullable=True),
        sa.Column("source_key", sa.Text(), nullable=True),
        sa.Column("ingest_eval", sa.Text(), nullable=True),
        sa.Column("rewrites_index", sa.Boolean(), nullable=False),
        sa.Column("rewrites_sourcetype", sa.Boolean(), nullable=False),
        sa.Column("routes", sa.Boolean(), nullable=False),
        sa.Column("null_queue", sa.Boolean(), nullable=False),
    )
    _typed_table(
        "indexes",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("datatype", sa.Text(), nullable=True),
        sa.Column("home_path", sa.Text(), nullable=True),
        sa.Column("cold_path", sa.Text(), nullable=True),
        sa.Column("thawed_path", sa.Text(), nullable=True),
        sa.Column("cold_to_frozen_dir", sa.Text(), nullable=True),
        sa.Column("frozen_time_period_in_secs", sa.BigInteger(), nullable=True),
        sa.Column("max_total_data_size_mb", sa.BigInteger(), nullable=True),
        sa.Column("max_data_size", sa.Text(), nullable=True),
        sa.Column("rep_factor", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=True),
    )
    _typed_table(
        "outputs",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("group_name", sa.Text(), nullable=True),
        sa.Column("servers", sa.JSON(), nullable=True),
        sa.Column("default_group", sa.JSON(), nullable=True),
        sa.Column("index_and_forward", sa.Boolean(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=True),
    )
    _typed_table(
        "serverclasses",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("server_class", sa.Text(), nullable=True),
        sa.Column("deployed_app", sa.Text(), nullable=True),
        sa.Column("whitelist", sa.JSON(), nullable=True),
        sa.Column("blacklist", sa.JSON(), nullable=True),
        sa.Column("whitelist_from_pathname", sa.Text(), nullable=True),
        sa.Column("blacklist_from_pathname", sa.Text(), nullable=True),
        sa.Column("filter_type", sa.Text(), nullable=True),
        sa.Column("machine_types_filter", sa.JSON(), nullable=True),
        sa.Column("repository_location", sa.Text(), nullable=True),
        sa.Column("state_on_client", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    for table in reversed(TYPED_TABLES):
        op.drop_index(f"ix_{table}_run_id", table_name=table)
        op.drop_table(table)
    op.drop_index("ix_findings_conf_file_id", table_name="findings")
    op.drop_index("ix_findings_run_id", table_name="findings")
    op.drop_table("findings")
    if _is_postgresql():
        op.drop_index("ix_stanzas_settings", table_name="stanzas")
    op.drop_index("ix_stanzas_conf_file_id_order_in_file", table_name="stanzas")
    op.drop_index("ix_stanzas_run_id", table_name="stanzas")
    op.drop_table("stanzas")
    op.drop_index("ix_conf_files_file_id", table_name="conf_files")
    op.drop_index("ix_conf_files_run_id", table_name="conf_files")
    op.drop_table("conf_files")
    op.drop_table("parse_claims")
