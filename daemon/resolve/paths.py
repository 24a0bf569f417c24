"""Data paths (RESOLVER.md §5): where each input's data goes, hop by hop, from configuration
alone — and the estate checks a path finds (§6). Pure: hosts with their effective inputs,
outputs, props, transforms and indexes in; paths and findings out.

For each enabled input of each host (the shipped `system/default`'s own included):

1. the event as the reading host knows it: index, sourcetype (explicit, `[source::]` props of
   that host, the network default, else `auto`), host field, source;
2. on the first heavy forwarder or indexer (a universal forwarder only for a sourcetype with
   `force_local_processing` or `INDEXED_EXTRACTIONS`) the parsing-phase props select the
   `TRANSFORMS-<class>` rewrites (props.py); each REGEX-dependent rewrite splits the event
   into the case where it applies and the case where it does not, both `conditional`;
3. the host's output groups (`_TCP_ROUTING`, a routing rewrite, else `[tcpout]
   defaultGroup`), filtered by `forwardedindex.<n>.*`; each server is matched to the estate
   host that listens on its port (`splunktcp`) under that name, and the walk goes on there;
   `indexAndForward` (and `selectiveIndexing`) add a local leg, an indexer with no group
   indexes locally;
4. at an indexer, the final index (`default` = its `defaultDatabase`), checked against its
   effective indexes.conf.

Downstream walks are shared: what happens from a receiver on depends only on that receiver
and the event, so hosts that forward alike cost one walk between them.
"""

from __future__ import annotations

import enum
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import re2

from daemon.conf.normalize import parse_bool, split_list
from daemon.resolve.layers import EffectiveConf, EffectiveValue, LayerKind, input_type
from daemon.resolve.props import (
    Event,
    PatternMatcher,
    PropsIndex,
    Rewrite,
    RewriteKind,
    Transforms,
    forces_local_processing,
    re2_options,
    rewrites,
)
from daemon.resolve.types import Clue, Finding
from daemon.resolve.vocabulary import FindingCode, Severity

PARSING_ROLES = frozenset({"hf", "indexer"})
# Receivers of forwarded data, not sources of it.
_RECEIVER_TYPES = frozenset({"splunktcp"})
# A rewrite chain splits an event in two per conditional rewrite: past this many variants of
# one event the rest of the chain is not followed and the outcome is `unknown`.
MAX_VARIANTS = 64
_PORT = re.compile(r"^(?:(?:\[[^\]]*\]|[^:]*):)?([0-9]{1,5})$", re.ASCII)
Keys = Mapping[str, EffectiveValue]
# In a finding's subject and message, its own host: written in when the findings are done,
# so that one computed for a host can be said of another with the same configuration.
_H = "\x00host\x00"
SHIPPED = LayerKind.SYSTEM_DEFAULT
T = TypeVar("T", bound=Hashable)


class Certainty(enum.StrEnum):
    CERTAIN = "certain"
    CONDITIONAL = "conditional"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HostConfig:
    """A host as the paths see it: its names (lower-cased, short names of FQDNs too), role,
    and effective configuration."""

    name: str
    role: str
    names: frozenset[str]
    hostname: str
    # Its own etc/ tree is known: without it only what the DS delivers is, so a missing
    # output group may be local configuration we never saw (no NOT_FORWARDED then).
    own_tree: bool
    inputs: EffectiveConf
    outputs: EffectiveConf
    props: EffectiveConf
    transforms: EffectiveConf
    indexes: EffectiveConf
    # False for an indexer cluster peer, whose indexes come in a bundle we do not read: no
    # UNDEFINED_INDEX can be said of it.
    indexes_known: bool = True


@dataclass(frozen=True, slots=True)
class Hop:
    source: str  # the forwarding host
    group: str
    server: str  # host:port as written
    to: str | None  # the estate host that receives it; None outside the estate


@dataclass(frozen=True, slots=True)
class Final:
    index: str | None  # None: not known from configuration (a `$1` in FORMAT)
    sourcetype: str | None
    certainty: Certainty
    at: str | None  # the indexer; None when the data leaves the estate


@dataclass(frozen=True, slots=True)
class Walk:
    """Where data goes from the reading host on: the part of a path that the hosts sharing
    one configuration share (one object, stored once)."""

    hops: tuple[Hop, ...]
    final: tuple[Final, ...]
    may_drop: bool
    evidence: tuple[Clue, ...]


@dataclass(frozen=True, slots=True)
class DataPath:
    host: str
    input: str
    index: str
    sourcetype: str
    host_field: str
    source: str
    groups: tuple[str, ...]
    servers: tuple[str, ...]
    own_evidence: tuple[Clue, ...]  # the input's settings on the reading host
    walk: Walk

    @property
    def receivers(self) -> tuple[Hop, ...]:
        return self.walk.hops

    @property
    def final(self) -> tuple[Final, ...]:
        return self.walk.final

    @property
    def may_drop(self) -> bool:
        return self.walk.may_drop

    @property
    def evidence(self) -> tuple[Clue, ...]:
        """Every setting the path rests on: the input's, then the walk's."""
        return tuple({id(c): c for c in (*self.own_evidence, *self.walk.evidence)}.values())


@dataclass(frozen=True, slots=True)
class _State:
    """One variant of an event on its way."""

    index: str | None
    sourcetype: str | None
    host: str
    source: str
    routing: tuple[str, ...] | None  # groups a rewrite (or the input) chose
    parsed: bool
    certainty: Certainty
    # The setting that gave the index (for UNDEFINED_INDEX); not part of the state's
    # identity, so hosts whose inputs name one index the same way share a walk.
    index_set_by: Clue | None = field(default=None, compare=False)
    routing_set_by: Clue | None = field(default=None, compare=False)


@dataclass(slots=True)
class _Walk:
    """What a walk from one host on found (shared between the paths that reach it)."""

    hops: list[Hop] = field(default_factory=list)
    finals: list[Final] = field(default_factory=list)
    may_drop: bool = False
    evidence: list[Clue] = field(default_factory=list)
    loop: bool = False  # met a host already on the way: not shared

    def extend(self, other: _Walk) -> None:
        self.hops.extend(other.hops)
        self.finals.extend(other.finals)
        self.may_drop = self.may_drop or other.may_drop
        self.evidence.extend(other.evidence)
        self.loop = self.loop or other.loop


@dataclass(frozen=True, slots=True)
class Paths:
    paths: tuple[DataPath, ...]
    findings: tuple[Finding, ...]


def clue(conf: EffectiveConf, stanza: str, key: str, value: EffectiveValue) -> Clue:
    return value.clue(conf.conf_type, stanza, key)


def data_paths(hosts: Sequence[HostConfig]) -> Paths:
    """Every input's path on every host, and the findings of §6 that paths reveal."""
    return _Paths(hosts).run()


class _Paths:
    def __init__(self, hosts: Sequence[HostConfig]) -> None:
        self.hosts = hosts
        self.by_name: dict[str, list[HostConfig]] = defaultdict(list)
        for host in hosts:
            for name in host.names:
                self.by_name[name].append(host)
        self._findings: dict[tuple[str, str | None, str], Finding] = {}
        self._walks: dict[tuple[str, tuple[object, ...]], _Walk] = {}
        self._clues: dict[tuple[int, str, str], Clue] = {}
        self._ports: dict[int, frozenset[int]] = {}
        # Hosts of one layer stack share their EffectiveConf objects: keyed by id, these
        # caches serve every host of a stack (the confs live as long as this object).
        self._props: dict[tuple[int, int, Event], tuple[Keys, Transforms]] = {}
        self._indexes: dict[int, PropsIndex] = {}
        # Every props.conf's [source::] and [host::] patterns, compiled once for all.
        self._matcher = PatternMatcher(h.props for h in hosts)
        self._filtered: dict[tuple[int, str], _Filter] = {}
        # (host, transform): where it was seen on data it never parses / applied to data
        self._wrong_tier: dict[tuple[str, str], Finding] = {}
        self._applied: set[tuple[str, str]] = set()
        self._origins: dict[tuple[object, ...], tuple[Walk, list[Callable[[str], object]]]] = {}
        self._saying: tuple[str, list[Callable[[str], object]]] | None = None
        self._groups: dict[tuple[int, tuple[str, ...] | None], tuple[list[str], list[str]]] = {}
        # The host field matters only through the [host::] stanzas it matches: hosts whose
        # field matches the same ones stand for each other (one walk, one props lookup).
        self._host_reps: dict[str, str] = {}
        self._host_rep_of: dict[frozenset[str], str] = {}

    def run(self) -> Paths:
        paths: list[DataPath] = []
        for host in self.hosts:
            for stanza in _enabled_inputs(host.inputs):
                paths.append(self._path(host, stanza))
        for (host_name, transform), wrong in self._wrong_tier.items():
            if (host_name, transform) not in self._applied:
                self._findings.setdefault((wrong.code.value, host_name, wrong.subject), wrong)
        findings = sorted(
            (_said_of(f) for f in self._findings.values()),
            key=lambda f: (f.code, f.host or "", f.subject),
        )
        return Paths(tuple(paths), tuple(findings))

    # -- one input ------------------------------------------------------------------------

    def _path(self, host: HostConfig, stanza: str) -> DataPath:
        settings = host.inputs.stanzas[stanza].settings
        evidence: list[Clue] = []

        def take(key: str) -> str | None:
            value = settings.get(key)
            if value is None:
                return None
            evidence.append(self._cl(host.inputs, stanza, key, value))
            return value.value.strip()

        kind = input_type(stanza) or ""
        target = _target(stanza)
        index = take("index") or "default"
        index_set_by = evidence[-1] if evidence else None
        source = take("source") or _default_source(kind, target, stanza)
        sourcetype = self._sourcetype(host, stanza, kind, target, source, evidence)
        host_field = self._host_field(host, stanza, kind, evidence)
        routing = take("_TCP_ROUTING")
        routing_set_by = evidence[-1] if routing else None
        state = _State(
            index=index,
            sourcetype=sourcetype,
            host=host_field,
            source=source,
            routing=tuple(split_list(routing)) if routing else None,
            parsed=False,
            certainty=Certainty.CERTAIN,
            index_set_by=index_set_by,
            routing_set_by=routing_set_by,
        )
        local = take("_INDEX_AND_FORWARD_ROUTING") is not None
        walk = self._from_origin(host, state, local)
        groups, servers = self._groups_of(host, state)
        return DataPath(
            host=host.name,
            input=stanza,
            index=index,
            sourcetype=sourcetype,
            host_field=host_field,
            source=source,
            groups=tuple(groups),
            servers=tuple(servers),
            own_evidence=tuple({id(c): c for c in evidence}.values()),
            walk=walk,
        )

    def _from_origin(self, host: HostConfig, state: _State, local: bool) -> Walk:
        """The walk from the reading host on, as a path shows it. Hosts that are no parsing
        tier and share their configuration (a stack of DS apps: most of an estate) share it:
        what it said of the first host (its findings) is said again of each of the others."""
        if host.role in PARSING_ROLES:  # it may index locally: the finals name the host
            return _outcome(self._at(host, state, (host.name,), local_routing=local, origin=True))
        key = (
            id(host.outputs),
            id(host.props),
            id(host.transforms),
            id(host.indexes),
            host.role,
            host.own_tree,
            host.indexes_known,
            local,
            self._memo_key(state),
        )
        shared = self._origins.get(key)
        if shared is not None:
            outcome, said = shared
            for replay in said:
                replay(host.name)
            return outcome
        self._saying = (host.name, [])
        try:
            walk = self._at(host, state, (host.name,), local_routing=local, origin=True)
        finally:
            said, self._saying = self._saying[1], None
        outcome = _outcome(walk)
        if not walk.loop and all(hop.to != host.name for hop in walk.hops):
            self._origins[key] = (outcome, said)
        return outcome

    def _sourcetype(
        self,
        host: HostConfig,
        stanza: str,
        kind: str,
        target: str,
        source: str,
        evidence: list[Clue],
    ) -> str:
        """Explicit; else `[source::]` props of the reading host (file inputs); else the
        network default; else `auto`."""
        explicit = host.inputs.stanzas[stanza].settings.get("sourcetype")
        if explicit is not None and explicit.value.strip():
            evidence.append(self._cl(host.inputs, stanza, "sourcetype", explicit))
            return explicit.value.strip()
        if kind in ("monitor", "batch"):
            keys, _ = self._props_of(host, Event(None, source, None))
            from_props = keys.get("sourcetype")
            if from_props is not None and from_props.value.strip():
                evidence.append(self._clue(host.props, from_props))
                return from_props.value.strip()
        if kind == "tcp":
            return "tcp-raw"
        if kind == "udp":
            return f"udp:{_port_text(target)}"
        return "auto"

    def _host_field(self, host: HostConfig, stanza: str, kind: str, evidence: list[Clue]) -> str:
        """The input's `host`; a network input without one of its own says where the sender
        is taken from (`connection_host`); `$decideOnStartup` is the reading host."""
        settings = host.inputs.stanzas[stanza].settings
        value = settings.get("host")
        default = host.inputs.get("default", "host")
        if kind in ("tcp", "udp") and (value is None or value is default):
            how = settings.get("connection_host")
            mode = how.value.strip() if how is not None else "ip"
            if how is not None:
                evidence.append(self._cl(host.inputs, stanza, "connection_host", how))
            if mode != "none":
                return f"connection_host={mode}"
        if value is None or value.value.strip() in ("", "$decideOnStartup"):
            return host.hostname
        evidence.append(self._cl(host.inputs, stanza, "host", value))
        return value.value.strip()

    # -- at a host -------------------------------------------------------------------------

    def _at(
        self,
        host: HostConfig,
        state: _State,
        way: tuple[str, ...],
        *,
        local_routing: bool = False,
        origin: bool = False,
    ) -> _Walk:
        """What becomes of the event from `host` on: it has arrived there, or (`origin`) is
        read there."""
        key = (host.name, self._memo_key(state))
        if not origin:
            found = self._walks.get(key)
            if found is not None:
                return found
        walk = _Walk()
        for variant in self._parse(host, state, walk):
            self._leave(host, variant, way, walk, local_routing)
        if not origin and not walk.loop:
            self._walks[key] = walk
        return walk

    def _memo_key(self, state: _State) -> tuple[object, ...]:
        """What of the event decides its walk from a host on (the host field only through
        the [host::] patterns it matches)."""
        return (
            state.index,
            state.sourcetype,
            self._host_rep(state.host),
            state.source,
            state.routing,
            state.parsed,
            state.certainty,
        )

    def _host_rep(self, host: str) -> str:
        """The first host field seen that matches the same [host::] patterns as `host`."""
        found = self._host_reps.get(host)
        if found is None:
            signature = self._matcher.matching(1, host)
            found = self._host_reps[host] = self._host_rep_of.setdefault(signature, host)
        return found

    def _parse(self, host: HostConfig, state: _State, walk: _Walk) -> list[_State]:
        """The variants of the event after this host's parsing phase (itself when this host
        does not parse it). A CLONE_SOURCETYPE copy made while parsing is parsed here too,
        with the transforms of its new sourcetype (transforms.conf.spec), and so are the
        copies it makes: each distinct copy once, a copy identical to the event or to one
        already parsed adds nothing, and past MAX_VARIANTS the rest are kept as they are,
        their outcome unknown."""
        variants, clones = self._parse_once(host, state, walk, clone=False)
        seen = {replace(state, parsed=True)}
        while clones:
            copy = clones.pop(0)
            if copy in seen:
                continue
            seen.add(copy)
            if len(seen) > MAX_VARIANTS or len(variants) > MAX_VARIANTS:
                variants.append(replace(copy, certainty=Certainty.UNKNOWN))
                continue
            more, further = self._parse_once(host, copy, walk, clone=True)
            variants.extend(more)
            clones.extend(further)
        return _unique(variants)

    def _parse_once(
        self, host: HostConfig, state: _State, walk: _Walk, *, clone: bool
    ) -> tuple[list[_State], list[_State]]:
        """One pass of this host's parsing phase over one event (`clone`: a copy made on
        this host while parsing, so parsed here): its variants, and the copies its
        CLONE_SOURCETYPE transforms make."""
        sourcetype = state.sourcetype if state.sourcetype != "auto" else None
        keys, found = self._props_of(
            host, Event(sourcetype, state.source, self._host_rep(state.host))
        )
        for name, named_by in found.missing:
            self._finding(
                FindingCode.MISSING_TRANSFORM,
                Severity.WARNING,
                host.name,
                f"transform:{name}",
                f"props.conf names the transform [{name}] ({self._named(host, named_by)}), "
                f"which no transforms.conf on {_H} defines: it does nothing",
                (self._clue(host.props, named_by),),
            )
        forced = forces_local_processing(keys)
        parses = clone or (not state.parsed and (host.role in PARSING_ROLES or forced is not None))
        if not parses:
            # The shipped system/default's own props ([source::...stash_new] ...) are the
            # product's, on every host: not an administrator's transform on a wrong tier.
            placed = [r for r in found.rewrites if r.named_by.origin.kind is not SHIPPED]
            if placed:
                first = placed[0]
                why = (
                    "the data was parsed upstream, and parsed data is not parsed again"
                    if state.parsed
                    else f"{_H} is a {_role_name(host.role)}, which does not parse "
                    "data (no force_local_processing)"
                )
                # A finding only if no data ever reaches this host unparsed for it (run()).
                self._wrong_tier_at(
                    host.name,
                    first.transform,
                    Finding(
                        FindingCode.TRANSFORM_ON_WRONG_TIER,
                        Severity.WARNING,
                        f"transform:{first.transform}",
                        f"[{first.transform}] on {_H} never applies to "
                        f"{state.sourcetype} data from {state.source}: {why}",
                        self._rewrite_clues(host, first),
                        host.name,
                    ),
                )
            return [state], []
        for rewrite in found.rewrites:
            self._applied_at(host.name, rewrite.transform)
        if forced is not None:
            walk.evidence.append(self._clue(host.props, forced))
        variants = [replace(state, parsed=True)]
        clones: list[_State] = []
        capped = False
        for rewrite in found.rewrites:
            clues = self._rewrite_clues(host, rewrite)
            if rewrite.kind is RewriteKind.DROP and not clone:
                walk.may_drop = True  # a copy dropped is not the input's data dropped
            if capped:
                # Past the cap only what may drop the event is kept (and its evidence).
                if rewrite.kind is RewriteKind.DROP:
                    walk.evidence.extend(clues)
                continue
            walk.evidence.extend(clues)
            if len(variants) + len(clones) > MAX_VARIANTS:
                variants = [replace(v, certainty=Certainty.UNKNOWN) for v in (*variants, *clones)]
                clones, capped = [], True
                continue
            if rewrite.kind is RewriteKind.CLONE:
                # The copy leaves this list: it gets the transforms of its new sourcetype
                # (transforms.conf.spec CLONE_SOURCETYPE), the original goes on as it was.
                clones.extend(_rewritten(rewrite, variants, clues[-1]))
                continue
            variants = _unique(_rewritten(rewrite, variants, clues[-1]))
        return _unique(variants), _unique(clones)

    def _leave(
        self,
        host: HostConfig,
        state: _State,
        way: tuple[str, ...],
        walk: _Walk,
        local_routing: bool,
    ) -> None:
        """Where the event goes from this host: groups, the local index, or nowhere."""
        groups, _servers = self._groups_of(host, state)
        tcpout = host.outputs.stanzas.get("tcpout")
        index_and_forward = _flag(host.outputs, "tcpout", "indexAndForward", walk) or _flag(
            host.outputs, "indexAndForward", "index", walk
        )
        selective = _flag(host.outputs, "tcpout", "selectiveIndexing", walk) or _flag(
            host.outputs, "indexAndForward", "selectiveIndexing", walk
        )
        local = host.role == "indexer" and not groups
        if groups and index_and_forward and host.role in PARSING_ROLES:
            local = local_routing if selective else True
        if local:
            self._index_here(host, state, walk)
        if not groups:
            if local:
                return
            walk.finals.append(Final(state.index, state.sourcetype, Certainty.UNKNOWN, None))
            http = host.outputs.stanzas.get("httpout")
            if http is not None and not _disabled(http.settings):
                # HTTP out (Splunk 8.1+) sends to an HEC endpoint, outside what we know.
                uri = http.settings.get("uri")
                walk.hops.append(Hop(host.name, "httpout", uri.value if uri else "?", None))
                if uri is not None:
                    walk.evidence.append(self._cl(host.outputs, "httpout", "uri", uri))
                return
            if not host.own_tree:
                return
            walk.may_drop = True
            why = (
                "its _TCP_ROUTING names no output group"
                if state.routing is not None
                else "no _TCP_ROUTING, no [tcpout] defaultGroup, no [httpout]"
            )
            self._finding(
                FindingCode.NOT_FORWARDED,
                Severity.WARNING,
                host.name,
                f"host:{_H}",
                f"{_H} ({_role_name(host.role)}) has no output for its data ({why}) "
                "and does not index it: it goes nowhere",
                (state.routing_set_by,) if state.routing_set_by else (),
            )
            return
        if state.index is not None:
            filtered = self._forwarded(host, state.index)
            if filtered.unsafe:
                walk.may_drop = True
                walk.evidence.extend(filtered.unsafe)
                state = _conditional(state)
            if filtered.stopped is not None:
                walk.may_drop = True
                walk.evidence.extend(filtered.stopped)
                return
        chose = state.routing_set_by
        if tcpout is not None and state.routing is None:
            chosen = tcpout.settings.get("defaultGroup")
            if chosen is not None:
                chose = self._cl(host.outputs, "tcpout", "defaultGroup", chosen)
                walk.evidence.append(chose)
        for group in groups:
            stanza = host.outputs.stanzas.get(f"tcpout:{group}")
            if stanza is None:
                walk.may_drop = True
                self._finding(
                    FindingCode.DANGLING_OUTPUT,
                    Severity.ERROR,
                    host.name,
                    f"group:{group}",
                    f"{_H} sends data to the output group {group!r}, which its "
                    "outputs.conf does not define",
                    (chose,) if chose else (),
                )
                continue
            servers = stanza.settings.get("server")
            if servers is None:
                # Indexer discovery: the cluster manager names the peers at run time.
                discovery = stanza.settings.get("indexerDiscovery")
                name = discovery.value.strip() if discovery is not None else None
                walk.hops.append(Hop(host.name, group, f"indexerDiscovery:{name}", None))
                walk.finals.append(Final(state.index, state.sourcetype, Certainty.UNKNOWN, None))
                if discovery is not None:
                    walk.evidence.append(
                        self._cl(host.outputs, f"tcpout:{group}", "indexerDiscovery", discovery)
                    )
                continue
            walk.evidence.append(self._cl(host.outputs, f"tcpout:{group}", "server", servers))
            for server in split_list(servers.value):
                receiver = self._receiver(host, group, server, servers)
                walk.hops.append(Hop(host.name, group, server, receiver.name if receiver else None))
                if receiver is None:
                    walk.finals.append(
                        Final(state.index, state.sourcetype, Certainty.UNKNOWN, None)
                    )
                    continue
                if receiver.name in way:
                    walk.loop = True
                    walk.may_drop = True
                    chain = " → ".join([*way, receiver.name])
                    self._finding(
                        FindingCode.ROUTING_LOOP,
                        Severity.ERROR,
                        host.name,
                        f"loop:{chain}",
                        f"data forwarded along {chain} comes back to {receiver.name}: a "
                        "routing loop (the path stops there)",
                        (self._cl(host.outputs, f"tcpout:{group}", "server", servers),),
                    )
                    continue
                downstream = replace(state, routing=None)
                walk.extend(self._at(receiver, downstream, (*way, receiver.name)))

    def _groups_of(self, host: HostConfig, state: _State) -> tuple[list[str], list[str]]:
        """The output groups the event takes from this host and their servers (once per
        outputs.conf and routing)."""
        key = (id(host.outputs), state.routing)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = _groups(host.outputs, state.routing)
        return found

    def _forwarded(self, host: HostConfig, index: str) -> _Filter:
        """What the host's forwardedindex filters do to data of this index (once per
        outputs.conf and index), with the findings that says."""
        key = (id(host.outputs), index)
        found = self._filtered.get(key)
        if found is None:
            found = self._filtered[key] = _index_filter(host.outputs, index)
        for unsafe in found.unsafe:
            self._finding(
                FindingCode.UNSAFE_PATTERN,
                Severity.WARNING,
                host.name,
                f"outputs:[tcpout] {unsafe.key}",
                f"{_H}'s outputs.conf [tcpout] {unsafe.key} = {unsafe.value!r} is a "
                "pattern RE2 cannot run (linear-time matching only): whether data of an index "
                "is forwarded cannot be decided",
                (unsafe,),
            )
        stopped = found.stopped
        if stopped is not None:
            blacklisted = stopped[0].key.endswith("blacklist") and len(stopped) == 1
            self._finding(
                FindingCode.INDEX_FILTERED,
                Severity.WARNING,
                host.name,
                f"index:{index}",
                f"{_H} does not forward data for index {index!r}: "
                + (
                    f"forwardedindex filter {stopped[0].key} = {stopped[0].value!r} blacklists it"
                    if blacklisted
                    else "no forwardedindex filter whitelists it"
                )
                + " (outputs.conf [tcpout])",
                stopped,
            )
        return found

    def _receiver(
        self, host: HostConfig, group: str, server: str, written: EffectiveValue
    ) -> HostConfig | None:
        """The estate host that `server` (host:port) reaches: known by that name and
        listening on that port with a splunktcp input."""
        name, _, port_text = server.strip().rpartition(":")
        name = name.strip("[]").lower()
        evidence = (self._cl(host.outputs, f"tcpout:{group}", "server", written),)
        candidates = self.by_name.get(name, []) or self.by_name.get(name.split(".", 1)[0], [])
        port = _port(port_text)
        listening = [h for h in candidates if port is not None and port in self._listens(h)]
        if not listening:
            # A host known only from the client list may listen in configuration we never
            # saw: by its name, it is the receiver.
            listening = [h for h in candidates if not h.own_tree]
        if listening:
            return min(listening, key=lambda h: h.name)
        if candidates:
            why = (
                f"{candidates[0].name} has no enabled splunktcp input on port {port_text}"
                if port is not None
                else f"{server!r} names no port (1-65535)"
            )
        else:
            why = "no host of the estate has that name"
        self._finding(
            FindingCode.DANGLING_OUTPUT,
            Severity.WARNING,
            host.name,
            f"server:{server}",
            f"{_H} forwards to {server} (group {group!r}), which no host of the estate "
            f"receives: {why}",
            evidence,
        )
        return None

    def _listens(self, host: HostConfig) -> frozenset[int]:
        found = self._ports.get(id(host.inputs))
        if found is None:
            ports = set()
            for name, stanza in host.inputs.stanzas.items():
                if input_type(name) != "splunktcp" or name == "splunktcp":
                    continue
                if _disabled(stanza.settings):
                    continue
                port = _port(_port_text(_target(name)))
                if port is not None:
                    ports.add(port)
            found = self._ports[id(host.inputs)] = frozenset(ports)
        return found

    def _index_here(self, host: HostConfig, state: _State, walk: _Walk) -> None:
        """The event is indexed on this host: its final index, checked against indexes.conf."""
        index = state.index
        if index == "default":
            chosen = host.indexes.get("default", "defaultDatabase")
            index = chosen.value.strip() if chosen is not None else "main"
            if chosen is not None:
                walk.evidence.append(self._cl(host.indexes, "default", "defaultDatabase", chosen))
        certainty = state.certainty if index is not None else Certainty.UNKNOWN
        walk.finals.append(Final(index, state.sourcetype, certainty, host.name))
        if index is None or not host.indexes_known or _defined(host.indexes, index):
            return
        last = host.indexes.get("default", "lastChanceIndex")
        fallback = last.value.strip() if last is not None and last.value.strip() else None
        if fallback is not None and not _defined(host.indexes, fallback):
            fallback = None  # an undefined lastChanceIndex catches nothing
        if fallback is None:
            walk.may_drop = True
        self._finding(
            FindingCode.UNDEFINED_INDEX,
            Severity.ERROR,
            host.name,
            f"index:{index}",
            f"data for index {index!r} reaches {_H}, whose indexes.conf does not "
            "define it: "
            + (
                f"it goes to lastChanceIndex {fallback!r}"
                if fallback
                else "it is dropped"
                + (" (its lastChanceIndex is not defined either)" if last is not None else "")
            ),
            tuple(
                c
                for c in (
                    state.index_set_by,
                    self._cl(host.indexes, "default", "lastChanceIndex", last) if last else None,
                )
                if c is not None
            ),
        )

    def _props_of(self, host: HostConfig, event: Event) -> tuple[Keys, Transforms]:
        """props_for and rewrites, once per (props, transforms, event) for the estate."""
        key = (id(host.props), id(host.transforms), event)
        found = self._props.get(key)
        if found is None:
            keys = self._index(host.props).select(event)
            found = self._props[key] = (keys, rewrites(keys, host.transforms))
        return found

    def _index(self, props: EffectiveConf) -> PropsIndex:
        found = self._indexes.get(id(props))
        if found is None:
            found = self._indexes[id(props)] = PropsIndex(props, self._matcher)
        return found

    def _cl(self, conf: EffectiveConf, stanza: str, key: str, value: EffectiveValue) -> Clue:
        """One Clue object per setting for the whole run: hosts of one stack share them, and
        a path's evidence is told apart by identity."""
        found = self._clues.get((id(value), stanza, key))
        if found is None:
            found = self._clues[(id(value), stanza, key)] = clue(conf, stanza, key, value)
        return found

    def _clue(self, conf: EffectiveConf, value: EffectiveValue) -> Clue:
        """The evidence of a value props selection handed out (it knows where it took it)."""
        named, key = self._index(conf).where(value) or ("?", "?")
        return self._cl(conf, named, key, value)

    def _named(self, host: HostConfig, value: EffectiveValue) -> str:
        clue_ = self._clue(host.props, value)
        return f"[{clue_.stanza}] {clue_.key}"

    def _rewrite_clues(self, host: HostConfig, rewrite: Rewrite) -> tuple[Clue, ...]:
        return (
            self._clue(host.props, rewrite.named_by),
            *(self._cl(host.transforms, rewrite.transform, k, v) for k, v in rewrite.keys),
        )

    def _finding(
        self,
        code: FindingCode,
        severity: Severity,
        host: str | None,
        subject: str,
        message: str,
        evidence: Iterable[Clue],
    ) -> None:
        found = Finding(code, severity, subject, message, tuple(evidence), host)
        self._say(
            host,
            lambda other: self._findings.setdefault(
                (code.value, other, subject), replace(found, host=other)
            ),
        )

    def _wrong_tier_at(self, host: str, transform: str, finding: Finding) -> None:
        self._say(
            host,
            lambda other: self._wrong_tier.setdefault(
                (other, transform), replace(finding, host=other)
            ),
        )

    def _applied_at(self, host: str, transform: str) -> None:
        self._say(host, lambda other: self._applied.add((other, transform)))

    def _say(self, host: str | None, effect: Callable[[Any], object]) -> None:
        """Do `effect` for this host; while a shared origin walk is computed for it, keep it
        to do again for each host that shares the walk."""
        effect(host)
        if self._saying is not None and host == self._saying[0]:
            self._saying[1].append(effect)


# -- small rules -------------------------------------------------------------------------------


def _outcome(walk: _Walk) -> Walk:
    """A walk as a path shows it: hops, finals (in order), may drop, evidence."""
    finals = sorted(
        _unique(walk.finals),
        key=lambda f: (f.at or "", f.index or "", f.sourcetype or "", f.certainty),
    )
    return Walk(
        tuple(_unique(walk.hops)), tuple(finals), walk.may_drop, tuple(_unique(walk.evidence))
    )


def _said_of(finding: Finding) -> Finding:
    """The finding with its host written in."""
    if _H not in finding.subject and _H not in finding.message:
        return finding
    host = finding.host or ""
    return replace(
        finding,
        subject=finding.subject.replace(_H, host),
        message=finding.message.replace(_H, host),
    )


def _enabled_inputs(inputs: EffectiveConf) -> Iterator[str]:
    """Inputs that read data: a scheme, not a receiver of forwarded data, not disabled. The
    shipped system/default's own (splunkd's logs to _internal ...) count: every instance
    reads them, and whether a forwarder's _internal arrives is often the first question."""
    for name, stanza in inputs.stanzas.items():
        kind = input_type(name)
        if kind is None or kind in _RECEIVER_TYPES or not _reads_data(name, kind):
            continue
        if not _disabled(stanza.settings):
            yield name


def _reads_data(name: str, kind: str) -> bool:
    """`[<scheme>://...]`, `[tcp-ssl:<port>]`, `[fschange:<path>]`: not `[blacklist:...]`
    (fschange's exclusions) or a global stanza."""
    return "://" in name or (kind in ("tcp", "fschange") and ":" in name)


def _default_source(kind: str, target: str, stanza: str) -> str:
    if kind in ("monitor", "batch"):
        return target
    if kind in ("tcp", "udp"):
        return f"{kind}:{_port_text(target)}"
    return stanza


def _target(stanza: str) -> str:
    """What an inputs.conf stanza reads: `monitor:///var/log` -> /var/log, `tcp://:514` ->
    :514, `splunktcp-ssl:9997` -> 9997."""
    return stanza.split("://", 1)[1] if "://" in stanza else stanza.partition(":")[2]


def _port(text: str) -> int | None:
    """A TCP port as written: ASCII digits, 1-65535; None for anything else."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        return None
    port = int(text)
    return port if 1 <= port <= 65535 else None


def _ascii_number(text: str) -> bool:
    """forwardedindex.<n>: ASCII digits a machine integer holds (int() refuses 4,300+)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _port_text(target: str) -> str:
    match = _PORT.match(target.strip())
    return match.group(1) if match else target.strip()


def _apply(kind: RewriteKind, value: str | None, state: _State) -> _State | None:
    """The event after one rewrite; None when it is dropped."""
    if kind is RewriteKind.INDEX:
        return replace(state, index=value)
    if kind is RewriteKind.SOURCETYPE or kind is RewriteKind.CLONE:
        return replace(state, sourcetype=value)
    if kind is RewriteKind.HOST:
        return replace(state, host=value or "")
    if kind is RewriteKind.ROUTING:
        return replace(state, routing=tuple(split_list(value)) if value else ())
    if kind is RewriteKind.DROP:
        return None
    return state


def _flag(conf: EffectiveConf, stanza: str, key: str, walk: _Walk) -> bool:
    value = conf.get(stanza, key)
    on = value is not None and parse_bool(value.value) is True
    if on and value is not None:
        walk.evidence.append(clue(conf, stanza, key, value))  # rare: a heavy forwarder's
    return on


def _defined(indexes: EffectiveConf, index: str) -> bool:
    stanza = indexes.stanzas.get(index)
    if stanza is None or index == "default" or ":" in index:
        return False
    return not _disabled(stanza.settings)


def _disabled(settings: Mapping[str, EffectiveValue]) -> bool:
    value = settings.get("disabled")
    return value is not None and parse_bool(value.value) is True


def _rewritten(rewrite: Rewrite, variants: list[_State], clue_: Clue) -> Iterator[_State]:
    """The variants after one rewrite. A certain one replaces each variant (a drop removes
    it); a conditional one keeps each as it is and adds it rewritten, both conditional. For
    a clone, the copies with its sourcetype (conditional unless its REGEX is certain)."""
    for variant in variants:
        changed = _apply(rewrite.kind, rewrite.value, variant)
        if changed is not None and rewrite.kind is RewriteKind.INDEX:
            changed = replace(changed, index_set_by=clue_)
        if rewrite.kind is RewriteKind.CLONE:  # the clones only (_parse keeps the originals)
            if changed is not None:
                yield changed if rewrite.certain else _conditional(changed)
        elif rewrite.certain:
            if changed is not None:
                yield changed
        else:
            yield _conditional(variant)
            if changed is not None:
                yield _conditional(changed)


def _conditional(state: _State) -> _State:
    if state.certainty is Certainty.CERTAIN:
        return replace(state, certainty=Certainty.CONDITIONAL)
    return state


def _groups(outputs: EffectiveConf, routing: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    """The groups `routing` (else `[tcpout] defaultGroup`) names, `*` every defined one, and
    their servers."""
    defined = [
        name.split(":", 1)[1]
        for name in outputs.stanzas
        if name.startswith("tcpout:") and not _disabled(outputs.stanzas[name].settings)
    ]
    if routing is not None:
        wanted = list(routing)
    else:
        chosen = outputs.value("tcpout", "defaultGroup")
        wanted = split_list(chosen) if chosen else []
    if "*" in wanted:
        wanted = sorted(defined)
    # A disabled group sends nothing, named or not; an undefined one is a finding later.
    groups = [
        g
        for g in _unique(wanted)
        if f"tcpout:{g}" not in outputs.stanzas
        or not _disabled(outputs.stanzas[f"tcpout:{g}"].settings)
    ]
    servers: list[str] = []
    for group in groups:
        listed = outputs.value(f"tcpout:{group}", "server")
        servers.extend(split_list(listed) if listed else [])
    return groups, servers


@dataclass(frozen=True, slots=True)
class _Filter:
    """What `[tcpout] forwardedindex.*` does to data of one index."""

    stopped: tuple[Clue, ...] | None  # None: forwarded; else the filters that stop it
    unsafe: tuple[Clue, ...] = ()  # filters RE2 cannot run: the outcome is not known


def _index_filter(outputs: EffectiveConf, index: str) -> _Filter:
    """`forwardedindex.<n>.whitelist/blacklist`, from 0 upward: the last filter that matches
    the whole index name decides; none matching forwards nothing. A filter RE2 refuses (a
    lookahead PCRE would run) is left out and makes the outcome uncertain."""
    tcpout = outputs.stanzas.get("tcpout")
    if tcpout is None:
        return _Filter(None)
    disable = tcpout.settings.get("forwardedindex.filter.disable")
    if disable is not None and parse_bool(disable.value) is True:
        return _Filter(None)
    filters: list[tuple[int, str, str, EffectiveValue]] = []
    for key, value in tcpout.settings.items():
        parts = key.split(".")
        if (
            len(parts) == 3
            and parts[0] == "forwardedindex"
            and _ascii_number(parts[1])
            and parts[2] in ("whitelist", "blacklist")
        ):
            filters.append((int(parts[1]), parts[2], key, value))
    if not filters:
        return _Filter(None)
    filters.sort(key=lambda f: f[0])
    decided: tuple[int, str, str, EffectiveValue] | None = None
    unsafe: list[Clue] = []
    for found in filters:
        compiled = _compiled(found[3].value.strip())
        if compiled is None:
            unsafe.append(clue(outputs, "tcpout", found[2], found[3]))
        elif compiled.fullmatch(index) is not None:  # type: ignore[attr-defined]
            decided = found
    if decided is not None and decided[1] == "whitelist":
        return _Filter(None, tuple(unsafe))
    shown = [decided] if decided is not None else filters
    stopped = tuple(clue(outputs, "tcpout", key, value) for _n, _k, key, value in shown)
    return _Filter(stopped, tuple(unsafe))


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> object | None:
    try:
        compiled: object = re2.compile(pattern, re2_options(ignore_case=False))
    except re2.error:
        return None
    return compiled


def _role_name(role: str) -> str:
    return {
        "uf": "universal forwarder",
        "hf": "heavy forwarder",
        "indexer": "indexer",
        "ds": "deployment server",
    }.get(role, f"{role} role")


def _unique(items: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    out: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
