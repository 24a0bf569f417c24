"""`autodoc run`: the long-running daemon.

One main thread owns every decision: it turns watcher events into readiness, claims ready
files in the order they became ready, hands them to `workers` threads, and reacts to their
results (a service down: stop claiming and back off; back: recover and rescan). Workers only
run the pipeline. Everything reaches the main thread through one mailbox queue, so there is
no shared mutable state beyond it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from daemon.config import Config
from daemon.errors import AutodocError, ItemDeferred, Refused, SchemaError, ServiceUnavailable
from daemon.fsutil import batched_dir_syncs
from daemon.inbox import (
    Claimed,
    Drop,
    Inbox,
    Unroutable,
    check_regular,
    classify,
    printable,
    writer_open,
    writer_state,
)
from daemon.logs import get_logger
from daemon.metrics import Metrics
from daemon.models import RunStatus
from daemon.notify import Notifier
from daemon.parsing import RunParser
from daemon.pipeline import Outcome, Pipeline
from daemon.readiness import ReadinessTracker
from daemon.scanner import BATCH_FILES, WarnOnce
from daemon.watcher import Watcher

if TYPE_CHECKING:
    from daemon.resolving import AutoResolver

BACKOFF_START = 1.0
# How often parse workers look for runs stored by other processes (`autodoc scan`, ingest).
PARSE_POLL_SECONDS = 5.0
# While files are being ingested, a parse worker waits up to this long before each run.
PARSE_YIELD_SECONDS = 2.0
# Ingestion counts as idle once nothing has been in flight for this long (between batches of
# a burst there are gaps).
INGEST_IDLE_GRACE_SECONDS = 0.5
BACKOFF_CAP = 60.0
TICK_SECONDS = 0.5
DEFERRED_RETRY_SECONDS = 5.0
DEFERRED_RETRY_CAP = 600.0
STATE_EVERY_SECONDS = 2.0
EXTEND_START_SECONDS = 30.0

log = get_logger()


class Backoff:
    """Capped exponential delays: 1, 2, 4, ... cap."""

    def __init__(self, start: float = BACKOFF_START, cap: float = BACKOFF_CAP) -> None:
        self.start = start
        self.cap = cap
        self.current = 0.0

    def next(self) -> float:
        self.current = self.start if not self.current else min(self.current * 2, self.cap)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


@dataclass(frozen=True)
class _Result:
    claimed: Claimed
    outcome: Outcome | None
    error: BaseException | None
    seconds: float
    started: bool = True  # False: taken from the queue after the stop, handed back untouched


def state_file(inbox: Path) -> Path:
    """Where this host's daemon publishes its state for `autodoc status`."""
    return inbox / ".processing" / f"daemon-{socket.gethostname()}.json"


class Daemon:
    def __init__(
        self,
        config: Config,
        inbox: Inbox,
        pipeline: Pipeline,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
        parser: RunParser | None = None,
    ) -> None:
        self.config = config
        self.inbox = inbox
        self.pipeline = pipeline
        self.parser = parser
        # Set when a run is stored (and at stop): parse workers look for work at once.
        self.parse_wake = threading.Event()
        self.parse_stop = threading.Event()
        # Set while no file is being ingested: parsing gives way to a burst of drops.
        self.ingest_idle = threading.Event()
        self.notifier = notifier or Notifier()
        self.metrics = metrics or Metrics()
        self.workers = config.daemon.workers
        self.mailbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.watcher = Watcher(inbox.root, config.inbox.observer, self.mailbox)
        self.tracker = ReadinessTracker(
            config.inbox.settle_seconds,
            sees_closes=False,
            give_up_seconds=config.inbox.rescan_seconds,
        )
        self.warn = WarnOnce(inbox.root)
        self.claim_warn = WarnOnce(inbox.root)  # pruned to what is still there at rescans
        self.jobs: queue.SimpleQueue[tuple[Claimed, bool] | None] = queue.SimpleQueue()
        # Set at the stop signal: workers start nothing more from `jobs` (the stop sentinels
        # would queue behind what waits there), they only finish what they hold.
        self.halt = threading.Event()
        self.not_started = 0  # claimed, queued, left in .processing at the stop
        self.recovery: deque[Claimed] = deque()
        self.retry: list[tuple[float, Claimed]] = []
        self.attempts: dict[str, int] = {}  # claim token -> deferrals so far
        self.inflight: set[str] = set()
        self.parked: set[str] = set()  # claimed files that met an outage
        self.stopping = False
        self.degraded: str | None = None
        self.retry_at = 0.0
        self.backoff = Backoff()
        self.rescan_due = 0.0
        self.rescan_reason = "start"
        self.last_run: dict[str, Any] | None = None
        self._last_ping = 0.0
        self._last_busy = 0.0
        self._last_state = 0.0
        self._threads: list[threading.Thread] = []
        self._parse_threads: list[threading.Thread] = []
        # The estate is resolved by the daemons that parse (daemon.resolving).
        self.resolver: AutoResolver | None = None
        if parser is not None:
            from daemon.resolving import AutoResolver  # the resolver's imports, only if used

            self.resolver = AutoResolver(config)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        self._install_signals()
        if self.config.metrics.listen:
            self.metrics.serve(self.config.metrics.listen)
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"ingest-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.parser is not None:
            for n in range(self.config.parse.workers):
                thread = threading.Thread(target=self._parse_work, name=f"parse-{n}", daemon=True)
                thread.start()
                self._parse_threads.append(thread)
        if self.resolver is not None:
            self.resolver.start()
        clean = getattr(self.pipeline.store, "clean_stale_temp_files", None)
        if clean is not None and (removed := clean()):
            log.info("store.cleaned", stale_temp_files=removed)
        # Watch first, then scan: a file dropped in between is seen by one or the other.
        self.watcher.start()
        self.tracker.sees_closes = self.watcher.sees_closes
        log.info(
            "daemon.started",
            inbox=str(self.inbox.root),
            workers=self.workers,
            store=self.pipeline.store.description,
            observer=self.watcher.kind,
        )
        self._recover_and_rescan("start")
        self._drain_recovery()
        self.notifier.ready(self._status_line())
        try:
            while not self.stopping:
                self._tick()
        finally:
            self._shutdown()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, _frame: FrameType | None) -> None:
            self.mailbox.put(("stop", signal.Signals(signum).name))

        def hup(_signum: int, _frame: FrameType | None) -> None:
            self.mailbox.put(("rescan", self.inbox.root))  # also what an overflow sends

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    def _shutdown(self) -> None:
        self.notifier.stopping()
        if self.resolver is not None:
            self.resolver.shutdown()
        self.notifier.status("stopping: finishing files in progress", force=True)
        deadline = time.monotonic() + self.config.daemon.stop_timeout_seconds
        # Jobs still queued stay claimed, untouched, for the next start to recover.
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._left_unstarted(job[0])
        while self.inflight and time.monotonic() < deadline:
            try:
                item = self.mailbox.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if isinstance(item, _Result):
                self._handle_result(item)
        # Whatever did not finish, or never started, stays in .processing and is recovered
        # at the next start.
        abandoned = len(self.inflight) + self.not_started
        for _ in self._threads:
            self.jobs.put(None)
        # A parse still running is abandoned the same way: its run stays `parsing` under this
        # process's claim, and is parsed again by the next daemon of this host at once.
        self.parse_stop.set()
        self.parse_wake.set()
        self.ingest_idle.set()
        for thread in self._parse_threads:
            thread.join(max(deadline - time.monotonic(), 0))
        parses_abandoned = sum(thread.is_alive() for thread in self._parse_threads)
        if parses_abandoned and self.parser is not None:
            try:
                self.parser.release()
            except AutodocError as exc:  # the database is down: the claims expire instead
                log.warning("parse.release_failed", reason=exc.message)
        self.watcher.stop()
        log.info(
            "daemon.stopped",
            abandoned=abandoned,
            not_started=self.not_started,
            parses_abandoned=parses_abandoned,
        )
        self._write_state(force=True, running=False)
        self.notifier.close()

    # -- the main loop -----------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        self._wait_and_read(self._wait_seconds(now))
        now = time.monotonic()
        if not self.watcher.healthy() and not self.stopping:
            log.warning("watcher.died", action="restarting, then rescanning")
            self.watcher.restart()
            self._request_rescan("watcher_restart")
        if self.degraded is not None and now >= self.retry_at:
            self._try_leave_degraded()
        if self.degraded is None and now >= self.rescan_due:
            self._recover_and_rescan(self.rescan_reason)
        self.tracker.due(now, time.time(), self._stat, writer_state)
        self._requeue_deferred(now)
        self._dispatch()
        if self.inflight or self.recovery:
            self._last_busy = now
            self.ingest_idle.clear()
        elif now - self._last_busy >= INGEST_IDLE_GRACE_SECONDS:
            self.ingest_idle.set()
        self._heartbeat(now)

    def _wait_seconds(self, now: float) -> float:
        wait = TICK_SECONDS
        if self.notifier.watchdog_interval:
            wait = min(wait, self.notifier.watchdog_interval / 2)
        due = self.tracker.next_due_in(now)
        if due is not None:
            wait = min(wait, due + 0.01)
        return max(wait, 0.01)

    def _wait_and_read(self, timeout: float) -> None:
        try:
            item = self.mailbox.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._handle(item)
            try:
                item = self.mailbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, item: Any) -> None:
        if isinstance(item, _Result):
            self._handle_result(item)
            return
        kind, value = item
        if kind == "stop":
            log.info("daemon.stopping", signal=value)
            self.stopping = True
            self.halt.set()
        elif kind == "probe":
            self._probed(value)
        elif kind == "overflow":
            self._request_rescan("overflow")
        elif kind == "rescan":
            self.watcher.rewatch(value)  # before the rescan, so nothing falls in between
            self._request_rescan("sighup" if value == self.inbox.root else "folder")
        elif kind in ("moved_in", "written", "closed", "gone"):
            self._handle_event(kind, value)

    def _handle_event(self, kind: str, path: Path) -> None:
        try:
            parts = path.relative_to(self.inbox.root).parts
        except ValueError:
            return
        if not isinstance(classify(parts), Drop):
            return
        now = time.monotonic()
        if kind == "moved_in":
            self.tracker.moved_in(path)
        elif kind == "written":
            if self._complete_already(path):
                self.tracker.moved_in(path)
            else:
                self.tracker.written(path, now)
        elif kind == "closed":
            self.tracker.closed(path, now)
        else:
            self.tracker.gone(path)

    # -- scanning and claiming ---------------------------------------------------------------

    def _request_rescan(self, reason: str) -> None:
        self.rescan_due = 0.0
        self.rescan_reason = reason

    def _recover_and_rescan(self, reason: str) -> None:
        """Queue what a crash or an outage left claimed, then look at every file."""
        now = time.monotonic()
        self.rescan_due = now + self.config.inbox.rescan_seconds
        self.rescan_reason = "timer"
        queued = {c.token for c in self.recovery} | {c.token for _, c in self.retry}
        for claimed in self.inbox.claimed():
            if claimed.token not in self.inflight and claimed.token not in queued:
                self.recovery.append(claimed)
        drops, problems = self.inbox.survey()
        self.warn.problems(problems, replace=True)
        self.claim_warn.prune()
        # Oldest first: the order they were written in is the best guess of their turn.
        for drop, st in sorted(drops, key=lambda d: d[1].st_mtime_ns):
            path = self.inbox.root / drop.path
            self.tracker.scanned(path, (st.st_size, st.st_mtime_ns), now)
        log.info(
            "inbox.rescan",
            trigger=reason,
            drops=len(drops),
            problems=len(problems),
            recovered=len(self.recovery),
            duration_ms=round((time.monotonic() - now) * 1000, 1),
        )

    def _drain_recovery(self) -> None:
        """At start-up: finish what was left claimed before declaring ourselves ready (the
        backlog waits; a long one must not hold up systemd's start-up timeout)."""
        self._dispatch(recovery_only=True)
        while (self.inflight or self.recovery) and not self.stopping and self.degraded is None:
            self._wait_and_read(TICK_SECONDS)
            self._dispatch(recovery_only=True)
            self._heartbeat(time.monotonic())
            # Big files left claimed may take longer than TimeoutStartSec: ask for more.
            self.notifier.extend_timeout(EXTEND_START_SECONDS)

    def _dispatch(self, recovery_only: bool = False) -> None:
        """Claim ready files, oldest readiness first, while the workers have room: a batch
        each (see Pipeline.process_batch). A batch's claims are made durable together, before
        any of them reaches a worker."""
        capacity = self.workers * BATCH_FILES
        while not self.stopping and self.degraded is None and len(self.inflight) < capacity:
            if self.recovery:
                self._submit(self.recovery.popleft(), recovering=True)
                continue
            if recovery_only:
                return
            fresh: list[Claimed] = []
            try:
                with batched_dir_syncs():
                    while len(self.inflight) + len(fresh) < capacity:
                        path = self.tracker.pop_ready()
                        if path is None:
                            break
                        claimed = self._claim(path)
                        if claimed is not None:
                            fresh.append(claimed)
            except OSError as exc:  # .processing/ could not be fsync'd: the next rescan retries
                log.warning("inbox.claim_not_durable", reason=exc.strerror, files=len(fresh))
                self._request_rescan("claim_not_durable")
                return
            if not fresh:
                return
            for claimed in fresh:
                self._submit(claimed, recovering=False)

    def _claim(self, path: Path) -> Claimed | None:
        decision = classify(path.relative_to(self.inbox.root).parts)
        if not isinstance(decision, Drop):
            return None
        try:
            st = os.lstat(path)
            check_regular(st)
        except FileNotFoundError:
            return None
        except Refused as exc:
            self.claim_warn.problems([(Unroutable(decision.path, exc.message), "refused")])
            return None
        except OSError as exc:  # EACCES on a feeder folder, ESTALE on NFS, ...
            reason = f"cannot be read: {exc.strerror}"
            self.claim_warn.problems([(Unroutable(decision.path, reason), "refused")])
            return None
        if writer_open(path):
            # Closed by nobody yet (a writer pausing between chunks): settle again.
            self.tracker.written(path, time.monotonic())
            return None
        try:
            return self.inbox.claim(decision)
        except OSError as exc:
            reason = f"cannot be claimed: {exc.strerror}"
            self.claim_warn.problems([(Unroutable(decision.path, reason), "refused")])
            return None

    def _submit(self, claimed: Claimed, recovering: bool) -> None:
        if claimed.token in self.inflight:
            return
        self.inflight.add(claimed.token)
        self.jobs.put((claimed, recovering))

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            claimed, recovering = job
            if self.halt.is_set():
                self._hand_back(claimed)
                continue
            if recovering:
                self._work_on([claimed], recovering=True)
                continue
            # Fresh claims waiting behind this one join it in a batch.
            batch: list[Claimed] = [claimed]
            recover: list[Claimed] = []
            while len(batch) < BATCH_FILES and not self.halt.is_set():
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)  # for the loop above, after this batch
                    break
                (recover if more[1] else batch).append(more[0])
            self._work_on(batch, recovering=False)
            for item in recover:
                if self.halt.is_set():
                    self._hand_back(item)
                else:
                    self._work_on([item], recovering=True)

    def _hand_back(self, claimed: Claimed) -> None:
        self.mailbox.put(_Result(claimed, None, None, 0.0, started=False))

    def _work_on(self, batch: list[Claimed], recovering: bool) -> None:
        start = time.monotonic()
        results: Sequence[Outcome | BaseException]
        try:
            if recovering:
                results = [self.pipeline.process(batch[0], recovering=True)]
            else:
                results = self.pipeline.process_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            results = [exc] * len(batch)
        seconds = time.monotonic() - start
        for claimed, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self.mailbox.put(_Result(claimed, None, result, seconds))
            else:
                self.mailbox.put(_Result(claimed, result, None, seconds))

    def _parse_work(self) -> None:
        """Parse stored runs until stopped: woken when a run is stored here, polling for runs
        stored by other processes; backing off while a service is down."""
        assert self.parser is not None
        backoff = Backoff()
        while not self.parse_stop.is_set():
            # Ingestion first: wait for a pause in a burst, but never more than a moment.
            self.ingest_idle.wait(PARSE_YIELD_SECONDS)
            self.parse_wake.clear()
            start = time.monotonic()
            try:
                outcome = self.parser.parse_next()
            except (ServiceUnavailable, SchemaError) as exc:
                delay = backoff.next()
                log.warning("parse.deferred", reason=exc.message, retry_in_s=delay)
                self.parse_stop.wait(delay)
                continue
            except Exception as exc:
                log.error("parse.crashed", error=repr(exc), exc_info=exc)
                self.parse_stop.wait(DEFERRED_RETRY_SECONDS)
                continue
            if outcome is None:
                self.parse_wake.wait(PARSE_POLL_SECONDS)
                continue
            backoff.reset()
            if outcome.status in (RunStatus.COMPLETE, RunStatus.FAILED):
                self.metrics.parse_duration.observe(time.monotonic() - start)
            if outcome.status == RunStatus.COMPLETE and self.resolver is not None:
                self.resolver.wake.set()

    def _handle_result(self, result: _Result) -> None:
        if not result.started:
            self._left_unstarted(result.claimed)
            return
        self.inflight.discard(result.claimed.token)
        exc = result.error
        token = result.claimed.token
        if isinstance(exc, ServiceUnavailable | SchemaError):
            self.metrics.failures.labels("unavailable").inc()
            self.parked.add(token)  # stays in .processing until recovery
            if self.degraded is None:
                self._enter_degraded(exc.message)
            return
        if exc is not None:
            # Only this file waits, with its own capped backoff, logged at every attempt.
            attempt = self.attempts[token] = self.attempts.get(token, 0) + 1
            delay = min(DEFERRED_RETRY_SECONDS * 2 ** (attempt - 1), DEFERRED_RETRY_CAP)
            message = exc.message if isinstance(exc, AutodocError) else repr(exc)
            log.warning(
                "run.retry",
                origin=printable(str(result.claimed.origin)),
                attempt=attempt,
                retry_in_s=delay,
                reason=message,
                exc_info=exc if attempt == 1 and not isinstance(exc, ItemDeferred) else None,
            )
            self.metrics.failures.labels("deferred").inc()
            self.retry.append((time.monotonic() + delay, result.claimed))
            return
        self.attempts.pop(token, None)
        self.backoff.reset()  # a file got through: the services work again
        outcome = result.outcome
        if outcome is None or outcome.result == "skipped":
            return
        upload_type = result.claimed.upload_type.value
        self.metrics.runs.labels(outcome.result, upload_type).inc()
        self.metrics.duration.observe(result.seconds)
        if outcome.result == "stored":
            self.metrics.bytes.inc(outcome.size_bytes)
            self.parse_wake.set()
        self.last_run = {
            "id": outcome.run_id,
            "status": outcome.result,
            "type": upload_type,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _left_unstarted(self, claimed: Claimed) -> None:
        if claimed.token in self.inflight:
            self.inflight.discard(claimed.token)
            self.not_started += 1

    def _requeue_deferred(self, now: float) -> None:
        if not self.retry or self.degraded is not None:
            return
        due = [c for at, c in self.retry if at <= now]
        self.retry = [(at, c) for at, c in self.retry if at > now]
        self.recovery.extend(due)

    # -- outages -----------------------------------------------------------------------------

    def _enter_degraded(self, reason: str) -> None:
        delay = self.backoff.next()
        self.retry_at = time.monotonic() + delay
        if self.degraded != reason:
            log.warning("daemon.degraded", reason=reason, retry_in_s=delay)
        self.degraded = reason
        self.metrics.degraded.set(1)

    def _try_leave_degraded(self) -> None:
        """Probe the services in a thread of its own: a probe can take as long as a connect
        timeout, and the main loop must keep answering systemd's watchdog meanwhile."""
        self.retry_at = float("inf")  # until the probe reports

        def probe() -> None:
            try:
                self.pipeline.db.ping()
                self.pipeline.store.ping()
                self.inbox.ensure()
            except ServiceUnavailable as exc:
                self.mailbox.put(("probe", exc.message))
            except Exception as exc:  # noqa: BLE001 - reported, never lost in a thread
                self.mailbox.put(("probe", repr(exc)))
            else:
                self.mailbox.put(("probe", None))

        threading.Thread(target=probe, name="probe", daemon=True).start()

    def _probed(self, error: str | None) -> None:
        if error is not None:
            self._enter_degraded(error)
            return
        # The backoff is reset only when a file gets through: a full disk passes ping().
        log.info("daemon.recovered", was=self.degraded)
        self.degraded = None
        self.parked.clear()
        self.metrics.degraded.set(0)
        self._request_rescan("recovered")  # take back what was left claimed, look again

    # -- reporting ---------------------------------------------------------------------------

    def _complete_already(self, path: Path) -> bool:
        """A "created" event for a file written long ago and open for writing by nobody: one
        moved into a folder before its watch was set up (watchdog reports what it finds in a
        new folder as created). Only where inotify runs (a local filesystem, whose mtimes are
        this host's clock) and the lease check can tell."""
        if not self.tracker.sees_closes:
            return False
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return False
        if time.time() - st.st_mtime < self.config.inbox.settle_seconds:
            return False
        return writer_state(path) is False

    def _stat(self, path: Path) -> tuple[int, int] | None:
        try:
            st = os.lstat(path)
        except OSError:
            return None
        # A FIFO or a symlink is not "empty, waiting for its writer": let the claim refuse it.
        size = st.st_size if stat.S_ISREG(st.st_mode) else -1
        return size, st.st_mtime_ns

    def _claimed_count(self) -> int:
        return len(self.inflight) + len(self.recovery) + len(self.retry) + len(self.parked)

    def _status_line(self) -> str:
        parts = [f"backlog {len(self.tracker)}", f"claimed {self._claimed_count()}"]
        if self.last_run:
            parts.append(f"last run {self.last_run['id']} {self.last_run['status']}")
        if self.degraded:
            parts.insert(0, f"DEGRADED: {self.degraded}")
        return ", ".join(parts)

    def _heartbeat(self, now: float) -> None:
        if self.notifier.watchdog_interval and now - self._last_ping >= (
            self.notifier.watchdog_interval
        ):
            self.notifier.watchdog()
            self._last_ping = now
        self.notifier.status(self._status_line())
        self.metrics.backlog.set(len(self.tracker))
        self.metrics.claimed.set(self._claimed_count())
        self._write_state()

    def _write_state(self, force: bool = False, running: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last_state < STATE_EVERY_SECONDS:
            return
        self._last_state = now
        state = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "running": running,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "observer": self.watcher.kind,
            "degraded": self.degraded,
            "backlog": len(self.tracker),
            "claimed": self._claimed_count(),
            "last_run": self.last_run,
        }
        path = state_file(self.inbox.root)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(state) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.debug("state.unwritable", error=str(exc))
