"""`autodoc docs build`: the documentation site of a resolution (DOCS.md)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli.common import AddCommand, fail, open_database, record_id
from daemon.errors import RET_OK, RET_USAGE

if TYPE_CHECKING:
    from daemon.config import Config
    from daemon.resolve.load import Reader


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
        "one step, so a reader never sees half a site; builds beyond [docs] keep are removed.\n"
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


def cmd_build(args: argparse.Namespace, config: Config) -> int:
    from daemon.resolve.load import EstateReader, NoResolution

    db = EstateReader(config.database.url)
    try:
        start = time.monotonic()
        try:
            folder, pages = build_docs(config, db, args.resolution, args.out)
        except NoResolution as exc:
            return fail(str(exc), RET_USAGE)
        except Exception:
            open_database(config).dispose()  # a database at another revision says so
            raise
    finally:
        db.dispose()
    if not args.quiet:
        seconds = round(time.monotonic() - start, 1)
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
    from daemon.docs.load import load_site
    from daemon.docs.publish import publish

    loaded = load_site(db, resolution_id)
    counts: dict[str, int] = {}

    def build(folder: Path) -> None:
        counts.update(pages.build(db, loaded, folder))

    root = (out or config.docs.path).absolute()
    folder = publish(root, int(loaded.resolution["id"]), build, config.docs.keep)
    return folder, counts
