"""The standard-library SigV4 signer signs exactly as botocore's S3SigV4Auth does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from daemon.storage.sigv4 import Credentials, Signer, canonical_uri

NOW = datetime(2026, 12, 5, 17, 30, 5, tzinfo=UTC)


def botocore_authorization(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    boto = BotoCredentials(credentials.access_key, credentials.secret_key, credentials.token)
    botocore.auth.S3SigV4Auth(boto, "s3", region).add_auth(request)
    return {name.lower(): str(value) for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("key", "token", "region"),
    [
        ("sha256/ab/cd/" + "ab" * 32, None, "us-east-1"),
        ("autodoc blobs/ü+é=&?/sha256/00/11/" + "0" * 64, "a-session-token", "eu-west-3"),
    ],
    ids=["plain", "odd-prefix-and-token"],
)
def test_put_is_signed_as_botocore_signs_it(
    key: str, token: str | None, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"a small bundle" * 50
    digest = hashlib.sha256(body).hexdigest()
    headers = {
        "Content-MD5": "lSvy2mzPPS3BCeDhnnaBXg==",
        "x-amz-checksum-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "x-amz-meta-sha256": digest,
    }
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    uri = canonical_uri(f"/my-bucket/{key}")

    ours = Signer(region).sign("PUT", "127.0.0.1:8333", uri, headers, digest, credentials, NOW)
    theirs = botocore_authorization(
        "PUT", f"http://127.0.0.1:8333{uri}", headers, body, credentials, region, monkeypatch
    )

    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20261205T173005Z"
    assert ours["x-amz-content-sha256"] == theirs["x-amz-content-sha256"] == digest
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == token


def test_head_of_a_bucket_is_signed_as_botocore_signs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret")
    empty = hashlib.sha256(b"").hexdigest()

    ours = Signer("us-east-1").sign("HEAD", "s3.example:9000", "/b", {}, empty, credentials, NOW)
    theirs = botocore_authorization(
        "HEAD", "https://s3.example:9000/b", {}, b"", credentials, "us-east-1", monkeypatch
    )

    assert ours["authorization"] == theirs["authorization"]


def test_canonical_uri_encodes_each_byte_once_and_keeps_slashes() -> None:
    assert canonical_uri("/b/a b/ü/x+y=z~") == "/b/a%20b/%C3%BC/x%2By%3Dz~"
    assert canonical_uri("/b/100%") == "/b/100%25"


def test_the_signing_key_follows_the_secret_and_the_day() -> None:
    signer = Signer("us-east-1")
    one = Credentials("AKID", "one")
    two = Credentials("AKID", "two")
    headers: dict[str, str] = {}
    empty = hashlib.sha256(b"").hexdigest()

    first = signer.sign("HEAD", "h", "/b", headers, empty, one, NOW)["authorization"]
    other_secret = signer.sign("HEAD", "h", "/b", headers, empty, two, NOW)["authorization"]
    again = signer.sign("HEAD", "h", "/b", headers, empty, one, NOW)["authorization"]
    next_day = NOW.replace(day=6)
    tomorrow = signer.sign("HEAD", "h", "/b", headers, empty, one, next_day)["authorization"]

    assert first == again
    assert len({first, other_secret, tomorrow}) == 3
