"""Hostile data paths end to end on each database (issue 11): etc/ trees an attacker wrote
are ingested as `instance_etc` runs, parsed, resolved and stored, and `autodoc paths`,
`findings` and `host` still answer: bounded, one line on a usage error, no traceback. What
the pure resolver does with each trap is in tests/unit/resolve/test_paths_hostile.py; here
is what storing and showing them adds (migration 006, the CLI).

No assertion is on time; a bug found is an `xfail(strict=True)` naming what is wrong.
"""

from __future__ import annotations

import io
import json
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
from tests.cli_driver import run_commands

HTML = '<script>alert("x")</script><b>'
UNICODE = "ünï\u2603\U0001f4a9"
BIG = "i" * 10_000
UF_APP = "etc/apps/SplunkUniversalForwarder/default/app.conf"
HF_APP = "etc/apps/SplunkForwarder/local/app.conf"
ENABLED = "[install]\nstate = enabled\n"
ROUTES = 10_000
GROUPS = 1_000

Tree = dict[str, str]


def tree(name: str, files: Tree) -> Tree:
    return {"etc/system/local/server.conf": f"[general]\nserverName = {name}\n", **files}


def uf(name: str, **files: str) -> Tree:
    return tree(
        name, {UF_APP: ENABLED, **{f"etc/apps/org/local/{k}.conf": v for k, v in files.items()}}
    )


def hf(name: str, **files: str) -> Tree:
    return tree(
        name, {HF_APP: ENABLED, **{f"etc/apps/org/local/{k}.conf": v for k, v in files.items()}}
    )


def indexer(name: str, indexes: str) -> Tree:
    return tree(
        name,
        {
            "etc/apps/org/local/inputs.conf": "[splunktcp://9997]\n",
            "etc/apps/org/local/indexes.conf": indexes,
        },
    )


def ring_member(name: str, to: str) -> Tree:
    return hf(
        name,
        inputs="[splunktcp://9997]\n[monitor:///var/log/ring]\nindex = os\n",
        outputs=f"[tcpout]\ndefaultGroup = next\n[tcpout:next]\nserver = {to}:9997\n",
    )


WEIRD_INDEXES = {"big": BIG, "html": HTML, "unicode": UNICODE, "nul": "n\x00ul"}

# uf-evil: 1,000 groups by defaultGroup (all to hf-evil), an input routed to 10,000 groups
# no outputs.conf defines, and inputs whose index/sourcetype are odd names.
EVIL_INPUTS = (
    "[monitor:///var/log/routed]\n_TCP_ROUTING = "
    + ",".join(f"r{n:05d}" for n in range(ROUTES))
    + "\n[monitor:///var/log/redos]\nsourcetype = redos\nindex = os\n"
    + "".join(
        f"[monitor:///var/log/{key}]\nindex = {name}\nsourcetype = {name}\n"
        for key, name in WEIRD_INDEXES.items()
    )
)
EVIL_OUTPUTS = (
    "[tcpout]\ndefaultGroup = "
    + ",".join(f"g{n:04d}" for n in range(GROUPS))
    + "\n"
    + "".join(f"[tcpout:g{n:04d}]\nserver = hf-evil:9997\n" for n in range(GROUPS))
)
# hf-evil parses: a catastrophic REGEX and 1,000 conditional classes on one sourcetype.
EVIL_PROPS = "[redos]\nTRANSFORMS-a = redos\n" + "".join(
    f"TRANSFORMS-c{n:04d} = st{n}\n" for n in range(GROUPS)
)
EVIL_TRANSFORMS = "[redos]\nREGEX = (a+)+$\nDEST_KEY = _MetaData:Index\nFORMAT = web\n" + "".join(
    f"[st{n}]\nREGEX = x{n}\nDEST_KEY = MetaData:Sourcetype\nFORMAT = sourcetype::s{n}\n"
    for n in range(GROUPS)
)
INDEXES = "[os]\nhomePath = x\n[web]\nhomePath = x\n" + "".join(
    f"[{name}]\nhomePath = x\n" for name in WEIRD_INDEXES.values()
)

ESTATE: dict[str, Tree] = {
    "uf-evil": uf("uf-evil", inputs=EVIL_INPUTS, outputs=EVIL_OUTPUTS),
    "hf-evil": hf(
        "hf-evil",
        inputs="[splunktcp://9997]\n",
        outputs="[tcpout]\ndefaultGroup = idx\n[tcpout:idx]\nserver = idx1:9997\n",
        props=EVIL_PROPS,
        transforms=EVIL_TRANSFORMS,
    ),
    "idx1": indexer("idx1", INDEXES),
    # a forwarder that lists itself as a server
    "uf-self": uf(
        "uf-self",
        inputs="[splunktcp://9997]\n[monitor:///var/log/self]\n",
        outputs="[tcpout]\ndefaultGroup = me\n[tcpout:me]\nserver = uf-self:9997\n",
    ),
    # a ring of three heavy forwarders
    "ring1": ring_member("ring1", "ring2"),
    "ring2": ring_member("ring2", "ring3"),
    "ring3": ring_member("ring3", "ring1"),
}


def _tar(files: Tree) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ingest(config: Config, db: Database, tmp_path: Path, trees: dict[str, Tree]) -> None:
    """Each tree an instance_etc run labelled with its host, parsed."""
    store = make_store(config.storage)
    for label, files in trees.items():
        path = tmp_path / f"{label}.tgz"
        path.write_bytes(_tar(files))
        outcome = Pipeline(config, db, store).ingest(path, UploadType.INSTANCE_ETC, label)
        assert outcome.run_id is not None
        parser = RunParser(config, db, store)
        parser.claim(outcome.run_id)
        assert parser.parse_claimed(outcome.run_id).status == "complete"


@pytest.fixture
def hostile(config: Config, db: Database, tmp_path: Path) -> Database:
    ingest(config, db, tmp_path, ESTATE)
    assert resolve_estate(config, db).resolution_id is not None
    return db


def autodoc(db: Database, folder: Path, *commands: tuple[str, ...]) -> list[dict[str, Any]]:
    """{code, stdout, stderr} of each command; no traceback in any."""
    return run_commands(db.url, folder, *commands)


def ok_json(result: dict[str, Any]) -> Any:
    assert result["code"] == 0, result["stderr"][-2000:]
    return json.loads(result["stdout"])


def own(paths: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The paths of the inputs the trees write (not the shipped system/default ones)."""
    return {(p["host"], p["input"]): p for p in paths if "$SPLUNK_HOME" not in p["input"]}


def test_a_hostile_estate_is_stored_and_every_paths_command_answers(
    hostile: Database, tmp_path: Path
) -> None:
    results = autodoc(
        hostile,
        tmp_path / "cli",
        ("paths", "--json"),
        ("paths",),
        ("findings", "--json"),
        ("findings",),
        ("paths", "--host", "uf-evil", "--json"),
        ("host", "uf-self"),
        ("host", "uf-evil", "--json"),
    )
    every, text, findings, findings_text, evil, shown, evil_host = results
    paths = own(ok_json(every))
    # `paths --json` splices the stored JSON text; `host --json` decodes it: the same paths,
    # odd names (HTML, NUL, non-ASCII, 10 kB) included.
    assert ok_json(evil) == ok_json(evil_host)["paths"]

    # 1,000 groups, each to hf-evil: cloned, then parsed there with 1,000 conditional
    # classes: the variants stop at MAX_VARIANTS (unknown), bounded.
    redos = paths[("uf-evil", "monitor:///var/log/redos")]
    assert len(redos["groups"]) == GROUPS
    assert {(h["from"], h["to"]) for h in redos["receivers"]} == {
        ("uf-evil", "hf-evil"),
        ("hf-evil", "idx1"),
    }
    assert 0 < len(redos["final"]) <= 200
    assert {f["at"] for f in redos["final"]} == {"idx1"}
    regexes = [e["value"] for e in redos["evidence"] if e["key"] == "REGEX"]
    assert regexes[0] == "(a+)+$"  # recorded, never evaluated

    # 10,000 routing groups no outputs.conf defines: nowhere, each a finding.
    routed = paths[("uf-evil", "monitor:///var/log/routed")]
    assert len(routed["groups"]) == ROUTES
    assert routed["receivers"] == [] and routed["final"] == [] and routed["may_drop"]

    # Odd index names reach idx1, which defines them (NUL is stored as U+FFFD).
    for key, name in WEIRD_INDEXES.items():
        path = paths[("uf-evil", f"monitor:///var/log/{key}")]
        stored = name.replace("\x00", "\ufffd")
        assert (path["index"], path["sourcetype"]) == (stored, stored), key
        assert {(f["index"], f["at"]) for f in path["final"]} == {(stored, "idx1")}, key

    # The forwarder that lists itself, and the ring: a loop, the path stops.
    self_path = paths[("uf-self", "monitor:///var/log/self")]
    assert [(h["from"], h["to"]) for h in self_path["receivers"]] == [("uf-self", "uf-self")]
    assert self_path["final"] == [] and self_path["may_drop"]
    for name in ("ring1", "ring2", "ring3"):
        ring = paths[(name, "monitor:///var/log/ring")]
        assert len(ring["receivers"]) == 3 and ring["final"] == [] and ring["may_drop"], name

    stored = ok_json(findings)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for finding in stored:
        by_code.setdefault(finding["code"], []).append(finding)
    assert len([f for f in by_code["DANGLING_OUTPUT"] if f["host"] == "uf-evil"]) == ROUTES
    loops = {(f["host"], f["subject"]) for f in by_code["ROUTING_LOOP"]}
    assert ("uf-self", "loop:uf-self → uf-self") in loops
    assert len({h for h, _s in loops} & {"ring1", "ring2", "ring3"}) == 3

    # Text forms: one line per path, one per finding; the HTML name is text, as written.
    lines = text["stdout"].splitlines()
    assert text["code"] == 0 and len(lines) == len(ok_json(every))
    assert any(HTML in line for line in lines)
    assert findings_text["code"] == 0
    assert len(findings_text["stdout"].splitlines()) == len(stored)
    assert {p["host"] for p in ok_json(evil)} == {"uf-evil"}
    assert shown["code"] == 0
    assert "ROUTING_LOOP" in shown["stdout"] and "uf-self → uf-self" in shown["stdout"]


# Names no path ends in: absent, huge, LIKE wildcards, SQL, a trailing backslash.
NOTHING = ["no-such-index", "x" * 20_000, "%", "_", "' OR 1=1 --", "main\\", UNICODE + "?"]
# Each an unknown host or code: one line on stderr, exit 2.
UNKNOWN: list[tuple[str, ...]] = [
    ("paths", "--host", "nobody"),
    ("paths", "--host", "x" * 20_000, "--json"),
    ("paths", "--host", HTML),
    ("findings", "--host", "nobody"),
    ("findings", "--code", "NO_SUCH_CODE"),
    ("host", "nobody"),
]


def test_the_reverse_lookups_and_unknown_names_on_a_hostile_estate(
    hostile: Database, tmp_path: Path
) -> None:
    stored = {k: v.replace("\x00", "\ufffd") for k, v in WEIRD_INDEXES.items()}
    commands: list[tuple[str, ...]] = []
    for name in stored.values():
        commands += [
            ("paths", "--index", name, "--json"),
            ("paths", "--sourcetype", name, "--json"),
        ]
    for asked in NOTHING:
        commands += [("paths", "--index", asked, "--json"), ("paths", "--index", asked)]
    commands += UNKNOWN
    results = iter(autodoc(hostile, tmp_path / "cli", *commands))

    # paths --index/--sourcetype with a weird name: its one feeder.
    for key in stored:
        want = [("uf-evil", f"monitor:///var/log/{key}")]
        by_index, by_sourcetype = next(results), next(results)
        assert [(p["host"], p["input"]) for p in ok_json(by_index)] == want, key
        assert [(p["host"], p["input"]) for p in ok_json(by_sourcetype)] == want, key
    # an index nothing feeds: an empty list, a sentence, exit 0
    for asked in NOTHING:
        as_json, as_text = next(results), next(results)
        assert ok_json(as_json) == [], asked[:20]
        assert as_text["code"] == 0 and as_text["stdout"].startswith("no data paths match")
    # an unknown host or code
    for command in UNKNOWN:
        result = next(results)
        assert result["code"] == 2, command[:2]
        assert result["stdout"] == ""
        assert len(result["stderr"].splitlines()) == 1
        assert result["stderr"].startswith("autodoc: ")


def test_one_bad_port_does_not_fail_the_estate(
    config: Config, db: Database, tmp_path: Path
) -> None:
    trees = {
        "uf-port": uf(
            "uf-port",
            inputs="[monitor:///var/log/a]\nindex = os\n",
            outputs="[tcpout]\ndefaultGroup = g\n[tcpout:g]\nserver = idx1:\u00b2, idx1:9997\n",
        ),
        "idx1": indexer("idx1", INDEXES),
    }
    ingest(config, db, tmp_path, trees)
    assert resolve_estate(config, db).resolution_id is not None
    (paths,) = autodoc(db, tmp_path / "cli", ("paths", "--host", "uf-port", "--json"))
    assert own(ok_json(paths))
