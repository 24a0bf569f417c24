"""Writing a site's files into its build folder, sharing what did not change with the
previous build.

A page that comes out byte for byte the same as the previous build's page at the same path
is hard-linked to it instead of written again: the builds kept under `[docs] keep` share
their unchanged files, so keeping 20 builds of an estate that changes little costs little
more than one. The pages are written so that this works: they cite bundles by type and
label rather than by run id (which changes with every drop, even of the same content), and
only the pages at the site's root name the resolution. Published builds are never written
to again, so sharing a file between them is safe; where the file system cannot link (or the
previous build is being removed) the page is written instead.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from pathlib import Path


class SiteWriter:
    """Saves the files of one build under `folder`; `previous` is the folder of the build
    to share unchanged files with (None: write everything)."""

    def __init__(self, folder: Path, previous: Path | None = None) -> None:
        self.folder = folder
        self.previous = previous if previous is not None and previous != folder else None
        self.counts: Counter[str] = Counter()  # pages by first path part ("hosts", "index.html")
        self.linked = 0
        self.written = 0
        self._folders: set[str] = set()
        self._parents: dict[str, bool] = {}  # previous build's folders: really inside it?

    def save(self, path: str, content: str | bytes, *, page: bool = True) -> None:
        """Write (or link) the file at `path`, relative to the folder, with '/' separators."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        parent, _, _ = path.rpartition("/")
        if parent not in self._folders:
            (self.folder / parent).mkdir(parents=True, exist_ok=True)
            self._folders.add(parent)
        target = self.folder / path
        if not self._link(path, data, target):
            # A file already there may be a link to the previous build's (a path saved twice):
            # replace it, never write through it into a published build.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
            target.write_bytes(data)
            self.written += 1
        if page:
            self.counts[path.split("/", 1)[0]] += 1

    def _link(self, path: str, data: bytes, target: Path) -> bool:
        if self.previous is None:
            return False
        parent = path.rpartition("/")[0]
        if not self._inside_previous(parent):
            return False
        old = self.previous / path
        try:
            # O_NOFOLLOW: a symlink where a page was is no page of ours (it fails to open);
            # O_NONBLOCK: a FIFO there does not wait for a writer (and is no regular file).
            with os.fdopen(
                os.open(old, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb"
            ) as handle:
                found = os.fstat(handle.fileno())
                if not stat.S_ISREG(found.st_mode) or found.st_size != len(data):
                    return False
                if handle.read() != data:
                    return False
        except OSError:
            return False  # a page the previous build did not have, or it is going away
        try:
            os.link(old, target, follow_symlinks=False)
        except FileNotFoundError:
            return False  # the previous build was removed meanwhile
        except FileExistsError:
            return False  # saved before in this build: written anew
        except OSError:
            self.previous = None  # this file system does not link: write from now on
            return False
        linked = os.lstat(target)
        if not stat.S_ISREG(linked.st_mode) or linked.st_ino != found.st_ino:
            os.unlink(target)  # swapped for something else between the check and the link
            return False
        self.linked += 1
        return True

    def _inside_previous(self, parent: str) -> bool:
        """The previous build's folder `parent` is really in it: no folder on the way is a
        symlink leading elsewhere (a page linked from there could be changed by whoever
        owns that place)."""
        found = self._parents.get(parent)
        if found is None:
            assert self.previous is not None
            root = os.path.realpath(self.previous)
            real = os.path.realpath(self.previous / parent)
            found = self._parents[parent] = real == os.path.normpath(os.path.join(root, parent))
        return found
