"""Hostile bundles against data paths (issue 11, RESOLVER.md §5, §6): what a malicious or
broken outputs/inputs/props/transforms/indexes.conf can do to `data_paths()`. Nothing may
hang, raise, grow without bound or evaluate a REGEX against data; what cannot be known is
`conditional` or `unknown`, and what is broken is a finding with its evidence.

Hosts are built as in test_paths_rules.py (conf texts per layer over the shipped
system/default). `shipped=False` where the shipped inputs would only multiply the work.
No assertion is on time; a bug found is an `xfail(strict=True)` naming what is wrong.
"""

from __future__ import annotations

import pytest
import re2

from daemon.resolve.paths import MAX_VARIANTS, Certainty, DataPath, HostConfig, Paths, data_paths
from daemon.resolve.types import Clue, Finding
from daemon.resolve.vocabulary import FindingCode
from tests.unit.resolve.test_paths_rules import (
    INDEXER_INPUTS,
    INDEXES,
    OUTPUTS_TO_IDX,
    by_input,
    codes,
    finals,
    host,
    indexer,
)

HTML = '<script>alert("x")</script><b>'
UNICODE = "ünï\u2603\U0001f4a9\u202e"  # with a right-to-left override
BIG = "x" * 10_000
WEB = "[monitor:///w]\nsourcetype = web\nindex = web\n"


def only(result: Paths, host_name: str, stanza: str) -> DataPath:
    return by_input(result, host_name)[stanza]


def clues(finding: Finding) -> list[Clue]:
    """A path finding's evidence, each a Clue (conf, stanza, key, value ...)."""
    out = [c for c in finding.evidence if isinstance(c, Clue)]
    assert len(out) == len(finding.evidence)
    return out


def found(result: Paths, code: FindingCode) -> list[tuple[str | None, str]]:
    return sorted((f.host, f.subject) for f in result.findings if f.code is code)


def parsing_hf(props: str, transforms: str, *, inputs: str = WEB) -> HostConfig:
    """A heavy forwarder that reads `inputs`, parses them with its props/transforms and
    forwards to idx1."""
    return host(
        "hf1",
        "hf",
        shipped=False,
        inputs=inputs,
        props=props,
        transforms=transforms,
        outputs=OUTPUTS_TO_IDX,
    )


def forwarder(name: str, to: str, role: str = "hf") -> HostConfig:
    return host(
        name,
        role,
        inputs="[splunktcp://9997]\n[monitor:///a]\n",
        outputs=f"[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = {to}:9997\n",
    )


# -- the four ---------------------------------------------------------------------------


def test_a_thousand_output_groups_clone_the_data_and_stay_one_final_per_indexer() -> None:
    # §5.2 "several = cloned": 1,000 groups of defaultGroup, each to idx1.
    outputs = "[tcpout]\ndefaultGroup = " + ", ".join(f"g{n}" for n in range(1000)) + "\n"
    outputs += "".join(f"[tcpout:g{n}]\nserver = idx1:9997\n" for n in range(1000))
    uf = host("uf1", "uf", inputs="[monitor:///a]\nindex = web\n", outputs=outputs)
    result = data_paths([uf, indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    assert len(path.groups) == 1000 and len(path.servers) == 1000
    assert {h.to for h in path.receivers} == {"idx1"}
    assert finals(path) == {("web", "idx1", "certain")}
    assert not path.may_drop
    assert result.findings == ()


def test_a_thousand_groups_by_star_to_servers_outside_the_estate() -> None:
    # `*` = every group; each server outside the estate is one DANGLING_OUTPUT, the final
    # (unknown, nowhere) is one entry, whatever the number of groups.
    outputs = "[tcpout]\ndefaultGroup = *\n"
    outputs += "".join(
        f"[tcpout:g{n:04d}]\nserver = out{n}.example.com:9997\n" for n in range(1000)
    )
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    result = data_paths([uf])
    path = only(result, "uf1", "monitor:///a")
    assert path.groups == tuple(f"g{n:04d}" for n in range(1000))
    assert len(path.receivers) == 1000 and all(h.to is None for h in path.receivers)
    assert finals(path) == {("default", None, "unknown")}
    assert len(found(result, FindingCode.DANGLING_OUTPUT)) == 1000


def test_a_forwarder_that_lists_itself_as_a_server_is_a_routing_loop() -> None:
    # §5.7 "Loops between forwarders → ROUTING_LOOP, the path stops there."
    result = data_paths([forwarder("uf1", "uf1", role="uf")])
    path = only(result, "uf1", "monitor:///a")
    assert [(h.source, h.to) for h in path.receivers] == [("uf1", "uf1")]
    assert path.final == () and path.may_drop
    assert codes(result) == [("ROUTING_LOOP", "uf1", "loop:uf1 → uf1")]
    (loop,) = result.findings
    assert [(c.conf, c.stanza, c.key, c.value) for c in clues(loop)] == [
        ("outputs", "tcpout:g", "server", "uf1:9997")
    ]


def test_a_ring_of_three_forwarders_stops_after_one_round() -> None:
    result = data_paths([forwarder("f1", "f2"), forwarder("f2", "f3"), forwarder("f3", "f1")])
    for name in ("f1", "f2", "f3"):
        path = only(result, name, "monitor:///a")
        assert len(path.receivers) == 3, name
        assert {h.source for h in path.receivers} == {"f1", "f2", "f3"}
        assert path.final == () and path.may_drop
    loops = [f for f in result.findings if f.code is FindingCode.ROUTING_LOOP]
    assert len(loops) == 3
    assert all(f.subject.count("→") == 3 and f.severity.value == "error" for f in loops)
    # Every shipped input of every host is in the ring too: nothing more than the paths.
    assert {f.code for f in result.findings} == {FindingCode.ROUTING_LOOP}


CATASTROPHIC = [
    "(a+)+$",
    "(x+x+)+y",
    "(a|aa)+$",
    "^(([a-z])+.)+[A-Z]([a-z])+$",
    "(a)\\1",  # a backreference RE2 refuses: still only text here
    "(?<=a)b",  # a lookbehind
    "(" * 5000 + "a" + ")" * 5000,
    "a" * 100_000 + "|b",
]


@pytest.mark.parametrize("regex", CATASTROPHIC, ids=lambda r: r[:20])
def test_a_catastrophic_regex_is_recorded_and_never_evaluated(regex: str) -> None:
    # §5.6 "Each is conditional on REGEX (never evaluated against data)".
    transforms = f"[maybe_os]\nREGEX = {regex}\nDEST_KEY = _MetaData:Index\nFORMAT = os\n"
    result = data_paths(
        [parsing_hf("[web]\nTRANSFORMS-a = maybe_os\n", transforms), indexer("idx1")]
    )
    path = only(result, "hf1", "monitor:///w")
    assert finals(path) == {("web", "idx1", "conditional"), ("os", "idx1", "conditional")}
    assert [c.value for c in path.evidence if c.key == "REGEX"] == [regex]
    assert result.findings == ()


def test_an_input_with_ten_thousand_tcp_routing_groups_none_defined() -> None:
    groups = [f"r{n:05d}" for n in range(10_000)]
    inputs = "[monitor:///a]\n_TCP_ROUTING = " + ",".join(groups) + "\n"
    uf = host("uf1", "uf", inputs=inputs, outputs=OUTPUTS_TO_IDX)
    result = data_paths([uf, indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    assert list(path.groups) == groups
    assert path.receivers == () and path.final == () and path.may_drop
    assert found(result, FindingCode.DANGLING_OUTPUT) == [("uf1", f"group:{g}") for g in groups]
    # The other inputs keep their defaultGroup.
    internal = only(result, "uf1", "monitor://$SPLUNK_HOME/var/log/splunk")
    assert finals(internal) == {("_internal", "idx1", "certain")}


def test_an_input_with_ten_thousand_tcp_routing_groups_all_defined() -> None:
    groups = [f"r{n:05d}" for n in range(10_000)]
    inputs = "[monitor:///a]\nindex = web\n_TCP_ROUTING = " + ", ".join(groups) + "\n"
    outputs = "".join(f"[tcpout:{g}]\nserver = idx1:9997\n" for g in groups)
    uf = host("uf1", "uf", shipped=False, inputs=inputs, outputs=outputs)
    result = data_paths([uf, indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    assert len(path.groups) == len(path.servers) == len(path.receivers) == 10_000
    assert finals(path) == {("web", "idx1", "certain")}
    assert result.findings == ()


def test_an_undefined_group_names_the_setting_that_chose_it() -> None:
    # §6: findings, each with evidence.
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n_TCP_ROUTING = ghost\n")
    (dangling,) = data_paths([uf]).findings
    assert [(c.conf, c.key, c.value) for c in clues(dangling)] == [
        ("inputs", "_TCP_ROUTING", "ghost")
    ]


# -- servers and ports ---------------------------------------------------------------------------


def test_a_server_list_of_100000_entries() -> None:
    listed = [f"s{n}.example.com:9997" for n in range(100_000)]
    outputs = "[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = " + ", ".join(listed) + "\n"
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    result = data_paths([uf])
    path = only(result, "uf1", "monitor:///a")
    assert list(path.servers) == listed
    assert len(path.receivers) == 100_000
    assert finals(path) == {("default", None, "unknown")}
    # one piece of evidence for the whole list, one finding per server
    assert [c.key for c in path.evidence if c.conf == "outputs"] == ["defaultGroup", "server"]
    assert len(found(result, FindingCode.DANGLING_OUTPUT)) == 100_000


def test_the_same_server_20000_times_is_one_hop() -> None:
    outputs = "[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = " + ", ".join(
        ["idx1:9997"] * 20_000
    )
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs + "\n")
    path = only(data_paths([uf, indexer("idx1")]), "uf1", "monitor:///a")
    assert [(h.server, h.to) for h in path.receivers] == [("idx1:9997", "idx1")]
    assert finals(path) == {("main", "idx1", "certain")}


@pytest.mark.parametrize(
    "server",
    [
        "idx1:abc",
        "idx1:-1",
        "idx1:",
        "idx1",
        ":9997",
        "idx1:9997:9997",
        "[::1]:9997",
        "idx1:9 997",
        "idx1:0x2705",
        "idx1:" + "9" * 4000,
    ],
)
def test_a_server_with_an_odd_port_dangles_without_a_traceback(server: str) -> None:
    outputs = f"[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = {server}\n"
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    result = data_paths([uf, indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    assert [h.to for h in path.receivers] == [None]
    assert finals(path) == {("default", None, "unknown")}
    assert found(result, FindingCode.DANGLING_OUTPUT) == [("uf1", f"server:{server}")]


@pytest.mark.parametrize("port", ["\u00b2", "9" * 5000], ids=["superscript", "5000-digits"])
def test_a_server_port_int_cannot_read_does_not_stop_the_resolution(port: str) -> None:
    outputs = f"[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = idx1:{port}\n"
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    result = data_paths([uf, indexer("idx1")])
    assert [h.to for h in only(result, "uf1", "monitor:///a").receivers] == [None]


def test_a_listening_port_of_5000_digits_does_not_stop_the_resolution() -> None:
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=OUTPUTS_TO_IDX)
    idx = indexer("idx1", inputs=INDEXER_INPUTS + f"[splunktcp://{'9' * 5000}]\n")
    path = only(data_paths([uf, idx]), "uf1", "monitor:///a")
    assert finals(path) == {("main", "idx1", "certain")}


def test_a_port_out_of_range_is_no_receiver() -> None:
    outputs = "[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = idx1:70000\n"
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    idx = indexer("idx1", inputs="[splunktcp://70000]\n")
    result = data_paths([uf, idx])
    assert [h.to for h in only(result, "uf1", "monitor:///a").receivers] == [None]
    assert found(result, FindingCode.DANGLING_OUTPUT) == [("uf1", "server:idx1:70000")]


def test_a_listening_port_in_arabic_indic_digits_is_no_port() -> None:
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=OUTPUTS_TO_IDX)
    idx = indexer("idx1", inputs="[splunktcp://\u0669\u0669\u0669\u0667]\n")
    result = data_paths([uf, idx])
    assert [h.to for h in only(result, "uf1", "monitor:///a").receivers] == [None]


# -- names ---------------------------------------------------------------------------------------

NAMES = {"10kB": BIG, "nul": "a\x00b", "html": HTML, "unicode": UNICODE}


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_odd_names_for_index_sourcetype_group_and_server_are_kept_verbatim(name: str) -> None:
    inputs = f"[monitor:///{name}]\nindex = {name}\nsourcetype = {name}\n_TCP_ROUTING = {name}\n"
    outputs = f"[tcpout:{name}]\nserver = {name}:9997\n"
    uf = host("uf1", "uf", shipped=False, inputs=inputs, outputs=outputs)
    idx = host(
        name, "indexer", shipped=False, inputs=INDEXER_INPUTS, indexes=f"[{name}]\nhomePath = x\n"
    )
    result = data_paths([uf, idx])
    path = only(result, "uf1", f"monitor:///{name}")
    assert (path.index, path.sourcetype, path.source) == (name, name, f"/{name}")
    assert path.groups == (name,) and path.servers == (f"{name}:9997",)
    assert [(h.server, h.to) for h in path.receivers] == [(f"{name}:9997", name)]
    assert finals(path) == {(name, name, "certain")}
    assert result.findings == ()


def test_a_comma_in_a_routing_value_is_two_groups_and_blanks_are_none() -> None:
    inputs = "[monitor:///a]\n_TCP_ROUTING = a,b\n[monitor:///blank]\n_TCP_ROUTING = , ,\n"
    uf = host("uf1", "uf", shipped=False, inputs=inputs, outputs=OUTPUTS_TO_IDX)
    result = data_paths([uf, indexer("idx1")])
    assert only(result, "uf1", "monitor:///a").groups == ("a", "b")
    # `, ,` is an empty list of groups, not the defaultGroup: the data goes nowhere.
    blank = only(result, "uf1", "monitor:///blank")
    assert blank.groups == () and blank.may_drop
    assert found(result, FindingCode.DANGLING_OUTPUT) == [("uf1", "group:a"), ("uf1", "group:b")]
    assert found(result, FindingCode.NOT_FORWARDED) == [("uf1", "host:uf1")]


# -- forwardedindex filters ----------------------------------------------------------------------


def _filtered_uf(*filters: str, shipped: bool = False) -> HostConfig:
    tcpout = "[tcpout]\ndefaultGroup = idx\n" + "".join(f"{f}\n" for f in filters)
    return host(
        "uf1",
        "uf",
        shipped=shipped,
        inputs="[monitor:///a]\nindex = web\n",
        outputs=tcpout + "[tcpout:idx]\nserver = idx1:9997\n",
    )


@pytest.mark.parametrize(
    "pattern",
    ["(a)\\1", "(" * 2000 + ")" * 2000, "a{1000}{1000}", "[", "\\C", "(?=web)web"],
    ids=["backref", "deep", "repeat", "unclosed", "byte", "lookahead"],
)
def test_a_whitelist_re2_refuses_whitelists_nothing(pattern: str) -> None:
    result = data_paths([_filtered_uf(f"forwardedindex.0.whitelist = {pattern}"), indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    assert path.final == () and path.may_drop
    (filtered,) = [f for f in result.findings if f.code is FindingCode.INDEX_FILTERED]
    assert filtered.subject == "index:web"
    assert [c.value for c in clues(filtered)] == [pattern]
    # RE2 refusing it is said: the filter cannot be run as Splunk's PCRE would.
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
        refused = False
    except re2.error:
        refused = True
    unsafe = [("uf1", "outputs:[tcpout] forwardedindex.0.whitelist")] if refused else []
    assert found(result, FindingCode.UNSAFE_PATTERN) == unsafe


def test_a_huge_whitelist_is_matched() -> None:
    pattern = "w" * 200_000 + "|web"
    result = data_paths([_filtered_uf(f"forwardedindex.0.whitelist = {pattern}"), indexer("idx1")])
    assert finals(only(result, "uf1", "monitor:///a")) == {("web", "idx1", "certain")}


def test_ten_thousand_filters_the_last_matching_decides() -> None:
    filters = [f"forwardedindex.{n}.blacklist = nothing{n}" for n in range(10_000)]
    result = data_paths(
        [_filtered_uf(*filters, "forwardedindex.10000.whitelist = web"), indexer("idx1")]
    )
    assert finals(only(result, "uf1", "monitor:///a")) == {("web", "idx1", "certain")}


def test_a_blacklist_re2_refuses_makes_the_outcome_uncertain() -> None:
    uf = _filtered_uf("forwardedindex.3.blacklist = (?!nothing)w.*", shipped=True)
    result = data_paths([uf, indexer("idx1")])
    path = only(result, "uf1", "monitor:///a")
    unsafe = found(result, FindingCode.UNSAFE_PATTERN)
    assert unsafe or {f.certainty for f in path.final} != {Certainty.CERTAIN}


@pytest.mark.parametrize("n", ["\u00b2", "1" * 5000], ids=["superscript", "5000-digits"])
def test_a_filter_number_int_cannot_read_does_not_stop_the_resolution(n: str) -> None:
    result = data_paths([_filtered_uf(f"forwardedindex.{n}.whitelist = .*"), indexer("idx1")])
    assert only(result, "uf1", "monitor:///a").final


# -- transforms: variants, clones, INGEST_EVAL ---------------------------------------------------


def _classes(count: int, stanza: str) -> tuple[str, str]:
    """props [web] with `count` TRANSFORMS- classes t0000..., and their transforms from the
    `stanza` template ({n} = the number)."""
    props = "[web]\n" + "".join(f"TRANSFORMS-c{n:04d} = t{n}\n" for n in range(count))
    transforms = "".join(f"[t{n}]\n" + stanza.format(n=n) for n in range(count))
    return props, transforms


def test_a_thousand_conditional_classes_stop_at_max_variants() -> None:
    # paths.py: past MAX_VARIANTS variants the rest of the chain is not followed: `unknown`.
    props, transforms = _classes(
        1000, "REGEX = x{n}\nDEST_KEY = MetaData:Sourcetype\nFORMAT = sourcetype::s{n}\n"
    )
    result = data_paths([parsing_hf(props, transforms), indexer("idx1")])
    path = only(result, "hf1", "monitor:///w")
    assert 0 < len(path.final) <= 2 * MAX_VARIANTS + 1
    assert {f.certainty for f in path.final} == {Certainty.UNKNOWN}
    assert len(path.evidence) < 1000
    assert result.findings == ()


def test_a_thousand_conditional_rewrites_to_one_index_stay_two_variants() -> None:
    props, transforms = _classes(1000, "REGEX = x{n}\nDEST_KEY = _MetaData:Index\nFORMAT = os\n")
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert finals(path) == {("web", "idx1", "conditional"), ("os", "idx1", "conditional")}


def test_a_certain_drop_after_the_variant_cap_still_may_drop() -> None:
    props, transforms = _classes(
        100, "REGEX = x{n}\nDEST_KEY = MetaData:Sourcetype\nFORMAT = sourcetype::s{n}\n"
    )
    props += "TRANSFORMS-zzz = drop_all\n"
    transforms += "[drop_all]\nREGEX = .\nDEST_KEY = queue\nFORMAT = nullQueue\n"
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert path.may_drop


def test_clone_sourcetype_to_itself_and_in_a_cycle_terminates() -> None:
    props = "[web]\nTRANSFORMS-c = cl_a, cl_self\n[a]\nTRANSFORMS-c = cl_web\n"
    transforms = (
        "[cl_a]\nREGEX = .\nCLONE_SOURCETYPE = a\n"
        "[cl_self]\nREGEX = .\nCLONE_SOURCETYPE = web\n"
        "[cl_web]\nREGEX = .\nCLONE_SOURCETYPE = web\n"
    )
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert {(f.index, f.sourcetype, f.certainty.value) for f in path.final} >= {
        ("web", "web", "certain"),
        ("web", "a", "certain"),
    }
    assert len(path.final) <= 3


def test_a_thousand_clones_are_bounded() -> None:
    props, transforms = _classes(1000, "REGEX = .\nCLONE_SOURCETYPE = st{n}\n")
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert 0 < len(path.final) <= 2 * MAX_VARIANTS + 1


def test_a_clone_goes_through_the_transforms_of_its_new_sourcetype() -> None:
    props = "[web]\nTRANSFORMS-c = cl_a\n[a]\nTRANSFORMS-i = to_os\n"
    transforms = (
        "[cl_a]\nREGEX = .\nCLONE_SOURCETYPE = a\n"
        "[to_os]\nREGEX = .\nDEST_KEY = _MetaData:Index\nFORMAT = os\n"
    )
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert ("os", "a") in {(f.index, f.sourcetype) for f in path.final}


def test_a_clone_leaves_the_originals_transforms_and_the_original_goes_on_as_it_was() -> None:
    # [web]'s list: clone into a, then route to index w2. The clone gets [a]'s transforms
    # (none) and not the rest of [web]'s; the original is routed.
    props = "[web]\nTRANSFORMS-c = cl_a, to_w2\n"
    transforms = (
        "[cl_a]\nREGEX = .\nCLONE_SOURCETYPE = a\n"
        "[to_w2]\nREGEX = .\nDEST_KEY = _MetaData:Index\nFORMAT = w2\n"
    )
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert {(f.index, f.sourcetype) for f in path.final} == {("w2", "web"), ("web", "a")}


def test_clones_cloning_each_other_back_end() -> None:
    props = "[web]\nTRANSFORMS-c = cl_a\n[a]\nTRANSFORMS-c = cl_web, to_os\n"
    transforms = (
        "[cl_a]\nREGEX = .\nCLONE_SOURCETYPE = a\n"
        "[cl_web]\nREGEX = .\nCLONE_SOURCETYPE = web\n"
        "[to_os]\nREGEX = .\nDEST_KEY = _MetaData:Index\nFORMAT = os\n"
    )
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    # web goes on; its clone a is routed to os; a's clone back into web is not cloned again.
    assert {(f.index, f.sourcetype) for f in path.final} == {("web", "web"), ("os", "a")}


@pytest.mark.parametrize(
    ("expression", "outcome", "may_drop"),
    [
        ('index := if(match(_raw, "x"), "a", "b")', {(None, "unknown"), ("web", "conditional")},
         False),
        ("", {("web", "certain")}, False),
        ("=", {("web", "certain")}, False),
        (",,,", {("web", "certain")}, False),
        ('"' * 1001, {("web", "certain")}, False),
        ('index = "unterminated', {(None, "unknown"), ("web", "conditional")}, False),
        ('index = ("a"', {(None, "unknown"), ("web", "conditional")}, False),
        ('queue = "nullQueue"', set(), True),
        ('queue := lower("NULLQUEUE")', {("web", "conditional")}, True),
        ('index = "os", index = "web"', {("web", "certain")}, False),
    ],
    ids=["if", "empty", "equals", "commas", "quotes", "unterminated", "paren", "drop",
         "eval-drop", "twice"],
)  # fmt: skip
def test_ingest_eval_oddities(
    expression: str, outcome: set[tuple[str | None, str]], may_drop: bool
) -> None:
    result = data_paths(
        [parsing_hf("[web]\nTRANSFORMS-e = ev\n", f"[ev]\nINGEST_EVAL = {expression}\n"),
         indexer("idx1")]
    )  # fmt: skip
    path = only(result, "hf1", "monitor:///w")
    assert {(f.index, f.certainty.value) for f in path.final} == outcome
    assert path.may_drop is may_drop


def test_an_ingest_eval_index_of_10kb_is_one_undefined_index() -> None:
    result = data_paths(
        [parsing_hf("[web]\nTRANSFORMS-e = ev\n", f'[ev]\nINGEST_EVAL = index = "{BIG}"\n'),
         indexer("idx1")]
    )  # fmt: skip
    assert finals(only(result, "hf1", "monitor:///w")) == {(BIG, "idx1", "certain")}
    assert found(result, FindingCode.UNDEFINED_INDEX) == [("idx1", f"index:{BIG}")]


def test_ten_thousand_transforms_in_one_class_missing() -> None:
    names = [f"nowhere{n}" for n in range(10_000)]
    hf = parsing_hf("[web]\nTRANSFORMS-x = " + ", ".join(names) + "\n", "")
    result = data_paths([hf, indexer("idx1")])
    assert finals(only(result, "hf1", "monitor:///w")) == {("web", "idx1", "certain")}
    assert len(found(result, FindingCode.MISSING_TRANSFORM)) == 10_000


# -- props [source::] patterns --------------------------------------------------------------------

PATTERNS = {
    "any": ("...", "st"),
    "dots": ("." * 30_000, "st"),  # `...` 10,000 times: any characters, still linear
    "open": ("(" * 2000, "auto"),  # RE2 refuses it: matches nothing
    "stars": ("*" * 20_000, "auto"),
    "bars": ("|" * 10_000, "auto"),
    "nested": ("(...|" * 1000, "auto"),
    "nul": ("/var/log/a\x00", "auto"),
    "html": (HTML, "auto"),
    "redos": ("...(a+)+$", "auto"),
}


@pytest.mark.parametrize(("pattern", "sourcetype"), list(PATTERNS.values()), ids=list(PATTERNS))
def test_a_pathological_source_pattern_matches_or_not_without_hanging(
    pattern: str, sourcetype: str
) -> None:
    # §5.5 "Patterns: `...` any characters, `*` any but `/`, full match". A pattern that
    # matches every source and names a transform on its own stanza.
    props = f"[source::{pattern}]\nsourcetype = st\nTRANSFORMS-x = to_web\n"
    transforms = "[to_web]\nREGEX = .\nDEST_KEY = _MetaData:Index\nFORMAT = web\n"
    hf = parsing_hf(props, transforms, inputs="[monitor:///var/log/a]\n")
    path = only(data_paths([hf, indexer("idx1")]), "hf1", "monitor:///var/log/a")
    assert path.sourcetype == sourcetype
    index = "web" if sourcetype == "st" else "main"
    assert finals(path) == {(index, "idx1", "certain")}


def test_a_source_stanza_rewriting_to_a_sourcetype_that_rewrites_back() -> None:
    # [source::...] sets st and rewrites the sourcetype to web; [web] rewrites it to st:
    # one pass, no loop (props are selected once, on the parsing host).
    props = (
        "[source::...]\nsourcetype = st\nTRANSFORMS-x = to_web\n"
        "[web]\nTRANSFORMS-y = to_st\n[st]\nTRANSFORMS-z = to_web\n"
    )
    transforms = (
        "[to_web]\nREGEX = .\nDEST_KEY = MetaData:Sourcetype\nFORMAT = sourcetype::web\n"
        "[to_st]\nREGEX = .\nDEST_KEY = MetaData:Sourcetype\nFORMAT = sourcetype::st\n"
    )
    hf = parsing_hf(props, transforms, inputs="[monitor:///var/log/a]\n")
    path = only(data_paths([hf, indexer("idx1")]), "hf1", "monitor:///var/log/a")
    assert {(f.sourcetype, f.certainty.value) for f in path.final} == {("web", "certain")}


# -- indexes.conf ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("indexes", "index"),
    [
        ("[default]\ndefaultDatabase = default\n", "default"),
        ("[default]\ndefaultDatabase = volume:x\n[volume:x]\npath = /x\n", "volume:x"),
        ("[default]\ndefaultDatabase = main\n[main]\ndisabled = 1\n", "main"),
        (f"[default]\ndefaultDatabase = {BIG}\n", BIG),
    ],
    ids=["default", "volume", "disabled", "10kB"],
)
def test_a_default_database_that_is_no_index_is_undefined(indexes: str, index: str) -> None:
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=OUTPUTS_TO_IDX)
    result = data_paths([uf, host("idx1", "indexer", inputs=INDEXER_INPUTS, indexes=indexes)])
    path = only(result, "uf1", "monitor:///a")
    assert finals(path) == {(index, "idx1", "certain")} and path.may_drop
    assert found(result, FindingCode.UNDEFINED_INDEX) == [("idx1", f"index:{index}")]


def test_every_index_disabled_by_default_is_one_finding_per_index() -> None:
    idx = host("idx1", "indexer", inputs=INDEXER_INPUTS, indexes="[default]\ndisabled = true\n")
    result = data_paths([idx])
    undefined = found(result, FindingCode.UNDEFINED_INDEX)
    assert ("idx1", "index:_internal") in undefined and ("idx1", "index:main") in undefined
    assert len(undefined) == len(set(undefined)) <= 10


def test_a_last_chance_index_that_does_not_exist_drops() -> None:
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\nindex = nope\n",
              outputs=OUTPUTS_TO_IDX)  # fmt: skip
    idx = indexer("idx1", indexes=INDEXES + "[default]\nlastChanceIndex = ghost\n")
    result = data_paths([uf, idx])
    assert only(result, "uf1", "monitor:///a").may_drop


def test_sourcetypes_that_all_clone_into_each_other_are_each_parsed_once() -> None:
    # 12 sourcetypes, each cloning into the 11 others: following every chain of clones
    # would take hours (review of issue 11); each distinct copy is parsed once.
    names = ["web"] + [f"s{i:02d}" for i in range(1, 12)]
    props = "".join(
        f"[{a}]\n" + "".join(f"TRANSFORMS-c{b} = cl_{b}\n" for b in names if b != a) for a in names
    )
    transforms = "".join(f"[cl_{b}]\nREGEX = .\nCLONE_SOURCETYPE = {b}\n" for b in names)
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert {(f.index, f.sourcetype, f.certainty.value) for f in path.final} == {
        ("web", name, "certain") for name in names
    }


def test_clones_count_against_the_variant_cap() -> None:
    # [web]: 60 conditional index rewrites, then a clone into a; [a]: 60 more.
    web = "".join(f"TRANSFORMS-r{i:02d} = r{i}\n" for i in range(60)) + "TRANSFORMS-z = cl_a\n"
    a = "".join(f"TRANSFORMS-q{i:02d} = q{i}\n" for i in range(60))
    transforms = (
        "".join(
            f"[r{i}]\nREGEX = x{i}\nDEST_KEY = _MetaData:Index\nFORMAT = w{i}\n" for i in range(60)
        )
        + "".join(
            f"[q{i}]\nREGEX = y{i}\nDEST_KEY = _MetaData:Index\nFORMAT = y{i}\n" for i in range(60)
        )
        + "[cl_a]\nREGEX = .\nCLONE_SOURCETYPE = a\n"
    )
    path = only(
        data_paths([parsing_hf(f"[web]\n{web}[a]\n{a}", transforms), indexer("idx1")]),
        "hf1",
        "monitor:///w",
    )
    assert 0 < len(path.final) <= 5 * MAX_VARIANTS
    assert any(f.certainty.value == "unknown" for f in path.final)


def test_a_copy_that_is_dropped_leaves_the_original_path_not_may_drop() -> None:
    props = "[web]\nTRANSFORMS-c = cl\n[copy]\nTRANSFORMS-d = drop\n"
    transforms = (
        "[cl]\nREGEX = .\nCLONE_SOURCETYPE = copy\n"
        "[drop]\nREGEX = .\nDEST_KEY = queue\nFORMAT = nullQueue\n"
    )
    path = only(data_paths([parsing_hf(props, transforms), indexer("idx1")]), "hf1", "monitor:///w")
    assert {(f.index, f.sourcetype, f.certainty.value) for f in path.final} == {
        ("web", "web", "certain")
    }
    assert not path.may_drop  # the input's data is always indexed; only its copy is dropped
