"""The inbox protocol: which files are drops, which are in progress, which are refused, and
the atomic claim into `.processing/`.

The decisions (`classify`, `check_name`, `is_settled`) are plain functions over plain values;
the rest is thin filesystem code around them.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from daemon import faults
from daemon.domain import UploadType
from daemon.errors import BadFileName, ConfigError, InboxUnavailable, Refused
from daemon.fsutil import fsync_dir, makedirs_durable, open_for_writing_elsewhere

PROCESSING_DIR = ".processing"
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", "~")
# Leaves room for the claim token and for "<run id>-" and ".error.json" within NAME_MAX (255).
MAX_NAME_BYTES = 200
MAX_LABEL_CHARS = 255  # ingestion_runs.label is VARCHAR(255)
UPLOAD_TYPES = {t.value: t for t in UploadType}


@dataclass(frozen=True)
class Drop:
    """A file sitting in a type folder, maybe with a feeder folder between."""

    path: Path
    upload_type: UploadType
    label: str | None


@dataclass(frozen=True)
class Unroutable:
    path: Path
    reason: str


def is_in_progress(name: str) -> bool:
    """rsync writes `.<name>.XXXXXX` and renames; others use a suffix."""
    return name.startswith(".") or name.endswith(IN_PROGRESS_SUFFIXES)


def classify(parts: tuple[str, ...]) -> Drop | Unroutable | None:
    """Decide what a path relative to the inbox is. None: skip silently (in progress, ours)."""
    if not parts or parts[0] == PROCESSING_DIR or any(is_in_progress(p) for p in parts):
        return None
    path = Path(*parts)
    if len(parts) == 1:
        return Unroutable(path, "in the inbox root; put it in a type folder")
    upload_type = UPLOAD_TYPES.get(parts[0])
    if upload_type is None:
        known = ", ".join(UPLOAD_TYPES)
        return Unroutable(path, f"unknown folder {parts[0]!r}; known types: {known}")
    if len(parts) == 2:
        return Drop(path, upload_type, None)
    if len(parts) == 3:
        label = printable(parts[1])
        if len(label) > MAX_LABEL_CHARS:
            return Unroutable(path, f"feeder folder name longer than {MAX_LABEL_CHARS} characters")
        return Drop(path, upload_type, label)
    return Unroutable(path, "nested too deep; use <type>/<feeder>/<file>")


def printable(name: str) -> str:
    """A file name as text the database and JSON logs can hold (bad bytes become \\xNN)."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def check_name(name: str) -> None:
    """A name we can record faithfully: valid UTF-8, one line, not too long."""
    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadFileName(f"file name is not valid UTF-8: {printable(name)}") from None
    if "\n" in name or "\r" in name:
        raise BadFileName(f"file name contains a line break: {printable(name)}")
    if len(raw) > MAX_NAME_BYTES:
        raise BadFileName(f"file name is {len(raw)} bytes long; the limit is {MAX_NAME_BYTES}")


def shorten(name: str, limit: int) -> str:
    """`name` cut to at most `limit` bytes on disk (a cut character stays as escaped bytes)."""
    raw = os.fsencode(name)
    return name if len(raw) <= limit else os.fsdecode(raw[:limit])


def is_settled(st: os.stat_result, now: float, settle_seconds: float) -> bool:
    """A file written in place is ready once it has not been modified for settle_seconds.

    A file published by rename keeps its writer's (older) mtime and is ready at once.
    """
    return now - st.st_mtime >= settle_seconds


def given_file(path: Path) -> os.stat_result:
    """The stat of a file named on the command line (`autodoc ingest`, `autodoc preview`):
    followed if a link, it must be there and regular. Raises ConfigError saying why not."""
    try:
        st = path.stat()
        check_regular(st, single_link=False)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except Refused as exc:
        raise ConfigError(f"{path}: not a regular file ({exc.message})") from None
    return st


def check_regular(st: os.stat_result, *, single_link: bool = True) -> None:
    """Only regular files with one link are taken; the rest is refused without opening it."""
    if stat.S_ISLNK(st.st_mode):
        raise Refused("symbolic link")
    if not stat.S_ISREG(st.st_mode):
        kind = {
            stat.S_IFIFO: "FIFO",
            stat.S_IFSOCK: "socket",
            stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device",
            stat.S_IFDIR: "directory",
        }.get(stat.S_IFMT(st.st_mode), "special file")
        raise Refused(kind)
    if single_link and st.st_nlink > 1:
        raise Refused(f"file has {st.st_nlink} hard links")


# -- filesystem ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A file renamed into `.processing/<type>/[<feeder>/]<token>.<name>`."""

    path: Path
    token: str
    upload_type: UploadType
    label: str | None
    name: str
    origin: Path  # where it was in the inbox


class Inbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.processing = root / PROCESSING_DIR

    def ensure(self) -> None:
        """Create the inbox, its type folders and `.processing/`."""
        try:
            self.processing.mkdir(parents=True, exist_ok=True)
            for upload_type in UPLOAD_TYPES:
                (self.root / upload_type).mkdir(exist_ok=True)
        except OSError as exc:
            raise InboxUnavailable(
                f"inbox {self.root} cannot be prepared: {exc.strerror}"
            ) from None

    def walk(self) -> Iterator[tuple[Path, tuple[str, ...]]]:
        """Every non-directory entry up to three levels deep, with its parts; never follows
        links and never opens a file."""
        yield from self._walk(self.root, ())

    def _walk(self, folder: Path, parts: tuple[str, ...]) -> Iterator[tuple[Path, tuple[str, ...]]]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        for entry in entries:
            sub = (*parts, entry.name)
            if entry.is_dir(follow_symlinks=False):
                if len(sub) < 3 and entry.name != PROCESSING_DIR and not is_in_progress(entry.name):
                    yield from self._walk(Path(entry.path), sub)
                elif len(sub) >= 3:
                    yield Path(entry.path), sub
            else:
                yield Path(entry.path), sub

    def claim(self, drop: Drop) -> Claimed | None:
        """Rename the drop into `.processing/`; None when someone else took it first.

        Raises OSError when it cannot be claimed (e.g. a feeder folder we may not write).
        """
        token = secrets.token_hex(8)
        name = drop.path.name
        folder = self.processing / drop.upload_type.value
        if drop.label is not None:
            folder = folder / drop.path.parent.name
        makedirs_durable(folder)
        target = folder / f"{token}.{shorten(name, 255 - len(token) - 1)}"
        try:
            os.rename(self.root / drop.path, target)
        except FileNotFoundError:
            return None  # another worker or daemon claimed it
        # The run about to be committed names this claim: the rename must survive a power cut.
        fsync_dir(folder)
        faults.point("after_claim")
        return Claimed(target, token, drop.upload_type, drop.label, name, self.root / drop.path)

    def claimed(self) -> Iterator[Claimed]:
        """Files left in `.processing/` (by a crash, an outage, or a worker still on them)."""
        for path, parts in self._walk(self.processing, ()):
            if len(parts) not in (2, 3) or parts[0] not in UPLOAD_TYPES:
                continue
            token, sep, name = parts[-1].partition(".")
            if not sep or len(token) != 16:
                continue
            label = printable(parts[1]) if len(parts) == 3 else None
            origin = self.root.joinpath(*parts[:-1], name)
            yield Claimed(path, token, UPLOAD_TYPES[parts[0]], label, name, origin)

    def survey(self) -> tuple[list[tuple[Drop, os.stat_result]], list[tuple[Unroutable, str]]]:
        """Every drop with its lstat, and what is refused or unroutable ("refused" or
        "unroutable", with the reason). Nothing is opened."""
        drops: list[tuple[Drop, os.stat_result]] = []
        problems: list[tuple[Unroutable, str]] = []
        for path, parts in self.walk():
            decision = classify(parts)
            if decision is None:
                continue
            if isinstance(decision, Unroutable):
                if len(parts) == 1 and parts[0] in UPLOAD_TYPES and path.is_symlink():
                    decision = Unroutable(
                        decision.path, "type folder is a symbolic link; not followed"
                    )
                    problems.append((decision, "refused"))
                else:
                    problems.append((decision, "unroutable"))
                continue
            try:
                st = os.lstat(path)
                check_regular(st)
            except FileNotFoundError:
                continue
            except Refused as exc:
                problems.append((Unroutable(decision.path, exc.message), "refused"))
                continue
            drops.append((decision, st))
        return drops, problems


def writer_state(path: Path) -> bool | None:
    """Whether some process has this file open for writing; None when that cannot be told.

    Only a regular file is opened: opening a FIFO lets its blocked writer through, and a
    device may act on an open. Anything else is not written the way a drop is: False, so
    that the claim refuses it at once, unopened, instead of waiting for a close."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # gone, or unreadable: the pipeline reports it
    try:
        return open_for_writing_elsewhere(fd)
    finally:
        os.close(fd)


def writer_open(path: Path) -> bool:
    """True when some process is known to have this file open for writing."""
    return bool(writer_state(path))
