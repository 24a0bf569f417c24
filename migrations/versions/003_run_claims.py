"""run_claims: the claim token of each file taken into .processing/, and its run.

Recovery finds the run of a claimed file by its token here, by primary key and with no time
window; before, it searched the runs' notes with LIKE, bounded by the file's ctime, which every
retried store attempt moves forward. The notes keep the token for people. Existing runs are
backfilled from the `[claim <token>]` their notes carry.

Revision ID: 003
Revises: 002
Create Date: 2026-12-04
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "003"
down_revision = "002"
branch_labels = None
depends_on = None

_TOKEN = re.compile(r"\[claim ([0-9a-f]{16})\]")
_BATCH = 10_000


def upgrade() -> None:
    op.create_table(
        "run_claims",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ingestion_runs.id"],
            name=op.f("fk_run_claims_run_id_ingestion_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_run_claims")),
    )
    op.create_index("ix_run_claims_run_id", "run_claims", ["run_id"])
    _backfill()


def _backfill() -> None:
    """Keyset pages of runs whose notes name a claim. The first run of a token keeps it, as the
    lookup this replaces did: a token can sit in two runs' notes when that lookup missed."""
    bind = op.get_bind()
    runs = sa.table("ingestion_runs", sa.column("id", sa.Integer), sa.column("notes", sa.Text))
    claims = sa.table("run_claims", sa.column("token", sa.String), sa.column("run_id", sa.Integer))
    if bind.dialect.name == "postgresql":
        add = postgresql.insert(claims).on_conflict_do_nothing()
    else:
        add = sa.insert(claims).prefix_with("OR IGNORE")
    after = 0
    while True:
        page = bind.execute(
            sa.select(runs.c.id, runs.c.notes)
            .where(runs.c.id > after, runs.c.notes.like("%[claim %"))
            .order_by(runs.c.id)
            .limit(_BATCH)
        ).all()
        if not page:
            return
        rows = {}
        for run_id, notes in page:
            match = _TOKEN.search(notes or "")
            if match:
                rows.setdefault(match.group(1), run_id)
        if rows:
            bind.execute(add, [{"token": t, "run_id": r} for t, r in rows.items()])
        after = page[-1][0]


def downgrade() -> None:
    op.drop_index("ix_run_claims_run_id", table_name="run_claims")
    op.drop_table("run_claims")
