"""Splunk's whitelist/blacklist pattern semantics on RE2 (RESOLVER.md §3 "Patterns")."""

from __future__ import annotations

import time

import pytest

from daemon.resolve import patterns
from daemon.resolve.patterns import (
    PatternIndex,
    Unsafe,
    classify_literal,
    compile_pattern,
    could_match,
    pattern_matches,
    translate,
)
from daemon.resolve.vocabulary import HostAttribute, LiteralKind


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        # spec: "You can specify '.' to mean '\.'; You can specify '*' to mean '.*'"
        ("10.1.2.*", r"10\.1\.2\..*"),
        ("*.splunk.com", r".*\.splunk\.com"),
        ("web[0-9]+", "web[0-9]+"),
        ("web.*", r"web\..*"),  # a regex-minded `.*` is still a literal dot then any run
        (r"10\.1", r"10\.1"),  # an escape keeps its meaning
        (r"a\*b", r"a\*b"),
        ("[.*]x", "[.*]x"),  # inside a class, `.` and `*` are literal already
        ("[]a.]*", "[]a.].*"),
        ("[[:digit:].]+", "[[:digit:].]+"),
        ("(web|db)-0?1", r"(web|db)-0?1"),
    ],
)
def test_translate_dot_is_literal_star_is_any_run_rest_keeps_regex_meaning(
    pattern: str, regex: str
) -> None:
    assert translate(pattern) == regex


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("10.1.2.*", "10.1.2.77", True),
        ("10.1.2.*", "10x1y2z77", False),  # dots are literal
        ("web*", "WEB-01", True),  # case-insensitive
        ("WEB-01", "web-01", True),
        ("web", "web-01", False),  # the whole value must match (ours)
        ("web", "my-web", False),
        ("*web*", "my-web-01", True),
        ("web[0-9]+", "web42", True),
        ("web[0-9]+", "webx", False),
        ("*", "", True),
        ("(a|b)c", "bc", True),
        ("(a|b)c", "abc", False),
    ],
)
def test_pattern_matches_whole_value_case_insensitively(
    pattern: str, value: str, matches: bool
) -> None:
    assert pattern_matches(pattern, value) is matches


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=web)web", "(?<!x)web", "a++", "web\\", "x["])
def test_patterns_re2_refuses_are_unsafe(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    assert isinstance(compiled, Unsafe)
    assert compiled.reason
    assert pattern_matches(pattern, "web") is None


def test_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    # `(a+)+$` is exponential for a backtracking engine; RE2 compiles it and runs it linearly.
    name = "a" * 10_000 + "!"
    started = time.perf_counter()
    assert pattern_matches("(a+)+$", name) is False
    assert pattern_matches("(a+)+$", "a" * 10_000) is True
    assert time.perf_counter() - started < 0.5


def test_compiled_patterns_are_cached() -> None:
    assert compile_pattern("cache-me-*") is compile_pattern("cache-me-*")


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        ("10.1.2.3", LiteralKind.IP),
        ("fe80::1", LiteralKind.IP),
        ("FFE9FE01-A4FB-425E-9F63-56CC274D7F8B", LiteralKind.GUID),
        ("web-01.example.com", LiteralKind.NAME),
        ("DCOMSearchHead01", LiteralKind.NAME),
        ("web*", None),  # patterns never create hosts
        ("10.1.2.*", None),
        ("web[0-9]", None),
        ("", None),
    ],
)
def test_literal_entries_are_classified_ip_guid_or_name(
    pattern: str, kind: LiteralKind | None
) -> None:
    assert classify_literal(pattern) == kind


@pytest.mark.parametrize(
    ("pattern", "attribute", "possible"),
    [
        ("web*", HostAttribute.IP, False),  # `w` is in no IP address
        ("web*", HostAttribute.GUID, False),
        ("web*", HostAttribute.HOSTNAME, True),
        ("10.1.*", HostAttribute.IP, True),
        ("10.1.*", HostAttribute.GUID, False),  # a literal `.` is in no GUID
        ("*", HostAttribute.IP, True),
        ("10.1.2.3", HostAttribute.IP, True),
        ("10.1.2.3", HostAttribute.GUID, False),
        ("dcom*", HostAttribute.IP, False),
        ("(web|10)*", HostAttribute.IP, True),  # a regex: assumed able to match
    ],
)
def test_could_match_rules_out_only_what_cannot_match(
    pattern: str, attribute: HostAttribute, possible: bool
) -> None:
    assert could_match(pattern, attribute) is possible


def test_index_matches_literals_and_patterns_at_once_and_reports_which() -> None:
    index = PatternIndex(chunk=2)
    ids = {p: index.add(p) for p in ["web*", "WEB-01", "web-01", "10.1.2.*", r"(a)\1", "db*"]}
    assert index.add("web*") == ids["web*"]  # one id per text
    index.compile()
    assert sorted(index.match("Web-01")) == sorted([ids["web*"], ids["WEB-01"], ids["web-01"]])
    assert index.match("10.1.2.9") == [ids["10.1.2.*"]]
    assert index.match("mail") == []
    assert set(index.unsafe) == {ids[r"(a)\1"]}


def test_index_agrees_with_re2_outside_ascii() -> None:
    # RE2 folds U+017F (long s) to `s`; str.lower() does not. The index must answer as RE2.
    index = PatternIndex()
    pid = index.add("server")
    index.compile()
    assert index.match("\u017ferver") == [pid]
    assert pattern_matches("server", "\u017ferver") is True


def test_index_falls_back_to_each_pattern_when_a_set_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = PatternIndex()
    pid = index.add("web*")
    index.compile()

    class Failing:
        def Match(self, value: str) -> None:  # RE2::Set's name
            return None  # what RE2::Set answers when its DFA runs out of memory

    for chunk in index._sets:
        monkeypatch.setattr(chunk, "set", Failing())
    assert index.match("web-01") == [pid]


def test_index_bounds_memory_and_marks_a_pattern_too_large_for_it_unsafe() -> None:
    index = PatternIndex(max_mem=1 << 16)
    big = index.add("(" + "|".join(f"host{i:04d}x*" for i in range(400)) + ")")
    small = index.add("web*")
    index.compile()
    assert big in index.unsafe
    assert "bound" in index.unsafe[big].reason or index.unsafe[big].reason
    assert index.match("web-1") == [small]


def test_default_memory_bound_is_set() -> None:
    assert patterns.DEFAULT_MAX_MEM > 0
