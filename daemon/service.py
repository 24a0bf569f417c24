"""`autodoc run`: repeat the scan until told to stop, backing off while a service is down.

Until the event-driven watcher arrives, the inbox is polled every POLL_SECONDS (or every
rescan_seconds, if that is shorter), so a dropped file is stored within seconds.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from daemon.errors import TransientError
from daemon.logs import get_logger
from daemon.scanner import Scanner

POLL_SECONDS = 1.0
BACKOFF_START = 1.0
BACKOFF_CAP = 60.0

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


def run_forever(scanner: Scanner, rescan_seconds: float) -> None:
    stop = scanner.stop

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    interval = min(POLL_SECONDS, rescan_seconds)
    backoff = Backoff()
    degraded: str | None = None
    log.info(
        "daemon.started",
        inbox=str(scanner.inbox.root),
        workers=scanner.workers,
        store=scanner.pipeline.store.description,
    )
    while not stop.is_set():
        try:
            scanner.scan()
        except TransientError as exc:
            delay = backoff.next()
            if degraded != exc.message:
                log.warning("daemon.degraded", reason=exc.message, retry_in_s=delay)
            degraded = exc.message
            stop.wait(delay)
            continue
        if degraded is not None:
            log.info("daemon.recovered", was=degraded)
            degraded = None
        backoff.reset()
        stop.wait(interval)
    log.info("daemon.stopped")
