"""SiteWriter: a page the same as the previous build's is a hard link to it, anything else is
written, and nothing of the previous build is ever written through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.docs.writer import SiteWriter


def _previous(tmp_path: Path) -> Path:
    old = tmp_path / "1"
    (old / "hosts").mkdir(parents=True)
    (old / "hosts" / "a.html").write_text("<p>a</p>")
    (old / "index.html").write_text("<p>resolution 1</p>")
    return old


def test_the_same_bytes_are_linked_other_bytes_and_new_pages_are_written(tmp_path: Path) -> None:
    old = _previous(tmp_path)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>a</p>")
    writer.save("index.html", "<p>resolution 2</p>")
    writer.save("hosts/b.html", "<p>b</p>")
    new = tmp_path / "2"
    assert os.stat(new / "hosts" / "a.html").st_ino == os.stat(old / "hosts" / "a.html").st_ino
    assert os.stat(new / "index.html").st_ino != os.stat(old / "index.html").st_ino
    assert (new / "index.html").read_text() == "<p>resolution 2</p>"
    assert (old / "index.html").read_text() == "<p>resolution 1</p>"
    assert (new / "hosts" / "b.html").read_text() == "<p>b</p>"
    assert (writer.linked, writer.written) == (1, 2)
    assert writer.counts == {"hosts": 2, "index.html": 1}


def test_a_page_of_the_same_size_but_other_bytes_is_written(tmp_path: Path) -> None:
    old = _previous(tmp_path)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>b</p>")
    assert (tmp_path / "2" / "hosts" / "a.html").read_text() == "<p>b</p>"
    assert (old / "hosts" / "a.html").read_text() == "<p>a</p>"
    assert writer.linked == 0


def test_a_symlink_in_the_previous_build_is_not_followed(tmp_path: Path) -> None:
    old = _previous(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("<p>x</p>")
    (old / "hosts" / "x.html").symlink_to(secret)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/x.html", "<p>x</p>")
    page = tmp_path / "2" / "hosts" / "x.html"
    assert not page.is_symlink() and os.stat(page).st_ino != os.stat(secret).st_ino
    assert writer.linked == 0


def test_without_a_previous_build_or_on_itself_everything_is_written(tmp_path: Path) -> None:
    old = _previous(tmp_path)
    for writer in (SiteWriter(tmp_path / "2"), SiteWriter(old, old)):
        writer.save("hosts/a.html", "<p>a</p>")
        assert writer.linked == 0 and writer.written == 1
    assert (old / "hosts" / "a.html").read_text() == "<p>a</p>"


def test_a_file_system_that_cannot_link_gets_every_page_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _previous(tmp_path)
    calls = []

    def refuse(src: object, dst: object, **_: object) -> None:
        calls.append(dst)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>a</p>")
    writer.save("index.html", "<p>resolution 1</p>")
    assert len(calls) == 1  # it stops trying after the first refusal
    assert (tmp_path / "2" / "hosts" / "a.html").read_text() == "<p>a</p>"
    assert (tmp_path / "2" / "index.html").read_text() == "<p>resolution 1</p>"
    assert (writer.linked, writer.written) == (0, 2)


def test_a_previous_build_removed_meanwhile_falls_back_to_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _previous(tmp_path)
    real = os.link
    attempts = []

    def gone(src: os.PathLike[str], dst: os.PathLike[str], **kw: bool) -> None:
        attempts.append(dst)
        if len(attempts) == 1:
            raise FileNotFoundError(2, "No such file or directory")
        real(src, dst, **kw)

    monkeypatch.setattr(os, "link", gone)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>a</p>")
    writer.save("index.html", "<p>resolution 1</p>")
    assert (writer.linked, writer.written) == (1, 1)  # linking goes on for the next page


def test_a_path_saved_twice_never_writes_through_the_link_into_the_previous_build(
    tmp_path: Path,
) -> None:
    old = _previous(tmp_path)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>a</p>")  # linked
    writer.save("hosts/a.html", "<p>NEW</p>")
    assert (tmp_path / "2" / "hosts" / "a.html").read_text() == "<p>NEW</p>"
    assert (old / "hosts" / "a.html").read_text() == "<p>a</p>"


def test_a_folder_of_the_previous_build_that_is_a_symlink_elsewhere_is_not_linked_from(
    tmp_path: Path,
) -> None:
    old = _previous(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (old / "hosts").rename(elsewhere)
    (old / "hosts").symlink_to(elsewhere)
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/a.html", "<p>a</p>")
    writer.save("index.html", "<p>resolution 1</p>")  # the root's own pages still are
    page = tmp_path / "2" / "hosts" / "a.html"
    assert os.stat(page).st_ino != os.stat(elsewhere / "a.html").st_ino
    assert (writer.linked, writer.written) == (1, 1)


def test_a_fifo_in_the_previous_build_is_not_waited_on(tmp_path: Path) -> None:
    old = _previous(tmp_path)
    os.mkfifo(old / "hosts" / "f.html")
    writer = SiteWriter(tmp_path / "2", old)
    writer.save("hosts/f.html", "")  # size 0, as the FIFO's: still written, not linked
    assert (tmp_path / "2" / "hosts" / "f.html").read_text() == ""
    assert writer.linked == 0
