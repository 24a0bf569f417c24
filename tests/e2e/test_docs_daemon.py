"""The daemon keeps the documentation site current (DOCS.md): after each resolution it builds
the site into var/docs/<id>/ and points `latest` at it, and the changes page shows what the
drop changed. A build killed midway (SIGKILL at a fault point) leaves `latest` on the whole
previous site, and the next start builds the missing one."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.docs_estates import CHANGE_CLIENTS, CHANGE_V1, CHANGE_V2, crawl, tar
from tests.e2e.conftest import TIMEOUT, Workspace, wait_for
from tests.e2e.test_crash_recovery import configure, running


def _latest(ws: Workspace) -> int | None:
    try:
        return int(os.readlink(ws.var / "docs" / "latest"))
    except OSError:
        return None


def _newest_complete(ws: Workspace) -> int | None:
    with sqlite3.connect(ws.var / "autodoc.db") as db:
        [found] = db.execute("SELECT max(id) FROM resolutions WHERE status = 'complete'")
    return None if found[0] is None else int(found[0])


def _text(page: Path) -> str:
    try:
        return page.read_text()
    except OSError:
        return ""


def _site_of_newest(ws: Workspace, showing: str) -> int | None:
    """The newest complete resolution, once `latest` points at its site and `showing` is
    in the text of its changes page."""
    newest = _newest_complete(ws)
    if newest is None or _latest(ws) != newest:
        return None
    try:
        page = (ws.var / "docs" / "latest" / "changes.html").read_text()
    except OSError:
        return None
    return newest if showing in page else None


def test_the_daemon_rebuilds_the_site_and_a_build_killed_midway_leaves_latest_whole(
    workspace: Workspace,
) -> None:
    ws = configure(workspace)
    text = ws.config.read_text().replace("[parse]\nworkers = 0\n", "[parse]\nworkers = 1\n")
    ws.config.write_text(text + "\n[resolve]\ndebounce_seconds = 0.3\n")
    docs = ws.var / "docs"
    with running(ws) as daemon:
        daemon.wait_started()
        ws.drop("inventory", "clients.csv", CHANGE_CLIENTS.encode(), feeder="ds1")
        ws.drop("ds_etc", "v1.tgz", tar(CHANGE_V1), feeder="ds1")
        # The client list and the DS may be resolved apart (the list alone already makes a
        # page for web01): the site of both shows web01 getting the DS's web_inputs.
        first = wait_for(
            lambda: (
                "web_inputs" in _text(docs / "latest" / "hosts" / "web01.html")
                and _site_of_newest(ws, "</html>")
            ),
            TIMEOUT,
            "the first site",
        )
        ws.drop("ds_etc", "v2.tgz", tar(CHANGE_V2), feeder="ds1")
        second = wait_for(lambda: _site_of_newest(ws, "web_v2"), TIMEOUT, "the site of v2")
        daemon.assert_clean_exit()
    changes = (docs / "latest" / "changes.html").read_text()
    assert f"to resolution {second}" in changes
    assert '<span class="ins">+   index = web_v2</span>' in changes
    assert 'href="hosts/db02.html"' in changes

    # The docs child is killed (SIGKILL) with the host pages written, the rest not yet.
    with running(ws, "killed", AUTODOC_FAULT="mid_docs_build") as daemon:
        daemon.wait_started()
        ws.drop("ds_etc", "v1-again.tgz", tar(CHANGE_V1), feeder="ds1")
        wait_for(lambda: daemon.named("docs.build_exited"), TIMEOUT, "the build killed")
        third = _newest_complete(ws)
        assert third is not None and third > second  # the resolution itself is complete
        assert _latest(ws) == second
        [left] = [p for p in docs.iterdir() if p.name.startswith(f".building-{third}-")]
        assert (left / "hosts" / "web01.html").is_file()  # midway indeed
        site, broken = crawl(docs / "latest" / "index.html")
        assert broken == [] and len(site) > 10  # a whole site, every link resolves
        daemon.assert_clean_exit()

    # The next start builds the site that is missing, and clears what the killed one left.
    with running(ws, "again") as daemon:
        daemon.wait_started()
        wait_for(lambda: _latest(ws) == third, TIMEOUT, "the missing site built")
        daemon.assert_clean_exit()
    assert not [p for p in docs.iterdir() if p.name.startswith(".building-")]
    assert sorted(int(p.name) for p in docs.iterdir() if p.name.isdigit()) == [
        first,
        second,
        third,
    ]
    assert "from resolution" in (docs / "latest" / "changes.html").read_text().lower()
