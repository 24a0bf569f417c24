"""`autodoc run`, `scan` and `ingest`: the daemon, and its one-shot forms that take what is in
the inbox now, or one file from anywhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand, non_negative, open_database
from daemon.errors import RET_ITEM_FAILED, RET_OK, ConfigError

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.inbox import Inbox
    from daemon.pipeline import Pipeline
    from daemon.scanner import Scanner


def register(add: AddCommand) -> None:
    from daemon.domain import UploadType  # not daemon.models: SQLAlchemy costs ~0.5 s

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
        type=non_negative,
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
    for reason in report.held:  # a blob lost from the store: someone must look
        print(f"autodoc: {reason}", file=sys.stderr)
    return RET_ITEM_FAILED if report.failed or report.held else RET_OK


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from daemon.inbox import given_file
    from daemon.models import UploadType

    path = Path(args.file)
    given_file(path)
    _inbox, pipeline = build_runtime(config)
    outcome = pipeline.ingest(path, UploadType(args.type), args.label)
    if outcome.result == "failed":
        print(f"autodoc: run {outcome.run_id} failed: {outcome.reason}", file=sys.stderr)
        return RET_ITEM_FAILED
    print(f"run {outcome.run_id} stored", file=sys.stderr)
    return RET_OK


def _label(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("the label is not valid UTF-8") from None
    if len(text) > 255 or "\n" in text:
        raise argparse.ArgumentTypeError("the label must be one line of at most 255 characters")
    return text
