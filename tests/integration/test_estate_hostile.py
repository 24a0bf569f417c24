"""Hostile estates end to end on each database (issue 10): a deployment-server bundle and a
client list an attacker dropped are ingested, parsed and resolved, and `autodoc resolve`,
`hosts` and `host` still answer. What the pure resolver does with them is in
tests/unit/resolve/test_estate_hostile.py; here is what storing and showing them adds."""

from __future__ import annotations

import io
import json
import random
import string
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.models import Resolution, ResolutionFinding
from daemon.resolving import resolve_estate
from tests.cli_driver import outputs
from tests.integration.test_resolution import _ingest

HTML = '<script>alert("x")</script><b>'
GUID = "00000000-0000-4000-8000-000000000001"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _estate(
    config: Config, db: Database, tmp_path: Path, files: dict[str, bytes], clients: str
) -> None:
    _ingest(config, db, tmp_path, "ds.tgz", _tar(files), UploadType.DS_ETC)
    _ingest(config, db, tmp_path, "clients.csv", clients.encode(), UploadType.INVENTORY)


def autodoc(db: Database, tmp_path: Path, *commands: tuple[str, ...]) -> list[str]:
    """The stdout of each `autodoc --config C COMMAND...` against this database and the blob
    store of the `config` fixture (var/ under tmp_path); every command must exit 0."""
    return outputs(db.url, tmp_path, *commands)


def _random_name(size: int) -> str:
    # Incompressible, as an index entry of PostgreSQL sees it (a run of "a" compresses).
    rng = random.Random(size)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


# -- a bundle full of traps, and the CLI on top -------------------------------------------------

# 10,000 in the unit test; here enough that each is a row of its own and listing them stays
# usable (10,000 cost ~2.5 s in `autodoc resolve` alone, over the suite's budget).
GHOSTS = 2_000
SERVERCLASS = "\n".join(
    [
        "[serverClass:all]",
        "whitelist.0 = *",
        "[serverClass:all:app:nix]",
        *(f"[serverClass:all:app:ghost{n:05d}]" for n in range(GHOSTS)),
        # NUL in a stanza name and a value: the conf store replaces them by U+FFFD
        "[serverClass:n\x00ul]",
        "whitelist.0 = web0*",
        "whitelist.1 = evil\x00*",
        "[serverClass:empty]",
        "whitelist.0 =",
        # climbs out of the bundle, and an absolute path the bundle lacks: never the real ones
        "[serverClass:climb]",
        "whitelist.from_pathname = ../../../../../../etc/passwd",
        "[serverClass:passwd]",
        "whitelist.from_pathname = /etc/passwd",
        "[serverClass:redos]",
        "whitelist.0 = (a+)+$",
        "[serverClass:backref]",
        "whitelist.0 = (a)\\1",
        "",
    ]
).encode()
CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    f'"{HTML.replace(chr(34), chr(34) * 2)}",web01,10.0.0.1,web01.example.com,{GUID},linux-x86_64\n'
    f"{'a' * 10_000},root,10.0.0.2,root.example.com,,linux-x86_64\n"
)


@pytest.fixture
def hostile(config: Config, db: Database, tmp_path: Path) -> Database:
    files = {
        "etc/system/local/serverclass.conf": SERVERCLASS,
        "etc/deployment-apps/nix/default/app.conf": b"[install]\nstate = enabled\n",
    }
    _estate(config, db, tmp_path, files, CLIENTS)
    return db


def test_a_hostile_bundle_and_client_list_resolve_and_every_command_answers(
    hostile: Database, tmp_path: Path
) -> None:
    resolved, listed, shown, by_other_name, text = autodoc(
        hostile,
        tmp_path,
        ("resolve", "--json"),
        ("hosts", "--json"),
        ("host", HTML, "--json"),
        ("host", "root", "--json"),
        ("host", "web01"),
    )
    summary = json.loads(resolved)
    assert summary["hosts"] == 2
    with hostile.read_session() as session:
        resolution = session.get(Resolution, summary["resolution"])
        assert resolution is not None and resolution.status == "complete"
        stored = session.execute(
            select(
                ResolutionFinding.code, ResolutionFinding.subject, ResolutionFinding.message
            ).where(ResolutionFinding.resolution_id == summary["resolution"])
        ).all()
    # Every missing app is a finding of its own (RESOLVER.md §3 sets no cap).
    assert sum(1 for c, _s, _m in stored if c == "APP_NOT_IN_REPOSITORY") == GHOSTS
    unresolved = {s: m for c, s, m in stored if c == "UNRESOLVED_FROM_PATHNAME"}
    assert set(unresolved) == {
        "serverClass:climb whitelist.from_pathname",
        "serverClass:passwd whitelist.from_pathname",
    }
    assert all("not in the DS bundle" in m for m in unresolved.values())
    assert [s for c, s, _m in stored if c == "UNSAFE_PATTERN"] == [
        "serverClass:backref whitelist.0"
    ]

    by_name = {h["name"]: h for h in json.loads(listed)}
    assert set(by_name) == {HTML, "a" * 10_000}
    # The HTML name is data, kept verbatim; the class named with a NUL is stored with U+FFFD.
    assert by_name[HTML]["serverclasses"] == ["all", "n\ufffdul"]
    assert by_name["a" * 10_000]["serverclasses"] == ["all", "redos"]
    assert len(by_name[HTML]["apps"]) == GHOSTS + 1

    host = json.loads(shown)
    assert host["host"]["client_name"] == HTML
    classes = {c["name"]: c["result"] for c in host["serverclasses"]}
    # Neither list file was read from the resolver's own disk: the classes stay unknown.
    assert classes["climb"] == classes["passwd"] == "unknown"
    assert classes["backref"] == "unknown"
    assert "empty" not in classes
    apps = {a["app"]: a["in_repository"] for a in host["apps"]}
    assert apps["nix"] is True
    assert sum(1 for there in apps.values() if not there) == GHOSTS
    # The same hosts found by another of their names, and shown as text.
    assert json.loads(by_other_name)["host"]["name"] == "a" * 10_000
    assert text.startswith(f"{HTML} (resolution {summary['resolution']})")


# -- what a database cannot store ---------------------------------------------------------------


def test_a_10kb_client_name_does_not_stop_the_resolution(
    config: Config, db: Database, tmp_path: Path
) -> None:
    name = _random_name(10_000)
    files = {"etc/system/local/serverclass.conf": b"[serverClass:all]\nwhitelist.0 = *\n"}
    _estate(config, db, tmp_path, files, f"clientName,ip\n{name},10.0.0.1\nweb,10.0.0.2\n")
    outcome = resolve_estate(config, db)
    assert outcome.resolution_id is not None and outcome.summary["memberships"] == 2


@pytest.mark.parametrize("where", ["class", "app"])
def test_a_huge_class_or_app_name_with_a_member_does_not_stop_the_resolution(
    config: Config, db: Database, tmp_path: Path, where: str
) -> None:
    big = _random_name(10_000)
    name, app = (big, "nix") if where == "class" else ("all", big)
    conf = f"[serverClass:{name}]\nwhitelist.0 = *\n[serverClass:{name}:app:{app}]\n"
    files = {"etc/system/local/serverclass.conf": conf.encode()}
    _estate(config, db, tmp_path, files, "clientName,ip\nweb,10.0.0.1\n")
    outcome = resolve_estate(config, db)
    assert outcome.resolution_id is not None and outcome.summary["memberships"] == 1


def test_nul_characters_in_a_from_pathname_list_do_not_stop_the_resolution(
    config: Config, db: Database, tmp_path: Path
) -> None:
    files = {
        "etc/system/local/serverclass.conf": (
            b"[serverClass:listed]\nwhitelist.from_pathname = etc/system/local/hosts.txt\n"
        ),
        "etc/system/local/hosts.txt": b"(a)\\1\x00\nweb\x00?\n",
    }
    clients = f"clientName,hostname,ip,dns,guid\nweb,web,10.0.0.1,web,{GUID}\n"
    _estate(config, db, tmp_path, files, clients)
    outcome = resolve_estate(config, db)
    assert outcome.resolution_id is not None
    with db.read_session() as session:
        codes = session.scalars(
            select(ResolutionFinding.code).where(
                ResolutionFinding.resolution_id == outcome.resolution_id
            )
        ).all()
    assert "UNSAFE_PATTERN" in codes
