"""End-to-end helpers: run `autodoc` as a subprocess against a workspace of real files.

A workspace is a folder with its own config.toml, SQLite database (copied from one migrated
once per session), inbox, failed folder and blob store. The config is passed through
AUTODOC_CONFIG, the documented alternative to --config (test_cli covers --config itself).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import daemon

BIN = Path(sys.executable).parent
AUTODOC = [str(BIN / "autodoc")] if (BIN / "autodoc").exists() else [sys.executable, "-m", "daemon"]
TIMEOUT = 30  # seconds; a hung command (e.g. a FIFO opened for reading) fails the test
NOBODY = 65534
UPLOAD_TYPES = ("ds_etc", "instance_etc", "app_bundle", "single_conf", "inventory")
RUN_FIELDS = {"id", "created_at", "type", "label", "status", "notes", "files"}
FILE_FIELDS = {"path", "sha256", "size_bytes", "stored_object_key"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODOC_")}
    env.update(extra)
    return env


def write_workspace_config(
    folder: Path,
    *,
    database_url: str = "sqlite:///var/autodoc.db",
    inbox: str = "",
    storage: str = "",
    parse: str = "workers = 0",
    extra: str = "",
) -> Path:
    """A config with everything under `folder/var`; the strings are extra TOML lines for the
    [inbox], [storage] and [parse] tables and for after them.

    Daemons do not parse unless a test asks (`parse="workers = 1"`): the ingestion tests
    watch runs reach `stored`, which a parser would move on from."""
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n\n'
        '[inbox]\npath = "var/inbox"\nfailed_path = "var/failed"\nsettle_seconds = 0.0\n'
        f"{inbox}\n"
        f'[storage]\nbackend = "local"\npath = "var/blobs"\n{storage}\n'
        f"[parse]\n{parse}\n"
        f"{extra}\n",
        encoding="utf-8",
    )
    return path


_BATCH_DRIVER = """
import contextlib, io, json, sys, traceback
from daemon.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


@dataclass(frozen=True)
class RunAs:
    """How to start autodoc as another uid: the command, extra environment variables, and
    the descriptors the child must inherit."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    pass_fds: tuple[int, ...] = ()


def as_user(uid: int) -> RunAs:
    """autodoc run as `uid`, or the test skipped with the reason it cannot be.

    setpriv keeps its capabilities until it execs, so the interpreter itself may live under
    a root-only folder (pyenv in /root); subprocess's user= would fail the exec there. What
    the interpreter reads next must be reachable by `uid`: its venv and this checkout. In a
    clone under a folder others cannot enter (a 0700 home, `mktemp -d`) they are reached
    through descriptors opened here and inherited: /proc/self/fd/N/... starts from the folder
    itself, without searching the ones above it."""
    found = _as_user(uid)
    if isinstance(found, str):
        pytest.skip(found)
    return found


@functools.cache
def _as_user(uid: int) -> RunAs | str:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return "setpriv (util-linux) is needed to run autodoc as an unprivileged user"
    drop = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    direct = RunAs([*drop, *AUTODOC])
    if _cannot_start(direct) is None:
        return direct
    try:
        python = Path(sys.executable).relative_to(sys.prefix)
    except ValueError:
        return f"uid {uid} cannot reach {sys.executable} (not in a venv to relay)"
    checkout = Path(daemon.__file__).resolve().parent.parent
    venv_fd = os.open(sys.prefix, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    checkout_fd = os.open(checkout, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    path = [f"/proc/self/fd/{checkout_fd}", os.environ.get("PYTHONPATH", "")]
    relayed = RunAs(
        [*drop, f"/proc/self/fd/{venv_fd}/{python}", "-m", "daemon"],
        {"PYTHONPATH": os.pathsep.join(filter(None, path))},
        (venv_fd, checkout_fd),
    )
    problem = _cannot_start(relayed)
    if problem is None:
        return relayed
    os.close(venv_fd)
    os.close(checkout_fd)
    return (
        f"uid {uid} cannot run autodoc from {checkout} and {sys.prefix}, even through a "
        f"descriptor (is the checkout itself closed to others?): {problem}"
    )


def _cannot_start(run_as: RunAs) -> str | None:
    """None when `autodoc --help` works that way, else the last line it printed."""
    result = subprocess.run(
        [*run_as.args, "--help"],
        env=base_env(**run_as.env),
        pass_fds=run_as.pass_fds,
        cwd="/",
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines() or [f"exit {result.returncode}"]
    return lines[-1]


def log_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON log lines of `run`, `scan` or `ingest`. Every stdout line must be one JSON
    object, and every `run.*` event must carry run_id."""
    events = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"stdout line is not JSON: {line!r}")
        assert isinstance(event, dict), line
        assert "event" in event, line
        if str(event["event"]).startswith("run."):
            assert isinstance(event.get("run_id"), int), f"run event without run_id: {line}"
        events.append(event)
    return events


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """stderr must be exactly one line, and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    return lines[0]


@dataclass
class Workspace:
    root: Path
    config: Path
    env: dict[str, str] = field(default_factory=dict)
    run_as: int | None = None  # uid (and gid) to run autodoc as

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def inbox(self) -> Path:
        return self.var / "inbox"

    @property
    def processing(self) -> Path:
        return self.inbox / ".processing"

    @property
    def failed(self) -> Path:
        return self.var / "failed"

    @property
    def blobs(self) -> Path:
        return self.var / "blobs"

    def _popen_args(self, args: Sequence[str], env: dict[str, str] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "args": [*AUTODOC, *args],
            "env": base_env(AUTODOC_CONFIG=str(self.config), **self.env, **(env or {})),
            "cwd": self.root,
            "text": True,
            "errors": "replace",
        }
        if self.run_as is not None:
            run_as = as_user(self.run_as)
            kwargs["args"] = [*run_as.args, *args]
            kwargs["env"].update(run_as.env)
            kwargs["pass_fds"] = run_as.pass_fds
        return kwargs

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        kwargs = self._popen_args(args, env)
        return subprocess.run(capture_output=True, timeout=timeout, check=False, **kwargs)

    def run_many(self, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
        """Several read-only commands at once (each costs ~0.7 s of interpreter start-up)."""
        procs = [
            subprocess.Popen(
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **self._popen_args(c, None)
            )
            for c in commands
        ]
        results = []
        try:
            for proc in procs:
                out, err = proc.communicate(timeout=TIMEOUT)
                results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        return results

    def run_batch(self, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
        """Commands that fail or exit before doing any work (--help, usage and config errors)
        run through the CLI's main() one after another in ONE child interpreter, which saves
        the ~0.7 s start-up of each. Every other test runs the console script itself."""
        kwargs = self._popen_args([], None)
        kwargs["args"] = [
            sys.executable,
            "-c",
            _BATCH_DRIVER,
            json.dumps(list(map(list, commands))),
        ]
        result = subprocess.run(capture_output=True, timeout=TIMEOUT, check=False, **kwargs)
        assert result.returncode == 0, result.stderr
        return [
            subprocess.CompletedProcess(["autodoc", *c], r["code"], r["stdout"], r["stderr"])
            for c, r in zip(commands, json.loads(result.stdout), strict=True)
        ]

    def popen(self, *args: str, stdout: Any, stderr: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(stdout=stdout, stderr=stderr, **self._popen_args(args, None))

    # -- files -----------------------------------------------------------------------------

    def drop(self, upload_type: str, name: str | bytes, data: bytes, feeder: str = "") -> Path:
        """Publish a file atomically (write a dot-file, rename into place), as rsync does."""
        folder = self.inbox / upload_type / feeder if feeder else self.inbox / upload_type
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".incoming.tmp"
        tmp.write_bytes(data)
        target = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
        os.rename(tmp, target)
        return target

    def scan(self) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        result = self.run("scan")
        return result, log_events(result.stdout)

    def runs(self, *extra: str) -> list[dict[str, Any]]:
        result = self.run("runs", "list", "--json", "--limit", "0", *extra)
        assert result.returncode == 0, result.stderr
        runs: list[dict[str, Any]] = json.loads(result.stdout)
        return runs

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json")
        assert result.returncode == 0, result.stderr
        status: dict[str, Any] = json.loads(result.stdout)
        return status

    def blob_files(self) -> list[Path]:
        return sorted(p for p in (self.blobs / "sha256").rglob("*") if p.is_file())

    def failed_files(self) -> list[Path]:
        if not self.failed.exists():
            return []
        return sorted(p for p in self.failed.rglob("*") if p.is_file())

    def chown(self, uid: int) -> None:
        for folder, dirs, files in os.walk(self.root):
            os.chown(folder, uid, uid)
            for name in dirs + files:
                os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once by `autodoc db upgrade`; workspaces get a copy."""
    folder = tmp_path_factory.mktemp("template")
    config = write_workspace_config(folder)
    result = subprocess.run(
        [*AUTODOC, "db", "upgrade"],
        env=base_env(AUTODOC_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    db = folder / "var" / "autodoc.db"
    assert db.is_file()
    return db


@pytest.fixture
def make_workspace(
    migrated_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Workspace]:
    return workspace_factory(migrated_db, tmp_path_factory)


def workspace_factory(
    migrated_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Workspace]:
    def make(*, root: Path | None = None, migrated: bool = True, **config: str) -> Workspace:
        root = root or tmp_path_factory.mktemp("ws")
        (root / "var").mkdir(parents=True, exist_ok=True)
        if migrated and "database_url" not in config:
            for suffix in ("", "-wal", "-shm"):
                src = migrated_db.with_name(migrated_db.name + suffix)
                if src.exists():
                    shutil.copyfile(src, root / "var" / src.name)
        ws = Workspace(root, write_workspace_config(root, **config))
        for upload_type in UPLOAD_TYPES:
            (ws.inbox / upload_type).mkdir(parents=True, exist_ok=True)
        return ws

    return make


@pytest.fixture
def workspace(make_workspace: Callable[..., Workspace]) -> Workspace:
    return make_workspace()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's base temp folder is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="autodoc-e2e-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def free_tcp_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
