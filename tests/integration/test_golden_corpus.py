"""Golden tests: real Splunk configuration (../shared/corpus) through the daemon's whole parse
path, on SQLite and PostgreSQL.

Each corpus tree is packed the way users drop it (tar.gz, .spl, zip, single .conf files), the
archive is stored in a LocalBlobStore, a run is created and stored through Database, and
RunParser claims it and parses it (`claim` + `parse_claimed`, as `autodoc parse RUN_ID`
does). The rows are then
checked against expectations derived from the corpus files themselves, never from the
program's output:

- Stanza counts were counted with grep (`grep -cE '^[[:space:]]*\\[.*\\][[:space:]]*$'`, and
  `sort | uniq -d` for repeated headers), then adjusted by hand for the three rules of
  SPLUNK_CONF.md that grep cannot see, each case read in the file: settings before the first
  header make an implicit `default` stanza (rule 6: TA-netflowlogic and netflow version.conf,
  13 system-default files), a repeated header is one stanza (rule 8: sos props.conf and six
  default.meta files), and a line continuing one that ends in `\\` is no header (rule 5:
  system-default searchbnf.conf line 1838). `grep_stanzas` below applies the same counting to
  every file, so the per-file checks cover the whole corpus; the literal totals were obtained
  once by hand with grep and must agree with it.
- Provenance comes from SPLUNK_CONF.md's "Where a file sits" table and the decisions in
  daemon/conf/archive.py's docstring (metadata/<scope>.meta: conf type and scope from its name).
- Typed rows, findings and values were read in the files (line numbers given where they
  matter) and written here literally.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon.conf.store import COUNTED, list_stanzas, run_counts
from daemon.config import Config
from daemon.database import Database, FileRecord
from daemon.models import Base, RunStatus, UploadType
from daemon.parsing import RunParser
from daemon.storage.local import LocalBlobStore
from tests.conftest import service_missing

TABLES = Base.metadata.tables
CORPUS = Path(__file__).parents[3] / "shared" / "corpus"
DS_ETC = CORPUS / "ds_etc" / "dcom" / "etc"
PALOALTO = CORPUS / "app_bundle" / "Splunk_TA_paloalto"
SYSTEM_DEFAULT = CORPUS / "system-default"
APP = "Splunk_TA_paloalto"
DEPLOY = "etc/deployment-apps"


# -- the corpus, counted the way grep would ---------------------------------------------------

_HEADER = re.compile(r"[ \t]*\[(.*)\][ \t]*")


def grep_stanzas(data: bytes) -> list[str]:
    """The stanza names of a file in first-seen order, by `grep '^\\s*\\[.*\\]\\s*$' | uniq`
    with SPLUNK_CONF.md's rules 5, 6 and 8: a line that continues one ending in a backslash is
    no header, a setting before any header makes `default` (first), a repeated header counts
    once."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    names: list[str] = []
    implicit = False
    continued = False
    for line in text.split("\n"):
        joined, continued = continued, line.endswith("\\")
        if joined:
            continue
        header = _HEADER.fullmatch(line)
        if header:
            if header[1] not in names:
                names.append(header[1])
        elif not names and "=" in line and not line.lstrip(" \t").startswith(("#", ";")):
            implicit = True
    if implicit:
        names = ["default", *(n for n in names if n != "default")]
    return names


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".conf", ".meta"))


def stem(leaf: str) -> str:
    return leaf.rsplit(".", 1)[0]


# -- archives, built once per module ------------------------------------------------------------


@dataclass(frozen=True)
class Archives:
    ds_etc: Path  # etc/...
    ds_etc_opt: Path  # opt/splunk/etc/...
    paloalto_spl: Path  # Splunk_TA_paloalto/... as tar.gz
    paloalto_zip: Path  # Splunk_TA_paloalto/... as zip
    system_default: Path  # etc/system/default/*.conf as tar.gz


def _tar_gz(out: Path, root: Path, arcname: str) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(root, arcname=arcname)
    return out


def _zip(out: Path, root: Path, arcname: str) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in corpus_files(root):
            archive.write(path, f"{arcname}/{path.relative_to(root).as_posix()}")
    return out


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Archives:
    for tree in (DS_ETC, PALOALTO, SYSTEM_DEFAULT):
        if not tree.is_dir():
            service_missing(f"corpus not found at {tree}")
    out = tmp_path_factory.mktemp("archives")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in corpus_files(SYSTEM_DEFAULT):
            tar.add(path, arcname=f"etc/system/default/{path.name}")
    (out / "system-default.tgz").write_bytes(buffer.getvalue())
    return Archives(
        ds_etc=_tar_gz(out / "dcom.tgz", DS_ETC, "etc"),
        ds_etc_opt=_tar_gz(out / "dcom-opt.tar.gz", DS_ETC, "opt/splunk/etc"),
        paloalto_spl=_tar_gz(out / f"{APP}.spl", PALOALTO, APP),
        paloalto_zip=_zip(out / f"{APP}.zip", PALOALTO, APP),
        system_default=out / "system-default.tgz",
    )


# -- the daemon's path: store, create and store a run, claim, parse ----------------------------


def parse_stored(db: Database, tmp_path: Path, upload_type: UploadType, source: Path) -> int:
    """Store `source` as the daemon would, parse it with RunParser; the run id (complete)."""
    store = LocalBlobStore(tmp_path / "blobs")
    with source.open("rb") as stream:
        blob = store.put(stream)
    run_id = db.create_run(upload_type, None, f"golden {source.name}")
    record = FileRecord(source.name, blob.sha256, blob.size_bytes, blob.key)
    assert db.mark_stored(run_id, record, lambda _earlier: "stored")
    parser = RunParser(Config(source=tmp_path / "config.toml"), db, store)
    parser.claim(run_id)
    outcome = parser.parse_claimed(run_id)
    assert (outcome.status, outcome.reason) == (RunStatus.COMPLETE, "")
    assert outcome.counts == run_counts(db.engine, run_id)
    assert db.get_run(run_id).status == RunStatus.COMPLETE
    return run_id


# -- reading the rows back ---------------------------------------------------------------------


def conf_files(db: Database, run_id: int) -> dict[str, dict[str, Any]]:
    """path -> layer, app, scope, conf_type, encoding, sha256, size_bytes."""
    f = TABLES["conf_files"]
    columns = (f.c.layer, f.c.app, f.c.scope, f.c.conf_type, f.c.encoding, f.c.sha256)
    query = select(f.c.path, *columns, f.c.size_bytes).where(f.c.run_id == run_id)
    with db.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths))
    return {r["path"]: {k: v for k, v in r.items() if k != "path"} for r in rows}


def provenance(files: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        path: (row["layer"], row["app"], row["scope"], row["conf_type"])
        for path, row in files.items()
    }


def names_by_path(db: Database, run_id: int) -> dict[str, list[str]]:
    listing: dict[str, list[str]] = defaultdict(list)
    for stanza in list_stanzas(db.engine, run_id):
        listing[stanza["path"]].append(stanza["name"])
    return dict(listing)


def stanza(db: Database, run_id: int, path: str, name: str) -> dict[str, Any]:
    """settings, occurrences and line of one stanza."""
    s, f = TABLES["stanzas"], TABLES["conf_files"]
    query = (
        select(s.c.settings, s.c.occurrences, s.c.line)
        .join(f, f.c.id == s.c.conf_file_id)
        .where(s.c.run_id == run_id, f.c.path == path, s.c.name == name)
    )
    with db.engine.connect() as connection:
        [row] = connection.execute(query).mappings().all()
    return dict(row)


_NOT_COMPARED = {"id", "run_id", "file_id", "stanza_id", "conf_file_id"}


def typed(db: Database, run_id: int, table: str, path: str) -> list[dict[str, Any]]:
    """The typed rows of one conf file, in the order of their stanzas in the file."""
    t, s, f = TABLES[table], TABLES["stanzas"], TABLES["conf_files"]
    query = (
        select(t)
        .join(s, s.c.id == t.c.stanza_id)
        .join(f, f.c.id == s.c.conf_file_id)
        .where(t.c.run_id == run_id, f.c.path == path)
        .order_by(s.c.order_in_file)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [{k: v for k, v in r.items() if k not in _NOT_COMPARED} for r in rows]


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def pick(row: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


def findings(db: Database, run_id: int) -> list[dict[str, Any]]:
    """code, line, path, message and the path of the conf file the finding is linked to."""
    g, f = TABLES["findings"], TABLES["conf_files"]
    query = (
        select(g.c.code, g.c.line, g.c.path, g.c.message, f.c.path.label("file"))
        .outerjoin(f, f.c.id == g.c.conf_file_id)
        .where(g.c.run_id == run_id)
        .order_by(g.c.path, g.c.line, g.c.code)
    )
    with db.engine.connect() as connection:
        return [dict(r) for r in connection.execute(query).mappings().all()]


def snapshot(db: Database, run_id: int, strip: str = "") -> dict[str, Any]:
    """Everything a run wrote, ids left out, `strip` cut from the front of paths."""

    def cut(path: str | None) -> str | None:
        return path[len(strip) :] if path and strip and path.startswith(strip) else path

    tables: dict[str, Any] = {}
    for name in COUNTED:
        table = TABLES[name]
        with db.engine.connect() as connection:
            rows = connection.execute(select(table).where(table.c.run_id == run_id)).mappings()
            cleaned = [
                {k: cut(v) if k == "path" else v for k, v in r.items() if k not in _NOT_COMPARED}
                for r in rows
            ]
        tables[name] = sorted(cleaned, key=repr)
    listing = [{**s, "path": cut(s["path"])} for s in list_stanzas(db.engine, run_id)]
    return {"tables": tables, "listing": listing}


# -- ds_etc: a deployment server's etc/ ------------------------------------------------------

# Files: `find ds_etc/dcom/etc -type f | wc -l` = 235, all .conf or .meta in a known place:
# 1 system/local, 204 deployment-apps/*/default, 5 */local, 23 default.meta, 2 local.meta.
# Stanzas: grep counts 2078 distinct headers, plus the implicit `default` of the two
# version.conf files. Typed: grep -c of headers in inputs (35), props (127, of which the sos
# props.conf header at line 32 repeats line 25: 126), transforms (272), indexes (25), outputs
# (4: the two DCOM_DS_* outputs.conf; SA-Hydra's and sos's are only comments), serverclass (21).
# Findings: 19 repeated headers (`sort | uniq -d` per file, see DS_ETC_DUPLICATES), the 4 server
# lines without `=` (lines 7 and 8 of both DCOM_DS_*/default/outputs.conf), and DCOM's
# macros.conf, whose only byte over 0x7f is 0xe8 (Latin-1 "è") on line 83.
DS_ETC_COUNTS = {
    "conf_files": 235,
    "stanzas": 2080,
    "inputs": 35,
    "props": 126,
    "transforms": 272,
    "indexes": 25,
    "outputs": 4,
    "serverclasses": 21,
    "inventory_rows": 0,
    "findings": 24,
}
DS_ETC_DUPLICATES = {  # total headers - distinct headers, per file
    f"{DEPLOY}/SA-Threshold/metadata/default.meta": 5,  # 10 - 5
    f"{DEPLOY}/SA-Utils/metadata/default.meta": 1,  # 6 - 5
    f"{DEPLOY}/SA-VMW-HierarchyInventory/metadata/default.meta": 5,  # 10 - 5
    f"{DEPLOY}/SA-VMW-LogEventTask/metadata/default.meta": 5,  # 10 - 5
    f"{DEPLOY}/Splunk_TA_cisco-asa/metadata/default.meta": 1,  # 2 - 1
    f"{DEPLOY}/dbx/metadata/default.meta": 1,  # 20 - 19
    f"{DEPLOY}/sos/default/props.conf": 1,  # 13 - 12
}
LATIN1 = f"{DEPLOY}/DCOM/default/macros.conf"
SERVER_CLASSES = [  # system/local/serverclass.conf, lines 1-11
    ("SearchHead", ["DCOMSearchHead*"]),
    ("Indexer", ["DCOMIndexer*"]),
    ("Forwarder", ["DCOMForwarder*"]),
    ("DCN", ["DCOMDCN*"]),
]
DEPLOYED_APPS = [  # the 17 [serverClass:X:app:Y] headers, in file order
    ("SearchHead", "DCOM_DS_SH_config"),
    ("SearchHead", "fire_brigade"),
    ("SearchHead", "maps"),
    ("SearchHead", "timewrap"),
    ("SearchHead", "sideview_utils"),
    ("SearchHead", "sos"),
    ("Indexer", "sideview_utils"),
    ("Indexer", "fire_brigade"),
    ("Indexer", "DCOM_DS_indexers"),
    ("Indexer", "sos"),
    ("Forwarder", "DCOM_DS_myforwarder"),
    ("DCN", "SA-Utils"),
    ("DCN", "Splunk_TA_esxilogs"),
    ("DCN", "SA-Hydra"),
    ("DCN", "Splunk_TA_vcenter"),
    ("DCN", "Splunk_TA_vmware"),
    ("DCN", "DCOM_DS_myforwarder"),
]


def ds_etc_provenance(rel: str) -> tuple[str, str | None, str, str]:
    """(layer, app, scope, conf type) of a path under etc/, by SPLUNK_CONF.md's table."""
    parts = rel.split("/")
    if parts[0] == "system":  # system/local/serverclass.conf
        return ("system", None, parts[1], stem(parts[2]))
    assert parts[0] == "deployment-apps"
    app, folder, leaf = parts[1:]
    return ("deployment_app", app, stem(leaf) if folder == "metadata" else folder, stem(leaf))


def test_ds_etc_counts_provenance_and_stanzas(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.DS_ETC, archives.ds_etc)
    assert run_counts(db.engine, run_id) == DS_ETC_COUNTS
    assert "parsed: 235 conf_files, 2080 stanzas" in (db.get_run(run_id).notes or "")

    files = conf_files(db, run_id)
    corpus = {f"etc/{p.relative_to(DS_ETC).as_posix()}": p for p in corpus_files(DS_ETC)}
    assert set(files) == set(corpus)
    assert provenance(files) == {path: ds_etc_provenance(path[4:]) for path in corpus}
    for path, source in corpus.items():
        data = source.read_bytes()
        assert (files[path]["sha256"], files[path]["size_bytes"]) == (
            hashlib.sha256(data).hexdigest(),
            len(data),
        )
    # Literal spot checks of the table, and of the .meta decision.
    sample = provenance(files)
    assert sample["etc/system/local/serverclass.conf"] == ("system", None, "local", "serverclass")
    assert sample[f"{DEPLOY}/DCOM/local/indexes.conf"] == (
        "deployment_app",
        "DCOM",
        "local",
        "indexes",
    )
    assert sample[f"{DEPLOY}/sos/metadata/default.meta"] == (
        "deployment_app",
        "sos",
        "default",
        "default",
    )
    assert sample[f"{DEPLOY}/DCOM/metadata/local.meta"] == (
        "deployment_app",
        "DCOM",
        "local",
        "local",
    )
    assert Counter(row[2] for row in sample.values()) == {"default": 227, "local": 8}
    assert len({row[1] for row in sample.values()} - {None}) == 30  # ls deployment-apps
    assert {p for p, row in files.items() if row["encoding"] != "utf-8"} == {LATIN1}
    assert files[LATIN1]["encoding"] == "latin-1"

    # Stanzas: every file as grep counts it, a few literally.
    names = names_by_path(db, run_id)
    for path, source in corpus.items():
        assert names.get(path, []) == grep_stanzas(source.read_bytes()), path
    assert len(names["etc/system/local/serverclass.conf"]) == 21
    assert len(names[LATIN1]) == 119
    assert len(names[f"{DEPLOY}/sos/default/props.conf"]) == 12
    assert len(names[f"{DEPLOY}/dbx/metadata/default.meta"]) == 19
    assert names[f"{DEPLOY}/DCOM/local/indexes.conf"] == [
        "summary_network",
        "summary_vmware_cpu",
        "summary_vmware_mem",
        "flowintegrator",
        "cisco_ucs",
        "ios",
    ]
    version = stanza(db, run_id, f"{DEPLOY}/netflow/default/version.conf", "default")
    assert (version["settings"], version["line"]) == ({"version": "3.3.1.58"}, 0)
    for row in list_stanzas(db.engine, run_id):  # a stanza sits where its file does
        assert (row["layer"], row["app"], row["scope"], row["conf_type"]) == sample[row["path"]]


def test_ds_etc_findings_and_latin1(db: Database, tmp_path: Path, archives: Archives) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.DS_ETC, archives.ds_etc)
    found = findings(db, run_id)
    assert Counter(f["code"] for f in found) == {
        "duplicate-stanza": 19,
        "no-equals": 4,
        "latin1-fallback": 1,
    }
    assert all(f["file"] == f["path"] for f in found)  # each linked to the file it is about
    duplicates = Counter(f["path"] for f in found if f["code"] == "duplicate-stanza")
    assert duplicates == DS_ETC_DUPLICATES
    assert (f"{DEPLOY}/sos/default/props.conf", 32) in {
        (f["path"], f["line"]) for f in found if f["code"] == "duplicate-stanza"
    }
    assert [(f["path"], f["line"]) for f in found if f["code"] == "no-equals"] == [
        (f"{DEPLOY}/DCOM_DS_DCN/default/outputs.conf", 7),
        (f"{DEPLOY}/DCOM_DS_DCN/default/outputs.conf", 8),
        (f"{DEPLOY}/DCOM_DS_myforwarder/default/outputs.conf", 7),
        (f"{DEPLOY}/DCOM_DS_myforwarder/default/outputs.conf", 8),
    ]
    [latin1] = [f for f in found if f["code"] == "latin1-fallback"]
    assert (latin1["path"], latin1["line"]) == (LATIN1, 83)
    assert "0xe8" in latin1["message"]
    # The bad byte is in a comment: the file's stanzas are all there, the run is complete.
    assert len(names_by_path(db, run_id)[LATIN1]) == 119


def test_ds_etc_typed_rows(db: Database, tmp_path: Path, archives: Archives) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.DS_ETC, archives.ds_etc)

    # serverclass.conf: 4 classes with their whitelists, then the 17 deployed apps, in order.
    classes = typed(db, run_id, "serverclasses", "etc/system/local/serverclass.conf")
    assert [pick(r, "kind", "server_class", "whitelist", "blacklist") for r in classes[:4]] == [
        ("server_class", name, whitelist, None) for name, whitelist in SERVER_CLASSES
    ]
    assert [pick(r, "kind", "server_class", "deployed_app") for r in classes[4:]] == [
        ("app", server_class, app) for server_class, app in DEPLOYED_APPS
    ]
    assert [r["name"] for r in classes[4:]] == [
        f"serverClass:{c}:app:{a}" for c, a in DEPLOYED_APPS
    ]
    for row in classes[4:]:
        assert pick(row, "whitelist", "blacklist", "state_on_client") == (None, None, "enabled")
    for row in classes:
        assert pick(row, "layer", "app", "scope") == ("system", None, "local")
    apps = {row["app"] for row in conf_files(db, run_id).values()}
    assert {app for _, app in DEPLOYED_APPS} <= apps  # every deployed app is in the bundle

    # outputs.conf: the server list ends at line 6 (lines 7-8 have no `=`, see the findings).
    for app in ("DCOM_DS_DCN", "DCOM_DS_myforwarder"):
        outputs = typed(db, run_id, "outputs", f"{DEPLOY}/{app}/default/outputs.conf")
        keys = ("name", "kind", "group_name", "servers", "default_group")
        assert [pick(r, *keys) for r in outputs] == [
            ("tcpout", "tcpout", None, None, ["lb"]),
            ("tcpout:lb", "tcpout_group", "lb", ["172.30.200.101:9997"], None),
        ]
        assert pick(outputs[0], "layer", "app", "scope") == ("deployment_app", app, "default")

    # inputs.conf: network inputs (the commented-out ones at lines 1-6 are not stanzas).
    inputs = typed(db, run_id, "inputs", f"{DEPLOY}/DCOM_DS_myforwarder/default/inputs.conf")
    keys = ("name", "stanza_type", "target", "sourcetype", "index", "disabled", "tcp_routing")
    assert [pick(r, *keys) for r in inputs] == [
        ("udp://:10514", "udp", ":10514", "flowintegrator", None, None, None),
        ("tcp://:1514", "tcp", ":1514", "syslog", None, None, None),
        ("udp://:1514", "udp", ":1514", "syslog", None, None, None),
    ]
    scripts = typed(db, run_id, "inputs", f"{DEPLOY}/sos/default/inputs.conf")
    assert pick(scripts[0], *keys) == (
        "script://./bin/ps_sos.sh",
        "script",
        "./bin/ps_sos.sh",
        "ps",
        "sos",
        True,
        None,
    )
    # line 20: `disabled = 1 ` (trailing blank)
    assert pick(scripts[2], "target", "disabled") == (r".\bin\sospowershell.cmd ps_sos.ps1", True)
    esxi = typed(db, run_id, "inputs", f"{DEPLOY}/Splunk_TA_esxilogs/default/inputs.conf")
    assert [pick(r, "stanza_type", "target", "index", "sourcetype", "disabled") for r in esxi] == [
        ("udp", "514", "vmware-esxilog", "vmw-syslog", True),
        ("tcp", "1514", "vmware-esxilog", "vmw-syslog", True),
    ]

    # indexes.conf
    [sos, summary] = typed(db, run_id, "indexes", f"{DEPLOY}/sos/default/indexes.conf")
    keys = ("name", "kind", "home_path", "cold_path", "frozen_time_period_in_secs", "disabled")
    assert pick(sos, *keys) == (
        "sos",
        "index",
        "$SPLUNK_DB/sos/db",
        "$SPLUNK_DB/sos/colddb",  # written with a trailing blank
        2419200,
        False,
    )
    assert pick(summary, "name", "frozen_time_period_in_secs", "max_total_data_size_mb") == (
        "sos_summary_daily",
        None,
        None,
    )

    # props.conf: TRANSFORMS- classes in ASCII order of the class, not file order.
    [flow] = typed(db, run_id, "props", f"{DEPLOY}/netflow/default/props.conf")
    assert flow["transforms"] == [  # file: srcip6 (line 3), destip6 (line 4)
        {"class": "destip6", "transforms": ["DESTIP6Extraction"]},
        {"class": "srcip6", "transforms": ["SRCIP6Extraction"]},
    ]
    esxi_props = by_name(
        typed(db, run_id, "props", f"{DEPLOY}/Splunk_TA_esxilogs/default/props.conf")
    )
    assert esxi_props["vmw-syslog"]["transforms"] == [  # file: lines 16, 17, 18
        {"class": "nullqueue", "transforms": ["vmware_generic_level_null"]},
        {"class": "vmsyslogsource", "transforms": ["set_syslog_source"]},
        {
            "class": "vmsyslogsourcetype",
            "transforms": [
                "set_syslog_sourcetype",
                "set_syslog_sourcetype_4x",
                "set_syslog_sourcetype_sections",
            ],
        },
    ]
    sos_props = typed(db, run_id, "props", f"{DEPLOY}/sos/default/props.conf")
    assert len(sos_props) == 12  # the repeated [source::...sos_ftr.log] is one row
    ftr = by_name(sos_props)[r"source::...(/|\\)var(/|\\)log(/|\\)splunk(/|\\)sos_ftr.log"]
    assert pick(ftr, "target_kind", "pattern", "sourcetype") == (
        "source",
        r"...(/|\\)var(/|\\)log(/|\\)splunk(/|\\)sos_ftr.log",
        "sos_ftr",
    )

    # transforms.conf: what DEST_KEY makes of each.
    esxi_transforms = by_name(
        typed(db, run_id, "transforms", f"{DEPLOY}/Splunk_TA_esxilogs/default/transforms.conf")
    )
    flags = ("dest_key", "format", "rewrites_sourcetype", "null_queue", "rewrites_index")
    assert pick(esxi_transforms["set_syslog_sourcetype"], *flags) == (
        "MetaData:Sourcetype",
        "sourcetype::vmware:esxlog:$1",
        True,
        False,
        False,
    )
    assert pick(esxi_transforms["set_syslog_source"], *flags, "source_key") == (
        "MetaData:Source",
        "source::vmware:esxlog:$1",
        False,
        False,
        False,
        "MetaData:Source",
    )
    assert pick(esxi_transforms["vmware_generic_level_null"], *flags) == (
        "queue",
        "nullQueue",
        False,
        True,
        False,
    )


def test_ds_etc_root_found_under_opt_splunk_gives_the_same_rows(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    plain = parse_stored(db, tmp_path, UploadType.DS_ETC, archives.ds_etc)
    nested = parse_stored(db, tmp_path, UploadType.DS_ETC, archives.ds_etc_opt)
    assert run_counts(db.engine, nested) == DS_ETC_COUNTS
    assert all(p.startswith("opt/splunk/etc/") for p in conf_files(db, nested))
    assert snapshot(db, nested, strip="opt/splunk/") == snapshot(db, plain)


# -- app_bundle: Splunk_TA_paloalto ------------------------------------------------------------

# Files: 16 default/*.conf + metadata/default.meta. Stanzas: grep -c of headers per file
# (no repeats, no settings before a header, no header inside a continuation).
PALOALTO_STANZAS = {
    "default/addon_builder.conf": 1,
    "default/alert_actions.conf": 2,
    "default/app.conf": 5,
    "default/collections.conf": 3,
    "default/commands.conf": 1,
    "default/eventtypes.conf": 26,
    "default/inputs.conf": 3,
    "default/macros.conf": 8,
    "default/props.conf": 25,
    "default/restmap.conf": 6,
    "default/savedsearches.conf": 5,
    "default/splunk_ta_paloalto_settings.conf": 3,
    "default/tags.conf": 15,
    "default/transforms.conf": 60,
    "default/web.conf": 11,
    "default/workflow_actions.conf": 7,
    "metadata/default.meta": 3,
}
PALOALTO_COUNTS = {
    "conf_files": 17,
    "stanzas": 184,  # sum of PALOALTO_STANZAS
    "inputs": 3,
    "props": 25,
    "transforms": 60,
    "indexes": 0,
    "outputs": 0,
    "serverclasses": 0,
    "inventory_rows": 0,
    "findings": 0,
}
PAN_PROPS = [  # grep '^\[' default/props.conf
    "pan_log", "pan:log", "pan:firewall", "pan:traps", "pan_threat", "pan:threat",
    "pan_traffic", "pan:traffic", "pan_system", "pan:system", "pan_config", "pan:config",
    "pan:hipmatch", "pan:correlation", "pan:userid", "pan_endpoint", "pan:endpoint",
    "pan:traps4", "pan:analytics_traps", "pan:threat_traps", "pan:system_traps",
    "pan:config_traps", "pan_aperture", "pan:aperture", "pan:minemeld",
]  # fmt: skip
# transforms.conf lines 3-61: the 12 stanzas with DEST_KEY = MetaData:Sourcetype (grep -c
# DEST_KEY = 12, all of them), each FORMAT = sourcetype::pan:<its name after "pan_">.
PAN_REWRITES = [
    ("pan_threat", "^[^,]+,[^,]+,[^,]+,THREAT,"),
    ("pan_traffic", "^[^,]+,[^,]+,[^,]+,TRAFFIC,"),
    ("pan_system", "^[^,]+,[^,]+,[^,]+,SYSTEM,"),
    ("pan_config", "^[^,]+,[^,]+,[^,]+,CONFIG,"),
    ("pan_hipmatch", "^[^,]+,[^,]+,[^,]+,HIPMATCH,"),
    ("pan_correlation", "^[^,]+,[^,]+,[^,]+,CORRELATION,"),
    ("pan_userid", "^[^,]+,[^,]+,[^,]+,USERID,"),
    ("pan_traps4", r"^[^\|,]+ CEF:\s?0\|"),
    ("pan_threat_traps", "^[^,]+? - threat,"),
    ("pan_analytics_traps", "^[^,]+? - analytics,"),
    ("pan_system_traps", "^[^,]+? - system,"),
    ("pan_config_traps", "^[^,]+? - config,"),
]
ALL_PAN = [name for name, _ in PAN_REWRITES]
PAN_CLASSES = {  # props.conf lines 6, 20, 34, 49: one class, `sourcetype`, each
    "pan_log": ALL_PAN,
    "pan:log": ALL_PAN,
    "pan:firewall": ALL_PAN[:8],
    "pan:traps": ["pan_traps4", *ALL_PAN[8:]],
}
# alert_actions.conf lines 11-18: a JSON object over continued lines.
CAM = (
    "{\n"
    '    "category" :   ["Information Conveyance"],\n'
    '    "task" :       ["create", "delete", "allow", "block"],\n'
    '    "subject" :    ["network.firewall"],\n'
    '    "technology" : [{"vendor":"Palo Alto Networks", "product":"Firewall"}],\n'
    '    "drilldown_uri" : "../myapp/myview?form.sid=$orig_sid$&form.rid=$orig_rid$",\n'
    '    "supports_adhoc" : true\n'
    "}"
)


@pytest.mark.parametrize("packing", ["spl", "zip"])
def test_app_bundle_golden(db: Database, tmp_path: Path, archives: Archives, packing: str) -> None:
    source = archives.paloalto_spl if packing == "spl" else archives.paloalto_zip
    run_id = parse_stored(db, tmp_path, UploadType.APP_BUNDLE, source)
    assert run_counts(db.engine, run_id) == PALOALTO_COUNTS

    files = conf_files(db, run_id)
    assert provenance(files) == {
        f"{APP}/{rel}": ("app", APP, "default", stem(rel.split("/")[1])) for rel in PALOALTO_STANZAS
    }
    assert provenance(files)[f"{APP}/metadata/default.meta"] == ("app", APP, "default", "default")
    names = names_by_path(db, run_id)
    assert {path: len(n) for path, n in names.items()} == {
        f"{APP}/{rel}": count for rel, count in PALOALTO_STANZAS.items()
    }
    for path in corpus_files(PALOALTO):
        rel = f"{APP}/{path.relative_to(PALOALTO).as_posix()}"
        assert names[rel] == grep_stanzas(path.read_bytes()), rel
    assert names[f"{APP}/metadata/default.meta"] == ["", "views", "commands"]

    # props: every stanza a sourcetype; the four with TRANSFORMS-sourcetype, lists in order.
    props = typed(db, run_id, "props", f"{APP}/default/props.conf")
    assert [r["name"] for r in props] == PAN_PROPS
    for row in props:
        assert pick(row, "target_kind", "pattern", "sourcetype", "priority") == (
            "sourcetype",
            row["name"],
            None,
            None,
        )
        assert (row["rulesets"], row["sedcmds"]) == ([], [])  # the SEDCMD- lines are comments
        expected = PAN_CLASSES.get(row["name"])
        assert row["transforms"] == (
            [{"class": "sourcetype", "transforms": expected}] if expected else []
        )
        assert pick(row, "layer", "app", "scope") == ("app", APP, "default")

    # transforms: the 12 sourcetype rewrites; no other stanza has a DEST_KEY.
    transforms = typed(db, run_id, "transforms", f"{APP}/default/transforms.conf")
    keys = ("name", "dest_key", "regex", "format", "rewrites_sourcetype")
    assert [pick(r, *keys) for r in transforms[:12]] == [
        (name, "MetaData:Sourcetype", regex, "sourcetype::" + name.replace("pan_", "pan:", 1), True)
        for name, regex in PAN_REWRITES
    ]
    assert [r["dest_key"] for r in transforms[12:]] == [None] * 48
    assert not any(r["rewrites_index"] or r["routes"] or r["null_queue"] for r in transforms)
    extract = by_name(transforms)["extract_threat_id"]  # lines 105-107
    assert pick(extract, "source_key", "regex") == ("threat", r"\((?<threat_id>\d+)\)")

    inputs = typed(db, run_id, "inputs", f"{APP}/default/inputs.conf")
    keys = ("name", "stanza_type", "target", "index", "sourcetype", "disabled")
    assert [pick(r, *keys) for r in inputs] == [
        ("autofocus_export", "autofocus_export", None, "default", "AutoFocus", None),
        ("aperture", "aperture", None, None, "pan:aperture", None),
        ("minemeld_feed", "minemeld_feed", None, "default", "pan:minemeld", None),
    ]

    # A value continued over eight lines keeps its newlines and is valid JSON again.
    pantag = stanza(db, run_id, f"{APP}/default/alert_actions.conf", "pantag")
    assert pantag["settings"]["param._cam"] == CAM
    assert json.loads(CAM)["supports_adhoc"] is True
    assert ["param._cam", CAM, 11] in pantag["occurrences"]

    meta = stanza(db, run_id, f"{APP}/metadata/default.meta", "")
    assert meta["settings"] == {"access": "read : [ * ], write : [ admin ]", "export": "system"}


def test_app_bundle_zip_and_spl_give_identical_rows(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    spl = parse_stored(db, tmp_path, UploadType.APP_BUNDLE, archives.paloalto_spl)
    packed = parse_stored(db, tmp_path, UploadType.APP_BUNDLE, archives.paloalto_zip)
    assert list_stanzas(db.engine, packed) == list_stanzas(db.engine, spl)
    assert len(list_stanzas(db.engine, spl)) == 184
    assert conf_files(db, packed) == conf_files(db, spl)
    assert snapshot(db, packed) == snapshot(db, spl)


# -- system-default: Splunk 10.4.2's etc/system/default ---------------------------------------

# Files: 56. Stanzas: grep counts 4691 distinct headers; +13 implicit `default` stanzas (the
# files whose first setting comes before any header: alert_actions, audit, commands,
# eventdiscoverer, fields, indexes, metric_alerts, savedsearches, segmenters,
# source-classifier, transforms, ui-prefs, visualizations, none with an explicit [default]);
# -1 for searchbnf.conf line 1838, `[ [ host=...] ]`, which continues line 1837.
# Typed: grep -c headers in inputs (22), props (295), transforms (80, +1 implicit), indexes
# (15, +1 implicit), outputs (3), serverclass (1, [global]). Findings: props.conf line 57,
# `priority = ` (empty) in [default], is no integer (normalize: "bad-integer"); nothing else
# (no line without `=` outside continuations, no repeated header).
SYSTEM_COUNTS = {
    "conf_files": 56,
    "stanzas": 4703,
    "inputs": 22,
    "props": 295,
    "transforms": 81,
    "indexes": 16,
    "outputs": 3,
    "serverclasses": 1,
    "inventory_rows": 0,
    "findings": 1,
}
SYSTEM = "etc/system/default"
# alert_actions.conf [email] (line 42), lines 118-120: `...administrator.\`, `\`, `splunk>`.
FOOTER = (
    "If you believe you've received this email in error, please see your Splunk "
    "administrator.\n\nsplunk>"
)
# restmap.conf [validation:bookmarks-mc] (line 1114), lines 1116-1117.
BOOKMARKS_URL = (
    "validate( match('url', '^https?://'), \"Value of argument 'url' must begin with "
    'http:// or https://", \n'
    "                    match('url', 'splunk_monitoring_console'), \"Value of argument "
    "'url' must contain 'splunk_monitoring_console'\" )"
)
# searchbnf.conf [format-command] (line 1821), lines 1837-1838: the continued line starts `[`.
FORMAT_COMMENT = (
    "Get the top 2 results. Create a search from the host, source and sourcetype fields. "
    "Use the specified format values. \n"
    '[ [ host="mylaptop" && source="syslog.log" && sourcetype="syslog" ] || '
    '[ host="bobslaptop" && source="bob-syslog.log" && sourcetype="syslog" ] ]'
)


def test_system_default_instance_etc_golden(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.INSTANCE_ETC, archives.system_default)
    assert run_counts(db.engine, run_id) == SYSTEM_COUNTS

    files = conf_files(db, run_id)
    assert provenance(files) == {
        f"{SYSTEM}/{p.name}": ("system", None, "default", stem(p.name))
        for p in corpus_files(SYSTEM_DEFAULT)
    }
    assert {row["encoding"] for row in files.values()} == {"utf-8"}
    names = names_by_path(db, run_id)
    for path in corpus_files(SYSTEM_DEFAULT):
        assert names.get(f"{SYSTEM}/{path.name}", []) == grep_stanzas(path.read_bytes()), path
    assert names[f"{SYSTEM}/outputs.conf"] == ["tcpout", "syslog", "rfs"]
    assert names[f"{SYSTEM}/serverclass.conf"] == ["global"]
    assert names[f"{SYSTEM}/indexes.conf"][:4] == [
        "default",
        "volume:_splunk_summaries",
        "provider-family:hadoop",
        "main",
    ]
    assert f"{SYSTEM}/transforms.conf" in names and "email" in names[f"{SYSTEM}/transforms.conf"]

    [finding] = findings(db, run_id)
    assert pick(finding, "code", "path", "line", "file") == (
        "bad-integer",
        f"{SYSTEM}/props.conf",
        57,
        f"{SYSTEM}/props.conf",
    )


def test_system_default_comments_and_continuations(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.INSTANCE_ETC, archives.system_default)

    # props.conf lines 348 and 965 start with `;`: skipped, in [sar] and before [breakable_text].
    sar = stanza(db, run_id, f"{SYSTEM}/props.conf", "sar")
    assert sar["settings"] == {
        "BREAK_ONLY_BEFORE": r"(?:^\s*$)|00:00:0|/s|%|[a-z]-",
        "MAX_EVENTS": "1000",
    }
    assert sar["occurrences"] == [
        ["BREAK_ONLY_BEFORE", r"(?:^\s*$)|00:00:0|/s|%|[a-z]-", 349],
        ["MAX_EVENTS", "1000", 350],
    ]
    too_small = stanza(db, run_id, f"{SYSTEM}/props.conf", "too_small")
    assert too_small["settings"] == {
        "maxDist": "9999",
        "BREAK_ONLY_BEFORE_DATE": "True",
        "PREFIX_SOURCETYPE": "True",
    }
    breakable = stanza(db, run_id, f"{SYSTEM}/props.conf", "breakable_text")
    assert (breakable["line"], breakable["settings"]) == (
        966,
        {"BREAK_ONLY_BEFORE": r"(^(?:---|===|\*\*\*|___|=+=))|^\s*$", "LEARN_MODEL": "false"},
    )
    for row in list_stanzas(db.engine, run_id, conf_type="props"):
        assert not row["name"].startswith(";")
        assert not any(key.startswith(";") for key in row["settings"])

    # Continuations keep a newline where lines were joined, lose the backslash.
    email = stanza(db, run_id, f"{SYSTEM}/alert_actions.conf", "email")
    assert email["settings"]["footer.text"] == FOOTER
    assert ["footer.text", FOOTER, 118] in email["occurrences"]
    bookmarks = stanza(db, run_id, f"{SYSTEM}/restmap.conf", "validation:bookmarks-mc")
    assert bookmarks["settings"]["url"] == BOOKMARKS_URL
    fmt = stanza(db, run_id, f"{SYSTEM}/searchbnf.conf", "format-command")
    assert fmt["settings"]["comment1"] == FORMAT_COMMENT
    assert fmt["settings"]["example2"].startswith("... | head 2 | fields source")  # line 1839
    searchbnf = names_by_path(db, run_id)[f"{SYSTEM}/searchbnf.conf"]
    assert not any(name.startswith(" host=") or name.startswith("[") for name in searchbnf)


def test_system_default_typed_rows(db: Database, tmp_path: Path, archives: Archives) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.INSTANCE_ETC, archives.system_default)

    # indexes.conf: lines 19-124 come before any header: the implicit [default].
    indexes = by_name(typed(db, run_id, "indexes", f"{SYSTEM}/indexes.conf"))
    keys = ("kind", "max_data_size", "frozen_time_period_in_secs", "max_total_data_size_mb")
    assert pick(indexes["default"], *keys, "datatype", "rep_factor", "cold_to_frozen_dir") == (
        "default",
        "auto",  # line 50
        188697600,
        500000,
        "event",
        "0",
        "",
    )
    assert pick(
        indexes["main"], "kind", "home_path", "cold_path", "thawed_path", "max_data_size"
    ) == (
        "index",
        "$SPLUNK_DB/defaultdb/db",
        "$SPLUNK_DB/defaultdb/colddb",
        "$SPLUNK_DB/defaultdb/thaweddb",
        "auto_high_volume",
    )
    assert indexes["history"]["frozen_time_period_in_secs"] == 604800
    assert indexes["volume:_splunk_summaries"]["kind"] == "volume"
    assert indexes["provider-family:hadoop"]["kind"] == "provider-family"
    for row in indexes.values():
        assert pick(row, "layer", "app", "scope") == ("system", None, "default")

    inputs = by_name(typed(db, run_id, "inputs", f"{SYSTEM}/inputs.conf"))
    keys = ("stanza_type", "target", "index", "sourcetype", "host", "disabled", "tcp_routing")
    assert pick(inputs["default"], *keys) == (
        "default",
        None,
        "default",  # as written; Splunk reads it as main
        None,
        "$decideOnStartup",
        None,
        None,
    )
    assert pick(inputs["monitor://$SPLUNK_HOME/etc/splunk.version"], *keys) == (
        "monitor",
        "$SPLUNK_HOME/etc/splunk.version",
        "_internal",
        "splunk_version",
        None,
        None,
        ["*"],
    )
    assert pick(inputs["fschange:$SPLUNK_HOME/etc"], "stanza_type", "target", "disabled") == (
        "fschange",
        "$SPLUNK_HOME/etc",
        False,
    )
    assert pick(inputs["blacklist:$SPLUNK_HOME/etc/auth"], "stanza_type", "target") == (
        "blacklist:$SPLUNK_HOME/etc/auth",
        None,
    )
    assert pick(inputs["splunktcp"], "stanza_type", "target") == ("splunktcp", None)
    batch = inputs["batch://$SPLUNK_HOME/var/spool/splunk/...stash_new"]
    assert pick(batch, "stanza_type", "target", "sourcetype") == (
        "batch",
        "$SPLUNK_HOME/var/spool/splunk/...stash_new",
        "stash_new",
    )

    outputs = typed(db, run_id, "outputs", f"{SYSTEM}/outputs.conf")
    keys = ("name", "kind", "group_name", "servers", "default_group", "index_and_forward")
    assert [pick(r, *keys, "disabled") for r in outputs] == [
        ("tcpout", "tcpout", None, None, None, False, False),  # lines 18 and 21
        ("syslog", "syslog", None, None, None, None, None),
        ("rfs", "other", None, None, None, None, None),
    ]

    transforms = by_name(typed(db, run_id, "transforms", f"{SYSTEM}/transforms.conf"))
    flags = ("dest_key", "format", "rewrites_index", "rewrites_sourcetype", "null_queue")
    assert pick(transforms["send_to_nullqueue"], *flags) == (
        "queue",
        "nullQueue",
        False,
        False,
        True,
    )
    assert pick(transforms["splunk_help"], *flags) == (
        "_MetaData:Index",
        "help",
        True,
        False,
        False,
    )
    assert pick(transforms["splunk_index_history"], *flags) == (
        "_MetaData:Index",
        "history",
        True,
        False,
        False,
    )
    assert pick(transforms["set_sourcetype_to_stash"], *flags) == (
        "MetaData:Sourcetype",
        "sourcetype::stash",
        False,
        True,
        False,
    )
    assert pick(transforms["sendToTCP"], *flags) == ("queue", "tcpOutQueue", False, False, False)
    assert pick(transforms["syslog-host"], *flags) == (
        "MetaData:Host",
        "host::$1",
        False,
        False,
        False,
    )
    assert pick(transforms["default"], "source_key", "dest_key") == ("_raw", "")  # lines 17, 24

    props = by_name(typed(db, run_id, "props", f"{SYSTEM}/props.conf"))
    # [default] line 57 `priority = ` is not an integer: left unset (the one finding); line
    # 42 `TRANSFORMS = ` is the bare class "", set to nothing (it overrides, so it is kept).
    assert pick(props["default"], "target_kind", "pattern", "priority", "transforms") == (
        "default",
        "default",
        None,
        [{"class": "", "transforms": []}],
    )
    searchhistory = props[r"source::.../var/log/splunk/searchhistory.log(.\d+)?"]
    assert pick(searchhistory, "target_kind", "pattern") == (
        "source",
        r".../var/log/splunk/searchhistory.log(.\d+)?",
    )

    [server_class] = typed(db, run_id, "serverclasses", f"{SYSTEM}/serverclass.conf")
    keys = ("name", "kind", "whitelist", "blacklist", "filter_type", "repository_location")
    assert pick(server_class, *keys, "state_on_client") == (
        "global",
        "global",
        None,
        None,
        "whitelist",
        "$SPLUNK_HOME/etc/deployment-apps",
        "enabled",
    )


def test_system_default_bare_transforms_key_is_typed(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    run_id = parse_stored(db, tmp_path, UploadType.INSTANCE_ETC, archives.system_default)
    props = by_name(typed(db, run_id, "props", f"{SYSTEM}/props.conf"))

    def names(row: dict[str, Any]) -> list[str]:
        return [t for entry in row["transforms"] for t in entry["transforms"]]

    # props.conf line 630: searchhistory.log goes to the history index (transforms.conf
    # [splunk_index_history]); line 662: audit.log is dropped; line 341: syslog's host.
    assert names(props[r"source::.../var/log/splunk/searchhistory.log(.\d+)?"]) == [
        "splunk_index_history"
    ]
    assert names(props[r"source::.../var/log/splunk/audit.log(.\d+)?"]) == ["send_to_nullqueue"]
    assert names(props["syslog"]) == ["syslog-host"]


def test_system_default_single_conf_files_match_the_instance_etc(
    db: Database, tmp_path: Path, archives: Archives
) -> None:
    """Each of the 56 files dropped alone: no provenance but its conf type, and the same
    stanzas and settings as when it sits in etc/system/default."""
    whole = parse_stored(db, tmp_path, UploadType.INSTANCE_ETC, archives.system_default)
    expected: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for row in list_stanzas(db.engine, whole):
        expected[row["path"].rsplit("/", 1)[1]].append((row["name"], row["settings"]))

    totals: Counter[str] = Counter()
    for path in corpus_files(SYSTEM_DEFAULT):
        run_id = parse_stored(db, tmp_path, UploadType.SINGLE_CONF, path)
        totals.update(run_counts(db.engine, run_id))
        files = conf_files(db, run_id)
        assert provenance(files) == {path.name: (None, None, None, stem(path.name))}
        listing = list_stanzas(db.engine, run_id)
        assert [(r["name"], r["settings"]) for r in listing] == expected.get(path.name, [])
        assert [r["name"] for r in listing] == grep_stanzas(path.read_bytes())
        assert {(r["layer"], r["app"], r["scope"]) for r in listing} <= {(None, None, None)}
    assert dict(totals) == SYSTEM_COUNTS
