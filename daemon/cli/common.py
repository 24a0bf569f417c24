"""What the command groups share: the handler types, the `add` function each group registers
its commands with, one-line failures, opening the database, argument types.

Stdlib only at import time: every command loads this module, `autodoc conf parse` too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from daemon.errors import ConfigError

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.database import Database

Handler = Callable[[argparse.Namespace, "Config"], int]
OfflineHandler = Callable[[argparse.Namespace], int]  # needs no config, database or logs


class AddCommand(Protocol):
    """Adds a command (to `autodoc`, or with parent= to a group's subparsers) with the shared
    --config option and epilog; the description defaults to the one-line help."""

    def __call__(
        self,
        name: str,
        handler: Handler | None,
        help_: str,
        description: str | None = None,
        parent: Any = ...,
    ) -> argparse.ArgumentParser: ...


def fail(message: str, code: int) -> int:
    print(f"autodoc: {message}", file=sys.stderr)
    return code


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


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def splunk_version(text: str) -> str:
    """--ds-version: a version like 9.4.3 (a typo would resolve as if it were unknown)."""
    from daemon.domain import is_splunk_version

    if not is_splunk_version(text.strip()):
        raise argparse.ArgumentTypeError(f"not a Splunk version like 9.4.3: {text!r}")
    return text.strip()


def record_id(text: str) -> int:
    """A run or resolution id: a whole number a database id column can hold (one past that
    would end in a driver's OverflowError instead of 'does not exist')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"no such id: {text}")
    return value
