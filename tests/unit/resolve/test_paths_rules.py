"""RESOLVER.md §5, from input to data path: one test per rule, the spec's words in a comment.

Hosts are built from conf texts per layer (tests/builders.conf_layer); the shipped Splunk
system/default of each type sits under them, as it does under every real host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from daemon.resolve.defaults import shipped_conf
from daemon.resolve.layers import ConfLayer, EffectiveConf, LayerKind, conf_layer, effective
from daemon.resolve.paths import DataPath, HostConfig, Paths, data_paths
from daemon.resolve.vocabulary import FindingCode
from tests.builders import conf_layer as layer

LOCAL, DEFAULT = LayerKind.SYSTEM_LOCAL, LayerKind.SYSTEM_DEFAULT
APP_LOCAL, APP_DEFAULT = LayerKind.APP_LOCAL, LayerKind.APP_DEFAULT
TYPES = ("inputs", "outputs", "props", "transforms", "indexes")

INDEXER_INPUTS = "[splunktcp://9997]\n"
INDEXES = "[web]\nhomePath = $SPLUNK_DB/web/db\n[os]\nhomePath = $SPLUNK_DB/os/db\n"


def host(
    name: str,
    role: str,
    *,
    shipped: bool = True,
    own_tree: bool = True,
    **confs: str | Sequence[ConfLayer],
) -> HostConfig:
    """A host whose conf of each type is a system/local text or a list of layers."""
    merged: dict[str, EffectiveConf] = {}
    for conf_type in TYPES:
        given = confs.get(conf_type, ())
        layers = [layer(given, LOCAL, conf=conf_type)] if isinstance(given, str) else list(given)
        default = shipped_conf(conf_type)
        if shipped and default is not None:
            shipped_layer = conf_layer(default)
            assert shipped_layer is not None
            layers.append(shipped_layer)
        merged[conf_type] = effective(conf_type, layers)
    return HostConfig(
        name=name,
        role=role,
        names=frozenset({name.lower(), name.split(".", 1)[0].lower()}),
        hostname=name,
        own_tree=own_tree,
        **merged,
    )


def indexer(name: str, **confs: str | Sequence[ConfLayer]) -> HostConfig:
    return host(name, "indexer", **{"inputs": INDEXER_INPUTS, "indexes": INDEXES, **confs})


def by_input(result: Paths, host_name: str) -> Mapping[str, DataPath]:
    return {p.input: p for p in result.paths if p.host == host_name}


def finals(path: DataPath) -> set[tuple[str | None, str | None, str]]:
    return {(f.index, f.at, f.certainty.value) for f in path.final}


def codes(result: Paths) -> list[tuple[str, str | None, str]]:
    return sorted((f.code.value, f.host, f.subject) for f in result.findings)


OUTPUTS_TO_IDX = "[tcpout]\ndefaultGroup = idx\n[tcpout:idx]\nserver = idx1:9997\n"


# -- 1. the event ------------------------------------------------------------------------------


def test_index_default_means_the_receiving_indexers_default_database() -> None:
    # "`default` means the receiving indexer's `defaultDatabase` (`main` unless set)."
    uf = host("uf1", "uf", inputs="[monitor:///var/log/a]\n", outputs=OUTPUTS_TO_IDX)
    plain = indexer("idx1")
    result = data_paths([uf, plain])
    path = by_input(result, "uf1")["monitor:///var/log/a"]
    assert path.index == "default"
    assert finals(path) == {("main", "idx1", "certain")}
    moved = indexer("idx1", indexes=INDEXES + "[default]\ndefaultDatabase = web\n")
    path = by_input(data_paths([uf, moved]), "uf1")["monitor:///var/log/a"]
    assert finals(path) == {("web", "idx1", "certain")}


def test_sourcetype_explicit_else_source_props_else_network_default_else_auto() -> None:
    # "sourcetype: explicit in the input; else a `[source::<path pattern>]` props stanza on the
    # reading host (file inputs only); else the network default (`tcp-raw`, `udp:<port>`);
    # else `auto`." Source: the path, `tcp:`/`udp:`.
    inputs = """
        [monitor:///var/log/explicit.log]
        sourcetype = mine
        [monitor:///var/log/app/x.log]
        [monitor:///var/log/other.log]
        [tcp://5140]
        [udp://514]
        [script://./bin/run.sh]
        """
    props = "[source::/var/log/app/*.log]\nsourcetype = app_log\n"
    uf = host("uf1", "uf", inputs=inputs, props=props, outputs=OUTPUTS_TO_IDX)
    paths = by_input(data_paths([uf, indexer("idx1")]), "uf1")
    got = {n: (p.sourcetype, p.source) for n, p in paths.items() if "$SPLUNK_HOME" not in n}
    assert got == {
        "monitor:///var/log/explicit.log": ("mine", "/var/log/explicit.log"),
        "monitor:///var/log/app/x.log": ("app_log", "/var/log/app/x.log"),
        "monitor:///var/log/other.log": ("auto", "/var/log/other.log"),
        "tcp://5140": ("tcp-raw", "tcp:5140"),
        "udp://514": ("udp:514", "udp:514"),
        "script://./bin/run.sh": ("auto", "script://./bin/run.sh"),
    }
    # The shipped [tcp] says connection_host = dns; [udp] leaves it to the default, ip.
    assert paths["tcp://5140"].host_field == "connection_host=dns"
    assert paths["udp://514"].host_field == "connection_host=ip"
    assert paths["monitor:///var/log/other.log"].host_field == "uf1"


def test_every_enabled_input_is_a_path_the_shipped_ones_included() -> None:
    # "For each enabled input on a host (`disabled` false ...)": splunkd's own logs from the
    # shipped system/default too; a disabled input and a receiver (splunktcp) are none.
    uf = host(
        "uf1",
        "uf",
        inputs="[monitor:///a]\n[monitor:///b]\ndisabled = 1\n[splunktcp://9997]\n",
        outputs=OUTPUTS_TO_IDX,
    )
    paths = by_input(data_paths([uf, indexer("idx1")]), "uf1")
    assert "monitor:///a" in paths and "monitor:///b" not in paths
    assert not [name for name in paths if name.startswith("splunktcp")]
    internal = paths["monitor://$SPLUNK_HOME/var/log/splunk"]
    assert finals(internal) == {("_internal", "idx1", "certain")}
    # [fschange:$SPLUNK_HOME/var/lib/splunk/modinputs] is shipped disabled.
    assert "fschange:$SPLUNK_HOME/var/lib/splunk/modinputs" not in paths


# -- 2. groups ---------------------------------------------------------------------------------


def test_local_before_default_and_ascii_order_decide_default_group() -> None:
    # §4's precedence decides [tcpout] defaultGroup: app local beats app default whatever
    # the app's name; between apps of one scope the first in ASCII order wins.
    groups = "[tcpout:a]\nserver = idx1:9997\n[tcpout:b]\nserver = idx2:9997\n"
    outputs = [
        layer(groups, LOCAL, conf="outputs"),
        layer("[tcpout]\ndefaultGroup = a\n", APP_DEFAULT, "A_first", conf="outputs"),
        layer("[tcpout]\ndefaultGroup = b\n", APP_LOCAL, "Z_last", conf="outputs"),
    ]
    both = [indexer("idx1"), indexer("idx2")]
    path = by_input(
        data_paths([host("uf1", "uf", inputs="[monitor:///a]\n", outputs=outputs), *both]),
        "uf1",
    )["monitor:///a"]
    assert path.groups == ("b",)
    outputs[2] = layer("[tcpout]\ndefaultGroup = b\n", APP_DEFAULT, "Z_last", conf="outputs")
    path = by_input(
        data_paths([host("uf1", "uf", inputs="[monitor:///a]\n", outputs=outputs), *both]),
        "uf1",
    )["monitor:///a"]
    assert path.groups == ("a",)
    assert [c.app for c in path.evidence if c.key == "defaultGroup"] == ["A_first"]


def test_a_default_key_in_system_local_loses_to_a_stanzas_own_key_in_system_default() -> None:
    # §4: each stanza on its own first, then what it lacks from [default]: `[tcpout]
    # defaultGroup` in system/default beats `[default] defaultGroup` in system/local.
    outputs = [
        layer(
            "[default]\ndefaultGroup = b\n[tcpout:a]\nserver = idx1:9997\n"
            "[tcpout:b]\nserver = idx2:9997\n",
            LOCAL,
            conf="outputs",
        ),
        layer("[tcpout]\ndefaultGroup = a\n", DEFAULT, conf="outputs"),
    ]
    uf = host("uf1", "uf", shipped=False, inputs="[monitor:///a]\n", outputs=outputs)
    path = by_input(data_paths([uf, indexer("idx1"), indexer("idx2")]), "uf1")["monitor:///a"]
    assert path.groups == ("a",)
    assert finals(path) == {("main", "idx1", "certain")}


def test_tcp_routing_overrides_default_group_and_several_groups_clone() -> None:
    # "groups: the input's `_TCP_ROUTING`, else `[tcpout] defaultGroup` (`*` = every group;
    # several = cloned; several servers in a group = load-balanced)."
    outputs = (
        "[tcpout]\ndefaultGroup = a\n[tcpout:a]\nserver = idx1:9997\n"
        "[tcpout:b]\nserver = idx2:9997, idx3:9997\n"
    )
    inputs = (
        "[monitor:///routed]\n_TCP_ROUTING = b\n[monitor:///all]\n_TCP_ROUTING = *\n"
        "[monitor:///plain]\n"
    )
    uf = host("uf1", "uf", inputs=inputs, outputs=outputs)
    paths = by_input(data_paths([uf, indexer("idx1"), indexer("idx2"), indexer("idx3")]), "uf1")
    assert paths["monitor:///routed"].groups == ("b",)
    assert paths["monitor:///routed"].servers == ("idx2:9997", "idx3:9997")
    assert {f.at for f in paths["monitor:///routed"].final} == {"idx2", "idx3"}
    assert paths["monitor:///all"].groups == ("a", "b")
    assert {f.at for f in paths["monitor:///all"].final} == {"idx1", "idx2", "idx3"}
    assert paths["monitor:///plain"].groups == ("a",)


def test_no_default_group_and_no_routing_is_not_forwarded() -> None:
    # "No `defaultGroup` and no routing → `NOT_FORWARDED`."
    uf = host("uf1", "uf", inputs="[monitor:///a]\n")
    result = data_paths([uf])
    path = by_input(result, "uf1")["monitor:///a"]
    assert path.may_drop and path.receivers == ()
    assert codes(result) == [("NOT_FORWARDED", "uf1", "host:uf1")]
    # A host known only from the client list (no etc/ tree of its own) may have outputs we
    # never saw: its data goes somewhere unknown, which is no finding.
    partly = host("uf2", "uf", own_tree=False, inputs="[monitor:///a]\n")
    result = data_paths([partly])
    path = by_input(result, "uf2")["monitor:///a"]
    assert finals(path) == {("default", None, "unknown")} and not path.may_drop
    assert result.findings == ()


def test_a_custom_underscore_index_is_filtered_by_the_default_forwardedindex_list() -> None:
    # "the defaults (`0.whitelist .*`, `1.blacklist _.*`, `2.whitelist (_audit|_internal|
    # ...)`) mean a custom `_foo` index is **not** forwarded."
    inputs = "[monitor:///foo]\nindex = _foo\n[monitor:///int]\nindex = _internal\n"
    uf = host("uf1", "uf", inputs=inputs, outputs=OUTPUTS_TO_IDX)
    result = data_paths([uf, indexer("idx1")])
    paths = by_input(result, "uf1")
    assert paths["monitor:///foo"].may_drop and paths["monitor:///foo"].final == ()
    assert finals(paths["monitor:///int"]) == {("_internal", "idx1", "certain")}
    (filtered,) = [f for f in result.findings if f.code is FindingCode.INDEX_FILTERED]
    assert (filtered.host, filtered.subject) == ("uf1", "index:_foo")
    assert [c.key for c in filtered.evidence] == ["forwardedindex.1.blacklist"]


def test_index_and_forward_adds_a_local_leg_on_a_heavy_forwarder() -> None:
    # "`indexAndForward`/`selectiveIndexing` (heavy forwarders only) add a local leg."
    outputs = OUTPUTS_TO_IDX.replace("[tcpout]\n", "[tcpout]\nindexAndForward = true\n")
    hf = host("hf1", "hf", inputs="[monitor:///a]\n", outputs=outputs, indexes=INDEXES)
    path = by_input(data_paths([hf, indexer("idx1")]), "hf1")["monitor:///a"]
    assert finals(path) == {("main", "hf1", "certain"), ("main", "idx1", "certain")}


# -- 3. receivers ------------------------------------------------------------------------------


def test_a_server_outside_the_estate_is_a_dangling_output() -> None:
    # "unmatched → `DANGLING_OUTPUT` (receiver outside the estate)"; a known host that does
    # not listen on that port does not receive either.
    outputs = "[tcpout]\ndefaultGroup = a\n[tcpout:a]\nserver = siem.example.com:9997, idx1:5000\n"
    uf = host("uf1", "uf", inputs="[monitor:///a]\n", outputs=outputs)
    result = data_paths([uf, indexer("idx1")])
    path = by_input(result, "uf1")["monitor:///a"]
    assert [(h.server, h.to) for h in path.receivers] == [
        ("siem.example.com:9997", None),
        ("idx1:5000", None),
    ]
    assert finals(path) == {("default", None, "unknown")}
    assert codes(result) == [
        ("DANGLING_OUTPUT", "uf1", "server:idx1:5000"),
        ("DANGLING_OUTPUT", "uf1", "server:siem.example.com:9997"),
    ]


def test_the_hop_continues_with_the_receivers_own_outputs() -> None:
    # "On the receiver the hop continues with **its** props/transforms/outputs."
    uf = host(
        "uf1",
        "uf",
        inputs="[monitor:///a]\n",
        outputs="[tcpout]\ndefaultGroup = hf\n[tcpout:hf]\nserver = hf1.example.com:9997\n",
    )
    hf = host("hf1", "hf", inputs="[splunktcp://9997]\n", outputs=OUTPUTS_TO_IDX)
    path = by_input(data_paths([uf, hf, indexer("idx1")]), "uf1")["monitor:///a"]
    assert [(h.source, h.to) for h in path.receivers] == [("uf1", "hf1"), ("hf1", "idx1")]
    assert finals(path) == {("main", "idx1", "certain")}


def test_a_routing_loop_between_two_forwarders_is_found_and_the_path_stops() -> None:
    # "Loops between forwarders → `ROUTING_LOOP`, the path stops there."
    def forwarder(name: str, to: str) -> HostConfig:
        return host(
            name,
            "hf",
            inputs="[splunktcp://9997]\n[monitor:///a]\n",
            outputs=f"[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = {to}:9997\n",
        )

    result = data_paths([forwarder("hf1", "hf2"), forwarder("hf2", "hf1")])
    path = by_input(result, "hf1")["monitor:///a"]
    assert [(h.source, h.to) for h in path.receivers] == [("hf1", "hf2"), ("hf2", "hf1")]
    assert path.final == () and path.may_drop
    loops = [f for f in result.findings if f.code is FindingCode.ROUTING_LOOP]
    assert {f.subject for f in loops} == {"loop:hf1 → hf2 → hf1", "loop:hf2 → hf1 → hf2"}


# -- 4. tiers ----------------------------------------------------------------------------------

NULL_WEB = (
    "[drop_web]\nREGEX = debug\nDEST_KEY = queue\nFORMAT = nullQueue\n"
    "[to_os]\nREGEX = .\nDEST_KEY = _MetaData:Index\nFORMAT = os\n"
)


def test_a_nullqueue_on_an_indexer_for_data_a_heavy_forwarder_parsed_has_no_effect() -> None:
    # "Data a HF already parsed is not parsed again downstream. A transform that sits on a
    # tier that never parses this data → `TRANSFORM_ON_WRONG_TIER`."
    uf = host(
        "uf1",
        "uf",
        inputs="[monitor:///w]\nsourcetype = web\nindex = web\n",
        outputs="[tcpout]\ndefaultGroup = hf\n[tcpout:hf]\nserver = hf1:9997\n",
    )
    hf = host("hf1", "hf", inputs="[splunktcp://9997]\n", outputs=OUTPUTS_TO_IDX)
    idx = indexer("idx1", props="[web]\nTRANSFORMS-null = drop_web\n", transforms=NULL_WEB)
    result = data_paths([uf, hf, idx])
    path = by_input(result, "uf1")["monitor:///w"]
    assert finals(path) == {("web", "idx1", "certain")}
    assert not path.may_drop
    (wrong,) = [f for f in result.findings if f.code is FindingCode.TRANSFORM_ON_WRONG_TIER]
    assert (wrong.host, wrong.subject) == ("idx1", "transform:drop_web")
    assert "parsed upstream" in wrong.message


def test_a_universal_forwarder_parses_only_with_force_local_processing() -> None:
    # "never on a universal forwarder unless the sourcetype has `force_local_processing =
    # true` (or `INDEXED_EXTRACTIONS`)".
    props = "[web]\nTRANSFORMS-os = to_os\n"
    inputs = "[monitor:///w]\nsourcetype = web\nindex = web\n"
    plain = host("uf1", "uf", inputs=inputs, props=props, transforms=NULL_WEB,
                 outputs=OUTPUTS_TO_IDX)  # fmt: skip
    forced = host(
        "uf2",
        "uf",
        inputs=inputs,
        props=props + "force_local_processing = true\n",
        transforms=NULL_WEB,
        outputs=OUTPUTS_TO_IDX,
    )
    result = data_paths([plain, forced, indexer("idx1")])
    assert finals(by_input(result, "uf1")["monitor:///w"]) == {("web", "idx1", "certain")}
    assert finals(by_input(result, "uf2")["monitor:///w"]) == {("os", "idx1", "certain")}
    wrong = [f for f in result.findings if f.code is FindingCode.TRANSFORM_ON_WRONG_TIER]
    assert [(f.host, f.subject) for f in wrong] == [("uf1", "transform:to_os")]


# -- 5. props selection ------------------------------------------------------------------------


def test_the_same_transforms_class_in_a_source_and_a_sourcetype_stanza() -> None:
    # "`source::` > `host::` > sourcetype stanzas, regardless of `priority` ... the same key
    # comes from the winning stanza": TRANSFORMS-x of [source::] replaces the sourcetype's.
    props = (
        "[web]\npriority = 1000\nTRANSFORMS-x = to_web\n"
        "[source::/var/log/w.log]\nTRANSFORMS-x = to_os\n"
    )
    transforms = NULL_WEB + "[to_web]\nREGEX = .*\nDEST_KEY = _MetaData:Index\nFORMAT = web\n"
    hf = host(
        "hf1",
        "hf",
        inputs="[monitor:///var/log/w.log]\nsourcetype = web\n",
        props=props,
        transforms=transforms,
        outputs=OUTPUTS_TO_IDX,
    )
    path = by_input(data_paths([hf, indexer("idx1")]), "hf1")["monitor:///var/log/w.log"]
    assert finals(path) == {("os", "idx1", "certain")}


def test_two_transforms_classes_apply_in_ascii_order_of_class_name() -> None:
    # "`TRANSFORMS-<class>` classes in ASCII order of class name, each list in order": the
    # later class's certain index rewrite is the one that stands.
    props = "[web]\nTRANSFORMS-b = to_web\nTRANSFORMS-a = to_os\n"
    transforms = NULL_WEB + "[to_web]\nREGEX = .*\nDEST_KEY = _MetaData:Index\nFORMAT = web\n"
    hf = host(
        "hf1",
        "hf",
        inputs="[monitor:///w]\nsourcetype = web\nindex = main\n",
        props=props,
        transforms=transforms,
        outputs=OUTPUTS_TO_IDX,
    )
    path = by_input(data_paths([hf, indexer("idx1")]), "hf1")["monitor:///w"]
    assert finals(path) == {("web", "idx1", "certain")}
    order = [c.stanza for c in path.evidence if c.conf == "transforms" and c.key == "FORMAT"]
    assert order == ["to_os", "to_web"]


# -- 6. transforms -----------------------------------------------------------------------------


def test_a_rewrite_depends_on_its_regex_and_is_never_evaluated() -> None:
    # "Each is **conditional** on `REGEX` (never evaluated against data) ... A REGEX of `.`
    # or `.*` is certain." A nullQueue by REGEX may drop; a catastrophic REGEX is only text.
    transforms = (
        "[maybe_os]\nREGEX = (a+)+$\nDEST_KEY = _MetaData:Index\nFORMAT = os\n"
        "[maybe_drop]\nREGEX = debug\nDEST_KEY = queue\nFORMAT = nullQueue\n"
    )
    hf = host(
        "hf1",
        "hf",
        inputs="[monitor:///w]\nsourcetype = web\nindex = web\n",
        props="[web]\nTRANSFORMS-a = maybe_os, maybe_drop\n",
        transforms=transforms,
        outputs=OUTPUTS_TO_IDX,
    )
    path = by_input(data_paths([hf, indexer("idx1")]), "hf1")["monitor:///w"]
    assert finals(path) == {("web", "idx1", "conditional"), ("os", "idx1", "conditional")}
    assert path.may_drop
    regex = [c for c in path.evidence if c.conf == "transforms" and c.key == "REGEX"]
    assert [(c.stanza, c.value, c.line) for c in regex] == [
        ("maybe_os", "(a+)+$", 2),
        ("maybe_drop", "debug", 6),
    ]


def test_a_transform_props_names_but_no_layer_defines_is_missing() -> None:
    # §6 "`MISSING_TRANSFORM` (props names a transforms stanza no layer defines)".
    hf = host(
        "hf1",
        "hf",
        inputs="[monitor:///w]\nsourcetype = web\n",
        props="[web]\nTRANSFORMS-x = nowhere\n",
        outputs=OUTPUTS_TO_IDX,
    )
    result = data_paths([hf, indexer("idx1")])
    assert codes(result) == [("MISSING_TRANSFORM", "hf1", "transform:nowhere")]


# -- 7. final ----------------------------------------------------------------------------------


def test_an_index_the_indexer_does_not_define_is_undefined() -> None:
    # "not defined in that indexer's effective `indexes.conf` → `UNDEFINED_INDEX` (data goes
    # to `lastChanceIndex` or is dropped)."
    uf = host("uf1", "uf", inputs="[monitor:///a]\nindex = nope\n", outputs=OUTPUTS_TO_IDX)
    result = data_paths([uf, indexer("idx1")])
    path = by_input(result, "uf1")["monitor:///a"]
    assert finals(path) == {("nope", "idx1", "certain")} and path.may_drop
    (undefined,) = result.findings
    assert (undefined.code, undefined.host, undefined.subject) == (
        FindingCode.UNDEFINED_INDEX,
        "idx1",
        "index:nope",
    )
    assert "dropped" in undefined.message
    kept = indexer("idx1", indexes=INDEXES + "[default]\nlastChanceIndex = web\n")
    result = data_paths([uf, kept])
    assert not by_input(result, "uf1")["monitor:///a"].may_drop
    assert "lastChanceIndex 'web'" in result.findings[0].message


# -- §6 SHADOWED_SETTING -----------------------------------------------------------------------


def test_two_apps_setting_one_key_differently_say_which_wins_and_why() -> None:
    # §6 "`SHADOWED_SETTING` (two apps set the same stanza key to different values on one
    # host: which wins and why)"; §4: local before default, then ASCII order of the app.
    from daemon.resolve.shadows import shadowed

    def outputs(*layers: ConfLayer) -> list[str]:
        return [s.finding("uf1").message for s in shadowed("outputs", layers)]

    a_default = layer("[tcpout]\ndefaultGroup = a\n", APP_DEFAULT, "A_app", conf="outputs")
    b_default = layer("[tcpout]\ndefaultGroup = b\n", APP_DEFAULT, "B_app", conf="outputs")
    b_local = layer("[tcpout]\ndefaultGroup = b\n", APP_LOCAL, "B_app", conf="outputs")
    same = layer("[tcpout]\ndefaultGroup = a\n", APP_DEFAULT, "C_app", conf="outputs")
    system = layer("[tcpout]\ndefaultGroup = s\n", LOCAL, conf="outputs")
    assert outputs(b_default, a_default) == [
        "outputs.conf [tcpout] defaultGroup: app:A_app/default sets 'a' and wins over "
        "app:B_app/default 'b': apps of the same scope go in ASCII order of their folder name "
        "('A_app' before 'B_app')"
    ]
    assert outputs(a_default, b_local) == [
        "outputs.conf [tcpout] defaultGroup: app:B_app/local sets 'b' and wins over "
        "app:A_app/default 'a': an app's local/ comes before any app's default/"
    ]
    assert outputs(a_default, same) == []  # the same value: nothing is shadowed
    assert outputs(a_default, b_default, system) == []  # system/local wins: no app does
    (shadow,) = shadowed("outputs", [a_default, b_default])
    evidence = shadow.finding("uf1").evidence
    assert [(c.app, c.value, c.line) for c in evidence] == [("A_app", "a", 2), ("B_app", "b", 2)]


def test_a_receiver_known_only_from_the_client_list_is_taken_by_its_name() -> None:
    # Its splunktcp input may be local configuration we never saw: matched by name alone.
    uf = host("uf1", "uf", inputs="[monitor:///a]\n", outputs=OUTPUTS_TO_IDX)
    seen_from_ds = host("idx1", "indexer", own_tree=False, indexes=INDEXES)
    result = data_paths([uf, seen_from_ds])
    path = by_input(result, "uf1")["monitor:///a"]
    assert [(h.source, h.to) for h in path.receivers] == [("uf1", "idx1")]
    assert result.findings == ()


# -- 5. props selection, directly --------------------------------------------------------------


def test_props_patterns_dots_star_full_match_and_host_case() -> None:
    # "Patterns: `...` any characters, `*` any but `/`, full match; `host::`
    # case-insensitive."
    from daemon.resolve.props import props_pattern

    def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
        compiled = props_pattern(pattern, ignore_case=ignore_case)
        assert compiled is not None
        return compiled.fullmatch(value) is not None  # type: ignore[attr-defined]

    assert matches("/var/log/.../x.log", "/var/log/a/b/x.log")
    assert matches("/var/log/*.log", "/var/log/a.log")
    assert not matches("/var/log/*.log", "/var/log/a/b.log")
    assert not matches("/var/log/*.log", "/var/log/a.log.1")  # the whole value
    assert matches("/var/log/a.log", "/var/log/a.log") and not matches("a.log", "aXlog")
    assert matches("WEB*", "web01", ignore_case=True) and not matches("WEB*", "web01")


def test_props_priority_within_a_kind_then_ascii_order() -> None:
    # "within a kind, higher `priority` wins (literal default 100, pattern 0), then ASCII
    # order ... Keys from all matching stanzas combine; the same key comes from the winning
    # stanza."
    from daemon.resolve.props import Event, props_for

    props = effective(
        "props",
        [
            layer(
                """
                [source::/var/log/*.log]
                TZ = pattern
                CHARSET = latin-1
                [source::/var/log/a.log]
                TZ = literal
                [source::/var/.../a.log]
                priority = 200
                LINE_BREAKER = x
                [source::/var/log/a.*]
                TZ = ascii-later
                [source::/var/log/*.lo*]
                TZ = ascii-earlier
                """,
                conf="props",
            )
        ],
    )
    keys = props_for(props, Event(None, "/var/log/a.log", None))
    got = {k: v.value for k, v in keys.items() if k != "priority"}
    # priority 200 first (no TZ), the literal (100) next: its TZ; CHARSET from a pattern.
    assert got == {"TZ": "literal", "CHARSET": "latin-1", "LINE_BREAKER": "x"}
    # Among patterns of one priority, ASCII order: "/var/log/*.lo*" < "/var/log/*.log" <
    # "/var/log/a.*".
    props = effective(
        "props",
        [
            layer(
                "[source::/var/log/a.*]\nTZ = a\n[source::/var/log/*.lo*]\nTZ = star\n",
                conf="props",
            )
        ],
    )
    assert props_for(props, Event(None, "/var/log/a.log", None))["TZ"].value == "star"


def test_a_cluster_peer_indexes_without_an_undefined_index_finding() -> None:
    # Its indexes.conf comes in the cluster bundle, not read here: what it indexes is known,
    # whether the index is defined is not (no UNDEFINED_INDEX, never a guess).
    uf = host("uf1", "uf", inputs="[monitor:///a]\nindex = web\n", outputs=OUTPUTS_TO_IDX)
    peer = replace(host("idx1", "indexer", inputs=INDEXER_INPUTS), indexes_known=False)
    result = data_paths([uf, peer])
    assert finals(by_input(result, "uf1")["monitor:///a"]) == {("web", "idx1", "certain")}
    assert result.findings == ()


def test_hosts_of_one_configuration_each_get_their_own_findings() -> None:
    # The walk from a forwarder is shared by the hosts with its configuration; what it finds
    # is said of each of them, in their own names.
    outputs = OUTPUTS_TO_IDX.replace("idx1:9997", "idx1:9997, siem.example.com:9997")
    inputs = "[monitor:///a]\n[monitor:///f]\nindex = _foo\n"
    one = host("uf1", "uf", inputs=inputs, outputs=outputs)
    two = replace(one, name="uf2", names=frozenset({"uf2"}), hostname="uf2")
    result = data_paths([one, two, indexer("idx1")])
    assert codes(result) == [
        ("DANGLING_OUTPUT", "uf1", "server:siem.example.com:9997"),
        ("DANGLING_OUTPUT", "uf2", "server:siem.example.com:9997"),
        ("INDEX_FILTERED", "uf1", "index:_foo"),
        ("INDEX_FILTERED", "uf2", "index:_foo"),
    ]
    for finding in result.findings:
        assert finding.message.startswith(f"{finding.host} "), finding.message
    assert by_input(result, "uf2")["monitor:///a"].host_field == "uf2"
    assert finals(by_input(result, "uf2")["monitor:///a"]) == {
        ("main", "idx1", "certain"),
        ("default", None, "unknown"),
    }
