"""The big, repeated parts of a host page as HTML, built with plain string joins and
markupsafe.escape instead of Jinja macro calls (a 10,000-host estate has ~420,000 data
paths): the effective inputs table and the effective configuration, once per layer stack
(every host with the same HostConfig shows the same); a data path's section, with its
evidence rows rendered once per distinct evidence (the stored JSON text is the key, so a
JSON list seen before is not decoded again).

A route's (walk's) evidence is listed once per page, under the first path that takes it;
every other path of the page taking the same route links there instead of repeating it.
Everything from the estate goes through `escape` (or `link`, which escapes): the output is
as autoescaped as the templates'.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from daemon.docs.hostconfig import HostConfig
from daemon.docs.load import Walk

Link = Callable[[str, str | None], Markup]

_EVIDENCE_HEAD = (
    '<table class="evidence"><thead><tr><th>setting</th><th>file</th><th>bundle</th></tr>'
    "</thead><tbody>\n"
)


def _e(value: object) -> str:
    return str(escape(value))


class HostFragments:
    """Builds a host page's pre-rendered parts; `link` is the host pages' linker ("../")."""

    def __init__(self, link: Link, bundle: Callable[[object], Markup]) -> None:
        self._link = link
        self._bundle = bundle  # a run id (None: shipped) as the page names it
        self._inputs_of: dict[int, tuple[HostConfig, Markup]] = {}
        self._own_rows: dict[str, tuple[str, int]] = {}
        self._groups: dict[str, str] = {}
        self._row_html: dict[tuple[Any, ...], str] = {}

    def inputs(self, config: HostConfig) -> Markup:
        """The effective inputs table of a layer stack's config, made once per stack."""
        found = self._inputs_of.get(id(config))
        if found is None or found[0] is not config:
            found = self._inputs_of[id(config)] = (config, self._inputs(config))
        return found[1]

    def forget(self) -> None:
        """Drop the inputs tables kept per stack (see HostConfigs.forget)."""
        self._inputs_of.clear()

    def _inputs(self, config: HostConfig) -> Markup:
        if not config.inputs:
            return Markup("<p>No inputs.</p>")
        link = self._link
        headers = ["input", "disabled", "index", "sourcetype", "from"]
        out: list[str] = [table_open(headers, len(config.inputs))]
        for i in config.inputs:
            out.append(
                f"<tr><td><code>{_e(i.stanza)}</code></td><td>{'yes' if i.disabled else ''}</td>"
                f"<td>{link('index', i.index) if i.index else ''}</td>"
                f"<td>{link('sourcetype', i.sourcetype) if i.sourcetype else ''}</td>"
                f"<td>{_e(i.origin)}</td></tr>\n"
            )
        out.append("</tbody></table>")
        return Markup("".join(out))  # noqa: S704 - built from escaped parts

    @staticmethod
    def config_summary(config: HostConfig, page: str) -> Markup:
        """The host page's list of its conf types, each linking to its btool text on the
        configuration page it shares with the hosts of its layer stack (`page`, relative)."""
        if not config.confs:
            return Markup("<p>No conf file.</p>")
        out: list[str] = [
            table_open(["conf", "stanzas", "only in the shipped defaults"], len(config.confs))
        ]
        for c in config.confs:
            name = _e(c.conf_type)
            shown = f'<a href="{_e(page)}#{name}">{c.shown}</a>' if c.shown else "0"
            out.append(
                f"<tr><td><code>{name}.conf</code></td><td>{shown}</td>"
                f"<td>{c.shipped_only}</td></tr>\n"
            )
        out.append("</tbody></table>")
        return Markup("".join(out))  # noqa: S704 - built from escaped parts

    @staticmethod
    def config_texts(config: HostConfig) -> Markup:
        """Each conf type's btool text, for the configuration page of a layer stack."""
        out = []
        for c in config.confs:
            name = _e(c.conf_type)
            opened = " open" if c.shown and c.conf_type in ("inputs", "outputs") else ""
            shipped = f", {c.shipped_only} from the shipped defaults only" if c.shipped_only else ""
            out.append(
                f'<details id="{name}"{opened}><summary>{name}.conf: {c.shown} '
                f"stanza{'s' if c.shown != 1 else ''}{shipped}</summary>\n"
            )
            if c.shown:
                out.append(f'<pre class="btool">{c.text}</pre>')
            out.append("</details>\n")
        return Markup("".join(out))  # noqa: S704 - built from escaped parts

    def paths(self, paths: Sequence[Mapping[str, Any]]) -> Markup:
        """The data paths section's body: one section per path, hop by hop."""
        if not paths:
            return Markup("<p>No data paths.</p>")
        link = self._link
        shown: dict[int, int] = {}  # walk id -> the number of the path listing its evidence
        walk_html: dict[int, tuple[str, str, int]] = {}
        out = []
        for n, p in enumerate(paths, 1):
            walk: Walk = p["walk"]
            sourcetype = p["sourcetype"]
            groups = self._group_text(p["groups"])
            out.append(
                f'<section class="path" id="path-{n}">\n<h3><code>{_e(p["input"])}</code></h3>\n'
                f"<p>index {link('index', p['index']) if p['index'] else '?'}, "
                f"sourcetype {link('sourcetype', sourcetype) if sourcetype else '?'}, "
                f"host field {_e(p['host_field'] or '?')}, source {_e(p['source'] or '?')}"
                f"{'; output groups ' + groups if groups else ''}"
                f"{'; <strong>may be dropped</strong>' if walk.may_drop else ''}</p>\n"
            )
            hops = walk_html.get(walk.id)
            if hops is None:
                items = json.loads(p["walk_evidence"] or "[]")
                hops = walk_html[walk.id] = (self._hops(walk), self._rows(items), len(items))
            out.append(hops[0])
            out.append(f"<p>ends in: {self._ends(walk, sourcetype)}</p>\n")
            own, own_n = self._own(p["own_evidence"])
            walk_n = hops[2]
            if own_n + walk_n:
                first = shown.get(walk.id)
                if first is None or not walk_n:
                    if walk_n:
                        shown[walk.id] = n
                    rows = own + hops[1]
                    anchor = f' id="route-{n}"' if walk_n else ""
                else:
                    rows = own + (
                        f'<tr><td colspan="3">and the {walk_n} setting'
                        f"{'s' if walk_n != 1 else ''} of its route, as under "
                        f'<a href="#route-{first}">{_e(paths[first - 1]["input"])}</a></td></tr>\n'
                    )
                    anchor = ""
                out.append(
                    f"<details{anchor}><summary>evidence ({own_n + walk_n})</summary>"
                    f"{_EVIDENCE_HEAD}{rows}</tbody></table></details>\n"
                )
            out.append("</section>\n")
        return Markup("".join(out))  # noqa: S704 - built from escaped parts

    def _group_text(self, stored: str | None) -> str:
        """The output groups, comma separated and escaped, from their stored JSON text."""
        key = stored or "[]"
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = _e(", ".join(json.loads(key) or ()))
        return found

    def findings(
        self, items: Sequence[Mapping[str, Any]], subject: Callable[[str], Markup]
    ) -> Markup:
        """macros.html.j2's findings_table without the host column, evidence included."""
        if not items:
            return Markup("<p>No findings.</p>")
        filterable = " filterable" if len(items) > 15 else ""
        out = [
            f'<table class="data sortable{filterable}"><thead><tr><th>severity</th>'
            "<th>code</th><th>subject</th><th>message</th></tr></thead><tbody>\n"
        ]
        for f in items:
            evidence = f.get("evidence") or ()
            details = (
                f"<details><summary>evidence ({len(evidence)})</summary>{_EVIDENCE_HEAD}"
                f"{self._rows(evidence)}</tbody></table></details>"
                if evidence
                else ""
            )
            severity = _e(f["severity"])
            out.append(
                f'<tr class="sev-{severity}"><td>{severity}</td><td>{_e(f["code"])}</td>'
                f"<td>{subject(f['subject'])}</td><td>{_e(f['message'])}{details}</td></tr>\n"
            )
        out.append("</tbody></table>")
        return Markup("".join(out))  # noqa: S704 - built from escaped parts

    def _hops(self, walk: Walk) -> str:
        if not walk.hops:
            return '<p class="muted">No hop: indexed where it is read, or not forwarded.</p>\n'
        link = self._link
        items = "".join(
            f"<li>{link('host', source)} → "
            f"{link('host', to) if to else 'outside the estate'} "
            f'<span class="muted">({_e(group or "")} {_e(server or "")})</span></li>'
            for source, group, server, to in walk.hops
        )
        return f'<ol class="hops">{items}</ol>\n'

    def _ends(self, walk: Walk, sourcetype: str | None) -> str:
        if not walk.final:
            return "nowhere"
        link = self._link
        return "; ".join(
            f"{link('index', f.index) if f.index else '?'}"
            f"{_as(link, f.sourcetype, sourcetype)}"
            f" at {link('host', f.at) if f.at else 'an unknown place'} ({_e(f.certainty)})"
            for f in walk.final
        )

    def _own(self, evidence: str | None) -> tuple[str, int]:
        """A path's own evidence rows from its stored JSON text, once per distinct text."""
        key = evidence or "[]"
        found = self._own_rows.get(key)
        if found is None:
            items = json.loads(key)
            found = self._own_rows[key] = (self._rows(items), len(items))
        return found

    def _rows(self, items: Iterable[Mapping[str, Any]]) -> str:
        """Evidence rows; each distinct row is built once (routes of many hosts go through
        the same props and transforms settings)."""
        out = []
        made = self._row_html
        for e in items:
            key = (
                e["conf"],
                e["stanza"],
                e["key"],
                e["value"],
                e["file"],
                e["line"],
                e.get("app"),
                e.get("run"),
            )
            found = made.get(key)
            if found is None:
                found = made[key] = self._row(*key)
            out.append(found)
        return "".join(out)

    def _row(
        self,
        conf: str,
        stanza: str,
        key: str,
        value: str,
        file: str,
        line: object,
        app: str | None,
        run: object,
    ) -> str:
        shown_app = f" ({self._link('app', app)})" if app else ""
        return (
            f"<tr><td><code>{_e(conf)}.conf [{_e(stanza)}] {_e(key)} = {_e(value)}</code></td>"
            f"<td>{_e(file)}:{_e(line)}{shown_app}</td><td>{self._bundle(run)}</td></tr>\n"
        )


def _as(link: Link, final: str | None, read: str | None) -> str:
    """ " as SOURCETYPE" when the data ends under another sourcetype than it is read as."""
    return f" as {link('sourcetype', final)}" if final and final != read else ""


def data_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Markup:
    """A sortable table (filterable past 15 rows) of cells already escaped, opened by
    table_open as the templates' tables are: for tables of thousands of rows."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>\n" for row in rows)
    return Markup(f"{table_open(headers, len(rows))}\n{body}</tbody></table>")  # noqa: S704


def link_list(link: Link, kind: str, items: Iterable[str]) -> str:
    """macros.html.j2's names: the items linked, comma separated."""
    return ", ".join(str(link(kind, item)) for item in items)


def table_open(headers: Sequence[str], rows: int = 0) -> Markup:
    """A sortable table's start, filterable past 15 rows (a screen): the templates' too."""
    filterable = " filterable" if rows > 15 else ""
    cells = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    return Markup(  # noqa: S704 - built from escaped parts
        f'<table class="data sortable{filterable}">\n<thead><tr>{cells}</tr></thead>\n<tbody>'
    )


def table_close() -> Markup:
    return Markup("</tbody></table>")
