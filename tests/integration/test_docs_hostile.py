"""Hostile input to the docs site, diff and preview (issue 12), each a bug a hostile pass found:
a class name with a colon, OUT a file or latest a folder, two publishes at once, a value
forging lines of the change ticket, a stray folder in OUT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.config import Config
from daemon.database import Database
from daemon.docs import publish as pub
from daemon.docs.diff import ResolutionView, diff
from daemon.docs.ticket import to_text
from daemon.domain import UploadType
from tests.cli_driver import run_commands
from tests.docs_estates import ingest, resolve, tar


def _estate(config: Config, db: Database, folder: Path) -> int:
    sc = (
        "[serverClass:web]\nwhitelist.0 = *\n[serverClass:web:app:ta]\n"
        "[serverClass:web:prod]\nwhitelist.0 = h1\n[serverClass:web:prod:app:ta]\n"
    )
    files = {
        "etc/system/local/serverclass.conf": sc.encode(),
        "etc/deployment-apps/ta/default/inputs.conf": b"[monitor:///a]\nindex = main\n",
    }
    ingest(config, db, folder, "ds.tgz", tar(files), UploadType.DS_ETC, "ds1")
    clients = b"clientName,hostname,ip,dns,guid,utsname\nh1,h1,10.0.0.1,h1,,linux-x86_64\n"
    ingest(config, db, folder, "c.csv", clients, UploadType.INVENTORY, "ds1")
    return resolve(config, db)


def test_a_class_name_with_a_colon_is_documented_as_the_resolver_reads_it(
    config: Config, db: Database, tmp_path: Path
) -> None:
    _estate(config, db, tmp_path)
    [built] = run_commands(db.url, tmp_path, ("docs", "build", str(tmp_path / "site")))
    assert built["code"] == 0, built["stderr"]
    site = tmp_path / "site" / "latest" / "serverclasses"
    prod = (site / "web~3Aprod.html").read_text()
    web = (site / "web.html").read_text()
    # The resolver's class "web:prod" has its rule on its own page, not on "web"'s.
    assert "No serverclass.conf stanza of a deployment server defines this class" not in prod
    assert "[serverClass:web:prod]" not in web


def test_build_into_an_out_that_is_a_file_or_whose_latest_is_a_folder_says_why_in_one_line(
    config: Config, db: Database, tmp_path: Path
) -> None:
    _estate(config, db, tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "lt" / "latest").mkdir(parents=True)
    results = run_commands(
        db.url,
        tmp_path,
        ("docs", "build", str(tmp_path / "afile")),
        ("docs", "build", str(tmp_path / "lt")),
    )
    for r in results:
        assert r["code"] != 0
        assert "Traceback" not in r["stderr"], r["stderr"][-400:]
        assert len(r["stderr"].strip().splitlines()) == 1


def test_two_publishes_of_one_resolution_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.rename
    fired = []

    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "index.html").write_text("x")

    def rename(src: object, dst: object) -> None:
        # Another build of resolution 7 publishes between this one's exists() and rename().
        if not fired and Path(str(src)).name.startswith(".building-"):
            fired.append(1)
            monkeypatch.setattr(pub.os, "rename", real)
            pub.publish(tmp_path, 7, build, 20)
            monkeypatch.setattr(pub.os, "rename", rename)
        real(src, dst)

    monkeypatch.setattr(pub.os, "rename", rename)
    pub.publish(tmp_path, 7, build, 20)  # OSError: [Errno 39] Directory not empty


def test_the_ticket_text_cannot_be_forged_by_a_value_nor_carry_terminal_escapes() -> None:
    old = ResolutionView(1, {}, {"ta": {"inputs.conf": {"monitor:///x": {"index": "a"}}}})
    value = {"index": "a\x1b]0;pwned\x07\x1b[2J", "sourcetype": "x\n  + [forged]"}
    new = ResolutionView(2, {}, {"ta": {"inputs.conf": {"monitor:///x": value}}})
    text = to_text(diff(old, new), "t")
    assert "\x1b" not in text
    assert "\n  + [forged]" not in text


def test_a_stray_folder_in_out_does_not_break_every_build(tmp_path: Path) -> None:
    (tmp_path / "\u00b2").mkdir()  # "²".isdigit() is True, int("²") raises
    assert pub.builds(tmp_path) == []
