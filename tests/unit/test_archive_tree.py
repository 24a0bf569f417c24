"""What an etc/ tree holds beyond its .conf files: the app folders (`bundle_dirs`, so an app
with no .conf file is still in the repository) and the plain files serverclass.conf reads
(`whitelist.from_pathname`), read by their path from etc/ on."""

from __future__ import annotations

import io
import tarfile

import pytest

from daemon.conf.archive import (
    ArchiveLimits,
    ArchiveRejected,
    read_members,
    read_tree_files,
    tree_path,
)
from daemon.conf.types import Finding
from daemon.domain import UploadType
from tests.unit.test_archive import NonSeekable, make_archive, make_tar

FORMATS = ["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"]


def dirs_of(blob: bytes, upload_type: UploadType = UploadType.DS_ETC) -> set[str]:
    dirs: set[str] = set()
    findings: list[Finding] = []
    list(read_members(io.BytesIO(blob), upload_type, name="b.tgz", findings=findings, dirs=dirs))
    return dirs


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("etc/system/local/a.csv", "etc/system/local/a.csv"),
        ("opt/splunk/etc/deployment-apps/x/bin/s.sh", "etc/deployment-apps/x/bin/s.sh"),
        ("./deployment-apps/x/README", "etc/deployment-apps/x/README"),  # a tree of etc's content
        ("splunk/etc/my-repo/app/default/app.conf", "etc/my-repo/app/default/app.conf"),
        ("unrelated/file.txt", None),
        ("", None),
    ],
)
def test_tree_path_is_the_member_relative_to_splunk_home(path: str, expected: str | None) -> None:
    assert tree_path(path) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_etc_tree_records_every_app_folder_whatever_its_files(fmt: str) -> None:
    blob = make_archive(
        fmt,
        {
            "splunk/etc/deployment-apps/conf_app/default/app.conf": b"[ui]\n",
            "splunk/etc/deployment-apps/scripts_only/bin/run.sh": b"#!/bin/sh\n",
            "splunk/etc/deployment-apps/README.txt": b"not an app\n",
            "splunk/etc/apps/search/metadata/local.meta": b"",
            "splunk/etc/my-repo/custom/lookups/x.csv": b"a\n",
            "splunk/etc/system/local/serverclass.conf": b"[global]\n",
            "splunk/etc/users/admin/search/local/ui-prefs.conf": b"",
        },
    )
    assert dirs_of(blob) == {
        "etc/deployment-apps/conf_app",
        "etc/deployment-apps/scripts_only",
        "etc/apps/search",
        "etc/my-repo/custom",
    }


def test_an_empty_app_folder_is_recorded_from_its_directory_entry() -> None:
    folder = tarfile.TarInfo("etc/deployment-apps/empty")
    folder.type = tarfile.DIRTYPE
    assert dirs_of(make_tar([folder])) == {"etc/deployment-apps/empty"}


def test_folders_are_recorded_for_etc_trees_only() -> None:
    blob = make_tar([("myapp/default/app.conf", b"[ui]\n"), ("myapp/bin/x.sh", b"")])
    assert dirs_of(blob, UploadType.APP_BUNDLE) == set()


@pytest.mark.parametrize("fmt", FORMATS)
def test_tree_files_are_read_by_their_path_from_etc_on(fmt: str) -> None:
    blob = make_archive(
        fmt,
        {
            "opt/splunk/etc/system/local/clients.csv": b"host,env\nweb01,prod\n",
            "opt/splunk/etc/system/local/serverclass.conf": b"[global]\n",
            "opt/splunk/etc/deployment-apps/x/bin/hosts.txt": b"web*\n",
        },
    )
    wanted = {"etc/system/local/clients.csv", "etc/deployment-apps/x/bin/hosts.txt", "etc/nope"}
    found = read_tree_files(io.BytesIO(blob), UploadType.DS_ETC, name="b.tgz", wanted=wanted)
    assert found == {
        "etc/system/local/clients.csv": b"host,env\nweb01,prod\n",
        "etc/deployment-apps/x/bin/hosts.txt": b"web*\n",
    }


def test_tree_files_stream_from_a_non_seekable_body() -> None:
    blob = make_archive("zip", {"etc/system/local/l.txt": b"a\n"})
    found = read_tree_files(
        NonSeekable(blob),  # type: ignore[arg-type]
        UploadType.DS_ETC,
        name="b.zip",
        wanted={"etc/system/local/l.txt"},
    )
    assert found == {"etc/system/local/l.txt": b"a\n"}


def test_a_tree_file_held_twice_reads_as_the_later_copy() -> None:
    blob = make_tar([("etc/system/local/l.txt", b"first\n"), ("etc/system/local/l.txt", b"2\n")])
    found = read_tree_files(
        io.BytesIO(blob), UploadType.DS_ETC, name="b.tar", wanted={"etc/system/local/l.txt"}
    )
    assert found == {"etc/system/local/l.txt": b"2\n"}


def test_a_tree_file_over_the_member_limit_is_refused_not_read() -> None:
    blob = make_tar([("etc/system/local/big.txt", b"x" * 5000)])
    with pytest.raises(ArchiveRejected) as caught:
        read_tree_files(
            io.BytesIO(blob),
            UploadType.DS_ETC,
            name="b.tar",
            wanted={"etc/system/local/big.txt"},
            limits=ArchiveLimits(max_member_bytes=1000),
        )
    assert caught.value.limit == "parse.max_member_bytes"


def test_links_and_traversal_are_never_read_as_tree_files() -> None:
    link = tarfile.TarInfo("etc/system/local/passwd.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    blob = make_tar([link, ("etc/../etc/system/local/t.txt", b"x\n")])
    wanted = {"etc/system/local/passwd.txt", "etc/system/local/t.txt"}
    assert read_tree_files(io.BytesIO(blob), UploadType.DS_ETC, name="b", wanted=wanted) == {}
