"""The `autodoc` command line. Every failure ends in one line on stderr and a named exit code.

Each command group is a module here with a `register(add)` function: `ingest` (run, scan,
ingest), `db`, `runs` (runs, parse, stanzas), `status`, `estate` (resolve, hosts, host,
paths, findings, btool), `docs` (docs build, diff, preview), `conf` (conf parse,
offline).
SQLAlchemy, structlog and the models are imported by the commands that use them, not here:
`autodoc conf parse` needs none of them, and they cost ~0.7 s of start-up.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from daemon import __version__
from daemon.cli.common import AddCommand, Handler, OfflineHandler, fail
from daemon.errors import (
    RET_ITEM_FAILED,
    RET_OK,
    RET_UNAVAILABLE,
    RET_USAGE,
    AutodocError,
    ConfigError,
    RunNotFound,
    SchemaError,
    TransientError,
)

# The command groups (modules of this package), in the order `autodoc --help` lists them.
GROUPS: tuple[str, ...] = ("ingest", "db", "runs", "status", "estate", "docs", "conf")
# Groups that need no config, database or logs. When one is the command, only it is built,
# so `autodoc conf parse` imports nothing the other groups need.
OFFLINE_GROUPS: tuple[str, ...] = ("conf",)

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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with only="conf" (an offline group), just that group's
    commands (their help reads the same)."""
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

    groups = GROUPS
    if only is not None and only in OFFLINE_GROUPS:
        groups = (only,)
    for group in groups:
        _register(group, add)
    return parser


def _register(group: str, add: AddCommand) -> None:
    # Imported by name so a command loads its own group and not the others.
    importlib.import_module(f"daemon.cli.{group}").register(add)


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
