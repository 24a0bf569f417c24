"""Blob store on S3 or an S3-compatible server (SeaweedFS, MinIO, Ceph RGW).

The key is the content's sha256, so the file is hashed before it is sent: a HEAD then tells
whether the upload can be skipped, and the second read comes from the page cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from daemon.errors import StorageUnavailable
from daemon.storage import StoredBlob, blob_key, hash_stream

if TYPE_CHECKING:
    from daemon.config import S3Config

_MISSING = {"404", "NoSuchKey", "NotFound"}
# Files up to this size go in one PUT from memory; bigger ones through boto3's transfer manager.
SMALL_OBJECT_BYTES = 8 * 1024**2
# Files of one batch stored at once by each worker: hides the round trips (HEAD, PUT, HEAD).
PUT_CONCURRENCY = 8


class S3BlobStore:
    put_concurrency = PUT_CONCURRENCY

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        endpoint = config.endpoint_url or None
        self.description = f"s3://{self.bucket}/{self.prefix}" + (
            f" at {endpoint}" if endpoint else ""
        )

        def client(attempts: int, connect: float, read: float) -> Any:
            return boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=config.region or None,
                config=BotoConfig(
                    request_checksum_calculation=config.checksum_mode,
                    response_checksum_validation=config.checksum_mode,
                    retries={"max_attempts": attempts, "mode": "standard"},
                    connect_timeout=connect,
                    read_timeout=read,
                    # Each ingest worker stores up to put_concurrency files at once.
                    max_pool_connections=max(10, 4 * PUT_CONCURRENCY),
                    # SeaweedFS and MinIO want path-style URLs on a bare host:port endpoint.
                    s3={"addressing_style": "path" if endpoint else "auto"},
                ),
            )

        self.client: Any = client(attempts=3, connect=10, read=60)
        # Health probes answer quickly, right or wrong: one attempt, short timeouts.
        self._probe_client: Any = client(attempts=1, connect=5, read=10)
        self.transfer = TransferConfig(
            multipart_threshold=config.multipart_threshold_bytes,
            multipart_chunksize=config.multipart_chunk_bytes,
            max_concurrency=4,
            use_threads=True,
        )
        # A file object's parts are read into memory before they are sent, up to 10 by
        # default (640 MiB at 64 MiB parts): keep no more than are being sent.
        self.transfer.max_in_memory_upload_chunks = self.transfer.max_request_concurrency

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        digest, size = hash_stream(source)
        key = blob_key(digest, self.prefix)
        existing = self.size(key)
        if existing == size:
            return StoredBlob(key, digest, size, created=False)
        source.seek(0)
        with _translate(f"upload of {self._url(key)}"):
            path = _path_of(source)
            if size <= min(SMALL_OBJECT_BYTES, self.config.multipart_threshold_bytes):
                # One PUT: the transfer manager's threads and futures cost more than the
                # upload of a small bundle.
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=source.read(),
                    Metadata={"sha256": digest},
                )
            elif path is not None:
                # By name, boto3 streams each part from the file; a file object's parts are
                # read into memory first (hundreds of MB for a multi-GB bundle).
                self.client.upload_file(
                    path,
                    self.bucket,
                    key,
                    ExtraArgs={"Metadata": {"sha256": digest}},
                    Config=self.transfer,
                )
            else:
                self.client.upload_fileobj(
                    source,
                    self.bucket,
                    key,
                    ExtraArgs={"Metadata": {"sha256": digest}},
                    Config=self.transfer,
                )
        stored = self.size(key)
        if stored != size:
            raise StorageUnavailable(
                f"s3 upload of {self._url(key)}: HEAD says {stored} bytes, sent {size}"
            )
        return StoredBlob(key, digest, size, created=True)

    def open(self, key: str) -> BinaryIO:
        with _translate(f"download of {self._url(key)}"):
            body: BinaryIO = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body

    def size(self, key: str) -> int | None:
        try:
            with _translate(f"HEAD {self._url(key)}", missing_ok=True):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except _Missing:
            return None
        return int(head["ContentLength"])

    def metadata(self, key: str) -> dict[str, str]:
        with _translate(f"HEAD {self._url(key)}"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return dict(head.get("Metadata", {}))

    def ping(self) -> None:
        try:
            with _translate(f"bucket {self.bucket}", missing_ok=True):
                self._probe_client.head_bucket(Bucket=self.bucket)
        except _Missing as missing:
            message = f"s3 bucket {self.bucket} does not exist"
            raise StorageUnavailable(message) from missing.__cause__

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _path_of(source: BinaryIO) -> str | None:
    """A name that opens the very file `source` reads (Linux /proc), or None (BytesIO)."""
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    path = f"/proc/self/fd/{fd}"
    return path if os.path.exists(path) else None


class _Missing(Exception):
    pass


class _translate:
    """Turn boto errors into StorageUnavailable (one line, chained); 404 into _Missing."""

    def __init__(self, what: str, missing_ok: bool = False) -> None:
        self.what = what
        self.missing_ok = missing_ok

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if self.missing_ok and code in _MISSING:
                raise _Missing from exc
            message = exc.response.get("Error", {}).get("Message") or code
            raise StorageUnavailable(f"s3 {self.what}: {code} {message}".strip()) from exc
        if isinstance(exc, BotoCoreError):
            raise StorageUnavailable(f"s3 {self.what}: {exc}") from exc
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise StorageUnavailable(f"s3 {self.what}: {exc}") from exc
