"""Reading bundles: every format, where each member sits, and the hostile cases."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import re
import stat
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from daemon.conf.archive import (
    ArchiveLimits,
    ArchiveRejected,
    Member,
    classify_path,
    read_members,
)
from daemon.conf.types import Finding, Layer, Provenance, Scope
from daemon.errors import PermanentError
from daemon.models import UploadType

DS, INSTANCE, APP, SINGLE = (
    UploadType.DS_ETC,
    UploadType.INSTANCE_ETC,
    UploadType.APP_BUNDLE,
    UploadType.SINGLE_CONF,
)
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

Entry = tuple[str, bytes] | tarfile.TarInfo


# -- building archives -----------------------------------------------------------------------


def make_tar(entries: Iterable[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def make_zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


COMPRESS = {
    "tar": lambda data: data,
    "tar.gz": gzip.compress,
    "tar.bz2": bz2.compress,
    "tar.xz": lzma.compress,
}


def make_archive(fmt: str, files: dict[str, bytes]) -> bytes:
    if fmt == "zip":
        return make_zip(files.items())
    return COMPRESS[fmt](make_tar(files.items()))


class NonSeekable:
    """A streaming body like S3's: read() only, no seek, tell or seekable."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._buffer.read(size)
        self.bytes_read += len(data)
        return data


def read_all(
    blob: bytes | Any,
    upload_type: UploadType = DS,
    *,
    name: str = "bundle.tgz",
    limits: ArchiveLimits | None = None,
) -> tuple[list[Member], list[Finding]]:
    fileobj = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    findings: list[Finding] = []
    members = list(
        read_members(
            fileobj, upload_type, name=name, limits=limits or ArchiveLimits(), findings=findings
        )
    )
    return members, findings


def placed(members: list[Member]) -> dict[str, Provenance]:
    return {member.path: member.provenance for member in members}


def codes(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(finding.code, finding.path) for finding in findings]


def conf(layer: Layer | None, app: str | None, scope: Scope | None, conf_type: str) -> Provenance:
    return Provenance(layer, app, scope, conf_type)


SYS, APPL, USER, DEPLOY, CLUSTER = (
    Layer.SYSTEM,
    Layer.APP,
    Layer.USER,
    Layer.DEPLOYMENT_APP,
    Layer.CLUSTER_BUNDLE,
)
DEF, LOC = Scope.DEFAULT, Scope.LOCAL
INPUTS = b"[monitor:///var/log]\nindex = main\n"


# -- formats ---------------------------------------------------------------------------------

FILES = {
    "etc/system/local/inputs.conf": INPUTS,
    "etc/apps/search/default/props.conf": b"[syslog]\nTRANSFORMS-x = y\n",
    "etc/apps/search/bin/script.py": b"print('not a conf file')\n",
    "etc/apps/search/README.txt": b"hello\n",
}


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"])
def test_every_format_yields_the_conf_members_with_data_and_digest(fmt: str) -> None:
    members, findings = read_all(make_archive(fmt, FILES))

    assert placed(members) == {
        "etc/system/local/inputs.conf": conf(SYS, None, LOC, "inputs"),
        "etc/apps/search/default/props.conf": conf(APPL, "search", DEF, "props"),
    }
    for member in members:
        assert member.data == FILES[member.path]
        assert member.size == len(member.data)
        assert member.sha256 == hashlib.sha256(member.data).hexdigest()
    assert findings == []


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"])
def test_a_non_seekable_stream_is_read_for_every_format(fmt: str) -> None:
    stream = NonSeekable(make_archive(fmt, FILES))

    members, _ = read_all(stream)

    assert len(members) == 2


def test_format_is_found_by_content_not_by_name() -> None:
    members, _ = read_all(make_archive("zip", FILES), name="bundle.tar.gz")
    assert len(members) == 2


def test_a_file_that_is_no_archive_is_rejected() -> None:
    with pytest.raises(ArchiveRejected, match="not an archive"):
        read_all(b"[monitor:///x]\nindex = main\n" * 20)


def test_archive_rejected_is_a_permanent_error() -> None:
    assert issubclass(ArchiveRejected, PermanentError)


def test_concatenated_gzip_and_multi_stream_bzip2_are_read_whole() -> None:
    raw = make_tar(FILES.items())
    half = len(raw) // 2
    for blob in (
        gzip.compress(raw[:half]) + gzip.compress(raw[half:]),
        bz2.compress(raw[:half]) + bz2.compress(raw[half:]),  # what pbzip2 writes
        lzma.compress(raw[:half]) + lzma.compress(raw[half:]),
    ):
        members, _ = read_all(blob)
        assert len(members) == 2


def test_garbage_after_the_last_compressed_stream_is_ignored() -> None:
    members, _ = read_all(gzip.compress(make_tar(FILES.items())) + b"\0" * 4096)
    assert len(members) == 2


def test_reading_stops_cleanly_when_the_consumer_stops_early() -> None:
    findings: list[Finding] = []
    members = read_members(
        NonSeekable(make_archive("zip", FILES)), DS, name="x.zip", findings=findings
    )
    assert next(members).path
    members.close()  # the spooled copy is closed; nothing raises


# -- where a member sits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("etc/system/default/inputs.conf", conf(SYS, None, DEF, "inputs")),
        ("etc/system/local/outputs.conf", conf(SYS, None, LOC, "outputs")),
        ("etc/apps/search/default/props.conf", conf(APPL, "search", DEF, "props")),
        ("etc/apps/search/local/props.conf", conf(APPL, "search", LOC, "props")),
        (
            "etc/users/admin/search/local/savedsearches.conf",
            conf(USER, "search", LOC, "savedsearches"),
        ),
        ("etc/deployment-apps/TA_x/default/inputs.conf", conf(DEPLOY, "TA_x", DEF, "inputs")),
        ("etc/deployment-apps/TA_x/local/inputs.conf", conf(DEPLOY, "TA_x", LOC, "inputs")),
        ("etc/manager-apps/_cluster/local/indexes.conf", conf(CLUSTER, "_cluster", LOC, "indexes")),
        ("etc/master-apps/idx/default/indexes.conf", conf(CLUSTER, "idx", DEF, "indexes")),
        ("etc/shcluster/apps/sh_app/default/props.conf", conf(CLUSTER, "sh_app", DEF, "props")),
        ("etc/shcluster/apps/sh_app/local/props.conf", conf(CLUSTER, "sh_app", LOC, "props")),
        # metadata: conf type from the file name, scope too
        ("etc/apps/x/metadata/local.meta", conf(APPL, "x", LOC, "local")),
        ("etc/apps/x/metadata/default.meta", conf(APPL, "x", DEF, "default")),
        ("etc/system/metadata/local.meta", conf(SYS, None, LOC, "local")),
        ("etc/users/bob/search/metadata/local.meta", conf(USER, "search", LOC, "local")),
        ("etc/deployment-apps/TA_x/metadata/default.meta", conf(DEPLOY, "TA_x", DEF, "default")),
    ],
)
def test_each_location_of_the_table_gives_its_provenance(path: str, expected: Provenance) -> None:
    assert classify_path(path, DS) == expected
    assert classify_path(path, INSTANCE) == expected


@pytest.mark.parametrize(
    "path",
    [
        "etc/apps/search/default/data/ui/views/home.conf",  # deeper than <scope>/X.conf
        "etc/apps/search/bin/lib/logging.conf",  # a vendored library's file
        "etc/apps/search/default/README.txt",
        "etc/apps/search/default/inputs.conf.spec",
        "etc/apps/search/default/._inputs.conf",  # macOS resource fork
        "etc/apps/search/metadata/other.meta",
        "etc/apps/search/default/local.meta",
        "etc/users/bob/search/default/props.conf",  # users have local only
        "etc/system/README/inputs.conf",
        "etc/shcluster/users/bob/search/local/props.conf",
        "etc/apps/search/default/.conf",
        "etc/apps/search/default",
        "",
    ],
)
def test_files_splunk_does_not_read_as_conf_have_no_provenance(path: str) -> None:
    assert classify_path(path, DS) is None


@pytest.mark.parametrize("prefix", ["", "./", "splunk/", "opt/splunk/", "./opt/splunk/", "x/y/z/"])
def test_the_etc_root_is_found_wherever_it_sits(prefix: str) -> None:
    blob = make_tar([(f"{prefix}etc/apps/search/local/inputs.conf", INPUTS)])

    members, findings = read_all(gzip.compress(blob))

    assert placed(members) == {
        f"{prefix.removeprefix('./')}etc/apps/search/local/inputs.conf": conf(
            APPL, "search", LOC, "inputs"
        )
    }
    assert findings == []


def test_an_archive_made_inside_etc_is_placed_at_its_top() -> None:
    """`tar -C /opt/splunk/etc -czf x.tgz .` holds ./apps/..., ./system/..., no etc/."""
    blob = make_tar([("./system/local/inputs.conf", INPUTS), ("./apps/a/default/app.conf", b"")])

    members, _ = read_all(blob)

    assert placed(members) == {
        "system/local/inputs.conf": conf(SYS, None, LOC, "inputs"),
        "apps/a/default/app.conf": conf(APPL, "a", DEF, "app"),
    }


def test_an_app_with_its_own_etc_folder_does_not_move_the_root() -> None:
    blob = make_tar(
        [
            ("opt/splunk/etc/apps/myapp/default/inputs.conf", INPUTS),
            ("opt/splunk/etc/apps/myapp/etc/system/local/inputs.conf", INPUTS),
            ("opt/splunk/etc/apps/myapp/etc/apps/other/default/props.conf", INPUTS),
            ("apps/myapp/etc/system/local/server.conf", INPUTS),  # made inside etc
        ]
    )

    members, findings = read_all(blob)

    assert placed(members) == {
        "opt/splunk/etc/apps/myapp/default/inputs.conf": conf(APPL, "myapp", DEF, "inputs")
    }
    assert findings == []


def test_a_conf_outside_any_known_location_is_skipped_with_a_finding() -> None:
    blob = make_tar(
        [
            ("backup/inputs.conf", INPUTS),
            ("etc/apps/search/inputs.conf", INPUTS),
            ("etc/system/inputs.conf", INPUTS),
            ("etc/apps/search/default/inputs.conf", INPUTS),
        ]
    )

    members, findings = read_all(blob)

    assert [member.path for member in members] == ["etc/apps/search/default/inputs.conf"]
    assert codes(findings) == [
        ("unplaced-conf", "backup/inputs.conf"),
        ("unplaced-conf", "etc/apps/search/inputs.conf"),
        ("unplaced-conf", "etc/system/inputs.conf"),
    ]


def test_an_app_bundle_top_folder_is_the_app() -> None:
    blob = make_tar(
        [
            ("Splunk_TA_x/default/inputs.conf", INPUTS),
            ("Splunk_TA_x/local/inputs.conf", INPUTS),
            ("Splunk_TA_x/metadata/default.meta", b"[]\naccess = read : [ * ]\n"),
            ("Splunk_TA_x/default/data/ui/nav/default.xml", b"<nav/>"),
        ]
    )

    members, findings = read_all(gzip.compress(blob), APP, name="download-123.tgz")

    assert placed(members) == {
        "Splunk_TA_x/default/inputs.conf": conf(APPL, "Splunk_TA_x", DEF, "inputs"),
        "Splunk_TA_x/local/inputs.conf": conf(APPL, "Splunk_TA_x", LOC, "inputs"),
        "Splunk_TA_x/metadata/default.meta": conf(APPL, "Splunk_TA_x", DEF, "default"),
    }
    assert findings == []


@pytest.mark.parametrize("name", ["Splunk_TA_x.spl", "Splunk_TA_x.tar.gz", "Splunk_TA_x"])
def test_an_app_bundle_without_a_top_folder_takes_the_app_name_from_the_file_name(
    name: str,
) -> None:
    blob = make_tar([("default/inputs.conf", INPUTS), ("./local/props.conf", INPUTS)])

    members, _ = read_all(gzip.compress(blob), APP, name=name)

    assert placed(members) == {
        "default/inputs.conf": conf(APPL, "Splunk_TA_x", DEF, "inputs"),
        "local/props.conf": conf(APPL, "Splunk_TA_x", LOC, "props"),
    }


def test_an_app_bundle_with_two_apps_reads_both_and_says_so() -> None:
    blob = make_zip([("a/default/inputs.conf", INPUTS), ("b/default/inputs.conf", INPUTS)])

    members, findings = read_all(blob, APP, name="two.zip")

    assert {member.provenance.app for member in members} == {"a", "b"}
    assert codes(findings) == [("multiple-apps", None)]


def test_an_app_bundle_conf_at_the_top_is_unplaced() -> None:
    members, findings = read_all(make_tar([("inputs.conf", INPUTS)]), APP, name="x.tgz")
    assert members == []
    assert codes(findings) == [("unplaced-conf", "inputs.conf")]


def test_a_single_conf_is_the_file_itself() -> None:
    members, findings = read_all(INPUTS, SINGLE, name="inputs.conf")

    assert members == [
        Member(
            "inputs.conf",
            conf(None, None, None, "inputs"),
            INPUTS,
            len(INPUTS),
            hashlib.sha256(INPUTS).hexdigest(),
        )
    ]
    assert findings == []
    assert classify_path("inputs.conf", SINGLE) == conf(None, None, None, "inputs")


def test_a_single_conf_with_an_odd_name_gets_a_finding() -> None:
    members, findings = read_all(NonSeekable(INPUTS), SINGLE, name="inputs.conf.txt")
    assert members[0].provenance.conf_type == "inputs"
    assert codes(findings) == [("unexpected-name", "inputs.conf.txt")]


def test_a_single_conf_over_max_member_bytes_is_rejected() -> None:
    with pytest.raises(ArchiveRejected, match=r"parse\.max_member_bytes") as caught:
        read_all(
            INPUTS * 100, SINGLE, name="inputs.conf", limits=ArchiveLimits(max_member_bytes=99)
        )
    assert caught.value.limit == "parse.max_member_bytes"


def test_a_duplicate_path_is_yielded_twice_with_a_finding() -> None:
    blob = make_tar(
        [("etc/system/local/inputs.conf", b"a"), ("etc/system/local/inputs.conf", b"b")]
    )

    members, findings = read_all(blob)

    assert [member.data for member in members] == [b"a", b"b"]
    assert codes(findings) == [("duplicate-member", "etc/system/local/inputs.conf")]


# -- hostile members -------------------------------------------------------------------------


def test_path_traversal_is_refused() -> None:
    blob = make_tar(
        [
            ("../../etc/passwd", b"root:x:0:0"),
            ("etc/apps/../../x", b"x"),
            ("etc/apps/a/../b/default/inputs.conf", INPUTS),
            ("etc/system/local/inputs.conf", INPUTS),
        ]
    )

    members, findings = read_all(blob)

    assert [member.path for member in members] == ["etc/system/local/inputs.conf"]
    assert codes(findings) == [
        ("path-traversal", "../../etc/passwd"),
        ("path-traversal", "etc/apps/../../x"),
        ("path-traversal", "etc/apps/a/../b/default/inputs.conf"),
    ]


def test_an_absolute_path_is_refused() -> None:
    blob = make_tar([("/etc/system/local/inputs.conf", INPUTS), ("/etc/passwd", b"root")])

    members, findings = read_all(blob)

    assert members == []
    assert codes(findings) == [
        ("absolute-path", "/etc/system/local/inputs.conf"),
        ("absolute-path", "/etc/passwd"),
    ]


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (tarfile.SYMTYPE, "symlink-member"),
        (tarfile.LNKTYPE, "hardlink-member"),
        (tarfile.CHRTYPE, "special-member"),
        (tarfile.BLKTYPE, "special-member"),
        (tarfile.FIFOTYPE, "special-member"),
    ],
)
def test_links_and_special_members_are_refused_and_never_followed(kind: bytes, code: str) -> None:
    path = "etc/system/local/inputs.conf"
    blob = make_tar(
        [("etc/apps/a/default/inputs.conf", INPUTS), special(path, kind, "/etc/passwd")]
    )

    members, findings = read_all(gzip.compress(blob))

    assert [member.path for member in members] == ["etc/apps/a/default/inputs.conf"]
    assert codes(findings) == [(code, path)]
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        assert "/etc/passwd" in findings[0].message


def test_zip_symlinks_and_special_entries_are_refused() -> None:
    link = zipfile.ZipInfo("etc/system/local/inputs.conf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("etc/system/local/outputs.conf")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    blob = make_zip([(link, b"/etc/passwd"), (fifo, b""), ("etc/apps/a/local/x.conf", b"")])

    members, findings = read_all(blob)

    assert [member.path for member in members] == ["etc/apps/a/local/x.conf"]
    assert codes(findings) == [
        ("symlink-member", "etc/system/local/inputs.conf"),
        ("special-member", "etc/system/local/outputs.conf"),
    ]


def test_zip_traversal_with_backslashes_is_refused() -> None:
    blob = make_zip([("..\\..\\etc\\passwd", b"x"), ("C:/etc/system/local/inputs.conf", INPUTS)])

    members, findings = read_all(blob)

    assert members == []
    assert codes(findings) == [
        ("path-traversal", "../../etc/passwd"),
        ("absolute-path", "C:/etc/system/local/inputs.conf"),
    ]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_a_tar_member_name_that_is_not_utf8_does_not_crash(fmt: int) -> None:
    bad = b"etc/apps/caf\xe9/default/inputs.conf".decode("utf-8", "surrogateescape")
    blob = make_tar(
        [
            (bad, INPUTS),
            (b"etc/apps/a/bin/\xff\xfe.py".decode("utf-8", "surrogateescape"), b""),
            ("etc/apps/a/default/inputs.conf", INPUTS),
        ],
        fmt,
    )

    members, findings = read_all(blob)

    assert [member.path for member in members] == ["etc/apps/a/default/inputs.conf"]
    assert codes(findings) == [("undecodable-name", "etc/apps/caf\\xe9/default/inputs.conf")]


def test_a_zip_member_name_that_is_not_utf8_does_not_crash() -> None:
    # zipfile writes non-ASCII names as flagged UTF-8; write ASCII and patch the raw bytes.
    blob = make_zip(
        [("etc/apps/cafXX/default/inputs.conf", INPUTS), ("etc/apps/ok/local/a.conf", b"")]
    )
    blob = blob.replace(b"cafXX", b"caf\xe9\xe9")
    blob2 = make_zip([("etc/apps/caf\u00e9/default/inputs.conf", INPUTS)])  # flagged UTF-8

    members, findings = read_all(blob)
    members2, _ = read_all(blob2)

    assert [member.path for member in members] == ["etc/apps/ok/local/a.conf"]
    assert codes(findings) == [("undecodable-name", "etc/apps/caf\\xe9\\xe9/default/inputs.conf")]
    assert [member.provenance.app for member in members2] == ["caf\u00e9"]


def test_a_zip_name_flagged_utf8_that_is_not_is_a_corrupt_zip() -> None:
    """zipfile refuses the whole central directory then; we say so instead of crashing."""
    blob = make_zip([("etc/apps/caf\u00e9/default/inputs.conf", INPUTS)])
    blob = blob.replace("caf\u00e9".encode(), b"caf\xff\xfe")

    with pytest.raises(ArchiveRejected, match="corrupt or truncated zip archive"):
        read_all(blob)


def test_a_zip_member_name_in_utf8_without_the_flag_is_read_as_utf8() -> None:
    blob = make_zip([("etc/apps/cafXX/default/inputs.conf", INPUTS)])
    blob = blob.replace(b"cafXX", "café".encode())  # five bytes, like cafXX

    members, findings = read_all(blob)

    assert [member.provenance.app for member in members] == ["café"]
    assert findings == []


def test_hostile_findings_are_capped_per_code() -> None:
    links = [special(f"l{i}", tarfile.SYMTYPE, "/") for i in range(150)]

    _, findings = read_all(make_tar(links))

    assert len(findings) == 101
    assert findings[-1] == Finding(
        "findings-truncated", "50 more symlink-member findings not listed"
    )


# -- limits ----------------------------------------------------------------------------------


class GzipBomb:
    """A non-seekable .tar.gz of one 1 GiB member of zeros, compressed as it is read (the
    whole would be ~1 MiB compressed), so the test never holds it."""

    def __init__(self, size: int = 1024**3) -> None:
        header = tarfile.TarInfo("etc/apps/x/bin/zeros.bin")
        header.size = size
        self._zeros_left = size
        self._compressor = zlib.compressobj(9, wbits=31)
        self._out = self._compressor.compress(header.tobuf(tarfile.PAX_FORMAT))
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        while len(self._out) < max(size, 1) and self._zeros_left:
            chunk = min(self._zeros_left, 1024 * 1024)
            self._zeros_left -= chunk
            self._out += self._compressor.compress(bytes(chunk))
            if not self._zeros_left:
                self._out += self._compressor.flush()
        data, self._out = self._out[:size], self._out[size:]
        self.bytes_read += len(data)
        return data


def test_a_gzip_bomb_is_rejected_by_ratio_long_before_it_is_expanded() -> None:
    bomb = GzipBomb()

    with pytest.raises(ArchiveRejected, match=r"parse\.max_ratio") as caught:
        read_all(bomb)

    assert caught.value.limit == "parse.max_ratio"
    assert bomb.bytes_read < 1024 * 1024  # the first read's worth, not the whole bomb
    assert bomb._zeros_left > 900 * 1024 * 1024


def test_a_member_larger_than_the_total_is_rejected_at_its_header() -> None:
    bomb = GzipBomb(size=3 * 1024**3)

    with pytest.raises(ArchiveRejected, match=r"parse\.max_total_bytes") as caught:
        read_all(bomb, limits=ArchiveLimits(max_ratio=10**9))

    assert caught.value.limit == "parse.max_total_bytes"
    assert "2.0 GiB" in str(caught.value)


def test_total_bytes_count_skipped_members_too() -> None:
    blob = make_tar([("etc/apps/a/bin/big.bin", bytes(5000)), ("etc/apps/a/local/x.conf", b"")])

    with pytest.raises(ArchiveRejected, match=r"parse\.max_total_bytes"):
        read_all(blob, limits=ArchiveLimits(max_total_bytes=4000))


def test_a_zip_bomb_is_rejected_by_its_declared_sizes() -> None:
    blob = make_zip([("etc/apps/x/bin/zeros.bin", bytes(8 * 1024 * 1024))])

    with pytest.raises(ArchiveRejected, match=r"parse\.max_ratio"):
        read_all(blob)
    with pytest.raises(ArchiveRejected, match=r"parse\.max_total_bytes"):
        read_all(blob, limits=ArchiveLimits(max_total_bytes=1024 * 1024, max_ratio=10**9))


def test_a_non_seekable_zip_larger_than_the_total_is_not_spooled_whole() -> None:
    blob = make_zip([(f"etc/apps/a/bin/{i}", os.urandom(1000)) for i in range(20)])

    with pytest.raises(ArchiveRejected, match=r"parse\.max_total_bytes"):
        read_all(NonSeekable(blob), limits=ArchiveLimits(max_total_bytes=10_000))


def test_a_member_over_max_member_bytes_is_rejected() -> None:
    big = b"[x]\n" + b"k = v\n" * 1000
    blob = make_tar([("etc/apps/a/bin/huge.bin", bytes(50_000)), ("etc/apps/a/local/x.conf", big)])
    limits = ArchiveLimits(max_member_bytes=5000)

    with pytest.raises(
        ArchiveRejected, match=r"etc/apps/a/local/x\.conf .*parse\.max_member_bytes"
    ):
        read_all(gzip.compress(blob), limits=limits)
    with pytest.raises(ArchiveRejected, match=r"parse\.max_member_bytes"):
        read_all(make_zip([("etc/apps/a/local/x.conf", big)]), limits=limits)


def test_oversized_tar_headers_are_rejected() -> None:
    info = tarfile.TarInfo("etc/apps/a/local/x.conf")
    info.pax_headers = {"comment": "x" * 3 * 1024 * 1024}  # tarfile would hold it in memory

    with pytest.raises(ArchiveRejected, match="headers"):
        read_all(make_tar([info]), limits=ArchiveLimits(max_member_bytes=1024 * 1024))


def ustar_member(name: str, data: bytes) -> bytes:
    """One regular-file member, as tarfile would write it but 20 times faster."""
    header = bytearray(512)
    header[0 : len(name)] = name.encode()
    header[100:108] = b"0000644\0"  # mode
    header[108:124] = b"0000000\0" * 2  # uid, gid
    header[124:136] = b"%011o\0" % len(data)
    header[136:148] = b"00000000000\0"  # mtime
    header[148:156] = b" " * 8  # the checksum counts its own field as blanks
    header[156:157] = b"0"
    header[257:265] = b"ustar\x0000"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + data + bytes(-len(data) % 512)


@pytest.fixture(scope="module")
def hundred_thousand_members() -> bytes:
    tiny = [ustar_member(f"etc/apps/a{i % 100}/bin/f{i}", b"x") for i in range(100_000)]
    conf_member = ustar_member("etc/system/local/inputs.conf", INPUTS)
    return gzip.compress(b"".join([*tiny, conf_member, bytes(1024)]), compresslevel=6)


def test_a_hundred_thousand_tiny_members_are_accepted(hundred_thousand_members: bytes) -> None:
    members, findings = read_all(hundred_thousand_members)

    assert [member.path for member in members] == ["etc/system/local/inputs.conf"]
    assert findings == []


def test_more_members_than_max_members_are_rejected(hundred_thousand_members: bytes) -> None:
    with pytest.raises(ArchiveRejected, match=r"more than 1000 members.*parse\.max_members"):
        read_all(hundred_thousand_members, limits=ArchiveLimits(max_members=1_000))
    zipped = make_zip([(f"f{i}", b"") for i in range(11)])
    with pytest.raises(ArchiveRejected, match=r"parse\.max_members"):
        read_all(zipped, limits=ArchiveLimits(max_members=10))


def test_a_zip_whose_end_record_under_counts_its_members_is_refused_before_indexing() -> None:
    """zipfile indexes entries for the whole central-directory size, whatever count the end
    record declares: a 47 MB directory of 1M entries declared as 1 took 455 MB to index."""
    zipped = make_zip([(f"f{i}", b"") for i in range(2_000)])
    at = zipped.rfind(b"PK\x05\x06")
    lying = zipped[: at + 8] + struct.pack("<HH", 1, 1) + zipped[at + 12 :]
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveRejected, match=r"more than 100 members.*parse\.max_members"):
            read_all(lying, limits=ArchiveLimits(max_members=100))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000 * 200  # refused before zipfile built 2,000 ZipInfo objects


# -- corrupt and truncated -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_archive_is_rejected_with_a_reason(fmt: str, keep: float) -> None:
    files = {f"etc/apps/a{i}/default/inputs.conf": os.urandom(20_000) for i in range(8)}
    blob = make_archive(fmt, files)

    with pytest.raises(ArchiveRejected, match=r"truncated|corrupt") as caught:
        read_all(blob[: int(len(blob) * keep)])

    assert caught.value.limit is None


def test_a_tar_cut_at_a_member_boundary_is_rejected() -> None:
    blob = make_tar([("etc/apps/a/default/inputs.conf", bytes(512))])
    with pytest.raises(ArchiveRejected, match="end-of-archive"):
        read_all(blob[:1024])  # header and data, no end-of-archive blocks


def test_a_corrupt_gzip_is_rejected() -> None:
    blob = bytearray(gzip.compress(make_tar(FILES.items())))
    blob[30:40] = b"\xff" * 10

    with pytest.raises(ArchiveRejected, match=r"corrupt or truncated tar\.gz"):
        read_all(bytes(blob))


def test_a_corrupt_zip_is_rejected() -> None:
    blob = make_zip(FILES.items())
    no_directory = blob[: blob.rindex(b"PK\x01\x02")]
    bad_data = bytearray(blob)
    start = blob.index(b"inputs.conf") + len("inputs.conf")
    bad_data[start : start + 8] = b"\x00" * 8

    for broken in (no_directory, bytes(bad_data), b"PK\x03\x04" + os.urandom(600)):
        with pytest.raises(ArchiveRejected, match="corrupt"):
            read_all(broken)


def test_an_error_reading_the_blob_is_not_called_a_corrupt_archive() -> None:
    class Failing(NonSeekable):
        def read(self, size: int = -1) -> bytes:
            if self.bytes_read > 1000:
                raise ConnectionResetError("peer reset")
            return super().read(min(size, 600))

    files = [(f"etc/apps/a/local/{i}.conf", os.urandom(1000)) for i in range(20)]
    with pytest.raises(ConnectionResetError):
        read_all(Failing(gzip.compress(make_tar(files))))
    with pytest.raises(ConnectionResetError):
        read_all(Failing(make_zip(files)))

    class FailingSeekable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 1000:  # zipfile turns this into BadZipFile; it is not one
                raise ConnectionResetError("peer reset")
            return super().read(size)

    with pytest.raises(ConnectionResetError):
        read_all(FailingSeekable(make_zip(files)))


# -- the real corpus -------------------------------------------------------------------------


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.is_dir():
        reason = f"corpus not found at {path}"
        if os.environ.get("AUTODOC_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"required test data missing: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def test_the_corpus_deployment_server_is_read_with_provenance() -> None:
    etc = corpus("ds_etc", "dcom", "etc")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(etc, arcname="etc")
    expected = sorted(
        str(path.relative_to(etc.parent))
        for path in etc.rglob("*")
        if path.suffix in (".conf", ".meta")
    )

    members, findings = read_all(NonSeekable(buffer.getvalue()), DS, name="dcom-etc.tgz")

    by_path = {member.path: member for member in members}
    assert sorted(by_path) == expected
    assert findings == []
    assert by_path["etc/system/local/serverclass.conf"].provenance == conf(
        SYS, None, LOC, "serverclass"
    )
    assert by_path["etc/deployment-apps/DCOM/local/indexes.conf"].provenance == conf(
        DEPLOY, "DCOM", LOC, "indexes"
    )
    macros = by_path["etc/deployment-apps/DCOM/default/macros.conf"]
    assert macros.data == (etc / "deployment-apps/DCOM/default/macros.conf").read_bytes()
    assert by_path["etc/deployment-apps/timewrap/metadata/default.meta"].provenance == conf(
        DEPLOY, "timewrap", DEF, "default"
    )


@pytest.mark.parametrize("top_folder", [True, False])
def test_the_corpus_app_bundle_is_read_with_provenance(top_folder: bool) -> None:
    app = corpus("app_bundle", "Splunk_TA_paloalto")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(app.rglob("*")):
            if path.is_file():
                rel = path.relative_to(app.parent if top_folder else app)
                archive.write(path, str(rel))

    members, findings = read_all(buffer.getvalue(), APP, name="Splunk_TA_paloalto.zip")

    prefix = "Splunk_TA_paloalto/" if top_folder else ""
    by_path = placed(members)
    assert findings == []
    assert by_path[f"{prefix}default/props.conf"] == conf(APPL, "Splunk_TA_paloalto", DEF, "props")
    assert by_path[f"{prefix}metadata/default.meta"] == conf(
        APPL, "Splunk_TA_paloalto", DEF, "default"
    )
    assert len(by_path) == len(list(app.glob("default/*.conf"))) + 1


def test_a_conf_file_directly_under_etc_users_is_unplaced_not_a_crash() -> None:
    blob = make_tar(
        [("etc/users/foo.conf", b"[x]\na = 1\n"), ("etc/system/local/inputs.conf", b"[y]\n")]
    )
    members, findings = read_all(blob)
    assert [m.path for m in members] == ["etc/system/local/inputs.conf"]
    assert [(f.code, f.path) for f in findings] == [("unplaced-conf", "etc/users/foo.conf")]


def test_a_zip_declaring_too_many_members_is_rejected_before_zipfile_indexes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The count comes from the end-of-central-directory record: zipfile's index (hundreds
    of bytes a member) is never built."""
    zipped = make_zip([(f"f{i}", b"") for i in range(50)])

    def no_index(*args: object, **kwargs: object) -> None:
        raise AssertionError("zipfile.ZipFile was opened")

    monkeypatch.setattr(zipfile, "ZipFile", no_index)
    with pytest.raises(ArchiveRejected, match=r"parse\.max_members"):
        read_all(zipped, limits=ArchiveLimits(max_members=10))


def test_what_follows_the_end_of_archive_marker_is_ignored_as_gnu_tar_does() -> None:
    """Bytes after the marker of a plain tar, or a second .tgz concatenated to the first:
    `tar -tf` lists the first archive and succeeds; so do we."""
    first = make_tar([("etc/system/local/inputs.conf", b"[a]\n")])
    second = make_tar([("etc/system/local/props.conf", b"[b]\n")])
    members, _ = read_all(first + b"trailing garbage" * 100)
    assert [m.path for m in members] == ["etc/system/local/inputs.conf"]
    members, _ = read_all(gzip.compress(first) + gzip.compress(second))
    assert [m.path for m in members] == ["etc/system/local/inputs.conf"]


# -- zip members that lie about their sizes --------------------------------------------------

KiB = 1024
MiB = 1024 * KiB
METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}
LIAR = "etc/apps/a/local/inputs.conf"
# Offsets of the CRC and the two sizes (each "<L") in a local header and a central directory entry.
LOCAL_FIELDS = {"crc": 14, "compress_size": 18, "file_size": 22}
CENTRAL_FIELDS = {"crc": 16, "compress_size": 20, "file_size": 24}


def zip_with(method: str, entries: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=METHODS[method]) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def patch_zip(
    blob: bytes,
    name: str,
    *,
    local: dict[str, int] | None = None,
    central: dict[str, int] | None = None,
) -> bytes:
    """`blob` with fields of `name`'s local header and central directory entry rewritten."""
    data = bytearray(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        header, entry = archive.getinfo(name).header_offset, archive.start_dir
    while data[entry + 46 : entry + 46 + len(name)] != name.encode():
        assert data[entry : entry + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, entry + 28)
        entry += 46 + name_length + extra_length + comment_length
    for field, value in (local or {}).items():
        struct.pack_into("<L", data, header + LOCAL_FIELDS[field], value)
    for field, value in (central or {}).items():
        struct.pack_into("<L", data, entry + CENTRAL_FIELDS[field], value)
    return bytes(data)


def declaring(data: bytes, size: int) -> dict[str, int]:
    """Fields that claim the member is its first `size` bytes: a lie zipfile cannot see, as
    it cuts what it inflated down to the declared size and checks the CRC of that."""
    return {"file_size": size, "crc": zlib.crc32(data[:size])}


def lying_zip(method: str, data: bytes, *, size: int = 100) -> bytes:
    fields = declaring(data, size)
    return patch_zip(zip_with(method, [(LIAR, data)]), LIAR, local=fields, central=fields)


NO_RATIO = 1e12  # so that the limit under test is the one that stops the read
LIE_LIMITS = {
    "parse.max_member_bytes": ArchiveLimits(max_member_bytes=256 * KiB, max_ratio=NO_RATIO),
    "parse.max_total_bytes": ArchiveLimits(max_total_bytes=256 * KiB, max_ratio=NO_RATIO),
    "parse.max_ratio": ArchiveLimits(max_ratio=50, ratio_floor_bytes=64 * KiB),
}
LIES = [
    (method, limit)
    for method in METHODS
    for limit in LIE_LIMITS
    if (method, limit) != ("stored", "parse.max_ratio")  # stored expands 1:1
]


@pytest.mark.parametrize(("method", "limit"), LIES)
def test_a_zip_member_lying_about_its_size_is_refused_by_what_it_produces(
    method: str, limit: str
) -> None:
    """Both headers say 100 bytes; the data inflates to 2 MiB. zipfile inflated all of it
    and returned the first 100 bytes, whose CRC the lie matches."""
    blob = lying_zip(method, bytes(2 * MiB))

    for source in (blob, NonSeekable(blob)):
        with pytest.raises(ArchiveRejected, match=re.escape(limit)) as caught:
            read_all(source, limits=LIE_LIMITS[limit])

        assert caught.value.limit == limit


@pytest.mark.parametrize("method", ["deflate", "bzip2", "lzma"])
def test_a_lying_zip_member_is_never_held_beyond_the_limit(method: str) -> None:
    """zipfile has bzip2 and lzma inflate a whole chunk of input, and deflate the whole
    member, before cutting it down to the declared size: 16 MiB here, 1.5 GiB in issue 9."""
    blob = lying_zip(method, bytes(16 * MiB))
    limits = ArchiveLimits(max_member_bytes=1 * MiB, max_ratio=NO_RATIO)

    tracemalloc.start()
    try:
        with pytest.raises(ArchiveRejected, match=r"parse\.max_member_bytes"):
            read_all(blob, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 3 * MiB


@pytest.mark.parametrize("method", ["deflate", "bzip2", "lzma"])
def test_a_zip_member_lying_about_its_compressed_size_is_held_to_what_it_really_read(
    method: str,
) -> None:
    """A huge compressed size must not make the ratio pass; a tiny one cuts the data short,
    which is a corrupt member, not a bomb."""
    data = bytes(2 * MiB)
    huge = {**declaring(data, 100), "compress_size": 0x7FFF_FFFF}
    blob = patch_zip(zip_with(method, [(LIAR, data)]), LIAR, local=huge, central=huge)

    with pytest.raises(ArchiveRejected, match=r"parse\.max_ratio") as caught:
        read_all(blob, limits=LIE_LIMITS["parse.max_ratio"])
    assert caught.value.limit == "parse.max_ratio"

    tiny = {"compress_size": 10}
    blob = patch_zip(zip_with(method, [(LIAR, data)]), LIAR, local=tiny, central=tiny)
    with pytest.raises(ArchiveRejected, match="corrupt") as caught:
        read_all(blob, limits=ArchiveLimits(max_ratio=NO_RATIO))
    assert caught.value.limit is None


@pytest.mark.parametrize("method", list(METHODS))
def test_a_central_directory_that_disagrees_with_the_local_header_is_not_trusted(
    method: str,
) -> None:
    """Whichever of the two says 100 bytes, the 2 MiB the member holds are counted."""
    data = bytes(2 * MiB)
    limits = LIE_LIMITS["parse.max_member_bytes"]
    honest = zip_with(method, [(LIAR, data), ("etc/apps/a/local/props.conf", INPUTS)])

    for liar in ("central", "local"):
        blob = patch_zip(honest, LIAR, **{liar: declaring(data, 100)})
        with pytest.raises(ArchiveRejected, match=r"parse\.max_member_bytes") as caught:
            read_all(blob, limits=limits)
        assert caught.value.limit == "parse.max_member_bytes"

    # A local header naming another file is refused, as zipfile refuses it.
    renamed = honest.replace(b"local/props.conf", b"local/propz.conf", 1)
    with pytest.raises(ArchiveRejected, match=r"corrupt.*differ"):
        read_all(renamed, limits=ArchiveLimits(max_ratio=NO_RATIO))


def test_a_zip_member_cannot_read_into_the_next_members_local_header() -> None:
    """The "quoted overlap" bomb: a member whose compressed size runs over the members after
    it, so that their data is inflated again with its own. Stored shows it plainly."""
    first, second = b"[a]\nx = 1\n", b"[b]\ny = 2\n"
    blob = zip_with("stored", [(LIAR, first), ("etc/apps/a/local/props.conf", second)])
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        info = archive.getinfo(LIAR)
        end = archive.start_dir
    start = info.header_offset + 30 + len(LIAR)
    overlapping = blob[start:end]  # its own data, then the second member's header and data
    lie = {
        "compress_size": len(overlapping),
        "file_size": len(overlapping),
        "crc": zlib.crc32(overlapping),
    }

    with pytest.raises(ArchiveRejected, match="corrupt") as caught:
        read_all(patch_zip(blob, LIAR, local=lie, central=lie))

    assert caught.value.limit is None


CONF_TEXT = b"".join(
    b"[monitor:///var/log/app%d.log]\nindex = main\nsourcetype = app:%d\n" % (i, i)
    for i in range(5000)
)


class WriteOnly:
    """A pipe to write a zip to: zipfile cannot seek back, and writes data descriptors."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("streamed", [False, True])
def test_an_honest_zip_reads_the_same_with_every_method(method: str, streamed: bool) -> None:
    """`streamed`: written to a pipe, so the sizes are in the central directory and in a data
    descriptor after the data, and the local header says 0."""
    files = {**FILES, "etc/apps/big/default/inputs.conf": CONF_TEXT, "etc/apps/e/local/e.conf": b""}
    target = WriteOnly()
    with zipfile.ZipFile(target if streamed else target.buffer, "w", METHODS[method]) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    blob = target.buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert all(bool(info.flag_bits & 0x08) == streamed for info in archive.infolist())

    for source in (blob, NonSeekable(blob)):
        members, findings = read_all(source)

        assert {m.path: m.data for m in members} == {
            path: data for path, data in files.items() if path.endswith(".conf")
        }
        assert findings == []


@pytest.mark.parametrize("root", ["etc/", "opt/splunk/etc/", ""])
def test_an_etc_trees_version_and_instance_files_are_read_as_facts(root: str) -> None:
    """etc/splunk.version (VERSION, PLATFORM) and etc/instance.cfg ([general] guid) say what
    the instance is (RESOLVER.md §2); they are kept as conf members of the system layer."""
    files = {
        f"{root}splunk.version": b"VERSION=9.4.3\nPLATFORM=Linux-x86_64\n",
        f"{root}instance.cfg": b"[general]\nguid = 1B2C3D4E-0000-4000-8000-123456789ABC\n",
        f"{root}apps/x/splunk.version": b"VERSION=1\n",  # not at the etc root: not a fact
    }
    members, _ = read_all(make_archive("tar.gz", files))
    found = {(m.provenance.conf_type, m.provenance.layer, m.provenance.scope) for m in members}
    assert found == {("splunk.version", Layer.SYSTEM, None), ("instance.cfg", Layer.SYSTEM, None)}
    app_members, _ = read_all(make_archive("tar.gz", files), UploadType.APP_BUNDLE)
    assert app_members == []


def test_a_zip_member_with_strong_encryption_is_refused_with_the_reason() -> None:
    zipped = bytearray(make_zip([("etc/system/local/inputs.conf", b"[x]\n")]))
    central = zipped.rfind(b"PK\x01\x02")
    local = zipped.find(b"PK\x03\x04")
    for at in (central + 8, local + 6):  # general purpose flags: bit 6, strong encryption
        zipped[at] |= 0x40
    with pytest.raises(ArchiveRejected, match="strong encryption"):
        read_all(bytes(zipped))
