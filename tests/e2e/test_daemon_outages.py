"""`autodoc run` through real outages: PostgreSQL cut mid-burst (a TCP proxy that can be
closed and reopened on the same port), SeaweedFS SIGKILLed and restarted on the same ports
and data folder, and a blob store whose filesystem is full (a 1 MiB tmpfs, then grown).

Each time the daemon must log `daemon.degraded`, stay up, claim nothing new, keep what it
had claimed in .processing, report the condition in its state file (and so in `autodoc
status`), and once the service is back log `daemon.recovered` and store every file exactly
once.

The helpers at the top (TcpProxy, DaemonProcess, start_daemon, ...) are shared by
test_systemd.py and test_metrics.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url

from tests.conftest import REQUIRE_SERVICES, service_missing
from tests.e2e.conftest import AUTODOC, Workspace, base_env, log_events, sha256, wait_for
from tests.s3_server import (
    DUMMY_KEY_ID,
    DUMMY_SECRET,
    PROBE_BUCKET,
    START_DEADLINE_SECONDS,
    _tail,
    find_weed,
    free_ports,
    s3_client,
    spawn_weed,
    weed_server_args,
)

STATE_GLOB = "daemon-*.json"
DEGRADE_WITHIN_S = 30.0  # botocore retries a refused connection a few times first
RECOVER_WITHIN_S = 30.0  # backoff 1, 2, 4, 8 s: the outages here last a few seconds

# -- a TCP proxy that can be cut ---------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`. `cut()` closes the listener and resets every
    open connection (new connections are refused, as when the server is down); `start()`
    again listens on the same port. `delay` seconds are added to every forwarded chunk, to
    stretch a burst of small transactions over a window the test can hit."""

    def __init__(self, target: tuple[str, int], delay: float = 0.0) -> None:
        self.target = target
        self.delay = delay
        self.port = 0
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._pumps: list[threading.Thread] = []

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        assert self._listener is None, "already listening"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener, self._stop), name="proxy-accept", daemon=True
        )
        self._acceptor.start()

    def cut(self) -> None:
        """Down: no listener, and every connection reset."""
        if self._listener is None:
            return
        self._stop.set()
        assert self._acceptor is not None
        self._acceptor.join(timeout=5)
        self._listener.close()
        self._listener = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _reset(conn)
        for pump in self._pumps:
            pump.join(timeout=5)
        self._pumps = [p for p in self._pumps if p.is_alive()]

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if stop.is_set():
                    _reset(client)
                    _reset(upstream)
                    return
                self._conns.update((client, upstream))
                for src, dst in ((client, upstream), (upstream, client)):
                    pump = threading.Thread(
                        target=self._pump, args=(src, dst), name="proxy-pump", daemon=True
                    )
                    self._pumps.append(pump)
                    pump.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST, waking any thread blocked on the socket."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def proxied_url(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@contextlib.contextmanager
def pg_proxy(pg_url: str, delay: float = 0.0) -> Iterator[TcpProxy]:
    """A started proxy in front of the PostgreSQL of `pg_url`; closed afterwards."""
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432), delay=delay)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()


# -- the daemon as a process -------------------------------------------------------------------


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    log: Path
    err: Path
    _seen: list[dict[str, Any]] = field(default_factory=list)
    _offset: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def events(self) -> list[dict[str, Any]]:
        """Every complete JSON log line so far (read incrementally)."""
        with open(self.log, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is not JSON yet
        self._offset += len(complete)
        self._seen.extend(log_events(complete.decode("utf-8", "replace")))
        return self._seen

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == name]

    def wait_event(
        self,
        name: str,
        timeout: float,
        where: Callable[[dict[str, Any]], bool] = lambda _e: True,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first `name` event (from the after-th event on) matching `where`."""

        def found() -> dict[str, Any] | None:
            if not self.alive():
                pytest.fail(
                    f"the daemon exited ({self.proc.returncode}) waiting for {name}:\n"
                    f"{self.stderr()[-3000:]}"
                )
            events = self.events()[after:]
            return next((e for e in events if e["event"] == name and where(e)), None)

        event: dict[str, Any] = wait_for(found, timeout, f"log event {name}")
        return event

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def daemon_env(ws: Workspace, **extra: str) -> dict[str, str]:
    """The environment of `ws`'s commands, without any systemd variables of our own."""
    env = base_env(AUTODOC_CONFIG=str(ws.config), **ws.env)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    env.update(extra)
    return env


@contextlib.contextmanager
def start_daemon(ws: Workspace, name: str = "daemon", **env: str) -> Iterator[DaemonProcess]:
    """`autodoc run` in `ws`, its stdout in <root>/<name>.log; killed if still up at the end."""
    log, err = ws.root / f"{name}.log", ws.root / f"{name}.err"
    with open(log, "w") as out, open(err, "w") as errors:
        proc = subprocess.Popen(
            [*AUTODOC, "run"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=errors,
            env=daemon_env(ws, **env),
            cwd=ws.root,
            text=True,
        )
    daemon = DaemonProcess(proc, log, err)
    try:
        yield daemon
    finally:
        daemon.kill()


# -- looking at the workspace ------------------------------------------------------------------


def claimed_files(ws: Workspace) -> list[Path]:
    """Files in .processing (the daemon's state file aside)."""
    if not ws.processing.is_dir():
        return []
    return sorted(
        p
        for p in ws.processing.rglob("*")
        if p.is_file() and p.parent != ws.processing and not p.name.startswith(".")
    )


def waiting_files(ws: Workspace) -> list[Path]:
    """Drops not claimed yet."""
    return sorted(
        p
        for p in ws.inbox.rglob("*")
        if p.is_file()
        and ".processing" not in p.relative_to(ws.inbox).parts
        and not p.name.startswith(".")
    )


def daemon_state(ws: Workspace) -> dict[str, Any] | None:
    for path in ws.processing.glob(STATE_GLOB):
        with contextlib.suppress(OSError, ValueError):
            state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return state
    return None


def runs_json(ws: Workspace, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = ws.run("runs", "list", "--json", "--limit", "0", env=env)
    assert result.returncode == 0, result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def conf_files(count: int, size: int = 0, prefix: str = "f") -> dict[str, bytes]:
    """`count` distinct single_conf bodies, each about `size` bytes (at least one stanza)."""
    rng = random.Random(f"{prefix}{count}{size}")
    files = {}
    for i in range(count):
        head = f"[{prefix}{i}]\nid = {rng.getrandbits(64):016x}\n"
        filler = ""
        if size > len(head):
            line_count = (size - len(head)) // 33 + 1
            filler = "".join(f"k{n:05d} = {rng.getrandbits(96):024x}\n" for n in range(line_count))
        files[f"{prefix}{i:03d}.conf"] = (head + filler).encode()
    return files


def assert_all_stored_once(
    runs: list[dict[str, Any]], files: dict[str, bytes], label: str | None = None
) -> None:
    """One `stored` run per dropped file, none pending or failed, contents as dropped."""
    assert sorted(r["status"] for r in runs) == ["stored"] * len(files), [
        (r["id"], r["status"], r["notes"]) for r in runs if r["status"] != "stored"
    ]
    by_name: dict[str, dict[str, Any]] = {}
    for run in runs:
        assert len(run["files"]) == 1, run
        assert run["label"] == label, run
        name = run["files"][0]["path"]
        assert name not in by_name, f"{name} stored twice: runs {by_name[name]['id']}, {run['id']}"
        by_name[name] = run
    assert set(by_name) == set(files)
    for name, run in by_name.items():
        assert run["files"][0]["sha256"] == sha256(files[name]), name
        assert run["files"][0]["size_bytes"] == len(files[name]), name
        assert "same content" not in (run["notes"] or ""), run  # every body is distinct


def assert_settled(ws: Workspace) -> None:
    assert waiting_files(ws) == [], "files left in the inbox"
    assert claimed_files(ws) == [], "files left in .processing"
    assert ws.failed_files() == [], "nothing may fail"


# -- (a) PostgreSQL cut mid-burst --------------------------------------------------------------

BURST = 300  # batches of up to 32 files: enough that the cut comes mid-burst


@pytest.mark.postgres
def test_postgres_cut_mid_burst_degrades_then_every_file_is_stored_once(
    make_workspace: Callable[..., Workspace], pg_url: str
) -> None:
    files = conf_files(BURST)
    real_db = {"AUTODOC_DATABASE_URL": pg_url}
    with pg_proxy(pg_url, delay=0.005) as proxy:
        ws = make_workspace(database_url=proxied_url(pg_url, proxy.port))
        with start_daemon(ws) as daemon:
            daemon.wait_event("daemon.started", 20)
            for name, data in files.items():
                ws.drop("single_conf", name, data, feeder="burst")
            wait_for(lambda: len(daemon.named("run.stored")) >= 3, 30, "the burst under way")

            proxy.cut()
            degraded = daemon.wait_event("daemon.degraded", DEGRADE_WITHIN_S)

            assert "database" in degraded["reason"], degraded
            assert degraded["retry_in_s"] >= 1, degraded
            stored_before = len(daemon.named("run.stored"))
            assert stored_before < BURST, "the cut came after the burst: make it bigger/slower"
            claimed, waiting = claimed_files(ws), waiting_files(ws)
            assert claimed, "the file whose worker hit the outage stays claimed"
            assert len(claimed) + len(waiting) == BURST - stored_before
            state = wait_for(
                lambda: (s := daemon_state(ws)) and s.get("degraded") and s,
                10,
                "the state file to say degraded",
            )
            assert "database" in state["degraded"], state
            assert state["pid"] == daemon.pid and state["running"] is True

            # `status` itself reaches the database directly (not through the cut proxy).
            ws.env.update(real_db)
            result, text = ws.run_many(["status", "--json"], ["status"])
            del ws.env["AUTODOC_DATABASE_URL"]
            assert result.returncode == 0, result.stderr
            status = json.loads(result.stdout)
            assert status["database"]["ok"] is True, status["database"]
            [published] = [d for d in status["daemons"] if d["pid"] == daemon.pid]
            assert "database" in (published["degraded"] or ""), published
            assert status["claimed"] == len(claimed), status
            assert "DEGRADED: database" in text.stdout, text.stdout

            # Degraded: the daemon is up, claims nothing, keeps its claims, fails nothing.
            assert daemon.alive()
            assert waiting_files(ws) == waiting, "nothing may be claimed while degraded"
            assert claimed_files(ws) == claimed, "claimed files stay in .processing"
            assert ws.failed_files() == []
            assert len(daemon.named("run.stored")) == stored_before

            proxy.start()  # back, on the same port
            mark = len(daemon.events())
            daemon.wait_event("daemon.recovered", RECOVER_WITHIN_S, after=mark)
            wait_for(
                lambda: not waiting_files(ws) and not claimed_files(ws),
                60,
                "every file to leave the inbox and .processing",
            )
            wait_for(
                lambda: (s := daemon_state(ws)) and s.get("degraded") is None and s,
                10,
                "the state file to say not degraded",
            )
            assert daemon.stop() == 0, daemon.stderr()

        assert "Traceback" not in daemon.stderr(), daemon.stderr()
        runs = runs_json(ws, env=real_db)
    assert_all_stored_once(runs, files, label="burst")
    for run in runs:
        blob = ws.blobs / run["files"][0]["stored_object_key"]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == run["files"][0]["sha256"]
    assert_settled(ws)
    events = daemon.events()
    changes = [e["event"] for e in events if e["event"] in ("daemon.degraded", "daemon.recovered")]
    assert changes[-1] == "daemon.recovered", changes
    assert not [e for e in events if e["event"] == "run.failed"], "an outage is not a failure"


# -- (b) SeaweedFS killed and restarted --------------------------------------------------------


class DedicatedWeed:
    """A `weed server` of this test's own, SIGKILLable and restartable on the same ports and
    data folder (the arguments follow tests/s3_server.py)."""

    def __init__(self, folder: Path) -> None:
        binary = find_weed()
        if binary is None:
            service_missing("SeaweedFS `weed` binary not found next to python or on PATH")
        assert binary is not None
        self.binary = binary
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = folder / "weed.log"
        self.ports = free_ports(8)
        self.endpoint = f"http://127.0.0.1:{self.ports[0]}"
        self.process: subprocess.Popen[bytes] | None = None

    def _args(self) -> list[str]:
        # A restarted single master resumes its raft state and waits out an election
        # timeout (10 s by default) before it serves again.
        return weed_server_args(
            self.binary, self.data, self.folder, self.ports, ("-master.electionTimeout=1s",)
        )

    def _sockets(self) -> list[Path]:
        s3, s3_grpc, _m, master_grpc, _v, volume_grpc, filer, filer_grpc = self.ports
        grpc = zip(
            ("s3", "master", "volume", "filer"),
            (s3_grpc, master_grpc, volume_grpc, filer_grpc),
            strict=True,
        )
        return [Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock") for role, port in grpc] + [
            self.folder / f"filer-{filer}.sock",
            self.folder / f"s3-{s3}.sock",
        ]

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        for sock in self._sockets():  # left behind by SIGKILL
            sock.unlink(missing_ok=True)
        self.process = spawn_weed(self._args(), self.folder, self.log)

    def client(self, timeout: float = 5.0) -> Any:
        return s3_client(self.endpoint, timeout)

    def wait_ready(self, bucket: str, timeout: float = START_DEADLINE_SECONDS) -> None:
        """Until `bucket` exists and a write succeeds (which needs the volume server
        registered); the write goes to a probe bucket of its own."""
        assert self.process is not None
        client = self.client(timeout=2.0)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if (code := self.process.poll()) is not None:
                last = f"weed exited with status {code}"
                break
            try:
                for name in (bucket, PROBE_BUCKET):
                    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                        client.create_bucket(Bucket=name)
                client.put_object(Bucket=PROBE_BUCKET, Key="ready", Body=b"probe")
                return
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
            time.sleep(0.1)
        message = f"SeaweedFS at {self.endpoint} not ready: {last}"
        if REQUIRE_SERVICES:
            message += f"\n{_tail(self.log)}"
        service_missing(message)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()
        for sock in self._sockets():
            sock.unlink(missing_ok=True)


@pytest.mark.s3
def test_s3_killed_and_restarted_degrades_then_every_file_is_stored_once(
    make_workspace: Callable[..., Workspace],
) -> None:
    # Enough that SeaweedFS is killed mid-burst although batches store 8 files at once.
    files = conf_files(300, size=64 * 1024, prefix="s")
    bucket = "autodoc-outage"
    folder = Path(tempfile.mkdtemp(prefix="autodoc-weed-"))  # short: sockets live there
    weed = DedicatedWeed(folder)
    try:
        weed.start()
        weed.wait_ready(bucket)
        ws = make_workspace()
        ws.config.write_text(
            ws.config.read_text(encoding="utf-8").replace(
                '[storage]\nbackend = "local"\npath = "var/blobs"\n',
                f'[storage]\nbackend = "s3"\n\n[storage.s3]\nbucket = "{bucket}"\n'
                f'endpoint_url = "{weed.endpoint}"\n',
            ),
            encoding="utf-8",
        )
        assert 'backend = "s3"' in ws.config.read_text(encoding="utf-8")
        ws.env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY_ID, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET)
        with start_daemon(ws) as daemon:
            daemon.wait_event("daemon.started", 20)
            for name, data in files.items():
                ws.drop("single_conf", name, data)
            wait_for(lambda: len(daemon.named("run.stored")) >= 2, 30, "the burst under way")

            weed.kill()
            degraded = daemon.wait_event("daemon.degraded", DEGRADE_WITHIN_S)

            assert "s3" in degraded["reason"], degraded
            stored_before = len(daemon.named("run.stored"))
            assert stored_before < len(files), "SeaweedFS was killed after the burst"
            claimed = claimed_files(ws)
            assert claimed, "the file whose upload failed stays claimed"
            assert daemon.alive()
            assert ws.failed_files() == []

            # Back on the same ports and data folder. It takes seconds to serve again (more
            # than the 2 s between state files), and the daemon stays degraded until then.
            mark = len(daemon.events())
            weed.start()
            state = wait_for(
                lambda: (s := daemon_state(ws)) and s.get("degraded") and s,
                10,
                "the state file to say degraded",
            )
            assert "s3" in state["degraded"], state
            weed.wait_ready(bucket)
            daemon.wait_event("daemon.recovered", RECOVER_WITHIN_S, after=mark)
            wait_for(
                lambda: not waiting_files(ws) and not claimed_files(ws),
                60,
                "every file to leave the inbox and .processing",
            )
            assert daemon.stop() == 0, daemon.stderr()
        assert "Traceback" not in daemon.stderr(), daemon.stderr()
        assert not daemon.named("run.failed")

        runs = runs_json(ws)
        assert_all_stored_once(runs, files)
        assert_settled(ws)
        client = weed.client(timeout=10.0)
        keys = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        ]
        assert sorted(keys) == sorted(r["files"][0]["stored_object_key"] for r in runs)
        for run in runs:
            record = run["files"][0]
            body = client.get_object(Bucket=bucket, Key=record["stored_object_key"])["Body"]
            with contextlib.closing(body):
                assert hashlib.sha256(body.read()).hexdigest() == record["sha256"], record
    finally:
        weed.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- (c) the blob store's filesystem full ------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    result = (
        subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mount and os.geteuid() == 0
        else None
    )
    if result is None or result.returncode != 0:
        why = result.stderr.strip() if result else "not root, or no mount(8)"
        service_missing(f"cannot mount a tmpfs at {path}: {why}")
    try:
        yield path
    finally:
        done = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def grow_tmpfs(path: Path, size: str) -> None:
    result = subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def big_files_for(ws: Workspace, sizes: list[int], prefix: str) -> dict[str, bytes]:
    """single_conf files of about these sizes, each larger than the blob store's free space."""
    free = free_bytes(ws.blobs)
    files = {}
    for i, size in enumerate(sizes):
        files.update(conf_files(1, size=size, prefix=f"{prefix}{i}-"))
    assert all(len(data) > free for data in files.values()), (free, sizes)
    assert os.stat(ws.blobs).st_dev != os.stat(ws.inbox).st_dev  # blobs are copied
    return files


def blobs_stored_wrong(ws: Workspace, stored: list[dict[str, Any]]) -> list[str]:
    """For each run.stored event, whether its blob is on disk whole."""
    wrong = []
    for event in stored:
        blob = ws.blobs / event["key"]
        data = blob.read_bytes() if blob.is_file() else b""
        if len(data) != event["size_bytes"] or sha256(data) != event["sha256"]:
            wrong.append(
                f"run {event['run_id']}: {len(data)} bytes on disk, {event['size_bytes']} "
                f"recorded, sha256 {'ok' if sha256(data) == event['sha256'] else 'WRONG'}"
            )
    return wrong


def test_blob_store_full_degrades_with_no_space_then_stores_everything_once_grown(
    make_workspace: Callable[..., Workspace],
) -> None:
    """A 1 MiB store, half taken: files of 768 KiB (one read chunk each) and 1.5 MiB do not
    fit. None may be recorded as stored until the store has grown, and then all must be."""
    ws = make_workspace()
    with small_tmpfs(ws.blobs, "1m"):
        (ws.blobs / "someone-elses.bin").write_bytes(b"\0" * 512 * 1024)
        files = big_files_for(ws, [768 * 1024, 768 * 1024, 1536 * 1024], prefix="big")
        with start_daemon(ws) as daemon:
            daemon.wait_event("daemon.started", 20)
            for name, data in files.items():
                ws.drop("single_conf", name, data)

            degraded = daemon.wait_event("daemon.degraded", DEGRADE_WITHIN_S)

            assert "No space left" in degraded["reason"], degraded
            state = wait_for(
                lambda: (s := daemon_state(ws)) and s.get("degraded") and s,
                10,
                "the state file to say degraded",
            )
            assert "No space left" in state["degraded"], state
            assert daemon.alive()
            assert ws.failed_files() == []
            stored = daemon.named("run.stored")
            assert not stored, (
                "recorded as stored (source deleted) although the disk is full: "
                f"{blobs_stored_wrong(ws, stored) or stored}"
            )
            assert claimed_files(ws), "the files that did not fit stay claimed"

            grow_tmpfs(ws.blobs, "64m")
            wait_for(
                lambda: not waiting_files(ws) and not claimed_files(ws),
                RECOVER_WITHIN_S + 30,
                "every file to leave the inbox and .processing",
            )
            assert daemon.named("daemon.recovered")
            assert daemon.stop() == 0, daemon.stderr()
        assert "Traceback" not in daemon.stderr(), daemon.stderr()
        assert not daemon.named("run.failed")
        assert blobs_stored_wrong(ws, daemon.named("run.stored")) == []

        runs = runs_json(ws)
        assert_all_stored_once(runs, files)
        assert_settled(ws)
        assert not list((ws.blobs / ".tmp").glob("put-*")), "no partial copy left behind"


def test_blob_store_staying_full_backs_off_exponentially(
    make_workspace: Callable[..., Workspace],
) -> None:
    """The store's ping (is the folder writable?) passes while the disk is full, so every
    retry "recovers" and fails again; the delay between attempts must still double."""
    ws = make_workspace()
    with small_tmpfs(ws.blobs, "1m"):
        files = big_files_for(ws, [1536 * 1024], prefix="full")
        with start_daemon(ws) as daemon:
            daemon.wait_event("daemon.started", 20)
            for name, data in files.items():
                ws.drop("single_conf", name, data)
            # Doubling delays give the 3rd attempt after 1 + 2 = 3 s, the 4th after 7 s.
            wait_for(lambda: len(daemon.named("daemon.degraded")) >= 3, 15, "three attempts")
            attempts = daemon.named("daemon.degraded")
            assert all("No space left" in e["reason"] for e in attempts), attempts
            assert daemon.alive()
            assert claimed_files(ws) and ws.failed_files() == []
            assert daemon.stop() == 0, daemon.stderr()
    delays = [e["retry_in_s"] for e in attempts]
    assert all(b > a for a, b in itertools.pairwise(delays)), (
        f"capped exponential backoff expected while the disk stays full; "
        f"successive daemon.degraded retry_in_s: {delays}"
    )
