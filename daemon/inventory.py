"""The deployment server's client list (an `inventory` run, RESOLVER.md §1): a CSV with a header
row, or the JSON of `/services/deployment/server/clients`, read as a stream into host rows and
findings.

Pure: a binary stream in, `HostRow`s and `Finding`s out, in file order, so that the caller
writes them in chunks. Memory stays bounded whatever the file holds: the text is read in
64 KiB chunks, a CSV line (or record) and a JSON entry are each held alone and capped, and
what is counted is what was read, never a declared size. A bad row is a finding; a bomb, a
broken document or a file without one usable row raises `InventoryRejected`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from daemon.conf.types import Finding
from daemon.errors import PermanentError

# Header names (case-insensitive) and the inventory_rows column each fills.
COLUMNS: dict[str, str] = {
    "clientname": "client_name",
    "hostname": "hostname",
    "ip": "ip",
    "dns": "dns",
    "guid": "guid",
    "utsname": "machine_type",
    "splunkversion": "splunk_version",
    "role": "role",
}
IDENTITY = ("client_name", "hostname", "ip", "dns", "guid")
COLUMN_NAMES = "clientName, hostname, ip, dns, guid, utsname, splunkVersion, role"
# The JSON lists that hold the clients: the REST endpoint's `entry`; the `results` of a search
# (`| rest /services/deployment/server/clients`) exported as JSON.
JSON_LISTS = ("entry", "results")
CHUNK_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t")  # Excel writes `;` in locales with a decimal comma
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's
_SHOWN = 80  # characters of a bad value quoted in a finding


@dataclass(frozen=True)
class InventoryLimits:
    """Bounds on what one inventory may make the parser read and hold.

    A real client list is small: a few hundred bytes a client in CSV, a few kB in the
    endpoint's JSON (its `applications` and `serverClasses`), and a deployment server serves
    some tens of thousands of clients at most."""

    max_record_chars: int = 1024 * 1024  # one CSV line or record, one JSON entry or value
    max_columns: int = 10_000  # in the header (`| table *` flattens every app into columns)
    max_rows: int = 200_000  # data rows read, bad and blank ones included
    max_total_bytes: int = 1024**3  # of the file, as read


DEFAULT_LIMITS = InventoryLimits()


class InventoryRejected(PermanentError):
    """The inventory cannot be read."""


@dataclass(frozen=True, slots=True)
class HostRow:
    """One usable row: a host as the deployment server knows it (`inventory_rows`)."""

    row_number: int  # 1-based, the header excluded (a CSV's blank lines count)
    client_name: str | None = None
    hostname: str | None = None
    ip: str | None = None
    dns: str | None = None
    guid: str | None = None
    machine_type: str | None = None  # utsname
    splunk_version: str | None = None
    role: str | None = None

    def values(self) -> tuple[str | None, ...]:
        """The fields after row_number, in column order."""
        return (
            self.client_name,
            self.hostname,
            self.ip,
            self.dns,
            self.guid,
            self.machine_type,
            self.splunk_version,
            self.role,
        )


FIELDS = tuple(name for name in HostRow.__dataclass_fields__ if name != "row_number")


def read_inventory(
    stream: BinaryIO, *, name: str | None = None, limits: InventoryLimits = DEFAULT_LIMITS
) -> Iterator[HostRow | Finding]:
    """The rows and findings of a client list, in file order; `name` goes in the findings.

    Raises InventoryRejected (a PermanentError) for a file over the limits, a CSV without a
    usable header, a broken JSON document, or when no row is usable, after what was read so
    far has been yielded."""
    text = _Text(stream, limits)
    chunks = text.chunks()
    first = _first_text(chunks)
    if first is None:
        raise InventoryRejected("the file holds nothing but white space")
    rows = _Rows(name, limits)
    if first[0] in "{[":
        yield from _read_json(_JsonStream(_prepend(first, chunks), limits), rows)
    else:
        yield from _read_csv(_prepend(first, chunks), rows, limits)
    if text.decoder.replaced:
        yield Finding(
            "inventory-undecodable",
            f"bytes that are not {text.decoder.encoding} were replaced by U+FFFD",
            0,
            name,
        )
    rows.finish()


def head_problem(text: str) -> str | None:
    """Why the first characters of a file (decoded) cannot begin a client list; None when
    they can. The parser decides the rest."""
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        return "nothing but white space"
    line = body.split("\n", 1)[0]
    if body[0] == "[":
        rest = body[1:].lstrip()
        if rest and rest[0] not in "{]":
            return (
                f"neither a CSV header naming {COLUMN_NAMES} nor a JSON array of objects "
                f"(first line: {_show(line.rstrip())})"
            )
        return None
    if body[0] == "{":
        if re.search(r'"(?:entry|results)"\s*:\s*\[', body) is None:
            return (
                'a JSON object without an "entry" list near its start: not the output of '
                "/services/deployment/server/clients?output_mode=json"
            )
        return None
    if not _header_delimiter(line)[1]:
        return (
            f"the first line names none of the columns {COLUMN_NAMES}; a CSV needs a header "
            f"row (first line: {_show(line)})"
        )
    return None


# -- text ------------------------------------------------------------------------------------


def detect_encoding(head: bytes) -> tuple[str, int]:
    """The encoding of a file from its first bytes, and the length of its byte-order mark:
    a BOM's, else UTF-8 when the head decodes as UTF-8, else Latin-1 (an Excel export)."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return encoding, len(bom)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "latin-1", 0
    return "utf-8", 0


class _Decoder:
    """Bytes to text; what does not decode becomes U+FFFD, and `replaced` says it happened."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.replaced = False
        self._pending = b""
        self._other = codecs.getincrementaldecoder(encoding)("replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        if self.encoding != "utf-8":
            return self._other.decode(data, final)
        data = self._pending + data
        try:
            text, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError:
            text, used = codecs.utf_8_decode(data, "replace", final)
            self.replaced = True
        self._pending = data[used:]
        return text


class _Text:
    """The stream as text chunks, counting the bytes read against max_total_bytes."""

    def __init__(self, stream: BinaryIO, limits: InventoryLimits) -> None:
        self.stream = stream
        self.limits = limits
        self.decoder = _Decoder("utf-8")

    def chunks(self) -> Iterator[str]:
        total = 0
        first = True
        while data := self.stream.read(CHUNK_BYTES):
            total += len(data)
            if total > self.limits.max_total_bytes:
                raise InventoryRejected(
                    f"more than {_size(self.limits.max_total_bytes)} read: over the limit for "
                    "a client list"
                )
            if first:
                encoding, bom = detect_encoding(data)
                self.decoder = _Decoder(encoding)
                data = data[bom:]
                first = False
            if text := self.decoder.decode(data):
                yield text
        if tail := self.decoder.decode(b"", final=True):
            yield tail


def _first_text(chunks: Iterator[str]) -> str | None:
    """The first chunk with something but white space in it, from that character on."""
    for chunk in chunks:
        stripped = chunk.lstrip("\ufeff \t\r\n")
        if stripped:
            return stripped
    return None


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


# -- rows ------------------------------------------------------------------------------------


class _Rows:
    """What CSV and JSON rows share: the row limit, normalization, the checks, duplicates."""

    def __init__(self, name: str | None, limits: InventoryLimits) -> None:
        self.name = name
        self.limits = limits
        self.read = 0
        self.usable = 0
        self.first_problem: str | None = None
        # 16-byte digests of the rows taken (not the rows): 200,000 rows hold ~20 MB.
        self.seen: dict[bytes, int] = {}

    def count(self) -> None:
        """One more data row read (a CSV's blank lines included)."""
        self.read += 1
        if self.read > self.limits.max_rows:
            raise InventoryRejected(
                f"more than {self.limits.max_rows:,} rows: over the limit for a client list"
            )

    def finding(self, code: str, message: str, row: int, line: int | None = None) -> Finding:
        """A finding about data row `row`, at file line `line` (a CSV's; a JSON entry has
        none, its number stands in)."""
        if self.first_problem is None:
            self.first_problem = f"row {row}: {message}" if row else message
        return Finding(code, message, row if line is None else line, self.name)

    def take(
        self, row: int, values: dict[str, str | None], line: int | None = None
    ) -> Iterator[HostRow | Finding]:
        """The row, or the findings that say why it is not taken."""
        ip = values.get("ip")
        if ip is not None and not _is_ip(ip):
            yield self.finding(
                "inventory-bad-ip", f"ip {_show(ip)} is not an IP address; ignored", row, line
            )
            values["ip"] = None
        if not any(values.get(field) for field in IDENTITY):
            yield self.finding(
                "inventory-no-identity",
                "no clientName, hostname, ip, dns or guid: row skipped",
                row,
                line,
            )
            return
        host = HostRow(row, **values)
        key = "\x1f".join((v or "").lower() for v in host.values())
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        earlier = self.seen.setdefault(digest, row)
        if earlier != row:
            yield self.finding(
                "inventory-duplicate-row",
                f"the same host as row {earlier}: row skipped",
                row,
                line,
            )
            return
        self.usable += 1
        yield host

    def finish(self) -> None:
        if self.usable:
            return
        if not self.read or self.first_problem is None:
            raise InventoryRejected("no usable row: the client list has no rows")
        raise InventoryRejected(
            f"no usable row: none of the {self.read:,} rows names a host "
            f"(first problem: {self.first_problem})"
        )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _clean(value: str) -> str | None:
    value = value.strip()
    return value or None


def _show(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


# -- CSV -------------------------------------------------------------------------------------


def _header_delimiter(line: str) -> tuple[str, int]:
    """The delimiter under which `line` names the most known columns, and how many."""
    best = (",", 0)
    for delimiter in _DELIMITERS:
        try:
            names = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        known = sum(1 for n in names if n.strip().lower() in COLUMNS)
        if known > best[1]:
            best = (delimiter, known)
    return best


class _Lines:
    """Physical lines (with their `\\n`) for csv.reader, none longer than max_record_chars,
    and no record either: csv.reader joins lines while a quoted field is open, so the
    consumer sets `record_chars` back to 0 after each record."""

    def __init__(self, chunks: Iterator[str], limit: int) -> None:
        self.chunks = chunks
        self.limit = limit
        self.record_chars = 0
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        pending = ""
        for chunk in self.chunks:
            parts = (pending + chunk).split("\n")
            pending = parts.pop()
            for part in parts:
                yield self._counted(part + "\n")
            if len(pending) > self.limit:
                self.line += 1
                self._too_long("line")
        if pending:
            yield self._counted(pending)

    def _counted(self, line: str) -> str:
        self.line += 1
        if len(line) > self.limit:
            self._too_long("line")
        self.record_chars += len(line)
        if self.record_chars > self.limit:
            self._too_long("record (a quoted field left open?) ending on line")
        return line

    def _too_long(self, what: str) -> None:
        raise InventoryRejected(
            f"{what} {self.line} is longer than {self.limit:,} characters: a CSV bomb, or not "
            "a client list"
        )


def _read_csv(
    chunks: Iterator[str], rows: _Rows, limits: InventoryLimits
) -> Iterator[HostRow | Finding]:
    lines = _Lines(chunks, limits.max_record_chars)
    physical = iter(lines)
    first = next(physical)
    delimiter, known = _header_delimiter(first.rstrip("\r\n"))
    reader = csv.reader(_prepend(first, physical), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InventoryRejected(f"the header row cannot be read: {exc}") from None
    lines.record_chars = 0
    if len(header) > limits.max_columns:
        raise InventoryRejected(
            f"the header has {len(header):,} columns, over the limit of {limits.max_columns:,}"
        )
    columns, findings = _columns(header, rows)
    if not known or not columns:
        raise InventoryRejected(
            f"the first line names none of the columns {COLUMN_NAMES}; a CSV needs a header "
            f"row (first line: {_show(first.rstrip())})"
        )
    if not set(columns.values()) & set(IDENTITY):
        raise InventoryRejected(
            "no usable row: the header names none of clientName, hostname, ip, dns, guid"
        )
    yield from findings
    width = len(header)
    row = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            lines.record_chars = 0
            row += 1
            rows.count()
            yield rows.finding("inventory-bad-csv", f"{exc}; row skipped", row, lines.line)
            continue
        lines.record_chars = 0
        row += 1
        # Blank lines count too: a file of nothing but line breaks costs as much per line.
        rows.count()
        if not any(field.strip() for field in record):
            continue  # a blank line, or one of empty fields (spreadsheets add them)
        if len(record) != width:
            yield rows.finding(
                "inventory-column-count",
                f"{len(record)} fields where the header has {width}: row skipped",
                row,
                lines.line,
            )
            continue
        values = {field: _clean(record[i]) for i, field in columns.items()}
        yield from rows.take(row, values, lines.line)


def _columns(header: list[str], rows: _Rows) -> tuple[dict[int, str], list[Finding]]:
    """{position: field} of the known columns (the first of a repeated one) and findings."""
    columns: dict[int, str] = {}
    findings: list[Finding] = []
    ignored: list[str] = []
    for i, raw in enumerate(header):
        field = COLUMNS.get(raw.strip().lower())
        if field is None:
            ignored.append(raw.strip())
        elif field in columns.values():
            findings.append(
                Finding(
                    "inventory-duplicate-column",
                    f"column {i + 1} ({_show(raw)}) repeats an earlier one; ignored",
                    0,
                    rows.name,
                )
            )
        else:
            columns[i] = field
    if ignored:
        shown = ", ".join(_show(n) for n in ignored[:20])
        more = f" and {len(ignored) - 20:,} more" if len(ignored) > 20 else ""
        findings.append(
            Finding("inventory-ignored-columns", f"columns ignored: {shown}{more}", 0, rows.name)
        )
    return columns, findings


# -- JSON ------------------------------------------------------------------------------------


class _JsonStream:
    """A JSON document read value by value from text chunks: the clients' list is walked
    entry by entry, each decoded alone, so the document is never held whole. A value longer
    than max_record_chars is refused."""

    def __init__(self, chunks: Iterator[str], limits: InventoryLimits) -> None:
        self.chunks = chunks
        self.limit = limits.max_record_chars
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped before buf
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.offset += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            match = _WHITESPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            expected = " or ".join(repr(c) for c in chars)
            raise self.broken(f"expected {expected}, found {_show(found) if found else 'the end'}")
        self.pos += 1
        return found

    def value(self, what: str) -> Any:
        """The next value. A value that ends where the buffer ends may go on in the next
        chunk (a number, a truncated object), so it is taken only with more behind it."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.broken(f"{what}: {exc.msg}") from None
                error = exc.msg
            except RecursionError:  # arrays in arrays in ... within the size limit
                raise self.broken(f"{what} is nested too deeply") from None
            else:
                if end - self.pos > self.limit:
                    error = f"{end - self.pos:,} characters"
                elif end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
                else:
                    error = "cut short"
            if len(self.buf) - self.pos > self.limit:
                raise InventoryRejected(
                    f"{what} (at character {self.offset + self.pos:,}) is not a JSON value "
                    f"within {self.limit:,} characters ({error}): over the limit for one "
                    "client, or not a client list"
                )
            self._more()

    def broken(self, message: str) -> InventoryRejected:
        where = self.offset + self.pos
        return InventoryRejected(f"not a valid JSON document at character {where:,}: {message}")


def _read_json(stream: _JsonStream, rows: _Rows) -> Iterator[HostRow | Finding]:
    if stream.expect("{[") == "[":
        yield from _entries(stream, rows)
    else:
        found = False
        if stream.peek() == "}":
            stream.pos += 1
        else:
            while True:
                key = stream.value("a key")
                if not isinstance(key, str):
                    raise stream.broken("an object key that is not a string")
                stream.expect(":")
                if key in JSON_LISTS and not found and stream.peek() == "[":
                    stream.expect("[")
                    found = True
                    yield from _entries(stream, rows)
                else:
                    stream.value(f"the value of {_show(key)}")  # links, paging, messages...
                if stream.expect(",}") == "}":
                    break
        if not found:
            raise InventoryRejected(
                'no usable row: a JSON object without an "entry" list, not the output of '
                "/services/deployment/server/clients?output_mode=json"
            )
    if stream.peek():
        raise stream.broken("more after the end of the document")


def _entries(stream: _JsonStream, rows: _Rows) -> Iterator[HostRow | Finding]:
    """The entries of the list whose `[` was just read, up to and with its `]`."""
    if stream.peek() == "]":
        stream.pos += 1
        return
    number = 0
    while True:
        number += 1
        entry = stream.value(f"entry {number}")
        rows.count()
        yield from _entry(entry, number, rows)
        if stream.expect(",]") == "]":
            return


def _entry(entry: Any, number: int, rows: _Rows) -> Iterator[HostRow | Finding]:
    # The endpoint's entries hold the fields in `content`; search results are flat.
    content = entry.get("content", entry) if isinstance(entry, dict) else entry
    if not isinstance(content, dict):
        kind = type(content).__name__
        yield rows.finding("inventory-bad-entry", f"a JSON {kind}, not an object: skipped", number)
        return
    values: dict[str, str | None] = {}
    for key, raw in content.items():
        field = COLUMNS.get(key.lower())
        if field is None or field in values:
            continue
        value, problem = _json_value(raw)
        if problem:
            yield rows.finding("inventory-bad-value", f"{key} is {problem}; ignored", number)
        values[field] = value
    yield from rows.take(number, values)


def _json_value(raw: Any) -> tuple[str | None, str]:
    """A field's text, or None and why it is not one."""
    if raw is None:
        return None, ""
    if isinstance(raw, str):
        return _clean(raw), ""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw), ""
    return None, f"a JSON {type(raw).__name__}, not a single value"
