"""The one-file pipeline: claimed file → run `pending` → blob (hashed while stored) → `files`
row and `stored` in one transaction → source removed.

Every step is safe to repeat, so a claimed file left by a crash or an outage is simply run
through again: the run is found by its claim token (run_claims), an existing blob is not
stored twice, and a run already `stored` or `failed` only has its source put away.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from daemon import faults, handlers
from daemon.config import Config
from daemon.database import Database, FileRecord
from daemon.errors import (
    BlobMissing,
    EmptyFile,
    FailedPathUnavailable,
    FileTooLarge,
    PermanentError,
    Refused,
    ServiceUnavailable,
    StorageUnavailable,
    TransientError,
    UnreadableFile,
)
from daemon.fsutil import atomic_write, batched_dir_syncs, fsync_dir
from daemon.inbox import Claimed, check_name, check_regular, printable, shorten
from daemon.logs import get_logger
from daemon.models import IngestionRun, RunStatus, UploadType
from daemon.storage import BlobStore, PutItem, StoredBlob, put_many

Result = Literal["stored", "failed", "skipped"]

# Files bigger than this are not batched with others (see process_batch).
BATCH_MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    result: Result
    run_id: int | None = None
    reason: str = ""
    size_bytes: int = 0


def claim_marker(token: str) -> str:
    return f"[claim {token}]"


def elapsed_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


class _Taken(Exception):
    """Another worker or daemon has this file, or has already finished it."""


class Pipeline:
    def __init__(self, config: Config, db: Database, store: BlobStore) -> None:
        self.config = config
        self.db = db
        self.store = store
        self.failed_root = config.inbox.failed_path
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()

    # -- claimed files (the daemon and `scan`) --------------------------------------------

    def process(self, claimed: Claimed, *, recovering: bool = False) -> Outcome:
        """Take one claimed file to `stored` or `failed`.

        ServiceUnavailable and ItemDeferred leave it claimed (and its run `pending`) for a
        later pass. Any other error fails the run, so one odd file cannot wedge the inbox.
        """
        try:
            with self._exclusive(claimed) as fd:
                return self._process(claimed, fd, recovering)
        except _Taken:
            return Outcome("skipped")

    @contextlib.contextmanager
    def _exclusive(self, claimed: Claimed) -> Iterator[int | None]:
        """Hold the file against other workers (a set) and other daemons (flock); yield its
        descriptor, or None when it cannot be opened (it is then failed as unreadable)."""
        with self._inflight_lock:
            if claimed.token in self._inflight:
                raise _Taken
            self._inflight.add(claimed.token)
        fd: int | None = None
        try:
            try:
                # O_NONBLOCK: a FIFO swapped in after the claim must not hang the worker.
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(claimed.path, flags)
            except FileNotFoundError:
                raise _Taken from None
            except OSError:
                fd = None  # EACCES, ELOOP, ENXIO (a socket), ...: failed as unreadable below
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise _Taken from None
                if not claimed.path.exists():
                    raise _Taken  # finished by another daemon between our open and our lock
            yield fd
        finally:
            if fd is not None:
                os.close(fd)
            with self._inflight_lock:
                self._inflight.discard(claimed.token)

    def _process(self, claimed: Claimed, fd: int | None, recovering: bool) -> Outcome:
        start = time.monotonic()
        origin = printable(str(claimed.origin))
        run = self.db.find_run_by_claim(claimed.token) if recovering else None
        if run is not None and run.status != RunStatus.PENDING:
            return self._finish_recovered(claimed, fd, run)
        if run is None:
            run_id = self.db.create_run(*_new_run(claimed), claimed.token)
            log = get_logger(run_id=run_id)
            log.info(
                "run.created", type=claimed.upload_type.value, label=claimed.label, origin=origin
            )
            faults.point("after_run_insert")
        else:
            run_id = run.id
            log = get_logger(run_id=run_id)
            log.info("run.resumed", origin=origin)

        try:
            if fd is None:
                raise UnreadableFile("file cannot be opened for reading (permission denied?)")
            check_name(claimed.name)
            blob = self._store(fd, claimed.upload_type, link_from=claimed.path)
        except TransientError as exc:
            log.warning("run.deferred", reason=exc.message, duration_ms=elapsed_ms(start))
            raise
        except Exception as exc:  # noqa: BLE001 - fails only this run (logged by _fail)
            return self._fail(claimed, run_id, exc, start)

        faults.point("after_blob_durable")
        stored = self.db.mark_stored(run_id, *self._stored_row(claimed, blob))
        faults.point("after_commit")
        return self._finish_stored(claimed, run_id, blob, stored, start)

    def process_batch(self, batch: Sequence[Claimed]) -> list[Outcome | Exception]:
        """Fresh claims through the same steps as `process`, together: one transaction creates
        their runs, each blob is fsync'd and its folder once for the batch, one transaction
        stores them all, then the sources go. Per file, the result or the exception `process`
        would have given (an outage ends the batch: the rest stay claimed and `pending`)."""
        if len(batch) == 1:
            try:
                return [self.process(batch[0])]
            except Exception as exc:  # noqa: BLE001 - handed back, as for the batch
                return [exc]
        results: list[Outcome | Exception] = [Outcome("skipped")] * len(batch)
        # A big file goes on its own, after the others: their commits do not wait for its hash.
        big = {i for i, claimed in enumerate(batch) if _size(claimed.path) > BATCH_MAX_FILE_BYTES}
        with contextlib.ExitStack() as stack:
            fds: dict[int, int | None] = {}
            for i, claimed in enumerate(batch):
                if i not in big:
                    with contextlib.suppress(_Taken):
                        fds[i] = stack.enter_context(self._exclusive(claimed))
            if fds:
                self._process_batch(batch, fds, results)
        for i in sorted(big):
            try:
                results[i] = self.process(batch[i])
            except Exception as exc:  # noqa: BLE001 - handed back, as for the batch
                results[i] = exc
        return results

    def _process_batch(
        self,
        batch: Sequence[Claimed],
        fds: dict[int, int | None],
        results: list[Outcome | Exception],
    ) -> None:
        start = time.monotonic()
        live = list(fds)
        try:
            ids = self.db.create_runs(
                [_new_run(batch[i]) for i in live], [batch[i].token for i in live]
            )
            run_ids = dict(zip(live, ids, strict=True))
        except Exception as exc:  # noqa: BLE001 - each file gets it, as process() would raise it
            for i in live:
                results[i] = exc
            return
        for i in live:
            claimed = batch[i]
            get_logger(run_id=run_ids[i]).info(
                "run.created",
                type=claimed.upload_type.value,
                label=claimed.label,
                origin=printable(str(claimed.origin)),
            )
        faults.point("after_run_insert")

        attempts: dict[int, StoredBlob | Exception] = {}
        try:
            with batched_dir_syncs():
                attempts = self._store_batch(batch, live, fds)
        except OSError as exc:  # the folders' fsync: none of the blobs is known durable
            unavailable = StorageUnavailable(f"blob store: {exc.strerror}")
            attempts = {
                i: unavailable if isinstance(attempt, StoredBlob) else attempt
                for i, attempt in attempts.items()
            }
        # The rest outside that block: a failed file's quarantine syncs its own folders.
        blobs: dict[int, StoredBlob] = {}
        outage: ServiceUnavailable | None = None
        for i in live:
            claimed, run_id, attempt = batch[i], run_ids[i], attempts.get(i)
            if isinstance(attempt, StoredBlob):
                blobs[i] = attempt
            elif outage is not None or attempt is None:
                results[i] = outage or StorageUnavailable("blob store: not attempted")
            elif isinstance(attempt, TransientError):
                get_logger(run_id=run_id).warning(
                    "run.deferred", reason=attempt.message, duration_ms=elapsed_ms(start)
                )
                results[i] = attempt
                if isinstance(attempt, ServiceUnavailable):
                    outage = attempt
            else:
                try:
                    results[i] = self._fail(claimed, run_id, attempt, start)
                except Exception as error:  # noqa: BLE001 - database down, failed_path
                    results[i] = error
                    if isinstance(error, ServiceUnavailable):
                        outage = error
        if not blobs:
            return

        faults.point("after_blob_durable")
        stored = list(blobs)
        try:
            done = self.db.mark_stored_many(
                [(run_ids[i], *self._stored_row(batch[i], blobs[i])) for i in stored]
            )
        except Exception as exc:  # noqa: BLE001 - each file gets it, as process() would raise it
            for i in stored:
                results[i] = exc
            return
        faults.point("after_commit")
        for i, ok in zip(stored, done, strict=True):
            results[i] = self._finish_stored(batch[i], run_ids[i], blobs[i], ok, start)

    def _store_batch(
        self, batch: Sequence[Claimed], live: list[int], fds: dict[int, int | None]
    ) -> dict[int, StoredBlob | Exception]:
        """Store each live file's blob, all through one put_many: the store decides how (S3
        asks the database once which blobs it already has and uploads the rest in parallel;
        a local store goes one by one and stops at an outage, leaving the rest)."""
        attempts: dict[int, StoredBlob | Exception] = {}
        with contextlib.ExitStack() as stack:
            ready: list[int] = []
            items: list[PutItem] = []
            for i in live:
                claimed, fd = batch[i], fds[i]
                try:
                    if fd is None:
                        raise UnreadableFile(
                            "file cannot be opened for reading (permission denied?)"
                        )
                    check_name(claimed.name)
                    source = stack.enter_context(self._open_source(fd, claimed.upload_type))
                except Exception as exc:  # noqa: BLE001 - judged by the caller, per file
                    attempts[i] = exc
                    continue
                ready.append(i)
                items.append((source, claimed.path))
            if items:
                results = put_many(self.store, items, known=self.db.stored_keys)
                for i, result in zip(ready, results, strict=True):
                    if result is not None:
                        attempts[i] = result
        return attempts

    def _fail(self, claimed: Claimed, run_id: int, exc: Exception, start: float) -> Outcome:
        """End the run `failed` and move the file to failed_path."""
        log = get_logger(run_id=run_id)
        origin = printable(str(claimed.origin))
        marker = claim_marker(claimed.token)
        reason = exc.message if isinstance(exc, PermanentError) else f"internal error: {exc!r}"
        if not isinstance(exc, PermanentError):
            log.error("run.crashed", error=repr(exc), exc_info=exc)
        if not self.db.mark_failed(run_id, f"failed: {reason}; from {origin} {marker}"):
            log.warning("run.finished_elsewhere", origin=origin)
            return Outcome("skipped", run_id)
        log.warning("run.failed", reason=reason, origin=origin, duration_ms=elapsed_ms(start))
        faults.point("after_failed_commit")
        self._quarantine(claimed, run_id, reason)
        return Outcome("failed", run_id, reason)

    def _stored_row(
        self, claimed: Claimed, blob: StoredBlob
    ) -> tuple[FileRecord, Callable[[int | None], str]]:
        tail = f"from {printable(str(claimed.origin))} {claim_marker(claimed.token)}"
        return self._record(claimed.name, blob), lambda earlier: _stored_notes(earlier, tail)

    def _finish_stored(
        self, claimed: Claimed, run_id: int, blob: StoredBlob, stored: bool, start: float
    ) -> Outcome:
        """After the commit: remove the claimed source."""
        log = get_logger(run_id=run_id)
        if not stored:  # only where file locks do not reach (NFS without lockd)
            log.warning("run.finished_elsewhere", origin=printable(str(claimed.origin)))
            return Outcome("skipped", run_id)
        claimed.path.unlink(missing_ok=True)
        log.info(
            "run.stored",
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            key=blob.key,
            deduplicated=not blob.created,
            duration_ms=elapsed_ms(start),
        )
        return Outcome("stored", run_id, size_bytes=blob.size_bytes)

    def _finish_recovered(self, claimed: Claimed, fd: int | None, run: IngestionRun) -> Outcome:
        """The run was committed before a crash; only its claimed source is left. It is removed
        only once every blob of the run is verified present: a blob that went missing is put
        back from it first, and when that cannot be done the file stays claimed (BlobMissing)."""
        log = get_logger(run_id=run.id)
        if run.status == RunStatus.FAILED and not run.files:  # failed at ingestion
            self._quarantine(claimed, run.id, run.notes or "failed")
            log.info("run.recovered", status=run.status.value, action="moved to failed")
            return Outcome("failed", run.id, run.notes or "")
        for file in run.files:
            if self.store.size(file.stored_object_key) == file.size_bytes:
                continue
            self._restore_blob(claimed, fd, run.id, file.stored_object_key, file.size_bytes)
            log.warning("run.blob_restored", key=file.stored_object_key)
        claimed.path.unlink(missing_ok=True)
        log.info("run.recovered", status=run.status.value, action="source removed")
        return Outcome("stored", run.id)

    def _restore_blob(
        self, claimed: Claimed, fd: int | None, run_id: int, key: str, size: int
    ) -> None:
        """Store the claimed file again and check that it is the recorded blob, now present."""
        if fd is None:
            problem = "the claimed file cannot be opened to put it back"
        else:
            try:
                blob = self._store(fd, claimed.upload_type, link_from=None, ask_db=False)
            except PermanentError as exc:
                blob, problem = None, f"the claimed file cannot be stored again ({exc.message})"
            if blob is not None:
                if blob.key == key and self.store.size(key) == size:
                    return
                problem = f"the claimed file is not that blob (it hashes to {blob.sha256})"
        reason = (
            f"blob {key} of run {run_id} is missing from the store and {problem}: "
            f"{printable(str(claimed.path))} is kept as the last copy"
        )
        get_logger(run_id=run_id).error("run.blob_missing", key=key, reason=reason)
        raise BlobMissing(reason)

    # -- `autodoc ingest FILE` ------------------------------------------------------------

    def ingest(self, path: Path, upload_type: UploadType, label: str | None) -> Outcome:
        """Store a copy of a file from anywhere; the user's file is never moved or changed."""
        start = time.monotonic()
        path = path.absolute()
        origin = printable(str(path))
        check_regular(path.stat(), single_link=False)  # follows a symlink named on purpose
        run_id = self.db.create_run(upload_type, label, f"ingesting {origin}")
        log = get_logger(run_id=run_id)
        log.info("run.created", type=upload_type.value, label=label, origin=origin)
        try:
            check_name(path.name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                raise UnreadableFile(f"file cannot be opened: {exc.strerror}") from None
            try:
                blob = self._store(fd, upload_type, link_from=None)
            finally:
                os.close(fd)
        except PermanentError as exc:
            self.db.mark_failed(run_id, f"failed: {exc.message}; from {origin}")
            log.warning(
                "run.failed", reason=exc.message, origin=origin, duration_ms=elapsed_ms(start)
            )
            return Outcome("failed", run_id, exc.message)
        except (TransientError, KeyboardInterrupt) as exc:
            reason = exc.message if isinstance(exc, TransientError) else "interrupted"
            with contextlib.suppress(TransientError):
                self.db.mark_failed(
                    run_id,
                    f"failed: {reason}; nothing stored, run the command again; from {origin}",
                )
            log.warning("run.failed", reason=reason, origin=origin)
            raise
        tail = f"from {origin}"
        self.db.mark_stored(
            run_id, self._record(path.name, blob), lambda earlier: _stored_notes(earlier, tail)
        )
        log.info(
            "run.stored",
            sha256=blob.sha256,
            size_bytes=blob.size_bytes,
            key=blob.key,
            deduplicated=not blob.created,
            duration_ms=elapsed_ms(start),
        )
        return Outcome("stored", run_id, size_bytes=blob.size_bytes)

    # -- shared steps ----------------------------------------------------------------------

    def _store(
        self, fd: int, upload_type: UploadType, link_from: Path | None, *, ask_db: bool = True
    ) -> StoredBlob:
        """Store one file. `ask_db`: whether the blob is already stored is asked of the
        database (False: of the store itself, to put back a blob gone missing)."""
        with self._open_source(fd, upload_type) as source:
            known = self.db.stored_keys if ask_db else None
            result = put_many(self.store, [(source, link_from)], known=known)[0]
        if isinstance(result, Exception):
            raise result
        assert result is not None  # one item: attempted
        return result

    @contextlib.contextmanager
    def _open_source(self, fd: int, upload_type: UploadType) -> Iterator[BinaryIO]:
        """The claimed file checked (regular, not empty, not too big, of its type) and open
        for the store from its start; PermanentError when it cannot be ingested."""
        st = os.fstat(fd)
        try:
            check_regular(st, single_link=False)
        except Refused as exc:
            raise UnreadableFile(f"not a regular file ({exc.message})") from None
        if st.st_size == 0:
            raise EmptyFile()
        limit = self.config.inbox.max_file_bytes
        if st.st_size > limit:
            raise FileTooLarge(f"file is {st.st_size} bytes; max_file_bytes is {limit}")
        try:
            head = os.pread(fd, handlers.HEAD_BYTES, 0)
        except OSError as exc:
            raise UnreadableFile(f"file cannot be read: {exc.strerror}") from None
        handlers.validate(upload_type, head)
        # The claimed file is ours now: blocking reads are fine.
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb", buffering=0) as source:
            yield source

    def _record(self, name: str, blob: StoredBlob) -> FileRecord:
        return FileRecord(
            path=name, sha256=blob.sha256, size_bytes=blob.size_bytes, stored_object_key=blob.key
        )

    def _quarantine(self, claimed: Claimed, run_id: int, reason: str) -> Path:
        """Move a failed file to failed_path beside `<name>.error.json`. Nothing is lost."""
        folder = self.failed_root / claimed.upload_type.value
        if claimed.label is not None:
            folder = folder / claimed.path.parent.name
        name = f"{run_id}-{shorten(printable(claimed.name), 200)}"
        target = folder / name
        report = {
            "run_id": run_id,
            "reason": reason,
            "time": datetime.now(UTC).isoformat(),
            "origin": printable(str(claimed.origin)),
            "type": claimed.upload_type.value,
            "label": claimed.label,
        }
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(folder / f"{name}.error.json", json.dumps(report, indent=2) + "\n")
            if claimed.path.exists() or claimed.path.is_symlink():
                _move(claimed.path, target)
        except OSError as exc:
            # The run is already `failed`; the file stays claimed and is moved on a later pass.
            raise FailedPathUnavailable(f"failed_path {folder}: {exc.strerror}") from exc
        return target


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0  # the pipeline says what is wrong with it


def _new_run(claimed: Claimed) -> tuple[UploadType, str | None, str]:
    origin = printable(str(claimed.origin))
    return (
        claimed.upload_type,
        claimed.label,
        f"claimed from {origin} {claim_marker(claimed.token)}",
    )


def _stored_notes(earlier: int | None, tail: str) -> str:
    if earlier is None:
        return f"stored {tail}"
    return f"stored; same content as run {earlier}, blob shared; {tail}"


def _move(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # failed_path on another filesystem: copy durably, then remove.
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp, follow_symlinks=False)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)
        fsync_dir(target.parent)
        source.unlink()
        return
    fsync_dir(target.parent)
