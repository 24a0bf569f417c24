"""`autodoc runs list|show`, `parse` and `stanzas`: the stored runs, parsing them, and what a
parsed run holds."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand, fail, non_negative, open_database, record_id
from daemon.errors import RET_ITEM_FAILED, RET_OK, RET_USAGE, Refused, RunNotFound

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.models import IngestionRun


def register(add: AddCommand) -> None:
    from daemon.domain import RunStatus, UploadType  # not daemon.models: see ingest.py

    runs = add("runs", cmd_runs_list, "list or show ingestion runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = add("list", cmd_runs_list, "list runs, newest first", parent=runs_sub)
    p.add_argument("--status", choices=[s.value for s in RunStatus])
    p.add_argument("--type", choices=[t.value for t in UploadType])
    p.add_argument(
        "--limit", type=non_negative, default=50, help="at most N runs (default 50; 0 means all)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p = add("show", cmd_runs_show, "show one run and its files", parent=runs_sub)
    p.add_argument("id", type=record_id, metavar="ID")
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
    p.add_argument("ids", type=record_id, nargs="*", metavar="RUN_ID", help="runs to (re-)parse")
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
    p.add_argument("id", type=record_id, metavar="RUN_ID")
    p.add_argument("--conf", metavar="TYPE", help="only this conf type (inputs, serverclass, ...)")
    p.add_argument("--app", help="only stanzas of this app")
    p.add_argument(
        "--layer",
        choices=["system", "app", "user", "deployment_app", "cluster_bundle"],
        help="only stanzas of this layer",
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")


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
