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
    """Keyset pages of runs whose notes name a claim. The token is the last `[claim ...]` of
    the first line (the origin before it is a feeder's file name, which may hold brackets).
    A token in two runs' notes means the old time-windowed lookup missed the first run and
    made a second: from then on it found the newer one, so the newest keeps the token, and
    an older one left `pending` (an orphan nothing would ever finish) is failed, naming it."""
    bind = op.get_bind()
    runs = sa.table(
        "ingestion_runs",
        sa.column("id", sa.Integer),
        sa.column("notes", sa.Text),
        sa.column("status", sa.String),
    )
    claims = sa.table("run_claims", sa.column("token", sa.String), sa.column("run_id", sa.Integer))
    newest: dict[str, int] = {}
    superseded: list[tuple[int, int]] = []
    after = 0
    while True:
        page = bind.execute(
            sa.select(runs.c.id, runs.c.notes)
            .where(runs.c.id > after, runs.c.notes.like("%[claim %"))
            .order_by(runs.c.id)
            .limit(_BATCH)
        ).all()
        if not page:
            break
        for run_id, notes in page:
            found = _TOKEN.findall((notes or "").split("\n", 1)[0])
            if found:
                if found[-1] in newest:
                    superseded.append((newest[found[-1]], run_id))
                newest[found[-1]] = run_id
        after = page[-1][0]
    rows = [{"token": t, "run_id": r} for t, r in newest.items()]
    for start in range(0, len(rows), _BATCH):
        bind.execute(sa.insert(claims), rows[start : start + _BATCH])
    for old, new in superseded:
        bind.execute(
            sa.update(runs)
            .where(runs.c.id == old, runs.c.status == "pending")
            .values(
                status="failed",
                notes=sa.func.coalesce(runs.c.notes, "")
                + f"\nfailed: superseded by run {new}, made for the same claimed file",
            )
        )


def downgrade() -> None:
    op.drop_index("ix_run_claims_run_id", table_name="run_claims")
    op.drop_table("run_claims")
