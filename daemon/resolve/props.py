"""What a host's props.conf and transforms.conf do to an event (RESOLVER.md §5, steps 5–6).
Pure: a host's effective props and transforms and what is known of the event in; the keys
that apply and the rewrites its `TRANSFORMS-<class>` may make out. Nothing is evaluated
against data: a rewrite is *conditional* on its REGEX unless the REGEX is `.` or `.*`.

One rule, one function:

    props_pattern   `[source::]`/`[host::]` patterns: `...` any characters, `*` any but `/`,
                    the whole value; host patterns case-insensitive
    props_for       source:: > host:: > sourcetype stanzas whatever their `priority`; within a
                    kind higher `priority` first (literal 100, pattern 0), then ASCII order;
                    keys of every matching stanza combine, a key from the first that has it
    transform_names `TRANSFORMS-<class>` in ASCII order of class, each list in its order
    rewrites        what each named transforms.conf stanza may do: index, sourcetype, host,
                    routing, a drop to nullQueue, INGEST_EVAL's index/queue, a clone
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import re2

from daemon.resolve.layers import EffectiveConf, EffectiveValue, LayerKind

_PATTERN_KINDS = (("source::", 0), ("host::", 1))
_SOURCETYPE_KIND = 2
_DEFAULT_KIND = 3
_RE2_MAX_MEM = 8 << 20
_SET_SIZE = 1_000  # patterns in one RE2 set of a PatternMatcher
_CERTAIN_REGEXES = frozenset({".", ".*"})
# INGEST_EVAL `index = "x"` / `queue := "nullQueue"`: a literal assignment (ours: anything
# else, an if() or a field, is a rewrite to an unknown value).
_EVAL_ASSIGNMENT = re.compile(r"""^\s*(index|queue)\s*:?=\s*(?:"([^"]*)"|'([^']*)')\s*$""")


@dataclass(frozen=True, slots=True)
class Event:
    """What is known of the data where it is parsed; None = unknown."""

    sourcetype: str | None
    source: str | None
    host: str | None


def _regex(pattern: str) -> str:
    """The regular expression of a `[source::]`/`[host::]` pattern (whole value)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("...", i):
            parts.append(".*")
            i += 3
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "|":  # Splunk's documented alternation, `(a|b)` included
            parts.append("|")
            i += 1
        elif pattern[i] in "()":
            parts.append(pattern[i])
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return "(?:" + "".join(parts) + ")"


def re2_options(*, ignore_case: bool) -> re2.Options:
    """RE2 options for a pattern from a bundle: bounded memory, no logging."""
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.case_sensitive = not ignore_case
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=4096)
def props_pattern(pattern: str, *, ignore_case: bool = False) -> object | None:
    """The RE2 of a `[source::]`/`[host::]` pattern, None when RE2 refuses it."""
    try:
        compiled: object = re2.compile(_regex(pattern), re2_options(ignore_case=ignore_case))
        return compiled
    except re2.error:
        return None


def _is_pattern(pattern: str) -> bool:
    return "*" in pattern or "..." in pattern or "|" in pattern


def _priority(settings: Mapping[str, EffectiveValue], literal: bool) -> int:
    value = settings.get("priority")
    own = value is not None and value.origin.kind is not LayerKind.SYSTEM_DEFAULT
    if value is not None and (own or value.value.strip().lstrip("-").isdigit()):
        try:
            return int(value.value.strip())
        except ValueError:
            pass
    return 100 if literal else 0


def props_for(props: EffectiveConf, event: Event) -> dict[str, EffectiveValue]:
    """The props keys that apply to the event, each from the stanza that wins it."""
    return PropsIndex(props).select(event)


def _patterns(props: EffectiveConf, prefix: str) -> Iterator[str]:
    return (name[len(prefix) :] for name in props.stanzas if name.startswith(prefix))


class PatternMatcher:
    """The `[source::]` and `[host::]` patterns of many props.conf files in one RE2 set per
    kind, compiled once, and which patterns each value matches remembered: the props.conf
    of an estate's layer stacks share most of their patterns, and a set of each stack's own
    (RE2 memory outside Python's heap, ~0.3 MB a set) cost ~800 MB and a third of a
    resolution's time on a 10,000-host estate."""

    def __init__(self, confs: Iterable[EffectiveConf]) -> None:
        every: list[set[str]] = [set(), set()]
        for props in {id(c): c for c in confs}.values():
            for prefix, rank in _PATTERN_KINDS:
                every[rank].update(_patterns(props, prefix))
        self.known = [frozenset(patterns) for patterns in every]
        # In sets of at most _SET_SIZE patterns, split further where RE2's memory budget
        # asks for it (_pattern_sets).
        self._sets = [
            [
                found
                for chunk in _chunked(sorted(every[rank]), _SET_SIZE)
                for found in _pattern_sets(chunk, rank == 1)
            ]
            for rank in (0, 1)
        ]
        self._matched: list[dict[str, frozenset[str]]] = [{}, {}]

    def matching(self, rank: int, text: str) -> frozenset[str]:
        """The patterns of that kind (0 source, 1 host) that match the whole text."""
        found = self._matched[rank].get(text)
        if found is None:
            found = self._matched[rank][text] = frozenset(
                kept[i]
                for kept, compiled in self._sets[rank]
                for i in compiled.Match(text) or ()  # type: ignore[attr-defined]
            )
        return found


class PropsIndex:
    """One props.conf made ready for many events: its `[source::]` and `[host::]` stanzas
    found through a PatternMatcher (one pass over a value, not one match per stanza; shared
    with other props.conf files when given), sourcetype stanzas by name, and what each event
    selects remembered."""

    def __init__(self, props: EffectiveConf, matcher: PatternMatcher | None = None) -> None:
        self.props = props
        self._matcher = matcher
        self._own: list[frozenset[str]] | None = None
        self._selected: dict[Event, dict[str, EffectiveValue]] = {}
        self._where: dict[int, tuple[str, str]] = {}  # id(value) -> (stanza, key) it came from

    def _patterns(self) -> tuple[PatternMatcher, list[frozenset[str]]]:
        """The matcher, once checked to know every pattern of this props.conf (else one of
        its own), and this props.conf's own patterns of each kind."""
        matcher, own = self._matcher, self._own
        if own is None:
            own = self._own = [
                frozenset(_patterns(self.props, prefix)) for prefix, _rank in _PATTERN_KINDS
            ]
            if matcher is None or not all(matcher.known[r] >= own[r] for r in (0, 1)):
                matcher = None
        if matcher is None:
            matcher = self._matcher = PatternMatcher([self.props])
        return matcher, own

    def select(self, event: Event) -> dict[str, EffectiveValue]:
        found = self._selected.get(event)
        if found is None:
            found = self._selected[event] = self._select(event)
        return found

    def _select(self, event: Event) -> dict[str, EffectiveValue]:
        stanzas = self.props.stanzas
        matching: list[tuple[int, int, str]] = []
        for prefix, rank in _PATTERN_KINDS:
            text = event.source if rank == 0 else event.host
            if text is None:
                continue
            matcher, own = self._patterns()
            # Those of this props.conf (the intersection walks the smaller set: the matcher's
            # may hold most of the estate's patterns).
            for pattern in own[rank] & matcher.matching(rank, text):
                stanza = stanzas[prefix + pattern]
                priority = _priority(stanza.settings, not _is_pattern(pattern))
                matching.append((rank, -priority, prefix + pattern))
        if event.sourcetype is not None and event.sourcetype in stanzas:
            name = event.sourcetype
            if not name.startswith(("source::", "host::")) and name != "default":
                matching.append((_SOURCETYPE_KIND, 0, name))
        if "default" in stanzas:
            matching.append((_DEFAULT_KIND, 0, "default"))
        combined: dict[str, EffectiveValue] = {}
        for _kind, _rank, name in sorted(matching):
            for key, value in stanzas[name].settings.items():
                if key not in combined:
                    combined[key] = value
                    self._where.setdefault(id(value), (name, key))
        return combined

    def where(self, value: EffectiveValue) -> tuple[str, str] | None:
        """The (stanza, key) a value select() handed out was taken from."""
        return self._where.get(id(value))


def _chunked(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _pattern_sets(patterns: list[str], ignore_case: bool) -> list[tuple[list[str], object]]:
    """The patterns RE2 takes, in sets that fit its memory budget: (patterns in Set order,
    their Set) each. A set over the budget is split in halves until its parts fit; a single
    pattern that fits no set of its own is matched alone. A pattern RE2 refuses matches
    nothing, as one matched alone would."""
    kept: list[str] = []
    alone: list[object] = []
    for pattern in patterns:
        compiled = props_pattern(pattern, ignore_case=ignore_case)
        if compiled is not None:
            kept.append(pattern)
            alone.append(compiled)
    return _fitting(kept, alone, ignore_case)


def _fitting(
    patterns: list[str], alone: list[object], ignore_case: bool
) -> list[tuple[list[str], object]]:
    if not patterns:
        return []
    together = re2.Set.FullMatchSet(re2_options(ignore_case=ignore_case))
    for pattern in patterns:
        together.Add(_regex(pattern))
    try:
        together.Compile()
    except re2.error:  # over the memory budget together
        if len(patterns) == 1:
            return [(patterns, _OneByOne(alone))]
        half = len(patterns) // 2
        return _fitting(patterns[:half], alone[:half], ignore_case) + _fitting(
            patterns[half:], alone[half:], ignore_case
        )
    return [(patterns, together)]


class _OneByOne:
    """re2.Set's Match from patterns matched one at a time."""

    def __init__(self, compiled: list[object]) -> None:
        self.compiled = compiled

    def Match(self, value: str) -> list[int]:
        return [
            i
            for i, c in enumerate(self.compiled)
            if c.fullmatch(value) is not None  # type: ignore[attr-defined]
        ]


def transform_names(keys: Mapping[str, EffectiveValue]) -> list[tuple[str, EffectiveValue]]:
    """(transforms stanza, the TRANSFORMS- key naming it), classes in ASCII order of class."""
    names: list[tuple[str, EffectiveValue]] = []
    for key in sorted(k for k in keys if k.startswith("TRANSFORMS-")):
        for name in keys[key].value.split(","):
            if name.strip():
                names.append((name.strip(), keys[key]))
    return names


class RewriteKind(enum.StrEnum):
    INDEX = "index"
    SOURCETYPE = "sourcetype"
    HOST = "host"
    ROUTING = "routing"
    DROP = "drop"
    KEEP = "keep"  # queue = indexQueue: undoes an earlier drop
    CLONE = "clone"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What one transform may do; `value` None when it is not known (a `$1` in FORMAT)."""

    kind: RewriteKind
    value: str | None
    certain: bool
    transform: str
    regex: str | None
    named_by: EffectiveValue  # the props TRANSFORMS- value that names the transform
    keys: tuple[tuple[str, EffectiveValue], ...]  # the transforms.conf settings it uses

    def describe(self) -> str:
        what = {
            RewriteKind.INDEX: "index",
            RewriteKind.SOURCETYPE: "sourcetype",
            RewriteKind.HOST: "host",
            RewriteKind.ROUTING: "output groups",
            RewriteKind.CLONE: "a clone with sourcetype",
        }
        if self.kind is RewriteKind.DROP:
            change = "dropped (nullQueue)"
        elif self.kind is RewriteKind.KEEP:
            change = "kept (indexQueue)"
        else:
            change = f"{what[self.kind]} {self.value if self.value is not None else '(unknown)'}"
        when = "always" if self.certain else f"when REGEX {self.regex!r} matches"
        return f"[{self.transform}] {change}, {when}"


@dataclass(frozen=True, slots=True)
class Transforms:
    rewrites: tuple[Rewrite, ...]
    missing: tuple[tuple[str, EffectiveValue], ...]  # (name, the TRANSFORMS- key naming it)


def rewrites(keys: Mapping[str, EffectiveValue], transforms: EffectiveConf) -> Transforms:
    """What the event's TRANSFORMS- classes may do, in the order Splunk applies them."""
    found: list[Rewrite] = []
    missing: list[tuple[str, EffectiveValue]] = []
    for name, named_by in transform_names(keys):
        stanza = transforms.stanzas.get(name)
        if stanza is None or name == "default":
            missing.append((name, named_by))
            continue
        found.extend(_stanza_rewrites(name, stanza.settings, named_by))
    return Transforms(tuple(found), tuple(missing))


def _stanza_rewrites(
    name: str, settings: Mapping[str, EffectiveValue], named_by: EffectiveValue
) -> list[Rewrite]:
    regex_value = settings.get("REGEX")
    regex = regex_value.value.strip() if regex_value is not None else None
    certain = regex is None or regex in _CERTAIN_REGEXES

    def make(kind: RewriteKind, value: str | None, *keys: str, sure: bool = True) -> Rewrite:
        used = tuple((k, settings[k]) for k in ("REGEX", *keys) if k in settings)
        return Rewrite(kind, value, certain and sure, name, regex, named_by, used)

    out: list[Rewrite] = []
    dest = settings.get("DEST_KEY")
    fmt = settings.get("FORMAT")
    if dest is not None and fmt is not None and regex is not None:
        value = fmt.value.strip()
        known = "$" not in value
        target = dest.value.strip()
        if target == "_MetaData:Index":
            out.append(make(RewriteKind.INDEX, value if known else None, "DEST_KEY", "FORMAT"))
        elif target == "MetaData:Sourcetype":
            st = value.removeprefix("sourcetype::") if known else None
            out.append(make(RewriteKind.SOURCETYPE, st, "DEST_KEY", "FORMAT"))
        elif target == "MetaData:Host":
            out.append(
                make(RewriteKind.HOST, value.removeprefix("host::") if known else None,
                     "DEST_KEY", "FORMAT")
            )  # fmt: skip
        elif target == "_TCP_ROUTING":  # _SYSLOG_ROUTING adds a syslog output, not ours
            out.append(make(RewriteKind.ROUTING, value if known else None, "DEST_KEY", "FORMAT"))
        elif target == "queue" and value == "nullQueue":
            out.append(make(RewriteKind.DROP, None, "DEST_KEY", "FORMAT"))
        elif target == "queue" and value == "indexQueue":
            out.append(make(RewriteKind.KEEP, None, "DEST_KEY", "FORMAT"))
    ingest = settings.get("INGEST_EVAL")
    if ingest is not None:
        for assignment in _split_eval(ingest.value):
            match = _EVAL_ASSIGNMENT.match(assignment)
            field = match.group(1) if match else assignment.split("=", 1)[0].strip(" :")
            literal = (
                (match.group(2) if match.group(2) is not None else match.group(3))
                if match
                else None
            )
            if field == "index":
                out.append(
                    make(RewriteKind.INDEX, literal, "INGEST_EVAL", sure=literal is not None)
                )
            elif field == "queue" and literal == "nullQueue":
                out.append(make(RewriteKind.DROP, None, "INGEST_EVAL"))
            elif field == "queue" and literal is None:
                out.append(make(RewriteKind.DROP, None, "INGEST_EVAL", sure=False))
    clone = settings.get("CLONE_SOURCETYPE")
    if clone is not None and clone.value.strip():
        out.append(make(RewriteKind.CLONE, clone.value.strip(), "CLONE_SOURCETYPE"))
    return out


def _split_eval(expression: str) -> list[str]:
    """INGEST_EVAL's comma-separated assignments, commas inside quotes or brackets kept."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(expression):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(expression[start:i])
            start = i + 1
    parts.append(expression[start:])
    return [p for p in parts if p.strip()]


def forces_local_processing(keys: Mapping[str, EffectiveValue]) -> EffectiveValue | None:
    """The key that makes a universal forwarder parse this data, if any."""
    force = keys.get("force_local_processing")
    if force is not None and force.value.strip().lower() in ("1", "true", "t", "yes", "y"):
        return force
    extractions = keys.get("INDEXED_EXTRACTIONS")
    if extractions is not None and extractions.value.strip():
        return extractions
    return None
