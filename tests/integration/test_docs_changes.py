"""`autodoc preview`, `autodoc diff` and the changes page on a deployment server changed in
known ways (tests/docs_estates.py CHANGE_V1 -> CHANGE_V2: an app added to a class, a class
losing a host, an input's index changed): exactly those changes and nothing else, whether
previewed (nothing stored) or dropped, resolved and diffed. And a preview of what a drop
would refuse gives the drop's reason."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from daemon.config import Config, DatabaseConfig
from daemon.database import Database
from daemon.docs.publish import current, last_failure
from daemon.domain import UploadType
from daemon.models import Base
from tests.cli_driver import run_commands
from tests.docs_estates import (
    CHANGE_CLIENTS,
    CHANGE_V1,
    CHANGE_V2,
    changed_ds,
    ingest,
    resolve,
    tar,
)
from tests.zip_bombs import MiB, deflate_zeros, lying_zip

NGINX, AUDIT, MYSQL = (
    "monitor:///var/log/nginx",
    "monitor:///var/log/audit",
    "monitor:///var/log/mysql",
)
NOTHING: dict[str, list[Any]] = {
    "serverclasses_added": [],
    "serverclasses_removed": [],
    "apps_added": [],
    "apps_removed": [],
    "inputs_added": [],
    "inputs_removed": [],
    "inputs_changed": [],
    "paths_changed": [],
}
WEB = {
    **NOTHING,
    "change": "changed",
    "apps_added": ["audit_inputs"],
    "inputs_added": [AUDIT],
    "inputs_changed": [{"input": NGINX, "key": "index", "from": "web", "to": "web_v2"}],
    "paths_changed": [
        {"input": AUDIT, "from": [], "to": ["audit"]},
        {"input": NGINX, "from": ["web"], "to": ["web_v2"]},
    ],
}
EXPECTED_HOSTS = [
    {
        **NOTHING,
        "host": "db02",
        "change": "changed",
        "serverclasses_removed": ["db"],
        "apps_removed": ["db_inputs"],
        "inputs_removed": [MYSQL],
        "paths_changed": [{"input": MYSQL, "from": ["db"], "to": []}],
    },
    {"host": "web01", **WEB},
    {"host": "web02", **WEB},
]
EXPECTED_APPS = [
    {
        "app": "web_inputs",
        "change": "changed",
        "files": [
            {
                "path": "ds1: web_inputs/local/inputs.conf",
                "stanzas_added": [],
                "stanzas_removed": [],
                "keys_changed": [{"stanza": NGINX, "key": "index", "from": "web", "to": "web_v2"}],
            }
        ],
    }
]


def _stored(db: Database, folder: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of every table, and every file under var/ but the database with its size."""
    with db.read_session() as session:
        rows = {
            t.name: int(session.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }
    files = {
        str(p.relative_to(folder)): p.stat().st_size
        for p in (folder / "var").rglob("*")
        if p.is_file() and "autodoc.db" not in p.name
    }
    return rows, files


def test_preview_and_diff_show_exactly_the_known_changes_and_preview_stores_nothing(
    config: Config, db: Database, tmp_path: Path
) -> None:
    changed_ds(config, db, tmp_path)
    first = resolve(config, db)
    (tmp_path / "v1.tgz").write_bytes(tar(CHANGE_V1))
    (tmp_path / "v2.tgz").write_bytes(tar(CHANGE_V2))
    before = _stored(db, tmp_path)
    same, previewed, text = run_commands(
        db.url,
        tmp_path,
        ("preview", str(tmp_path / "v1.tgz"), "--json"),
        ("preview", str(tmp_path / "v2.tgz"), "--json", "--label", "ds1"),
        ("preview", str(tmp_path / "v2.tgz")),
    )
    assert _stored(db, tmp_path) == before  # no run, blob, resolution or row
    for result in (same, previewed, text):
        assert result["code"] == 0, result["stderr"]
    # The bundle already deployed changes nothing: a preview compares as a stored one does.
    unchanged = json.loads(same["stdout"])
    assert (unchanged["hosts"], unchanged["apps"]) == ([], [])
    assert unchanged["findings"] == {"new": [], "resolved": []}

    found = json.loads(previewed["stdout"])
    assert (found["from"], found["to"]) == (first, None)
    assert found["hosts"] == EXPECTED_HOSTS
    assert found["apps"] == EXPECTED_APPS
    assert found["findings"]["new"] == []
    assert [(f["code"], f["subject"]) for f in found["findings"]["resolved"]] == [
        ("APP_UNUSED", "app:audit_inputs")
    ]
    ticket = text["stdout"]
    assert ticket.splitlines()[:2] == [
        f"Changes: resolution {first} -> v2.tgz as deployment server 'ds1' (preview)",
        "hosts: 3 changed, 0 added, 0 removed; apps: 1 changed; findings: 0 new, 1 resolved",
    ]
    assert "2 hosts: web01, web02 (changed)" in ticket
    assert f"[{NGINX}] index: web -> web_v2" in ticket
    assert f"{MYSQL}: db -> (no path)" in ticket
    assert "  -   index = web\n  +   index = web_v2\n" in ticket

    # Dropped, resolved and diffed: the same changes.
    ingest(config, db, tmp_path, "ds-v2.tgz", tar(CHANGE_V2), UploadType.DS_ETC, "ds1")
    second = resolve(config, db)
    out = tmp_path / "site"
    diffed, diff_text, built, first_only = run_commands(
        db.url,
        tmp_path,
        ("diff", "--json"),
        ("diff", str(first), str(second)),
        ("docs", "build", str(out)),
        ("diff", "--json", str(first), str(first)),
    )
    assert json.loads(diffed["stdout"]) == {**found, "to": second}
    assert (
        diff_text["stdout"].splitlines()[0] == f"Changes: resolution {first} -> resolution {second}"
    )
    assert diff_text["stdout"].splitlines()[1:] == ticket.splitlines()[1:]
    assert json.loads(first_only["stdout"])["hosts"] == []

    # The changes page of the new site shows the same, with links to the pages.
    assert built["code"] == 0, built["stderr"]
    page = (out / "latest" / "changes.html").read_text()
    assert f"From resolution {first} to resolution {second}" in page
    assert 'href="hosts/db02.html"' in page and 'href="apps/web_inputs.html"' in page
    assert '<span class="del">-   index = web</span>' in page
    assert '<span class="ins">+   index = web_v2</span>' in page
    assert "APP_UNUSED" in page


def test_diff_of_the_first_resolution_and_a_preview_of_what_a_drop_refuses_exit_2(
    config: Config, db: Database, tmp_path: Path
) -> None:
    changed_ds(config, db, tmp_path)
    rid = resolve(config, db)
    bad = {
        "notes.txt": b"[serverClass:x]\nwhitelist.0 = *\n",
        "empty.tgz": _empty_tarball(),
        "bomb.zip": lying_zip(
            "etc/deployment-apps/x/default/inputs.conf",
            zipfile.ZIP_DEFLATED,
            deflate_zeros(64 * MiB),
        ),
        "truncated.tgz": tar(CHANGE_V1)[:200],
        "zero.tgz": b"",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    os.mkfifo(tmp_path / "fifo.tgz")
    (tmp_path / "v1.tgz").write_bytes(tar(CHANGE_V1))
    before = _stored(db, tmp_path)
    results = run_commands(
        db.url,
        tmp_path,
        *(("preview", str(tmp_path / name)) for name in bad),
        ("preview", str(tmp_path / "fifo.tgz")),
        ("preview", str(tmp_path / "missing.tgz")),
        ("preview", str(tmp_path / "v1.tgz"), "--label", "nope"),
        ("diff",),
    )
    assert _stored(db, tmp_path) == before
    for result in results:
        assert result["code"] == 2, result
        assert result["stdout"] == ""
        assert len(result["stderr"].strip().splitlines()) == 1  # one line, no traceback
    lines = [r["stderr"].strip() for r in results]
    assert "not an archive" in lines[0]
    assert "no serverclass.conf in the bundle" in lines[1]
    assert "a compression bomb?" in lines[2] and "parse.max_ratio" in lines[2]
    assert "truncated tar.gz archive" in lines[3]
    assert "the file is empty" in lines[4]
    assert "not a regular file (FIFO)" in lines[5]
    assert "missing.tgz: no such file" in lines[6]
    assert "no deployment server is labelled 'nope'; the labels are: 'ds1'" in lines[7]
    assert f"resolution {rid} is the first complete one" in lines[8]


def _empty_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    return buffer.getvalue()


def test_a_failed_daemon_build_leaves_latest_logs_why_and_waits_before_trying_again(
    config: Config, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.cli.docs import cmd_build
    from daemon.docs import site

    config = dataclasses.replace(config, database=DatabaseConfig(url=db.url))
    root = config.docs.path
    daemon_build = argparse.Namespace(out=None, resolution=None, quiet=True, if_stale=True)
    changed_ds(config, db, tmp_path)
    first = resolve(config, db)
    assert cmd_build(daemon_build, config) == 0
    assert current(root) == first
    ingest(config, db, tmp_path, "ds-v2.tgz", tar(CHANGE_V2), UploadType.DS_ETC, "ds1")
    second = resolve(config, db)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(site, "build", broken)
    with capture_logs() as logs:
        assert cmd_build(daemon_build, config) == 1
    [event] = [e for e in logs if e["event"] == "docs.build_failed"]
    assert event["resolution_id"] == second and "disk on fire" in event["error"]
    assert current(root) == first  # the previous site stays
    assert not [p for p in root.iterdir() if p.name.startswith(".building-")]
    failed = last_failure(root)
    assert failed is not None and failed["resolution"] == second
    monkeypatch.undo()
    # The daemon does not try a failed build again at once; by hand it is built.
    assert cmd_build(daemon_build, config) == 0
    assert current(root) == first
    by_hand = argparse.Namespace(out=None, resolution=None, quiet=True, if_stale=False)
    assert cmd_build(by_hand, config) == 0
    assert current(root) == second and last_failure(root) is None


def test_preview_diff_and_build_create_no_database_file_and_say_it_is_missing(
    tmp_path: Path,
) -> None:
    # No database yet: each says so and leaves no empty SQLite file behind.
    (tmp_path / "v1.tgz").write_bytes(tar(CHANGE_V1))
    nowhere = tmp_path / "none.db"
    for refused in run_commands(
        f"sqlite:///{nowhere}",
        tmp_path / "cli",
        ("preview", str(tmp_path / "v1.tgz")),
        ("diff",),
        ("docs", "build", str(tmp_path / "site")),
    ):
        assert refused["code"] == 2 and "does not exist" in refused["stderr"]
    assert not nowhere.exists() and not (tmp_path / "site").exists()


def test_a_missing_file_is_named_before_any_label_question(
    config: Config, db: Database, tmp_path: Path
) -> None:
    changed_ds(config, db, tmp_path)
    resolve(config, db)
    [missing] = run_commands(
        db.url, tmp_path / "cli", ("preview", str(tmp_path / "gone.tgz"), "--label", "nope")
    )
    assert missing["code"] == 2 and "gone.tgz: no such file" in missing["stderr"]


def test_a_build_of_the_same_estate_shares_the_unchanged_pages_with_the_previous_one(
    config: Config, db: Database, tmp_path: Path
) -> None:
    from daemon.cli.docs import cmd_build

    config = dataclasses.replace(config, database=DatabaseConfig(url=db.url))
    root = config.docs.path
    build = argparse.Namespace(out=None, resolution=None, quiet=True, if_stale=False)
    changed_ds(config, db, tmp_path)
    first = resolve(config, db)
    assert cmd_build(build, config) == 0
    # The same deployment server dropped again: a new run and resolution, the same estate.
    ingest(config, db, tmp_path, "ds-again.tgz", tar(CHANGE_V1), UploadType.DS_ETC, "ds1")
    second = resolve(config, db)
    assert second != first
    assert cmd_build(build, config) == 0
    old, new = root / str(first), root / str(second)
    pages = sorted(p.relative_to(new) for p in new.rglob("*.html"))
    assert pages == sorted(p.relative_to(old) for p in old.rglob("*.html"))
    shared = {p for p in pages if (old / p).stat().st_ino == (new / p).stat().st_ino}
    # Below the root a page names no run id nor resolution: every one of them is shared.
    assert shared == {p for p in pages if len(p.parts) > 1}
    assert Path("hosts/web01.html") in shared and Path("configs") in {p.parent for p in shared}
    # web01 and web02 get the same layers: one configuration page, naming both.
    [config] = set(
        re.findall(
            r'href="\.\./(configs/[0-9a-f]+\.html)', (new / "hosts" / "web01.html").read_text()
        )
    )
    assert config in (new / "hosts" / "web02.html").read_text()
    text = (new / config).read_text()
    assert 'href="../hosts/web01.html"' in text and 'href="../hosts/web02.html"' in text
    assert 'href="../hosts/db01.html"' not in text
    assert f"resolution {second}" in (new / "index.html").read_text()
    assert f"resolution {first}" in (old / "index.html").read_text()


def test_a_preview_resolves_with_the_ds_version_its_base_resolution_was_asked_for(
    config: Config, db: Database, tmp_path: Path
) -> None:
    from daemon.resolving import resolve_estate

    # An app-level filter without a filterType: what web01/web02 get depends on the version.
    files = dict(CHANGE_V1)
    files["etc/system/local/serverclass.conf"] += b"[serverClass:web:app:audit_inputs]\n"
    files["etc/system/local/serverclass.conf"] += b"blacklist.0 = nothing*\n"
    ingest(config, db, tmp_path, "ds.tgz", tar(files), UploadType.DS_ETC, "ds1")
    ingest(config, db, tmp_path, "c.csv", CHANGE_CLIENTS.encode(), UploadType.INVENTORY, "ds1")
    for version in ("9.4.3", "9.2.0"):
        assert resolve_estate(config, db, ds_version=version).resolution_id is not None
        (tmp_path / "same.tgz").write_bytes(tar(files))
        [same] = run_commands(db.url, tmp_path, ("preview", str(tmp_path / "same.tgz"), "--json"))
        assert same["code"] == 0, same["stderr"]
        found = json.loads(same["stdout"])
        assert (found["hosts"], found["apps"], found["findings"]) == (
            [],
            [],
            {"new": [], "resolved": []},
        ), version
