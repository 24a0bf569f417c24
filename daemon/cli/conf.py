"""`autodoc conf parse FILE...`: Splunk .conf files parsed locally, with no config, database or
logs. Nothing but the stdlib at import time: this is the one command that must start fast."""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from daemon.cli.common import AddCommand
from daemon.errors import RET_ITEM_FAILED, RET_OK

if TYPE_CHECKING:
    from daemon.conf.types import ParsedConf

CONF_PARSE_DESCRIPTION = """\
Parse local Splunk .conf and .meta files and print what Splunk would read: each stanza in
the order first seen, with the effective value of every key (the last one wins; settings
before the first stanza belong to [default]), and findings for lines that were skipped or
read unusually (line, stable code, message), e.g. no-equals, text-after-header,
duplicate-stanza, latin1-fallback. Findings do not change the exit code.

Needs no config file and no database. Without --json: a readable listing; with --json: one
JSON array, compact, with one line per file holding its object:
  {"path", "encoding", "stanzas": [{"name", "line", "settings": {key: value}}],
   "findings": [{"line", "code", "message"}]}
A file that cannot be read gets one line on stderr; the others are still parsed, and the
exit code is 1.
"""


def register(add: AddCommand) -> None:
    conf = add("conf", None, "work with Splunk .conf files locally (no config, no database)")
    conf_sub = conf.add_subparsers(dest="conf_command", metavar="ACTION", required=True)
    p = add(
        "parse",
        None,
        "parse .conf/.meta files and print stanzas, effective values and findings",
        CONF_PARSE_DESCRIPTION,
        parent=conf_sub,
    )
    p.set_defaults(offline=cmd_conf_parse)
    p.add_argument("files", nargs="+", metavar="FILE", help="a .conf or .meta file")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per file")


def cmd_conf_parse(args: argparse.Namespace) -> int:
    failed = False
    out = sys.stdout
    first = True
    if args.json:
        out.write("[")
    for shown, text, error in _parse_files(args.files, args.json):
        if error is not None:
            print(f"autodoc: {shown}: {error}", file=sys.stderr)
            failed = True
            continue
        if args.json:
            out.write("\n" if first else ",\n")
        elif not first:
            out.write("\n")
        out.write(text)
        first = False
    if args.json:
        out.write("\n]\n" if not first else "]\n")
    out.flush()
    return RET_ITEM_FAILED if failed else RET_OK


# Many files are parsed by a process per core (results in order); a few, here.
PARALLEL_MIN_FILES = 64


def _parse_files(names: list[str], as_json: bool) -> Iterator[tuple[str, str, str | None]]:
    """(shown name, rendered text, error) of each file, in the order given."""
    workers = min(os.cpu_count() or 1, 8)
    if len(names) < PARALLEL_MIN_FILES or workers < 2:
        yield from (_parse_file(name, as_json) for name in names)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import daemon.conf.parser  # noqa: F401 - imported before the fork, not in each worker

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        chunk = max(1, min(64, len(names) // (workers * 8)))
        yield from pool.map(_parse_file, names, [as_json] * len(names), chunksize=chunk)


def _parse_file(name: str, as_json: bool) -> tuple[str, str, str | None]:
    from daemon.conf.parser import parse_conf

    shown = _printable(name)
    try:
        data = _read_regular(name)
    except OSError as exc:
        return shown, "", exc.strerror or str(exc)
    parsed = parse_conf(data, evidence=False)  # the occurrences are not printed
    if as_json:
        return shown, _ENCODE(_parsed_to_dict(shown, parsed)), None
    return shown, _render_parsed(shown, parsed), None


# The objects are trees built here: no cycle to look for (that check costs a tenth).
_ENCODE = json.JSONEncoder(check_circular=False).encode


def _read_regular(name: str) -> bytes:
    """The bytes of a regular file. Opened without blocking and checked before reading, so a
    FIFO or a device is refused instead of hanging the command."""
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        data = os.read(fd, st.st_size + 1)
        if len(data) <= st.st_size:
            return data  # a short read of a regular file is its end: one read is the usual case
        chunks = [data]  # it grew meanwhile
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _printable(name: str) -> str:
    """A file name on one printable line: bad bytes become \\xNN, line breaks \\n and \\r.
    The same as daemon.inbox.printable, which would import the models (SQLAlchemy)."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _parsed_to_dict(path: str, parsed: ParsedConf) -> dict[str, Any]:
    return {
        "path": path,
        "encoding": parsed.encoding,
        "stanzas": [
            {"name": s.name, "line": s.line, "settings": s.settings} for s in parsed.stanzas
        ],
        "findings": [
            {"line": f.line, "code": f.code, "message": f.message} for f in parsed.findings
        ],
    }


def _render_parsed(path: str, parsed: ParsedConf) -> str:
    """The conf as Splunk would read it: a `# path (encoding)` line, then each stanza with its
    effective values (a multi-line value continued with a backslash), then the findings."""
    lines = [f"# {path} ({parsed.encoding})"]
    for stanza in parsed.stanzas:
        lines.append(f"[{stanza.name}]")
        lines.extend(
            f"{key} = {value}".replace("\n", "\\\n") for key, value in stanza.settings.items()
        )
    lines.extend(f"{path}:{f.line}: {f.code}: {f.message}" for f in parsed.findings)
    return "\n".join(lines) + "\n"
