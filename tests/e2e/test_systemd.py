"""systemd integration: the daemon speaks sd_notify to a real AF_UNIX datagram socket (READY=1
after start-up recovery, STATUS= lines, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1), and
the unit file passes `systemd-analyze verify` and sandboxes as the design says."""

from __future__ import annotations

import configparser
import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import service_missing
from tests.e2e.conftest import AUTODOC, Workspace, wait_for
from tests.e2e.test_daemon_outages import (
    DaemonProcess,
    claimed_files,
    pg_proxy,
    proxied_url,
    start_daemon,
    waiting_files,
)

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "splunk-autodoc.service"
SERVER_CONFIG = ROOT / "deploy" / "config.server.toml"
WATCHDOG_USEC = 1_000_000  # pings expected every 0.5 s


@dataclass(frozen=True)
class Message:
    at: float  # time.monotonic() when received
    fields: dict[str, str]
    raw: str


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket, at a path or, for "@name", in
    the abstract namespace. A thread collects every datagram."""

    def __init__(self, address: str) -> None:
        self.address = address  # the NOTIFY_SOCKET value
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.settimeout(0.05)
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-recv", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            with self._lock:
                self.messages.append(Message(time.monotonic(), fields, text))

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def with_field(self, key: str, since: float = 0.0) -> list[Message]:
        return [m for m in self.snapshot() if key in m.fields and m.at >= since]

    def wait(
        self,
        key: str,
        timeout: float,
        where: Callable[[str], bool] = lambda _v: True,
        since: float = 0.0,
        daemon: DaemonProcess | None = None,
    ) -> Message:
        def found() -> Message | None:
            if daemon is not None and not daemon.alive():
                pytest.fail(f"the daemon exited waiting for {key}:\n{daemon.stderr()[-3000:]}")
            return next((m for m in self.with_field(key, since) if where(m.fields[key])), None)

        message: Message = wait_for(found, timeout, f"a notify message with {key}")
        return message

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@contextlib.contextmanager
def notify_socket(abstract: bool = False) -> Iterator[NotifySocket]:
    if abstract:
        listener = NotifySocket(f"@autodoc-test-{uuid.uuid4().hex}")
        try:
            yield listener
        finally:
            listener.close()
        return
    folder = Path(tempfile.mkdtemp(prefix="autodoc-notify-"))  # short: sun_path is 108 bytes
    listener = NotifySocket(str(folder / "notify.sock"))
    try:
        yield listener
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def gaps(messages: list[Message]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(messages)]


def stored_run_id(daemon: DaemonProcess, name: str) -> int | None:
    created = {
        e["run_id"] for e in daemon.named("run.created") if str(e.get("origin", "")).endswith(name)
    }
    return next((e["run_id"] for e in daemon.named("run.stored") if e["run_id"] in created), None)


def leave_claimed(ws: Workspace, name: str, data: bytes) -> Path:
    """A file as a crash leaves it: claimed into .processing, no run yet."""
    path = ws.processing / "single_conf" / f"{uuid.uuid4().hex[:16]}.{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- the notify protocol, against a real socket ------------------------------------------------


@pytest.mark.postgres
def test_notify_ready_after_recovery_status_watchdog_degraded_and_stopping(
    make_workspace: Callable[..., Workspace], pg_url: str
) -> None:
    with pg_proxy(pg_url) as proxy, notify_socket() as notify:
        ws = make_workspace(database_url=proxied_url(pg_url, proxy.port))
        left = leave_claimed(ws, "left-by-crash.conf", b"[crash]\nleft = 1\n")
        with start_daemon(
            ws, NOTIFY_SOCKET=notify.address, WATCHDOG_USEC=str(WATCHDOG_USEC)
        ) as daemon:
            ready = notify.wait("READY", 20, daemon=daemon)

            # READY=1 comes once the file a crash left claimed has been stored.
            assert ready.fields["READY"] == "1"
            assert ready.fields["MAINPID"] == str(daemon.pid)
            recovered = stored_run_id(daemon, "left-by-crash.conf")
            assert recovered is not None, "READY=1 before start-up recovery finished"
            assert f"last run {recovered} stored" in ready.fields["STATUS"], ready.raw
            assert not left.exists()
            assert not [m for m in notify.snapshot() if m.at < ready.at and "READY" in m.fields]

            # STATUS= follows what the daemon does.
            ws.drop("single_conf", "inputs.conf", b"[monitor:///var/log]\nindex = os\n")
            run_id = wait_for(lambda: stored_run_id(daemon, "inputs.conf"), 20, "inputs.conf")
            notify.wait("STATUS", 10, lambda s: f"last run {run_id} stored" in s, daemon=daemon)

            # WATCHDOG=1 every WATCHDOG_USEC/2, never a whole WATCHDOG_USEC apart.
            wait_for(lambda: len(notify.with_field("WATCHDOG", ready.at)) >= 5, 10, "5 pings")
            pings = notify.with_field("WATCHDOG", ready.at)
            assert all(m.fields["WATCHDOG"] == "1" for m in pings)
            assert max(gaps(pings)) < WATCHDOG_USEC / 1e6, gaps(pings)

            # Database down: STATUS says DEGRADED, and the watchdog is still fed.
            proxy.cut()
            cut_at = time.monotonic()
            ws.drop("single_conf", "outputs.conf", b"[tcpout]\ndefaultGroup = idx\n")
            degraded = notify.wait(
                "STATUS", 20, lambda s: s.startswith("DEGRADED:"), since=cut_at, daemon=daemon
            )
            assert "database" in degraded.fields["STATUS"], degraded.raw
            assert "claimed" in degraded.fields["STATUS"] and "backlog" in degraded.fields["STATUS"]
            wait_for(
                lambda: len(notify.with_field("WATCHDOG", degraded.at)) >= 3, 10, "pings degraded"
            )
            assert max(gaps(notify.with_field("WATCHDOG", cut_at))) < WATCHDOG_USEC / 1e6
            assert daemon.alive()

            proxy.start()
            back = notify.wait(
                "STATUS",
                30,
                lambda s: not s.startswith("DEGRADED"),
                since=degraded.at,
                daemon=daemon,
            )
            assert "DEGRADED" not in back.fields["STATUS"]
            stored = wait_for(lambda: stored_run_id(daemon, "outputs.conf"), 30, "outputs.conf")
            notify.wait("STATUS", 10, lambda s: f"last run {stored} stored" in s, daemon=daemon)

            stop_at = time.monotonic()
            assert daemon.stop() == 0, daemon.stderr()
        notify.wait("STOPPING", 5, since=stop_at)
        assert not waiting_files(ws) and not claimed_files(ws)
        assert "Traceback" not in daemon.stderr(), daemon.stderr()


def test_notify_abstract_socket_and_watchdog_pid_of_another_process(
    workspace: Workspace,
) -> None:
    """NOTIFY_SOCKET="@name" is the abstract namespace; WATCHDOG_PID naming another process
    (a wrapper's) means the watchdog is not the daemon's to feed."""
    ws = workspace
    with notify_socket(abstract=True) as notify:
        with start_daemon(
            ws,
            NOTIFY_SOCKET=notify.address,
            WATCHDOG_USEC="100000",  # a ping would be due every 50 ms
            WATCHDOG_PID=str(os.getpid()),
        ) as daemon:
            ready = notify.wait("READY", 20, daemon=daemon)
            assert ready.fields["READY"] == "1"
            assert ready.fields["MAINPID"] == str(daemon.pid)
            ws.drop("single_conf", "props.conf", b"[syslog]\nTRUNCATE = 0\n")
            run_id = wait_for(lambda: stored_run_id(daemon, "props.conf"), 20, "props.conf")
            notify.wait("STATUS", 10, lambda s: f"last run {run_id} stored" in s, daemon=daemon)
            stop_at = time.monotonic()
            assert daemon.stop() == 0, daemon.stderr()
        notify.wait("STOPPING", 5, since=stop_at)
        assert notify.with_field("WATCHDOG") == [], "WATCHDOG_PID names another process"
    assert "Traceback" not in daemon.stderr(), daemon.stderr()


def test_notify_socket_gone_does_not_hurt_the_daemon(workspace: Workspace) -> None:
    """systemd restarted (or a stale NOTIFY_SOCKET): sends fail, the daemon carries on."""
    ws = workspace
    missing = Path(tempfile.gettempdir()) / f"autodoc-no-such-{uuid.uuid4().hex}.sock"
    with start_daemon(ws, NOTIFY_SOCKET=str(missing), WATCHDOG_USEC="200000") as daemon:
        daemon.wait_event("daemon.started", 20)
        ws.drop("single_conf", "web.conf", b"[settings]\nenableSplunkWebSSL = 1\n")
        wait_for(lambda: stored_run_id(daemon, "web.conf"), 20, "web.conf stored")
        assert daemon.stop() == 0, daemon.stderr()
    assert "Traceback" not in daemon.stderr(), daemon.stderr()


# -- the unit file ----------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def _seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "ms": 0.001, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def test_unit_file_declares_notify_watchdog_restart_and_sandbox() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify"
    assert service.get("NotifyAccess", "main") in ("main", "exec")
    assert _seconds(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert service.get("User", "").strip() not in ("", "root")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert re.search(r"/autodoc\s+(--config\s+\S+\s+)?db upgrade\b", service["ExecStartPre"])
    assert re.search(r"/autodoc\s+(--config\s+\S+\s+)?run\s*$", service["ExecStart"])
    # The stop timeout leaves room for [daemon] stop_timeout_seconds (30 s by default).
    assert _seconds(service["TimeoutStopSec"]) > 30

    # ProtectSystem=strict makes everything read-only but ReadWritePaths=: they must cover
    # every folder the server config writes to.
    writable = [Path(p.lstrip("-")) for p in service["ReadWritePaths"].split()]
    assert writable
    config = tomllib.loads(SERVER_CONFIG.read_text(encoding="utf-8"))
    sqlite = config["database"]["url"].removeprefix("sqlite:///")
    needed = [
        Path(config["inbox"]["path"]),
        Path(config["inbox"]["failed_path"]),
        Path(config["storage"]["path"]),
        Path(sqlite).parent,
    ]
    for folder in needed:
        assert any(folder == w or w in folder.parents for w in writable), (folder, writable)


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        service_missing("systemd-analyze is not installed")
    assert analyze is not None
    autodoc = Path(AUTODOC[0])
    if not autodoc.is_absolute() or not os.access(autodoc, os.X_OK):
        pytest.skip("no autodoc console script in the venv to substitute")
    text = UNIT.read_text(encoding="utf-8")
    original = re.findall(r"^ExecStart(?:Pre)?=(\S+)", text, flags=re.M)
    assert original and all(p.endswith("/autodoc") for p in original), original
    for path in set(original):
        text = text.replace(path, str(autodoc))
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")

    result = subprocess.run(
        [analyze, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )

    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # verify only warns (exit 0) about unknown keys or sections: those are mistakes too.
    mistakes = [
        line
        for line in output.splitlines()
        if UNIT.name in line and re.search(r"[Uu]nknown|ignoring|[Ii]nvalid|[Ff]ailed", line)
    ]
    assert mistakes == [], output


MAX_EXPOSURE = 2.0  # systemd-analyze's scale: 0 (closed) to 10 (open); ≤ 2 is "OK"


def test_unit_file_sandbox_exposure_stays_at_most_2(tmp_path: Path) -> None:
    """`systemd-analyze security` rates what the sandbox leaves open (system calls, address
    families, namespaces, W+X memory, /proc, ...). The unit is analysed alone in an empty
    --root: without it, drop-ins of an installed copy (/etc/systemd/system/<unit>.d/) would
    be merged in. User=, ReadWritePaths= and ExecStart= need not exist offline."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        service_missing("systemd-analyze is not installed")
    assert analyze is not None
    units = tmp_path / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    shutil.copyfile(UNIT, units / UNIT.name)

    result = subprocess.run(
        [analyze, "security", "--offline=yes", f"--root={tmp_path}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_LOG_LEVEL": "notice"},
    )

    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and "--offline" in output:
        service_missing(f"systemd-analyze is too old for --offline (systemd 250+): {output}")
    assert result.returncode == 0, output
    found = re.search(rf"Overall exposure level for {re.escape(UNIT.name)}: (\d+\.\d+)", output)
    assert found, output
    still_open = "\n".join(line for line in output.splitlines() if line.startswith("✗"))
    assert float(found.group(1)) <= MAX_EXPOSURE, f"{found.group(0)}; still open:\n{still_open}"
