"""AWS Signature Version 4 for S3 requests, with the standard library only (hmac, hashlib).

The S3 store's small PUTs and probes are signed here and sent over plain keep-alive
connections: botocore's request pipeline costs more CPU than the upload of a small bundle, and
importing it costs ~0.3 s of start-up. The algorithm is AWS's ("Signature Version 4 signing
process"); a test signs the same requests with botocore's S3SigV4Auth and compares.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def canonical_uri(path: str) -> str:
    """The request path as S3 wants it signed and sent: each byte percent-encoded except
    unreserved characters and '/', encoded once (S3 does not double-encode)."""
    return quote(path, safe="/~")


class Signer:
    """Signs requests for one region and service; the derived signing key is kept per day."""

    def __init__(self, region: str, service: str = "s3") -> None:
        self.region = region
        self.service = service
        self._lock = threading.Lock()
        self._keys: tuple[str, str, bytes] | None = None  # (secret, date, signing key)

    def _signing_key(self, secret: str, date: str) -> bytes:
        with self._lock:
            cached = self._keys
            if cached is not None and cached[0] == secret and cached[1] == date:
                return cached[2]
        key = _hmac(("AWS4" + secret).encode(), date)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        with self._lock:
            self._keys = (secret, date, key)
        return key

    def sign(
        self,
        method: str,
        host: str,
        uri: str,
        headers: Mapping[str, str],
        payload_sha256: str,
        credentials: Credentials,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """The headers to send: `headers` plus host, x-amz-date, x-amz-content-sha256, the
        session token if any, and Authorization. `uri` is already encoded (canonical_uri);
        there is no query string. Every header given is signed."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        date = stamp[:8]
        signed: dict[str, str] = {
            name.lower(): " ".join(str(v).split()) for name, v in headers.items()
        }
        signed["host"] = host
        signed["x-amz-date"] = stamp
        signed["x-amz-content-sha256"] = payload_sha256
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        signed_names = ";".join(names)
        canonical = "\n".join(
            [
                method,
                uri,
                "",  # no query string
                "".join(f"{name}:{signed[name]}\n" for name in names),
                signed_names,
                payload_sha256,
            ]
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(
            [ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = self._signing_key(credentials.secret_key, date)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        signed["authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return signed


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
