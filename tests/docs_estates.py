"""Estates for the documentation site's tests, ingested, parsed and resolved into a database:
the three-tier fixtures with the DCOM deployment server and a client list, and a hostile
one whose names and values hold HTML and JavaScript. And a crawler of a built site."""

from __future__ import annotations

import io
import tarfile
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.parsing import RunParser
from daemon.pipeline import Pipeline
from daemon.resolving import resolve_estate
from daemon.storage import make_store

ROOT = Path(__file__).resolve().parents[1]
THREE_TIER = ROOT / "tests" / "fixtures" / "three_tier"
TIERS = ("hf01", "hf02", "idx01", "idx02", "idx03", "uf-db01", "uf-web01", "uf-web02")
DCOM = ROOT.parent / "shared" / "corpus" / "ds_etc" / "dcom"
CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    "sh1,DCOMSearchHead01,10.0.0.1,dcomsearchhead01.example.com,,linux-x86_64\n"
    "idx1,DCOMIndexer01,10.0.0.2,dcomindexer01.example.com,,linux-x86_64\n"
    "web,webserver9,10.0.0.9,webserver9.example.com,,linux-x86_64\n"
)

# What an attacker who can drop a bundle could name things.
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
QUOTE = '"><svg onload=alert(3)>'
HOSTILE_APP = "evil<img src=x onerror=alert(4)>"
HOSTILE_HOST = "<script>alert(5)</script>"
HOSTILE_FILES = {
    "etc/system/local/serverclass.conf": (
        f"[serverClass:{SCRIPT}]\nwhitelist.0 = *\n"
        f"[serverClass:{SCRIPT}:app:{HOSTILE_APP}]\n"
        f"[serverClass:{QUOTE}]\nwhitelist.0 = {IMG}\n"
    ).encode(),
    f"etc/deployment-apps/{HOSTILE_APP}/default/app.conf": (
        f"[launcher]\nversion = {IMG}\n[install]\nstate = enabled\n"
    ).encode(),
    f"etc/deployment-apps/{HOSTILE_APP}/default/inputs.conf": (
        f"[monitor:///var/log/{SCRIPT}]\nindex = {IMG}\nsourcetype = {QUOTE}\n{SCRIPT} = {IMG}\n"
    ).encode(),
    f"etc/deployment-apps/{HOSTILE_APP}/default/props.conf": (
        f"[{QUOTE}]\nTRANSFORMS-x = {SCRIPT}\n"
    ).encode(),
}
HOSTILE_CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    f'"{HOSTILE_HOST}",web01,10.0.0.1,web01.example.com,,linux-x86_64\n'
)


def tar(files: dict[str, bytes] | None = None, tree: Path | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        if tree is not None:
            archive.add(tree, arcname="etc")
        for name, data in (files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ingest(
    config: Config, db: Database, folder: Path, name: str, data: bytes, kind: UploadType, label: str
) -> int:
    path = folder / name
    path.write_bytes(data)
    store = make_store(config.storage)
    outcome = Pipeline(config, db, store).ingest(path, kind, label)
    assert outcome.run_id is not None
    parser = RunParser(config, db, store)
    parser.claim(outcome.run_id)
    assert parser.parse_claimed(outcome.run_id).status == "complete"
    return outcome.run_id


def three_tier_and_dcom(config: Config, db: Database, folder: Path) -> None:
    """The eight three-tier trees, DCOM's deployment server and its client list (parsed, not
    resolved)."""
    for host in TIERS:
        data = tar(tree=THREE_TIER / host / "etc")
        ingest(config, db, folder, f"{host}.tgz", data, UploadType.INSTANCE_ETC, host)
    if DCOM.is_dir():
        ingest(config, db, folder, "dcom.tgz", tar(tree=DCOM / "etc"), UploadType.DS_ETC, "ds1")
        ingest(config, db, folder, "clients.csv", CLIENTS.encode(), UploadType.INVENTORY, "ds1")


def hostile(config: Config, db: Database, folder: Path) -> None:
    ingest(config, db, folder, "ds.tgz", tar(HOSTILE_FILES), UploadType.DS_ETC, "ds1")
    ingest(config, db, folder, "c.csv", HOSTILE_CLIENTS.encode(), UploadType.INVENTORY, "ds1")


def resolve(config: Config, db: Database) -> int:
    rid = resolve_estate(config, db).resolution_id
    assert rid is not None
    return rid


# -- crawling --------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for name in ("href", "src"):
            value = found.get(name)
            if value is not None and tag in ("a", "link", "script", "img"):
                self.links.append(value)


def crawl(start: Path) -> tuple[set[Path], list[str]]:
    """Every file reachable from `start` by the links of its pages, and the broken links
    (a missing file, or a #fragment no element of its page has), as a browser resolves
    them. Links outside the site (another scheme, data:) are no internal links."""
    start = start.resolve()
    site = start.parent
    seen: set[Path] = {start}
    broken: list[str] = []
    parsed: dict[Path, _Links] = {}
    queue: deque[Path] = deque([start])
    fragments: list[tuple[Path, Path, str]] = []

    def parse(page: Path) -> _Links:
        if page not in parsed:
            links = _Links()
            links.feed(page.read_text(encoding="utf-8"))
            parsed[page] = links
        return parsed[page]

    while queue:
        page = queue.popleft()
        base = page.as_uri()
        for link in parse(page).links:
            url, fragment = urldefrag(urljoin(base, link))
            parts = urlsplit(url)
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path))
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {link}")
                continue
            if not target.resolve().is_relative_to(site):
                broken.append(f"{page.relative_to(site)}: {link} leaves the site")
                continue
            if fragment and not fragment.startswith("filter="):  # site.js's, not an id
                fragments.append((page, target, fragment))
            if target not in seen:
                seen.add(target)
                if target.suffix == ".html":
                    queue.append(target)
    for page, target, fragment in fragments:
        if fragment not in parse(target).ids:
            broken.append(f"{page.relative_to(site)}: #{fragment} not in {target.name}")
    return seen, broken


# -- a deployment server changed in known ways (the diff and preview tests) ---------------------

CHANGE_CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    "web01,web01,10.1.0.1,web01.example.com,,linux-x86_64\n"
    "web02,web02,10.1.0.2,web02.example.com,,linux-x86_64\n"
    "db01,db01,10.1.0.3,db01.example.com,,linux-x86_64\n"
    "db02,db02,10.1.0.4,db02.example.com,,linux-x86_64\n"
)
_SERVERCLASS = (
    "[serverClass:all]\nwhitelist.0 = *\n"
    "[serverClass:all:app:base_outputs]\n"
    "[serverClass:web]\nwhitelist.0 = web*\n"
    "[serverClass:web:app:web_inputs]\n"
    "[serverClass:db]\nwhitelist.0 = db01\nwhitelist.1 = db02\n"
    "[serverClass:db:app:db_inputs]\n"
)
_APPS = "etc/deployment-apps"
CHANGE_V1 = {
    "etc/system/local/serverclass.conf": _SERVERCLASS.encode(),
    f"{_APPS}/base_outputs/local/outputs.conf": (
        b"[tcpout]\ndefaultGroup = idx\n[tcpout:idx]\nserver = idx01.example.com:9997\n"
    ),
    f"{_APPS}/web_inputs/local/inputs.conf": (
        b"[monitor:///var/log/nginx]\nindex = web\nsourcetype = nginx\n"
    ),
    f"{_APPS}/db_inputs/local/inputs.conf": b"[monitor:///var/log/mysql]\nindex = db\n",
    f"{_APPS}/audit_inputs/local/inputs.conf": b"[monitor:///var/log/audit]\nindex = audit\n",
}
# An app added to a class (audit_inputs to web), a class losing a host (db02 leaves db), an
# input's index changed (nginx: web -> web_v2). Nothing else.
CHANGE_V2 = {
    **CHANGE_V1,
    "etc/system/local/serverclass.conf": _SERVERCLASS.replace("whitelist.1 = db02\n", "")
    .replace(
        "[serverClass:web:app:web_inputs]\n",
        "[serverClass:web:app:web_inputs]\n[serverClass:web:app:audit_inputs]\n",
    )
    .encode(),
    f"{_APPS}/web_inputs/local/inputs.conf": (
        b"[monitor:///var/log/nginx]\nindex = web_v2\nsourcetype = nginx\n"
    ),
}


def changed_ds(config: Config, db: Database, folder: Path) -> None:
    """CHANGE_V1 and its client list, parsed (not resolved)."""
    ingest(config, db, folder, "ds-v1.tgz", tar(CHANGE_V1), UploadType.DS_ETC, "ds1")
    ingest(config, db, folder, "c.csv", CHANGE_CLIENTS.encode(), UploadType.INVENTORY, "ds1")
