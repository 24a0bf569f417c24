"""Golden test of data paths and path findings (RESOLVER.md §5, §6, §7) over a three-tier
estate, on SQLite and PostgreSQL: tests/fixtures/three_tier (its README.md draws the
topology and lists the planted problems).

Eight etc/ trees, each ingested as an `instance_etc` run labelled with its host name; each
names itself in etc/system/local/server.conf `[general] serverName`. None has a
system/default, so the shipped 10.4.2 one (daemon/resolve/system_default) stands in.

    uf-web01, uf-web02, uf-db01 (universal forwarders: etc/apps/SplunkUniversalForwarder)
        org_uf_outputs: [tcpout] defaultGroup = heavy_forwarders
                        [tcpout:heavy_forwarders] server = hf01:9997, hf02:9997
        uf-db01 also:   [tcpout:siem] server = siem.example.com:9997
    hf01, hf02 (heavy forwarders: etc/apps/SplunkForwarder, [install] state = enabled)
        org_hf_inputs:  [splunktcp://9997]
        org_hf_outputs: [tcpout] defaultGroup = indexer_cluster
                        [tcpout:indexer_cluster] server = idx01:9997, idx02:9997, idx03:9997
        org_hf_web_routing: props [access_combined] TRANSFORMS-route = route_server_errors;
                        transforms [route_server_errors] REGEX = "\\s5\\d\\d\\s (line 3),
                        DEST_KEY = _MetaData:Index, FORMAT = web_errors
        hf02 only, org_hf_cron_masking: props [cron] TRANSFORMS-mask = mask_cron_users,
                        which no transforms.conf of hf02 defines
    idx01, idx02, idx03 (indexers: indexes in an app and [splunktcp://9997]), identical:
        org_all_indexes: web, web_errors, os, db, _shopmetrics (+ system/default's main,
                        _internal, _audit, _introspection, _telemetry, _configtracker, ...)
        org_idx_filters: props [shop_app] TRANSFORMS-drop = drop_shop_debug;
                        transforms [drop_shop_debug] REGEX = \\sDEBUG\\s, queue -> nullQueue
        no outputs.conf: an indexer indexes what it reads and receives.

The rules every expectation below was derived from, by hand (never from the program's
output), named in the comment of each path:

- R-input (§5.1): every enabled stanza of the effective inputs.conf whose name has `://`,
  except splunktcp:// receivers; `disabled = 1` skips it. index = the input's own `index`, else
  the shipped `[default] index = default`, which is the receiving indexer's defaultDatabase
  (system/default indexes.conf line 22: main). sourcetype = the stanza's, else a
  `[source::<pattern>]` props stanza on the reading host (file inputs), else `tcp-raw` for
  tcp, `udp:<port>` for udp. source = the monitored path, `tcp:<port>`, `udp:<port>`.
- R-groups (§5.2): `_TCP_ROUTING`, else `[tcpout] defaultGroup`; the servers of a group are
  load-balanced (a hop to each), several groups clone (hops to all of them).
- R-filter (§5.2): the shipped forwardedindex filters (system/default outputs.conf:
  0.whitelist `.*`, 1.blacklist `_.*`, 2.whitelist `(_audit|_internal|...)`), tested from 0
  up, full match, the last matching one decides: `_shopmetrics` matches 0 and 1, not 2, so
  it is not forwarded: no hop, no final index, may_drop (INDEX_FILTERED).
- R-receiver (§5.3): `hfNN:9997`/`idxNN:9997` are estate hosts with a [splunktcp://9997];
  `siem.example.com:9997` is not (DANGLING_OUTPUT: a hop to None, its final index `unknown`
  at None).
- R-tier (§5.4): a universal forwarder does not parse (no force_local_processing, no
  INDEXED_EXTRACTIONS on our sourcetypes); the first heavy forwarder does, so every
  forwarder input is parsed on hf01/hf02 and never again on the indexers: the indexers'
  [shop_app] nullQueue has no effect (TRANSFORM_ON_WRONG_TIER on each indexer, may_drop stays
  false).
- R-rewrite (§5.6): a TRANSFORMS index rewrite whose REGEX is not `.`/`.*` is conditional:
  the final holds the input's index and FORMAT's index, both `conditional`.
- R-final (§5.7): one final entry per (indexer reached, index); an index that an indexer's
  effective indexes.conf does not define is UNDEFINED_INDEX there, and, with no
  lastChanceIndex anywhere, its data may be dropped (may_drop).
- R-local: an indexer's own inputs are indexed where they are read: no group, no hop, the
  final index at the indexer itself, and no NOT_FORWARDED (an indexer is not a forwarder).

Path findings are one per (code, host, subject), about the host whose configuration is at
fault. The TRANSFORMS- stanzas of the shipped system/default (e.g. [syslog], [stash_new])
sit on every host and are no finding.

Until the data-path resolver lands these tests fail with an unknown `paths` command; the
roles test passes already.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.parsing import RunParser
from daemon.pipeline import Pipeline
from daemon.resolving import resolve_estate
from daemon.storage import make_store
from tests.cli_driver import json_outputs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "three_tier"
UFS = ("uf-db01", "uf-web01", "uf-web02")
HFS = ("hf01", "hf02")
IDXS = ("idx01", "idx02", "idx03")
HOSTS = (*HFS, *IDXS, *UFS)  # ASCII order

ROUTING_TRANSFORMS = "etc/apps/org_hf_web_routing/local/transforms.conf"
ROUTING_REGEX = ('"\\s5\\d\\d\\s', 3)  # value, line in ROUTING_TRANSFORMS

# -- expected paths ----------------------------------------------------------------------------

Hop = tuple[str, str | None]  # (from, to); to None: a receiver outside the estate
Final = tuple[str, str | None, str]  # (index, at, certainty)

# R-groups + R-receiver: a heavy forwarder's indexer_cluster load-balances over the three
# indexers, each found by its serverName and its [splunktcp://9997].
HF_TO_IDX: list[Hop] = [(hf, idx) for hf in HFS for idx in IDXS]


def via_hfs(uf: str) -> list[Hop]:
    """R-groups: a forwarder's heavy_forwarders group load-balances over hf01 and hf02, each of
    which forwards on to the three indexers."""
    return [(uf, "hf01"), (uf, "hf02"), *HF_TO_IDX]


def at_every_indexer(index: str, certainty: str = "certain") -> list[Final]:
    """R-final: through either heavy forwarder the data reaches all three indexers."""
    return [(index, idx, certainty) for idx in IDXS]


# (host, input) -> the simplified view of view() below.
EXPECTED_PATHS: dict[tuple[str, str], dict[str, Any]] = {
    # R-input: explicit index web, sourcetype access_combined. R-groups: defaultGroup.
    # R-tier: parsed on hf01/hf02, whose [access_combined] TRANSFORMS-route may move it to
    # web_errors. R-rewrite: REGEX "\s5\d\d\s is neither `.` nor `.*`: both conditional.
    ("uf-web01", "monitor:///var/log/httpd/access_log"): {
        "index": "web",
        "sourcetype": "access_combined",
        "source": "/var/log/httpd/access_log",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-web01"),
        "final": at_every_indexer("web", "conditional")
        + at_every_indexer("web_errors", "conditional"),
        "may_drop": False,
    },
    # R-input: explicit shop_app. R-tier: the HFs parse it (no props for shop_app there);
    # the indexers' nullQueue for shop_app never runs on parsed data: web, certain, no drop.
    ("uf-web01", "monitor:///opt/shop/logs/app.log"): {
        "index": "web",
        "sourcetype": "shop_app",
        "source": "/opt/shop/logs/app.log",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-web01"),
        "final": at_every_indexer("web"),
        "may_drop": False,
    },
    # R-input: no sourcetype in the stanza; [source::.../logs/checkout.log] (`...` = any
    # characters) in org_shop_inputs/local/props.conf on uf-web01, the reading host, names
    # shop_checkout (no shipped source:: pattern matches this path).
    ("uf-web01", "monitor:///opt/shop/logs/checkout.log"): {
        "index": "web",
        "sourcetype": "shop_checkout",
        "source": "/opt/shop/logs/checkout.log",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-web01"),
        "final": at_every_indexer("web"),
        "may_drop": False,
    },
    # Same app as uf-web01's access log: same rules, same conditional rewrite on the HFs.
    ("uf-web02", "monitor:///var/log/httpd/access_log"): {
        "index": "web",
        "sourcetype": "access_combined",
        "source": "/var/log/httpd/access_log",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-web02"),
        "final": at_every_indexer("web", "conditional")
        + at_every_indexer("web_errors", "conditional"),
        "may_drop": False,
    },
    # ([monitor:///var/log/httpd/error_log] has disabled = 1: R-input, no path.)
    # R-filter: _shopmetrics is blacklisted by forwardedindex.1 (`_.*`) and not whitelisted
    # again by forwardedindex.2: not forwarded. Its group is still the defaultGroup, but no
    # hop is taken, no index reached, and the data goes nowhere.
    ("uf-web02", "monitor:///opt/shop/logs/metrics.log"): {
        "index": "_shopmetrics",
        "sourcetype": "shop_metrics",
        "source": "/opt/shop/logs/metrics.log",
        "groups": ["heavy_forwarders"],
        "hops": [],
        "final": [],
        "may_drop": True,
    },
    # R-input: a tcp input without sourcetype: tcp-raw; source tcp:<port>.
    ("uf-web02", "tcp://5140"): {
        "index": "os",
        "sourcetype": "tcp-raw",
        "source": "tcp:5140",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-web02"),
        "final": at_every_indexer("os"),
        "may_drop": False,
    },
    # R-final: the indexers define db, not database: UNDEFINED_INDEX on each; no
    # lastChanceIndex, so the events may be dropped.
    ("uf-db01", "monitor:///var/lib/pgsql/data/log/postgresql.log"): {
        "index": "database",
        "sourcetype": "postgresql",
        "source": "/var/lib/pgsql/data/log/postgresql.log",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-db01"),
        "final": at_every_indexer("database"),
        "may_drop": True,
    },
    # R-groups: _TCP_ROUTING = heavy_forwarders, siem overrides defaultGroup; the two groups
    # clone. R-receiver: siem.example.com is no estate host: a hop to None, its final
    # `unknown` at None (DANGLING_OUTPUT); nothing says the clone is dropped.
    ("uf-db01", "monitor:///var/log/audit/audit.log"): {
        "index": "os",
        "sourcetype": "linux_audit",
        "source": "/var/log/audit/audit.log",
        "groups": ["heavy_forwarders", "siem"],
        "hops": [*via_hfs("uf-db01"), ("uf-db01", None)],
        "final": [*at_every_indexer("os"), ("os", None, "unknown")],
        "may_drop": False,
    },
    # R-input: no index anywhere but the shipped [default] index = default, which each
    # indexer's defaultDatabase makes main. hf02's [cron] TRANSFORMS-mask names a transform
    # that does not exist (MISSING_TRANSFORM): nothing is rewritten.
    ("uf-db01", "monitor:///var/log/cron"): {
        "index": "default",
        "sourcetype": "cron",
        "source": "/var/log/cron",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-db01"),
        "final": at_every_indexer("main"),
        "may_drop": False,
    },
    # R-input: a udp input without sourcetype: udp:<port>; source udp:<port>.
    ("uf-db01", "udp://514"): {
        "index": "os",
        "sourcetype": "udp:514",
        "source": "udp:514",
        "groups": ["heavy_forwarders"],
        "hops": via_hfs("uf-db01"),
        "final": at_every_indexer("os"),
        "may_drop": False,
    },
}

# The enabled `://` stanzas of the shipped system/default inputs.conf (lines 26-70; the
# [fschange:...] ones have no `://`): every host reads them, as Splunk does.
SHIPPED_INPUTS = (
    "monitor://$SPLUNK_HOME/var/log/splunk",
    "monitor://$SPLUNK_HOME/var/log/watchdog/watchdog.log*",
    "monitor://$SPLUNK_HOME/var/log/splunk/license_usage_summary.log*",
    "monitor://$SPLUNK_HOME/var/log/splunk/splunk_instrumentation_cloud.log*",
    "monitor://$SPLUNK_HOME/etc/splunk.version",
    "monitor://$SPLUNK_HOME/var/log/splunk/configuration_change.log",
    "batch://$SPLUNK_HOME/var/run/splunk/search_telemetry/*search_telemetry.json",
    "batch://$SPLUNK_HOME/var/spool/splunk",
    "batch://$SPLUNK_HOME/var/spool/splunk/tracker.log*",
    "batch://$SPLUNK_HOME/var/spool/splunk/...stash_new",
    "batch://$SPLUNK_HOME/var/spool/splunk/...stash_hec",
    # [fschange:<path>] is an input too (no `://`), shipped enabled for etc/;
    # [fschange:$SPLUNK_HOME/var/lib/splunk/modinputs] is shipped disabled = 1.
    "fschange:$SPLUNK_HOME/etc",
)
SPLUNKD_LOGS = "monitor://$SPLUNK_HOME/var/log/splunk"

# host -> (groups, hops, final) of its [monitor://$SPLUNK_HOME/var/log/splunk], index
# _internal (system/default inputs.conf line 27).
EXPECTED_INTERNAL: dict[str, tuple[list[str], list[Hop], list[Final]]] = {
    # R-filter: _internal matches 0 (.*), 1 (_.*) and 2 (the internal list): the last one,
    # a whitelist, decides: forwarded. R-groups: defaultGroup heavy_forwarders.
    **{uf: (["heavy_forwarders"], via_hfs(uf), at_every_indexer("_internal")) for uf in UFS},
    # R-groups: defaultGroup indexer_cluster, load-balanced over the three indexers.
    **{
        hf: (["indexer_cluster"], [(hf, idx) for idx in IDXS], at_every_indexer("_internal"))
        for hf in HFS
    },
    # R-local: indexed where it is read.
    **{idx: ([], [], [("_internal", idx, "certain")]) for idx in IDXS},
}

# -- expected findings -------------------------------------------------------------------------

PATH_CODES = frozenset(
    {
        "UNDEFINED_INDEX",
        "DANGLING_OUTPUT",
        "NOT_FORWARDED",
        "INDEX_FILTERED",
        "MISSING_TRANSFORM",
        "TRANSFORM_ON_WRONG_TIER",
        "ROUTING_LOOP",
        "SHADOWED_SETTING",
    }
)
# (code, host), sorted. Every finding of the estate: the estate has no deployment server and
# no client list (no serverclass findings, no HOST_UNMANAGED), no two apps of a host set one
# key (no SHADOWED_SETTING), no output group reaches back (no ROUTING_LOOP), and every host
# forwards or indexes (no NOT_FORWARDED).
EXPECTED_FINDINGS = sorted(
    [
        # (b) the indexers' [shop_app] TRANSFORMS-drop: shop_app arrives parsed by a heavy
        # forwarder (R-tier); the transform sits on each of the three indexers.
        ("TRANSFORM_ON_WRONG_TIER", "idx01"),
        ("TRANSFORM_ON_WRONG_TIER", "idx02"),
        ("TRANSFORM_ON_WRONG_TIER", "idx03"),
        # (c) index database reaches idx01..03, none of which defines it (R-final).
        ("UNDEFINED_INDEX", "idx01"),
        ("UNDEFINED_INDEX", "idx02"),
        ("UNDEFINED_INDEX", "idx03"),
        # (d) uf-db01's [tcpout:siem] server = siem.example.com:9997 (R-receiver); the shipped
        # splunk.version input's _TCP_ROUTING = * reaches it too: same host, same subject.
        ("DANGLING_OUTPUT", "uf-db01"),
        # (e) uf-web02's _shopmetrics input against its default forwardedindex list (R-filter).
        ("INDEX_FILTERED", "uf-web02"),
        # (f) hf02's [cron] TRANSFORMS-mask = mask_cron_users: no layer of hf02 defines it.
        ("MISSING_TRANSFORM", "hf02"),
    ]
)

# group -> its servers on the universal forwarders (org_uf_outputs)
SERVERS = {"heavy_forwarders": ["hf01:9997", "hf02:9997"], "siem": ["siem.example.com:9997"]}

# paths --index I: the (host, input) whose final indexes include I (R-final, R-rewrite).
EXPECTED_BY_INDEX = {
    "web_errors": [
        ("uf-web01", "monitor:///var/log/httpd/access_log"),
        ("uf-web02", "monitor:///var/log/httpd/access_log"),
    ],
    "web": [
        ("uf-web01", "monitor:///opt/shop/logs/app.log"),
        ("uf-web01", "monitor:///opt/shop/logs/checkout.log"),
        ("uf-web01", "monitor:///var/log/httpd/access_log"),
        ("uf-web02", "monitor:///var/log/httpd/access_log"),
    ],
    # the audit log's clone to the SIEM keeps os as its (unknown) final index
    "os": [
        ("uf-db01", "monitor:///var/log/audit/audit.log"),
        ("uf-db01", "udp://514"),
        ("uf-web02", "tcp://5140"),
    ],
    "database": [("uf-db01", "monitor:///var/lib/pgsql/data/log/postgresql.log")],
    # filtered on the forwarder (R-filter): it reaches no indexer, yet --index matches what
    # an input reads too, so the admin asking why the index is empty finds the forwarder.
    "_shopmetrics": [("uf-web02", "monitor:///opt/shop/logs/metrics.log")],
}

# -- the estate --------------------------------------------------------------------------------


def _tar(host: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(FIXTURES / host / "etc", arcname="etc")
    return buffer.getvalue()


class Estate:
    def __init__(self, db: Database, runs: dict[str, int]) -> None:
        self.db = db
        self.runs = runs


@pytest.fixture
def estate(config: Config, db: Database, tmp_path: Path) -> Estate:
    """The eight trees, one instance_etc run each labelled with its host, parsed and resolved."""
    store = make_store(config.storage)
    runs: dict[str, int] = {}
    for host in HOSTS:
        path = tmp_path / f"{host}.tgz"
        path.write_bytes(_tar(host))
        outcome = Pipeline(config, db, store).ingest(path, UploadType.INSTANCE_ETC, host)
        assert outcome.run_id is not None
        parser = RunParser(config, db, store)
        parser.claim(outcome.run_id)
        assert parser.parse_claimed(outcome.run_id).status == "complete"
        runs[host] = outcome.run_id
    assert resolve_estate(config, db).resolution_id is not None
    return Estate(db, runs)


def autodoc_json(estate: Estate, folder: Path, *commands: tuple[str, ...]) -> list[Any]:
    """The parsed --json output of each `autodoc --config C COMMAND...`; each must exit 0."""
    return json_outputs(estate.db.url, folder, *commands)


# -- views -------------------------------------------------------------------------------------


def hops(path: dict[str, Any]) -> list[Hop]:
    return sorted({(r["from"], r["to"]) for r in path["receivers"]}, key=repr)


def finals(path: dict[str, Any]) -> list[Final]:
    return sorted({(f["index"], f["at"], f["certainty"]) for f in path["final"]}, key=repr)


def view(path: dict[str, Any]) -> dict[str, Any]:
    """What the golden table fixes of a path; wording and evidence details left out."""
    return {
        "index": path["index"],
        "sourcetype": path["sourcetype"],
        "source": path["source"],
        "groups": path["groups"],
        "hops": hops(path),
        "final": finals(path),
        "may_drop": path["may_drop"],
    }


def expected_view(key: tuple[str, str]) -> dict[str, Any]:
    want = EXPECTED_PATHS[key]
    return {
        **want,
        "hops": sorted(set(want["hops"]), key=repr),
        "final": sorted(set(want["final"]), key=repr),
    }


def keys(paths: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((p["host"], p["input"]) for p in paths)


def own(paths: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The paths of the inputs the fixtures write (not the shipped system/default ones)."""
    return {(p["host"], p["input"]): p for p in paths if p["input"] not in SHIPPED_INPUTS}


# -- the tests ---------------------------------------------------------------------------------


def test_each_tree_is_the_host_and_role_it_claims(estate: Estate, tmp_path: Path) -> None:
    # RESOLVER.md §2: serverName names the host; SplunkUniversalForwarder -> uf,
    # SplunkForwarder (enabled) -> hf, indexes.conf outside system/default plus an enabled
    # [splunktcp://9997] -> indexer.
    [listed] = autodoc_json(estate, tmp_path / "cli", ("hosts", "--json"))
    roles = {"uf-db01": "uf", "uf-web01": "uf", "uf-web02": "uf", "hf01": "hf", "hf02": "hf"}
    assert [(h["name"], h["role"]) for h in listed] == [
        (host, roles.get(host, "indexer")) for host in HOSTS
    ]
    assert [h["sources"] for h in listed] == [
        [f"instance_etc:run {estate.runs[host]}"] for host in HOSTS
    ]


def test_every_path_of_the_three_tier_estate_is_the_golden_one(
    estate: Estate, tmp_path: Path
) -> None:
    every, web01, checkout = autodoc_json(
        estate,
        tmp_path / "cli",
        ("paths", "--json"),
        ("paths", "--host", "uf-web01", "--json"),
        ("paths", "--sourcetype", "shop_checkout", "--json"),
    )
    got = own(every)
    # Exactly the inputs of the table: the disabled error_log and the splunktcp receivers of
    # the HFs and indexers are no path (R-input).
    assert sorted(got) == sorted(EXPECTED_PATHS)
    for key in sorted(EXPECTED_PATHS):
        assert view(got[key]) == expected_view(key), key
        # servers: the servers of its groups, as written (R-groups)
        assert sorted(got[key]["servers"]) == sorted(
            s for g in EXPECTED_PATHS[key]["groups"] for s in SERVERS[g]
        ), key

    # --host and --sourcetype filter the same rows.
    assert [p for p in every if p["host"] == "uf-web01"] == web01
    assert keys(checkout) == [("uf-web01", "monitor:///opt/shop/logs/checkout.log")]


def test_paths_json_spliced_from_the_stored_text_is_what_host_json_decodes(
    estate: Estate, tmp_path: Path
) -> None:
    # `paths --json` writes the stored JSON text as it is (load.stored_paths_json); `host
    # NAME --json` decodes the rows (load.stored_paths): the two must tell the same paths.
    every, *hosts = autodoc_json(
        estate,
        tmp_path / "cli",
        ("paths", "--json"),
        *(("host", host, "--json") for host in HOSTS),
    )
    for host, shown in zip(HOSTS, hosts, strict=True):
        assert [p for p in every if p["host"] == host] == shown["paths"], host


def test_the_shipped_internal_inputs_are_paths_on_every_host(
    estate: Estate, tmp_path: Path
) -> None:
    """R-input counts every enabled `://` stanza of the effective inputs.conf, the shipped
    system/default's included: Splunk reads them on every host, and a forwarder's _internal
    is what an administrator looks for first."""
    [every] = autodoc_json(estate, tmp_path / "cli", ("paths", "--json"))
    # Every host also reads the shipped system/default inputs (R-input).
    for host in HOSTS:
        assert sorted(i for h, i in keys(every) if h == host and i in SHIPPED_INPUTS) == sorted(
            SHIPPED_INPUTS
        ), host
    internal = {p["host"]: p for p in every if p["input"] == SPLUNKD_LOGS}
    for host, (groups, want_hops, want_final) in EXPECTED_INTERNAL.items():
        path = internal[host]
        assert path["index"] == "_internal", host
        assert path["groups"] == groups, host
        assert hops(path) == sorted(set(want_hops), key=repr), host
        assert finals(path) == sorted(set(want_final), key=repr), host


def test_a_conditional_rewrite_shows_the_transform_it_rests_on(
    estate: Estate, tmp_path: Path
) -> None:
    [web01] = autodoc_json(estate, tmp_path / "cli", ("paths", "--host", "uf-web01", "--json"))
    [access] = [p for p in web01 if p["input"] == "monitor:///var/log/httpd/access_log"]
    # R-rewrite: the path rests on the heavy forwarders' REGEX, named with its file and line
    # (hf01's or hf02's copy, both parse it).
    regex = [
        e
        for e in access["evidence"]
        if e["conf"] in ("transforms", "transforms.conf")
        and e["stanza"] == "route_server_errors"
        and e["key"] == "REGEX"
    ]
    assert regex, access["evidence"]
    hf_runs = {estate.runs[hf] for hf in HFS}
    for e in regex:
        assert (e["value"], e["line"]) == ROUTING_REGEX
        assert e["file"] == ROUTING_TRANSFORMS
        assert e["app"] == "org_hf_web_routing"
        assert e["run"] in hf_runs
    # and on the props class that calls it
    assert any(
        e["stanza"] == "access_combined" and e["key"] == "TRANSFORMS-route"
        for e in access["evidence"]
    ), access["evidence"]


def test_paths_by_index_lists_exactly_the_feeders(estate: Estate, tmp_path: Path) -> None:
    indexes = sorted(EXPECTED_BY_INDEX)
    answers = autodoc_json(
        estate, tmp_path / "cli", *(("paths", "--index", i, "--json") for i in indexes)
    )
    for index, got in zip(indexes, answers, strict=True):
        assert keys(got) == sorted(EXPECTED_BY_INDEX[index]), index


def test_findings_are_the_planted_problems_and_nothing_else(estate: Estate, tmp_path: Path) -> None:
    every, about_hf02 = autodoc_json(
        estate,
        tmp_path / "cli",
        ("findings", "--json"),
        ("findings", "--host", "hf02", "--json"),
    )
    assert sorted((f["code"], f["host"]) for f in every) == EXPECTED_FINDINGS
    assert all(f["code"] in PATH_CODES for f in every)
    # one finding per (code, host, subject)
    assert len({(f["code"], f["host"], f["subject"]) for f in every}) == len(every)
    assert all(f["message"] and f["evidence"] for f in every), every
    assert [(f["code"], f["host"]) for f in about_hf02] == [("MISSING_TRANSFORM", "hf02")]
