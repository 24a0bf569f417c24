"""systemd's notify protocol (sd_notify) without libsystemd: one datagram per message to the
socket named by NOTIFY_SOCKET. Outside systemd every call is a no-op."""

from __future__ import annotations

import contextlib
import os
import socket
import time

from daemon.logs import get_logger

log = get_logger()

STATUS_EVERY_SECONDS = 0.5


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):  # abstract namespace
            self.address = "\0" + self.address[1:]
        self._socket: socket.socket | None = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # WATCHDOG=1 is expected every WATCHDOG_USEC; send at half of it. WATCHDOG_PID, when
        # set, names the process meant (not us, if we were started by a wrapper).
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        meant_for_us = not pid or pid == str(os.getpid())
        self.watchdog_interval = (
            int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and meant_for_us else None
        )
        self._last_status = ""
        self._last_status_at = 0.0

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, message: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError as exc:  # systemd gone or socket full: never take the daemon down
            log.debug("notify.failed", error=str(exc))

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")
        self._last_status = status

    def status(self, status: str, force: bool = False) -> None:
        """Send a changed status line, at most every STATUS_EVERY_SECONDS (a burst of stores
        would otherwise send one datagram each); the caller calls again on its next tick."""
        now = time.monotonic()
        due = force or now - self._last_status_at >= STATUS_EVERY_SECONDS
        if status != self._last_status and due:
            self._last_status = status
            self._last_status_at = now
            self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> None:
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None
