"""The `autodoc` command line. Every failure ends in one line on stderr and a named exit code.

SQLAlchemy, structlog and the models are imported by the commands that use them, not here:
`autodoc conf parse` needs none of them, and they cost ~0.7 s of start-up.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import __version__
from daemon.errors import (
    RET_ITEM_FAILED,
    RET_OK,
    RET_UNAVAILABLE,
    RET_USAGE,
    AutodocError,
    ConfigError,
    Refused,
    RunNotFound,
    SchemaError,
    TransientError,
)

if TYPE_CHECKING:
    from daemon.conf.types import ParsedConf
    from daemon.config import Config
    from daemon.database import Database
    from daemon.inbox import Inbox
    from daemon.models import IngestionRun
    from daemon.pipeline import Pipeline
    from daemon.scanner import Scanner

Handler = Callable[[argparse.Namespace, "Config"], int]
OfflineHandler = Callable[[argparse.Namespace], int]  # needs no config, database or logs

DESCRIPTION = """\
splunk-autodoc collects Splunk configuration bundles dropped into an inbox folder, stores
every version in a blob store (local disk or S3) and records it in a database.

Drop files into <inbox>/<type>/ or <inbox>/<type>/<feeder>/, where <type> is one of
ds_etc, instance_etc, app_bundle, single_conf; the feeder folder becomes the run's label.
"""

EPILOG = """\
exit codes: 0 ok, 1 some item failed, 2 usage or config error, 3 database or storage unreachable
config: --config PATH, else $AUTODOC_CONFIG, else /etc/splunk-autodoc/config.toml;
        $AUTODOC_DATABASE_URL overrides [database] url
"""


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_word(argv))
    args = parser.parse_args(argv)
    offline: OfflineHandler | None = getattr(args, "offline", None)
    if not offline and not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return RET_USAGE
    try:
        if offline is not None:
            return int(offline(args))
        from daemon.config import load_config, resolve_config_path
        from daemon.logs import configure as configure_logs

        config = load_config(resolve_config_path(getattr(args, "config", None)))
        logs_to_stdout = args.command in ("run", "scan", "ingest")
        configure_logs(
            config.logging.level,
            config.logging.format,
            sys.stdout if logs_to_stdout else sys.stderr,
        )
        return int(args.handler(args, config))
    except (ConfigError, RunNotFound, SchemaError) as exc:
        return fail(exc.message, RET_USAGE)
    except TransientError as exc:
        return fail(exc.message, RET_UNAVAILABLE)
    except AutodocError as exc:
        return fail(exc.message, RET_ITEM_FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        # `autodoc runs list | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return RET_OK


def fail(message: str, code: int) -> int:
    print(f"autodoc: {message}", file=sys.stderr)
    return code


# -- commands ------------------------------------------------------------------------------


def open_database(config: Config, *, require_head: bool = True, pool_size: int = 5) -> Database:
    # Not Alembic: it costs ~0.3 s to import, for every command.
    from daemon.database import SCHEMA_REVISION, Database

    db = Database(config.database.url, pool_size)
    if require_head:
        current = db.schema_revision()
        head = SCHEMA_REVISION
        if current != head:
            raise ConfigError(
                f"the database is at revision {current or 'none (empty)'}, this version needs "
                f"{head}: run 'autodoc db upgrade' first"
            )
    return db


def build_runtime(config: Config) -> tuple[Inbox, Pipeline]:
    from daemon.inbox import Inbox
    from daemon.pipeline import Pipeline
    from daemon.storage import make_store

    # Ingest workers, parse workers and their lease renewals, the main thread.
    db = open_database(config, pool_size=config.daemon.workers + 2 * config.parse.workers + 2)
    pipeline = Pipeline(config, db, make_store(config.storage))
    return Inbox(config.inbox.path), pipeline


def make_scanner(config: Config, max_wait: float = 0.0) -> Scanner:
    from daemon.errors import InboxUnavailable
    from daemon.scanner import Scanner

    inbox, pipeline = build_runtime(config)
    try:
        inbox.ensure()
    except InboxUnavailable as exc:
        raise ConfigError(exc.message) from None  # at start-up: the operator must fix it
    settle = config.inbox.settle_seconds
    return Scanner(inbox, pipeline, config.daemon.workers, settle, max_wait=max_wait)


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from daemon.parsing import RunParser
    from daemon.service import Daemon

    scanner = make_scanner(config)  # validates the inbox at start-up
    pipeline = scanner.pipeline
    parser = RunParser(config, pipeline.db, pipeline.store) if config.parse.workers else None
    Daemon(config, scanner.inbox, pipeline, parser=parser).run()
    return RET_OK


def cmd_scan(args: argparse.Namespace, config: Config) -> int:
    from daemon.readiness import scan_max_wait

    if args.no_wait:
        max_wait = 0.0
    elif args.max_wait is not None:
        max_wait = float(args.max_wait)
    else:
        max_wait = scan_max_wait(config.inbox.settle_seconds)
    report = make_scanner(config, max_wait).scan()
    counts = f"stored {report.stored}, failed {report.failed}, deferred {report.deferred}"
    if not max_wait:
        print(f"{counts}, waiting {report.waiting} (not settled yet)", file=sys.stderr)
    else:
        print(f"{counts}, still settling {report.waiting}", file=sys.stderr)
        for path in report.settling:
            print(
                f"autodoc: {path}: still settling after {max_wait:g} s (being written?); "
                "left for the next scan",
                file=sys.stderr,
            )
    return RET_ITEM_FAILED if report.failed else RET_OK


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from daemon.inbox import check_regular
    from daemon.models import UploadType

    path = Path(args.file)
    try:
        check_regular(path.stat(), single_link=False)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except Refused as exc:
        raise ConfigError(f"{path}: not a regular file ({exc.message})") from None
    _inbox, pipeline = build_runtime(config)
    outcome = pipeline.ingest(path, UploadType(args.type), args.label)
    if outcome.result == "failed":
        print(f"autodoc: run {outcome.run_id} failed: {outcome.reason}", file=sys.stderr)
        return RET_ITEM_FAILED
    print(f"run {outcome.run_id} stored", file=sys.stderr)
    return RET_OK


def cmd_db(args: argparse.Namespace, config: Config) -> int:
    from daemon import migrate
    from daemon.database import Database

    db = Database(config.database.url)
    engine = db.engine
    action = args.db_command
    if action == "upgrade":
        migrate.upgrade(engine, args.revision)
        print(f"database at revision {migrate.current_revision(engine)}")
    elif action == "downgrade":
        migrate.downgrade(engine, args.revision)
        print(f"database at revision {migrate.current_revision(engine) or 'base (empty)'}")
    elif action == "current":
        current = migrate.current_revision(db.reader)
        head = migrate.head_revision(engine)
        print(f"{current or 'base (empty)'}{' (head)' if current == head else ''}")
    elif action == "history":
        current = migrate.current_revision(db.reader)
        for rev, down, doc in migrate.history(engine):
            mark = "  <- current" if rev == current else ""
            print(f"{down or 'base'} -> {rev}: {doc}{mark}")
    else:
        checks = migrate.check(db.reader)
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name.ljust(width)}  {c.detail}")
        if not checks[0].ok:
            return RET_UNAVAILABLE
        return RET_OK if all(c.ok for c in checks) else RET_ITEM_FAILED
    return RET_OK


def cmd_runs_list(args: argparse.Namespace, config: Config) -> int:
    from daemon.models import RunStatus, UploadType
    from daemon.render import render_table, run_to_dict

    db = open_database(config)
    runs = db.list_runs(
        status=RunStatus(args.status) if args.status else None,
        upload_type=UploadType(args.type) if args.type else None,
        limit=args.limit or None,
    )
    if args.json:
        print(json.dumps([run_to_dict(r) for r in runs], indent=2))
        return RET_OK
    print(
        render_table(
            ["ID", "CREATED (UTC)", "TYPE", "LABEL", "STATUS", "SIZE", "FILE", "NOTES"],
            [_run_row(r) for r in runs],
        )
        if runs
        else "no runs"
    )
    return RET_OK


def _run_row(run: IngestionRun) -> list[str]:
    file = run.files[0] if run.files else None
    return [
        str(run.id),
        run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        run.type.value,
        run.label or "",
        run.status.value,
        _size(file.size_bytes) if file else "",
        file.path if file else "",
        (run.notes or "").split("\n", 1)[0][:60],
    ]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)  # pragma: no cover


def cmd_runs_show(args: argparse.Namespace, config: Config) -> int:
    from daemon.conf.store import run_counts
    from daemon.render import run_to_dict

    db = open_database(config)
    run = db.get_run(args.id)
    data = run_to_dict(run)
    data["counts"] = run_counts(db.reader, run.id)
    if args.json:
        print(json.dumps(data, indent=2))
        return RET_OK
    for key in ("id", "created_at", "type", "label", "status", "notes"):
        value = data[key] if data[key] is not None else ""
        print(f"{key + ':':12}" + str(value).replace("\n", "\n" + " " * 12))
    for f in data["files"]:
        print(
            f"file:       {f['path']}\n  sha256:   {f['sha256']}\n"
            f"  size:     {f['size_bytes']} bytes\n  key:      {f['stored_object_key']}"
        )
    print("counts:     " + ", ".join(f"{n} {name}" for name, n in data["counts"].items()))
    return RET_OK


def cmd_parse(args: argparse.Namespace, config: Config) -> int:
    from daemon.models import RunStatus
    from daemon.parsing import ParseOutcome, RunParser
    from daemon.storage import make_store

    if not args.ids and not args.waiting:
        return fail("name the runs to parse (RUN_ID ...), or --waiting", RET_USAGE)
    db = open_database(config, pool_size=3)
    parser = RunParser(config, db, make_store(config.storage))
    worst = RET_OK

    def report(outcome: ParseOutcome) -> None:
        nonlocal worst
        if outcome.status == RunStatus.COMPLETE:
            counts = ", ".join(f"{n} {name}" for name, n in outcome.counts.items())
            print(f"run {outcome.run_id}: complete: {counts}", flush=True)
            return
        worst = max(worst, RET_ITEM_FAILED)
        if outcome.status == RunStatus.FAILED:
            print(f"run {outcome.run_id}: failed: {outcome.reason}", flush=True)
        else:
            print(f"run {outcome.run_id}: taken over by another process", flush=True)

    parsed = 0
    if args.waiting:
        while (outcome := parser.parse_next()) is not None:
            report(outcome)
            parsed += 1
    for run_id in args.ids:
        try:
            parser.claim(run_id, force=args.force)
        except (Refused, RunNotFound) as exc:  # this one only: go on with the others
            print(f"autodoc: {exc.message}", file=sys.stderr)
            worst = max(worst, RET_USAGE if isinstance(exc, RunNotFound) else RET_ITEM_FAILED)
            continue
        report(parser.parse_claimed(run_id))
        parsed += 1
    if not parsed and args.waiting and not args.ids:
        print("nothing to parse", file=sys.stderr)
    return worst


def cmd_stanzas(args: argparse.Namespace, config: Config) -> int:
    from daemon.conf.store import list_stanzas
    from daemon.models import RunStatus

    db = open_database(config)
    run = db.get_run(args.id)  # RunNotFound: exit 2 with one line
    if run.status in (RunStatus.PARSING, RunStatus.NORMALIZED):
        print(f"autodoc: run {run.id} is being parsed: the list may be incomplete", file=sys.stderr)
    rows = list_stanzas(db.reader, args.id, conf_type=args.conf, app=args.app, layer=args.layer)
    if args.json:
        print(json.dumps(rows, indent=2))
        return RET_OK
    if not rows:
        print("no stanzas (is the run parsed? see 'autodoc runs show ID')", file=sys.stderr)
        return RET_OK
    path = None
    for row in rows:
        if row["path"] != path:
            if path is not None:
                print()
            path = row["path"]
            where = "/".join(str(row[k]) for k in ("layer", "app", "scope") if row[k])
            print(f"# {path}  ({where})")
        print(f"[{row['name']}]")
        for key, value in row["settings"].items():
            print(f"{key} = {value}".replace("\n", "\\\n"))
    return RET_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from daemon.status import collect_status, render_status

    status = collect_status(config)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(render_status(status))
    if status["database"].get("kind") == "schema":
        return RET_USAGE
    return RET_UNAVAILABLE if not (status["database"]["ok"] and status["storage"]["ok"]) else RET_OK


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


# -- parser --------------------------------------------------------------------------------


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with only="conf", just the offline `conf` commands (their
    help reads the same), which spares `autodoc conf parse` importing the models."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $AUTODOC_CONFIG or /etc/splunk-autodoc/config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="autodoc",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str,
        handler: Handler | None,
        help_: str,
        description: str | None = None,
        parent: Any = sub,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name,
            help=help_,
            description=description or help_,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=EPILOG,
        )
        p.set_defaults(handler=handler)
        return p

    if only == "conf":
        add_conf_commands(add)
        return parser
    from daemon.models import RunStatus, UploadType

    add(
        "run",
        cmd_run,
        "run the daemon in the foreground until SIGTERM/SIGINT",
        "Run the daemon in the foreground: recover files left in <inbox>/.processing, then\n"
        "poll the inbox and ingest every ready drop, with [daemon] workers in parallel.\n"
        "Logs are JSON lines on stdout. Stops cleanly on SIGTERM or SIGINT.",
    )
    from daemon.readiness import SCAN_MAX_WAIT_SECONDS, SCAN_MAX_WAIT_SETTLES

    p = add(
        "scan",
        cmd_scan,
        "recover and ingest everything ready now, then exit",
        "Recover files left in <inbox>/.processing, ingest every drop that is ready, and exit:\n"
        "0 all stored, 1 some failed, 3 unreachable. A drop is ready once it has not been\n"
        "modified for [inbox] settle_seconds and no process has it open for writing; scan\n"
        "waits for drops still settling (a `cp` just done), up to --max-wait. Drops still\n"
        "being written then are named, left for the next scan, and do not change the exit code.",
    )
    wait = p.add_mutually_exclusive_group()
    wait.add_argument(
        "--max-wait",
        type=_non_negative,
        metavar="SECONDS",
        help="wait at most this long for drops still settling "
        f"(default: {SCAN_MAX_WAIT_SECONDS:g}, or {SCAN_MAX_WAIT_SETTLES} x settle_seconds "
        "if longer)",
    )
    wait.add_argument(
        "--no-wait",
        action="store_true",
        help="take only what has settled already; leave the rest for a later scan",
    )
    p = add(
        "ingest",
        cmd_ingest,
        "store a copy of one file from anywhere (never moved)",
        "Store a copy of FILE as a new run. The file is read, never moved or deleted.",
    )
    p.add_argument("file", metavar="FILE", help="the file to ingest")
    p.add_argument(
        "--type", required=True, choices=[t.value for t in UploadType], help="upload type"
    )
    p.add_argument("--label", type=_label, help="a label for the run (e.g. the host or feeder)")

    db = add("db", cmd_db, "manage the database schema (upgrade, downgrade, current, ...)")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = add(
        "upgrade", cmd_db, "migrate to REV (default: head; 001 is the seed's schema)", parent=db_sub
    )
    p.add_argument("revision", nargs="?", default="head", metavar="REV")
    p = add("downgrade", cmd_db, "migrate down to REV ('base' removes everything)", parent=db_sub)
    p.add_argument("revision", metavar="REV")
    add("current", cmd_db, "print the database's revision", parent=db_sub)
    add("history", cmd_db, "list the known revisions", parent=db_sub)
    add(
        "check",
        cmd_db,
        "verify connectivity, tables, columns, foreign keys, indexes and "
        "that the revision is at head",
        parent=db_sub,
    )

    runs = add("runs", cmd_runs_list, "list or show ingestion runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = add("list", cmd_runs_list, "list runs, newest first", parent=runs_sub)
    p.add_argument("--status", choices=[s.value for s in RunStatus])
    p.add_argument("--type", choices=[t.value for t in UploadType])
    p.add_argument(
        "--limit", type=_non_negative, default=50, help="at most N runs (default 50; 0 means all)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p = add("show", cmd_runs_show, "show one run and its files", parent=runs_sub)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="print a JSON object")

    p = add(
        "parse",
        cmd_parse,
        "parse stored runs now (the daemon does it by itself)",
        "Parse runs' stored bundles into stanzas and typed tables, replacing what an earlier\n"
        "parse wrote (in one transaction on PostgreSQL; on SQLite chunk by chunk while the\n"
        "run stays `parsing`): `stored -> parsing -> normalized -> complete`, or\n"
        "`failed` with the reason in notes (a corrupt archive, a bomb, a member over the\n"
        "[parse] limits). A bad .conf file never fails a run: it gives findings.\n"
        "Exit 0 when every run is complete, 1 otherwise.",
    )
    p.add_argument("ids", type=int, nargs="*", metavar="RUN_ID", help="runs to (re-)parse")
    p.add_argument(
        "--waiting",
        action="store_true",
        help="also every run waiting to be parsed (stored, or left parsing by a dead process)",
    )
    p.add_argument(
        "--force", action="store_true", help="take a run another live process is parsing"
    )
    p = add(
        "stanzas",
        cmd_stanzas,
        "list a parsed run's stanzas with where each comes from",
        "List the stanzas of a parsed run: conf type, name, app, scope (default/local),\n"
        "layer (system, app, user, deployment_app, cluster_bundle), the member path inside\n"
        "the archive, and the effective settings. With --json: a JSON array of\n"
        '  {"conf_type", "name", "app", "scope", "layer", "path", "settings"}',
    )
    p.add_argument("id", type=int, metavar="RUN_ID")
    p.add_argument("--conf", metavar="TYPE", help="only this conf type (inputs, serverclass, ...)")
    p.add_argument("--app", help="only stanzas of this app")
    p.add_argument(
        "--layer",
        choices=["system", "app", "user", "deployment_app", "cluster_bundle"],
        help="only stanzas of this layer",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")

    p = add("status", cmd_status, "backlog, claimed, failed and unroutable files, last runs")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    add_conf_commands(add)
    return parser


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


def add_conf_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
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


def _command_word(argv: Sequence[str]) -> str | None:
    """The command of an argument list (`autodoc [--config PATH] COMMAND ...`), or None."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif len(arg) > 2 and "--config".startswith(arg):  # argparse takes --conf too
            skip = True
        elif not arg.startswith("-"):
            return arg
        elif arg == "--":
            return None
    return None


def _label(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("the label is not valid UTF-8") from None
    if len(text) > 255 or "\n" in text:
        raise argparse.ArgumentTypeError("the label must be one line of at most 255 characters")
    return text


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
