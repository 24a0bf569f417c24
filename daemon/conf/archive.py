"""Reading the .conf and .meta members out of a stored bundle: streaming, bounded, never on disk.

`read_members` takes the blob as a binary file object (S3's is not seekable), finds the format
by its magic bytes, and yields each member worth parsing with where it sits (`Provenance`,
SPLUNK_CONF.md "Where a file sits"). Hostile members are skipped with a `Finding`; a limit
exceeded, or a corrupt or truncated archive, raises `ArchiveRejected`.

Decisions (ours):
- The `etc` root of an etc tree is decided per member (a stream cannot look ahead): the
  archive's top when the first component is a known child of etc (an archive made inside
  `etc/`), else the first `etc` component followed by a known child. An app that ships its own
  `etc/` folder therefore never moves the root.
- An app bundle's top folder is the app; members directly at `default/`, `local/` or
  `metadata/` take the app name from the archive's file name, less its archive extension.
- `metadata/default.meta` and `metadata/local.meta` are read like .conf files: conf type
  `default` or `local`, scope from the name. Callers tell them apart by the path's suffix.
- Only `<scope>/X.conf` counts; deeper files (`default/data/ui/...`) and `._*` files (macOS
  resource forks) are skipped silently. A .conf or .meta elsewhere gets "unplaced-conf".
- Names are read as UTF-8 (zip names without the UTF-8 flag too, as Splunk on Linux would);
  a member worth reading whose name is not valid UTF-8 is skipped with "undecodable-name".
  Zip names written with `\\` separators (some Windows tools) are read with `/`.
- Any `..` component is refused, even one that would stay inside the archive.
- A path that occurs twice is yielded twice with a "duplicate-member" finding; extraction
  would leave the later copy, so consumers keep the last.
- gzip, bzip2 and xz are decompressed here (not by tarfile) so the compression ratio is checked
  on every read, and so multi-stream files (pbzip2, concatenated gzip) are read whole.
- Zip members are inflated here too, not by zipfile, which trusts the declared size: what a
  member produces is counted against the limits as it is produced, whatever either of its
  headers says; its data is read no further than its compressed size or the next local
  header, and its size and CRC must match the central directory's at the end.
- Findings go to the caller's list as the generator advances; at most 100 per code, then one
  "findings-truncated" finding says how many more there were.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import re
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, Final, Protocol

from daemon.conf.types import Finding, Layer, Provenance, Scope
from daemon.domain import UploadType
from daemon.errors import PermanentError
from daemon.handlers.formats import sniff_archive

MiB: Final = 1024 * 1024
GiB: Final = 1024 * MiB
_CHUNK: Final = 64 * 1024
_HEAD: Final = 512  # enough for every magic number, the tar one sits at 257
_XZ_MEMLIMIT: Final = 256 * MiB  # xz -9 needs 65 MiB; a header may ask for gigabytes
_HEADER_ALLOWANCE: Final = 4096  # tar header bytes per member beyond its data (pax, long names)
_READ_AHEAD: Final = 64 * 1024  # what tarfile may have read past the header it is parsing
_TAIL_BYTES: Final = 2 * _READ_AHEAD
_EOCD_SEARCH: Final = 22 + 0xFFFF + 20 + 56  # the record, a longest comment, ZIP64's two
_FINDINGS_PER_CODE: Final = 100


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What reading one bundle may cost; each field is the setting `parse.<field>`."""

    max_members: int = 200_000
    max_total_bytes: int = 2 * GiB  # uncompressed, every member counted, skipped ones too
    max_member_bytes: int = 64 * MiB  # one member that is read
    max_ratio: float = 1000.0  # uncompressed / compressed bytes (xz of many tiny files: ~600)
    ratio_floor_bytes: int = 1 * MiB  # the ratio is checked once this much was decompressed


class ArchiveRejected(PermanentError):
    """the archive cannot be read safely"""

    def __init__(self, message: str | None = None, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit  # the setting that would allow it ("parse.max_ratio"), if any


@dataclass(frozen=True, slots=True)
class Member:
    path: str  # inside the archive, normalized: no leading "./", no empty or "." components
    provenance: Provenance
    data: bytes
    size: int
    sha256: str  # of data


def read_members(
    fileobj: BinaryIO,
    upload_type: UploadType,
    *,
    name: str,
    limits: ArchiveLimits = ArchiveLimits(),
    findings: list[Finding],
    dirs: set[str] | None = None,
) -> Iterator[Member]:
    """Yield the .conf and .meta members of the bundle in `fileobj`, in archive order.

    `name` is the file name the bundle was dropped as: the conf file's name for single_conf,
    the app name for an app bundle without a top folder. Findings are appended to `findings`
    as the generator advances; for an etc/ tree, the app folders it holds (`etc/<area>/<app>`,
    e.g. `etc/deployment-apps/nix`, whatever files they have) are added to `dirs`.

    Raises `ArchiveRejected` (a `PermanentError`) when a limit is exceeded or the archive is
    not one, corrupt or truncated; `.limit` names the setting that would allow it, if any.
    Errors reading `fileobj` itself (the blob store, the disk) propagate unchanged.
    """
    report = _Report(findings)
    if upload_type is UploadType.SINGLE_CONF:
        yield _single_conf(fileobj, name, limits, report)
        report.close()
        return
    yield from _read_archive(fileobj, upload_type, _Placer(upload_type, name, report, dirs), limits)
    report.close()


def read_tree_files(
    fileobj: BinaryIO,
    upload_type: UploadType,
    *,
    name: str,
    wanted: Collection[str],
    limits: ArchiveLimits = ArchiveLimits(),
) -> dict[str, bytes]:
    """The files of an etc/ tree bundle whose path from the tree's `etc` on (as
    `etc/system/local/clients.csv`, "relative to $SPLUNK_HOME") is in `wanted`, whatever
    their kind (parsing keeps only .conf files). A path the bundle lacks is not in the
    result; one it holds twice gives the later copy, as extraction would. Raises as
    read_members does, a member over `limits.max_member_bytes` included.
    """
    placer = _Placer(upload_type, name, _Report([]), wanted=frozenset(wanted))
    found: dict[str, bytes] = {}
    for member in _read_archive(fileobj, upload_type, placer, limits):
        found[member.path] = member.data
    return found


def _read_archive(
    fileobj: BinaryIO, upload_type: UploadType, placer: _Placer, limits: ArchiveLimits
) -> Iterator[Member]:
    source = _Source(fileobj, [])
    start = fileobj.tell() if source.seekable() else None
    head = source.peek(_HEAD)
    fmt = sniff_archive(head)
    if fmt is None:
        raise ArchiveRejected(
            f"not an archive: {upload_type.value} takes tar, tar.gz/tgz/spl, tar.bz2, tar.xz "
            f"or zip (first bytes {head[:8].hex(' ')})"
        )
    try:
        if fmt == "zip":
            yield from _read_zip(source, start, placer, limits)
        else:
            yield from _read_tar(source, fmt, placer, limits)
    except _CORRUPT as exc:
        if source.failures:  # the blob store failed, not the archive: let the caller retry
            raise source.failures[0] from None
        raise ArchiveRejected(
            f"corrupt or truncated {fmt} archive ({exc or type(exc).__name__}); "
            "re-create it and drop it again"
        ) from exc


def classify_path(path: str, upload_type: UploadType, archive_name: str = "") -> Provenance | None:
    """Where the member `path` sits, or None when it is not a .conf/.meta file Splunk reads."""
    place = _place(_parts(path), upload_type, _app_name(archive_name))
    return place if isinstance(place, Provenance) else None


# -- where a member sits ---------------------------------------------------------------------

_ETC_CHILDREN: Final = frozenset(
    {"system", "apps", "deployment-apps", "users", "manager-apps", "master-apps", "shcluster"}
)
_APP_FOLDERS: Final = {
    "apps": Layer.APP,
    "deployment-apps": Layer.DEPLOYMENT_APP,
    "manager-apps": Layer.CLUSTER_BUNDLE,
    "master-apps": Layer.CLUSTER_BUNDLE,
}
_SCOPES: Final = {"default": Scope.DEFAULT, "local": Scope.LOCAL}
_ARCHIVE_SUFFIXES: Final = (
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tgz",
    ".tbz2",
    ".tbz",
    ".txz",
    ".spl",
    ".tar",
    ".zip",
)
_UNPLACED: Final = "unplaced"
_NOT_APP_AREAS: Final = frozenset({"system", "users"})  # etc/<area>/ holds no app folders


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _app_name(archive_name: str) -> str:
    base = archive_name.rsplit("/", 1)[-1]
    for suffix in _ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def _is_conf_file(leaf: str) -> bool:
    return leaf.endswith((".conf", ".meta")) and len(leaf) > 5 and not leaf.startswith("._")


# Files at the etc/ root written in the .conf grammar that say what an instance is: its
# version and platform, its GUID (RESOLVER.md §2). Read from etc/ trees only.
_ETC_FACTS: Final = ("splunk.version", "instance.cfg")


def _place(parts: list[str], upload_type: UploadType, app_name: str) -> Provenance | str | None:
    """Provenance; _UNPLACED for a .conf/.meta in no known location; None to skip silently."""
    if (
        parts
        and parts[-1] in _ETC_FACTS
        and upload_type in (UploadType.DS_ETC, UploadType.INSTANCE_ETC)
        and (len(parts) == 1 or parts[-2] == "etc")
    ):
        return Provenance(Layer.SYSTEM, None, None, parts[-1])
    if not parts or not _is_conf_file(parts[-1]):
        return None
    if upload_type is UploadType.SINGLE_CONF:
        return Provenance(None, None, None, parts[-1][:-5])
    if upload_type is UploadType.APP_BUNDLE:
        if parts[0] in ("default", "local", "metadata"):
            return _scoped(parts, Layer.APP, app_name) if app_name else _UNPLACED
        return _scoped(parts[1:], Layer.APP, parts[0])
    rel = _etc_relative(parts)
    if rel is None:
        return _UNPLACED
    top, rest = rel[0], rel[1:]
    if top == "system":
        return _scoped(rest, Layer.SYSTEM, None)
    if top == "shcluster":
        if rest[:1] != ["apps"]:
            return None if len(rest) > 1 else _UNPLACED  # shcluster/users/... is not ours
        top, rest = "master-apps", rest[1:]
    if top == "users":  # users/<user>/<app>/local/X.conf
        if len(rest) < 2:
            return _UNPLACED  # etc/users/X.conf
        return _scoped(rest[2:], Layer.USER, rest[1], local_only=True)
    return _scoped(rest[1:], _APP_FOLDERS[top], rest[0]) if rest else _UNPLACED


def _etc_relative(parts: list[str]) -> list[str] | None:
    """The components under the etc root, starting with the known child, or None."""
    if parts[0] in _ETC_CHILDREN:
        return parts
    for i, part in enumerate(parts[:-1]):
        if part == "etc" and parts[i + 1] in _ETC_CHILDREN:
            return parts[i + 1 :]
    return None


def tree_path(path: str) -> str | None:
    """A member of an etc/ tree as a path relative to $SPLUNK_HOME (`etc/...`), None when it
    lies in no etc tree we can see. The root is found as parsing finds it (a known child of
    etc/, with or without the `etc` above it), else at the first `etc` folder, so that a
    custom repositoryLocation (`etc/my-repo/<app>`) is seen too."""
    parts = _parts(path)
    if not parts:
        return None
    rel = _etc_relative(parts)
    if rel is None:
        if "etc" not in parts[:-1]:
            return None
        rel = parts[parts.index("etc") + 1 :]
    return "/".join(("etc", *rel))


def _scoped(
    rest: list[str], layer: Layer, app: str | None, *, local_only: bool = False
) -> Provenance | str | None:
    """`rest` should be [<scope>, X.conf] or ["metadata", <scope>.meta]."""
    if len(rest) < 2:
        return _UNPLACED
    if len(rest) > 2:
        return None
    folder, leaf = rest
    stem = leaf[:-5]
    if leaf.endswith(".conf"):
        scope = _SCOPES.get(folder)
    else:
        scope = _SCOPES.get(stem) if folder == "metadata" else None
    if scope is None or (local_only and scope is not Scope.LOCAL):
        return None
    return Provenance(layer, app, scope, stem)


class _Report:
    """Appends findings, at most _FINDINGS_PER_CODE of a code; `close` says how many more."""

    def __init__(self, findings: list[Finding]) -> None:
        self._findings = findings
        self._counts: Counter[str] = Counter()

    def add(self, code: str, message: str, path: str | None) -> None:
        self._counts[code] += 1
        if self._counts[code] <= _FINDINGS_PER_CODE:
            self._findings.append(Finding(code, message, path=path))

    def close(self) -> None:
        for code, count in self._counts.items():
            if count > _FINDINGS_PER_CODE:
                more = count - _FINDINGS_PER_CODE
                self._findings.append(
                    Finding("findings-truncated", f"{more} more {code} findings not listed")
                )


_WINDOWS_DRIVE: Final = re.compile(r"^[A-Za-z]:")


class _Placer:
    """Per-archive checks on member names: hostile ones refused, the rest placed."""

    def __init__(
        self,
        upload_type: UploadType,
        archive_name: str,
        report: _Report,
        dirs: set[str] | None = None,
        *,
        wanted: frozenset[str] | None = None,
    ) -> None:
        self._upload_type = upload_type
        self._app_name = _app_name(archive_name)
        self.report = report
        self._seen: set[str] = set()
        self._apps: set[str] = set()
        tree = upload_type in (UploadType.DS_ETC, UploadType.INSTANCE_ETC)
        self._dirs = dirs if tree else None  # app folders seen, added to as members pass
        self._wanted = wanted if tree else None  # read these files (by tree_path), only them

    def admit(self, name: str, kind: str, link: str = "") -> tuple[str, Provenance] | None:
        """(path, provenance) of a member to read; None, with a finding if it matters, if not.

        `kind` is "file", "dir", "symlink", "hardlink" or "special".
        """
        shown = _printable(name)
        if name.startswith("/") or _WINDOWS_DRIVE.match(name):
            self.report.add("absolute-path", f"absolute member path refused: {shown}", shown)
            return None
        parts = _parts(name)
        if ".." in parts:
            self.report.add("path-traversal", f"member path with '..' refused: {shown}", shown)
            return None
        if kind in ("symlink", "hardlink"):
            what = "symbolic" if kind == "symlink" else "hard"
            target = f" -> {_printable(link)}" if link else ""
            self.report.add(
                f"{kind}-member", f"{what} link refused, never followed: {shown}{target}", shown
            )
            return None
        if kind == "special":
            self.report.add(
                "special-member", f"device, FIFO or other special member refused: {shown}", shown
            )
            return None
        if self._dirs is not None:
            self._note_dir(name, kind)
        if kind != "file":
            return None
        if self._wanted is not None:
            path = tree_path(name)
            if shown != name or path not in self._wanted:
                return None
            return path, Provenance(None, None, None, parts[-1])
        place = _place(parts, self._upload_type, self._app_name)
        if place is None:
            return None
        if shown != name:
            self.report.add(
                "undecodable-name", f"member name is not valid UTF-8, skipped: {shown}", shown
            )
            return None
        if not isinstance(place, Provenance):
            self.report.add(
                "unplaced-conf",
                f"{shown} is not in a known Splunk location for {self._upload_type.value} "
                "(<scope>/X.conf under etc/system, etc/apps/<app>, ...); skipped",
                shown,
            )
            return None
        return self._note("/".join(parts), place), place

    def _note_dir(self, name: str, kind: str) -> None:
        """`etc/<area>/<app>` when the member is that folder or lies in it."""
        path = tree_path(name)
        if path is None:
            return
        parts = path.split("/")
        if len(parts) < 3 or parts[1] in _NOT_APP_AREAS or (len(parts) == 3 and kind != "dir"):
            return
        self._dirs.add("/".join(parts[:3]))  # type: ignore[union-attr]

    def _note(self, path: str, place: Provenance) -> str:
        if path in self._seen:
            self.report.add(
                "duplicate-member",
                f"{path} occurs more than once; extraction would leave the later copy",
                path,
            )
        self._seen.add(path)
        app = place.app or ""
        if self._upload_type is UploadType.APP_BUNDLE and app not in self._apps:
            self._apps.add(app)
            if len(self._apps) == 2:
                self.report.add(
                    "multiple-apps",
                    f"the app bundle holds more than one app ({', '.join(sorted(self._apps))}); "
                    "each is read as its own app",
                    None,
                )
        return path


def _printable(name: str) -> str:
    """`name` with bytes that were not UTF-8 (surrogate escapes) shown as \\xNN."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


# -- limits ----------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _check_members(count: int, limits: ArchiveLimits) -> None:
    if count > limits.max_members:
        raise ArchiveRejected(
            f"the archive has more than {limits.max_members} members; "
            f"raise parse.max_members (now {limits.max_members}) if it is genuine",
            limit="parse.max_members",
        )


def _check_total(total: int, limits: ArchiveLimits) -> None:
    if total > limits.max_total_bytes:
        raise ArchiveRejected(
            f"the archive expands to more than {_size(limits.max_total_bytes)} "
            f"(at least {_size(total)}); raise parse.max_total_bytes "
            f"(now {limits.max_total_bytes}) if it is genuine",
            limit="parse.max_total_bytes",
        )


def _check_ratio(
    expanded: int, compressed: int, limits: ArchiveLimits, what: str = "the archive"
) -> None:
    if expanded > limits.ratio_floor_bytes and expanded > limits.max_ratio * compressed:
        raise ArchiveRejected(
            f"{what} expands more than {limits.max_ratio:g} times "
            f"({_size(expanded)} from {_size(compressed)}): a compression bomb? "
            f"raise parse.max_ratio (now {limits.max_ratio:g}) if it is genuine",
            limit="parse.max_ratio",
        )


def _check_member(path: str, size: int, limits: ArchiveLimits) -> None:
    if size > limits.max_member_bytes:
        raise ArchiveRejected(
            f"{path} is {_size(size)}, over {_size(limits.max_member_bytes)}; raise "
            f"parse.max_member_bytes (now {limits.max_member_bytes}) if it is genuine",
            limit="parse.max_member_bytes",
        )


def _member(path: str, provenance: Provenance, data: bytes) -> Member:
    return Member(path, provenance, data, len(data), hashlib.sha256(data).hexdigest())


# -- reading ---------------------------------------------------------------------------------

# What a corrupt or truncated archive raises from tarfile, zipfile and the decompressors.
_CORRUPT: Final = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,  # bz2 reports bad data as OSError
    ValueError,  # UnicodeDecodeError for a zip name flagged UTF-8 that is not
    NotImplementedError,  # zipfile: a compression method it cannot read
    struct.error,
)


class _Source:
    """The blob, counting the bytes read and remembering its own failures.

    A failure reading the blob is the store's, not the archive's, and must not be reported as
    a corrupt archive.
    """

    def __init__(self, raw: IO[bytes], failures: list[BaseException]) -> None:
        self._raw = raw
        self._head = b""
        self.consumed = 0
        self.failures = failures

    def peek(self, size: int) -> bytes:
        while len(self._head) < size:
            chunk = self._read(size - len(self._head))
            if not chunk:
                break
            self._head += chunk
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        if self._head:
            take = len(self._head) if size < 0 else size
            data, self._head = self._head[:take], self._head[take:]
            return data
        return self._read(size)

    def _read(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except BaseException as exc:
            self.failures.append(exc)
            raise
        self.consumed += len(data)
        return data

    def seekable(self) -> bool:
        try:
            return bool(self._raw.seekable())
        except (AttributeError, OSError, ValueError):
            return False

    def seek(self, offset: int, whence: int = 0) -> int:
        self._head = b""
        try:
            return self._raw.seek(offset, whence)
        except BaseException as exc:
            self.failures.append(exc)
            raise

    def tell(self) -> int:
        return self._raw.tell() - len(self._head)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """zlib's decompressor with bz2's and lzma's interface (input it could not take is
    handed back as `unconsumed_tail` instead of being kept)."""

    def __init__(self, wbits: int) -> None:
        self._z = zlib.decompressobj(wbits=wbits)

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._z.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return self._z.decompress(self._z.unconsumed_tail + data, max(max_length, 0))


def _decompressor(fmt: str) -> _Decompressor:
    if fmt == "tar.gz":
        return _Zlib(16 + zlib.MAX_WBITS)  # gzip header and trailer
    if fmt == "tar.bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=_XZ_MEMLIMIT)


_MAGIC: Final = {"tar.gz": b"\x1f\x8b", "tar.bz2": b"BZh", "tar.xz": b"\xfd7zXZ\x00"}


class _Inflater:
    """The tar stream for tarfile: decompressed here so every read checks the ratio, and so
    the bytes produced can be held to what the member headers declare (`budget`)."""

    def __init__(self, source: _Source, fmt: str, limits: ArchiveLimits) -> None:
        self._source = source
        self._fmt = fmt
        self._limits = limits
        self._dec = None if fmt == "tar" else _decompressor(fmt)
        self._pending = b""  # input for the next stream of a multi-stream file
        self._exhausted = False
        self._finished = False  # after the last compressed stream
        self.produced = 0
        self.budget = limits.max_member_bytes + _READ_AHEAD
        # The last chunks produced (at least _TAIL_BYTES): what tarfile read past its end.
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # zlib takes a max_length of 0 as no limit at all
        data = self._inflate(_CHUNK if size < 0 else size)
        self.produced += len(data)
        self._recent.append(data)
        self._recent_bytes += len(data)
        while self._recent_bytes - len(self._recent[0]) >= _TAIL_BYTES:
            self._recent_bytes -= len(self._recent.popleft())
        if self.produced > self.budget:
            raise ArchiveRejected(
                f"the tar headers hold far more data than their members declare "
                f"({_size(self.produced)} read, {_size(self.budget)} allowed): oversized "
                "pax or long-name headers? The allowance grows with parse.max_member_bytes",
                limit="parse.max_member_bytes",
            )
        if self._dec is not None:
            _check_ratio(self.produced, self._source.consumed, self._limits)
        return data

    def ends_at(self, offset: int) -> bool:
        """Whether tarfile stopped at an end-of-archive marker (a zero block at `offset`), not
        at a damaged header it took for the end. What follows the marker is ignored, as GNU
        tar does (padding, a second archive concatenated); it is still read to the end so
        that a compressed stream's trailer is checked."""
        tail = b"".join(self._recent)
        start = self.produced - len(tail)
        block = tail[offset - start : offset - start + tarfile.BLOCKSIZE]
        if offset < start or len(block) < tarfile.BLOCKSIZE or block.count(0) != len(block):
            return False
        self.budget = self.produced + self._limits.max_total_bytes
        while self.read(_CHUNK):
            pass
        return True

    def _inflate(self, size: int) -> bytes:
        if self._dec is None:
            return self._source.read(size)
        while True:
            if self._finished or (self._dec.eof and not self._next_stream()):
                self._finished = True
                return b""
            data = b""
            if self._dec.needs_input:
                data, self._pending = self._pending or self._source.read(_CHUNK), b""
                self._exhausted = not data
            out = self._dec.decompress(data, size)
            if out:
                return out
            if self._exhausted and not self._dec.eof:
                raise ArchiveRejected(
                    f"truncated {self._fmt} archive: the compressed data ends early; "
                    "re-create it and drop it again"
                )

    def _next_stream(self) -> bool:
        """Start the next compressed stream, if another follows (pbzip2, `cat a.gz b.gz`)."""
        assert self._dec is not None
        rest = self._dec.unused_data + self._pending
        magic = _MAGIC[self._fmt]
        while len(rest) < len(magic):
            more = self._source.read(_CHUNK)
            if not more:
                break
            rest += more
        if not rest.startswith(magic):
            return False  # padding or garbage after the last stream: ignored, as gzip(1) does
        self._dec, self._pending = _decompressor(self._fmt), rest
        return True


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "special"


def _read_tar(
    source: _Source, fmt: str, placer: _Placer, limits: ArchiveLimits
) -> Iterator[Member]:
    stream = _Inflater(source, fmt, limits)
    count = declared = 0
    with tarfile.open(  # type: ignore[call-overload]
        fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape"
    ) as tar:
        while (info := tar.next()) is not None:
            tar.members.clear()  # a stream needs no index; 200,000 TarInfo would pin ~100 MB
            count += 1
            _check_members(count, limits)
            if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:  # data follows
                declared += info.size
                _check_total(declared, limits)
            stream.budget = (
                declared + count * _HEADER_ALLOWANCE + limits.max_member_bytes + _READ_AHEAD
            )
            target = placer.admit(info.name, _tar_kind(info), info.linkname)
            if target is None:
                continue  # tarfile skips its data on the next header, decompressing, not keeping
            path, provenance = target
            _check_member(path, info.size, limits)
            extracted = tar.extractfile(info)
            if extracted is not None:
                yield _member(path, provenance, extracted.read())
        if stream.produced < tar.offset + tarfile.BLOCKSIZE:
            raise tarfile.ReadError("the archive ends before its end-of-archive marker")
        if not stream.ends_at(tar.offset):
            raise tarfile.ReadError(f"a damaged member header at byte {tar.offset}")


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16  # Unix mode, when the zip was made on Unix
    if stat.S_ISLNK(mode):
        return "symlink"
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "special"
    return "file"


def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename.replace("\\", "/")
    if info.flag_bits & 0x800:  # flagged UTF-8, already decoded
        return name
    # zipfile decoded the bytes as cp437, which maps each of the 256 byte values: undo it.
    return name.encode("cp437").decode("utf-8", "surrogateescape")


_ZIP_METHODS: Final = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}


def _read_zip(
    source: _Source, start: int | None, placer: _Placer, limits: ArchiveLimits
) -> Iterator[Member]:
    if start is not None:
        source.seek(start)
        archive = source
        spool = None
    else:  # zip keeps its index at the end: a stream must be kept whole first
        try:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        except OSError as exc:
            source.failures.append(exc)  # the local disk, not the archive
            raise
        archive = _Source(spool, source.failures)
    try:
        if spool is not None:
            _spool(source, spool, limits)
        end = archive.seek(0, 2)
        size = end - (start or 0)
        declared_members = _zip_declared_members(archive, start or 0, end)
        if declared_members is not None:
            _check_members(declared_members, limits)  # before zipfile indexes them all
        archive.seek(start or 0)
        with zipfile.ZipFile(archive) as zf:  # the index only: members are read by _ZipMember
            infos = zf.infolist()
        _check_members(len(infos), limits)
        # The declared sizes refuse an honest bomb before anything is inflated; they never
        # let a member through: _ZipMember counts what it really produces.
        declared = sum(info.file_size for info in infos)
        _check_total(declared, limits)
        _check_ratio(declared, size, limits)
        regions = _zip_regions(infos, end)
        meter = _ZipMeter(limits, declared)
        for info in infos:
            target = placer.admit(_zip_name(info), _zip_kind(info))
            if target is None:
                continue
            path, provenance = target
            if info.flag_bits & 0x1:
                placer.report.add("encrypted-member", f"encrypted member skipped: {path}", path)
                continue
            if info.compress_type not in _ZIP_METHODS:
                placer.report.add(
                    "unsupported-compression",
                    f"member compressed with method {info.compress_type}, skipped: {path}",
                    path,
                )
                continue
            _check_member(path, info.file_size, limits)
            data = _ZipMember(archive, info, path, regions[info.header_offset], meter).read()
            yield _member(path, provenance, data)
    finally:
        if spool is not None:
            spool.close()


_ZIP_FEED: Final = 4096  # compressed bytes handed to a decompressor at a time
_ZIP_LOCAL_HEADER: Final = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader


def _zip_regions(infos: list[zipfile.ZipInfo], end: int) -> dict[int, int]:
    """Where the region of each local header ends: at the next local header, else at the end
    of the archive. A member's data is read no further, whatever its compressed size says, so
    members cannot be made to overlap (the "quoted overlap" zip bomb)."""
    offsets = sorted({info.header_offset for info in infos})
    return dict(zip(offsets, [*offsets[1:], end], strict=True))


class _ZipMeter:
    """What the members read so far really produced and consumed, for the archive's ratio."""

    def __init__(self, limits: ArchiveLimits, declared: int) -> None:
        self.limits = limits
        self.declared = declared  # the sum of every member's declared size, skipped ones too
        self.produced = 0
        self.consumed = 0


class _Stored:
    """Method 0 with a decompressor's interface."""

    eof = False
    unused_data = b""
    needs_input = True

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return data


class _ZipLzma:
    """LZMA as zip stores it (APPNOTE 5.8.8): version (2 bytes), properties size (2), the
    5 LZMA1 properties bytes, then a raw LZMA1 stream.

    The dictionary size the properties ask for (up to 4 GiB, allocated up front) is capped:
    the dictionary holds no more than was produced, which the limits stop well short of
    `cap`, so the cap never changes what a member that is kept decodes to."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._head = b""
        self._dec: lzma.LZMADecompressor | None = None

    @property
    def eof(self) -> bool:
        return self._dec is not None and self._dec.eof

    @property
    def unused_data(self) -> bytes:
        return b"" if self._dec is None else self._dec.unused_data

    @property
    def needs_input(self) -> bool:
        return self._dec is None or self._dec.needs_input

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._dec is None:
            self._head += data
            if len(self._head) < 9:
                return b""
            _, props_size, props, dict_size = struct.unpack_from("<HHBL", self._head)
            if props_size != 5 or props >= 9 * 5 * 5:
                raise lzma.LZMAError(f"bad zip LZMA header {self._head[:9].hex(' ')}")
            lc, lp, pb = props % 9, props // 9 % 5, props // 45
            lzma1 = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb}
            lzma1["dict_size"] = min(dict_size, self._cap)
            self._dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])
            data, self._head = self._head[9:], b""
        return self._dec.decompress(data, max_length)


def _zip_decompressor(method: int, limits: ArchiveLimits) -> _Decompressor:
    if method == zipfile.ZIP_DEFLATED:
        return _Zlib(-zlib.MAX_WBITS)  # raw deflate
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    if method == zipfile.ZIP_LZMA:
        return _ZipLzma(limits.max_member_bytes + 2 * _CHUNK)
    return _Stored()


class _ZipMember:
    """One member's data, inflated here rather than by zipfile, which trusts the declared
    size: it lets bzip2 and lzma inflate everything a chunk of input holds in one call, and
    deflate the whole member, then cuts the result down to that size (issue 9: 1.5 GiB of
    zeros declared as 100 bytes took `autodoc parse` to 2.2 GB with deflate, 3.3 GB with
    bzip2, and was accepted, its CRC being that of 100 zeros).

    Every chunk produced counts against parse.max_member_bytes, parse.max_total_bytes and
    parse.max_ratio (produced over the compressed bytes actually handed over, never a
    header's compressed size) before it is kept. Neither the central directory's sizes nor
    the local header's are trusted: the compressed size only bounds how far the data is read,
    and what was produced must match the declared size and CRC at the end."""

    def __init__(
        self, archive: _Source, info: zipfile.ZipInfo, path: str, region_end: int, meter: _ZipMeter
    ) -> None:
        self._archive = archive
        self._info = info
        self._path = path
        self._region_end = region_end
        self._meter = meter
        self._produced = 0
        self._consumed = 0  # compressed bytes handed to the decompressor

    def read(self) -> bytes:
        info, limits = self._info, self._meter.limits
        left = max(0, min(info.compress_size, self._region_end - self._data_start()))
        dec = _zip_decompressor(info.compress_type, limits)
        feed = _CHUNK if info.compress_type == zipfile.ZIP_STORED else _ZIP_FEED
        kept = io.BytesIO()
        crc = 0
        while not dec.eof:
            data = b""
            if dec.needs_input and left:
                data = self._archive.read(min(feed, left))
                left = left - len(data) if data else 0
                self._consumed += len(data)
            out = dec.decompress(data, _CHUNK)
            if not out:
                if data:
                    continue
                break  # no input left, or none wanted and no more output
            self._produced += len(out)
            self._check()
            crc = zlib.crc32(out, crc)
            kept.write(out)
        self._consumed -= len(dec.unused_data)  # read past the end of the stream
        if self._produced != info.file_size or crc != info.CRC:
            raise zipfile.BadZipFile(
                f"{self._path} inflates to {self._produced} bytes with CRC {crc:08x}, "
                f"its header says {info.file_size} bytes with CRC {info.CRC:08x}"
            )
        self._meter.produced += self._produced
        self._meter.consumed += self._consumed
        return kept.getvalue()

    def _check(self) -> None:
        info, meter, limits = self._info, self._meter, self._meter.limits
        produced = self._produced
        if produced > limits.max_member_bytes:
            raise ArchiveRejected(
                f"{self._path} expands to more than {_size(limits.max_member_bytes)} although "
                f"its zip header says {_size(info.file_size)}: a compression bomb? raise "
                f"parse.max_member_bytes (now {limits.max_member_bytes}) if it is genuine",
                limit="parse.max_member_bytes",
            )
        _check_total(meter.declared + max(0, produced - info.file_size), limits)
        # The member on its own (a bomb behind a large incompressible member) and the archive
        # so far (many small bombs, each under ratio_floor_bytes).
        _check_ratio(produced, self._consumed, limits, self._path)
        _check_ratio(meter.produced + produced, meter.consumed + self._consumed, limits)

    def _data_start(self) -> int:
        """Where the data begins, past the local header, whose name must be the central
        directory's (as zipfile checks); its sizes are not read."""
        info = self._info
        self._archive.seek(info.header_offset)
        header = self._archive.read(_ZIP_LOCAL_HEADER.size)
        if len(header) != _ZIP_LOCAL_HEADER.size:
            raise zipfile.BadZipFile(f"truncated local header of {self._path}")
        fields = _ZIP_LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad magic number in the local header of {self._path}")
        flags: int = fields[3]
        name_length: int = fields[10]
        extra_length: int = fields[11]
        if info.flag_bits & 0x60:  # zipfile refuses these too; nothing Splunk ships uses them
            raise ArchiveRejected(
                f"zip member {self._path} uses compressed patched data or strong encryption, "
                "which cannot be read"
            )
        raw_name = self._archive.read(name_length)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        if name != info.orig_filename:
            raise zipfile.BadZipFile(
                f"file name in directory {info.orig_filename!r} and header {raw_name!r} differ"
            )
        start = info.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length
        self._archive.seek(start)
        return start


# The smallest central-directory entry: zipfile indexes entries for as long as the directory
# size says, whatever member count the end record declares.
_MIN_CD_ENTRY = 46


def _zip_declared_members(archive: _Source, start: int, end: int) -> int | None:
    """How many members zipfile would index, read before it builds that index at ~500 bytes
    of memory a member: the end-of-central-directory record's count (ZIP64's too), or as many
    of the smallest entries as its directory size holds, whichever is more (a record that
    under-counts must not get a huge directory indexed); None if not found (zipfile then
    says what is wrong)."""
    length = min(end - start, _EOCD_SEARCH)
    archive.seek(end - length)
    tail = archive.read(length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    count, cd_size = struct.unpack_from("<HI", tail, at + 10)
    if count != 0xFFFF and cd_size != 0xFFFFFFFF:
        return max(int(count), int(cd_size) // _MIN_CD_ENTRY)
    at64 = tail.rfind(b"PK\x06\x06", 0, at)  # ZIP64 record, just before its locator
    if at64 < 0 or len(tail) - at64 < 56:
        return None
    count64, cd_size64 = struct.unpack_from("<QQ", tail, at64 + 32)
    return max(int(count64), int(cd_size64) // _MIN_CD_ENTRY)


def _spool(source: _Source, spool: IO[bytes], limits: ArchiveLimits) -> None:
    written = 0
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if written > limits.max_total_bytes:
            raise ArchiveRejected(
                f"the zip archive is larger than {_size(limits.max_total_bytes)}; raise "
                f"parse.max_total_bytes (now {limits.max_total_bytes}) if it is genuine",
                limit="parse.max_total_bytes",
            )
        try:
            spool.write(chunk)
        except OSError as exc:
            source.failures.append(exc)
            raise


def _single_conf(fileobj: BinaryIO, name: str, limits: ArchiveLimits, report: _Report) -> Member:
    """The blob is the .conf file itself; its conf type comes from `name`."""
    base = name.rsplit("/", 1)[-1]
    if base.endswith((".conf", ".meta")) and len(base) > 5:
        conf_type = base[:-5]
    else:
        conf_type = base.split(".", 1)[0]
        report.add(
            "unexpected-name",
            f"{base} does not end in .conf; read as conf type {conf_type!r}",
            base,
        )
    chunks: list[bytes] = []
    size = 0
    while chunk := fileobj.read(_CHUNK):
        size += len(chunk)
        _check_member(base, size, limits)
        chunks.append(chunk)
    return _member(base, Provenance(None, None, None, conf_type), b"".join(chunks))
