"""The pages of DOCS.md's table from a loaded resolution (daemon.docs.load), rendered with the
Jinja2 templates beside this module (autoescaped: a name or value holding HTML is shown as
text) into a folder. Publishing the folder is daemon.docs.publish's job.

Every link goes through `Names.link`, which links only names that have a page: a crawl of the
site finds no broken link, whatever the estate holds.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from daemon import faults
from daemon.docs.entities import (
    Indexed,
    Write,
    app_pages,
    index_and_sourcetype_pages,
    index_site,
    serverclass_pages,
)
from daemon.docs.flow import FlowHost, FlowPath, build_flow
from daemon.docs.hostconfig import HostConfigs
from daemon.docs.hostpage import HostFragments, table_close, table_open
from daemon.docs.load import Site, batches, host_details
from daemon.docs.names import FOLDERS, Names, site_names
from daemon.docs.slug import slug
from daemon.docs.ticket import group_hosts, headline
from daemon.resolve.load import Reader
from daemon.resolve.types import why_sentence

SEVERITIES = ("error", "warning", "info")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("daemon.docs", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(table_open=table_open, table_close=table_close)
    return env


def build(
    db: Reader, site: Site, folder: Path, *, diff: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Render every page of `site` into `folder` (which must be empty or missing); the
    number of pages of each kind."""
    folder.mkdir(parents=True, exist_ok=True)
    env = environment()
    idx = index_site(site)
    names = site_names(site)
    rid = int(site.resolution["id"])
    counts: Counter[str] = Counter()

    def write(path: str, template: str, **context: Any) -> None:
        depth = path.count("/")
        root = "../" * depth
        text = env.get_template(template).render(
            root=root,
            resolution_id=rid,
            link=names.linker(root),
            href=names.hrefer(root),
            subject=names.subject(root),
            heading=context.pop("heading", None),
            **context,
        )
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        counts[path.split("/", 1)[0] if depth else path] += 1

    _static(folder)
    _overview(write, site, idx, names)
    _listings(write, site, idx, names)
    _hosts(write, db, site, idx, names)
    faults.point("mid_docs_build")
    serverclass_pages(write, site, idx, names)
    app_pages(write, site, idx, names)
    index_and_sourcetype_pages(write, site, idx, names)
    write(
        "findings.html",
        "findings.html.j2",
        title="Findings",
        findings=site.findings,
        severities=SEVERITIES,
    )
    write("changes.html", "changes.html.j2", title="Changes", **changes_context(diff))
    _search_index(folder, names)
    return dict(counts)


def changes_context(diff: Mapping[str, Any] | None) -> dict[str, Any]:
    """What changes.html shows: the diff against the previous resolution in DOCS.md's JSON
    shape (`autodoc diff --json`), or None when there is none to show. Hosts whose change
    is the same share one entry, as in `autodoc diff`'s text."""
    if diff is None:
        return {"diff": None}
    findings = diff.get("findings") or {}
    return {
        "diff": diff,
        "summary": headline(diff),
        "host_groups": group_hosts(list(diff.get("hosts", ()))),
        "apps": list(diff.get("apps", ())),
        "new_findings": list(findings.get("new", ())),
        "resolved_findings": list(findings.get("resolved", ())),
    }


def _static(folder: Path) -> None:
    target = folder / "static"
    target.mkdir(exist_ok=True)
    source = resources.files("daemon.docs").joinpath("static")
    for name in ("site.css", "site.js"):
        with resources.as_file(source.joinpath(name)) as path:
            shutil.copyfile(path, target / name)


# -- pages -------------------------------------------------------------------------------------


def _overview(write: Write, site: Site, idx: Indexed, names: Names) -> None:
    roles = Counter(h.role for h in site.hosts)
    severities = Counter(f.severity for f in site.findings)
    # A host is drawn under its most specific class (the one with the fewest members): the
    # first by name is often a catch-all every forwarder is in.
    size = Counter(m.serverclass for m in site.memberships if m.result == "member")
    group: dict[int, str] = {}
    for m in site.memberships:
        if m.result == "member":
            current = group.get(m.host_id)
            if current is None or (size[m.serverclass], m.serverclass) < (size[current], current):
                group[m.host_id] = m.serverclass
    flow = build_flow(
        [FlowHost(h.name, h.role, group.get(h.id)) for h in site.hosts],
        (
            FlowPath(
                idx.hosts_by_id[p.host_id].name,
                tuple((hop[0], hop[3]) for hop in site.walks[p.walk_id].hops),
                tuple((f.index, f.at) for f in site.walks[p.walk_id].final),
            )
            for p in site.paths
        ),
    )
    write(
        "index.html",
        "index.html.j2",
        title=f"The estate (resolution {site.resolution['id']})",
        resolution=site.resolution,
        roles=sorted(roles.items()),
        counts={
            "hosts": len(site.hosts),
            "server classes": len(names.by_kind["serverclass"]),
            "apps": len(names.by_kind["app"]),
            "inputs": len(site.paths),
            "indexes": len(names.by_kind["index"]),
            "sourcetypes": len(names.by_kind["sourcetype"]),
        },
        severities=[(s, severities.get(s, 0)) for s in SEVERITIES],
        flow=flow,
        runs=site.runs,
    )


def _listings(write: Write, site: Site, idx: Indexed, names: Names) -> None:
    write(
        "hosts.html",
        "hosts.html.j2",
        title="Hosts",
        rows=[
            (
                h,
                [m.serverclass for m in idx.classes_of.get(h.id, ()) if m.result == "member"],
                sum(1 for a in idx.apps_of.get(h.id, ()) if a.result == "deployed"),
                len(idx.paths_of.get(h.id, ())),
                idx.findings_of.get(h.name, 0),
            )
            for h in site.hosts
        ],
    )
    members = Counter(m.serverclass for m in site.memberships if m.result == "member")
    unknown = Counter(m.serverclass for m in site.memberships if m.result == "unknown")
    write(
        "serverclasses.html",
        "listing.html.j2",
        title="Server classes",
        kind="serverclass",
        headers=["server class", "members", "unknown"],
        rows=[(n, [members.get(n, 0), unknown.get(n, 0)]) for n in names.by_kind["serverclass"]],
    )
    hosts_of_app = Counter(a.app for a in site.host_apps if a.result == "deployed")
    write(
        "apps.html",
        "listing.html.j2",
        title="Apps",
        kind="app",
        headers=["app", "hosts (deployed)", "conf files"],
        rows=[
            (n, [hosts_of_app.get(n, 0), len(site.app_files.get(n, ()))])
            for n in names.by_kind["app"]
        ],
    )
    by_index: Counter[str] = Counter()
    by_sourcetype: Counter[str] = Counter()
    for p in site.paths:
        for index in {f.index for f in site.walks[p.walk_id].final if f.index}:
            by_index[index] += 1
        for st in {p.sourcetype, *(f.sourcetype for f in site.walks[p.walk_id].final)}:
            if st:
                by_sourcetype[st] += 1
    write(
        "indexes.html",
        "listing.html.j2",
        title="Indexes",
        kind="index",
        headers=["index", "inputs ending there"],
        rows=[(n, [by_index.get(n, 0)]) for n in names.by_kind["index"]],
    )
    write(
        "sourcetypes.html",
        "listing.html.j2",
        title="Sourcetypes",
        kind="sourcetype",
        headers=["sourcetype", "inputs"],
        rows=[(n, [by_sourcetype.get(n, 0)]) for n in names.by_kind["sourcetype"]],
    )


def _hosts(write: Write, db: Reader, site: Site, idx: Indexed, names: Names) -> None:
    configs = HostConfigs(site.bundles, site.shipped)
    fragments = HostFragments(names.linker("../"))
    subject = names.subject("../")
    # Stack by stack: the hosts of a stack share their effective configuration, computed
    # once and dropped at the next stack, so memory stays bounded whatever the estate.
    ordered = sorted(site.hosts, key=lambda h: (h.stack or "", h.name))
    stack: str | None = None
    for batch in batches(ordered):
        details = host_details(db, site, batch)
        for host in batch:
            if host.stack != stack or host.stack is None:
                configs.forget()
                fragments.forget()
                stack = host.stack
            apps = idx.apps_of.get(host.id, [])
            found = details.pop(host.id)
            inputs_html, config_html = fragments.config(configs.of(host, apps))
            write(
                f"hosts/{slug(host.name)}.html",
                "host.html.j2",
                title=f"Host {host.name}",
                host=host,
                memberships=found.memberships,
                apps=apps,
                paths_html=fragments.paths(found.paths),
                findings_html=fragments.findings(found.findings, subject),
                inputs_html=inputs_html,
                config_html=config_html,
                why=why_sentence,
            )


def _search_index(folder: Path, names: Names) -> None:
    entries = [
        {"kind": kind, "name": name, "url": names.path(kind, name)}
        for kind in FOLDERS
        for name in names.by_kind[kind]
    ]
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    (folder / "search-index.json").write_text(text, encoding="utf-8")
    # A classic script (file:// refuses fetch()); "</" escaped so no name ends the script.
    script = text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    (folder / "search-index.js").write_text(
        f"window.AUTODOC_SEARCH = {script};\n", encoding="utf-8"
    )
