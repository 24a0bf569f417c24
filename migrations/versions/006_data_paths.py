"""Data paths (RESOLVER.md §5): one `host_data_paths` row per input of a host, with its
hops, final indexes and evidence; `data_path_finals` holds the distinct (index, sourcetype)
pairs each path is found by — as its input reads the data and as it ends at each indexer —
for the reverse lookups ("which hosts feed index X"). Both cascade
from their resolution. As in 005, PostgreSQL looks names up through hash indexes (a B-tree
entry cannot hold an index or sourcetype name over ~2.7 kB), SQLite through B-trees.

Revision ID: 006
Revises: 005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "006"
down_revision = "005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "host_data_paths",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("host_id", BIG_ID, nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("index", sa.Text(), nullable=False),
        sa.Column("sourcetype", sa.Text(), nullable=False),
        sa.Column("host_field", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("servers", sa.JSON(), nullable=False),
        sa.Column("receivers", sa.JSON(), nullable=False),
        sa.Column("final", sa.JSON(), nullable=False),
        sa.Column("may_drop", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _fk("host_data_paths", "resolution_id", "resolutions"),
        _fk("host_data_paths", "host_id", "hosts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_data_paths")),
    )
    op.create_index("ix_host_data_paths_resolution_id", "host_data_paths", ["resolution_id"])
    op.create_index("ix_host_data_paths_host_id", "host_data_paths", ["host_id"])
    op.create_table(
        "data_path_finals",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("path_id", BIG_ID, nullable=False),
        sa.Column("index", sa.Text(), nullable=True),
        sa.Column("sourcetype", sa.Text(), nullable=True),
        _fk("data_path_finals", "resolution_id", "resolutions"),
        _fk("data_path_finals", "path_id", "host_data_paths"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_path_finals")),
    )
    op.create_index("ix_data_path_finals_path_id", "data_path_finals", ["path_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_data_path_finals_resolution_id", "data_path_finals", ["resolution_id"])
        for column in ("index", "sourcetype"):
            op.create_index(
                f"ix_data_path_finals_{column}",
                "data_path_finals",
                [column],
                postgresql_using="hash",
            )
    else:
        for column in ("index", "sourcetype"):
            op.create_index(
                f"ix_data_path_finals_resolution_id_{column}",
                "data_path_finals",
                ["resolution_id", column],
            )


def downgrade() -> None:
    op.drop_table("data_path_finals")
    op.drop_table("host_data_paths")
