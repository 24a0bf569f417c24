"""The pages of DOCS.md's table from a loaded resolution (daemon.docs.load), rendered with the
Jinja2 templates beside this module (autoescaped: a name or value holding HTML is shown as
text) into a folder. Publishing the folder is daemon.docs.publish's job.

Every link goes through `Names.link`, which links only names that have a page: a crawl of the
site finds no broken link, whatever the estate holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from daemon import faults
from daemon.docs import flow as flow_layout
from daemon.docs.entities import (
    Indexed,
    app_pages,
    group_findings,
    index_and_sourcetype_pages,
    index_site,
    serverclass_pages,
)
from daemon.docs.flow import Flow, FlowHost, FlowPath, build_flow
from daemon.docs.hostconfig import HostConfig, HostConfigs
from daemon.docs.hostpage import HostFragments, table_close, table_open
from daemon.docs.load import Site, batches, host_details
from daemon.docs.names import FOLDERS, Names, RunNames, site_names
from daemon.docs.slug import slug
from daemon.docs.ticket import group_hosts, headline
from daemon.docs.writer import SiteWriter
from daemon.resolve.load import Reader
from daemon.resolve.types import why_sentence

SEVERITIES = ("error", "warning", "info")


# Characters that reorder the text around them (bidi overrides, embeddings, isolates and
# marks) or hide: a name holding one shows it as an escape, as the command line does.
_REORDERING = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _visible(value: Any) -> Any:
    """Every plain text a template prints, before it is escaped (Markup is left alone)."""
    if isinstance(value, str) and not isinstance(value, Markup) and _REORDERING.search(value):
        return _REORDERING.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("daemon.docs", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        finalize=_visible,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(table_open=table_open, table_close=table_close)
    return env


def build(
    db: Reader,
    site: Site,
    folder: Path,
    *,
    diff: Mapping[str, Any] | None = None,
    previous: Path | None = None,
) -> dict[str, int]:
    """Render every page of `site` into `folder` (which must be empty or missing), sharing
    the files that did not change with the build in `previous` (daemon.docs.writer); the
    number of pages of each kind."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = Pages(site, SiteWriter(folder, previous))
    idx = index_site(site)
    names = pages.names
    _static(pages.writer)
    _overview(pages, site, idx, names)
    _listings(pages, site, idx, names)
    _hosts(pages, db, site, idx, names)
    faults.point("mid_docs_build")
    serverclass_pages(pages, site, idx, names)
    app_pages(pages, site, idx, names)
    index_and_sourcetype_pages(pages, site, idx, names)
    pages(
        "findings.html",
        "findings.html.j2",
        title="Findings",
        total=len(site.findings),
        findings=group_findings(site.findings),
        severities=SEVERITIES,
    )
    pages("changes.html", "changes.html.j2", title="Changes", **changes_context(diff))
    _search_index(pages.writer, names)
    return dict(pages.writer.counts)


class Pages:
    """Renders the pages of one site: `pages(path, template, **context)` writes one."""

    def __init__(self, site: Site, writer: SiteWriter) -> None:
        self.env = environment()
        self.names = site_names(site)
        self.writer = writer
        self.resolution_id = int(site.resolution["id"])

    def render(self, depth: int, template: str, **context: Any) -> str:
        """A page `depth` folders below the site's root. Only the root's pages name the
        resolution: a page below it is then the same in the next build when what it shows
        did not change (daemon.docs.writer)."""
        root = "../" * depth
        return self.env.get_template(template).render(
            root=root,
            resolution_id=self.resolution_id if depth == 0 else None,
            link=self.names.linker(root),
            href=self.names.hrefer(root),
            subject=self.names.subject(root),
            heading=context.pop("heading", None),
            **context,
        )

    def __call__(self, path: str, template: str, **context: Any) -> None:
        self.writer.save(path, self.render(path.count("/"), template, **context))


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


def _static(writer: SiteWriter) -> None:
    source = resources.files("daemon.docs").joinpath("static")
    for name in ("site.css", "site.js"):
        writer.save(f"static/{name}", source.joinpath(name).read_bytes(), page=False)


# -- pages -------------------------------------------------------------------------------------


def _overview(write: Pages, site: Site, idx: Indexed, names: Names) -> None:
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
        flow_urls=flow_urls(flow, names),
        layout=flow_layout,
        runs=site.runs,
    )


def flow_urls(flow: Flow, names: Names) -> dict[str, str]:
    """Where each node of the overview's picture links: its page, else the listing that holds
    what it groups (a role's hosts filtered by the role)."""
    href = names.hrefer("")
    urls = {}
    for n in flow.nodes:
        url = href(n.kind, n.target)
        if url is None and n.kind == "role" and n.target:
            url = f"hosts.html#filter={quote(n.target)}"
        elif url is None and n.kind == "other":
            url = "indexes.html" if n.column == len(flow_layout.COLUMNS) - 1 else "hosts.html"
        if url is not None:
            urls[n.key] = url
    return urls


def _listings(write: Pages, site: Site, idx: Indexed, names: Names) -> None:
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


def _hosts(pages: Pages, db: Reader, site: Site, idx: Indexed, names: Names) -> None:
    configs = HostConfigs(site.bundles, site.shipped)
    runs = RunNames(site.runs, {h.instance_run: h.name for h in site.hosts if h.instance_run})
    fragments = HostFragments(names.linker("../"), runs.namer(names.linker("../")))
    config_pages = _ConfigPages(pages)
    subject = names.subject("../")
    # Stack by stack: the hosts of a stack share their effective configuration, computed
    # once and dropped at the next stack, so memory stays bounded whatever the estate.
    ordered = sorted(site.hosts, key=lambda h: (h.stack or "", h.name))
    of_stack: dict[str, list[str]] = {}
    for h in ordered:
        if h.stack is not None:
            of_stack.setdefault(h.stack, []).append(h.name)
    stack: str | None = None
    for batch in batches(ordered):
        details = host_details(db, site, batch)
        for host in batch:
            if host.stack != stack or host.stack is None:
                configs.forget()
                fragments.forget()
                config_pages.forget()
                stack = host.stack
            apps = idx.apps_of.get(host.id, [])
            found = details.pop(host.id)
            config = configs.of(host, apps)
            shared = of_stack.get(host.stack, [host.name]) if host.stack else [host.name]
            config_page = "../" + config_pages.path(config, shared)
            pages(
                f"hosts/{slug(host.name)}.html",
                "host.html.j2",
                title=f"Host {host.name}",
                host=host,
                sources=[runs.source(s) for s in host.sources],
                memberships=found.memberships,
                apps=apps,
                paths_html=fragments.paths(found.paths),
                findings_html=fragments.findings(found.findings, subject),
                inputs_html=fragments.inputs(config),
                config_page=config_page,
                config_html=HostFragments.config_summary(config, config_page),
                why=why_sentence,
            )


class _ConfigPages:
    """The effective configuration pages, one per layer stack: `configs/<digest>.html`, named
    by a digest of the page itself (the same configuration has the same page, in this build
    and the next), written once and linked from the page of every host that has it."""

    def __init__(self, pages: Pages) -> None:
        self._pages = pages
        self._of: dict[int, tuple[HostConfig, str]] = {}
        self._written: set[str] = set()

    def path(self, config: HostConfig, hosts: Sequence[str]) -> str:
        """The page of `config`, which `hosts` (by name) have."""
        found = self._of.get(id(config))
        if found is None or found[0] is not config:
            text = self._pages.render(
                1,
                "config.html.j2",
                title="Effective configuration",
                config=config,
                hosts=hosts,
                texts=HostFragments.config_texts(config),
            )
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
            path = f"configs/{digest}.html"
            if path not in self._written:
                self._pages.writer.save(path, text)
                self._written.add(path)
            found = self._of[id(config)] = (config, path)
        return found[1]

    def forget(self) -> None:
        self._of.clear()


def _search_index(writer: SiteWriter, names: Names) -> None:
    entries = [
        {"kind": kind, "name": name, "url": names.path(kind, name)}
        for kind in FOLDERS
        for name in names.by_kind[kind]
    ]
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    writer.save("search-index.json", text, page=False)
    # A classic script (file:// refuses fetch()); "</" escaped so no name ends the script.
    script = text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    writer.save("search-index.js", f"window.AUTODOC_SEARCH = {script};\n", page=False)
