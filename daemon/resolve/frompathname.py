"""`whitelist.from_pathname` / `blacklist.from_pathname`: list entries read from a file of
the DS bundle, optionally a CSV column selected by `select_field` and filtered by
`where_field` / `where_equals` (serverclass.conf.spec).

The entries are patterns like `whitelist.<n>` and a union with them. Anything that keeps us
from reading the list exactly (file not in the bundle, a column the header lacks, a
where_equals RE2 refuses, a CSV Python's reader rejects, settings the spec forbids together)
leaves it *unresolved*: the caller answers `unknown` for every host it could change, with
UNRESOLVED_FROM_PATHNAME. A file is never half read.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from daemon.resolve.estate import FileUnreadable
from daemon.resolve.locations import bundle_candidates
from daemon.resolve.patterns import Unsafe, compile_pattern
from daemon.resolve.types import Evidence, Setting


@dataclass(frozen=True, slots=True)
class FromPathname:
    key: str  # "whitelist.from_pathname"
    path: str  # as written
    evidence: Evidence  # of the from_pathname setting
    file: str | None = None  # where it was found in the bundle
    entries: tuple[tuple[str, int], ...] = ()  # (pattern, 1-based line of the file)
    unresolved: str | None = None  # why the entries are unknown; None: read


def from_pathname(
    list_name: str, settings: Mapping[str, Setting], read_file: Callable[[str], bytes | None]
) -> FromPathname | None:
    """The entries `<list_name>.from_pathname` adds at this stanza, None when it has none.

    serverclass.conf.spec: "If used by itself, <pathname> specifies a plain text file where
    one <clientName>, <IP address>, or <hostname> is given per line. [...] The <pathname>
    is relative to $SPLUNK_HOME."
    """
    key = f"{list_name}.from_pathname"
    if key not in settings:
        return None
    path, evidence = settings[key]
    select = _get(settings, f"{list_name}.select_field")
    where = _get(settings, f"{list_name}.where_field")
    equals = _get(settings, f"{list_name}.where_equals")
    found = FromPathname(key, path, evidence)

    data, file = None, None
    for candidate in bundle_candidates(path):
        if not candidate or ".." in candidate.split("/"):
            continue  # outside the bundle: never looked up
        try:
            data = read_file(candidate)
        except FileUnreadable as exc:
            return _unresolved(FromPathname(key, path, evidence, candidate), str(exc))
        if data is not None:
            file = candidate
            break
    if data is None:
        return _unresolved(found, f"{path!r} is not in the DS bundle")
    found = FromPathname(key, path, evidence, file)
    text = _decode(data)

    if select is None:
        if where is not None or equals is not None:
            return _unresolved(found, "where_field/where_equals need a select_field")
        entries = tuple(
            (line.strip(), number)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        )
        return FromPathname(key, path, evidence, file, entries)
    if (where is None) != (equals is None):
        return _unresolved(found, "where_field and where_equals go together")
    try:
        entries = _select_csv(text, select, where, equals)
    except _Unreadable as exc:
        return _unresolved(found, str(exc))
    return FromPathname(key, path, evidence, file, entries)


class _Unreadable(Exception):
    pass


def _select_csv(
    text: str, select: str, where: str | None, equals: str | None
) -> tuple[tuple[str, int], ...]:
    # "If you provide a <positive integer>, it specifies the column number, starting at 1
    # [...] the first line of the CSV file must not be a header line." "select_field and
    # where_field must be specified the same way, either both by name or both by number."
    by_number = select.isdigit()
    if where is not None and where.isdigit() != by_number:
        raise _Unreadable("select_field and where_field mix a name and a number")
    patterns = []
    for item in (equals or "").split(","):
        if item.strip():
            compiled = compile_pattern(item.strip())
            if isinstance(compiled, Unsafe):
                raise _Unreadable(f"where_equals {item.strip()!r}: {compiled.reason}")
            patterns.append(compiled)
    reader = csv.reader(text.splitlines())
    try:
        if by_number:
            column = int(select) - 1
            where_column = int(where) - 1 if where is not None else None
            if column < 0 or (where_column is not None and where_column < 0):
                raise _Unreadable("a column number starts at 1")
        else:
            header = next(reader, None)
            if header is None:
                raise _Unreadable("an empty CSV has no header line")
            names = [name.strip() for name in header]
            # "Field names are case-sensitive."
            if select not in names or (where is not None and where not in names):
                missing = select if select not in names else where
                raise _Unreadable(f"the header has no field {missing!r}")
            column = names.index(select)
            where_column = names.index(where) if where is not None else None
        entries = []
        for row in reader:
            if where_column is not None:
                cell = row[where_column].strip() if where_column < len(row) else ""
                if not any(p.fullmatch(cell) for p in patterns):
                    continue
            value = row[column].strip() if column < len(row) else ""
            if value:
                entries.append((value, reader.line_num))
    except csv.Error as exc:
        raise _Unreadable(f"not a readable CSV: {exc}") from exc
    return tuple(entries)


def _get(settings: Mapping[str, Setting], key: str) -> str | None:
    setting = settings.get(key)
    return setting[0].strip() if setting is not None else None


def _decode(data: bytes) -> str:
    """The list as text; NUL becomes U+FFFD, as in the parsed .conf files (a database's text
    cannot hold it, and a finding quoting an entry would be lost with it)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\x00", "\ufffd")


def _unresolved(found: FromPathname, reason: str) -> FromPathname:
    return FromPathname(found.key, found.path, found.evidence, found.file, (), reason)
