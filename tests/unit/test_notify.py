"""sd_notify over a real unix datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from daemon.notify import Notifier


def test_notifier_sends_ready_status_watchdog_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "3000000"})
        assert notifier.watchdog_interval == 1.5
        notifier.ready("backlog 0")
        notifier.status("backlog 0")  # unchanged: not sent again
        notifier.status("backlog 3")
        notifier.watchdog()
        notifier.stopping()
        notifier.close()
        received = [server.recv(4096).decode() for _ in range(4)]
    assert received[0] == f"READY=1\nSTATUS=backlog 0\nMAINPID={os.getpid()}"
    assert received[1:] == ["STATUS=backlog 3", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket_names_are_supported() -> None:
    name = f"autodoc-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.watchdog()
        notifier.close()
        assert server.recv(100) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    notifier.ready("x")
    notifier.watchdog()


def test_watchdog_meant_for_another_pid_is_ignored() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    notifier.ready("x")
    notifier.close()
