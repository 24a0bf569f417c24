"""The deployment server's client list: a CSV with a header row naming known columns, or the
JSON of `/services/deployment/server/clients` (daemon.inventory reads it at parse time).

The head tells text from binary, and whether it begins like either format: a CSV's first line
names at least one of the columns; a JSON object has its `"entry": [` list near the start
(the endpoint writes only `links`, `origin`, `updated` and `generator` before it)."""

from __future__ import annotations

from daemon import inventory
from daemon.domain import UploadType
from daemon.errors import UnsupportedFormat
from daemon.handlers.formats import sniff_archive, text_encoding

UPLOAD_TYPE = UploadType.INVENTORY
EXPECTED = "inventory takes a CSV client list or the clients endpoint's JSON"


def validate(head: bytes) -> None:
    if sniff_archive(head) is not None:
        raise UnsupportedFormat(f"an archive, not a client list; {EXPECTED}")
    text_encoding(head, EXPECTED)  # refuses binary content
    encoding, bom = inventory.detect_encoding(head)
    # The head may end inside a multi-byte character.
    text = head[bom:].decode(encoding, errors="replace")
    problem = inventory.head_problem(text)
    if problem is not None:
        raise UnsupportedFormat(f"not a client list: {problem}")
