from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.docs.publish import builds, publish


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
    assert os.readlink(tmp_path / "latest") == "3"
    assert (tmp_path / "3").is_dir()
