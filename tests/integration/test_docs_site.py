"""`autodoc docs build` on each database: the site of the three-tier estate with the DCOM
deployment server (DOCS.md), and what it says. The browser's view is in
tests/e2e/test_docs_browser.py."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from daemon.config import Config
from daemon.database import Database
from daemon.docs.slug import slug
from tests.cli_driver import run_commands
from tests.docs_estates import DCOM, TIERS, crawl, resolve, three_tier_and_dcom


def test_the_site_of_a_resolution_has_every_page_and_no_broken_link(
    config: Config, db: Database, tmp_path: Path
) -> None:
    three_tier_and_dcom(config, db, tmp_path)
    out = tmp_path / "site"
    [early] = run_commands(db.url, tmp_path, ("docs", "build", str(out)))
    assert early["code"] == 2 and "not been resolved yet" in early["stderr"]
    assert len(early["stderr"].strip().splitlines()) == 1
    rid = resolve(config, db)
    built, unknown = run_commands(
        db.url,
        tmp_path,
        ("docs", "build", str(out)),
        ("docs", "build", str(out), "--resolution", str(rid + 100)),
    )
    assert built["code"] == 0, built["stderr"]
    assert unknown["code"] == 2 and f"no complete resolution {rid + 100}" in unknown["stderr"]
    assert os.readlink(out / "latest") == str(rid)
    site = out / "latest"

    # Every page of DOCS.md's table, each reachable from the overview.
    index = json.loads((site / "search-index.json").read_text())
    kinds = {e["kind"] for e in index}
    assert kinds == {"host", "serverclass", "app", "index", "sourcetype"}
    hosts = {e["name"] for e in index if e["kind"] == "host"}
    assert set(TIERS) <= hosts
    reached, broken = crawl(site / "index.html")
    assert broken == []
    for entry in index:
        assert (site / entry["url"]).resolve() in reached, entry
    for page in ("findings.html", "changes.html", "static/site.js", "static/site.css"):
        assert (site / page).resolve() in reached
    # Loaded by site.js when the search box is used.
    assert (site / "search-index.js").read_text().startswith("window.AUTODOC_SEARCH = [")
    assert (site / "index.html").stat().st_size < 2_000_000

    # A host page: paths hop by hop, findings, and its conf types linking to the btool
    # --debug text of its own apps' settings on the configuration page of its layer stack.
    db01 = (site / "hosts" / "uf-db01.html").read_text()
    assert "siem.example.com:9997" in db01 and "DANGLING_OUTPUT" in db01
    [config_page] = set(re.findall(r'href="\.\./(configs/[0-9a-f]+\.html)#outputs"', db01))
    config = (site / config_page).read_text()
    assert "/opt/splunk/etc/apps/org_uf_outputs/local/outputs.conf [tcpout:siem]" in config
    assert 'href="../hosts/uf-db01.html"' in config  # its own etc/ tree
    assert (site / config_page).resolve() in reached
    assert 'href="../indexes/database.html"' in db01
    # The undefined index says who feeds it and what is wrong; a sourcetype its tiers.
    database = (site / "indexes" / "database.html").read_text()
    assert "UNDEFINED_INDEX" in database and 'href="../hosts/uf-db01.html"' in database
    access = (site / "sourcetypes" / f"{slug('access_combined')}.html").read_text()
    assert "route_server_errors" in access and "TRANSFORMS-route" in access
    if DCOM.is_dir():
        sh1 = (site / "serverclasses" / "SearchHead.html").read_text()
        assert "DCOMSearchHead*" in sh1 and 'href="../hosts/sh1.html"' in sh1
    overview = (site / "index.html").read_text()
    assert "<svg" in overview and 'href="hosts/hf01.html"' in overview
