"""The text of `autodoc diff` and `autodoc preview`: a diff (daemon.docs.diff's JSON shape) as
an administrator pastes it into a change ticket. Headline counts first, then host by host
(hosts with the same change share one entry), app by app as a unified-diff-like listing of
its conf files, then the findings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

NAMES_SHOWN = 20  # hosts named in one entry; the JSON lists them all
LINES_SHOWN = 25  # lines of one list (a host's inputs, an app file's stanzas); the JSON has all
_HOST_LISTS = (
    ("serverclasses", "server classes"),
    ("apps", "apps"),
    ("inputs", "inputs"),
)


def headline(diff: Mapping[str, Any]) -> str:
    hosts = diff["hosts"]
    count = {k: sum(1 for h in hosts if h["change"] == k) for k in ("changed", "added", "removed")}
    apps = diff["apps"]
    findings = diff["findings"]
    parts = [
        f"hosts: {count['changed']} changed, {count['added']} added, {count['removed']} removed",
        f"apps: {', '.join(_counts(apps)) or 'none changed'}",
        f"findings: {len(findings['new'])} new, {len(findings['resolved'])} resolved",
    ]
    return "; ".join(parts)


def _counts(items: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for kind in ("changed", "added", "removed"):
        n = sum(1 for i in items if i["change"] == kind)
        if n:
            out.append(f"{n} {kind}")
    return out


def to_text(diff: Mapping[str, Any], title: str) -> str:
    """The whole text; `title` names the two sides ("resolution 4 -> preview of x.tgz").
    Every name and value from the bundles is shown on one line with its control characters
    escaped (a value continued with a backslash holds a newline: printed as it is it could
    forge lines of the ticket, and escape sequences would reach the terminal)."""
    diff = _escaped(diff)
    title = _escaped(title)
    lines = [f"Changes: {title}", headline(diff)]
    if not diff["hosts"] and not diff["apps"] and not any(diff["findings"].values()):
        lines.append("")
        lines.append("No change: every host, app and finding is as it was.")
        return "\n".join(lines) + "\n"
    if diff["hosts"]:
        lines += ["", "HOSTS"]
        for names, entry in group_hosts(diff["hosts"]):
            lines += ["", *_host(names, entry)]
    if diff["apps"]:
        lines += ["", "APPS"]
        for app in diff["apps"]:
            lines += ["", *_app(app)]
    findings = diff["findings"]
    if findings["new"] or findings["resolved"]:
        lines += ["", "FINDINGS"]
        for word, items in (("new", findings["new"]), ("resolved", findings["resolved"])):
            for f in items:
                where = f" {f['host']}" if f.get("host") else ""
                lines.append(
                    f"  {word:<9} {f['severity']:<8} {f['code']}{where} {f['subject']}: "
                    f"{f['message']}"
                )
    return "\n".join(lines) + "\n"


def _escaped(value: Any) -> Any:
    """Strings (in containers too) with every non-printable character as \\n, \\x1b,
    \\u2028 ...: one line each, nothing a terminal acts on."""
    if isinstance(value, str):
        if value.isprintable():
            return value
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)
    if isinstance(value, Mapping):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def group_hosts(
    hosts: Sequence[Mapping[str, Any]],
) -> list[tuple[list[str], Mapping[str, Any]]]:
    """Hosts whose change is the same (but for the name), together, in the order of the
    first of each group."""
    groups: dict[str, tuple[list[str], Mapping[str, Any]]] = {}
    for entry in hosts:
        key = json.dumps({k: v for k, v in entry.items() if k != "host"}, sort_keys=True)
        groups.setdefault(key, ([], entry))[0].append(entry["host"])
    return list(groups.values())


def _host(names: list[str], entry: Mapping[str, Any]) -> list[str]:
    shown = ", ".join(names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        shown += f" and {len(names) - NAMES_SHOWN} more (--json lists them all)"
    many = f"{len(names)} hosts: " if len(names) > 1 else ""
    lines = [f"{many}{shown} ({entry['change']})"]
    for key, label in _HOST_LISTS:
        # Added and removed capped apart: 300 inputs added never hide the one removed.
        added = _listed(label, [f"+ {n}" for n in entry[f"{key}_added"]])
        lines += added + _listed(
            "" if added else label, [f"- {n}" for n in entry[f"{key}_removed"]]
        )
    lines += _listed(
        "settings",
        [
            f"[{c['input']}] {c['key']}: {_value(c['from'])} -> {_value(c['to'])}"
            for c in entry["inputs_changed"]
        ],
    )
    lines += _listed(
        "data goes to",
        [
            f"{c['input']}: {_indexes(c['from'])} -> {_indexes(c['to'])}"
            for c in entry["paths_changed"]
        ],
    )
    return lines


def _listed(label: str, items: Sequence[str]) -> list[str]:
    """One list of a host's entry, the label on its first line, at most LINES_SHOWN lines (a
    host added with 300 inputs is one line of the ticket's reader's attention, not 300)."""
    lines = [
        f"  {label if i == 0 else '':<16} {item}" for i, item in enumerate(items[:LINES_SHOWN])
    ]
    if len(items) > LINES_SHOWN:
        lines.append(_more(len(items) - LINES_SHOWN, indent=19))
    return lines


def _value(value: str | None) -> str:
    return "(not set)" if value is None else repr(value) if value == "" else value


def _indexes(indexes: Sequence[str | None]) -> str:
    if not indexes:
        return "(no path)"
    return ", ".join("(unknown)" if i is None else i for i in indexes)


def _app(app: Mapping[str, Any]) -> list[str]:
    lines = [f"{app['app']} ({app['change']})"]
    for f in app["files"]:
        lines.append(f"  --- {f['path']}")
        lines += _capped([f"  + [{s}]" for s in f["stanzas_added"]])
        lines += _capped([f"  - [{s}]" for s in f["stanzas_removed"]])
        keys: list[str] = []
        stanza = None
        for c in f["keys_changed"][:LINES_SHOWN]:
            if c["stanza"] != stanza:
                stanza = c["stanza"]
                keys.append(f"    [{stanza}]")
            if c["from"] is not None:
                keys.append(f"  -   {c['key']} = {c['from']}")
            if c["to"] is not None:
                keys.append(f"  +   {c['key']} = {c['to']}")
        lines += keys
        if len(f["keys_changed"]) > LINES_SHOWN:
            lines.append(_more(len(f["keys_changed"]) - LINES_SHOWN, "keys"))
    return lines


def _capped(lines: Sequence[str]) -> list[str]:
    if len(lines) <= LINES_SHOWN:
        return list(lines)
    return [*lines[:LINES_SHOWN], _more(len(lines) - LINES_SHOWN, "stanzas")]


def _more(count: int, what: str = "", indent: int = 4) -> str:
    """The line that stands for what a capped list leaves out."""
    more = f"more {what}" if what else "more"
    return f"{' ' * indent}... and {count} {more} (--json lists them all)"
