"""One test per rule of RESOLVER.md §4 (a host's effective configuration), named after the
rule; the spec line each one checks is quoted above it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from daemon.resolve.layers import (
    EffectiveConf,
    EffectiveValue,
    LayerKind,
    LayerStanza,
    Origin,
    effective,
    effective_for_hosts,
    input_type,
    layer_from_lines,
    layer_from_rows,
    layer_kind,
    stack_key,
    type_stanza,
)
from daemon.resolve.types import Evidence
from tests.builders import conf_layer

SYSTEM_LOCAL, APP_LOCAL = LayerKind.SYSTEM_LOCAL, LayerKind.APP_LOCAL
APP_DEFAULT, SYSTEM_DEFAULT = LayerKind.APP_DEFAULT, LayerKind.SYSTEM_DEFAULT


def winner(conf: EffectiveConf, stanza: str, key: str) -> tuple[str, str, str | None]:
    """(value, layer, app) of an effective key."""
    found = conf.get(stanza, key)
    assert found is not None, f"[{stanza}] {key} not set"
    return found.value, found.layer, found.app


# "Layers of a host, highest first: `system/local` > every app's `local` > every app's
# `default` > `system/default`"
def test_system_local_beats_app_local_beats_app_default_beats_system_default() -> None:
    layers = [
        conf_layer("[x]\nk = system default\n", SYSTEM_DEFAULT),
        conf_layer("[x]\nk = app default\n", APP_DEFAULT, "nix"),
        conf_layer("[x]\nk = app local\n", APP_LOCAL, "nix"),
        conf_layer("[x]\nk = system local\n", SYSTEM_LOCAL),
    ]
    expected = ["system local", "app local", "app default", "system default"]
    for dropped, value in enumerate(expected):
        remaining = layers[: len(layers) - dropped]
        assert effective("inputs", remaining).value("x", "k") == value


# "every app's `local` > every app's `default`": the local of the app that sorts last still
# beats the default of the app that sorts first.
def test_every_app_local_beats_every_app_default() -> None:
    conf = effective(
        "inputs",
        [
            conf_layer("[x]\nk = first app's default\n", APP_DEFAULT, "AAA"),
            conf_layer("[x]\nk = last app's local\n", APP_LOCAL, "zzz"),
        ],
    )
    assert winner(conf, "x", "k") == ("last app's local", "app/local", "zzz")


# "between apps, ASCII order of the directory name (byte order of UTF-8: digits < uppercase
# < `_` < lowercase) wins"
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("9_app", "A_app"),  # digits before uppercase
        ("Zeta", "_under"),  # uppercase before _
        ("_under", "alpha"),  # _ before lowercase
        ("Zeta", "alpha"),  # case matters: not alphabetical
        ("TA-netflowlogic", "netflow"),
        ("app10", "app9"),  # character by character, not by number
        ("app", "app_extra"),  # a prefix sorts first
        ("zeta", "\u00e9t\u00e9"),  # é is above z in UTF-8 bytes as in code points
    ],
)
def test_between_apps_the_app_first_in_ascii_order_wins(first: str, second: str) -> None:
    for kind in (APP_LOCAL, APP_DEFAULT):
        for given in ((first, second), (second, first)):
            layers = [conf_layer(f"[x]\nk = {app}\n", kind, app) for app in given]
            assert winner(effective("inputs", layers), "x", "k") == (first, kind.value, first)


# "A stanza is resolved across layers on its own, then only the keys it still lacks are
# filled from the merged `[default]`" (SPLUNK_CONF.md: "so a key of `[x]` in
# `system/default` beats a `[default]` key in `system/local`")
def test_stanza_is_resolved_on_its_own_before_default_fills_it() -> None:
    conf = effective(
        "inputs",
        [
            conf_layer("[default]\nindex = local_default\n", SYSTEM_LOCAL),
            conf_layer("[x]\nindex = shipped_x\n", SYSTEM_DEFAULT),
        ],
    )
    assert winner(conf, "x", "index") == ("shipped_x", "system/default", None)
    assert conf.stanzas["x"].inherits == ("default",)


def test_default_fills_only_missing_keys_from_the_merged_default() -> None:
    conf = effective(
        "inputs",
        [
            conf_layer("[default]\nhost = web-01\n", SYSTEM_LOCAL),
            conf_layer("[default]\nindex = os\nhost = ignored\n", APP_DEFAULT, "nix"),
            conf_layer("[default]\nindex = default\n_rcvbuf = 1572864\n", SYSTEM_DEFAULT),
            conf_layer("[monitor:///var/log]\nindex = var\n", APP_LOCAL, "nix"),
        ],
    )
    stanza = conf.stanzas["monitor:///var/log"]
    assert {k: (v.value, v.layer) for k, v in stanza.settings.items()} == {
        "_rcvbuf": ("1572864", "system/default"),
        "host": ("web-01", "system/local"),
        "index": ("var", "app/local"),
    }
    assert conf.value("default", "index") == "os"


# "settings before the first stanza ... behave like `[default]`" (SPLUNK_CONF.md rule 6)
def test_settings_before_any_stanza_are_default() -> None:
    conf = effective("props", [conf_layer("TRUNCATE = 0\n[st]\n", SYSTEM_LOCAL, conf="props")])
    assert conf.value("st", "TRUNCATE") == "0"
    assert conf.stanzas["default"].line == 0


# "for inputs, a `[<type>]` stanza (`[tcp]`, `[udp]`, `[splunktcp]`, `[script]`, `[http]`,
# `[WinEventLog]`) sits between the specific stanza and `[default]`"
def test_input_type_stanza_sits_between_the_stanza_and_default() -> None:
    conf = effective(
        "inputs",
        [
            # a higher layer's [default] and [tcp] still lose to what the stanza itself sets
            conf_layer(
                "[default]\nconnection_host = none\nqueue = indexQueue\n"
                "[tcp]\nconnection_host = dns\nsourcetype = from_type\n",
                SYSTEM_LOCAL,
            ),
            conf_layer("[tcp://9514]\nsourcetype = own\n", APP_DEFAULT, "net"),
        ],
    )
    stanza = conf.stanzas["tcp://9514"]
    assert stanza.inherits == ("tcp", "default")
    assert {k: v.value for k, v in stanza.settings.items()} == {
        "connection_host": "dns",  # [tcp] beats [default]
        "queue": "indexQueue",  # [default] fills what [tcp] lacks too
        "sourcetype": "own",  # the stanza beats [tcp]
    }


@pytest.mark.parametrize(
    ("stanza", "parent"),
    [
        ("tcp://9514", "tcp"),
        ("tcp://10.0.0.1:9514", "tcp"),
        ("tcp-ssl:9514", "tcp"),
        ("udp://514", "udp"),
        ("udp:514", "udp"),
        ("splunktcp://9997", "splunktcp"),
        ("splunktcp:9997", "splunktcp"),
        ("splunktcp-ssl:9997", "splunktcp"),
        ("script://./bin/vmstat.sh", "script"),
        ("http://hec_token", "http"),
        ("WinEventLog://Security", "WinEventLog"),
        ("monitor:///var/log", "monitor"),  # ours
        ("monitor://C:\\logs", "monitor"),
    ],
)
def test_input_type_is_the_scheme_of_the_stanza_name(stanza: str, parent: str) -> None:
    assert type_stanza("inputs", stanza) == parent


@pytest.mark.parametrize(
    "stanza",
    [
        "default",
        "SSL",
        "tcp",  # a type stanza has no type stanza of its own
        "batch:///var/spool",  # no documented [batch] parent
        "fschange:/etc",
        "perfmon://CPU",
        "blacklist:/etc/passwd",
        "aws_s3://bucket",  # a modular input
        "winEventLog://Security",  # stanza names are case-sensitive
    ],
)
def test_other_input_stanzas_have_no_type_stanza(stanza: str) -> None:
    assert type_stanza("inputs", stanza) is None


def test_input_type_reads_any_scheme() -> None:
    assert input_type("batch:///var/spool") == "batch"
    assert input_type("aws_s3://bucket") == "aws_s3"
    assert input_type("default") is None
    assert input_type("://x") is None


# *(ours for `[monitor]`)*
def test_monitor_type_stanza_is_ours() -> None:
    conf = effective(
        "inputs",
        [conf_layer("[monitor]\ncrcSalt = <SOURCE>\n[monitor:///var/log]\n[batch:///spool]\n")],
    )
    assert conf.value("monitor:///var/log", "crcSalt") == "<SOURCE>"
    assert conf.value("batch:///spool", "crcSalt") is None


def test_type_stanza_is_for_inputs_only() -> None:
    layer = conf_layer("[tcp]\nk = v\n[tcp://9514]\n", conf="props")
    assert effective("props", [layer]).value("tcp://9514", "k") is None
    assert type_stanza("props", "tcp://9514") is None


# "Every effective value keeps its origin: file path inside the bundle, line, layer, app,
# run id."
def test_every_value_keeps_its_origin() -> None:
    layer = conf_layer(
        "[default]\nhost = h\n\n[tcp://9514]\nindex = net\n",
        APP_DEFAULT,
        "net",
        file="etc/deployment-apps/net/default/inputs.conf",
        run=42,
    )
    conf = effective("inputs", [layer])
    index = conf.stanzas["tcp://9514"].settings["index"]
    assert (index.value, index.file, index.line, index.layer, index.scope) == (
        "net",
        "etc/deployment-apps/net/default/inputs.conf",
        5,
        "app/default",
        "default",
    )
    assert (index.app, index.run) == ("net", 42)
    assert index.evidence() == Evidence(
        "etc/deployment-apps/net/default/inputs.conf", 5, "app", "net", 42, "default"
    )
    host = conf.stanzas["tcp://9514"].settings["host"]
    assert (host.value, host.line) == ("h", 2)  # inherited from [default], its own origin
    assert index.origin.label == "app:net/default"
    assert SYSTEM_LOCAL.value == Origin(SYSTEM_LOCAL, None, "f").label


def test_a_stanza_header_names_the_highest_layer_that_has_it() -> None:
    conf = effective(
        "inputs",
        [
            conf_layer("\n\n[x]\nk = shipped\n", SYSTEM_DEFAULT),
            conf_layer("[y]\n[x]\nother = 1\n", APP_LOCAL, "nix"),
        ],
    )
    header = conf.stanzas["x"]
    assert (header.origin.label, header.line) == ("app:nix/local", 2)


# btool "lists every stanza including [default]": names in ASCII order, keys in ASCII order.
def test_every_stanza_is_listed_in_ascii_order_with_keys_in_ascii_order() -> None:
    conf = effective(
        "inputs",
        [
            conf_layer("[b]\nz = 1\nA = 2\n_u = 3\na = 4\n[default]\n[B]\n[_x]\n"),
            conf_layer("[a]\n[9]\n", SYSTEM_DEFAULT),
        ],
    )
    assert list(conf.stanzas) == ["9", "B", "_x", "a", "b", "default"]
    assert list(conf.stanzas["b"].settings) == ["A", "_u", "a", "z"]


def test_a_key_repeated_in_one_file_keeps_the_line_of_the_value_that_won() -> None:
    found = effective("inputs", [conf_layer("[x]\nk = 1\nk = 2\n")]).get("x", "k")
    assert found is not None
    assert (found.value, found.line) == ("2", 3)


def test_a_layer_from_database_rows_takes_each_key_line_from_its_last_occurrence() -> None:
    origin = Origin(APP_LOCAL, "nix", "etc/apps/nix/local/inputs.conf", 7)
    rows = [
        ("default", 0, {"host": "h"}, [["host", "h", 1]]),
        ("tcp://1", 3, {"index": "b", "k": "v"}, [["index", "a", 4], ["index", "b", 6]]),
    ]
    layer = layer_from_rows(origin, rows)
    assert layer.stanzas["tcp://1"] == LayerStanza(
        3,
        {"index": EffectiveValue("b", 6, origin), "k": EffectiveValue("v", 0, origin)},
    )
    assert layer.stanzas["default"].line == 0


@dataclass(frozen=True)
class Lined:
    name: str
    line: int
    settings: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def test_a_layer_from_stanzas_that_know_their_lines() -> None:
    origin = Origin(SYSTEM_LOCAL, None, "etc/system/local/inputs.conf")
    layer = layer_from_lines(origin, [Lined("x", 4, {"k": "v", "j": "w"}, {"k": 5})])
    assert layer.stanzas["x"] == LayerStanza(
        4, {"k": EffectiveValue("v", 5, origin), "j": EffectiveValue("w", 0, origin)}
    )


@pytest.mark.parametrize(
    ("layer", "scope", "kind"),
    [
        ("system", "local", SYSTEM_LOCAL),
        ("system", "default", SYSTEM_DEFAULT),
        ("app", "local", APP_LOCAL),
        ("app", "default", APP_DEFAULT),
        ("deployment_app", "local", APP_LOCAL),  # the DS delivers it to etc/apps
        ("deployment_app", "default", APP_DEFAULT),
        ("user", "local", None),  # not global context
        ("cluster_bundle", "default", None),
        (None, None, None),
    ],
)
def test_layer_kind_of_a_stored_file(layer: str | None, scope: str | None, kind: object) -> None:
    assert layer_kind(layer, scope) == kind


def test_an_app_layer_names_its_app_and_a_system_layer_none() -> None:
    with pytest.raises(ValueError, match="app/local"):
        Origin(APP_LOCAL, None, "etc/apps/x/local/inputs.conf")
    with pytest.raises(ValueError, match="system/local"):
        Origin(SYSTEM_LOCAL, "x", "etc/system/local/inputs.conf")


# "hosts with the same layer stack share one computation"
def test_hosts_with_the_same_stack_share_one_computation() -> None:
    shipped = conf_layer("[default]\nindex = default\n", SYSTEM_DEFAULT)
    nix = conf_layer("[monitor:///var/log]\n", APP_DEFAULT, "nix")
    win = conf_layer("[WinEventLog://Security]\n", APP_DEFAULT, "win")
    confs = effective_for_hosts(
        "inputs", {"web-01": [shipped, nix], "web-02": [nix, shipped], "dc-01": [shipped, win]}
    )
    assert confs["web-01"] is confs["web-02"]
    assert confs["dc-01"] is not confs["web-01"]
    assert confs["web-01"].stack == stack_key([nix, shipped]) == stack_key([shipped, nix])
    assert len(confs["web-01"].stack) == 64
    assert stack_key([shipped, nix]) != stack_key([shipped, win])
    rerun = conf_layer("[monitor:///var/log]\n", APP_DEFAULT, "nix", run=2)
    assert stack_key([shipped, rerun]) != stack_key([shipped, nix])  # the run is identity


def test_no_layers_is_an_empty_configuration() -> None:
    conf = effective("inputs", [])
    assert (dict(conf.stanzas), conf.layers) == ({}, ())
