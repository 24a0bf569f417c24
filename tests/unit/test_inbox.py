from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from daemon.errors import BadFileName, Refused
from daemon.inbox import (
    MAX_NAME_BYTES,
    Drop,
    Inbox,
    Unroutable,
    check_name,
    check_regular,
    classify,
    is_in_progress,
    is_settled,
    printable,
)
from daemon.models import UploadType


@pytest.mark.parametrize(
    "name",
    [".etc.tgz.Xa83kd", "etc.tgz.tmp", "etc.tgz.part", "a.partial", "a.filepart", "a.tgz~"],
)
def test_in_progress_names_are_ignored(name: str) -> None:
    assert is_in_progress(name)
    assert classify(("ds_etc", name)) is None


def test_file_in_type_folder_is_a_drop_without_label() -> None:
    assert classify(("ds_etc", "etc.tgz")) == Drop(Path("ds_etc/etc.tgz"), UploadType.DS_ETC, None)


def test_feeder_folder_becomes_the_label() -> None:
    drop = classify(("app_bundle", "sh01", "app.spl"))
    assert drop == Drop(Path("app_bundle/sh01/app.spl"), UploadType.APP_BUNDLE, "sh01")


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (("etc.tgz",), "inbox root"),
        (("uploads", "etc.tgz"), "unknown folder"),
        (("ds_etc", "a", "b", "etc.tgz"), "nested too deep"),
    ],
)
def test_files_outside_type_folders_are_unroutable(parts: tuple[str, ...], reason: str) -> None:
    decision = classify(parts)
    assert isinstance(decision, Unroutable)
    assert reason in decision.reason


def test_processing_folder_is_never_a_drop() -> None:
    assert classify((".processing", "ds_etc", "x.tgz")) is None


def test_name_checks_reject_bad_utf8_newlines_and_long_names() -> None:
    check_name("etc-2026-11-28.tgz")
    check_name("é" * (MAX_NAME_BYTES // 2))
    with pytest.raises(BadFileName, match="not valid UTF-8"):
        check_name(os.fsdecode(b"bad\xff.tgz"))
    with pytest.raises(BadFileName, match="line break"):
        check_name("two\nlines.tgz")
    with pytest.raises(BadFileName, match="limit is 200"):
        check_name("a" * (MAX_NAME_BYTES + 1))


def test_printable_escapes_bytes_and_line_breaks() -> None:
    assert printable(os.fsdecode(b"bad\xff\n.tgz")) == "bad\\xff\\n.tgz"


def test_file_is_settled_after_settle_seconds_without_modification(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    st = path.stat()
    assert not is_settled(st, st.st_mtime + 1.0, 2.0)
    assert is_settled(st, st.st_mtime + 2.0, 2.0)


def test_special_files_and_links_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"x")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    os.link(target, tmp_path / "hard")
    try:
        for name, reason in [
            ("link", "symbolic link"),
            ("fifo", "FIFO"),
            ("sock", "socket"),
            ("hard", "2 hard links"),
        ]:
            with pytest.raises(Refused, match=reason):
                check_regular(os.lstat(tmp_path / name))
        check_regular(os.lstat(target), single_link=False)
    finally:
        sock.close()


def test_claim_moves_the_drop_into_processing_and_recovery_lists_it(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.ensure()
    (tmp_path / "ds_etc" / "web01").mkdir()
    source = tmp_path / "ds_etc" / "web01" / "etc.tgz"
    source.write_bytes(b"data")
    drops, problems = inbox.survey()
    assert problems == []
    [(drop, _st)] = drops
    claimed = inbox.claim(drop)
    assert claimed is not None
    assert not source.exists()
    assert claimed.path.parent == tmp_path / ".processing" / "ds_etc" / "web01"
    assert claimed.path.read_bytes() == b"data"
    assert list(inbox.claimed()) == [claimed]
    # A second claim of the same drop finds nothing: the rename already happened.
    assert inbox.claim(drop) is None


def test_survey_reports_unroutable_and_refused_without_touching_them(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.ensure()
    (tmp_path / "root.tgz").write_bytes(b"x")
    (tmp_path / "ds_etc" / "link.tgz").symlink_to(tmp_path / "root.tgz")
    drops, problems = inbox.survey()
    assert drops == []
    kinds = {(str(item.path), kind) for item, kind in problems}
    assert kinds == {("root.tgz", "unroutable"), ("ds_etc/link.tgz", "refused")}
    assert (tmp_path / "ds_etc" / "link.tgz").is_symlink()
