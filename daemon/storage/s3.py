"""Blob store on S3 or an S3-compatible server (SeaweedFS, MinIO, Ceph RGW).

The key is the content's sha256, so a file is hashed before it is sent. Whether a blob is
already stored is asked of the database, once per batch (`put_many`'s `known`); a digest it has
never seen is uploaded without asking the store. The store verifies each body itself: a PUT
carries Content-MD5 and x-amz-checksum-sha256 (each multipart part its SHA-256), so a body
that differs from what was hashed is rejected (BadDigest: UploadRejected, retried). A HEAD
after the upload only for `verify = "head"`, a store that does not check.

Small objects, probes and HEADs are signed here (sigv4, standard library) and sent over one
keep-alive connection per upload thread: botocore's request pipeline costs more CPU than such
an upload. Big files go through boto3's transfer manager (multipart, parts in parallel);
downloads too. boto3 is imported only when one of those is needed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import re
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from daemon.errors import SourceChanged, StorageUnavailable, UploadRejected
from daemon.storage import PutItem, PutResult, StoredBlob, blob_key, file_stat, hash_stream
from daemon.storage.sigv4 import Credentials, Signer, canonical_uri

if TYPE_CHECKING:
    from daemon.config import S3Config

# Files up to this size go in one PUT from memory; bigger ones through boto3's transfer manager.
SMALL_OBJECT_BYTES = 8 * 1024**2
# What the store answers when the body is not the one the checksum headers describe.
_REJECTED = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "BadChecksum"}
_RETRIED_STATUS = {500, 502, 503, 504, 429}
_ATTEMPTS = 3
_CONNECT_SECONDS, _READ_SECONDS = 10.0, 60.0
_PROBE_CONNECT_SECONDS, _PROBE_READ_SECONDS = 5.0, 10.0
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


@dataclass(frozen=True)
class _Hashed:
    index: int
    source: BinaryIO
    key: str
    digest: str
    size: int
    md5: str  # base64, for Content-MD5; "" for a file that goes multipart
    stat: tuple[int, int] | None


class S3BlobStore:
    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.verify = config.verify
        self.max_concurrency = config.max_concurrency
        self.region = config.region or "us-east-1"
        endpoint = config.endpoint_url or None
        self.description = f"s3://{self.bucket}/{self.prefix}" + (
            f" at {endpoint}" if endpoint else ""
        )
        if endpoint:
            # SeaweedFS and MinIO want path-style URLs on a bare host:port endpoint.
            parts = urlsplit(endpoint)
            self._https = parts.scheme == "https"
            self._host = parts.netloc
            self._base = parts.path.rstrip("/") + f"/{self.bucket}"
        else:
            self._https = True
            if _virtual_host_ok(self.bucket):
                self._host, self._base = f"{self.bucket}.s3.{self.region}.amazonaws.com", ""
            else:
                self._host, self._base = f"s3.{self.region}.amazonaws.com", f"/{self.bucket}"
        self._where = endpoint or f"https://{self._host}"
        self._signer = Signer(self.region)
        self._lock = threading.Lock()
        # Each thread's keep-alive connection, and the upload threads: closed with the store.
        self._connections: dict[threading.Thread, http.client.HTTPConnection] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pools: list[ThreadPoolExecutor] = []
        self._finalizer = weakref.finalize(self, _release, self._connections, self._pools)
        self._boto: dict[str, Any] = {}
        self._chain: Any = None  # botocore's credential chain, when the environment has none

    # -- the BlobStore interface -----------------------------------------------------------

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        result = self.put_many([(source, link_from)])[0]
        if isinstance(result, StoredBlob):
            return result
        assert result is not None
        raise result

    def put_many(
        self,
        items: Sequence[PutItem],
        known: Callable[[Collection[str]], Collection[str]] | None = None,
    ) -> list[PutResult]:
        """Hash every source, ask `known` once which of their keys are already stored (the
        database; without it each key is HEAD-checked), upload the rest in parallel on up to
        `max_concurrency` connections. Per item, its StoredBlob or its exception."""
        results: list[PutResult] = [None] * len(items)
        hashed: list[_Hashed] = []
        for i, (source, _link) in enumerate(items):
            try:
                hashed.append(self._hash(i, source))
            except Exception as exc:  # noqa: BLE001 - this file's problem, handed back
                results[i] = exc
        if not hashed:
            return results
        try:
            keys = {h.key for h in hashed}
            stored = set(known(keys) if known is not None else self._existing(hashed))
        except Exception as exc:  # noqa: BLE001 - every file of the batch waits for it
            for h in hashed:
                results[h.index] = exc
            return results
        first: dict[str, _Hashed] = {}
        for h in hashed:
            if h.key in stored:
                results[h.index] = StoredBlob(h.key, h.digest, h.size, created=False)
            else:
                first.setdefault(h.key, h)
        uploads = list(first.values())
        if len(uploads) == 1:
            outcomes = [self._try_upload(uploads[0])]
        else:
            outcomes = list(self._executor().map(self._try_upload, uploads))
        for h, outcome in zip(uploads, outcomes, strict=True):
            results[h.index] = outcome
        for h in hashed:  # the same content twice in one batch: uploaded once
            if results[h.index] is None:
                done = results[first[h.key].index]
                if isinstance(done, StoredBlob):
                    done = StoredBlob(h.key, h.digest, h.size, created=False)
                results[h.index] = done
        return results

    def open(self, key: str) -> BinaryIO:
        with _translate(f"download of {self._url(key)}"):
            body: BinaryIO = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body

    def size(self, key: str) -> int | None:
        status, headers, body = self._send("HEAD", key, what=f"HEAD {self._url(key)}")
        if status == 404:
            return None
        self._check(status, body, f"HEAD {self._url(key)}")
        return int(headers.get("content-length", "0"))

    def metadata(self, key: str) -> dict[str, str]:
        with _translate(f"HEAD {self._url(key)}"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return dict(head.get("Metadata", {}))

    def ping(self) -> None:
        what = f"bucket {self.bucket}"
        status, _headers, body = self._send(None, None, what=what, probe=True)
        if status == 404:
            raise StorageUnavailable(f"s3 bucket {self.bucket} does not exist")
        self._check(status, body, what)

    # -- uploads ---------------------------------------------------------------------------

    def _hash(self, index: int, source: BinaryIO) -> _Hashed:
        stat = file_stat(source)
        small = stat is None or stat[0] <= self._small_limit
        md5 = hashlib.md5(usedforsecurity=False) if small else None
        digest, size = hash_stream(source, md5.update if md5 is not None else None)
        key = blob_key(digest, self.prefix)
        encoded = base64.b64encode(md5.digest()).decode() if md5 is not None else ""
        return _Hashed(index, source, key, digest, size, encoded, stat)

    @property
    def _small_limit(self) -> int:
        return min(SMALL_OBJECT_BYTES, self.config.multipart_threshold_bytes)

    def _existing(self, hashed: Sequence[_Hashed]) -> set[str]:
        """Without a database: the keys the store already holds at the right size."""
        return {h.key for h in hashed if self.size(h.key) == h.size}

    def _try_upload(self, h: _Hashed) -> StoredBlob | Exception:
        try:
            return self._upload(h)
        except Exception as exc:  # noqa: BLE001 - this file's problem, handed back
            return exc

    def _upload(self, h: _Hashed) -> StoredBlob:
        h.source.seek(0)
        url = self._url(h.key)
        if h.md5 and h.size <= self._small_limit:
            body = h.source.read()
            if len(body) != h.size:
                raise SourceChanged(f"file changed while it was stored ({h.size} -> {len(body)})")
            headers = {"Content-MD5": h.md5, "x-amz-meta-sha256": h.digest}
            if self.verify == "checksum":
                headers["x-amz-checksum-sha256"] = _b64_of_hex(h.digest)
            if _proxied():
                self._put_by_client(h.key, body, headers)
            else:
                status, _headers, answer = self._send(
                    "PUT", h.key, body, headers, h.digest, what=f"upload of {url}"
                )
                self._check(status, answer, f"upload of {url}")
        else:
            self._put_multipart(h)
        if file_stat(h.source) != h.stat:
            raise SourceChanged("file changed while it was stored")
        if self.verify == "head":
            stored = self.size(h.key)
            if stored != h.size:
                raise StorageUnavailable(
                    f"s3 upload of {url}: HEAD says {stored} bytes, sent {h.size}"
                )
        return StoredBlob(h.key, h.digest, h.size, created=True)

    def _put_by_client(self, key: str, body: bytes, headers: dict[str, str]) -> None:
        """The same PUT through botocore (a proxy is configured: botocore honours it)."""
        extra: dict[str, str] = {"ContentMD5": headers["Content-MD5"]}
        if "x-amz-checksum-sha256" in headers:
            extra["ChecksumSHA256"] = headers["x-amz-checksum-sha256"]
        with _translate(f"upload of {self._url(key)}"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                Metadata={"sha256": headers["x-amz-meta-sha256"]},
                **extra,
            )

    def _put_multipart(self, h: _Hashed) -> None:
        extra: dict[str, Any] = {"Metadata": {"sha256": h.digest}}
        if self.verify == "checksum":
            extra["ChecksumAlgorithm"] = "SHA256"  # each part's, checked by the store
        with _translate(f"upload of {self._url(h.key)}"):
            path = _path_of(h.source)
            if path is not None:
                # By name, boto3 streams each part from the file; a file object's parts are
                # read into memory first (hundreds of MB for a multi-GB bundle).
                self.client.upload_file(
                    path, self.bucket, h.key, ExtraArgs=extra, Config=self.transfer
                )
            else:
                self.client.upload_fileobj(
                    h.source, self.bucket, h.key, ExtraArgs=extra, Config=self.transfer
                )

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="s3-put")
                self._pools.append(self._pool)
            return self._pool

    # -- requests without botocore ----------------------------------------------------------

    def _send(
        self,
        method: str | None,
        key: str | None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        payload_sha256: str = "",
        *,
        what: str,
        probe: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """One signed request (HEAD of the bucket when method is None), retried on a stale
        keep-alive connection, a dropped connection and 5xx answers (not for a probe)."""
        uri = canonical_uri(self._base + ("/" + key if key is not None else ""))
        method = method or "HEAD"
        sha = payload_sha256 or hashlib.sha256(body).hexdigest()
        attempts = 1 if probe else _ATTEMPTS
        attempt = 0
        while True:
            connection = self._probe_connection() if probe else self._connection()
            reused = connection.sock is not None
            try:
                if not reused:
                    connection.connect()
                    assert connection.sock is not None
                    connection.sock.settimeout(_PROBE_READ_SECONDS if probe else _READ_SECONDS)
                signed = self._signer.sign(
                    method, self._host, uri, headers or {}, sha, self._credentials()
                )
                connection.request(method, uri, body=body or None, headers=signed)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if reused and not probe:
                    continue  # the server closed an idle connection: a new one, at once
                attempt += 1
                if attempt < attempts:
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise StorageUnavailable(f"s3 {what} at {self._where}: {_describe(exc)}") from exc
            if probe or response.will_close:
                connection.close()
            attempt += 1
            if response.status in _RETRIED_STATUS and attempt < attempts:
                time.sleep(0.1 * 2**attempt)
                continue
            return response.status, {k.lower(): v for k, v in response.getheaders()}, answer

    def _check(self, status: int, body: bytes, what: str) -> None:
        if 200 <= status < 300:
            return
        code, message = _error_of(body)
        code = code or f"HTTP {status}"
        if code in _REJECTED:
            raise UploadRejected(f"s3 {what}: the store rejected the body ({code}: {message})")
        raise StorageUnavailable(f"s3 {what}: {code} {message}".strip())

    def _connection(self) -> http.client.HTTPConnection:
        thread = threading.current_thread()
        connection = self._connections.get(thread)
        if connection is None:
            connection = self._new_connection(_CONNECT_SECONDS)
            with self._lock:
                for gone in [t for t in self._connections if not t.is_alive()]:
                    self._connections.pop(gone).close()
                self._connections[thread] = connection
        return connection

    def close(self) -> None:
        """Close the connections and stop the upload threads (also done when collected)."""
        self._finalizer()

    def _probe_connection(self) -> http.client.HTTPConnection:
        return self._new_connection(_PROBE_CONNECT_SECONDS)

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
            return http.client.HTTPSConnection(self._host, timeout=timeout, context=context)
        return http.client.HTTPConnection(self._host, timeout=timeout)

    def _credentials(self) -> Credentials:
        """The standard AWS chain: the environment first (as botocore's chain does), then
        botocore's other providers (profile, role...), imported only then."""
        env = os.environ
        if (key := env.get("AWS_ACCESS_KEY_ID")) and (secret := env.get("AWS_SECRET_ACCESS_KEY")):
            token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN")
            return Credentials(key, secret, token)
        with self._lock:
            if self._chain is None:
                import botocore.session

                self._chain = botocore.session.get_session().get_credentials() or False
        if not self._chain:
            raise StorageUnavailable(
                f"s3 at {self._where}: no AWS credentials (environment, profile or role)"
            )
        frozen = self._chain.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    # -- boto3, for multipart uploads and downloads -----------------------------------------

    @property
    def client(self) -> Any:
        return self._boto_part("client")

    @property
    def transfer(self) -> Any:
        return self._boto_part("transfer")

    def _boto_part(self, name: str) -> Any:
        with self._lock:  # made once, by one thread
            if not self._boto:
                self._boto.update(self._make_boto())
            return self._boto[name]

    def _make_boto(self) -> dict[str, Any]:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config as BotoConfig

        endpoint = self.config.endpoint_url or None
        # A session of its own: the default one keeps the credentials it first found.
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.config.region or None,
            config=BotoConfig(
                request_checksum_calculation=self.config.checksum_mode,
                response_checksum_validation=self.config.checksum_mode,
                retries={"max_attempts": _ATTEMPTS, "mode": "standard"},
                connect_timeout=_CONNECT_SECONDS,
                read_timeout=_READ_SECONDS,
                max_pool_connections=max(10, 4 * self.max_concurrency),
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )
        transfer = TransferConfig(
            multipart_threshold=self.config.multipart_threshold_bytes,
            multipart_chunksize=self.config.multipart_chunk_bytes,
            max_concurrency=4,
            use_threads=True,
        )
        # A file object's parts are read into memory before they are sent, up to 10 by
        # default (640 MiB at 64 MiB parts): keep no more than are being sent.
        transfer.max_in_memory_upload_chunks = transfer.max_request_concurrency
        return {"client": client, "transfer": transfer}

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _release(
    connections: dict[threading.Thread, http.client.HTTPConnection],
    pools: list[ThreadPoolExecutor],
) -> None:
    for pool in pools:
        pool.shutdown(wait=False)
    for connection in list(connections.values()):
        connection.close()
    connections.clear()


def _virtual_host_ok(bucket: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket))


def _proxied() -> bool:
    """A proxy is configured: small PUTs go through botocore, which knows how to use it."""
    return any(os.environ.get(name) for name in _PROXY_VARIABLES)


def _b64_of_hex(digest: str) -> str:
    return base64.b64encode(bytes.fromhex(digest)).decode()


def _error_of(body: bytes) -> tuple[str, str]:
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>(.*?)</Code>", text, re.S)
    message = re.search(r"<Message>(.*?)</Message>", text, re.S)
    return (code.group(1).strip() if code else ""), (message.group(1).strip() if message else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _path_of(source: BinaryIO) -> str | None:
    """A name that opens the very file `source` reads (Linux /proc), or None (BytesIO)."""
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    path = f"/proc/self/fd/{fd}"
    return path if os.path.exists(path) else None


class _translate(contextlib.AbstractContextManager[None]):
    """Turn boto errors into StorageUnavailable (one line, chained); a body the store
    rejected (BadDigest) into UploadRejected."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__  # the transfer manager's wrapper around the request's error
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = error.get("Message") or code
            if code in _REJECTED:
                raise UploadRejected(
                    f"s3 {self.what}: the store rejected the body ({code}: {message})"
                ) from exc
            raise StorageUnavailable(f"s3 {self.what}: {code} {message}".strip()) from exc
        if isinstance(exc, BotoCoreError | S3UploadFailedError):
            raise StorageUnavailable(f"s3 {self.what}: {exc}") from exc
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise StorageUnavailable(f"s3 {self.what}: {exc}") from exc
