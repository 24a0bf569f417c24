"""`autodoc docs build`, `autodoc diff` and `autodoc preview` (DOCS.md): the documentation site
of a resolution, the changes between two, and the changes a new ds_etc bundle would make."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand, fail, open_database, record_id
from daemon.errors import RET_ITEM_FAILED, RET_OK, RET_USAGE, TransientError

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.resolve.load import Reader


_JSON_HELP = "print the changes as JSON: {from, to, hosts, apps, findings: {new, resolved}}"


def register(add: AddCommand) -> None:
    p = add("docs", None, "the documentation site of the estate (static HTML)")
    sub = p.add_subparsers(dest="docs_command", metavar="COMMAND", required=True)
    b = add(
        "build",
        cmd_build,
        "build the documentation site of a resolution",
        "Render a resolution as a static site (DOCS.md): the overview, a page per host,\n"
        "server class, app, index and sourcetype, the findings, the changes, and a search\n"
        "index. It is built into OUT/<resolution id>/ and OUT/latest is then pointed at it in\n"
        "one step (unless latest already shows a newer resolution), so a reader never sees\n"
        "half a site; builds beyond [docs] keep are removed. A page that comes out the same\n"
        "as in the build latest points at is a hard link to that file: builds share it.\n"
        "Open OUT/latest/index.html in a browser: no server, CDN or network is needed, and it\n"
        "reads without JavaScript (the search box aside). Exit 2 when there is no such\n"
        "resolution.",
        parent=sub,
    )
    b.add_argument(
        "out",
        metavar="OUT",
        nargs="?",
        type=Path,
        help="folder of the builds (default: [docs] path of the config, var/docs in the example)",
    )
    b.add_argument("--resolution", type=record_id, metavar="ID", help="default: the latest")
    b.add_argument("--quiet", action="store_true", help="print nothing")
    b.add_argument(
        "--if-stale",
        action="store_true",
        help=argparse.SUPPRESS,  # the daemon's: only when the latest resolution has no site
    )

    d = add(
        "diff",
        cmd_diff,
        "what changed between two resolutions",
        "Compare two resolutions (DOCS.md): hosts that gained or lost server classes, apps and\n"
        "inputs, settings of their inputs that changed, data that now ends in other indexes;\n"
        "deployment apps whose conf files gained or lost stanzas or changed keys; findings new\n"
        "and resolved. Hosts with no change are left out. Default: the previous complete\n"
        "resolution against the latest. Exit 2 when there is no such resolution or nothing to\n"
        "compare with.",
    )
    d.add_argument("frm", metavar="FROM", nargs="?", type=record_id, help="default: the previous")
    d.add_argument("to", metavar="TO", nargs="?", type=record_id, help="default: the latest")
    d.add_argument(
        "--json",
        action="store_true",
        help=_JSON_HELP,
    )

    p = add(
        "preview",
        cmd_preview,
        "what a new ds_etc bundle would change, before deploying it",
        "Resolve the estate with FILE standing in for a deployment server's latest ds_etc\n"
        "bundle, and print what would change against the latest resolution, as `autodoc diff`\n"
        "does: a text to paste into a change ticket, or --json. Nothing is stored: no run,\n"
        "blob, resolution or row. FILE is checked as a drop would be (size, format, the\n"
        "[parse] limits) and must hold a serverclass.conf. Exit 2 when it cannot be used,\n"
        "with the reason.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="an etc/ tree archive of the DS")
    p.add_argument(
        "--label",
        metavar="L",
        help="the deployment server it stands in for (default: the only one)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help=_JSON_HELP,
    )


def cmd_build(args: argparse.Namespace, config: Config) -> int:
    from daemon.docs.publish import PublishError, record_failure
    from daemon.logs import get_logger
    from daemon.resolve.load import EstateReader, NoResolution

    if (missing := _missing_database(config)) is not None:
        return missing
    db = EstateReader(config.database.url)
    root = (args.out or config.docs.path).absolute()
    log = get_logger()
    try:
        start = time.monotonic()
        rid = args.resolution
        try:
            if args.if_stale:
                rid = _latest_id(db, rid)
                if not stale(root, rid):
                    return RET_OK
            folder, pages = build_docs(config, db, rid, args.out)
        except NoResolution as exc:
            if args.if_stale:
                return RET_OK
            return fail(str(exc), RET_USAGE)
        except TransientError:
            raise  # the database or the store: tried again at the resolver's next wake-up
        except PublishError as exc:
            if args.if_stale:
                record_failure(root, rid, str(exc))
                log.error("docs.build_failed", resolution_id=rid, error=str(exc))
            return fail(str(exc), RET_ITEM_FAILED)
        except Exception as exc:
            open_database(config).dispose()  # a database at another revision says so
            if not args.if_stale:
                return fail(f"the site could not be built: {exc!r}", RET_ITEM_FAILED)
            # The daemon's build: `latest` stays on the previous site; say why, once.
            record_failure(root, rid, repr(exc))
            log.error("docs.build_failed", resolution_id=rid, error=repr(exc), exc_info=exc)
            return RET_ITEM_FAILED
    finally:
        db.dispose()
    seconds = round(time.monotonic() - start, 1)
    if args.if_stale:
        log.info("docs.built", folder=str(folder), pages=sum(pages.values()), seconds=seconds)
    if not args.quiet:
        print(
            f"{folder}: {sum(pages.values())} pages ({seconds:g} s); open {folder / 'index.html'}"
        )
    return RET_OK


def build_docs(
    config: Config, db: Reader, resolution_id: int | None = None, out: Path | None = None
) -> tuple[Path, dict[str, int]]:
    """Build and publish the site of a resolution (the latest when None) under `out`
    (default [docs] path): what `autodoc docs build` does, for the daemon to call too.
    Raises daemon.resolve.load.NoResolution."""
    from daemon.docs import site as pages
    from daemon.docs.diff import diff
    from daemon.docs.load import load_site, load_view, previous_resolution
    from daemon.docs.publish import publish, shared_with

    # The diff first: its two views (~250 MB each on a 10,000-host estate) are dropped before
    # the site is read, so the build's peak is the larger of the two, not their sum.
    rid = _latest_id(db, resolution_id)
    previous = previous_resolution(db, rid)
    changes = None if previous is None else diff(load_view(db, previous), load_view(db, rid))
    loaded = load_site(db, rid)
    counts: dict[str, int] = {}

    root = (out or config.docs.path).absolute()
    shared = shared_with(root)

    def build(folder: Path) -> None:
        counts.update(pages.build(db, loaded, folder, diff=changes, previous=shared))

    folder = publish(root, rid, build, config.docs.keep)
    return folder, counts


def stale(root: Path, rid: int) -> bool:
    """Whether the site of resolution `rid` is still to be built under `root`: `latest` does
    not point at it, and no build of it failed in the last FAILED_RETRY_SECONDS (one that
    fails every time is not tried again at every resolver wake-up)."""
    from daemon.docs.publish import FAILED_RETRY_SECONDS, current, last_failure

    if current(root) == rid:
        return False
    failed = last_failure(root)
    return not (
        failed is not None
        and failed.get("resolution") == rid
        and time.time() - float(failed.get("at", 0)) < FAILED_RETRY_SECONDS
    )


def _latest_id(db: Reader, resolution_id: int | None) -> int:
    from daemon.resolve.load import latest_resolution

    return int(latest_resolution(db, resolution_id)["id"])


def _missing_database(config: Config) -> int | None:
    """Exit 2 with the reason when the SQLite file is not there: these commands only read
    the database, and opening it would leave an empty file behind."""
    from daemon.status import missing_sqlite_file

    missing = missing_sqlite_file(config.database.url)
    return None if missing is None else fail(missing, RET_USAGE)


def cmd_diff(args: argparse.Namespace, config: Config) -> int:
    from daemon.docs.diff import diff
    from daemon.docs.load import load_view, previous_resolution
    from daemon.docs.ticket import to_text
    from daemon.resolve.load import EstateReader, NoResolution

    if (missing := _missing_database(config)) is not None:
        return missing
    db = EstateReader(config.database.url)
    try:
        try:
            new = load_view(db, args.to)
            new_id = int(new.id or 0)
            old_id = args.frm if args.frm is not None else previous_resolution(db, new_id)
            if old_id is None:
                return fail(
                    f"resolution {new_id} is the first complete one: there is nothing to "
                    "compare it with",
                    RET_USAGE,
                )
            old = load_view(db, old_id)
        except NoResolution as exc:
            return fail(str(exc), RET_USAGE)
        except Exception:
            open_database(config).dispose()
            raise
    finally:
        db.dispose()
    changes = diff(old, new)
    if args.json:
        print(json.dumps(changes, indent=2))
    else:
        print(to_text(changes, f"resolution {old_id} -> resolution {new_id}"), end="")
    return RET_OK


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    from daemon.docs.diff import EMPTY, diff
    from daemon.docs.load import load_view
    from daemon.docs.preview import PreviewRefused, preview
    from daemon.docs.ticket import to_text
    from daemon.resolve.load import EstateReader

    if (missing := _missing_database(config)) is not None:
        return missing
    db = EstateReader(config.database.url)
    try:
        try:
            found = preview(config, db, args.file, args.label)
            base = EMPTY if found.base is None else load_view(db, found.base)
        except PreviewRefused as exc:
            return fail(exc.message, RET_USAGE)
        except Exception:
            open_database(config).dispose()
            raise
    finally:
        db.dispose()
    changes = diff(base, found.view)
    if args.json:
        print(json.dumps(changes, indent=2))
        return RET_OK
    ds = f"deployment server {found.label!r}" if found.label else "the deployment server"
    side = f"resolution {found.base}" if found.base is not None else "nothing resolved yet"
    print(to_text(changes, f"{side} -> {args.file.name} as {ds} (preview)"), end="")
    return RET_OK
