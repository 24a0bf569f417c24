"""The normalizer: typed rows from parsed stanzas, on real snippets (the shared corpus's DCOM
deployment server and Palo Alto add-on, Splunk's shipped defaults) and the edge cases the
module docstring decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.conf.normalize import (
    TYPED_TABLES,
    Typed,
    input_type,
    normalize_stanza,
    occurrence_list,
    parse_bool,
    props_target,
    split_list,
)
from daemon.conf.types import Occurrence, Stanza
from daemon.models import IndexKind, OutputKind, PropsTarget, ServerClassKind

CORPUS = Path(__file__).parents[3] / "shared" / "corpus"


def stanzas(text: str) -> list[Stanza]:
    """A minimal reader for the simple snippets below (no continuations): the parser is
    tested on its own, this keeps these tests about the normalizer."""
    found: list[Stanza] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            found.append(Stanza(line[1 : line.rindex("]")], n, len(found)))
            continue
        key, _, value = line.partition("=")
        stanza = found[-1]
        stanza.settings[key.strip()] = value.strip()
        stanza.occurrences.append(Occurrence(key.strip(), value.strip(), n))
    return found


def typed(conf_type: str, text: str) -> list[Typed]:
    results = [normalize_stanza(conf_type, s) for s in stanzas(text)]
    return [r for r in results if r is not None]


def rows(conf_type: str, text: str) -> dict[str, dict[str, Any]]:
    """Typed rows by stanza name; no findings expected."""
    out = {}
    for result in typed(conf_type, text):
        assert result.findings == ()
        assert result.row is not None
        assert result.table == TYPED_TABLES[conf_type]
        out[result.row["name"]] = result.row
    return out


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(v, True) for v in ("true", "TRUE", "True", "1", "yes", "Yes", "t", "T", "y", " y ")],
        *[(v, False) for v in ("false", "False", "0", "no", "NO", "f", "F", "n", "N ")],
        *[(v, None) for v in ("", "maybe", "2", "on", "off", "truee", "-1")],
    ],
)
def test_splunk_booleans_parse_in_any_case_and_anything_else_is_none(
    value: str, expected: bool | None
) -> None:
    assert parse_bool(value) is expected


def test_comma_lists_drop_blanks_and_empty_items() -> None:
    assert split_list("primary_indexers, dr_indexers") == ["primary_indexers", "dr_indexers"]
    assert split_list(" a ,, b ,\n c ") == ["a", "b", "c"]
    assert split_list("") == []
    # DCOM's outputs.conf: the next lines of the server list have no `=`, so only this is left.
    assert split_list("172.30.200.101:9997,") == ["172.30.200.101:9997"]


def test_occurrences_keep_every_line_in_file_order_as_evidence() -> None:
    [stanza] = stanzas("[monitor:///var/log]\nindex = a\nsourcetype = s\nindex = b\n")
    assert stanza.settings == {"index": "b", "sourcetype": "s"}
    assert occurrence_list(stanza) == [["index", "a", 2], ["sourcetype", "s", 3], ["index", "b", 4]]


def test_conf_types_without_a_typed_table_give_nothing() -> None:
    [stanza] = stanzas("[My alert]\nsearch = index=main\n")
    assert normalize_stanza("savedsearches", stanza) is None
    assert normalize_stanza("app", stanza) is None


# -- inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stanza_type", "target"),
    [
        ("monitor:///var/log/messages", "monitor", "/var/log/messages"),
        (
            "monitor://$PROGRAMFILES\\VMware\\Infrastructure\\tomcat\\logs",
            "monitor",
            "$PROGRAMFILES\\VMware\\Infrastructure\\tomcat\\logs",
        ),
        ("batch:///opt/drop/*.csv", "batch", "/opt/drop/*.csv"),
        ("script://./bin/ps_sos.sh", "script", "./bin/ps_sos.sh"),
        ("tcp://:1514", "tcp", ":1514"),
        ("udp://514", "udp", "514"),
        ("splunktcp://9997", "splunktcp", "9997"),
        ("WinEventLog://Security", "WinEventLog", "Security"),
        ("perfmon://CPU", "perfmon", "CPU"),
        ("http://hec_token", "http", "hec_token"),
        ("ta_vmware_collection_worker://alpha", "ta_vmware_collection_worker", "alpha"),
        # the spec's single-colon forms
        ("splunktcp-ssl:9997", "splunktcp-ssl", "9997"),
        ("tcp-ssl:514", "tcp-ssl", "514"),
        ("fschange:/etc", "fschange", "/etc"),
        # settings stanzas, not inputs
        ("default", "default", None),
        ("splunktcp", "splunktcp", None),
        ("http", "http", None),
        ("SSL", "SSL", None),
        ("WinEventLog", "WinEventLog", None),
        ("dm_accel_settings", "dm_accel_settings", None),
        ("something:odd", "something:odd", None),
    ],
)
def test_input_stanza_type_is_the_scheme_and_target_what_follows(
    name: str, stanza_type: str, target: str | None
) -> None:
    assert input_type(name) == (stanza_type, target)


def test_inputs_rows_hold_each_stanzas_own_routing_values() -> None:
    found = rows(
        "inputs",
        "[default]\nhost = uf-par-01\nindex = default\n\n"
        "[monitor:///var/log/secure]\nsourcetype = linux_secure\nindex = os\ndisabled = 0\n"
        "_TCP_ROUTING = primary_indexers, dr_indexers\n\n"
        "[udp://514]\nsourcetype = syslog\ndisabled = TRUE\n_SYSLOG_ROUTING = siem\n\n"
        "[splunktcp-ssl:9997]\n",
    )
    assert found["default"] | {"name": None} == {
        "name": None,
        "stanza_type": "default",
        "target": None,
        "index": "default",  # as written: the resolver reads it as main
        "sourcetype": None,
        "host": "uf-par-01",
        "disabled": None,
        "tcp_routing": None,
        "syslog_routing": None,
    }
    monitor = found["monitor:///var/log/secure"]
    assert (monitor["stanza_type"], monitor["target"]) == ("monitor", "/var/log/secure")
    assert (monitor["index"], monitor["sourcetype"], monitor["host"]) == (
        "os",
        "linux_secure",
        None,
    )
    assert monitor["disabled"] is False
    assert monitor["tcp_routing"] == ["primary_indexers", "dr_indexers"]
    udp = found["udp://514"]
    assert (udp["disabled"], udp["syslog_routing"], udp["tcp_routing"]) == (True, ["siem"], None)
    assert found["splunktcp-ssl:9997"]["target"] == "9997"


def test_an_unparseable_boolean_is_left_unset_with_a_finding_at_its_line() -> None:
    [result] = typed("inputs", "[monitor:///tmp]\ndisabled = 0\nindex = x\ndisabled = maybe\n")
    assert result.row is not None
    assert result.row["disabled"] is None
    [finding] = result.findings
    assert (finding.code, finding.line) == ("bad-boolean", 4)
    assert "[monitor:///tmp] disabled = 'maybe'" in finding.message


# -- props -----------------------------------------------------------------------------------

PALOALTO_PROPS = """
[pan_log]
pulldown_type = false
SHOULD_LINEMERGE = false
TIME_PREFIX = ^(?:[^,]*,){5}
MAX_TIMESTAMP_LOOKAHEAD = 100
TRANSFORMS-sourcetype = pan_threat, pan_traffic, pan_system, pan_config, pan_hipmatch, \
pan_correlation, pan_userid, pan_traps4, pan_threat_traps, pan_analytics_traps, \
pan_system_traps, pan_config_traps
""".replace("\\\n", "")

VCENTER_PROPS = """
[source::...vpxd-*.log]
sourcetype = vmware:vclog:vpxd
TRANSFORMS-null1 = vmware_vpxd_level_null
TRANSFORMS-null4 = vmware_vpxd_retrieveContents_null
TRANSFORMS-null5 = vmware_vpxd_null
TRANSFORMS-null2 = vmware_vpxd_level_null,vmware_vpxd_level_null2
"""


def test_props_transforms_keep_their_list_order() -> None:
    row = rows("props", PALOALTO_PROPS)["pan_log"]
    assert (row["target_kind"], row["pattern"]) == (PropsTarget.SOURCETYPE, "pan_log")
    [klass] = row["transforms"]
    assert klass["class"] == "sourcetype"
    assert klass["transforms"][:3] == ["pan_threat", "pan_traffic", "pan_system"]
    assert klass["transforms"][-1] == "pan_config_traps"
    assert len(klass["transforms"]) == 12


def test_props_transform_classes_run_in_ascii_order_of_the_class_name() -> None:
    row = rows("props", VCENTER_PROPS)["source::...vpxd-*.log"]
    assert (row["target_kind"], row["pattern"]) == (PropsTarget.SOURCE, "...vpxd-*.log")
    assert row["sourcetype"] == "vmware:vclog:vpxd"
    assert [c["class"] for c in row["transforms"]] == ["null1", "null2", "null4", "null5"]
    assert row["transforms"][1]["transforms"] == [
        "vmware_vpxd_level_null",
        "vmware_vpxd_level_null2",
    ]
    # ASCII: digits < uppercase < lowercase
    row = rows("props", "[st]\nTRANSFORMS-b = 3\nTRANSFORMS-B = 2\nTRANSFORMS-1 = 1\n")["st"]
    assert [c["transforms"] for c in row["transforms"]] == [["1"], ["2"], ["3"]]


def test_props_bare_transforms_key_is_the_class_named_empty_first() -> None:
    # As Splunk's own system/default/props.conf routes: `TRANSFORMS = syslog-host`.
    row = rows("props", "[syslog]\nTRANSFORMS-a = x\nTRANSFORMS = syslog-host, y\n")["syslog"]
    assert row["transforms"] == [
        {"class": "", "transforms": ["syslog-host", "y"]},
        {"class": "a", "transforms": ["x"]},
    ]
    assert rows("props", "[s]\nSEDCMD = x\n")["s"]["sedcmds"] == []  # not a SEDCMD class


@pytest.mark.parametrize(
    ("name", "kind", "pattern"),
    [
        ("source::/var/log/secure*", PropsTarget.SOURCE, "/var/log/secure*"),
        ("host::idx-*", PropsTarget.HOST, "idx-*"),
        ("rule::snort", PropsTarget.RULE, "snort"),
        ("delayedrule::syslog", PropsTarget.DELAYEDRULE, "syslog"),
        ("default", PropsTarget.DEFAULT, "default"),
        ("pan:log", PropsTarget.SOURCETYPE, "pan:log"),
        ("Source::x", PropsTarget.SOURCETYPE, "Source::x"),  # prefixes are case-sensitive
    ],
)
def test_props_target_kind_comes_from_the_stanza_name(
    name: str, kind: PropsTarget, pattern: str
) -> None:
    assert props_target(name) == (kind, pattern)


def test_props_keep_only_index_time_classes_sedcmds_rulesets_and_priority() -> None:
    row = rows(
        "props",
        "[host::fw-*]\npriority = 10\nSEDCMD-mask = s/pw=\\S+/pw=###/g\nSEDCMD-a = s/x/y/\n"
        "RULESET-route = r1, r2\nREPORT-fields = extract_a\nEXTRACT-id = (?<id>\\d+)\n",
    )["host::fw-*"]
    assert row["priority"] == 10
    assert row["sedcmds"] == [
        {"class": "a", "value": "s/x/y/"},
        {"class": "mask", "value": "s/pw=\\S+/pw=###/g"},
    ]
    assert row["rulesets"] == [{"class": "route", "transforms": ["r1", "r2"]}]
    assert row["transforms"] == []
    assert "REPORT-fields" not in str(row) and "EXTRACT-id" not in str(row)


def test_a_bad_props_priority_is_a_finding() -> None:
    [result] = typed("props", "[source::x]\npriority = high\n")
    assert result.row is not None and result.row["priority"] is None
    assert [f.code for f in result.findings] == ["bad-integer"]


# -- transforms --------------------------------------------------------------------------------

TRANSFORMS = """
[force_sourcetype_for_cisco_ios]
DEST_KEY = MetaData:Sourcetype
REGEX = :\\s(?:%|#)(?<facility>[A-Z0-9_]+)-
FORMAT = sourcetype::cisco:ios

[force_index_for_cisco_ios]
DEST_KEY = _MetaData:Index
REGEX = :\\s(?:%|#)(?<facility>[A-Z0-9_]+)-
FORMAT = ios

[route_pci]
SOURCE_KEY = MetaData:Host
REGEX = ^pci-
DEST_KEY = _TCP_ROUTING
FORMAT = pci_indexers

[vmware_vpxd_level_null]
REGEX = verbose
DEST_KEY = queue
FORMAT = nullQueue

[back_to_index]
REGEX = keep
DEST_KEY = queue
FORMAT = indexQueue

[extract_threat]
DELIMS = ","
FIELDS = a, b

[set_index_by_eval]
INGEST_EVAL = index=if(match(_raw, "pci"), "pci", index)
"""


def test_transforms_flags_say_what_dest_key_and_format_do() -> None:
    found = rows("transforms", TRANSFORMS)

    def flags(name: str) -> tuple[bool, ...]:
        r = found[name]
        return (r["rewrites_index"], r["rewrites_sourcetype"], r["routes"], r["null_queue"])

    assert flags("force_sourcetype_for_cisco_ios") == (False, True, False, False)
    assert found["force_sourcetype_for_cisco_ios"]["format"] == "sourcetype::cisco:ios"
    assert flags("force_index_for_cisco_ios") == (True, False, False, False)
    assert flags("route_pci") == (False, False, True, False)
    assert found["route_pci"]["source_key"] == "MetaData:Host"
    assert flags("vmware_vpxd_level_null") == (False, False, False, True)
    assert flags("back_to_index") == (False, False, False, False)
    assert flags("extract_threat") == (False, False, False, False)
    assert found["extract_threat"]["dest_key"] is None
    assert found["set_index_by_eval"]["ingest_eval"].startswith("index=if(")
    assert found["force_index_for_cisco_ios"]["regex"] == ":\\s(?:%|#)(?<facility>[A-Z0-9_]+)-"


@pytest.mark.parametrize(
    "dest_key", ["_TCP_ROUTING", "_SYSLOG_ROUTING", "_INDEX_AND_FORWARD_ROUTING"]
)
def test_every_routing_dest_key_routes(dest_key: str) -> None:
    row = rows("transforms", f"[t]\nREGEX = .\nDEST_KEY = {dest_key}\nFORMAT = g\n")["t"]
    assert row["routes"] is True


# -- indexes ---------------------------------------------------------------------------------


def test_indexes_rows_show_paths_retention_and_kind() -> None:
    found = rows(
        "indexes",
        # DCOM_DS_indexers/default/indexes.conf, plus what an admin sets next to it
        "[default]\nfrozenTimePeriodInSecs = 188697600\n\n"
        "[volume:hot]\npath = /mnt/fast\nmaxVolumeDataSizeMB = 500000\n\n"
        "[flowintegrator]\ncoldPath = $SPLUNK_DB/flowintegrator/colddb\n"
        "homePath = $SPLUNK_DB/flowintegrator/db\nthawedPath = $SPLUNK_DB/flowintegrator/thaweddb\n"
        "\n[metrics_os]\ndatatype = metric\nmaxTotalDataSizeMB = 20000\nrepFactor = auto\n"
        "disabled = false\nmaxDataSize = auto_high_volume\n",
    )
    assert found["default"]["kind"] is IndexKind.DEFAULT
    assert found["default"]["frozen_time_period_in_secs"] == 188697600
    assert found["volume:hot"]["kind"] is IndexKind.VOLUME
    flow = found["flowintegrator"]
    assert flow["kind"] is IndexKind.INDEX
    assert (flow["home_path"], flow["cold_path"], flow["thawed_path"]) == (
        "$SPLUNK_DB/flowintegrator/db",
        "$SPLUNK_DB/flowintegrator/colddb",
        "$SPLUNK_DB/flowintegrator/thaweddb",
    )
    assert flow["datatype"] is None and flow["disabled"] is None
    metrics = found["metrics_os"]
    assert (metrics["datatype"], metrics["max_total_data_size_mb"]) == ("metric", 20000)
    assert (metrics["rep_factor"], metrics["max_data_size"], metrics["disabled"]) == (
        "auto",
        "auto_high_volume",
        False,
    )


def test_a_non_integer_retention_is_left_unset_with_a_finding() -> None:
    [result] = typed("indexes", "[x]\nfrozenTimePeriodInSecs = 30d\nmaxTotalDataSizeMB = 1_000\n")
    assert result.row is not None
    assert result.row["frozen_time_period_in_secs"] is None
    assert result.row["max_total_data_size_mb"] is None
    assert [f.code for f in result.findings] == ["bad-integer", "bad-integer"]


# -- outputs ---------------------------------------------------------------------------------

# DCOM_DS_myforwarder/default/outputs.conf: a server list continued without backslashes, so
# the parser skips the next two lines (no `=`) and only the first server is configured.
DCOM_OUTPUTS = """
[tcpout]
defaultGroup = lb

[tcpout:lb]
autoLB = true
server=172.30.200.101:9997,
"""


def test_outputs_rows_hold_default_groups_and_group_servers() -> None:
    found = rows("outputs", DCOM_OUTPUTS)
    assert found["tcpout"]["kind"] is OutputKind.TCPOUT
    assert found["tcpout"]["default_group"] == ["lb"]
    assert found["tcpout"]["servers"] is None
    lb = found["tcpout:lb"]
    assert (lb["kind"], lb["group_name"], lb["servers"]) == (
        OutputKind.TCPOUT_GROUP,
        "lb",
        ["172.30.200.101:9997"],
    )


def test_outputs_kinds_for_servers_syslog_and_local_indexing() -> None:
    found = rows(
        "outputs",
        "[tcpout]\ndefaultGroup = primary, dr\nindexAndForward = true\n\n"
        "[tcpout:primary]\nserver = idx1:9997, idx2:9997\ndisabled = 0\n\n"
        "[tcpout-server://idx1:9997]\nsslCertPath = x\n\n"
        "[syslog:siem]\nserver = 10.0.0.9:514\n\n[indexAndForward]\nindex = false\n\n"
        "[httpout]\nuri = https://hec:8088\n\n[rfs]\npath = s3://x\n",
    )
    assert found["tcpout"]["default_group"] == ["primary", "dr"]
    assert found["tcpout"]["index_and_forward"] is True
    assert found["tcpout:primary"]["servers"] == ["idx1:9997", "idx2:9997"]
    assert found["tcpout:primary"]["disabled"] is False
    server = found["tcpout-server://idx1:9997"]
    assert (server["kind"], server["servers"], server["group_name"]) == (
        OutputKind.TCPOUT_SERVER,
        ["idx1:9997"],
        None,
    )
    syslog = found["syslog:siem"]
    assert (syslog["kind"], syslog["group_name"], syslog["servers"]) == (
        OutputKind.SYSLOG_GROUP,
        "siem",
        ["10.0.0.9:514"],
    )
    assert found["indexAndForward"]["kind"] is OutputKind.INDEX_AND_FORWARD
    assert found["indexAndForward"]["index_and_forward"] is False
    assert found["httpout"]["kind"] is OutputKind.HTTPOUT
    assert found["rfs"]["kind"] is OutputKind.OTHER


# -- serverclass -------------------------------------------------------------------------------

# DCOM's etc/system/local/serverclass.conf (first classes; the test below reads all of it).
DCOM_SERVERCLASS = """
[serverClass:SearchHead]
whitelist.0 = DCOMSearchHead*

[serverClass:Indexer]
whitelist.0 = DCOMIndexer*

[serverClass:SearchHead:app:DCOM_DS_SH_config]
restartSplunkWeb = 0
restartSplunkd = 0
stateOnClient = enabled
"""


def test_serverclass_rows_for_classes_and_their_apps() -> None:
    found = rows("serverclass", DCOM_SERVERCLASS)
    head = found["serverClass:SearchHead"]
    assert (head["kind"], head["server_class"], head["deployed_app"]) == (
        ServerClassKind.SERVER_CLASS,
        "SearchHead",
        None,
    )
    assert (head["whitelist"], head["blacklist"]) == (["DCOMSearchHead*"], None)
    app = found["serverClass:SearchHead:app:DCOM_DS_SH_config"]
    assert (app["kind"], app["server_class"], app["deployed_app"]) == (
        ServerClassKind.APP,
        "SearchHead",
        "DCOM_DS_SH_config",
    )
    assert (app["whitelist"], app["blacklist"], app["state_on_client"]) == (None, None, "enabled")


def test_whitelist_is_ordered_by_n_with_gaps_and_from_pathname_is_not_a_pattern() -> None:
    [result] = typed(
        "serverclass",
        "[serverClass:linux]\nwhitelist.10 = ten*\nwhitelist.2 = two*\nwhitelist.0 = zero*\n"
        "whitelist.from_pathname = etc/system/local/linux_hosts.csv\n"
        "whitelist.select_field = host\nwhitelist.where_field = os\n"
        "whitelist.where_equals = linux\n"
        "blacklist.3 = *-test-*\nfilterType = whitelist\n"
        "machineTypesFilter = linux-x86_64, linux-aarch64\nwhitelist.foo = nope\n",
    )
    row = result.row
    assert row is not None
    assert row["whitelist"] == ["zero*", "two*", "ten*"]
    assert row["whitelist_from_pathname"] == "etc/system/local/linux_hosts.csv"
    assert row["blacklist"] == ["*-test-*"]
    assert row["blacklist_from_pathname"] is None
    assert row["filter_type"] == "whitelist"
    assert row["machine_types_filter"] == ["linux-x86_64", "linux-aarch64"]
    [finding] = result.findings
    assert (finding.code, finding.line) == ("serverclass-list-key", 12)
    assert "whitelist.foo" in finding.message


def test_a_list_given_only_by_from_pathname_is_set_but_empty() -> None:
    row = rows("serverclass", "[serverClass:x]\nblacklist.from_pathname = bl.csv\n")[
        "serverClass:x"
    ]
    assert (row["whitelist"], row["blacklist"], row["blacklist_from_pathname"]) == (
        None,
        [],
        "bl.csv",
    )


def test_global_default_and_unknown_serverclass_stanzas() -> None:
    results = typed(
        "serverclass",
        "[global]\nrepositoryLocation = $SPLUNK_HOME/etc/deployment-apps\nfilterType = whitelist\n"
        "\n[default]\nrestartSplunkd = true\n\n[serverclass:lowercase]\nwhitelist.0 = x\n",
    )
    glob, default, unknown = results
    assert glob.row is not None and default.row is not None
    assert (glob.row["kind"], glob.row["server_class"]) == (ServerClassKind.GLOBAL, None)
    assert glob.row["repository_location"] == "$SPLUNK_HOME/etc/deployment-apps"
    assert glob.row["whitelist"] is None
    assert default.row["kind"] is ServerClassKind.DEFAULT
    assert (unknown.table, unknown.row) == (None, None)
    assert [f.code for f in unknown.findings] == ["serverclass-unknown-stanza"]


def test_the_whole_dcom_serverclass_conf_through_the_parser() -> None:
    parser = pytest.importorskip("daemon.conf.parser")
    path = CORPUS / "ds_etc" / "dcom" / "etc" / "system" / "local" / "serverclass.conf"
    if not path.exists():
        pytest.skip(f"corpus not found at {path}")
    parsed = parser.parse_conf(path.read_bytes())
    results = [normalize_stanza("serverclass", s) for s in parsed.stanzas]
    found = [r.row for r in results if r is not None and r.row is not None]
    classes = {r["server_class"]: r["whitelist"] for r in found if r["kind"] == "server_class"}
    assert classes == {
        "SearchHead": ["DCOMSearchHead*"],
        "Indexer": ["DCOMIndexer*"],
        "Forwarder": ["DCOMForwarder*"],
        "DCN": ["DCOMDCN*"],
    }
    apps = [(r["server_class"], r["deployed_app"]) for r in found if r["kind"] == "app"]
    assert len(apps) == 17
    assert ("DCN", "Splunk_TA_vmware") in apps
    assert all(r is not None and r.findings == () for r in results)
