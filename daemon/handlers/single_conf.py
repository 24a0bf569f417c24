"""One Splunk .conf file as plain text (UTF-8, a BOM-marked UTF-16/32, or Latin-1)."""

from __future__ import annotations

from daemon.domain import UploadType
from daemon.handlers.formats import text_encoding

UPLOAD_TYPE = UploadType.SINGLE_CONF


def validate(head: bytes) -> None:
    text_encoding(head)
