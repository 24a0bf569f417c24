"""The pages of the things hosts share: server classes (their rules, members and apps), apps
(what they hold, who gets them), indexes (who feeds them, where they are defined) and
sourcetypes (where they come from, what props and transforms apply), from a loaded
resolution (daemon.docs.load)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from daemon.docs.hostpage import data_table, link_list
from daemon.docs.load import DataPath, Final, Finding, Host, HostApp, Membership, Site
from daemon.docs.names import Names
from daemon.resolve.levels import serverclass_stanza

# write(path, template, **context): renders one page of the site (daemon.docs.site.build).
Write = Callable[..., None]


@dataclass
class Indexed:
    """The site's cross references, computed once."""

    hosts_by_id: dict[int, Host]
    classes_of: dict[int, list[Membership]]
    apps_of: dict[int, list[HostApp]]
    paths_of: dict[int, list[DataPath]]
    findings_of: dict[str, int]
    findings_by_subject: dict[str, list[Finding]]


def index_site(site: Site) -> Indexed:
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
    by_subject: dict[str, list[Finding]] = defaultdict(list)
    for f in site.findings:
        by_subject[f.subject].append(f)
    return Indexed(
        {h.id: h for h in site.hosts},
        classes_of,
        apps_of,
        paths_of,
        dict(findings_of),
        dict(by_subject),
    )


def serverclass_pages(write: Write, site: Site, idx: Indexed, names: Names) -> None:
    by_class: dict[str, list[Membership]] = defaultdict(list)
    for m in site.memberships:
        by_class[m.serverclass].append(m)
    apps_by_class: dict[str, set[str]] = defaultdict(set)
    for a in site.host_apps:
        for c in a.serverclasses:
            apps_by_class[c].add(a.app)
    rules = _class_rules(site)
    by_subject = idx.findings_by_subject
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
            findings=group_findings(
                [
                    *by_subject.get(f"serverclass:{name}", ()),
                    *by_subject.get(f"serverClass:{name}", ()),
                ]
            ),
        )


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """The findings that say the same thing (severity, code, subject, message) of several hosts:
    one row of a findings table, its hosts sorted by name; `estate` when one of them is not a
    host's own (a finding of the deployment server's configuration)."""

    severity: str
    code: str
    subject: str
    message: str
    hosts: tuple[str, ...]
    estate: bool


_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


HOST_MARK = "⟨host⟩"  # a grouped row's message: where each host's own name stood


def group_findings(findings: Sequence[Finding]) -> list[FindingGroup]:
    """Worst first, then by code, subject and message. Findings that differ only by the name
    of their host (DANGLING_OUTPUT: "web01 forwards to ...") are one row, the name shown as
    ⟨host⟩ when there are several: 90,000 findings of a 10,000-host estate say ~1,200
    different things, a row each, not a row per host."""
    hosts: dict[tuple[str, str, str, str], set[str]] = {}
    first: dict[tuple[str, str, str, str], Finding] = {}
    estate: set[tuple[str, str, str, str]] = set()
    patterns: dict[str, re.Pattern[str]] = {}  # one compiled pattern a host, not one a call
    for f in findings:
        key = (
            f.severity,
            f.code,
            _masked(f.subject, f.host, patterns),
            _masked(f.message, f.host, patterns),
        )
        first.setdefault(key, f)
        found = hosts.setdefault(key, set())
        if f.host:
            found.add(f.host)
        else:
            estate.add(key)
    groups = []
    for key, found in hosts.items():
        shown = first[key] if len(found) <= 1 else None  # one host: its own words
        groups.append(
            FindingGroup(
                key[0],
                key[1],
                shown.subject if shown else key[2],
                shown.message if shown else key[3],
                hosts=tuple(sorted(found)),
                estate=key in estate,
            )
        )
    groups.sort(key=lambda g: (_SEVERITY_RANK.get(g.severity, 3), g.code, g.subject, g.message))
    return groups


def _masked(text: str, host: str | None, patterns: dict[str, re.Pattern[str]]) -> str:
    """`text` with `host` where it stands as a whole name replaced by HOST_MARK."""
    if not host or host not in text:
        return text
    pattern = patterns.get(host)
    if pattern is None:
        pattern = patterns[host] = re.compile(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])")
    return pattern.sub(HOST_MARK, text)


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


def app_pages(write: Write, site: Site, idx: Indexed, names: Names) -> None:
    hosts_of: dict[str, list[HostApp]] = defaultdict(list)
    for a in site.host_apps:
        hosts_of[a.app].append(a)
    by_subject = idx.findings_by_subject
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
            findings=group_findings(by_subject.get(f"app:{name}", [])),
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


def index_and_sourcetype_pages(write: Write, site: Site, idx: Indexed, names: Names) -> None:
    # index -> host -> [inputs, sourcetypes, certainties, at];
    # sourcetype -> host -> [inputs, indexes, rewritten from]. A host has one path per input,
    # so its inputs are counted, not collected (a 10,000-host estate has ~420,000 paths).
    feeds: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    sources: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    by_subject = idx.findings_by_subject
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
            findings=group_findings(by_subject.get(f"index:{name}", [])),
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


def _roles_of_files(site: Site, idx: Indexed) -> Callable[[str, str | None], str]:
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
