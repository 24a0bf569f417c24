"""The estate: inventory rows and bundle folders (from parsing), and resolutions with their hosts,
server-class memberships, apps, effective inputs and findings (RESOLVER.md).

Everything a resolution computed cascades from its `resolutions` row, so a half-written
resolution (a killed resolver) disappears with that one row. Memberships are stored for
`member` and `unknown` only: `not_member` for every host and class would be most of the rows
and is recomputed for one host on demand. Effective inputs are stored once per layer stack
(`hosts.stack`): hosts whose apps and layers are the same share them.

Revision ID: 004
Revises: 003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "004"
down_revision = "003"
branch_labels = None
depends_on = None

# Written out here rather than imported from daemon.models: a migration is frozen in time.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

HOST_FIELDS = ("client_name", "hostname", "ip", "dns", "guid", "machine_type", "splunk_version")


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE",
    )


def _id() -> sa.Column[int]:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def upgrade() -> None:
    # -- from parsing ---------------------------------------------------------------------------
    op.create_table(
        "inventory_rows",
        _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=True) for name in HOST_FIELDS),
        sa.Column("role", sa.Text(), nullable=True),
        _fk("inventory_rows", "run_id", "ingestion_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_rows")),
    )
    op.create_index("ix_inventory_rows_run_id", "inventory_rows", ["run_id"])
    op.create_table(
        "bundle_dirs",
        _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        _fk("bundle_dirs", "run_id", "ingestion_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_dirs")),
    )
    op.create_index("ix_bundle_dirs_run_id", "bundle_dirs", ["run_id"])

    # -- resolutions ----------------------------------------------------------------------------
    op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ds_version", sa.String(length=50), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolutions")),
    )
    op.create_index("ix_resolutions_status", "resolutions", ["status"])
    op.create_table(
        "hosts",
        _id(),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=True) for name in HOST_FIELDS),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("ds", sa.Text(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("stack", sa.String(length=64), nullable=True),
        _fk("hosts", "resolution_id", "resolutions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
    )
    op.create_index("ix_hosts_resolution_id_name", "hosts", ["resolution_id", "name"])
    op.create_table(
        "host_memberships",
        _id(),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("host_id", BIG_ID, nullable=False),
        sa.Column("serverclass", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=50), nullable=False),
        sa.Column("why", sa.JSON(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        _fk("host_memberships", "resolution_id", "resolutions"),
        _fk("host_memberships", "host_id", "hosts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_memberships")),
    )
    op.create_index("ix_host_memberships_host_id", "host_memberships", ["host_id"])
    op.create_index(
        "ix_host_memberships_resolution_id_serverclass",
        "host_memberships",
        ["resolution_id", "serverclass"],
    )
    op.create_table(
        "host_apps",
        _id(),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("host_id", BIG_ID, nullable=False),
        sa.Column("app", sa.Text(), nullable=False),
        sa.Column("serverclasses", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=50), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("in_repository", sa.Boolean(), nullable=False),
        sa.Column("why", sa.JSON(), nullable=False),
        _fk("host_apps", "resolution_id", "resolutions"),
        _fk("host_apps", "host_id", "hosts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_apps")),
    )
    op.create_index("ix_host_apps_host_id", "host_apps", ["host_id"])
    op.create_index("ix_host_apps_resolution_id_app", "host_apps", ["resolution_id", "app"])
    op.create_table(
        "host_effective_inputs",
        _id(),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("stack", sa.String(length=64), nullable=False),
        sa.Column("stanza", sa.Text(), nullable=False),
        sa.Column("settings", JSON_DOCUMENT, nullable=False),
        _fk("host_effective_inputs", "resolution_id", "resolutions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_effective_inputs")),
    )
    op.create_index(
        "ix_host_effective_inputs_resolution_id_stack",
        "host_effective_inputs",
        ["resolution_id", "stack"],
    )
    op.create_table(
        "resolution_findings",
        _id(),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=50), nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _fk("resolution_findings", "resolution_id", "resolutions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolution_findings")),
    )
    op.create_index(
        "ix_resolution_findings_resolution_id_code",
        "resolution_findings",
        ["resolution_id", "code"],
    )
    op.create_index(
        "ix_resolution_findings_resolution_id_host",
        "resolution_findings",
        ["resolution_id", "host"],
    )


def downgrade() -> None:
    for table in (
        "resolution_findings",
        "host_effective_inputs",
        "host_apps",
        "host_memberships",
        "hosts",
        "resolutions",
        "bundle_dirs",
        "inventory_rows",
    ):
        op.drop_table(table)  # their indexes go with them
