"""Data paths (RESOLVER.md §5). Where data goes from its reading host on (`data_path_walks`:
hops, final indexes, may drop, evidence) is the same for every host that shares a
configuration, so it is stored once and each `host_data_paths` row (one per input of a host:
index, sourcetype, host field, source, groups, servers, the input's own evidence) points to
its walk. `data_path_finals` holds each walk's distinct final (index, sourcetype) pairs; with
a path's own index and sourcetype they serve the reverse lookups ("which hosts feed index
X"). All cascade from their resolution. As in 005, PostgreSQL looks names up through hash
indexes (a B-tree entry cannot hold a name over ~2.7 kB), SQLite through B-trees.

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


def _name_lookups(table: str, columns: tuple[str, ...]) -> None:
    """Hash indexes on PostgreSQL (with one on resolution_id), (resolution_id, column)
    B-trees on SQLite."""
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(f"ix_{table}_resolution_id", table, ["resolution_id"])
        for column in columns:
            op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="hash")
    else:
        for column in columns:
            op.create_index(f"ix_{table}_resolution_id_{column}", table, ["resolution_id", column])


def upgrade() -> None:
    op.create_table(
        "data_path_walks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("hops", sa.JSON(), nullable=False),
        sa.Column("final", sa.JSON(), nullable=False),
        sa.Column("may_drop", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _fk("data_path_walks", "resolution_id", "resolutions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_path_walks")),
    )
    op.create_index("ix_data_path_walks_resolution_id", "data_path_walks", ["resolution_id"])
    op.create_table(
        "host_data_paths",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("host_id", BIG_ID, nullable=False),
        sa.Column("walk_id", BIG_ID, nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("index", sa.Text(), nullable=False),
        sa.Column("sourcetype", sa.Text(), nullable=False),
        sa.Column("host_field", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("servers", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _fk("host_data_paths", "resolution_id", "resolutions"),
        _fk("host_data_paths", "host_id", "hosts"),
        _fk("host_data_paths", "walk_id", "data_path_walks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_data_paths")),
    )
    op.create_index("ix_host_data_paths_host_id", "host_data_paths", ["host_id"])
    op.create_index("ix_host_data_paths_walk_id", "host_data_paths", ["walk_id"])
    _name_lookups("host_data_paths", ("index", "sourcetype"))
    op.create_table(
        "data_path_finals",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=False),
        sa.Column("walk_id", BIG_ID, nullable=False),
        sa.Column("index", sa.Text(), nullable=True),
        sa.Column("sourcetype", sa.Text(), nullable=True),
        _fk("data_path_finals", "resolution_id", "resolutions"),
        _fk("data_path_finals", "walk_id", "data_path_walks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_path_finals")),
    )
    op.create_index("ix_data_path_finals_walk_id", "data_path_finals", ["walk_id"])
    _name_lookups("data_path_finals", ("index", "sourcetype"))


def downgrade() -> None:
    op.drop_table("data_path_finals")
    op.drop_table("host_data_paths")
    op.drop_table("data_path_walks")
