"""Page file names from names (DOCS.md): every character outside `A-Za-z0-9._-` written as
`~` and two uppercase hex digits per UTF-8 byte. Unique, reversible, and never needing URL
escaping: a literal `%` in a file name breaks `file://` links.

One exception, ours: a file name is at most 255 bytes on Linux filesystems, so a slug longer
than MAX_SLUG keeps its first part and ends in `~~` and a hash of the whole name. `~~` never
occurs in a slug of the rule (a `~` is always followed by two hex digits), so such a slug
cannot equal another name's; it is not reversible (`unslug` raises ValueError).
"""

from __future__ import annotations

import hashlib
import re

MAX_SLUG = 200  # bytes: well under a file name's 255 with ".html"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_ESCAPED = re.compile(r"(?:~[0-9A-F]{2})+")
_VALID = re.compile(r"(?:[A-Za-z0-9._-]|~[0-9A-F]{2})*")


def slug(name: str) -> str:
    """`cisco:asa` -> `cisco~3Aasa`, `~` -> `~7E`. A leading `.` is escaped too (`..` ->
    `~2E.`): a page named `.html` or `...html` is a hidden file, which web servers refuse."""
    raw = name.encode("utf-8", "surrogatepass")
    out = "".join(
        chr(b) if b in _SAFE and not (i == 0 and b == 0x2E) else f"~{b:02X}"
        for i, b in enumerate(raw)
    )
    if len(out) <= MAX_SLUG:
        return out
    digest = hashlib.sha256(raw).hexdigest()[:20]
    head = out[: MAX_SLUG - 22]
    head = head[: head.rfind("~")] if "~" in head[-2:] else head  # never cut an escape
    return f"{head}~~{digest}"


def unslug(text: str) -> str:
    """The name a slug stands for. Raises ValueError for text that is no slug (or a
    shortened one)."""
    if _VALID.fullmatch(text) is None:
        raise ValueError(f"not a slug: {text!r}")
    return _ESCAPED.sub(
        lambda m: bytes.fromhex(m.group(0).replace("~", "")).decode("utf-8", "surrogatepass"),
        text,
    )
