"""The one seam through which SQL flows: engine set-up, error translation and the run queries.

Driver errors become DatabaseUnavailable here, so the pipeline decides by `except` clause.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from daemon.errors import DatabaseUnavailable, RunNotFound, SchemaError
from daemon.models import Base, IngestionRun, RunClaim, RunStatus, UploadType, utcnow


def make_engine(url: str, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"database unavailable: cannot create {folder}: {exc.strerror}"
                ) from exc
        # Writers wait for each other instead of failing with "database is locked".
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = pool_size
        # A half-open connection (a partitioned host) must fail in about a minute, not hang a
        # worker for the kernel's 15-minute TCP retransmission timeout.
        kwargs["connect_args"] = {
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 60000,
        }
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN (SQLAlchemy's documented pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed run survives power loss, because its source is deleted right after.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# The execution option that marks read-only work (Database.read_session, Database.reader).
READ_ONLY = "autodoc_read_only"


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # Deferred: in WAL mode a reader never waits for a writer, so `runs list` or `status`
        # answers while a parse chunk is being written.
        connection.exec_driver_sql("BEGIN")
    else:
        # IMMEDIATE takes the write lock up front, so a transaction's reads and writes see one
        # state even with several processes on the file (e.g. the dedupe lookup in
        # mark_stored); a deferred one that wrote later could fail with SQLITE_BUSY at once.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def describe_db_error(exc: BaseException) -> str:
    """One line without the SQL statement or the driver's traceback."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Connection trouble becomes DatabaseUnavailable, a missing schema SchemaError."""
    try:
        yield
    except DBAPIError as exc:
        message = describe_db_error(exc)
        missing_table = "no such table" in message or getattr(exc.orig, "sqlstate", "") == "42P01"
        if missing_table:
            raise SchemaError(
                f"the database has no splunk-autodoc schema ({message}): run 'autodoc db upgrade'"
            ) from exc
        # psycopg raises SQLSTATE class 54 (a program limit: an index row or a statement too
        # big) as an OperationalError; the same data would fail again, so it is not an outage.
        limit = str(getattr(exc.orig, "sqlstate", "") or "").startswith("54")
        transient = isinstance(exc, OperationalError | InterfaceError) and not limit
        if transient or exc.connection_invalidated:
            raise DatabaseUnavailable(f"database unavailable: {message}") from exc
        raise
    except SQLAlchemyTimeoutError as exc:  # the connection pool is exhausted
        raise DatabaseUnavailable(f"database unavailable: {exc}") from exc


# The newest migration in migrations/versions/ (a test keeps the two in step). Commands that
# only need the schema to be current compare against it without importing Alembic.
SCHEMA_REVISION = "007"


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    size_bytes: int
    stored_object_key: str


class Database:
    """Run bookkeeping: every method is one short transaction."""

    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        # Same pool; on SQLite its transactions begin deferred instead of taking the write lock.
        self.reader = self.engine.execution_options(**{READ_ONLY: True})
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.reader, expire_on_commit=False)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with translate_errors(), self._sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads: it never waits for a writer on SQLite (WAL)."""
        with translate_errors(), self._read_sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        # A write transaction: the daemon's outage probe must find the database writable
        # (on SQLite a deferred read would pass while another process holds the lock).
        with self.session() as session:
            session.execute(select(1))

    def schema_revision(self) -> str | None:
        """The revision Alembic recorded; None for an empty database."""
        with translate_errors(), self.reader.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if revision is None else str(revision)

    # -- writes ------------------------------------------------------------------------------

    def create_run(
        self,
        upload_type: UploadType,
        label: str | None,
        notes: str,
        claim_token: str | None = None,
    ) -> int:
        return self.create_runs([(upload_type, label, notes)], [claim_token])[0]

    def create_runs(
        self,
        runs: Sequence[tuple[UploadType, str | None, str]],
        claim_tokens: Sequence[str | None] = (),
    ) -> list[int]:
        """Insert `pending` runs (type, label, notes) in one transaction; their ids in order.
        Each claim token given (one per run, None for none) is recorded in `run_claims` in the
        same transaction, so a run made for a claimed file can always be found by its token."""
        now = utcnow()
        rows = [
            {"created_at": now, "type": t, "label": label, "status": RunStatus.PENDING, "notes": n}
            for t, label, n in runs
        ]
        table = Base.metadata.tables["ingestion_runs"]
        with self.session() as session:
            connection = session.connection()
            result = connection.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            ids = list(result.scalars())
            claims = [
                {"token": token, "run_id": run_id}
                for token, run_id in zip(claim_tokens, ids, strict=False)
                if token is not None
            ]
            if claims:
                connection.execute(insert(RunClaim), claims)
            return ids

    def mark_stored(
        self, run_id: int, record: FileRecord, notes: Callable[[int | None], str]
    ) -> bool:
        return self.mark_stored_many([(run_id, record, notes)])[0]

    def mark_stored_many(
        self, items: Sequence[tuple[int, FileRecord, Callable[[int | None], str]]]
    ) -> list[bool]:
        """For each (run, record, notes): insert the files row and set `stored`, all in one
        transaction, where the run is still `pending` (False: another process finished it; the
        database is the arbiter even where file locks are not, e.g. NFS without lockd).
        `notes` is given the earliest other run with the same sha256, looked up inside the
        transaction while holding a per-content lock, so two runs stored at once cannot both
        miss each other."""
        runs = Base.metadata.tables["ingestion_runs"]
        files = Base.metadata.tables["files"]
        shas = sorted({record.sha256 for _, record, _ in items})
        with self.session() as session:
            connection = session.connection()
            if self.is_postgresql:
                # One round trip; taken in sha256 order, so two daemons' batches cannot
                # deadlock.
                connection.execute(
                    text(
                        "SELECT count(pg_advisory_xact_lock(hashtextextended(sha, 0)))"
                        " FROM (SELECT unnest(CAST(:shas AS text[])) AS sha ORDER BY 1) AS t"
                    ),
                    {"shas": shas},
                )
            ids = [run_id for run_id, _, _ in items]
            pending_query = select(runs.c.id).where(
                runs.c.id.in_(ids), runs.c.status == RunStatus.PENDING
            )
            if self.is_postgresql:
                pending_query = pending_query.with_for_update()
            pending = set(connection.scalars(pending_query))
            # Earliest run per sha256 among those already stored, then among this batch.
            earliest: dict[str, int] = dict(
                connection.execute(  # type: ignore[arg-type]
                    select(files.c.sha256, func.min(files.c.run_id))
                    .where(files.c.sha256.in_(shas))
                    .group_by(files.c.sha256)
                ).all()
            )
            updates: list[dict[str, Any]] = []
            inserts: list[dict[str, Any]] = []
            for run_id, record, notes in items:
                if run_id not in pending:
                    continue
                earlier = earliest.get(record.sha256)
                updates.append({"run": run_id, "new_notes": notes(earlier)})
                inserts.append({"run_id": run_id, **record.__dict__})
                earliest[record.sha256] = min(earlier or run_id, run_id)
            if updates:
                connection.execute(
                    update(runs)
                    .where(runs.c.id == bindparam("run"))
                    .values(status=RunStatus.STORED, notes=bindparam("new_notes")),
                    updates,
                )
                connection.execute(insert(files), inserts)
            return [run_id in pending for run_id, _, _ in items]

    def mark_failed(self, run_id: int, notes: str) -> bool:
        """Set `failed` if the run is still `pending`; False when it was finished elsewhere."""
        with self.session() as session:
            changed = session.execute(
                update(IngestionRun)
                .where(IngestionRun.id == run_id, IngestionRun.status == RunStatus.PENDING)
                .values(status=RunStatus.FAILED, notes=notes)
            )
            return bool(changed.rowcount == 1)  # type: ignore[attr-defined]

    # -- reads -------------------------------------------------------------------------------

    def find_run_by_claim(self, token: str) -> IngestionRun | None:
        """The run made for the file claimed with `token`, with its files; however old."""
        return self.find_runs_by_claims([token]).get(token)

    def find_runs_by_claims(self, tokens: Sequence[str]) -> dict[str, IngestionRun]:
        """token -> its run (with its files), for the tokens that have one."""
        found: dict[str, IngestionRun] = {}
        with self.read_session() as session:
            for start in range(0, len(tokens), 500):
                rows = session.execute(
                    select(RunClaim.token, IngestionRun)
                    .join(IngestionRun, RunClaim.run_id == IngestionRun.id)
                    .where(RunClaim.token.in_(tokens[start : start + 500]))
                    .options(selectinload(IngestionRun.files))
                ).all()
                found.update((token, run) for token, run in rows)
        return found

    def stored_keys(self, keys: Collection[str]) -> set[str]:
        """The blob keys among `keys` (`<prefix>sha256/<aa>/<bb>/<digest>`) that a `files` row
        records: blobs already durable in the store, which need no upload. One query per 500
        keys, by the sha256 index."""
        wanted = set(keys)
        digests = sorted({key.rsplit("/", 1)[-1] for key in wanted})
        files = Base.metadata.tables["files"]
        found: set[str] = set()
        with self.read_session() as session:
            for start in range(0, len(digests), 500):
                found.update(
                    session.scalars(
                        select(files.c.stored_object_key)
                        .where(files.c.sha256.in_(digests[start : start + 500]))
                        .distinct()
                    )
                )
        return found & wanted

    def get_run(self, run_id: int) -> IngestionRun:
        with self.read_session() as session:
            run = session.scalars(
                select(IngestionRun)
                .where(IngestionRun.id == run_id)
                .options(selectinload(IngestionRun.files))
            ).first()
        if run is None:
            raise RunNotFound(f"run {run_id} does not exist")
        return run

    def list_runs(
        self,
        status: RunStatus | None = None,
        upload_type: UploadType | None = None,
        limit: int | None = 50,
    ) -> Sequence[IngestionRun]:
        query = select(IngestionRun).options(selectinload(IngestionRun.files))
        if status is not None:
            query = query.where(IngestionRun.status == status)
        if upload_type is not None:
            query = query.where(IngestionRun.type == upload_type)
        query = query.order_by(IngestionRun.created_at.desc(), IngestionRun.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.read_session() as session:
            return session.scalars(query).all()

    def count_by_status(self) -> dict[str, int]:
        with self.read_session() as session:
            rows = session.execute(
                select(IngestionRun.status, func.count()).group_by(IngestionRun.status)
            ).all()
        return {str(status): count for status, count in rows}
