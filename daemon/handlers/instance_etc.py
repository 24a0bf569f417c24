"""Any Splunk instance's etc/ tree, as an archive."""

from __future__ import annotations

from daemon.domain import UploadType
from daemon.handlers.formats import require_archive

UPLOAD_TYPE = UploadType.INSTANCE_ETC


def validate(head: bytes) -> None:
    require_archive(head, UPLOAD_TYPE.value)
