"""One module per upload type. Each validates a drop by its content, never by its name.

A handler exposes `UPLOAD_TYPE` and `validate(head)`, where `head` is the file's first
HEAD_BYTES; it raises UnsupportedFormat with a reason a person can act on.
"""

from __future__ import annotations

from types import ModuleType

from daemon.domain import UploadType
from daemon.handlers import app_bundle, ds_etc, instance_etc, inventory, single_conf

HEAD_BYTES = 64 * 1024

HANDLERS: dict[UploadType, ModuleType] = {
    module.UPLOAD_TYPE: module
    for module in (ds_etc, instance_etc, app_bundle, single_conf, inventory)
}


def validate(upload_type: UploadType, head: bytes) -> None:
    HANDLERS[upload_type].validate(head)
