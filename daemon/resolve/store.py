"""A resolution to the database: the claim that lets one resolver work at a time, the rows it
computed, and the final status. The only SQL that writes resolutions.

A resolution is claimed like parse work: a `running` row names its owner and is renewed while
it works. Its rows are written in chunks (on SQLite each chunk commits, so ingestion and
parsing are never held up), and it becomes visible only when it is set `complete`; readers
never look at a `running` one. A resolver that dies leaves a `running` row that the next one
deletes, with everything written under it (ON DELETE CASCADE), before it starts again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from daemon.database import Database
from daemon.errors import AutodocError
from daemon.models import Base, ResolutionStatus, utcnow
from daemon.owners import is_gone
from daemon.resolve.result import HOST_FIELDS, Resolution
from daemon.resolve.types import to_json

RESOLVE_LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 20.0
_CHUNK = 5000
# Any constant: the same for every splunk-autodoc host (pg_advisory_xact_lock).
_BEGIN_LOCK = 0x5A17D0D

TABLES = Base.metadata.tables
RESOLUTIONS = TABLES["resolutions"]


class ResolutionBusy(AutodocError):
    """Another process is resolving the estate."""


class ResolutionLost(AutodocError):
    """This resolution was taken over (its claim ran out) before it finished."""


def begin(db: Database, owner: str, inputs: Mapping[str, Any], ds_version: str | None) -> int:
    """Claim the resolver and open a `running` resolution; its id. A resolution left running
    by a process that is gone (or silent for RESOLVE_LEASE_SECONDS) is deleted first.
    Raises ResolutionBusy when a live one is running."""
    with db.session() as session:
        connection = session.connection()
        if db.is_postgresql:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BEGIN_LOCK})
        stale = utcnow() - timedelta(seconds=RESOLVE_LEASE_SECONDS)
        running = connection.execute(
            select(RESOLUTIONS.c.id, RESOLUTIONS.c.owner, RESOLUTIONS.c.heartbeat_at).where(
                RESOLUTIONS.c.status == ResolutionStatus.RUNNING
            )
        ).all()
        for rid, other, beat in running:
            if other is not None and beat is not None and beat >= stale and not is_gone(other):
                raise ResolutionBusy(f"resolution {rid} is being computed by {other}")
            connection.execute(delete(RESOLUTIONS).where(RESOLUTIONS.c.id == rid))
        now = utcnow()
        rid = connection.execute(
            insert(RESOLUTIONS)
            .values(
                created_at=now,
                status=ResolutionStatus.RUNNING,
                owner=owner,
                heartbeat_at=now,
                ds_version=ds_version,
                inputs=dict(inputs),
            )
            .returning(RESOLUTIONS.c.id)
        ).scalar_one()
        return int(rid)


def heartbeat(db: Database, resolution_id: int, owner: str) -> None:
    with db.session() as session:
        session.connection().execute(
            update(RESOLUTIONS)
            .where(RESOLUTIONS.c.id == resolution_id, RESOLUTIONS.c.owner == owner)
            .values(heartbeat_at=utcnow())
        )


def write(db: Database, resolution_id: int, resolution: Resolution) -> None:
    """Every row of the resolution, in chunks; invisible until `complete`."""
    host_ids: dict[str, int] = {}
    hosts = [
        {
            "resolution_id": resolution_id,
            "name": h.name,
            **{f: getattr(h, f) for f in HOST_FIELDS},
            "role": h.role,
            "ds": h.ds,
            "sources": list(h.sources),
            "stack": h.stack,
        }
        for h in resolution.hosts
    ]
    table = TABLES["hosts"]
    for chunk in _chunks(hosts):
        with db.session() as session:
            ids = session.connection().execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), chunk
            )
            host_ids.update(zip((row["name"] for row in chunk), ids.scalars(), strict=True))
    _insert(
        db,
        "host_memberships",
        (
            {
                "resolution_id": resolution_id,
                "host_id": host_ids[m.host],
                "serverclass": m.serverclass,
                "result": m.result.value,
                "why": to_json(m.why),
                "missing": list(m.missing),
            }
            for m in resolution.memberships
        ),
    )
    _insert(
        db,
        "host_apps",
        (
            {
                "resolution_id": resolution_id,
                "host_id": host_ids[a.host],
                "app": a.app,
                "serverclasses": list(a.serverclasses),
                "result": a.result,
                "state": a.state,
                "target": a.target,
                "in_repository": a.in_repository,
                "why": to_json(a.why),
            }
            for a in resolution.apps
        ),
    )
    _insert(
        db,
        "host_effective_inputs",
        (
            {
                "resolution_id": resolution_id,
                "stack": stack,
                "stanza": stanza,
                "settings": {k: dict(v) for k, v in settings.items()},
            }
            for stack, stanzas in resolution.effective_inputs.items()
            for stanza, settings in stanzas.items()
        ),
    )
    _insert(
        db,
        "resolution_findings",
        (
            {
                "resolution_id": resolution_id,
                "code": f.code.value,
                "severity": f.severity.value,
                "host": f.host,
                "subject": f.subject,
                "message": f.message,
                "evidence": to_json(f.evidence),
            }
            for f in resolution.findings
        ),
    )


def complete(
    db: Database,
    resolution_id: int,
    owner: str,
    summary: Mapping[str, Any],
    ds_version: str | None = None,
) -> None:
    """Make the resolution visible. Raises ResolutionLost if it is no longer ours."""
    _finish(
        db,
        resolution_id,
        owner,
        status=ResolutionStatus.COMPLETE,
        summary=dict(summary),
        ds_version=ds_version,
    )


def fail(db: Database, resolution_id: int, owner: str, error: str) -> None:
    """Record why it failed; its partial rows go (a failed resolution shows nothing)."""
    with db.session() as session:
        connection = session.connection()
        for name in (
            "resolution_findings",
            "host_effective_inputs",
            "host_apps",
            "host_memberships",
            "hosts",
        ):
            table = TABLES[name]
            connection.execute(delete(table).where(table.c.resolution_id == resolution_id))
    _finish(db, resolution_id, owner, status=ResolutionStatus.FAILED, error=error)


def _finish(db: Database, resolution_id: int, owner: str, **values: Any) -> None:
    with db.session() as session:
        changed = session.connection().execute(
            update(RESOLUTIONS)
            .where(
                RESOLUTIONS.c.id == resolution_id,
                RESOLUTIONS.c.owner == owner,
                RESOLUTIONS.c.status == ResolutionStatus.RUNNING,
            )
            .values(finished_at=utcnow(), owner=None, heartbeat_at=None, **values)
        )
        if changed.rowcount != 1:
            raise ResolutionLost(f"resolution {resolution_id} was taken over before it finished")


def _insert(db: Database, table: str, rows: Iterable[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        with db.session() as session:
            session.connection().execute(insert(TABLES[table]), chunk)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
