"""`autodoc status`: what is waiting, claimed, failed or stuck, and whether services answer."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from daemon.config import Config
from daemon.database import Database
from daemon.errors import AutodocError, SchemaError
from daemon.inbox import Claimed, Inbox, is_settled, printable
from daemon.models import IngestionRun, RunStatus
from daemon.render import render_table, run_to_dict
from daemon.storage import BlobStore, make_store


def collect_status(config: Config) -> dict[str, Any]:
    inbox = Inbox(config.inbox.path)
    drops, problems = inbox.survey()
    now = time.time()
    settled = sum(1 for _drop, st in drops if is_settled(st, now, config.inbox.settle_seconds))
    failed_files = (
        [
            p
            for p in config.inbox.failed_path.rglob("*")
            if p.is_file() and not p.name.endswith(".error.json") and not p.name.startswith(".")
        ]
        if config.inbox.failed_path.is_dir()
        else []
    )
    status: dict[str, Any] = {
        "inbox": str(config.inbox.path),
        "backlog": len(drops),
        "backlog_ready": settled,
        "claimed": sum(1 for _ in inbox.claimed()),
        "failed_files": len(failed_files),
        "failed_path": str(config.inbox.failed_path),
        "unroutable": [
            {"path": printable(str(item.path)), "reason": item.reason}
            for item, kind in problems
            if kind == "unroutable"
        ],
        "refused": [
            {"path": printable(str(item.path)), "reason": item.reason}
            for item, kind in problems
            if kind == "refused"
        ],
        "held": [],
        "database": {"ok": True, "error": None},
        "storage": {"ok": True, "error": None, "backend": config.storage.backend},
        "runs_by_status": {},
        "last_runs": [],
        "daemons": _daemons(inbox),
        "docs": docs_status(config.docs.path),
    }
    try:
        db = _existing_database(config.database.url)
        status["runs_by_status"] = db.count_by_status()
        status["last_runs"] = [run_to_dict(r) for r in db.list_runs(limit=5)]
        status["held"] = _held(inbox, db, config)
        db.dispose()
    except SchemaError as exc:
        status["database"] = {"ok": False, "error": exc.message, "kind": "schema"}
    except AutodocError as exc:
        status["database"] = {"ok": False, "error": exc.message, "kind": "unavailable"}
    try:
        store = make_store(config.storage)
        store.ping()
        status["storage"]["location"] = store.description
    except AutodocError as exc:
        status["storage"].update(ok=False, error=exc.message)
    return status


def _held(inbox: Inbox, db: Database, config: Config) -> list[dict[str, Any]]:
    """Claimed files kept as the last copy: their run is finished, but a blob it recorded is
    missing from the store (the pipeline puts it back from the file when it can)."""
    claimed = {c.token: c for c in inbox.claimed()}
    finished = [
        (claimed[token], run)
        for token, run in db.find_runs_by_claims(list(claimed)).items()
        if run.status != RunStatus.PENDING and run.files
    ]
    if not finished:
        return []
    try:
        return _missing_blobs(make_store(config.storage), finished)
    except (AutodocError, OSError):  # the storage line says what is wrong with the store
        return []


def _missing_blobs(
    store: BlobStore, finished: list[tuple[Claimed, IngestionRun]]
) -> list[dict[str, Any]]:
    held = []
    for item, run in finished:
        missing = [
            f.stored_object_key
            for f in run.files
            if store.size(f.stored_object_key) != f.size_bytes
        ]
        if missing:
            held.append(
                {
                    "path": printable(str(item.path)),
                    "run_id": run.id,
                    "reason": f"blob {missing[0]} of run {run.id} is missing from the store",
                }
            )
    return held


def _daemons(inbox: Inbox) -> list[dict[str, Any]]:
    """What each daemon on this inbox last published (see daemon.service.state_file)."""
    found = []
    for path in sorted(inbox.processing.glob("daemon-*.json")):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict):
            # A live daemon rewrites its state every few seconds.
            state["stale"] = bool(state.get("running")) and time.time() - path.stat().st_mtime > 60
            found.append(state)
    return found


def docs_status(root: Path) -> dict[str, Any]:
    """The documentation site: where it is, which resolution it shows and since when (the
    swap of `latest`), and the last failed build when none succeeded since."""
    from daemon.docs.publish import LATEST, current, last_failure

    found: dict[str, Any] = {
        "path": str(root / LATEST / "index.html"),
        "resolution": current(root),
        "built_at": None,
        "age_seconds": None,
        "last_failure": last_failure(root),
    }
    if found["resolution"] is not None:
        with contextlib.suppress(OSError):
            built = (root / LATEST).lstat().st_mtime
            found["built_at"] = datetime.fromtimestamp(built, UTC).isoformat(timespec="seconds")
            found["age_seconds"] = max(0, round(time.time() - built))
    return found


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _docs_line(docs: dict[str, Any]) -> str:
    if docs["resolution"] is None:
        line = f"not built yet ({docs['path']})"
    else:
        line = (
            f"{docs['path']}: resolution {docs['resolution']}, built "
            f"{_age(docs['age_seconds'] or 0)} ago"
        )
    failure = docs.get("last_failure")
    if failure:
        line += (
            f"; the build of resolution {failure.get('resolution')} FAILED: {failure.get('error')}"
        )
    return line


def _existing_database(url: str) -> Database:
    """The database, without creating an SQLite file that is not there (status changes nothing)."""
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise SchemaError(missing)
    return Database(url)


def missing_sqlite_file(url: str) -> str | None:
    """Why an SQLite database cannot be read without creating its file (connecting would),
    None when it is not SQLite or its file is there."""
    parsed = make_url(url)
    file = parsed.database or ""
    is_file = parsed.get_backend_name() == "sqlite" and file not in ("", ":memory:")
    if is_file and not Path(file).exists():
        return f"database file {file} does not exist: run 'autodoc db upgrade'"
    return None


def render_status(status: dict[str, Any]) -> str:
    lines = [
        f"inbox        {status['inbox']}",
        f"backlog      {status['backlog']} file(s) waiting, {status['backlog_ready']} ready",
        f"claimed      {status['claimed']} file(s) in .processing",
        f"failed       {status['failed_files']} file(s) in {status['failed_path']}",
        f"database     {'ok' if status['database']['ok'] else status['database']['error']}",
        f"storage      {'ok' if status['storage']['ok'] else status['storage']['error']}",
        f"docs         {_docs_line(status['docs'])}",
    ]
    for d in status["daemons"]:
        if not d.get("running"):
            state = "stopped"
        elif d.get("stale"):
            state = "NOT RESPONDING (no update for over a minute: killed, or hung?)"
        elif d.get("degraded"):
            state = f"DEGRADED: {d['degraded']}"
        else:
            state = f"running ({d.get('observer')}), backlog {d.get('backlog')}"
        lines.append(
            f"daemon       {d.get('host')} pid {d.get('pid')}: {state}; updated {d.get('updated')}"
        )
    if status["runs_by_status"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(status["runs_by_status"].items()))
        lines.append(f"runs         {counts}")
    for key in ("unroutable", "refused"):
        if status[key]:
            lines.append(f"\n{key} (left where they are):")
            lines.extend(f"  {item['path']}: {item['reason']}" for item in status[key])
    if status["held"]:
        lines.append("\nheld in .processing as the last copy (a blob is missing from the store):")
        lines.extend(f"  {item['path']}: {item['reason']}" for item in status["held"])
    if status["last_runs"]:
        lines.append("\nlast runs:")
        rows = [
            [str(r["id"]), r["created_at"][:19], r["type"], r["label"] or "", r["status"]]
            for r in status["last_runs"]
        ]
        lines.append(render_table(["ID", "CREATED (UTC)", "TYPE", "LABEL", "STATUS"], rows))
    return "\n".join(lines)
