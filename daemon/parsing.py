"""Parsing stored runs: `stored → parsing → normalized → complete`, or `failed` with the reason.

A run is claimed for parsing in the database, so several daemons sharing one PostgreSQL never
parse the same run twice: the oldest `stored` run is taken with `SELECT … FOR UPDATE SKIP
LOCKED` (on SQLite, whose writers are serialized by BEGIN IMMEDIATE, by a status update
guarded on the status it read), set `parsing`, and a `parse_claims` row names the process
that has it. That process renews the claim while it works. A run left `parsing` by a process
that is gone is parsed again: at once when the process was on this host and is no longer
running, else when its claim has not been renewed for PARSE_LEASE_SECONDS.

The bundle is read from the blob store as a stream (daemon.conf.archive), each member parsed
(daemon.conf.parser) and the rows written in one transaction (daemon.conf.store) that also
sets `normalized`; then `complete` with a one-line summary appended to `notes`. The notes
written at ingestion are kept (they name the claim, for people).
An `inventory` run is read by daemon.inventory and written by the same store
(`replace_run_inventory`), its summary `parsed: inventory: N hosts, M findings`.

What fails a run: a corrupt or truncated archive, a bomb, a member over the limits (the
reason goes in `notes`), an inventory over its limits or without one usable row. What does
not: a bad .conf file (binary, undecodable, junk lines) or a bad inventory row gives
findings. A database or blob store outage leaves the run `parsing` under our claim; it is
taken again when the service is back.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from daemon import faults
from daemon.conf.archive import ArchiveLimits, read_members
from daemon.conf.parser import parse_conf
from daemon.conf.store import (
    COUNTED,
    ConfMember,
    delete_run_conf,
    replace_run_conf,
    replace_run_inventory,
)
from daemon.conf.types import Finding
from daemon.config import Config
from daemon.database import Database, translate_errors
from daemon.domain import UploadType
from daemon.errors import (
    PermanentError,
    Refused,
    RunNotFound,
    StorageUnavailable,
    TransientError,
)
from daemon.inventory import read_inventory
from daemon.logs import get_logger
from daemon.models import Base, IngestionRun, RunStatus, utcnow
from daemon.owners import is_gone, this_process
from daemon.storage import BlobStore

T = TypeVar("T")
_CHUNK = 1024 * 1024

PARSE_LEASE_SECONDS = 120.0
# A run whose parse has killed this many processes is failed rather than taken again.
MAX_PARSE_ATTEMPTS = 3
_PICKS = 100
# The owner a stopping daemon leaves on the claims it abandons: taken at once, not counted.
RELEASED = "released"
HEARTBEAT_SECONDS = 20.0
_SUMMARY_PREFIXES = ("\nparsed: ", "\nparse failed: ")

RUNS = Base.metadata.tables["ingestion_runs"]
CLAIMS = Base.metadata.tables["parse_claims"]


@dataclass(frozen=True)
class ParseOutcome:
    run_id: int
    status: RunStatus  # complete or failed; PARSING when another process took it over
    counts: dict[str, int]
    reason: str = ""


class RunParser:
    def __init__(
        self, config: Config, db: Database, store: BlobStore, owner: str | None = None
    ) -> None:
        self.db = db
        self.store = store
        self.owner = owner or this_process()
        self.limits = archive_limits(config)
        self._busy: set[int] = set()  # runs this process's threads are parsing now
        self._busy_lock = threading.Lock()
        self._beater: threading.Thread | None = None

    # -- claiming ---------------------------------------------------------------------------

    def claim_next(self) -> int | None:
        """Claim the oldest run waiting to be parsed; None when there is none."""
        for _ in range(_PICKS):  # a pick can be lost, or failed for its attempts: pick again
            run_id, again = self._claim_next()
            if run_id is not None or not again:
                return run_id
        return None

    def _claim_next(self) -> tuple[int | None, bool]:
        """(the run claimed, or None; whether to pick again)."""
        run_id: int | None = None
        committed = False
        try:
            with self.db.session() as session:
                connection = session.connection()
                picked = self._pick(connection)
                if picked is None:
                    return None, False
                run_id, seen = picked
                taken = self._take(connection, run_id, seen)
            committed = taken
        finally:
            if run_id is not None and not committed:  # picked, but the claim did not commit
                with self._busy_lock:
                    self._busy.discard(run_id)
        if not committed:
            return None, True  # changed under us, or failed for its attempts
        faults.point("after_parse_claim")
        return run_id, False

    def _pick(self, connection: Connection) -> tuple[int, RunStatus] | None:
        """The run to take, already marked busy in this process (so that another thread of
        ours, which shares our owner name, cannot pick it before our claim commits)."""
        with self._busy_lock:
            busy = set(self._busy)
        locking = self.db.is_postgresql
        stored = select(RUNS.c.id).where(RUNS.c.status == RunStatus.STORED)
        if busy:
            stored = stored.where(RUNS.c.id.not_in(busy))
        stored = stored.order_by(RUNS.c.id).limit(1)
        if locking:
            stored = stored.with_for_update(skip_locked=True)
        found = connection.scalar(stored)
        if found is not None and self._mark_busy(int(found)):
            return int(found), RunStatus.STORED
        stale = utcnow() - timedelta(seconds=PARSE_LEASE_SECONDS)
        left = (
            select(RUNS.c.id, RUNS.c.status, CLAIMS.c.owner, CLAIMS.c.heartbeat_at)
            .select_from(RUNS.outerjoin(CLAIMS, CLAIMS.c.run_id == RUNS.c.id))
            # `normalized`: rows written, then the process died before `complete`.
            .where(RUNS.c.status.in_([RunStatus.PARSING, RunStatus.NORMALIZED]))
            .order_by(RUNS.c.id)
            .limit(100)
        )
        if busy:
            left = left.where(RUNS.c.id.not_in(busy))
        if locking:
            left = left.with_for_update(of=RUNS, skip_locked=True)
        for run_id, status, owner, beat in connection.execute(left):
            takeable = owner in (None, self.owner, RELEASED) or beat < stale or is_gone(owner)
            if takeable and self._mark_busy(int(run_id)):
                return int(run_id), status
        return None

    def _mark_busy(self, run_id: int) -> bool:
        with self._busy_lock:
            if run_id in self._busy:
                return False
            self._busy.add(run_id)
            return True

    def _take(
        self, connection: Connection, run_id: int, seen: RunStatus, *, again: bool = False
    ) -> bool:
        """Set `parsing` and name us in parse_claims, guarded on the status read: False when
        another process changed the run in between, or when this run has now killed
        MAX_PARSE_ATTEMPTS parsers (it is failed instead: most likely it needs more memory
        than the host has, and taking it again would only crash the next daemon too).
        `again`: an operator asked for this run (`autodoc parse RUN_ID`): count from 1."""
        changed = connection.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.status == seen)
            .values(status=RunStatus.PARSING)
        )
        if changed.rowcount != 1:
            return False
        previous = connection.execute(
            select(CLAIMS.c.owner, CLAIMS.c.attempts).where(CLAIMS.c.run_id == run_id)
        ).first()
        attempts = 1
        if previous is not None and not again:
            owner, before = previous
            # One more for a parser that died holding it; not for our own retry, nor for a
            # claim a stopping daemon released.
            attempts = before if owner in (self.owner, RELEASED) else before + 1
        connection.execute(delete(CLAIMS).where(CLAIMS.c.run_id == run_id))
        if attempts > MAX_PARSE_ATTEMPTS:
            reason = (
                f"parse failed: {MAX_PARSE_ATTEMPTS} parsers died on this run (out of memory?); "
                f"'autodoc parse {run_id}' tries again"
            )
            delete_run_conf(connection, run_id)
            self._set_final(connection, run_id, RunStatus.FAILED, reason)
            get_logger(run_id=run_id).error("run.parse_failed", reason=reason)
            return False
        now = utcnow()
        connection.execute(
            insert(CLAIMS).values(
                run_id=run_id,
                owner=self.owner,
                claimed_at=now,
                heartbeat_at=now,
                attempts=attempts,
            )
        )
        return True

    def claim(self, run_id: int, *, force: bool = False) -> None:
        """Claim one run (`autodoc parse RUN_ID`): any run that has been stored, unless another
        live process is parsing it (`force` takes it anyway). Raises RunNotFound, Refused."""
        claimed = False
        try:
            with self.db.session() as session:
                self._claim_one(session.connection(), run_id, force)
                claimed = True
        except BaseException:
            if claimed:  # marked busy, but the claim did not commit
                with self._busy_lock:
                    self._busy.discard(run_id)
            raise

    def _claim_one(self, connection: Connection, run_id: int, force: bool) -> None:
        """Claim `run_id` in the caller's transaction and mark it busy here (unmarked again
        if this raises)."""
        query = (
            select(RUNS.c.status, CLAIMS.c.owner, CLAIMS.c.heartbeat_at)
            .select_from(RUNS.outerjoin(CLAIMS, CLAIMS.c.run_id == RUNS.c.id))
            .where(RUNS.c.id == run_id)
        )
        if self.db.is_postgresql:
            query = query.with_for_update(of=RUNS)
        row = connection.execute(query).first()
        if row is None:
            raise RunNotFound(f"run {run_id} does not exist")
        status, owner, beat = row
        if status == RunStatus.PENDING or (
            status == RunStatus.FAILED and not _has_file(connection, run_id)
        ):
            raise Refused(f"run {run_id} is {status}: there is no stored bundle to parse")
        stale = utcnow() - timedelta(seconds=PARSE_LEASE_SECONDS)
        if (
            status in (RunStatus.PARSING, RunStatus.NORMALIZED)
            and owner not in (None, self.owner, RELEASED)
            and beat >= stale
            and not is_gone(owner)
            and not force
        ):
            raise Refused(f"run {run_id} is being parsed by {owner}; --force to take it over")
        if not self._mark_busy(run_id):
            raise Refused(f"run {run_id} is being parsed by this process")
        taken = False
        try:
            taken = self._take(connection, run_id, status, again=True)
        finally:
            if not taken:
                with self._busy_lock:
                    self._busy.discard(run_id)
        if not taken:
            raise Refused(f"run {run_id} changed while it was being claimed; try again")

    def release(self) -> None:
        """At a stop: hand back the claims of parses cut short, to be taken at once by the
        next parser without counting as a death."""
        self._update_own_claims(owner=RELEASED)

    def heartbeat(self) -> None:
        """Renew our claims on the runs we are parsing."""
        self._update_own_claims(heartbeat_at=utcnow())

    def _update_own_claims(self, **values: Any) -> None:
        with self._busy_lock:
            busy = list(self._busy)
        if not busy:
            return
        with self.db.session() as session:
            session.connection().execute(
                update(CLAIMS)
                .where(CLAIMS.c.run_id.in_(busy), CLAIMS.c.owner == self.owner)
                .values(**values)
            )

    def _start_heartbeat(self) -> None:
        """One thread renews every claim of this process, for as long as it lives."""
        with self._busy_lock:
            if self._beater is not None:
                return
            beater = threading.Thread(target=self._beat, name="parse-lease", daemon=True)
            beater.start()
            self._beater = beater

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            try:
                self.heartbeat()
            except TransientError:
                continue  # the lease is long enough to miss a few
            except Exception as exc:  # noqa: BLE001 - this thread must outlive a bug
                get_logger().error("parse.heartbeat_failed", error=repr(exc), exc_info=exc)

    # -- parsing ----------------------------------------------------------------------------

    def parse_next(self) -> ParseOutcome | None:
        run_id = self.claim_next()
        return None if run_id is None else self.parse_claimed(run_id)

    def parse_claimed(self, run_id: int) -> ParseOutcome:
        """Parse a run we have claimed. Transient errors propagate (the run stays `parsing`
        under our claim, to be taken again); anything else ends it `complete` or `failed`."""
        log = get_logger(run_id=run_id)
        start = time.monotonic()
        try:
            self._start_heartbeat()
            run = self.db.get_run(run_id)
            log.info("run.parsing", type=run.type.value)
            try:
                counts = self._parse(run)
            except TransientError as exc:
                log.warning("run.parse_deferred", reason=exc.message)
                raise
            except Exception as exc:
                reason = (
                    exc.message if isinstance(exc, PermanentError) else f"internal error: {exc!r}"
                )
                if not isinstance(exc, PermanentError):
                    log.error("run.parse_crashed", error=repr(exc), exc_info=exc)
                if not self._finish(run_id, RunStatus.FAILED, f"parse failed: {reason}"):
                    log.warning("run.parse_taken_over")
                    return ParseOutcome(run_id, RunStatus.PARSING, {})
                log.warning("run.parse_failed", reason=reason, duration_ms=_ms(start))
                return ParseOutcome(run_id, RunStatus.FAILED, {}, reason)
            if counts is None:
                log.warning("run.parse_taken_over")
                return ParseOutcome(run_id, RunStatus.PARSING, {})
            faults.point("after_normalized")
            summary = _summary(run.type, counts)
            if not self._finish(run_id, RunStatus.COMPLETE, summary):
                log.warning("run.parse_taken_over")
                return ParseOutcome(run_id, RunStatus.PARSING, counts)
            log.info("run.complete", **counts, duration_ms=_ms(start))
            return ParseOutcome(run_id, RunStatus.COMPLETE, counts)
        finally:
            with self._busy_lock:
                self._busy.discard(run_id)

    def _parse(self, run: IngestionRun) -> dict[str, int] | None:
        """Read, parse and write the run's rows, setting `normalized`, in one transaction;
        the counts, or None when our claim was lost meanwhile (nothing written)."""
        if not run.files:
            raise PermanentError("the run has no stored file")
        file = run.files[0]
        findings: list[Finding] = []
        # SQLite has one writer: commit chunk by chunk, so ingestion is not held up for the
        # whole parse (the run stays `parsing`, and the next replace starts by deleting).
        # Parses of one SQLite database take turns (a lock file beside it): then no one else
        # writes these tables between our chunks, and the ids we hand out stay ours.
        chunked = not self.db.is_postgresql
        engine = self.db.engine
        with (
            _sqlite_parse_turn(self.db) if chunked else contextlib.nullcontext(),
            translate_errors(),
            engine.connect() if chunked else engine.begin() as connection,
        ):
            # Not locked: that would hold up the renewal of this process's other claims for
            # the whole parse. A takeover meanwhile is seen below and by _finish (and the row
            # lock that replace_run_conf takes on the run keeps two writers' rows apart).
            if not self._still_ours(connection, run.id, lock=False):
                return None
            if chunked:
                connection.commit()  # no write lock held while the blob is opened
            blob = io.BufferedReader(BlobReader(self.store, file.stored_object_key), _CHUNK)
            try:
                if run.type == UploadType.INVENTORY:
                    items = read_inventory(blob, name=file.path)
                    written = replace_run_inventory(
                        connection, run.id, items, commit_chunks=chunked
                    )
                else:
                    dirs: set[str] = set()
                    members = self._members(blob, run, file.id, file.path, findings, dirs)
                    written = replace_run_conf(
                        connection, run.id, members, findings, dirs=dirs, commit_chunks=chunked
                    )
            except OSError as exc:  # a zip spooled to a full temp folder: try again later
                raise StorageUnavailable(f"temporary space for the archive: {exc}") from exc
            finally:
                blob.close()
            if not self._still_ours(connection, run.id):
                return None  # taken over meanwhile: its own parse writes the rows again
            connection.execute(
                update(RUNS).where(RUNS.c.id == run.id).values(status=RunStatus.NORMALIZED)
            )
            if chunked:
                connection.commit()
        return {name: written.get(name, 0) for name in COUNTED}

    def _members(
        self,
        blob: BinaryIO,
        run: IngestionRun,
        file_id: int,
        name: str,
        findings: list[Finding],
        dirs: set[str],
    ) -> Iterator[ConfMember]:
        for member in read_members(
            blob, run.type, name=name, limits=self.limits, findings=findings, dirs=dirs
        ):
            parsed = parse_conf(member.data)
            faults.point("mid_parse")
            yield ConfMember(
                file_id, member.path, member.sha256, member.size, member.provenance, parsed
            )

    def _still_ours(self, connection: Connection, run_id: int, *, lock: bool = True) -> bool:
        query = select(CLAIMS.c.owner).where(CLAIMS.c.run_id == run_id)
        if lock and self.db.is_postgresql:
            query = query.with_for_update()
        return connection.scalar(query) == self.owner

    def _finish(self, run_id: int, status: RunStatus, summary: str) -> bool:
        """Set the final status with the summary appended to notes, if the run is still ours."""
        with self.db.session() as session:
            connection = session.connection()
            # The run's row first, then the claim's: the order a takeover (_take) locks them.
            notes_query = select(RUNS.c.notes).where(RUNS.c.id == run_id)
            if self.db.is_postgresql:
                notes_query = notes_query.with_for_update()
            notes = connection.scalar(notes_query) or ""
            if not self._still_ours(connection, run_id):
                return False
            if status == RunStatus.FAILED:
                delete_run_conf(connection, run_id)  # nothing half-parsed is left to read
            self._set_final(connection, run_id, status, summary, notes)
            connection.execute(delete(CLAIMS).where(CLAIMS.c.run_id == run_id))
            return True

    def _set_final(
        self,
        connection: Connection,
        run_id: int,
        status: RunStatus,
        summary: str,
        notes: str | None = None,
    ) -> None:
        """`status`, and the summary line in place of an earlier parse's."""
        if notes is None:
            notes = connection.scalar(select(RUNS.c.notes).where(RUNS.c.id == run_id)) or ""
        for prefix in _SUMMARY_PREFIXES:
            notes = notes.split(prefix, 1)[0]
        connection.execute(
            update(RUNS)
            .where(
                RUNS.c.id == run_id,
                RUNS.c.status.in_([RunStatus.PARSING, RunStatus.NORMALIZED]),
            )
            .values(status=status, notes=f"{notes}\n{summary}".lstrip("\n"))
        )


@contextlib.contextmanager
def _sqlite_parse_turn(db: Database) -> Iterator[None]:
    """Hold the parse lock of a SQLite database file (flock: between processes and between
    this process's threads alike; released if the holder dies)."""
    database = db.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".parse-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def archive_limits(config: Config) -> ArchiveLimits:
    """What reading one stored bundle may cost (`[parse]`)."""
    parse = config.parse
    return ArchiveLimits(
        max_members=parse.max_members,
        max_total_bytes=parse.max_total_bytes,
        max_member_bytes=parse.max_member_bytes,
        max_ratio=parse.max_ratio,
    )


class BlobReader(io.RawIOBase):
    """The stored bundle, read as a stream; a failure to read it (a disk error, a reset S3
    connection) is the blob store's, not the bundle's: StorageUnavailable, to try again."""

    def __init__(self, store: BlobStore, key: str) -> None:
        super().__init__()
        self.key = key
        if self._guard(lambda: store.size(key)) is None:
            self._guard(store.ping)  # a store gone (unmounted, wrong bucket) is an outage
            raise PermanentError(f"the stored bundle is missing from the blob store ({key})")
        self._body = self._guard(lambda: store.open(key))
        self._seekable = bool(getattr(self._body, "seekable", lambda: False)())

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable  # a local file: a zip is read in place, not spooled

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._guard(lambda: self._body.seek(offset, whence))

    def tell(self) -> int:
        return self._guard(lambda: self._body.tell())

    def read(self, size: int = -1) -> bytes:
        return self._guard(lambda: self._body.read(size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()

    def _guard(self, step: Callable[[], T]) -> T:
        try:
            return step()
        except TransientError:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"blob {self.key} cannot be read: {exc}") from exc


def _summary(upload_type: UploadType, counts: dict[str, int]) -> str:
    """The line a complete parse adds to notes."""
    if upload_type == UploadType.INVENTORY:
        hosts, findings = counts["inventory_rows"], counts["findings"]
        return (
            f"parsed: inventory: {hosts} host{'' if hosts == 1 else 's'}, "
            f"{findings} finding{'' if findings == 1 else 's'}"
        )
    return "parsed: " + ", ".join(f"{n} {name}" for name, n in counts.items())


def _has_file(connection: Connection, run_id: int) -> bool:
    files = Base.metadata.tables["files"]
    return (
        connection.scalar(select(files.c.id).where(files.c.run_id == run_id).limit(1)) is not None
    )


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)
