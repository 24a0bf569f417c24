"""`autodoc status`: the inbox backlog, database and storage health, the last runs."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand
from daemon.errors import RET_OK, RET_UNAVAILABLE, RET_USAGE

if TYPE_CHECKING:
    from daemon.config import Config


def register(add: AddCommand) -> None:
    p = add("status", cmd_status, "backlog, claimed, failed and unroutable files, last runs")
    p.add_argument("--json", action="store_true", help="print a JSON object")


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
