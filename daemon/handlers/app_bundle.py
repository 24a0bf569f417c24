"""One Splunk app as an archive (.tgz/.tar.gz, .spl which is a tar.gz, or .zip)."""

from __future__ import annotations

from daemon.domain import UploadType
from daemon.handlers.formats import require_archive

UPLOAD_TYPE = UploadType.APP_BUNDLE


def validate(head: bytes) -> None:
    require_archive(head, UPLOAD_TYPE.value)
