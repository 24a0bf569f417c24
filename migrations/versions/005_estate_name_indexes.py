"""On PostgreSQL, the estate's name lookups go through hash indexes, not B-trees.

A B-tree entry must fit a third of a page (~2.7 kB): revision 004's indexes on
(resolution_id, name) of hosts, (resolution_id, serverclass) of host_memberships,
(resolution_id, app) of host_apps and (resolution_id, host) of resolution_findings made
PostgreSQL refuse a whole resolution whose client list, serverclass.conf or app folder held
one incompressible name over that size ("index row requires 10016 bytes"). A hash index keeps
a 4-byte hash of the value, whatever its length, and serves the equality lookups these
indexes are for; a B-tree on resolution_id beside it serves "every row of a resolution" and
the cascade from it. SQLite has no such limit and keeps the composite B-trees.

The downgrade restores revision 004's B-trees; it fails, as 004 itself would, on a database
that holds such a name.

Revision ID: 005
Revises: 004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "005"
down_revision = "004"
branch_labels = None
depends_on = None

# (table, column, does the table need its own B-tree on resolution_id)
_LOOKUPS = (
    ("hosts", "name", True),
    ("host_memberships", "serverclass", True),
    ("host_apps", "app", True),
    # (resolution_id, code) already starts with resolution_id.
    ("resolution_findings", "host", False),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, by_resolution in _LOOKUPS:
        op.drop_index(f"ix_{table}_resolution_id_{column}", table_name=table)
        if by_resolution:
            op.create_index(f"ix_{table}_resolution_id", table, ["resolution_id"])
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="hash")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, by_resolution in _LOOKUPS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        if by_resolution:
            op.drop_index(f"ix_{table}_resolution_id", table_name=table)
        op.create_index(f"ix_{table}_resolution_id_{column}", table, ["resolution_id", column])
