"""Publishing a built site (DOCS.md): each build goes to `<root>/<resolution id>/` and
`<root>/latest` points at the newest, swapped atomically, so a reader never sees half a
site; builds beyond `keep` are removed. The daemon and `autodoc docs build` both publish
through `publish`.

A build is written into a hidden folder beside its final place and renamed into it in one
step. A rebuild of the same resolution renames the old build away first (two renames: a
reader of `latest` may see it missing for that instant, never half of it). The hidden folder
names the process building it: what a build killed midway leaves is removed by the next
publish. The daemon's build records a failure in `.failed` (what `autodoc status` shows).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.errors import AutodocError
from daemon.owners import is_gone, this_process

LATEST = "latest"
MARK = ".autodoc-build"  # in each build: only what holds it is ever replaced or pruned
FAILED = ".failed"
# A build of a resolution that failed is not tried again by the daemon before this long.
FAILED_RETRY_SECONDS = 600.0


class PublishError(AutodocError):
    """The site cannot be published there."""


def publish(root: Path, resolution_id: int, build: Callable[[Path], object], keep: int) -> Path:
    """Build the site of one resolution with `build(folder)` and publish it under `root`;
    the published folder. A failing build leaves nothing behind and `latest` unchanged.
    Raises PublishError when `root` cannot hold it (a file, `latest` a real folder, ...)."""
    real = root.resolve()
    inside = next((p for p in (real, *real.parents) if is_build(p)), None)
    if inside is not None:
        raise PublishError(
            f"cannot publish the site in {root}: it is inside the published build {inside} "
            "(give the folder that holds the builds, e.g. var/docs, not var/docs/latest)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot publish the site in {root}: {_why(exc)}") from exc
    latest = root / LATEST
    if not latest.is_symlink() and os.path.lexists(latest):
        raise PublishError(
            f"cannot publish the site in {root}: {latest} is not the link this command "
            "makes (a real file or folder): move it elsewhere"
        )
    token = uuid.uuid4().hex[:12]
    work = root / f".building-{resolution_id}-{token}-{this_process()}"
    final = root / str(resolution_id)
    try:
        build(work)
        (work / MARK).write_text(f"{resolution_id}\n")
        _into_place(work, final, root / f".old-{resolution_id}-{token}")
        shown = current(root)
        newest = shown is None or resolution_id >= shown
        if newest:  # an older resolution built by hand does not take latest back
            point_latest(root, str(resolution_id))
    except OSError as exc:
        raise PublishError(f"cannot publish the site in {root}: {_why(exc)}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if newest:
        (root / FAILED).unlink(missing_ok=True)
    prune(root, keep, also=resolution_id)
    return final


def _into_place(work: Path, final: Path, old: Path) -> None:
    """Rename the build to its final name, moving a previous build of that resolution out
    of the way first; another build landing there meanwhile (the daemon's and one by hand)
    is moved away in turn, the last renamed in wins."""
    moved: list[Path] = []
    try:
        for attempt in range(5):
            try:
                os.rename(work, final)
                return
            except OSError:
                if not final.exists():
                    raise
            if not is_build(final):
                raise PublishError(
                    f"{final} is in the way and is not a site build: move it elsewhere"
                )
            aside = old.with_name(f"{old.name}-{attempt}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, aside)
                moved.append(aside)
        os.rename(work, final)  # still taken: raises the reason
    finally:
        for aside in moved:
            shutil.rmtree(aside, ignore_errors=True)


def _why(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def point_latest(root: Path, name: str) -> None:
    """`root/latest` -> `name` (relative, so the folder can move), by renaming a new link
    over the old one: the swap is atomic."""
    link = root / f".latest-{uuid.uuid4().hex[:12]}"
    os.symlink(name, link)
    try:
        os.replace(link, root / LATEST)
    except OSError:
        link.unlink(missing_ok=True)
        raise


def shared_with(root: Path) -> Path | None:
    """The build a new one shares its unchanged files with (daemon.docs.writer): the one
    `latest` points at, by its own name (a later swap of `latest` does not move it)."""
    rid = current(root)
    return None if rid is None else root / str(rid)


def builds(root: Path) -> list[int]:
    """The resolution ids with a published build, oldest first. Only folders that are a
    site's build count: OUT may be a folder that holds others (2024/, ...), never removed."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if _is_id(p.name) and is_build(p))


def is_build(folder: Path) -> bool:
    """A folder that `publish` made: not a symlink, and holding its mark (or, built before
    builds were marked, the files every site has)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return (folder / MARK).is_file() or (
        (folder / "search-index.js").is_file() and (folder / "static" / "site.js").is_file()
    )


def prune(root: Path, keep: int, also: int | None = None) -> list[int]:
    """Remove the oldest builds beyond `keep`, never the one `latest` points at nor `also`
    (the one just built); the ids removed. Leftovers of builds that died (hidden folders)
    go too."""
    current = None
    with contextlib.suppress(OSError):
        current = os.readlink(root / LATEST)
    found = builds(root)
    removed = [
        rid for rid in found[: max(0, len(found) - keep)] if str(rid) != current and rid != also
    ]
    for rid in removed:
        shutil.rmtree(root / str(rid), ignore_errors=True)
    for leftover in root.glob(".old-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for work in root.glob(".building-*"):
        owner = work.name.split("-", 3)[-1]  # .building-<id>-<token>-<host>:<pid>
        if is_gone(owner):
            shutil.rmtree(work, ignore_errors=True)
    return removed


def current(root: Path) -> int | None:
    """The resolution `latest` points at; None when there is no site yet."""
    try:
        name = os.readlink(root / LATEST)
    except OSError:
        return None
    return int(name) if _is_id(name) and (root / name / "index.html").is_file() else None


def _is_id(name: str) -> bool:
    """A resolution id as a folder name: ASCII digits ("²".isdigit() is true too)."""
    return name.isascii() and name.isdigit()


def record_failure(root: Path, resolution_id: int | None, error: str) -> None:
    """Note that the build of a resolution failed, and why (replacing the previous note)."""
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
        note = root / f".failed-{uuid.uuid4().hex[:12]}"
        note.write_text(
            json.dumps({"resolution": resolution_id, "error": error, "at": time.time()}),
            encoding="utf-8",
        )
        os.replace(note, root / FAILED)


def last_failure(root: Path) -> dict[str, Any] | None:
    """{resolution, error, at} of the last failed build, unless a build succeeded since."""
    try:
        found = json.loads((root / FAILED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
