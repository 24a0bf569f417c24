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

from daemon.owners import is_gone, this_process

LATEST = "latest"
FAILED = ".failed"
# A build of a resolution that failed is not tried again by the daemon before this long.
FAILED_RETRY_SECONDS = 600.0


def publish(root: Path, resolution_id: int, build: Callable[[Path], object], keep: int) -> Path:
    """Build the site of one resolution with `build(folder)` and publish it under `root`;
    the published folder. A failing build leaves nothing behind and `latest` unchanged."""
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    work = root / f".building-{resolution_id}-{token}-{this_process()}"
    try:
        build(work)
        final = root / str(resolution_id)
        if final.exists():
            old = root / f".old-{resolution_id}-{token}"
            os.rename(final, old)
            os.rename(work, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    point_latest(root, str(resolution_id))
    (root / FAILED).unlink(missing_ok=True)
    prune(root, keep)
    return final


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


def builds(root: Path) -> list[int]:
    """The resolution ids with a published build, oldest first."""
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


def prune(root: Path, keep: int) -> list[int]:
    """Remove the oldest builds beyond `keep`, never the one `latest` points at; the ids
    removed. Leftovers of builds that died (hidden folders) go too."""
    current = None
    with contextlib.suppress(OSError):
        current = os.readlink(root / LATEST)
    found = builds(root)
    removed = [rid for rid in found[: max(0, len(found) - keep)] if str(rid) != current]
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
    return int(name) if name.isdigit() and (root / name / "index.html").is_file() else None


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
