"""A deployment server's etc/ tree (deployment-apps, serverclass.conf), as an archive."""

from __future__ import annotations

from daemon.domain import UploadType
from daemon.handlers.formats import require_archive

UPLOAD_TYPE = UploadType.DS_ETC


def validate(head: bytes) -> None:
    require_archive(head, UPLOAD_TYPE.value)
