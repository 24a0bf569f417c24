"""One pass over the inbox: recover `.processing/`, then claim every ready drop and hand it to
the worker pool. `autodoc scan` runs one pass, waiting (up to `max_wait`) for drops still
settling, so that `cp bundle.tgz inbox/ds_etc/ && autodoc scan` stores the bundle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import BlobMissing, ItemDeferred, ServiceUnavailable
from daemon.fsutil import batched_dir_syncs
from daemon.inbox import Claimed, Inbox, Unroutable, is_settled, printable, writer_open
from daemon.logs import get_logger
from daemon.pipeline import Outcome, Pipeline
from daemon.readiness import WRITER_RECHECK_SECONDS

log = get_logger()

# Fresh drops go through the pipeline in batches of up to this many (see process_batch).
BATCH_FILES = 64
# While waiting for drops to settle, at most this long between two looks (an outage or a
# stop ends the wait no later than this).
SETTLE_POLL_MAX_SECONDS = 1.0


@dataclass
class ScanReport:
    stored: int = 0
    failed: int = 0
    deferred: int = 0  # claimed, but waiting for a later pass (a writer, failed_path)
    waiting: int = 0  # written too recently (or still open), left for a later pass
    settling: list[str] = field(default_factory=list)  # their inbox paths
    held: list[str] = field(default_factory=list)  # kept as the last copy (BlobMissing)
    outage: ServiceUnavailable | None = None

    def add(self, result: Outcome | BaseException) -> None:
        exc = result if isinstance(result, BaseException) else None
        if isinstance(exc, ServiceUnavailable):
            self.outage = self.outage or exc
            return
        if isinstance(exc, ItemDeferred):
            self.deferred += 1
            if isinstance(exc, BlobMissing):
                self.held.append(exc.message)
            return
        if exc is not None:  # the pipeline fails runs itself; this is a bug in it
            log.error("pipeline.crashed", error=repr(exc), exc_info=exc)
            self.deferred += 1
            return
        assert isinstance(result, Outcome)
        outcome = result
        if outcome.result == "stored":
            self.stored += 1
        elif outcome.result == "failed":
            self.failed += 1


class Scanner:
    def __init__(
        self,
        inbox: Inbox,
        pipeline: Pipeline,
        workers: int,
        settle_seconds: float,
        stop: threading.Event | None = None,
        max_wait: float = 0.0,
    ) -> None:
        self.inbox = inbox
        self.pipeline = pipeline
        self.workers = workers
        self.settle_seconds = settle_seconds
        self.max_wait = max_wait  # 0: take what is settled now, leave the rest
        self.stop = stop or threading.Event()
        self.warn = WarnOnce(inbox.root)

    def scan(self) -> ScanReport:
        """Recover, then ingest every ready drop. Raises ServiceUnavailable (after finishing
        what is in flight) when the database, the blob store or the inbox is unavailable."""
        start = time.monotonic()
        # Nothing is claimed while a service is down: check before touching the inbox.
        self.pipeline.db.ping()
        self.pipeline.store.ping()
        self.inbox.ensure()
        report = ScanReport()
        outage = threading.Event()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ingest") as pool:
            slots = threading.BoundedSemaphore(self.workers * 2)
            # Left claimed: one at a time, each looked up by its claim token.
            recovering = ([claimed] for claimed in self.inbox.claimed())
            self._drain(pool, slots, outage, report, recovering, recovering=True)
            if report.outage is None:
                ready = self._ready(report, outage)
                self._drain(pool, slots, outage, report, ready, recovering=False)
        if report.outage is not None:
            raise report.outage
        if report.stored or report.failed or report.deferred:
            log.info(
                "scan.finished",
                stored=report.stored,
                failed=report.failed,
                deferred=report.deferred,
                waiting=report.waiting,
                duration_ms=round((time.monotonic() - start) * 1000, 1),
            )
        return report

    def _ready(self, report: ScanReport, outage: threading.Event) -> Iterator[list[Claimed]]:
        """Every settled drop, in passes: after each, while drops are still settling and
        `max_wait` has not run out, wait until the first of them may have settled and look
        again (a drop written to all along stays unsettled and is left)."""
        give_up = time.monotonic() + self.max_wait
        while True:
            settling: dict[Path, float] = {}  # drop -> seconds until it may have settled
            yield from self._ready_pass(settling, outage)
            report.waiting = len(settling)
            report.settling = [printable(str(path)) for path in settling]
            left = give_up - time.monotonic()
            if not settling or left <= 0 or self.stop.is_set() or outage.is_set():
                return
            delay = min(*settling.values(), left, SETTLE_POLL_MAX_SECONDS)
            if self.stop.wait(max(delay, 0.01)):
                return

    def _ready_pass(
        self, settling: dict[Path, float], outage: threading.Event
    ) -> Iterator[list[Claimed]]:
        """Claims lazily, a batch at a time (the batch's folders fsync'd once), so that a
        stop or an outage leaves the rest in the inbox."""
        drops, problems = self.inbox.survey()
        self.warn.problems(problems, replace=True)
        now = time.time()
        pending = iter(drops)
        while not (self.stop.is_set() or outage.is_set()):
            batch: list[Claimed] = []
            with batched_dir_syncs():
                for drop, st in pending:
                    if self.stop.is_set() or outage.is_set():
                        break  # the rest stays in the inbox for the next pass
                    path = self.inbox.root / drop.path
                    if not is_settled(st, now, self.settle_seconds):
                        # An mtime in the future (another host's clock) is looked at again.
                        due = st.st_mtime + self.settle_seconds - now
                        settling[drop.path] = min(due, self.settle_seconds)
                        continue
                    if writer_open(path):
                        settling[drop.path] = WRITER_RECHECK_SECONDS
                        continue
                    try:
                        claimed = self.inbox.claim(drop)
                    except OSError as exc:
                        reason = f"cannot be claimed: {exc.strerror}"
                        self.warn.problems([(Unroutable(drop.path, reason), "refused")])
                        continue
                    if claimed is not None:
                        batch.append(claimed)
                        if len(batch) == BATCH_FILES:
                            break
            if not batch:
                return
            yield batch

    def _drain(
        self,
        pool: ThreadPoolExecutor,
        slots: threading.BoundedSemaphore,
        outage: threading.Event,
        report: ScanReport,
        batches: Iterable[list[Claimed]],
        recovering: bool,
    ) -> None:
        futures: list[Future[list[Outcome | Exception]]] = []

        def done(future: Future[list[Outcome | Exception]]) -> None:
            exc = future.exception()
            if isinstance(exc, ServiceUnavailable) or (
                exc is None and any(isinstance(r, ServiceUnavailable) for r in future.result())
            ):
                outage.set()
            slots.release()

        for batch in batches:
            if self.stop.is_set() or outage.is_set():
                break
            slots.acquire()
            if recovering:
                future = pool.submit(self._one, batch[0])
            else:
                future = pool.submit(self.pipeline.process_batch, batch)
            future.add_done_callback(done)
            futures.append(future)
        # Tallied here, on this thread, once each future is done: a done-callback may still
        # be running when a waiter wakes up.
        for future in futures:
            exc = future.exception()
            for result in [exc] if exc is not None else future.result():
                report.add(result)

    def _one(self, claimed: Claimed) -> list[Outcome | Exception]:
        return [self.pipeline.process(claimed, recovering=True)]


class WarnOnce:
    """Warn about each refused or unroutable file once, for as long as it stays there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._warned: set[tuple[str, int, str]] = set()

    def problems(self, problems: list[tuple[Unroutable, str]], replace: bool = False) -> None:
        """Warn about the new ones. With `replace`, `problems` is a full survey: forget the
        rest, so that a file that comes back is warned about again."""
        keys: set[tuple[str, int, str]] = set()
        for item, kind in problems:
            try:
                ino = os.lstat(self.root / item.path).st_ino
            except OSError:
                continue
            key = (str(item.path), ino, item.reason)
            keys.add(key)
            if key not in self._warned:
                self._warned.add(key)
                log.warning(f"inbox.{kind}", path=printable(str(item.path)), reason=item.reason)
        if replace:
            self._warned = keys

    def prune(self) -> None:
        """Forget warnings about files that have gone (so a new one is warned about)."""
        self._warned = {
            key
            for key in self._warned
            if (self.root / key[0]).exists() or (self.root / key[0]).is_symlink()
        }
