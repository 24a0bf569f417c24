"""btool's output of an effective configuration (RESOLVER.md §4 and §7): the text of `btool
CONF list [STANZA] [--debug]` and the `--json` shape; then golden checks over the real
corpus (Splunk 10.4.2's system/default and a deployment server's ~30 apps)."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path

import pytest

from daemon.conf.parser import parse_conf, parse_text
from daemon.resolve.btool import effective_to_json, host_path, render_btool
from daemon.resolve.layers import (
    ConfLayer,
    EffectiveConf,
    LayerKind,
    Origin,
    effective,
    layer_from_stanzas,
)
from tests.builders import conf_layer

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"
SYSTEM_LOCAL, APP_LOCAL = LayerKind.SYSTEM_LOCAL, LayerKind.APP_LOCAL
APP_DEFAULT, SYSTEM_DEFAULT = LayerKind.APP_DEFAULT, LayerKind.SYSTEM_DEFAULT
NIX_FROM_DS = "etc/deployment-apps/Splunk_TA_nix/default/inputs.conf"


def host_stack() -> EffectiveConf:
    return effective(
        "inputs",
        [
            conf_layer(
                "[default]\nindex = default\nhost = $decideOnStartup\n"
                "[tcp]\nconnection_host = dns\n",
                SYSTEM_DEFAULT,
            ),
            conf_layer(
                "[tcp://9514]\nsourcetype = syslog\n",
                APP_DEFAULT,
                "Splunk_TA_nix",
                file=NIX_FROM_DS,
            ),
            conf_layer("[default]\nhost = web-01\n"),
        ],
    )


# `splunk btool inputs list`: `[stanza]` then `key = value`, both in ASCII order, inherited
# keys included, no blank lines.
def test_btool_text_lists_stanzas_then_keys_in_ascii_order() -> None:
    assert render_btool(host_stack()) == (
        "[default]\n"
        "host = web-01\n"
        "index = default\n"
        "[tcp]\n"
        "connection_host = dns\n"
        "host = web-01\n"
        "index = default\n"
        "[tcp://9514]\n"
        "connection_host = dns\n"
        "host = web-01\n"
        "index = default\n"
        "sourcetype = syslog\n"
    )


# `--debug`: the file on the left, padded to the longest path plus one space; a stanza's
# header names the highest file that has it; an app from the DS repository is where the host
# reads it, etc/apps/<app>.
def test_btool_debug_puts_the_host_path_of_each_line_in_a_padded_column() -> None:
    assert render_btool(host_stack(), "tcp://", debug=True) == (
        "/opt/splunk/etc/apps/Splunk_TA_nix/default/inputs.conf [tcp://9514]\n"
        "/opt/splunk/etc/system/default/inputs.conf             connection_host = dns\n"
        "/opt/splunk/etc/system/local/inputs.conf               host = web-01\n"
        "/opt/splunk/etc/system/default/inputs.conf             index = default\n"
        "/opt/splunk/etc/apps/Splunk_TA_nix/default/inputs.conf sourcetype = syslog\n"
    )


def test_btool_debug_column_is_as_wide_whatever_stanzas_are_shown() -> None:
    whole = render_btool(host_stack(), debug=True).splitlines()
    assert {line.index("[") for line in whole if "[" in line} == {55}
    assert render_btool(host_stack(), "default", debug=True).splitlines()[0] == (
        "/opt/splunk/etc/system/local/inputs.conf               [default]"
    )


def test_btool_debug_on_a_windows_home_uses_backslashes() -> None:
    origin = Origin(APP_LOCAL, "nix", "etc/apps/nix/local/inputs.conf")
    assert host_path(origin, "inputs", "C:\\Program Files\\Splunk") == (
        "C:\\Program Files\\Splunk\\etc\\apps\\nix\\local\\inputs.conf"
    )
    assert host_path(origin, "outputs", "/opt/splunkforwarder/") == (
        "/opt/splunkforwarder/etc/apps/nix/local/outputs.conf"
    )


# btool's STANZA argument is a prefix: `btool inputs list http:` shows every [http://...].
def test_btool_stanza_argument_selects_by_prefix_or_exactly() -> None:
    conf = host_stack()
    assert [line for line in render_btool(conf, "tcp").splitlines() if line[0] == "["] == [
        "[tcp]",
        "[tcp://9514]",
    ]
    assert render_btool(conf, "tcp", exact=True).splitlines()[0] == "[tcp]"
    assert render_btool(conf, "tcp:", exact=True) == ""
    assert render_btool(conf, "nothing", debug=True) == ""


# A continued value is printed as written, each line but the last ending in `\`; with
# --debug each line carries the file, so cutting the column off gives the plain text.
def test_a_multi_line_value_is_printed_with_continuations() -> None:
    layer = conf_layer("[search]\nsearch = index=a \\\n| stats count \\\n  by host\n", conf="x")
    conf = effective("x", [layer])
    assert conf.value("search", "search") == "index=a \n| stats count \n  by host"
    text = render_btool(conf)
    assert text == "[search]\nsearch = index=a \\\n| stats count \\\n  by host\n"
    assert parse_text(text)[0][0].settings == {"search": conf.value("search", "search")}
    debug = render_btool(conf, debug=True).splitlines()
    column = "/opt/splunk/etc/system/local/x.conf "
    assert all(line.startswith(column) for line in debug)
    assert "".join(line[len(column) :] + "\n" for line in debug) == text


# RESOLVER.md §7: "`btool NAME CONF --json`: `{STANZA: {KEY: {value, file, line, layer, app,
# run}}}`"
def test_btool_json_is_stanza_key_value_with_origin() -> None:
    data = effective_to_json(host_stack(), "tcp://9514", exact=True)
    assert data == {
        "tcp://9514": {
            "connection_host": {
                "value": "dns",
                "file": "etc/system/default/inputs.conf",
                "line": 5,
                "layer": "system/default",
                "app": None,
                "run": 1,
            },
            "host": {
                "value": "web-01",
                "file": "etc/system/local/inputs.conf",
                "line": 2,
                "layer": "system/local",
                "app": None,
                "run": 1,
            },
            "index": {
                "value": "default",
                "file": "etc/system/default/inputs.conf",
                "line": 2,
                "layer": "system/default",
                "app": None,
                "run": 1,
            },
            "sourcetype": {
                "value": "syslog",
                "file": NIX_FROM_DS,
                "line": 2,
                "layer": "app/default",
                "app": "Splunk_TA_nix",
                "run": 1,
            },
        }
    }
    assert list(effective_to_json(host_stack())) == ["default", "tcp", "tcp://9514"]


# -- the real corpus ---------------------------------------------------------------------------


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.is_dir():
        reason = f"corpus not found at {path}"
        if os.environ.get("AUTODOC_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"required test data missing: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@functools.cache
def corpus_layers(*, apps: bool) -> dict[str, list[ConfLayer]]:
    """conf type -> layers: the shipped system/default, and with `apps` every app of the
    DS corpus's repository, as if one host had them all. Parsed once; never mutated."""
    out: dict[str, list[ConfLayer]] = defaultdict(list)
    for path in sorted(corpus("system-default").glob("*.conf")):
        origin = Origin(SYSTEM_DEFAULT, None, f"etc/system/default/{path.name}", 1)
        out[path.stem].append(layer_from_stanzas(origin, parse_conf(path.read_bytes()).stanzas))
    if apps:
        repository = corpus("ds_etc", "dcom", "etc", "deployment-apps")
        for path in sorted(repository.glob("*/*/*.conf")):
            app, scope = path.parts[-3], path.parts[-2]
            if scope in ("default", "local"):
                kind = APP_LOCAL if scope == "local" else APP_DEFAULT
                origin = Origin(kind, app, f"etc/deployment-apps/{app}/{scope}/{path.name}", 2)
                parsed = parse_conf(path.read_bytes()).stanzas
                out[path.stem].append(layer_from_stanzas(origin, parsed))
    return out


def where(conf: EffectiveConf, stanza: str, key: str) -> tuple[str, str, int]:
    found = conf.get(stanza, key)
    assert found is not None, f"[{stanza}] {key} not set"
    return found.value, found.file, found.line


SHIPPED_INPUTS = "etc/system/default/inputs.conf"


def test_the_shipped_defaults_of_inputs_apply_to_a_receiver() -> None:
    layers = corpus_layers(apps=False)["inputs"]
    receiver = conf_layer("[splunktcp://9997]\n[splunktcp-ssl:9998]\n", APP_LOCAL, "receivers")
    conf = effective("inputs", [*layers, receiver])
    assert where(conf, "default", "host") == ("$decideOnStartup", SHIPPED_INPUTS, 20)
    assert where(conf, "default", "index") == ("default", SHIPPED_INPUTS, 18)
    for stanza in ("splunktcp://9997", "splunktcp-ssl:9998"):
        assert conf.stanzas[stanza].inherits == ("splunktcp", "default")
        assert where(conf, stanza, "route")[1:] == (SHIPPED_INPUTS, 115)
        assert where(conf, stanza, "connection_host") == ("ip", SHIPPED_INPUTS, 117)
        assert where(conf, stanza, "index") == ("default", SHIPPED_INPUTS, 18)
        assert where(conf, stanza, "_rcvbuf") == ("1572864", SHIPPED_INPUTS, 19)
    assert where(conf, "monitor://$SPLUNK_HOME/var/log/splunk", "index") == (
        "_internal",
        SHIPPED_INPUTS,
        27,
    )
    assert render_btool(conf, "splunktcp://", debug=True).splitlines()[:2] == [
        "/opt/splunk/etc/apps/receivers/local/inputs.conf [splunktcp://9997]",
        "/opt/splunk/etc/system/default/inputs.conf       _rcvbuf = 1572864",
    ]


def test_a_host_with_every_app_of_the_ds_corpus() -> None:
    layers = corpus_layers(apps=True)
    inputs = effective("inputs", layers["inputs"])
    # two apps define [udp://10514]: each key from the first app in ASCII order that sets it,
    # then the shipped [udp], then [default]
    udp = inputs.stanzas["udp://10514"]
    assert udp.origin.app == "TA-netflowlogic"  # "T" sorts before "n"
    assert where(inputs, "udp://10514", "sourcetype")[1:] == (
        "etc/deployment-apps/TA-netflowlogic/default/inputs.conf",
        2,
    )
    assert where(inputs, "udp://10514", "index") == (
        "flowintegrator",
        "etc/deployment-apps/netflow/default/inputs.conf",
        3,
    )
    assert where(inputs, "udp://10514", "connection_host") == ("ip", SHIPPED_INPUTS, 108)

    props = effective("props", layers["props"])
    # an app's default beats system/default
    assert where(props, "splunkd_crash_log", "MAX_EVENTS") == (
        "10000",
        "etc/deployment-apps/sos/default/props.conf",
        9,
    )
    # uppercase sorts before lowercase: TA-netflowlogic beats netflow
    assert where(props, "flowintegrator", "SHOULD_LINEMERGE") == (
        "false",
        "etc/deployment-apps/TA-netflowlogic/default/props.conf",
        2,
    )
    transforms = effective("transforms", layers["transforms"])
    assert where(transforms, "stash_extract", "MV_ADD")[:2] == (
        "false",
        "etc/deployment-apps/fire_brigade/default/transforms.conf",
    )


# What btool prints reads back as the same configuration, for every conf type of the corpus
# (searchbnf.conf alone has 1,660 continued lines, macros.conf of one app is Latin-1).
def test_btool_text_of_the_corpus_reads_back_as_the_same_configuration() -> None:
    for conf_type, layers in corpus_layers(apps=True).items():
        conf = effective(conf_type, layers)
        stanzas, findings = parse_text(render_btool(conf))
        assert findings == [], conf_type
        assert {s.name: s.settings for s in stanzas} == {
            name: {key: value.value for key, value in stanza.settings.items()}
            for name, stanza in conf.stanzas.items()
        }, conf_type
