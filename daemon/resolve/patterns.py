"""serverclass.conf patterns (`whitelist.<n>`, `blacklist.<n>`, `machineTypesFilter`,
`where_equals`) as linear-time RE2 expressions, and a `PatternIndex` that matches a value
against every pattern of a resolution at once.

serverclass.conf.spec: "These patterns are PCRE regular expressions, with the following aids
for easier entry: You can specify '.' to mean '\\.'; You can specify '*' to mean '.*'.
Matches are always case-insensitive." So `10.1.2.*` is `10\\.1\\.2\\..*` and `web[0-9]+` keeps
its meaning. Choices where the spec says nothing:

- the whole value must match (RESOLVER.md §3, *ours*; a PATTERN_FULL_MATCH finding says so);
- an escape keeps its regex meaning: `\\.` stays a literal dot and `\\*` a literal star (a
  blind textual replace would turn `\\.` into "a backslash, then any character");
- inside a character class `.` and `*` are already literal and are left alone;
- PCRE features RE2 refuses (backreferences, look-around, possessive quantifiers) make the
  pattern `Unsafe`: the caller answers `unknown` with UNSAFE_PATTERN, never a guess.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from daemon.resolve.vocabulary import HostAttribute, LiteralKind

# RE2 memory bound per compiled expression or set (program and DFA cache): the resolver's
# memory stays bounded whatever a bundle holds.
DEFAULT_MAX_MEM = 32 << 20
# Non-literal patterns per RE2 set; a set that will not compile within max_mem is halved.
DEFAULT_CHUNK = 1000

# Characters with a regex meaning. A pattern with none of them but `.` is a literal.
_REGEX_META = frozenset("\\^$|?+*()[]{}")
_GLOB_META = _REGEX_META - {"*"}
_IP_CHARS = frozenset("0123456789abcdef.:")
_GUID_CHARS = frozenset("0123456789abcdef-")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# In every set at index 0: it matches any text, so a set that answers nothing has failed
# (RE2::Set reports a DFA out of memory as "no match"; this turns it into a fallback).
_SENTINEL = "(?s).*"


@dataclass(frozen=True, slots=True)
class Unsafe:
    """A pattern RE2 will not run in linear time, or not within the memory bound."""

    pattern: str
    reason: str


def translate(pattern: str) -> str:
    """Splunk's pattern aids applied: `.` -> `\\.`, `*` -> `.*`, the rest as written."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])  # a trailing lone backslash: RE2 refuses it
            i += 2
            continue
        if c == "[":
            end = _class_end(pattern, i)
            if end < 0:  # unbalanced: RE2 will refuse it as written
                out.append(pattern[i:])
                break
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        out.append("\\." if c == "." else ".*" if c == "*" else c)
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """Index of the `]` closing the character class opened at `start`, -1 when none."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # a leading `]` is a literal member
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[" and pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            if close >= 0:
                i = close + 2
                continue
        if c == "]":
            return i
        i += 1
    return -1


def is_literal(pattern: str) -> bool:
    """No `*` and no regex character but `.`: the entry names one value."""
    return _REGEX_META.isdisjoint(pattern)


def is_glob(pattern: str) -> bool:
    """Only literal characters, `.` and `*`."""
    return _GLOB_META.isdisjoint(pattern)


def classify_literal(pattern: str) -> LiteralKind | None:
    """IP, GUID or name for a literal entry; None for a pattern (patterns never make hosts)."""
    if not is_literal(pattern) or not pattern:
        return None
    lowered = pattern.lower()
    if _IP_CHARS.issuperset(lowered):  # ipaddress is slow to refuse: ask it only when it may
        try:
            ipaddress.ip_address(pattern)
        except ValueError:
            pass
        else:
            return LiteralKind.IP
    if len(pattern) == 36 and _GUID.fullmatch(pattern):
        return LiteralKind.GUID
    return LiteralKind.NAME


def could_match(pattern: str, attribute: HostAttribute) -> bool:
    """Could the pattern match *some* value of this attribute? False only when provably not.

    What decides `unknown` for a host that lacks the attribute: `web*` cannot match any IP
    or GUID (a `w` is in neither), so a host with an unknown IP is still decided by its
    names. Sound, not complete: a pattern with regex characters is assumed able to match.
    """
    if attribute is HostAttribute.IP:
        if is_literal(pattern):
            return classify_literal(pattern) is LiteralKind.IP
        return not is_glob(pattern) or set(pattern.lower()) - {"*"} <= _IP_CHARS
    if attribute is HostAttribute.GUID:
        if is_literal(pattern):
            return classify_literal(pattern) is LiteralKind.GUID
        return not is_glob(pattern) or set(pattern.lower()) - {"*"} <= _GUID_CHARS
    return True


def _options(max_mem: int) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = max_mem
    options.log_errors = False
    options.never_capture = True
    return options


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str, max_mem: int = DEFAULT_MAX_MEM) -> Any:
    """The pattern compiled for a case-insensitive full match, or `Unsafe`."""
    try:
        return re2.compile(translate(pattern), _options(max_mem))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "refused by RE2"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return Unsafe(pattern, str(reason))


def pattern_matches(pattern: str, value: str, max_mem: int = DEFAULT_MAX_MEM) -> bool | None:
    """Does the pattern match the whole value? None when the pattern is unsafe."""
    compiled = compile_pattern(pattern, max_mem)
    if isinstance(compiled, Unsafe):
        return None
    return compiled.fullmatch(value) is not None


@dataclass(slots=True)
class _Chunk:
    set: Any  # re2.Set: set index k > 0 is pids[k - 1]
    pids: list[int]


class PatternIndex:
    """Every distinct pattern of a resolution, compiled once; `match(value)` answers which
    of them match the whole value, in time linear in the value.

    Literals (most real entries: host names, IPs) are a dict lookup; the other patterns
    share RE2 sets of at most `chunk` patterns. Ids are given by `add` in order.
    """

    def __init__(self, *, max_mem: int = DEFAULT_MAX_MEM, chunk: int = DEFAULT_CHUNK) -> None:
        self.max_mem = max_mem
        self.chunk = chunk
        self.patterns: list[str] = []
        self.unsafe: dict[int, Unsafe] = {}
        self._ids: dict[str, int] = {}
        self._literals: dict[str, list[int]] = {}
        self._literal_sets: list[_Chunk] | None = None  # for non-ASCII values, built on need
        self._regex_pids: list[int] = []
        self._sets: list[_Chunk] = []
        self._compiled = False

    def add(self, pattern: str) -> int:
        """The id of the pattern (the same for the same text)."""
        pid = self._ids.get(pattern)
        if pid is None:
            if self._compiled:
                raise RuntimeError("PatternIndex.add after compile")
            pid = self._ids[pattern] = len(self.patterns)
            self.patterns.append(pattern)
            if is_literal(pattern) and pattern.isascii():
                self._literals.setdefault(pattern.lower(), []).append(pid)
            else:
                self._regex_pids.append(pid)
        return pid

    def compile(self) -> None:
        pids = self._regex_pids
        for start in range(0, len(pids), self.chunk):
            self._sets.extend(self._build(pids[start : start + self.chunk], record=True))
        self._compiled = True

    def _build(self, pids: list[int], *, record: bool) -> list[_Chunk]:
        """RE2 sets over these patterns; refused patterns recorded as unsafe."""
        if not pids:
            return []
        options = _options(self.max_mem)
        rset = re2.Set.FullMatchSet(options)
        rset.Add(_SENTINEL)
        kept: list[int] = []
        for pid in pids:
            try:
                rset.Add(translate(self.patterns[pid]))
            except re2.error:
                compiled = compile_pattern(self.patterns[pid], self.max_mem)
                if record:
                    self.unsafe[pid] = (
                        compiled
                        if isinstance(compiled, Unsafe)
                        else Unsafe(self.patterns[pid], "refused by an RE2 set")
                    )
                continue
            kept.append(pid)
        try:
            rset.Compile()
        except re2.error:
            if len(kept) == 1:
                if record:
                    self.unsafe[kept[0]] = Unsafe(
                        self.patterns[kept[0]], f"too large for the {self.max_mem} byte bound"
                    )
                return []
            half = len(kept) // 2
            return self._build(kept[:half], record=record) + self._build(kept[half:], record=record)
        return [_Chunk(rset, kept)]

    def match(self, value: str) -> list[int]:
        """Ids of the safe patterns that match the whole value (case-insensitive)."""
        if not self._compiled:
            raise RuntimeError("PatternIndex.match before compile")
        out: list[int] = []
        if value.isascii():
            hit = self._literals.get(value.lower())
            if hit:
                out.extend(hit)
        elif self._literals:
            # str.lower() and RE2's case folding differ outside ASCII (e.g. U+017F folds to
            # `s` in RE2): let RE2 decide for such values.
            if self._literal_sets is None:
                literal_pids = [p for pids in self._literals.values() for p in pids]
                self._literal_sets = []
                for start in range(0, len(literal_pids), self.chunk):
                    part = literal_pids[start : start + self.chunk]
                    self._literal_sets.extend(self._build(part, record=False))
            self._match_sets(self._literal_sets, value, out)
        self._match_sets(self._sets, value, out)
        return out

    def _match_sets(self, chunks: Iterable[_Chunk], value: str, out: list[int]) -> None:
        for chunk in chunks:
            hits = chunk.set.Match(value)
            if not hits:  # the sentinel did not match: the set failed, ask each pattern
                for pid in chunk.pids:
                    if pattern_matches(self.patterns[pid], value, self.max_mem):
                        out.append(pid)
                continue
            pids = chunk.pids
            out.extend(pids[k - 1] for k in hits if k)
