"""Typed rows from parsed stanzas, for the tables the routing resolver reads. Pure: plain
values in (`daemon.conf.types`), plain dicts out; daemon.conf.store adds the run, the stanza
and the file's provenance, and writes them.

Every row holds one stanza's own values as written: merging `[default]`, inheritance
(serverclass.conf) and precedence across layers are the resolver's job. An unset key is None
(or an empty list where the column is a list that is always meaningful), so the resolver can
tell "not set here" from any value.

Decisions (SPLUNK_CONF.md leaves these open):

- Every stanza of a typed conf type gets a row, `[default]` included: the resolver needs its
  values. A row's `name` is the stanza name.
- inputs: `stanza_type` is the scheme before `://` and `target` what follows
  (`[monitor:///var/log]` -> `monitor`, `/var/log`). The single-colon forms of the spec
  (`[splunktcp-ssl:9997]`, `[tcp-ssl:514]`, `[fschange:/etc]`, `[filter:...]`, and the older
  `[splunktcp:9997]`, `[tcp:514]`, `[udp:514]`) split at the first `:`. Any other name
  (`[default]`, `[splunktcp]`, `[http]`, `[SSL]`, `[WinEventLog]`) is a settings stanza, not
  an input: its whole name is the stanza_type and target is None. `index = default` is kept as
  written (Splunk reads it as `main`). `_TCP_ROUTING` and `_SYSLOG_ROUTING` are comma lists.
- Booleans follow Splunk: true/false, 1/0, yes/no, t/f, y/n, any case. Anything else is left
  None with a `bad-boolean` finding; integers likewise (`bad-integer`). The raw value stays in
  the stanza's settings either way.
- props: `source::`, `host::`, `rule::`, `delayedrule::` prefixes name the target kind and the
  pattern follows; `[default]` is its own kind; any other name is a sourcetype. Only what
  routes events is typed: `sourcetype` (set by `[source::...]` stanzas), `priority`, the
  `TRANSFORMS-*` and `RULESET-*` classes in ASCII order of the class name (Splunk's order)
  with their ordered transform lists, and `SEDCMD-*`. Search-time keys (`REPORT-*`,
  `EXTRACT-*`, ...) stay in the stanza's settings.
- transforms: `rewrites_index` is `DEST_KEY = _MetaData:Index`, `rewrites_sourcetype`
  `DEST_KEY = MetaData:Sourcetype`, `routes` any of `_TCP_ROUTING`, `_SYSLOG_ROUTING` and
  `_INDEX_AND_FORWARD_ROUTING`, `null_queue` `DEST_KEY = queue` with `FORMAT = nullQueue`.
  Keys and values compare exactly, as Splunk does. `INGEST_EVAL` is kept too: it can set
  `index` or `queue` without a DEST_KEY.
- outputs: `[tcpout]` (defaultGroup, indexAndForward), `[tcpout:<group>]` (its `server`
  list), `[tcpout-server://<host:port>]` (the one server of its name), `[syslog]`,
  `[syslog:<group>]`, `[httpout]`, `[indexAndForward]` (its `index` key is
  `index_and_forward`); anything else is kind `other`.
- serverclass.conf: `[global]`, `[serverClass:<name>]` and `[serverClass:<name>:app:<app>]`
  (split at the first `:app:`) are typed, `[default]` too; other stanzas get no row but a
  `serverclass-unknown-stanza` finding. `whitelist.<n>`/`blacklist.<n>` are ordered by the
  integer n (gaps allowed; ties by key); `.from_pathname` is its own column;
  `.select_field`, `.where_field` and `.where_equals` (they qualify `from_pathname`) stay in
  settings; any other suffix is not a pattern and gets a `serverclass-list-key` finding. A
  list is None when the stanza sets no key of it: "setting either list at a child level
  replaces both" needs to know.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.conf.types import Finding, Stanza
from daemon.domain import IndexKind, OutputKind, PropsTarget, ServerClassKind

# conf type (file name without .conf) -> typed table
TYPED_TABLES: dict[str, str] = {
    "inputs": "inputs",
    "props": "props",
    "transforms": "transforms",
    "indexes": "indexes",
    "outputs": "outputs",
    "serverclass": "serverclasses",
}

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

_SINGLE_COLON_INPUTS = frozenset(
    {"splunktcp-ssl", "tcp-ssl", "fschange", "filter", "splunktcp", "tcp", "udp"}
)
_PROPS_PREFIXES = (
    ("source::", PropsTarget.SOURCE),
    ("host::", PropsTarget.HOST),
    ("rule::", PropsTarget.RULE),
    ("delayedrule::", PropsTarget.DELAYEDRULE),
)
_ROUTING_KEYS = frozenset({"_TCP_ROUTING", "_SYSLOG_ROUTING", "_INDEX_AND_FORWARD_ROUTING"})
_LIST_ATTRIBUTES = frozenset({"select_field", "where_field", "where_equals"})
_LIST_INDEX = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Typed:
    """The typed row of one stanza for `table` (None: no row, e.g. an unknown serverclass.conf
    stanza), and what was wrong with its values."""

    table: str | None
    row: dict[str, Any] | None
    findings: tuple[Finding, ...] = ()


# -- values ------------------------------------------------------------------------------------


def parse_bool(value: str) -> bool | None:
    """Splunk's booleans, any case; None when the value is none of them."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def split_list(value: str) -> list[str]:
    """A comma list (`g1, g2`), blanks and newlines around items stripped, empty items dropped."""
    return [item for item in (part.strip() for part in value.split(",")) if item]


class _Reader:
    """Typed access to one stanza's settings that records a finding for each bad value."""

    def __init__(self, stanza: Stanza) -> None:
        self.stanza = stanza
        self.settings = stanza.settings
        self.findings: list[Finding] = []

    def text(self, key: str) -> str | None:
        return self.settings.get(key)

    def items(self, key: str) -> list[str] | None:
        value = self.settings.get(key)
        return None if value is None else split_list(value)

    def flag(self, key: str) -> bool | None:
        value = self.settings.get(key)
        if value is None:
            return None
        parsed = parse_bool(value)
        if parsed is None:
            self.report("bad-boolean", key, "is not a boolean (true/false, 1/0, yes/no, t/f, y/n)")
        return parsed

    def number(self, key: str, bounds: tuple[int, int] = _INT64) -> int | None:
        value = self.settings.get(key)
        if value is None:
            return None
        text = value.strip()
        if _INTEGER.fullmatch(text) and bounds[0] <= int(text) <= bounds[1]:
            return int(text)
        self.report("bad-integer", key, "is not an integer in range")
        return None

    def report(self, code: str, key: str, problem: str) -> None:
        value = self.settings.get(key, "")
        self.findings.append(
            Finding(
                code,
                f"[{self.stanza.name}] {key} = {value!r} {problem}; left unset",
                _line_of(self.stanza, key),
            )
        )


def _line_of(stanza: Stanza, key: str) -> int:
    """The line of the effective (last) occurrence of `key`, else the stanza's header."""
    for occurrence in reversed(stanza.occurrences):
        if occurrence.key == key:
            return occurrence.line
    return stanza.line


def _classes(settings: dict[str, str], prefix: str) -> list[tuple[str, str]]:
    """(class, value) of every `<prefix><class>` key, in ASCII order of the class. The bare
    key (`TRANSFORMS = ...`, as Splunk's own system/default/props.conf routes with) is the
    class "", first in that order."""
    bare = prefix.rstrip("-")
    return sorted(
        (k[len(prefix) :] if k != bare else "", v)
        for k, v in settings.items()
        if k.startswith(prefix) or (k == bare and prefix != "SEDCMD-")
    )


# -- rows ----------------------------------------------------------------------------------


def occurrence_list(stanza: Stanza) -> list[list[Any]]:
    """Every `key = value` line of the stanza as `[key, value, line]`, in file order: the
    evidence kept in stanzas.occurrences."""
    return [[o.key, o.value, o.line] for o in stanza.occurrences]


def input_type(name: str) -> tuple[str, str | None]:
    """(stanza_type, target) of an inputs.conf stanza name."""
    scheme, sep, target = name.partition("://")
    if sep:
        return scheme, target
    scheme, sep, target = name.partition(":")
    if sep and scheme in _SINGLE_COLON_INPUTS:
        return scheme, target
    return name, None


def _input(r: _Reader) -> dict[str, Any]:
    stanza_type, target = input_type(r.stanza.name)
    return {
        "stanza_type": stanza_type,
        "target": target,
        "index": r.text("index"),
        "sourcetype": r.text("sourcetype"),
        "host": r.text("host"),
        "disabled": r.flag("disabled"),
        "tcp_routing": r.items("_TCP_ROUTING"),
        "syslog_routing": r.items("_SYSLOG_ROUTING"),
    }


def props_target(name: str) -> tuple[PropsTarget, str]:
    """(target kind, pattern) of a props.conf stanza name."""
    for prefix, kind in _PROPS_PREFIXES:
        if name.startswith(prefix):
            return kind, name[len(prefix) :]
    if name == "default":
        return PropsTarget.DEFAULT, name
    return PropsTarget.SOURCETYPE, name


def _props(r: _Reader) -> dict[str, Any]:
    kind, pattern = props_target(r.stanza.name)
    return {
        "target_kind": kind,
        "pattern": pattern,
        "sourcetype": r.text("sourcetype"),
        "priority": r.number("priority", _INT32),
        "transforms": [
            {"class": c, "transforms": split_list(v)}
            for c, v in _classes(r.settings, "TRANSFORMS-")
        ],
        "rulesets": [
            {"class": c, "transforms": split_list(v)} for c, v in _classes(r.settings, "RULESET-")
        ],
        "sedcmds": [{"class": c, "value": v} for c, v in _classes(r.settings, "SEDCMD-")],
    }


def _transforms(r: _Reader) -> dict[str, Any]:
    dest_key = r.text("DEST_KEY")
    fmt = r.text("FORMAT")
    return {
        "regex": r.text("REGEX"),
        "format": fmt,
        "dest_key": dest_key,
        "source_key": r.text("SOURCE_KEY"),
        "ingest_eval": r.text("INGEST_EVAL"),
        "rewrites_index": dest_key == "_MetaData:Index",
        "rewrites_sourcetype": dest_key == "MetaData:Sourcetype",
        "routes": dest_key in _ROUTING_KEYS,
        "null_queue": dest_key == "queue" and fmt == "nullQueue",
    }


def index_kind(name: str) -> IndexKind:
    if name == "default":
        return IndexKind.DEFAULT
    for prefix, kind in (
        ("volume:", IndexKind.VOLUME),
        ("provider-family:", IndexKind.PROVIDER_FAMILY),
        ("provider:", IndexKind.PROVIDER),
    ):
        if name.startswith(prefix):
            return kind
    return IndexKind.INDEX


def _indexes(r: _Reader) -> dict[str, Any]:
    return {
        "kind": index_kind(r.stanza.name),
        "datatype": r.text("datatype"),
        "home_path": r.text("homePath"),
        "cold_path": r.text("coldPath"),
        "thawed_path": r.text("thawedPath"),
        "cold_to_frozen_dir": r.text("coldToFrozenDir"),
        "frozen_time_period_in_secs": r.number("frozenTimePeriodInSecs"),
        "max_total_data_size_mb": r.number("maxTotalDataSizeMB"),
        "max_data_size": r.text("maxDataSize"),
        "rep_factor": r.text("repFactor"),
        "disabled": r.flag("disabled"),
    }


def output_kind(name: str) -> tuple[OutputKind, str | None]:
    """(kind, group or server) of an outputs.conf stanza name."""
    exact = {
        "tcpout": OutputKind.TCPOUT,
        "syslog": OutputKind.SYSLOG,
        "httpout": OutputKind.HTTPOUT,
        "indexAndForward": OutputKind.INDEX_AND_FORWARD,
        "default": OutputKind.DEFAULT,
    }
    if name in exact:
        return exact[name], None
    for prefix, kind in (
        ("tcpout-server://", OutputKind.TCPOUT_SERVER),
        ("tcpout:", OutputKind.TCPOUT_GROUP),
        ("syslog:", OutputKind.SYSLOG_GROUP),
    ):
        if name.startswith(prefix):
            return kind, name[len(prefix) :]
    return OutputKind.OTHER, None


def _outputs(r: _Reader) -> dict[str, Any]:
    kind, rest = output_kind(r.stanza.name)
    servers = [rest] if kind is OutputKind.TCPOUT_SERVER and rest else r.items("server")
    local = "index" if kind is OutputKind.INDEX_AND_FORWARD else "indexAndForward"
    return {
        "kind": kind,
        "group_name": rest if kind in (OutputKind.TCPOUT_GROUP, OutputKind.SYSLOG_GROUP) else None,
        "servers": servers,
        "default_group": r.items("defaultGroup"),
        "index_and_forward": r.flag(local),
        "disabled": r.flag("disabled"),
    }


def serverclass_kind(name: str) -> tuple[ServerClassKind, str | None, str | None] | None:
    """(kind, server class, app) of a serverclass.conf stanza name; None: not one of ours."""
    if name == "global":
        return ServerClassKind.GLOBAL, None, None
    if name == "default":
        return ServerClassKind.DEFAULT, None, None
    if not name.startswith("serverClass:"):
        return None
    rest = name[len("serverClass:") :]
    server_class, sep, app = rest.partition(":app:")
    if sep:
        return ServerClassKind.APP, server_class, app
    return ServerClassKind.SERVER_CLASS, rest, None


def _filter_list(r: _Reader, which: str) -> tuple[list[str] | None, str | None]:
    """(patterns ordered by n, from_pathname) of `whitelist.*` or `blacklist.*`."""
    prefix = which + "."
    numbered: list[tuple[int, str, str]] = []
    from_pathname = None
    seen = False
    for key, value in r.settings.items():
        if not key.startswith(prefix):
            continue
        suffix = key[len(prefix) :]
        if _LIST_INDEX.fullmatch(suffix):
            numbered.append((int(suffix), key, value))
            seen = True
        elif suffix == "from_pathname":
            from_pathname = value
            seen = True
        elif suffix not in _LIST_ATTRIBUTES:
            r.report(
                "serverclass-list-key",
                key,
                f"is not a pattern: {which}.<n> takes a non-negative integer n",
            )
    patterns = [value for _, _, value in sorted(numbered)] if seen else None
    return patterns, from_pathname


def _serverclass(r: _Reader) -> dict[str, Any] | None:
    kind = serverclass_kind(r.stanza.name)
    if kind is None:
        r.findings.append(
            Finding(
                "serverclass-unknown-stanza",
                f"[{r.stanza.name}] is neither [global] nor [serverClass:...]: not typed",
                r.stanza.line,
            )
        )
        return None
    whitelist, whitelist_file = _filter_list(r, "whitelist")
    blacklist, blacklist_file = _filter_list(r, "blacklist")
    return {
        "kind": kind[0],
        "server_class": kind[1],
        "deployed_app": kind[2],
        "whitelist": whitelist,
        "blacklist": blacklist,
        "whitelist_from_pathname": whitelist_file,
        "blacklist_from_pathname": blacklist_file,
        "filter_type": r.text("filterType"),
        "machine_types_filter": r.items("machineTypesFilter"),
        "repository_location": r.text("repositoryLocation"),
        "state_on_client": r.text("stateOnClient"),
    }


_BUILDERS: dict[str, Callable[[_Reader], dict[str, Any] | None]] = {
    "inputs": _input,
    "props": _props,
    "transforms": _transforms,
    "indexes": _indexes,
    "outputs": _outputs,
    "serverclasses": _serverclass,
}


def normalize_stanza(conf_type: str, stanza: Stanza) -> Typed | None:
    """The typed row of `stanza` from a `<conf_type>.conf` file; None when the conf type has
    no typed table."""
    table = TYPED_TABLES.get(conf_type)
    if table is None:
        return None
    reader = _Reader(stanza)
    row = _BUILDERS[table](reader)
    if row is None:
        return Typed(None, None, tuple(reader.findings))
    row["name"] = stanza.name
    return Typed(table, row, tuple(reader.findings))
