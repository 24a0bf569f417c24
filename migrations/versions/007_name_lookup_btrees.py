"""On PostgreSQL, the estate's name lookups go through B-trees on (resolution_id, md5(name)),
not hash indexes.

Revisions 005 and 006 gave each looked-up name column a hash index (a B-tree entry cannot
hold a name over ~2.7 kB, and a hash index keeps 4 bytes whatever the length). A hash index
keeps every row with the same value in one bucket and walks that bucket's overflow chain to
insert: the columns looked up are few distinct names repeated by every resolution kept (13
final indexes over 421,465 data paths of one resolution, 100 apps over 107,634 host apps),
so every resolution stored made the next one's inserts slower. Measured on the 10,000-host
estate with three resolutions already stored: COPY of one resolution's data paths into a
table with a hash index on `index` 13.8 s, with B-trees on (resolution_id, md5(index)) and
(resolution_id, md5(sourcetype)) together 5.9 s; the whole `host_data_paths` write of a
resolution went from 37 s to 12-14 s (benchmarks/RESULTS.md).

md5 keeps an entry at 32 characters whatever the name's length, and the leading
resolution_id keeps one resolution's rows together (and serves the cascade from it, so the
lone resolution_id B-trees 005 and 006 added go). A lookup asks for both `md5(col) =
md5(:name)` and `col = :name` (daemon.resolve.load.named). SQLite has no entry size limit and
keeps its (resolution_id, name) B-trees.

Revision ID: 007
Revises: 006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "007"
down_revision = "006"
branch_labels = None
depends_on = None

# (table, column, had 005/006 a B-tree on resolution_id alone for it)
LOOKUPS = (
    ("hosts", "name", True),
    ("host_memberships", "serverclass", True),
    ("host_apps", "app", True),
    ("resolution_findings", "host", False),
    ("host_data_paths", "index", True),
    ("host_data_paths", "sourcetype", False),
    ("data_path_finals", "index", True),
    ("data_path_finals", "sourcetype", False),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, by_resolution in LOOKUPS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        if by_resolution:
            op.drop_index(f"ix_{table}_resolution_id", table_name=table)
        op.create_index(
            f"ix_{table}_resolution_id_{column}_md5",
            table,
            ["resolution_id", sa.text(f'md5("{column}")')],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, by_resolution in LOOKUPS:
        op.drop_index(f"ix_{table}_resolution_id_{column}_md5", table_name=table)
        if by_resolution:
            op.create_index(f"ix_{table}_resolution_id", table, ["resolution_id"])
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="hash")
