from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from daemon.docs.publish import (
    PublishError,
    builds,
    current,
    last_failure,
    publish,
    record_failure,
)
from daemon.owners import this_process
from daemon.status import _docs_line, docs_status


def _writer(text: str):  # type: ignore[no-untyped-def]
    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "index.html").write_text(text)

    return build


def test_latest_points_at_the_newest_build_and_old_builds_are_pruned(tmp_path: Path) -> None:
    for rid in (1, 2, 3, 4):
        publish(tmp_path, rid, _writer(f"r{rid}"), keep=2)
    assert builds(tmp_path) == [3, 4]
    assert os.readlink(tmp_path / "latest") == "4"
    assert (tmp_path / "latest" / "index.html").read_text() == "r4"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_rebuild_replaces_the_build_and_a_failed_build_changes_nothing(tmp_path: Path) -> None:
    publish(tmp_path, 5, _writer("first"), keep=20)
    publish(tmp_path, 5, _writer("second"), keep=20)
    assert (tmp_path / "latest" / "index.html").read_text() == "second"

    def broken(folder: Path) -> None:
        folder.mkdir()
        (folder / "half.html").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        publish(tmp_path, 6, broken, keep=20)
    assert builds(tmp_path) == [5]
    assert os.readlink(tmp_path / "latest") == "5"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pruning_never_removes_the_build_latest_points_at(tmp_path: Path) -> None:
    publish(tmp_path, 9, _writer("nine"), keep=5)
    publish(tmp_path, 3, _writer("three"), keep=1)  # an older resolution rebuilt last
    assert os.readlink(tmp_path / "latest") == "9"  # latest stays on the newest
    assert (tmp_path / "9").is_dir() and (tmp_path / "3").is_dir()  # and the one just built
    publish(tmp_path, 10, _writer("ten"), keep=1)
    assert builds(tmp_path) == [10]


def test_what_a_killed_build_left_goes_at_the_next_publish_and_a_live_one_stays(
    tmp_path: Path,
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f".building-7-0123456789ab-{socket.gethostname()}:{dead.pid}"
    live = tmp_path / f".building-8-0123456789ab-{this_process()}"
    for folder in (left, live):
        (folder / "hosts").mkdir(parents=True)
    publish(tmp_path, 9, _writer("nine"), keep=5)
    assert not left.exists()
    assert live.is_dir()  # another build at work (here: this process)


def test_a_failed_build_is_noted_until_a_build_succeeds_and_status_says_so(
    tmp_path: Path,
) -> None:
    assert current(tmp_path) is None
    assert docs_status(tmp_path)["resolution"] is None
    assert _docs_line(docs_status(tmp_path)).startswith("not built yet")
    publish(tmp_path, 4, _writer("four"), keep=5)
    record_failure(tmp_path, 5, "RuntimeError('disk on fire')")
    status = docs_status(tmp_path)
    assert (current(tmp_path), status["resolution"]) == (4, 4)
    assert status["last_failure"]["resolution"] == 5
    line = _docs_line(status)
    assert line.startswith(f"{tmp_path / 'latest' / 'index.html'}: resolution 4, built ")
    assert "the build of resolution 5 FAILED: RuntimeError('disk on fire')" in line
    publish(tmp_path, 5, _writer("five"), keep=5)
    assert last_failure(tmp_path) is None
    assert docs_status(tmp_path)["resolution"] == 5


def test_an_older_resolution_built_by_hand_does_not_take_latest_back(tmp_path: Path) -> None:
    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "index.html").write_text("x")

    publish(tmp_path, 5, build, 20)
    publish(tmp_path, 3, build, 20)
    assert os.readlink(tmp_path / "latest") == "5"
    assert (tmp_path / "3" / "index.html").is_file()
    publish(tmp_path, 6, build, 20)
    assert os.readlink(tmp_path / "latest") == "6"


def test_folders_that_are_not_builds_are_never_pruned_nor_replaced(tmp_path: Path) -> None:
    for year in ("1", "2001", "2002"):
        (tmp_path / year).mkdir()
        (tmp_path / year / "precious.txt").write_text("keep me")
    for rid in (5, 6, 7):
        publish(tmp_path, rid, _writer(f"r{rid}"), keep=1)
    assert builds(tmp_path) == [7]
    for year in ("1", "2001", "2002"):
        assert (tmp_path / year / "precious.txt").read_text() == "keep me"
    with pytest.raises(PublishError, match="not a site build"):
        publish(tmp_path, 2001, _writer("r2001"), keep=1)
    assert (tmp_path / "2001" / "precious.txt").read_text() == "keep me"
    assert os.readlink(tmp_path / "latest") == "7"


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_latest_that_is_not_a_link_is_refused_before_anything_is_built(
    tmp_path: Path, kind: str
) -> None:
    latest = tmp_path / "latest"
    if kind == "folder":
        latest.mkdir()
    else:
        latest.write_text("mine")
    with pytest.raises(PublishError, match="not the link"):
        publish(tmp_path, 3, _writer("r3"), keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_a_folder_inside_a_published_build_is_refused(tmp_path: Path) -> None:
    publish(tmp_path, 2, _writer("r2"), keep=5)
    for inside in (tmp_path / "latest", tmp_path / "2" / "sub"):
        with pytest.raises(PublishError, match="inside the published build"):
            publish(inside, 3, _writer("r3"), keep=5)
    assert sorted(p.name for p in (tmp_path / "2").iterdir()) == [".autodoc-build", "index.html"]
