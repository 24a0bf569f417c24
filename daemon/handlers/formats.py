"""Recognising archive formats and text by their first bytes."""

from __future__ import annotations

import codecs

from daemon.errors import UnsupportedFormat

ARCHIVE_FORMATS = ("tar", "tar.gz", "tar.bz2", "tar.xz", "zip")


def sniff_archive(head: bytes) -> str | None:
    """The archive format the magic bytes announce, or None."""
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "tar.bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # the latter: an empty zip
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def require_archive(head: bytes, what: str) -> str:
    fmt = sniff_archive(head)
    if fmt is None:
        raise UnsupportedFormat(
            f"not an archive: {what} must be tar, tar.gz/tgz, tar.bz2, tar.xz or zip "
            f"(first bytes {head[:8].hex(' ')})"
        )
    return fmt


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters that never appear in a text file (tab, LF, FF, CR are fine).
_BINARY_CONTROLS = frozenset(range(0x00, 0x09)) | {0x0B} | frozenset(range(0x0E, 0x20))


def text_encoding(head: bytes, expected: str = "single_conf takes one .conf text file") -> str:
    """The encoding a .conf file decodes with, or UnsupportedFormat when it is binary
    (`expected` says what the folder takes).

    Splunk decodes UTF-8, honours BOMs, and real add-ons ship Latin-1 files.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            try:
                text = head[len(bom) :].decode(encoding, errors="strict")
            except UnicodeDecodeError:
                # The head may cut a multi-byte character in two.
                text = head[len(bom) : -4].decode(encoding, errors="replace")
            _require_text(text, encoding, expected)
            return encoding
    if sniff_archive(head) is not None:
        raise UnsupportedFormat(
            "an archive, not a .conf text file; drop it in an etc or app folder"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=False)
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = head.decode("latin-1")
        encoding = "latin-1"
    _require_text(text, encoding, expected)
    return encoding


def _require_text(text: str, encoding: str, expected: str) -> None:
    bad = sum(1 for ch in text if ord(ch) in _BINARY_CONTROLS)
    if bad:
        raise UnsupportedFormat(
            f"binary content: {bad} control byte(s) in the first {len(text)} characters "
            f"(read as {encoding}); {expected}"
        )
