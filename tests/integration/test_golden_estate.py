"""Golden test of a resolution (RESOLVER.md §2, §3, §7) over the DCOM deployment server and a
client list written for it, on SQLite and PostgreSQL.

The corpus (../shared/corpus/ds_etc/dcom) holds one serverclass.conf,
etc/system/local/serverclass.conf, and no serverclass.conf in any app; no `[global]`, no
`filterType`, no blacklist, no `machineTypesFilter`, no `whitelist.from_pathname`, no
`repositoryLocation`/`targetRepositoryLocation`. Its four classes (line of their only
whitelist entry):

    [serverClass:SearchHead] whitelist.0 = DCOMSearchHead*   line 2
    [serverClass:Indexer]    whitelist.0 = DCOMIndexer*      line 5
    [serverClass:Forwarder]  whitelist.0 = DCOMForwarder*    line 8
    [serverClass:DCN]        whitelist.0 = DCOMDCN*          line 11

and seventeen app stanzas, each `restartSplunkWeb = 0`, `restartSplunkd = 0`,
`stateOnClient = enabled` (APP_STANZAS below gives the line of each `stateOnClient`). Every
app they name has its folder in etc/deployment-apps (checked with `ls`); the repository holds
30 apps, 17 of which no class names. The bundle has no etc/splunk.version (DS version
unknown) and no etc/system/default, so `filterType` and `targetRepositoryLocation` take
RESOLVER.md §3's defaults, `whitelist` and `$SPLUNK_HOME/etc/apps` (the shipped 10.4.2
system/default `[global]` says the same: lines 35 and 25).

The client list is tests/fixtures/estate/dcom_clients.csv; each row's expected result is
derived below, in comments, from the rules of RESOLVER.md §3 — never from the program's
output. Rules used throughout:

- R-pattern: `*` = any run of characters (dots included), `.` a literal dot,
  case-insensitive, the whole value must match (*ours*, stated once in a PATTERN_FULL_MATCH
  finding); a value matches a host if it matches any of client_name, ip, dns, hostname, guid.
- R-filter: `filterType = whitelist` (§3's default; no stanza sets it): member = any whitelist
  AND NOT any blacklist. No blacklist is written anywhere; the class defines `whitelist.0`,
  which makes the class the level of *both* lists ("defining any whitelist.* or blacklist.*
  at a level drops both inherited lists"), so its blacklist is the class's own, empty one,
  and member = the whitelist matches.
- R-unknown: a result is `unknown` when an attribute the host lacks could change it. No
  `DCOM...*` pattern can match an IP (digits and dots) nor a GUID (hex digits and dashes: `O`,
  `M`, `S`... are not hex), so only a missing client_name, dns or hostname can make a class
  unknown; a whitelist hit on a known attribute decides `member` whatever is missing.
- R-why: the deciding entry is reported with the first attribute that matches in
  serverclass.conf.spec's order (clientName, IP, reverse-DNS name, client hostname, GUID).
- R-apps: a host gets the apps of every class it is `member` of (`deployed`) or `unknown` in
  (`unknown`); an app several classes deliver is delivered once, with the settings of the first
  class in ASCII order that surely delivers it; all DCOM app stanzas agree (stateOnClient
  enabled, default repository and target), so no APP_MULTIPLY_ASSIGNED. `target` is §3's
  default targetRepositoryLocation. restartSplunkd (0 in every stanza) is not part
  of what RESOLVER.md §3/§7 resolve or show, so it is not asserted.

An empty CSV cell is an attribute the client list does not give: unknown, never guessed
empty. What this corpus cannot exercise (no such setting in it): blacklist hits,
machineTypesFilter, from_pathname, a missing app (APP_NOT_IN_REPOSITORY); with members in
every class, no SERVERCLASS_EMPTY either. EXPECTED_FINDINGS asserts that none of them appears.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.models import (
    HostApp,
    HostMembership,
    Resolution,
    ResolutionFinding,
    ResolvedHost,
)
from daemon.parsing import RunParser
from daemon.pipeline import Pipeline
from daemon.resolving import resolve_estate
from daemon.storage import make_store
from tests.cli_driver import json_outputs

DCOM = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "ds_etc" / "dcom"
CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "estate" / "dcom_clients.csv"
LABEL = "dcom"
SERVERCLASS_CONF = "etc/system/local/serverclass.conf"
TARGET = "$SPLUNK_HOME/etc/apps"  # §3: targetRepositoryLocation's default

CLASSES = ("DCN", "Forwarder", "Indexer", "SearchHead")  # ASCII order
# class -> (its whitelist.0, the line of that entry in etc/system/local/serverclass.conf)
WHITELIST = {
    "SearchHead": ("DCOMSearchHead*", 2),
    "Indexer": ("DCOMIndexer*", 5),
    "Forwarder": ("DCOMForwarder*", 8),
    "DCN": ("DCOMDCN*", 11),
}
# class -> the apps its [serverClass:X:app:Y] stanzas name (line of stateOnClient = enabled).
APP_STANZAS = {
    "SearchHead": {
        "DCOM_DS_SH_config": 16,
        "fire_brigade": 21,
        "maps": 26,
        "timewrap": 31,
        "sideview_utils": 36,
        "sos": 41,
    },
    "Indexer": {"sideview_utils": 46, "fire_brigade": 51, "DCOM_DS_indexers": 56, "sos": 61},
    "Forwarder": {"DCOM_DS_myforwarder": 66},
    "DCN": {
        "SA-Utils": 71,
        "Splunk_TA_esxilogs": 76,
        "SA-Hydra": 81,
        "Splunk_TA_vcenter": 86,
        "Splunk_TA_vmware": 91,
        "DCOM_DS_myforwarder": 96,
    },
}
# The repository's 30 folders minus the 13 apps named above (ls etc/deployment-apps).
UNUSED_APPS = (
    "DCOM",
    "DCOM_DS_DCN",
    "SA-Threshold",
    "SA-VMW-HierarchyInventory",
    "SA-VMW-LogEventTask",
    "SA-VMW-Performance",
    "SA-cisco-asa",
    "Splunk_CiscoSecuritySuite",
    "Splunk_TA_cisco-asa",
    "TA-cisco_ios",
    "TA-netflowlogic",
    "cisco_ios",
    "dbx",
    "netflow",
    "snmp_ta",
    "splunk_app_stream",
    "splunk_for_vmware",
)


# -- expected class results ------------------------------------------------------------------


def member(attribute: str, value: str) -> tuple[str, tuple[str, str] | None, list[str]]:
    """`member`, decided by whitelist.0 matching this attribute's value."""
    return ("member", (attribute, value), [])


NOT = ("not_member", None, [])


def unknown(*missing: str) -> tuple[str, tuple[str, str] | None, list[str]]:
    """`unknown`, lacking these attributes (serverclass.conf.spec's order)."""
    return ("unknown", None, list(missing))


# host name -> CSV row -> class -> (result, deciding (attribute, value), missing).
# A host's name is its clientName, else hostname, dns, ip (row 10 has only an ip).
EXPECTED_CLASSES: dict[str, dict[str, tuple[str, tuple[str, str] | None, list[str]]]] = {
    # Row 1: clientName dcomsearchhead01, hostname sh-a, dns sh-a.corp.example, a GUID.
    "dcomsearchhead01": {
        # whitelist.0 = DCOMSearchHead* (line 2) matches client_name "dcomsearchhead01":
        # case-insensitive (R-pattern); client_name is first in the spec's order (R-why).
        "SearchHead": member("client_name", "dcomsearchhead01"),
        # Every name attribute is known and none starts with DCOMIndexer / DCOMForwarder /
        # DCOMDCN; the ip and GUID cannot match (R-unknown): not_member.
        "Indexer": NOT,
        "Forwarder": NOT,
        "DCN": NOT,
    },
    # Row 2: clientName sh02, hostname DCOMSearchHead02, dns sh02.corp.example, no GUID.
    "sh02": {
        # client_name sh02, ip, dns sh02.corp.example do not match DCOMSearchHead*; the
        # hostname does (line 2). The missing GUID cannot matter (R-unknown).
        "SearchHead": member("hostname", "DCOMSearchHead02"),
        "Indexer": NOT,
        "Forwarder": NOT,
        "DCN": NOT,
    },
    # Row 3: clientName idx01, hostname idx01, dns DCOMIndexer01.corp.example.
    "idx01": {
        "SearchHead": NOT,
        # whitelist.0 = DCOMIndexer* (line 5): `*` runs over ".corp.example" (R-pattern), so
        # the reverse-DNS name matches as a whole value; client_name idx01 does not.
        "Indexer": member("dns", "DCOMIndexer01.corp.example"),
        "Forwarder": NOT,
        "DCN": NOT,
    },
    # Row 4: clientName fwd01, hostname DCOMForwarder01, utsname windows-x64.
    "fwd01": {
        "SearchHead": NOT,
        "Indexer": NOT,
        # whitelist.0 = DCOMForwarder* (line 8) matches the hostname; no class has a
        # machineTypesFilter, so a Windows machine type changes nothing.
        "Forwarder": member("hostname", "DCOMForwarder01"),
        "DCN": NOT,
    },
    # Row 5: clientName DCOMDCN01, hostname dcn01, dns dcomforwarder-dcn01.corp.example.
    "DCOMDCN01": {
        "SearchHead": NOT,
        "Indexer": NOT,
        # A host may match several classes through different attributes: its dns matches
        # DCOMForwarder* (line 8, case-insensitive), its client name DCOMDCN* (line 11).
        "Forwarder": member("dns", "dcomforwarder-dcn01.corp.example"),
        "DCN": member("client_name", "DCOMDCN01"),
    },
    # Row 6: clientName DCOMIndexer03, hostname DCOMSearchHead03, dns both03.corp.example.
    "DCOMIndexer03": {
        "SearchHead": member("hostname", "DCOMSearchHead03"),  # line 2
        "Indexer": member("client_name", "DCOMIndexer03"),  # line 5
        "Forwarder": NOT,
        "DCN": NOT,
    },
    # Row 7: clientName web01, hostname webDCOMSearchHead01, dns web01.dcomindexer.example:
    # near misses of the whole-value rule (R-pattern): DCOMSearchHead* must match from the
    # first character, DCOMIndexer* is only inside the dns name. In no class.
    "web01": {"SearchHead": NOT, "Indexer": NOT, "Forwarder": NOT, "DCN": NOT},
    # Row 8: clientName DCOMDC-01 (DCOMDCN* needs the N), hostname DCOMIndexe01 (DCOMIndexer*
    # needs the r), dns dcomforwarde01.corp.example (DCOMForwarder* needs the r). In no class.
    "DCOMDC-01": {"SearchHead": NOT, "Indexer": NOT, "Forwarder": NOT, "DCN": NOT},
    # Row 9: clientName DCOMSearchHead05; hostname, dns and guid empty (unknown).
    "DCOMSearchHead05": {
        # The client name matches (line 2): with no blacklist, nothing missing can undo a
        # whitelist hit (R-filter, R-unknown: T OR ? = T).
        "SearchHead": member("client_name", "DCOMSearchHead05"),
        # Its client name and ip match none of the other three patterns, but its unknown dns
        # or hostname could: unknown, lacking both (R-unknown).
        "Indexer": unknown("dns", "hostname"),
        "Forwarder": unknown("dns", "hostname"),
        "DCN": unknown("dns", "hostname"),
    },
    # Row 10: only an ip (10.20.0.99): no pattern can match an IP; the client name, dns and
    # hostname it lacks could match any of the four: unknown everywhere.
    "10.20.0.99": {c: unknown("client_name", "dns", "hostname") for c in CLASSES},
    # Row 11: clientName app07, hostname app07, dns empty: the names it has match nothing,
    # its dns could match any class: unknown, lacking dns alone.
    "app07": {c: unknown("dns") for c in CLASSES},
}

# Host name -> (CSV row, clientName, hostname, ip, dns, guid, utsname): the identity of
# each row as written (RESOLVER.md §2: only the inventory names these hosts; the four
# whitelist entries are patterns, which never create hosts).
ROWS: dict[str, tuple[int, str | None, str | None, str, str | None, str | None, str]] = {
    "dcomsearchhead01": (
        1,
        "dcomsearchhead01",
        "sh-a",
        "10.20.0.11",
        "sh-a.corp.example",
        "8C5A1C2E-0B1D-4E4F-9A2B-3C4D5E6F7A01",
        "linux-x86_64",
    ),
    "sh02": (
        2,
        "sh02",
        "DCOMSearchHead02",
        "10.20.0.12",
        "sh02.corp.example",
        None,
        "linux-x86_64",
    ),
    "idx01": (
        3,
        "idx01",
        "idx01",
        "10.20.0.21",
        "DCOMIndexer01.corp.example",
        None,
        "linux-x86_64",
    ),
    "fwd01": (
        4,
        "fwd01",
        "DCOMForwarder01",
        "10.20.0.31",
        "fwd01.corp.example",
        None,
        "windows-x64",
    ),
    "DCOMDCN01": (
        5,
        "DCOMDCN01",
        "dcn01",
        "10.20.0.41",
        "dcomforwarder-dcn01.corp.example",
        None,
        "linux-x86_64",
    ),
    "DCOMIndexer03": (
        6,
        "DCOMIndexer03",
        "DCOMSearchHead03",
        "10.20.0.23",
        "both03.corp.example",
        None,
        "linux-x86_64",
    ),
    "web01": (
        7,
        "web01",
        "webDCOMSearchHead01",
        "10.20.0.51",
        "web01.dcomindexer.example",
        None,
        "linux-x86_64",
    ),
    "DCOMDC-01": (
        8,
        "DCOMDC-01",
        "DCOMIndexe01",
        "10.20.0.52",
        "dcomforwarde01.corp.example",
        None,
        "linux-x86_64",
    ),
    "DCOMSearchHead05": (9, "DCOMSearchHead05", None, "10.20.0.15", None, None, "linux-x86_64"),
    "10.20.0.99": (10, None, None, "10.20.0.99", None, None, "linux-x86_64"),
    "app07": (11, "app07", "app07", "10.20.0.61", None, None, "linux-x86_64"),
}


# -- expected apps ---------------------------------------------------------------------------

# host -> app -> (result, classes delivering it (ASCII order), the stanza whose settings
# apply). Derived from EXPECTED_CLASSES and APP_STANZAS by R-apps, written out by hand.
AppRow = tuple[str, list[str], str]


def _sh(app: str, result: str = "deployed") -> AppRow:
    return (result, ["SearchHead"], f"serverClass:SearchHead:app:{app}")


def _dcn(app: str, result: str = "deployed") -> AppRow:
    return (result, ["DCN"], f"serverClass:DCN:app:{app}")


SEARCH_HEAD_ONLY = {
    "DCOM_DS_SH_config": _sh("DCOM_DS_SH_config"),
    "fire_brigade": _sh("fire_brigade"),
    "maps": _sh("maps"),
    "sideview_utils": _sh("sideview_utils"),
    "sos": _sh("sos"),
    "timewrap": _sh("timewrap"),
}
DCN_ONLY = ("SA-Hydra", "SA-Utils", "Splunk_TA_esxilogs", "Splunk_TA_vcenter", "Splunk_TA_vmware")
BOTH = ["Indexer", "SearchHead"]
# Every app of every class, all unknown: hosts unknown in all four classes.
ALL_UNKNOWN: dict[str, AppRow] = {
    "DCOM_DS_SH_config": _sh("DCOM_DS_SH_config", "unknown"),
    "DCOM_DS_indexers": ("unknown", ["Indexer"], "serverClass:Indexer:app:DCOM_DS_indexers"),
    # DCN and Forwarder both name it: settings of the first in ASCII order (DCN); neither
    # surely delivers it, and they agree, so those settings stand.
    "DCOM_DS_myforwarder": (
        "unknown",
        ["DCN", "Forwarder"],
        "serverClass:DCN:app:DCOM_DS_myforwarder",
    ),
    **{app: _dcn(app, "unknown") for app in DCN_ONLY},
    "fire_brigade": ("unknown", BOTH, "serverClass:Indexer:app:fire_brigade"),
    "maps": _sh("maps", "unknown"),
    "sideview_utils": ("unknown", BOTH, "serverClass:Indexer:app:sideview_utils"),
    "sos": ("unknown", BOTH, "serverClass:Indexer:app:sos"),
    "timewrap": _sh("timewrap", "unknown"),
}
EXPECTED_APPS: dict[str, dict[str, AppRow]] = {
    # Member of SearchHead only: its six apps.
    "dcomsearchhead01": SEARCH_HEAD_ONLY,
    "sh02": SEARCH_HEAD_ONLY,
    # Member of Indexer only: the four [serverClass:Indexer:app:*] stanzas (lines 43-61).
    "idx01": {
        app: ("deployed", ["Indexer"], f"serverClass:Indexer:app:{app}")
        for app in ("DCOM_DS_indexers", "fire_brigade", "sideview_utils", "sos")
    },
    # Member of Forwarder only (line 63).
    "fwd01": {
        "DCOM_DS_myforwarder": (
            "deployed",
            ["Forwarder"],
            "serverClass:Forwarder:app:DCOM_DS_myforwarder",
        )
    },
    # Member of DCN and Forwarder: DCOM_DS_myforwarder once, from both, with DCN's settings
    # (first in ASCII order, line 93); the DCN apps of lines 68-91.
    "DCOMDCN01": {
        "DCOM_DS_myforwarder": (
            "deployed",
            ["DCN", "Forwarder"],
            "serverClass:DCN:app:DCOM_DS_myforwarder",
        ),
        **{app: _dcn(app) for app in DCN_ONLY},
    },
    # Member of Indexer and SearchHead: fire_brigade, sideview_utils, sos from both, with
    # Indexer's settings (first in ASCII order); the rest from the one class naming them.
    "DCOMIndexer03": {
        **SEARCH_HEAD_ONLY,
        "DCOM_DS_indexers": ("deployed", ["Indexer"], "serverClass:Indexer:app:DCOM_DS_indexers"),
        "fire_brigade": ("deployed", BOTH, "serverClass:Indexer:app:fire_brigade"),
        "sideview_utils": ("deployed", BOTH, "serverClass:Indexer:app:sideview_utils"),
        "sos": ("deployed", BOTH, "serverClass:Indexer:app:sos"),
    },
    "web01": {},
    "DCOMDC-01": {},
    # Member of SearchHead, unknown in the other three: the SearchHead apps are deployed;
    # fire_brigade, sideview_utils and sos are deployed too (SearchHead surely delivers them),
    # listed with Indexer, which might also; their settings come from SearchHead, the first
    # class in ASCII order that surely delivers them. The apps only Indexer, Forwarder or DCN
    # name are unknown.
    "DCOMSearchHead05": {
        **ALL_UNKNOWN,
        "DCOM_DS_SH_config": _sh("DCOM_DS_SH_config"),
        "maps": _sh("maps"),
        "timewrap": _sh("timewrap"),
        "fire_brigade": ("deployed", BOTH, "serverClass:SearchHead:app:fire_brigade"),
        "sideview_utils": ("deployed", BOTH, "serverClass:SearchHead:app:sideview_utils"),
        "sos": ("deployed", BOTH, "serverClass:SearchHead:app:sos"),
    },
    "10.20.0.99": ALL_UNKNOWN,
    "app07": ALL_UNKNOWN,
}

# -- expected findings -------------------------------------------------------------------------

# (code, subject, host) of the whole resolution:
# - PATTERN_FULL_MATCH once: the whole-value rule is ours (RESOLVER.md §3).
# - HOST_UNMANAGED for the two inventory hosts in no class (§6); not for 10.20.0.99 and
#   app07, whose classes are unknown (never guess that a host is unmanaged).
# - APP_UNUSED for each repository app no class names (all 13 named apps reach a host).
# None else: every class has members (no SERVERCLASS_EMPTY), every named app is in the
# repository (no APP_NOT_IN_REPOSITORY), classes delivering one app agree (no
# APP_MULTIPLY_ASSIGNED), no app-level filter (no DS_VERSION_DEPENDENT), no unsafe pattern,
# no from_pathname, the rows share no identity (no IDENTITY_CONFLICT).
EXPECTED_FINDINGS = sorted(
    [
        ("PATTERN_FULL_MATCH", "serverclass.conf", None),
        ("HOST_UNMANAGED", "host:web01", "web01"),
        ("HOST_UNMANAGED", "host:DCOMDC-01", "DCOMDC-01"),
        *(("APP_UNUSED", f"app:{app}", None) for app in UNUSED_APPS),
        # §5/§6 DANGLING_OUTPUT: DCOM_DS_myforwarder and DCOM_DS_DCN (default/outputs.conf)
        # send [tcpout:lb] to server=172.30.200.101:9997, an address no row of the client
        # list has; fwd01 and DCOMDCN01 get one of them for sure (live, enabled). The hosts
        # that might get them (unknown) do not read them.
        *(
            ("DANGLING_OUTPUT", "server:172.30.200.101:9997", host)
            for host in ("fwd01", "DCOMDCN01")
        ),
        # §6 SHADOWED_SETTING: fire_brigade and sos (both default/props.conf [splunkd]) set
        # REPORT-4_x_bucket_fields and REPORT-versionless to different lists; fire_brigade
        # wins, first in ASCII order. Every host that surely gets both apps has the two.
        *(
            ("SHADOWED_SETTING", f"props:[splunkd] {key}", host)
            for host in (
                "dcomsearchhead01",
                "sh02",
                "idx01",
                "DCOMIndexer03",
                "DCOMSearchHead05",
            )
            for key in ("REPORT-4_x_bucket_fields", "REPORT-versionless")
        ),
    ],
    key=repr,
)
FORWARDERS = {"fwd01", "DCOMDCN01"}  # the hosts with a certain [tcpout] (DANGLING_OUTPUT)


# -- the estate -----------------------------------------------------------------------------------


def _ingest(
    config: Config, db: Database, tmp_path: Path, name: str, data: bytes, kind: UploadType
) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    outcome = Pipeline(config, db, make_store(config.storage)).ingest(path, kind, LABEL)
    assert outcome.run_id is not None
    parser = RunParser(config, db, make_store(config.storage))
    parser.claim(outcome.run_id)
    assert parser.parse_claimed(outcome.run_id).status == "complete"
    return outcome.run_id


class Estate:
    def __init__(self, db: Database, ds_run: int, inventory_run: int, resolution: int) -> None:
        self.db = db
        self.ds_run = ds_run
        self.inventory_run = inventory_run
        self.resolution = resolution


@pytest.fixture
def estate(config: Config, db: Database, tmp_path: Path) -> Estate:
    """The DCOM etc/ tree as dropped (tar.gz, nothing added) and the client list, parsed and
    resolved."""
    if not DCOM.is_dir():
        pytest.skip(f"corpus not found at {DCOM}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(DCOM / "etc", arcname="etc")
    ds_run = _ingest(config, db, tmp_path, "dcom.tgz", buffer.getvalue(), UploadType.DS_ETC)
    inventory_run = _ingest(
        config, db, tmp_path, "dcom_clients.csv", CLIENTS.read_bytes(), UploadType.INVENTORY
    )
    outcome = resolve_estate(config, db)
    assert outcome.resolution_id is not None
    return Estate(db, ds_run, inventory_run, outcome.resolution_id)


# -- expected why -----------------------------------------------------------------------------


def _evidence(ev: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if ev is None:
        return None
    return (ev["file"], ev["line"], ev["layer"], ev["app"], ev["run"], ev["scope"])


def why_view(why: dict[str, Any]) -> dict[str, Any]:
    """What RESOLVER.md §3 "Why" asks a decision to record, out of a stored `why`: the level,
    the filterType with its source, each list with the level it came from, whether it
    matched, the deciding entry and what an unknown lacks."""
    ft = why["filter_type"]
    out: dict[str, Any] = {
        "stanza": why["stanza"],
        "filter_type": (ft["value"], ft["source"], _evidence(ft["evidence"])),
        "version_rule": ft["version_rule"],
        "machine_types": why["machine_types"],
        "class_result": why["class_result"],
    }
    for name in ("whitelist", "blacklist"):
        lst = why[name]
        entry = lst["entry"]
        out[name] = {
            "stanza": lst["stanza"],
            "inherited": lst["inherited"],
            "matched": lst["matched"],
            "missing": lst["missing"],
            "entry": None
            if entry is None
            else (
                entry["stanza"],
                entry["key"],
                entry["pattern"],
                entry["attribute"],
                entry["value"],
                _evidence(entry["evidence"]),
            ),
        }
    return out


def expected_why(
    serverclass: str, result: str, decided: tuple[str, str] | None, missing: list[str], run: int
) -> dict[str, Any]:
    stanza = f"serverClass:{serverclass}"
    pattern, line = WHITELIST[serverclass]
    matched = {"member": True, "not_member": False, "unknown": None}[result]
    return {
        "stanza": stanza,
        # No DCOM stanza sets filterType: §3's default, written nowhere (no evidence); a
        # class level, so no version rule.
        "filter_type": ("whitelist", "default", None),
        "version_rule": None,
        "machine_types": None,  # no machineTypesFilter anywhere
        "class_result": None,  # a class level, not an app level
        # The class's own whitelist (line 2/5/8/11), not inherited: [global] defines none.
        "whitelist": {
            "stanza": stanza,
            "inherited": False,
            "matched": matched,
            "missing": missing,
            "entry": None
            if decided is None
            else (
                stanza,
                "whitelist.0",
                pattern,
                decided[0],
                decided[1],
                (SERVERCLASS_CONF, line, "system", None, run, "local"),
            ),
        },
        # No blacklist entry anywhere; the class level owns both lists (R-filter), so its
        # empty blacklist is the class's own and matches nobody.
        "blacklist": {
            "stanza": stanza,
            "inherited": False,
            "matched": False,
            "missing": [],
            "entry": None,
        },
    }


def expected_classes(host: str, run: int, results: Iterable[str]) -> list[dict[str, Any]]:
    """The host's classes whose result is in `results`, as {name, result, why, missing}, by
    class name."""
    return [
        {
            "name": sc,
            "result": result,
            "why": expected_why(sc, result, decided, missing, run),
            "missing": missing,
        }
        for sc, (result, decided, missing) in sorted(EXPECTED_CLASSES[host].items())
        if result in results
    ]


def expected_apps(host: str) -> list[dict[str, Any]]:
    """§7 `apps` of a host (no instance_etc, so nothing observed): every app is in the
    repository, enabled (stateOnClient = enabled in its stanza), into the default target."""
    return [
        {
            "app": app,
            "serverclasses": classes,
            "result": result,
            "state": "enabled",
            "target": TARGET,
            "in_repository": True,
        }
        for app, (result, classes, _stanza) in sorted(EXPECTED_APPS[host].items())
    ]


def expected_host(host: str, inventory_run: int) -> dict[str, Any]:
    """§7 `hosts --json` entry: identity from its CSV row, member classes, deployed apps."""
    row, client_name, hostname, ip, dns, guid, utsname = ROWS[host]
    return {
        "name": host,
        "client_name": client_name,
        "hostname": hostname,
        "ip": ip,
        "dns": dns,
        "guid": guid,
        "machine_type": utsname,
        "role": "unknown",  # no role column, no instance tree (§2)
        "sources": [f"inventory:run {inventory_run} row {row}"],
        "serverclasses": sorted(c for c, r in EXPECTED_CLASSES[host].items() if r[0] == "member"),
        "apps": sorted(a for a, r in EXPECTED_APPS[host].items() if r[0] == "deployed"),
    }


def host_findings(host: str) -> list[tuple[str, str, str | None]]:
    return [f for f in EXPECTED_FINDINGS if f[2] == host]


# -- the tests --------------------------------------------------------------------------------


def test_the_stored_resolution_of_the_dcom_estate_is_the_golden_one(estate: Estate) -> None:
    with estate.db.read_session() as session:
        resolution = session.get(Resolution, estate.resolution)
        assert resolution is not None and resolution.status == "complete"
        hosts = session.scalars(
            select(ResolvedHost).where(ResolvedHost.resolution_id == estate.resolution)
        ).all()
        names = {h.id: h.name for h in hosts}
        memberships = session.scalars(
            select(HostMembership).where(HostMembership.resolution_id == estate.resolution)
        ).all()
        apps = session.scalars(
            select(HostApp).where(HostApp.resolution_id == estate.resolution)
        ).all()
        findings = session.scalars(
            select(ResolutionFinding).where(ResolutionFinding.resolution_id == estate.resolution)
        ).all()
        stored_hosts = {
            h.name: (
                h.client_name,
                h.hostname,
                h.ip,
                h.dns,
                h.guid,
                h.machine_type,
                h.role,
                h.ds,
                h.sources,
            )
            for h in hosts
        }
        stored_memberships = sorted(
            (names[m.host_id], m.serverclass, m.result, why_view(m.why), m.missing)
            for m in memberships
            if m.result != "not_member"  # §7: member and unknown are what `host` lists
        )
        stored_apps = sorted(
            (
                names[a.host_id],
                a.app,
                a.serverclasses,
                a.result,
                a.state,
                a.target,
                a.in_repository,
                a.why["stanza"],
            )
            for a in apps
        )
        stored_findings = sorted(((f.code, f.subject, f.host) for f in findings), key=repr)
        ds_version = resolution.ds_version
        inputs = resolution.inputs

    # §1: the resolution records the runs it read; the bundle has no etc/splunk.version and
    # no [resolve] ds_version is set, so the DS version is unknown — which changes nothing
    # here, as no app stanza sets a filter (no DS_VERSION_DEPENDENT below).
    assert inputs == {
        "runs": {"ds_etc": {LABEL: estate.ds_run}, "inventory": {LABEL: estate.inventory_run}},
        "ds_version": None,  # the override asked for: none (a preview resolves with it)
    }
    assert ds_version is None

    # §2: eleven hosts, one per CSV row, all of DS "dcom" (the inventory's label).
    assert len(hosts) == 11
    assert stored_hosts == {
        name: (*ROWS[name][1:], "unknown", LABEL, [f"inventory:run {estate.inventory_run} row {r}"])
        for name, (r, *_rest) in ROWS.items()
    }

    # §3: every member and unknown result with its why and what it lacks.
    assert stored_memberships == sorted(
        (host, c["name"], c["result"], c["why"], c["missing"])
        for host in EXPECTED_CLASSES
        for c in expected_classes(host, estate.ds_run, ("member", "unknown"))
    )

    # §3 Apps: one row per host and app delivered (deployed or unknown).
    assert stored_apps == sorted(
        (host, app, classes, result, "enabled", TARGET, True, stanza)
        for host, rows in EXPECTED_APPS.items()
        for app, (result, classes, stanza) in rows.items()
    )

    # §6.
    assert stored_findings == EXPECTED_FINDINGS


def autodoc_json(estate: Estate, folder: Path, *commands: tuple[str, ...]) -> list[Any]:
    """The parsed --json output of each `autodoc --config C COMMAND...` against the estate's
    database; every command must exit 0."""
    return json_outputs(estate.db.url, folder, *commands)


def test_hosts_and_host_json_give_the_golden_answers(estate: Estate, tmp_path: Path) -> None:
    hosts = sorted(EXPECTED_CLASSES)  # ASCII order, as every order of RESOLVER.md
    # NAME is any of a host's names (§7): hostname (any case), ip, guid (any case).
    aliases = (
        ("dcomsearchhead02", "sh02"),
        ("10.20.0.99", "10.20.0.99"),
        ("8c5a1c2e-0b1d-4e4f-9a2b-3c4d5e6f7a01", "dcomsearchhead01"),
        ("sh-a", "dcomsearchhead01"),
    )
    listed, forwarders, fire_brigade, *answers = autodoc_json(
        estate,
        tmp_path / "cli",
        ("hosts", "--json"),
        ("hosts", "--serverclass", "Forwarder", "--json"),
        ("hosts", "--app", "fire_brigade", "--json"),
        *(("host", host, "--json") for host in hosts),
        *(("host", alias, "--json") for alias, _ in aliases),
    )
    by_host = dict(zip(hosts, answers, strict=False))

    # §7 hosts --json: every host, sorted by name.
    assert [h["name"] for h in listed] == hosts
    assert listed == [expected_host(h, estate.inventory_run) for h in hosts]
    assert [h["name"] for h in forwarders] == ["DCOMDCN01", "fwd01"]
    assert [h["name"] for h in fire_brigade] == [
        "DCOMIndexer03",
        "DCOMSearchHead05",
        "dcomsearchhead01",
        "idx01",
        "sh02",
    ]

    # §7 host NAME --json, for every host, found by its name.
    for host, got in by_host.items():
        assert got["resolution"] == estate.resolution
        assert got["host"] == expected_host(host, estate.inventory_run), host
        assert [{**c, "why": why_view(c["why"])} for c in got["serverclasses"]] == expected_classes(
            host, estate.ds_run, ("member", "unknown")
        ), host
        assert got["apps"] == expected_apps(host), host
        assert [(f["code"], f["subject"], f["host"]) for f in got["findings"]] == host_findings(
            host
        ), host
        # §5: a path for every enabled input of the host's effective inputs (splunktcp is a
        # receiver; [blacklist:] and the global stanzas are no input).
        enabled = {
            name
            for name, keys in got["inputs"].items()
            if ("://" in name or name.startswith("fschange:"))
            and not name.startswith("splunktcp")
            and keys.get("disabled", {}).get("value", "0").lower() not in ("1", "true")
        }
        assert {p["input"] for p in got["paths"]} == enabled, host
        # Only the two forwarders forward, to the address outside the estate; no host has
        # its own etc/ tree, so one with no output group is no NOT_FORWARDED finding.
        for path in got["paths"]:
            assert path["host"] == host
            if host in FORWARDERS and path["receivers"]:
                assert path["receivers"] == [
                    {"from": host, "group": "lb", "server": "172.30.200.101:9997", "to": None}
                ]
            else:
                assert path["receivers"] == [], (host, path["input"])
            assert all(f["certainty"] == "unknown" and f["at"] is None for f in path["final"])
    for (alias, host), got in zip(aliases, answers[len(hosts) :], strict=True):
        assert got["host"]["name"] == host, alias

    # §4: a host's inputs come from the apps it is a *member* for. fwd01 gets
    # DCOM_DS_myforwarder: its [udp://:10514] sourcetype = flowintegrator (default/inputs.conf
    # line 9) is live there.
    assert by_host["fwd01"]["inputs"]["udp://:10514"]["sourcetype"] == {
        "value": "flowintegrator",
        "file": "etc/deployment-apps/DCOM_DS_myforwarder/default/inputs.conf",
        "line": 9,
        "layer": "app/default",
        "app": "DCOM_DS_myforwarder",
        "run": estate.ds_run,
    }
    # DCOMSearchHead05 surely gets sos (SearchHead), so sos's [script://./bin/ps_sos.sh]
    # (sos/default/inputs.conf line 1) is live; DCOM_DS_myforwarder is only `unknown` there,
    # so its inputs are not.
    sh05 = by_host["DCOMSearchHead05"]["inputs"]
    assert "script://./bin/ps_sos.sh" in sh05
    assert "udp://:10514" not in sh05
    # A host unknown in every class has no deployment-app layer at all.
    assert not [
        (stanza, key)
        for stanza, settings in by_host["10.20.0.99"]["inputs"].items()
        for key, value in settings.items()
        if value["file"].startswith("etc/deployment-apps/")
    ]


def test_host_all_lists_the_not_member_classes_with_their_why(
    estate: Estate, tmp_path: Path
) -> None:
    [got] = autodoc_json(estate, tmp_path / "cli", ("host", "web01", "--all", "--json"))
    # web01 is not_member of all four classes: no whitelist entry matches and every name
    # attribute is known (the near misses of R-pattern), so the why of each says the class's
    # whitelist did not match and lacks nothing.
    assert [{**c, "why": why_view(c["why"])} for c in got["serverclasses"]] == expected_classes(
        "web01", estate.ds_run, ("not_member",)
    )


def test_findings_lists_the_estate_wide_ones_and_filters_by_code_and_host(
    estate: Estate, tmp_path: Path
) -> None:
    every, unmanaged, about_web01 = autodoc_json(
        estate,
        tmp_path / "cli",
        ("findings", "--json"),
        ("findings", "--code", "host_unmanaged", "--json"),
        # web01 found by its hostname, as `host` finds it
        ("findings", "--host", "webDCOMSearchHead01", "--json"),
    )

    def view(found: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
        return sorted(((f["code"], f["subject"], f["host"]) for f in found), key=repr)

    # Estate-wide findings (no host) are listed too: `host NAME` alone never shows them.
    assert view(every) == EXPECTED_FINDINGS
    assert view(unmanaged) == [f for f in EXPECTED_FINDINGS if f[0] == "HOST_UNMANAGED"]
    assert view(about_web01) == host_findings("web01")
    assert all(f["message"] and isinstance(f["evidence"], list) for f in every)
