"""Publishing a built site (DOCS.md): each build goes to `<root>/<resolution id>/` and
`<root>/latest` points at the newest, swapped atomically, so a reader never sees half a
site; builds beyond `keep` are removed. The daemon and `autodoc docs build` both publish
through `publish`.

A build is written into a hidden folder beside its final place and renamed into it in one
step. A rebuild of the same resolution renames the old build away first (two renames: a
reader of `latest` may see it missing for that instant, never half of it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

LATEST = "latest"


def publish(root: Path, resolution_id: int, build: Callable[[Path], object], keep: int) -> Path:
    """Build the site of one resolution with `build(folder)` and publish it under `root`;
    the published folder. A failing build leaves nothing behind and `latest` unchanged."""
    root.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    work = root / f".building-{resolution_id}-{token}"
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
    return removed
