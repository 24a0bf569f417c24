"""One pass over the inbox: recover `.processing/`, then claim every ready drop and hand it to
the worker pool. `autodoc scan` runs one pass; the daemon repeats it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from daemon.errors import TransientError
from daemon.inbox import (
    Claimed,
    Inbox,
    Unroutable,
    is_settled,
    printable,
)
from daemon.logs import get_logger
from daemon.pipeline import Outcome, Pipeline

log = get_logger()


@dataclass
class ScanReport:
    stored: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0  # written too recently, taken on a later pass
    transient: TransientError | None = None
    run_ids: list[int] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        if outcome.result == "stored":
            self.stored += 1
        elif outcome.result == "failed":
            self.failed += 1
        else:
            self.skipped += 1
        if outcome.run_id is not None:
            self.run_ids.append(outcome.run_id)


class Scanner:
    def __init__(
        self,
        inbox: Inbox,
        pipeline: Pipeline,
        workers: int,
        settle_seconds: float,
        stop: threading.Event | None = None,
    ) -> None:
        self.inbox = inbox
        self.pipeline = pipeline
        self.workers = workers
        self.settle_seconds = settle_seconds
        self.stop = stop or threading.Event()
        self._warned: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def scan(self) -> ScanReport:
        """Recover, then ingest every ready drop. Raises TransientError (after finishing what
        is in flight) when the database or the blob store is unreachable."""
        start = time.monotonic()
        # Nothing is claimed while a service is down: check before touching the inbox.
        self.pipeline.db.ping()
        self.pipeline.store.ping()
        self.inbox.ensure()
        report = ScanReport()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ingest") as pool:
            slots = threading.BoundedSemaphore(self.workers * 2)
            self._drain(pool, slots, report, self._recoverable(), recovering=True)
            if report.transient is None:
                self._drain(pool, slots, report, self._ready(report), recovering=False)
        if report.transient is not None:
            raise report.transient
        if report.stored or report.failed:
            log.info(
                "scan.finished",
                stored=report.stored,
                failed=report.failed,
                waiting=report.waiting,
                duration_ms=round((time.monotonic() - start) * 1000, 1),
            )
        return report

    def _recoverable(self) -> list[Claimed]:
        return list(self.inbox.claimed())

    def _ready(self, report: ScanReport) -> Iterator[Claimed]:
        """Claims lazily, so that a stop or an outage leaves the rest in the inbox."""
        drops, problems = self.inbox.survey()
        for item, kind in problems:
            self.warn_once(item, kind)
        now = time.time()
        for drop, st in drops:
            if self.stop.is_set() or report.transient is not None:
                return
            if not is_settled(st, now, self.settle_seconds):
                report.waiting += 1
                continue
            claimed = self.inbox.claim(drop)
            if claimed is not None:
                yield claimed

    def _drain(
        self,
        pool: ThreadPoolExecutor,
        slots: threading.BoundedSemaphore,
        report: ScanReport,
        items: Iterable[Claimed],
        recovering: bool,
    ) -> None:
        futures: list[Future[Outcome]] = []
        for claimed in items:
            slots.acquire()
            future = pool.submit(self.pipeline.process, claimed, recovering=recovering)
            future.add_done_callback(lambda f: self._done(f, report, slots))
            futures.append(future)
        for future in futures:
            future.exception()  # wait; the callback recorded the result

    def _done(
        self, future: Future[Outcome], report: ScanReport, slots: threading.BoundedSemaphore
    ) -> None:
        slots.release()
        exc = future.exception()
        with self._lock:
            if exc is None:
                report.add(future.result())
            elif isinstance(exc, TransientError):
                report.transient = report.transient or exc
            else:
                log.error("pipeline.crashed", error=repr(exc), exc_info=exc)
                report.transient = report.transient or TransientError(f"internal error: {exc!r}")

    def warn_once(self, item: Unroutable, kind: str) -> None:
        try:
            ino = os.lstat(self.inbox.root / item.path).st_ino
        except OSError:
            return
        key = (str(item.path), ino, item.reason)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(f"inbox.{kind}", path=printable(str(item.path)), reason=item.reason)
