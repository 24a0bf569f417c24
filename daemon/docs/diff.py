"""What changed between two resolutions (DOCS.md "Changes"): pure, over plain views of them.

A `ResolutionView` is what a diff compares, the same whether it was read from a stored
resolution (daemon.docs.load.load_view) or made from one in memory (daemon.docs.preview): per
host its member classes, delivered apps, effective inputs and the final indexes of its data
paths; per deployment app its conf files; the findings. `diff` gives DOCS.md's JSON shape
(daemon.docs.ticket writes its change-ticket text for `autodoc diff` and `autodoc preview`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.conf.normalize import parse_bool

# A conf file of a deployment app: stanza -> key -> value.
ConfStanzas = Mapping[str, Mapping[str, str]]
# An app's conf files: path in the DS bundle -> its stanzas.
AppFiles = Mapping[str, ConfStanzas]


@dataclass(frozen=True, slots=True)
class InputStanza:
    """One stanza of a host's effective inputs.conf."""

    settings: Mapping[str, str]
    # Some setting comes from the estate's files, not only from Splunk's shipped defaults: the
    # stanzas every host has out of the box are not listed as inputs of a host added.
    configured: bool = True

    @property
    def listed(self) -> bool:
        """Listed when added or removed: configured, and not disabled (`disabled = 1` reads
        nothing; turning it on or off shows as a changed key)."""
        value = self.settings.get("disabled")
        return self.configured and not (value is not None and parse_bool(value) is True)


Inputs = Mapping[str, InputStanza]  # stanza -> settings; shared by the hosts of one stack


@dataclass(frozen=True, slots=True)
class HostView:
    serverclasses: frozenset[str] = frozenset()  # member only
    apps: frozenset[str] = frozenset()  # delivered for sure (deployed)
    inputs: Inputs = field(default_factory=dict)
    finals: Mapping[str, tuple[str | None, ...]] = field(default_factory=dict)  # input -> indexes


@dataclass(frozen=True, slots=True)
class FindingView:
    code: str
    severity: str
    host: str | None
    subject: str
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        """A finding is the same finding in two resolutions when these are, whatever its
        message: a message holds counts and samples (DS_VERSION_DEPENDENT names how many hosts
        it affects) that change with the estate while the finding stays. An estate finding
        has no host and two deployment servers with the same unused app share a key: one of
        them resolved shows once the other is too (a finding stores no DS to tell them by)."""
        return (self.code, self.host or "", self.subject)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "host": self.host,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(frozen=True)
class ResolutionView:
    id: int | None  # None: not stored (a preview)
    hosts: Mapping[str, HostView]
    apps: Mapping[str, AppFiles]
    findings: Sequence[FindingView] = ()


EMPTY = ResolutionView(None, {}, {})


def final_indexes(indexes: Iterable[str | None]) -> tuple[str | None, ...]:
    """A path's final indexes as the diff compares them: each once, sorted (unknown last)."""
    return tuple(sorted(set(indexes), key=lambda i: (i is None, i or "")))


def app_contents(files: Iterable[tuple[str, str, str, ConfStanzas]]) -> dict[str, AppFiles]:
    """The deployment apps' conf files from (DS label, app, path, stanzas) of each DS
    repository's files, each by its path from the repository (`<app>/default/inputs.conf`,
    whatever folder the bundle was packed from), after its DS's label when it has one: the
    same file compares as the same, and the copies of several deployment servers apart."""
    out: dict[str, dict[str, ConfStanzas]] = {}
    for label, app, path, stanzas in files:
        shown = repository_path(app, path)
        out.setdefault(app, {})[f"{label}: {shown}" if label else shown] = stanzas
    return dict(out)


def repository_path(app: str, path: str) -> str:
    """A file's path from its DS repository: `etc/deployment-apps/a/default/x.conf` and
    `opt/splunk/etc/deployment-apps/a/default/x.conf` are both `a/default/x.conf`."""
    marker = f"deployment-apps/{app}/"
    at = path.rfind(marker)
    return path[at + len("deployment-apps/") :] if at >= 0 else path


# -- the rules --------------------------------------------------------------------------------


def diff(old: ResolutionView, new: ResolutionView) -> dict[str, Any]:
    """DOCS.md's shape: hosts (added, removed or changed; unchanged ones left out), apps and
    findings, from `old` to `new`."""
    compared: dict[tuple[int, int], tuple[list[str], list[str], list[dict[str, Any]]]] = {}
    hosts = []
    for name in sorted(old.hosts.keys() | new.hosts.keys()):
        change = host_change(name, old.hosts.get(name), new.hosts.get(name), compared)
        if change is not None:
            hosts.append(change)
    apps = []
    for app in sorted(old.apps.keys() | new.apps.keys()):
        found = app_change(app, old.apps.get(app), new.apps.get(app))
        if found is not None:
            apps.append(found)
    return {
        "from": old.id,
        "to": new.id,
        "hosts": hosts,
        "apps": apps,
        "findings": findings_change(old.findings, new.findings),
    }


def host_change(
    name: str,
    old: HostView | None,
    new: HostView | None,
    compared: dict[tuple[int, int], Any] | None = None,
) -> dict[str, Any] | None:
    """A host's entry, or None when nothing about it changed. A host added lists what it
    has (its configured inputs, not the shipped defaults), one removed what it had; data
    paths are compared for a host in both."""
    kind = "changed" if old and new else "added" if new else "removed"
    before, after = old or HostView(), new or HostView()
    added, removed, changed = inputs_change(before.inputs, after.inputs, compared)
    entry: dict[str, Any] = {
        "host": name,
        "change": kind,
        "serverclasses_added": sorted(after.serverclasses - before.serverclasses),
        "serverclasses_removed": sorted(before.serverclasses - after.serverclasses),
        "apps_added": sorted(after.apps - before.apps),
        "apps_removed": sorted(before.apps - after.apps),
        "inputs_added": added,
        "inputs_removed": removed,
        "inputs_changed": changed,
        "paths_changed": paths_change(before, after) if old and new else [],
    }
    if kind == "changed" and not any(v for k, v in entry.items() if k not in ("host", "change")):
        return None
    return entry


def inputs_change(
    old: Inputs, new: Inputs, compared: dict[tuple[int, int], Any] | None = None
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(stanzas added, removed, [{input, key, from, to}] of the keys whose value differs; a
    key set on one side only has null on the other). Hosts of one layer stack share their
    inputs, so a pair of them is compared once."""
    key = (id(old), id(new))
    if compared is not None and key in compared:
        return compared[key]  # type: ignore[no-any-return]
    added = sorted(s for s in new.keys() - old.keys() if new[s].listed)
    removed = sorted(s for s in old.keys() - new.keys() if old[s].listed)
    changed = []
    for stanza in sorted(old.keys() & new.keys()):
        before, after = old[stanza].settings, new[stanza].settings
        if before == after:
            continue
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                changed.append(
                    {"input": stanza, "key": name, "from": before.get(name), "to": after.get(name)}
                )
    found = (added, removed, changed)
    if compared is not None:
        compared[key] = found
    return found


def paths_change(old: HostView, new: HostView) -> list[dict[str, Any]]:
    """[{input, from, to}] of the inputs whose data ends in other indexes (an input with no
    path on one side, e.g. one added, has [] there)."""
    out = []
    for name in sorted(old.finals.keys() | new.finals.keys()):
        before, after = old.finals.get(name, ()), new.finals.get(name, ())
        if before != after:
            out.append({"input": name, "from": list(before), "to": list(after)})
    return out


def app_change(app: str, old: AppFiles | None, new: AppFiles | None) -> dict[str, Any] | None:
    """An app's entry: each conf file with a stanza added or removed or a key changed (every
    stanza of a file added or removed), or None when its conf files are the same."""
    before, after = old or {}, new or {}
    files = []
    for path in sorted(before.keys() | after.keys()):
        found = file_change(path, before.get(path), after.get(path))
        if found is not None:
            files.append(found)
    if old is not None and new is not None and not files:
        return None
    kind = "changed" if old is not None and new is not None else "added" if new else "removed"
    return {"app": app, "change": kind, "files": files}


def file_change(
    path: str, old: ConfStanzas | None, new: ConfStanzas | None
) -> dict[str, Any] | None:
    before, after = old or {}, new or {}
    changed = []
    for stanza in sorted(before.keys() & after.keys()):
        a, b = before[stanza], after[stanza]
        if a == b:
            continue
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                changed.append({"stanza": stanza, "key": key, "from": a.get(key), "to": b.get(key)})
    entry = {
        "path": path,
        "stanzas_added": sorted(after.keys() - before.keys()),
        "stanzas_removed": sorted(before.keys() - after.keys()),
        "keys_changed": changed,
    }
    if (
        old is not None
        and new is not None
        and not (entry["stanzas_added"] or entry["stanzas_removed"] or changed)
    ):
        return None
    return entry


def findings_change(
    old: Iterable[FindingView], new: Iterable[FindingView]
) -> dict[str, list[dict[str, Any]]]:
    """New: in `new` and not `old` by (code, host, subject); resolved: the other way."""
    before = {f.key: f for f in old}
    after = {f.key: f for f in new}
    return {
        "new": [after[k].to_json() for k in sorted(after.keys() - before.keys())],
        "resolved": [before[k].to_json() for k in sorted(before.keys() - after.keys())],
    }
