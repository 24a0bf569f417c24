"""The pages of DOCS.md's table from a loaded resolution (daemon.docs.load), rendered with the
Jinja2 templates beside this module (autoescaped: a name or value holding HTML is shown as
text) into a folder. Publishing the folder is daemon.docs.publish's job.

Every link goes through `Names.link`, which links only names that have a page: a crawl of the
site finds no broken link, whatever the estate holds.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from daemon import faults
from daemon.docs.flow import FlowHost, FlowPath, build_flow
from daemon.docs.hostconfig import HostConfigs
from daemon.docs.hostpage import HostFragments, data_table, link_list
from daemon.docs.load import (
    DataPath,
    Final,
    Finding,
    Host,
    HostApp,
    Membership,
    Site,
    batches,
    host_details,
)
from daemon.docs.slug import slug
from daemon.docs.ticket import group_hosts, headline
from daemon.resolve.levels import serverclass_stanza
from daemon.resolve.load import Reader

# kind -> folder of its pages
FOLDERS = {
    "host": "hosts",
    "serverclass": "serverclasses",
    "app": "apps",
    "index": "indexes",
    "sourcetype": "sourcetypes",
}
SEVERITIES = ("error", "warning", "info")
# A finding's subject "kind:name" names a page of that kind.
_SUBJECT_KINDS = {
    "app": "app",
    "index": "index",
    "serverclass": "serverclass",
    "serverClass": "serverclass",  # SERVERCLASS_EMPTY's subject
    "host": "host",
    "sourcetype": "sourcetype",
}


class Names:
    """The names that have a page, by kind, and links to them from a page `root` deep."""

    def __init__(self, by_kind: Mapping[str, Iterable[str]]) -> None:
        self.by_kind = {kind: sorted(set(names)) for kind, names in by_kind.items()}
        self._known = {kind: set(names) for kind, names in self.by_kind.items()}
        self._slugs: dict[tuple[str, str], str] = {}
        self._links: dict[str, dict[tuple[str, str], Markup]] = {}

    def has(self, kind: str, name: str | None) -> bool:
        return name is not None and name in self._known.get(kind, ())

    def path(self, kind: str, name: str) -> str:
        """The page's path from the site's root."""
        found = self._slugs.get((kind, name))
        if found is None:
            found = self._slugs[(kind, name)] = f"{FOLDERS[kind]}/{slug(name)}.html"
        return found

    def linker(self, root: str) -> Callable[[str, str | None], Markup]:
        # A host page links to the same indexes, hosts and sourcetypes over and over: each
        # link is made once per depth (Markup.format costs ~20 µs a call).
        made = self._links.setdefault(root, {})

        def link(kind: str, name: str | None) -> Markup:
            if name is None:
                return Markup("")
            found = made.get((kind, name))
            if found is None:
                text = escape(name)
                if self.has(kind, name):
                    href = escape(root + self.path(kind, name))
                    text = Markup('<a href="') + href + Markup('">') + text + Markup("</a>")
                found = made[(kind, name)] = text
            return found

        return link

    def hrefer(self, root: str) -> Callable[[str, str | None], str | None]:
        def href(kind: str, name: str | None) -> str | None:
            if name is None or kind not in FOLDERS or not self.has(kind, name):
                return None
            return root + self.path(kind, name)

        return href

    def subject(self, root: str) -> Callable[[str], Markup]:
        link = self.linker(root)

        def subject(text: str) -> Markup:
            kind, sep, name = text.partition(":")
            kind = _SUBJECT_KINDS.get(kind, "")
            if sep and kind and self.has(kind, name):
                return Markup("{}:{}").format(text.partition(":")[0], link(kind, name))
            return escape(text)

        return subject


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("daemon.docs", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class _Indexed:
    """The site's cross references, computed once."""

    hosts_by_id: dict[int, Host]
    classes_of: dict[int, list[Membership]]
    apps_of: dict[int, list[HostApp]]
    paths_of: dict[int, list[DataPath]]
    findings_of: dict[str, int]


def build(
    db: Reader, site: Site, folder: Path, *, diff: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Render every page of `site` into `folder` (which must be empty or missing); the
    number of pages of each kind."""
    folder.mkdir(parents=True, exist_ok=True)
    env = environment()
    idx = _index(site)
    names = _names(site)
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
    _serverclasses(write, site, idx, names)
    _apps(write, site, idx, names)
    _indexes_and_sourcetypes(write, site, idx, names)
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


def _index(site: Site) -> _Indexed:
    classes_of: dict[int, list[Membership]] = defaultdict(list)
    for m in site.memberships:
        classes_of[m.host_id].append(m)
    apps_of: dict[int, list[HostApp]] = defaultdict(list)
    for a in site.host_apps:
        apps_of[a.host_id].append(a)
    paths_of: dict[int, list[DataPath]] = defaultdict(list)
    for p in site.paths:
        paths_of[p.host_id].append(p)
    findings_of = Counter(f.host for f in site.findings if f.host)
    return _Indexed({h.id: h for h in site.hosts}, classes_of, apps_of, paths_of, dict(findings_of))


def _names(site: Site) -> Names:
    classes = {m.serverclass for m in site.memberships}
    classes.update(c for a in site.host_apps for c in a.serverclasses)
    classes.update(_defined_classes(site))
    apps = {a.app for a in site.host_apps} | set(site.app_files)
    apps.update(f.subject.partition(":")[2] for f in site.findings if f.subject.startswith("app:"))
    indexes: set[str] = set()
    sourcetypes: set[str] = set()
    for p in site.paths:
        if p.index and p.index != "default":
            indexes.add(p.index)
        if p.sourcetype:
            sourcetypes.add(p.sourcetype)
    for walk in site.walks.values():
        for final in walk.final:
            if final.index:
                indexes.add(final.index)
            if final.sourcetype:
                sourcetypes.add(final.sourcetype)
    for bundle in site.bundles:
        for file in bundle.conf("indexes"):
            indexes.update(s.name for s in file.stanzas if _is_index_stanza(s.name))
    return Names(
        {
            "host": [h.name for h in site.hosts],
            "serverclass": classes,
            "app": apps,
            "index": indexes,
            "sourcetype": sourcetypes,
        }
    )


def _is_index_stanza(name: str) -> bool:
    return name not in ("default", "") and not name.startswith(
        ("volume:", "provider:", "provider-family:")
    )


def _defined_classes(site: Site) -> set[str]:
    found = set()
    for bundle in site.bundles:
        if bundle.upload_type != "ds_etc":
            continue
        for file in bundle.conf("serverclass"):
            for row in file.stanzas:
                named = serverclass_stanza(row.name)
                if named is not None:
                    found.add(named[0])
    return found


# -- pages -------------------------------------------------------------------------------------

Write = Callable[..., None]


def _overview(write: Write, site: Site, idx: _Indexed, names: Names) -> None:
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


def _listings(write: Write, site: Site, idx: _Indexed, names: Names) -> None:
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


def _hosts(write: Write, db: Reader, site: Site, idx: _Indexed, names: Names) -> None:
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
                why=why_text,
            )


def why_text(membership: Mapping[str, Any]) -> str:
    """One sentence of why a host is (or may be) in a class, from the stored why."""
    why = membership.get("why") or {}
    entry = (why.get("whitelist") or {}).get("entry")
    if membership.get("result") == "member" and entry:
        return (
            f"{entry['stanza']} {entry['key']} = {entry['pattern']} matched "
            f"{entry['attribute']} = {entry['value']}"
        )
    if membership.get("missing"):
        return f"cannot be decided: the host's {', '.join(membership['missing'])} is not known"
    black = (why.get("blacklist") or {}).get("entry")
    if black:
        return f"{black['stanza']} {black['key']} = {black['pattern']} excludes it"
    return ""


def _serverclasses(write: Write, site: Site, idx: _Indexed, names: Names) -> None:
    by_class: dict[str, list[Membership]] = defaultdict(list)
    for m in site.memberships:
        by_class[m.serverclass].append(m)
    apps_by_class: dict[str, set[str]] = defaultdict(set)
    for a in site.host_apps:
        for c in a.serverclasses:
            apps_by_class[c].add(a.app)
    rules = _class_rules(site)
    by_subject = _findings_by_subject(site)
    for name in names.by_kind["serverclass"]:
        found = rules.get(name, {})
        apps_by_class[name].update(found.get("apps", ()))
        write(
            names.path("serverclass", name),
            "serverclass.html.j2",
            title=f"Server class {name}",
            name=name,
            rules=found.get("rules", []),
            members=[
                idx.hosts_by_id[m.host_id] for m in by_class.get(name, ()) if m.result == "member"
            ],
            unknown=[
                (idx.hosts_by_id[m.host_id], m.missing)
                for m in by_class.get(name, ())
                if m.result == "unknown"
            ],
            apps=sorted(apps_by_class[name]),
            findings=[
                *by_subject.get(f"serverclass:{name}", ()),
                *by_subject.get(f"serverClass:{name}", ()),
            ],
        )


def _findings_by_subject(site: Site) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = defaultdict(list)
    for f in site.findings:
        found[f.subject].append(f)
    return found


def _class_rules(site: Site) -> dict[str, dict[str, Any]]:
    """Per class: its rules ({level, stanza, key, value, file, line, own}) and named apps, from
    each DS's serverclass.conf. [global]'s lists count only when the class defines none."""
    out: dict[str, dict[str, Any]] = {}
    for bundle in site.bundles:
        if bundle.upload_type != "ds_etc":
            continue
        stanzas: list[tuple[str, str, int, Mapping[str, str], Mapping[str, int]]] = [
            (row.name, file.path, row.line, row.settings, row.lines)
            for file in bundle.conf("serverclass")
            for row in file.stanzas
        ]
        glob = [s for s in stanzas if s[0] == "global"]
        for name, path, _line, settings, lines in stanzas:
            named = serverclass_stanza(name)
            if named is None:
                continue
            class_name, app = named
            entry = out.setdefault(class_name, {"rules": [], "apps": set()})
            if app is not None:
                entry["apps"].add(app)
            level = "class" if app is None else f"app {app}"
            for key, value in settings.items():
                entry["rules"].append(
                    {
                        "level": level,
                        "stanza": name,
                        "key": key,
                        "value": value,
                        "file": path,
                        "line": lines.get(key, 0),
                        "own": True,
                    }
                )
        for entry in out.values():
            own_keys = {r["key"] for r in entry["rules"] if r["level"] == "class"}
            own_lists = any(k.startswith(("whitelist.", "blacklist.")) for k in own_keys)
            for _g, path, _line, settings, lines in glob:
                for key, value in settings.items():
                    is_list = key.startswith(("whitelist.", "blacklist."))
                    if key in own_keys or (is_list and own_lists):
                        continue
                    entry["rules"].append(
                        {
                            "level": "global",
                            "stanza": "global",
                            "key": key,
                            "value": value,
                            "file": path,
                            "line": lines.get(key, 0),
                            "own": False,
                        }
                    )
    return out


def _apps(write: Write, site: Site, idx: _Indexed, names: Names) -> None:
    hosts_of: dict[str, list[HostApp]] = defaultdict(list)
    for a in site.host_apps:
        hosts_of[a.app].append(a)
    by_subject = _findings_by_subject(site)
    for name in names.by_kind["app"]:
        delivered = hosts_of.get(name, [])
        write(
            names.path("app", name),
            "app.html.j2",
            title=f"App {name}",
            name=name,
            files=site.app_files.get(name, []),
            versions=_app_versions(site, name),
            inputs=_app_inputs(site, name),
            classes=sorted({c for a in delivered for c in a.serverclasses}),
            hosts=[(idx.hosts_by_id[a.host_id], a) for a in delivered],
            findings=by_subject.get(f"app:{name}", []),
        )


def _app_versions(site: Site, app: str) -> list[tuple[str, str, str]]:
    """(bundle, file, version) of the app's app.conf [launcher] or [id] version."""
    found = []
    for bundle in site.bundles:
        for file in bundle.conf("app"):
            if file.app != app:
                continue
            for row in file.stanzas:
                if row.name in ("launcher", "id") and "version" in row.settings:
                    found.append(
                        (
                            _bundle_name(bundle.upload_type, bundle.label),
                            file.path,
                            row.settings["version"],
                        )
                    )
    return found


def _app_inputs(site: Site, app: str) -> list[tuple[str, str, str, Mapping[str, str]]]:
    """(bundle, file, stanza, settings) of each inputs.conf stanza the app defines."""
    return [
        (_bundle_name(bundle.upload_type, bundle.label), file.path, row.name, row.settings)
        for bundle in site.bundles
        for file in bundle.conf("inputs")
        if file.app == app
        for row in file.stanzas
    ]


def _bundle_name(kind: str, label: str | None) -> str:
    return f"{kind} {label}" if label else kind


def _union(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    return a if b <= a else b if a <= b else a | b


def _adds(
    finals: Sequence[Final], read: str | None
) -> tuple[
    list[tuple[str, frozenset[str], frozenset[str], frozenset[str]]],
    list[tuple[str, frozenset[str], frozenset[str]]],
]:
    """What one path (its walk's finals, the sourcetype it is read as) adds to the rows of
    the indexes and the sourcetypes it reaches: (index, sourcetypes, certainties, at) and
    (sourcetype, indexes, rewritten from)."""
    indexes = []
    for index in dict.fromkeys(f.index for f in finals if f.index):
        ending = [f for f in finals if f.index == index]
        indexes.append(
            (
                index,
                frozenset(f.sourcetype or read or "" for f in ending),
                frozenset(f.certainty for f in ending),
                frozenset(f.at for f in ending if f.at),
            )
        )
    sourcetypes = [
        (
            st,
            frozenset(f.index or "?" for f in finals if f.sourcetype in (None, st)),
            frozenset({read or ""}) if st != read else frozenset(),
        )
        for st in {read, *(f.sourcetype for f in finals)}
        if st
    ]
    return indexes, sourcetypes


def _indexes_and_sourcetypes(write: Write, site: Site, idx: _Indexed, names: Names) -> None:
    # index -> host -> [inputs, sourcetypes, certainties, at];
    # sourcetype -> host -> [inputs, indexes, rewritten from]. A host has one path per input,
    # so its inputs are counted, not collected (a 10,000-host estate has ~420,000 paths).
    feeds: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    sources: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    adds_of: dict[tuple[Any, str | None], Any] = {}
    for p in site.paths:
        walk = site.walks[p.walk_id]
        # What a path adds to each index's row and each sourcetype's row, as frozensets
        # shared by every path with the same finals and sourcetype (~400,000 rows in all).
        key = (walk.final, p.sourcetype)
        adds = adds_of.get(key)
        if adds is None:
            adds = adds_of[key] = _adds(walk.final, p.sourcetype)
        for index, sts, certainties, at in adds[0]:
            row = feeds[index].get(p.host_id)
            if row is None:
                feeds[index][p.host_id] = [1, sts, certainties, at]
            else:
                row[0] += 1
                row[1] = _union(row[1], sts)
                row[2] = _union(row[2], certainties)
                row[3] = _union(row[3], at)
        for st, ends, was in adds[1]:
            row = sources[st].get(p.host_id)
            if row is None:
                sources[st][p.host_id] = [1, ends, was]
            else:
                row[0] += 1
                row[1] = _union(row[1], ends)
                row[2] = _union(row[2], was)
    definitions = _stanzas_of(site, "indexes")
    props = _stanzas_of(site, "props")
    transforms = _stanzas_of(site, "transforms")
    roles = _roles_of_files(site, idx)
    link = names.linker("../")
    for name in names.by_kind["index"]:
        fed = feeds.get(name, {})
        write(
            names.path("index", name),
            "index_page.html.j2",
            title=f"Index {name}",
            name=name,
            feeds=len(fed),
            feeds_html=data_table(
                ["host", "inputs", "sourcetypes", "certainty", "at"],
                [
                    (
                        link("host", idx.hosts_by_id[h].name),
                        str(r[0]),
                        link_list(link, "sourcetype", sorted(r[1])),
                        str(escape(", ".join(sorted(r[2])))),
                        link_list(link, "host", sorted(r[3])),
                    )
                    for h, r in sorted(fed.items(), key=lambda i: idx.hosts_by_id[i[0]].name)
                ],
            ),
            definitions=definitions.get(name, []),
            roles=roles,
            findings=[f for f in site.findings if f.subject == f"index:{name}"],
        )
    for name in names.by_kind["sourcetype"]:
        stanzas = props.get(name, [])
        read = sources.get(name, {})
        used = sorted(
            {
                t.strip()
                for _b, _f, _app, settings, _lines in stanzas
                for key, value in settings.items()
                if key.startswith("TRANSFORMS-")
                for t in value.split(",")
                if t.strip()
            }
        )
        write(
            names.path("sourcetype", name),
            "sourcetype.html.j2",
            title=f"Sourcetype {name}",
            name=name,
            sources=len(read),
            sources_html=data_table(
                ["host", "inputs", "indexes", "rewritten from"],
                [
                    (
                        link("host", idx.hosts_by_id[h].name),
                        str(r[0]),
                        link_list(link, "index", sorted(r[1])),
                        link_list(link, "sourcetype", sorted(r[2])),
                    )
                    for h, r in sorted(read.items(), key=lambda i: idx.hosts_by_id[i[0]].name)
                ],
            ),
            props=stanzas,
            transforms=[(t, transforms.get(t, [])) for t in used],
            roles=roles,
        )


Defined = tuple[str, str, str | None, Mapping[str, str], Mapping[str, int]]  # bundle, file, app


def _stanzas_of(site: Site, conf_type: str) -> dict[str, list[Defined]]:
    """Every stanza of that conf type in the bundles and the shipped defaults, by name."""
    found: dict[str, list[Defined]] = defaultdict(list)
    for bundle in site.bundles:
        for file in bundle.conf(conf_type):
            for row in file.stanzas:
                found[row.name].append(
                    (
                        _bundle_name(bundle.upload_type, bundle.label),
                        file.path,
                        file.app,
                        row.settings,
                        row.lines,
                    )
                )
    for file in site.shipped:
        if file.conf_type == conf_type:
            for row in file.stanzas:
                found[row.name].append(("shipped", file.path, None, row.settings, row.lines))
    return found


def _roles_of_files(site: Site, idx: _Indexed) -> Callable[[str, str | None], str]:
    """The roles of the hosts that read a file: of a DS app, the hosts it is deployed to;
    of a host's own tree, that host's; the shipped defaults, every host's."""
    by_app: dict[str, set[str]] = defaultdict(set)
    for a in site.host_apps:
        if a.result == "deployed":
            by_app[a.app].add(idx.hosts_by_id[a.host_id].role)
    by_label = {h.name: h.role for h in site.hosts}

    def roles(bundle: str, app: str | None) -> str:
        if bundle == "shipped":
            return "every host"
        kind, _, label = bundle.partition(" ")
        if kind == "ds_etc":
            return ", ".join(sorted(by_app.get(app or "", ()))) or "no host"
        return by_label.get(label, "?")

    return roles


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
