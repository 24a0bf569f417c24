"""The Splunk .conf grammar (SPLUNK_CONF.md, "File grammar"): bytes in, `ParsedConf` out.

Pure and total: no I/O, and no input raises. Whatever cannot be read as written is skipped
and reported as a `Finding` with a stable code and the 1-based line it came from:

    latin1-fallback     not valid UTF-8: decoded as Latin-1 (line of the first bad byte)
    decode-error        a UTF-16/32 file (by its BOM) with invalid code units: replaced by U+FFFD
    binary              the text holds NUL characters: a binary file, or UTF-16/32 without a BOM
    bare-cr             a CR not followed by LF: not a line break, kept as part of the line
    no-equals           a line that is neither blank, comment, header nor `key = value`
    empty-key           `= value`: kept under the empty key
    unclosed-header     a line starting `[` with no `]`
    text-after-header   something other than blanks after a header's last `]`
    continued-header    a header whose name runs over a continuation backslash
    continued-comment   a comment ends in `\\`, so it swallows the next line(s)
    eof-continuation    the last line ends in `\\` with no line left to join
    duplicate-stanza    a stanza header seen again in the same file (its settings are merged)

Choices where Splunk documents nothing: a `;` comment must start in the first column (the
rule says "lines starting with `;`", unlike `#` which may follow blanks); CR alone does not
end a line (rule 1 names LF and CRLF only), hence `bare-cr`; "blanks" before a `#` or `[` are
spaces and tabs, while keys and values are stripped of all ASCII whitespace, which includes
the newline a continuation leaves at either end of a value. The implicit global stanza keeps
line 0 even when an explicit `[default]` follows and is merged into it.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable

from daemon.conf.types import Finding, Occurrence, ParsedConf, Stanza

# Stripped from both ends of keys and values: the ASCII characters str.isspace() accepts
# (C's isspace plus the four separators 0x1c-0x1f). A newline only ever gets there when a
# continuation joined an empty line.
_BLANKS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"

# First characters that make a line something other than `key = value` (or an indented one).
_SPECIAL = frozenset("#[; \t")

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Occurrence is a frozen slots dataclass: its generated __init__ goes through
# object.__setattr__ three times, nearly 1 µs, which was a third of the parse time on a real
# corpus. Filling the slots directly builds an equal object in a third of that; the unit
# tests compare the two.
_new = object.__new__
_set_key = vars(Occurrence)["key"].__set__
_set_value = vars(Occurrence)["value"].__set__
_set_line = vars(Occurrence)["line"].__set__


def parse_conf(data: bytes, *, evidence: bool = True) -> ParsedConf:
    """Decode and parse one .conf or .meta file.

    evidence=False leaves every `Stanza.occurrences` empty, for callers that only want the
    effective values: the parse takes a third less time.
    """
    text, encoding, findings = decode(data)
    stanzas, more = parse_text(text, evidence=evidence)
    findings.extend(more)
    return ParsedConf(encoding, stanzas, findings)


def decode(data: bytes) -> tuple[str, str, list[Finding]]:
    """The text, the encoding it was read with, and findings about the bytes.

    A BOM selects UTF-8, UTF-16 or UTF-32; without one the file is UTF-8, or Latin-1 when it
    is not valid UTF-8 (Latin-1 decodes any bytes, so this never fails).
    """
    findings: list[Finding] = []
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding = name
            break
    if encoding in ("utf-16", "utf-32"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            text = data.decode(encoding, errors="replace")
            findings.append(
                Finding(
                    "decode-error",
                    f"invalid {encoding} at byte {exc.start}: replaced by U+FFFD",
                    data[: exc.start].decode(encoding, errors="replace").count("\n") + 1,
                )
            )
    else:
        body = data[3:] if encoding == "utf-8-sig" else data
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = body.decode("latin-1")
            encoding = "latin-1"
            findings.append(
                Finding(
                    "latin1-fallback",
                    f"not valid UTF-8 (byte 0x{body[exc.start]:02x}): read as Latin-1",
                    body.count(b"\n", 0, exc.start) + 1,
                )
            )
    nul = text.find("\x00")
    if nul >= 0:
        findings.append(
            Finding(
                "binary",
                "NUL characters: a binary file, or UTF-16/32 without a BOM; parsed as text",
                _line_of(text, nul),
            )
        )
    return text, encoding, findings


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def parse_text(text: str, *, evidence: bool = True) -> tuple[list[Stanza], list[Finding]]:
    """The stanzas (first-seen order) and the findings of one decoded file."""
    findings: list[Finding] = []
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        cr = text.find("\r")
        if cr >= 0:
            findings.append(
                Finding(
                    "bare-cr",
                    "CR without LF is not a line break here; kept as part of the line",
                    _line_of(text, cr),
                )
            )
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()  # the text ends with a line break (or is empty): no line after it
    numbered: Iterable[tuple[int, str]]
    if "\\\n" in text or text.endswith("\\"):
        lines, numbers = _join_continuations(lines, findings)
        numbered = zip(numbers, lines, strict=True)
    else:
        numbered = enumerate(lines, 1)
    # str.strip() with no argument is the fastest, and on ASCII text strips exactly _BLANKS.
    blanks = None if text.isascii() else _BLANKS
    special = _SPECIAL

    stanzas: dict[str, Stanza] = {}
    # Settings before any header belong to the implicit global stanza, reported as `default`;
    # it is registered (first, so order 0) only once it holds a setting.
    implicit: Stanza | None
    implicit = global_stanza = Stanza("default", 0, 0)  # None once a header is seen
    settings = global_stanza.settings
    occurrences = global_stanza.occurrences
    explicit_default = False
    add_finding = findings.append
    new, set_key, set_value, set_line = _new, _set_key, _set_value, _set_line

    # The hot loop: one pass, a first-character test for the rare lines, and for the common
    # `key = value` line one partition, two strips and a dict store.
    for n, line in numbered:
        if not line:
            continue
        if (c := line[0]) in special:
            if c == ";":
                continue
            if c == " " or c == "\t":
                line = line.lstrip(" \t")
                c = line[:1]
            if c == "#":
                if "\n" in line:
                    add_finding(
                        Finding(
                            "continued-comment",
                            "comment ends in a backslash: the next line is part of the comment",
                            n,
                        )
                    )
                continue
            if c == "[":
                if line[-1] == "]" and "\n" not in line:
                    name = line[1:-1]  # the common case of _header()
                else:
                    header = _header(line, n, add_finding)
                    if header is None:
                        continue
                    name = header
                if implicit is not None:
                    if implicit.settings:
                        stanzas["default"] = implicit
                    implicit = None
                stanza = stanzas.get(name)
                if stanza is None:
                    stanza = stanzas[name] = Stanza(name, n, len(stanzas))
                elif name != "default" or explicit_default or stanza.line != 0:
                    add_finding(
                        Finding(
                            "duplicate-stanza",
                            f"[{name}] again (first at line {stanza.line}): settings merged, "
                            "later values win",
                            n,
                        )
                    )
                if name == "default":
                    explicit_default = True
                settings = stanza.settings
                occurrences = stanza.occurrences
                continue
        key, eq, value = line.partition("=")
        if not eq:
            if line.strip(blanks):
                add_finding(Finding("no-equals", "neither a setting, a header nor a comment", n))
            continue
        key = key.strip(blanks)
        if not key:
            add_finding(Finding("empty-key", "a setting with an empty key", n))
        settings[key] = value = value.strip(blanks)
        if evidence:
            occurrence = new(Occurrence)
            set_key(occurrence, key)
            set_value(occurrence, value)
            set_line(occurrence, n)
            occurrences.append(occurrence)
    if implicit is not None and implicit.settings:
        stanzas["default"] = implicit
    findings.sort(key=_by_line)
    return list(stanzas.values()), findings


def _by_line(finding: Finding) -> int:
    return finding.line


def _header(line: str, n: int, add: Callable[[Finding], object]) -> str | None:
    """The stanza name of a header line (it starts with `[`), or None and a finding."""
    end = line.rfind("]")
    if end < 0:
        add(Finding("unclosed-header", "a line starting with [ but no ]: skipped", n))
        return None
    if end + 1 < len(line) and line[end + 1 :].strip(_BLANKS):
        add(Finding("text-after-header", "text after the closing ]: line skipped", n))
        return None
    name = line[1:end]
    if "\n" in name:
        add(Finding("continued-header", "a stanza name cannot span lines: line skipped", n))
        return None
    return name


def _join_continuations(lines: list[str], findings: list[Finding]) -> tuple[list[str], list[int]]:
    """Join each line ending in a backslash with the next one, keeping a newline in place of
    the backslash; the joined line is numbered by its first line."""
    joined: list[str] = []
    numbers: list[int] = []
    parts: list[str] = []
    start = 0
    for n, line in enumerate(lines, 1):
        if line[-1:] == "\\":
            if not parts:
                start = n
            parts.append(line[:-1])
        elif parts:
            parts.append(line)
            joined.append("\n".join(parts))
            numbers.append(start)
            parts = []
        else:
            joined.append(line)
            numbers.append(n)
    if parts:
        findings.append(
            Finding(
                "eof-continuation",
                "the last line ends in a backslash with no line to join: backslash dropped",
                len(lines),
            )
        )
        joined.append("\n".join(parts))
        numbers.append(start)
    return joined, numbers
