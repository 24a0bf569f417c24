"""`autodoc db upgrade|downgrade|current|history|check`: the database schema."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand
from daemon.errors import RET_ITEM_FAILED, RET_OK, RET_UNAVAILABLE

if TYPE_CHECKING:
    from daemon.config import Config


def register(add: AddCommand) -> None:
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
