"""The README's screenshots of the documentation site (docs/screenshots/*.png).

Builds the README's DCOM example ("Understanding your estate": the DCOM deployment server and
its three-host client list) and its three-tier example (the eight `instance_etc` trees of
tests/fixtures/three_tier, so that the data-flow picture has forwarders, heavy forwarders and
indexers to draw) in a throw-away folder with the `autodoc` commands, then a second
drop of the same bundle with the Indexer class delivering one more app and an input's index
changed,
so that the changes page has something to show; then opens the site in headless Chromium
(selenium, /usr/bin/chromedriver) and saves the overview, a host page and the changes page.

    .venv/bin/python scripts/screenshots.py [--corpus ../shared/corpus] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREE_TIER = REPO / "tests" / "fixtures" / "three_tier"
CLIENTS = """\
clientName,hostname,ip,dns,guid,utsname
sh1,DCOMSearchHead01,10.0.0.1,dcomsearchhead01.example.com,,linux-x86_64
idx1,DCOMIndexer01,10.0.0.2,dcomindexer01.example.com,,linux-x86_64
web,webserver9,10.0.0.9,webserver9.example.com,,linux-x86_64
"""
CONFIG = """\
[database]
url = "sqlite:///var/autodoc.db"
[inbox]
path = "var/inbox"
failed_path = "var/failed"
[storage]
backend = "local"
path = "var/blobs"
[docs]
path = "var/docs"
"""
SHOTS = {  # file name -> (page, window height)
    "overview.png": ("index.html", 880),
    "host.png": ("hosts/sh1.html", 1100),
    "changes.png": ("changes.html", 900),
    "flow.png": ("index.html#flow", 900),
}


def bundle(tree: Path, changed: bool) -> bytes:
    """The DCOM etc/ tree as a tar.gz; `changed`: the Indexer class delivers `timewrap` too
    and sos's ps input goes to another index."""
    edits: dict[str, tuple[str, str]] = {}
    if changed:
        edits = {
            "etc/system/local/serverclass.conf": (
                "[serverClass:Indexer:app:sos]",
                "[serverClass:Indexer:app:timewrap]\nstateOnClient = enabled\n\n"
                "[serverClass:Indexer:app:sos]",
            ),
            "etc/deployment-apps/sos/default/inputs.conf": (
                "source = ps_sos\nindex = sos\n",
                "source = ps_sos\nindex = os_metrics\n",
            ),
        }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(tree.rglob("*")):
            if not path.is_file():
                continue
            name = str(path.relative_to(tree.parent))
            data = path.read_bytes()
            if name in edits:
                old, new = edits[name]
                assert old.encode() in data, (name, old)
                data = data.replace(old.encode(), new.encode(), 1)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_site(corpus: Path, work: Path) -> Path:
    """The two resolutions and the site of the second; its folder."""
    (work / "config.toml").write_text(CONFIG)
    env = {**os.environ, "AUTODOC_CONFIG": str(work / "config.toml")}
    autodoc = [sys.executable, "-m", "daemon"]

    def run(*args: str) -> None:
        subprocess.run([*autodoc, *args], env=env, cwd=work, check=True, capture_output=True)

    tree = corpus / "ds_etc" / "dcom" / "etc"
    (work / "dcom.tgz").write_bytes(bundle(tree, changed=False))
    (work / "dcom-2.tgz").write_bytes(bundle(tree, changed=True))
    (work / "clients.csv").write_text(CLIENTS)
    run("db", "upgrade")
    run("ingest", str(work / "dcom.tgz"), "--type", "ds_etc", "--label", "ds1")
    run("ingest", str(work / "clients.csv"), "--type", "inventory", "--label", "ds1")
    for host in sorted(p.name for p in THREE_TIER.iterdir() if (p / "etc").is_dir()):
        (work / f"{host}.tgz").write_bytes(bundle(THREE_TIER / host / "etc", changed=False))
        run("ingest", str(work / f"{host}.tgz"), "--type", "instance_etc", "--label", host)
    run("parse", "--waiting")
    run("resolve")
    run("ingest", str(work / "dcom-2.tgz"), "--type", "ds_etc", "--label", "ds1")
    run("parse", "--waiting")
    run("resolve")
    run("docs", "build")
    return work / "var" / "docs" / "latest"


def shoot(site: Path, out: Path) -> list[Path]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    saved = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, (page, height) in SHOTS.items():
            driver.set_window_size(1280, height)
            path, _, fragment = page.partition("#")
            driver.get((site / path).resolve().as_uri() + (f"#{fragment}" if fragment else ""))
            WebDriverWait(driver, 10).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            driver.save_screenshot(str(out / name))
            saved.append(out / name)
    finally:
        driver.quit()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    if not (args.corpus / "ds_etc" / "dcom").is_dir():
        print(f"screenshots: the DCOM corpus is not at {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="autodoc-shots-") as folder:
        site = build_site(args.corpus.resolve(), Path(folder))
        for path in shoot(site, args.out):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
