"""A resolution end to end on each database: the DCOM deployment server and a client list,
parsed, resolved and stored; what is stored answers which host gets which class and why."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.models import HostMembership, Resolution, ResolvedHost
from daemon.parsing import RunParser
from daemon.pipeline import Pipeline
from daemon.resolve import store
from daemon.resolve.load import latest_runs
from daemon.resolving import estate_changed, resolve_estate
from daemon.storage import make_store

DCOM = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "ds_etc" / "dcom"
CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    "sh1,DCOMSearchHead01,10.0.0.1,dcomsearchhead01.example.com,,linux-x86_64\n"
    "idx1,DCOMIndexer01,10.0.0.2,dcomindexer01.example.com,,linux-x86_64\n"
    "web,webserver9,10.0.0.9,webserver9.example.com,,linux-x86_64\n"
)


def _ingest(
    config: Config, db: Database, tmp_path: Path, name: str, data: bytes, kind: UploadType
) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    outcome = Pipeline(config, db, make_store(config.storage)).ingest(path, kind, "ds1")
    assert outcome.run_id is not None
    parser = RunParser(config, db, make_store(config.storage))
    parser.claim(outcome.run_id)
    assert parser.parse_claimed(outcome.run_id).status == "complete"
    return outcome.run_id


@pytest.fixture
def estate(config: Config, db: Database, tmp_path: Path) -> Database:
    if not DCOM.is_dir():
        pytest.skip(f"corpus not found at {DCOM}")
    buffer = io.BytesIO()
    version = b"VERSION=9.4.3\nPLATFORM=Linux-x86_64\n"
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(DCOM / "etc", arcname="etc")
        info = tarfile.TarInfo("etc/splunk.version")
        info.size = len(version)
        tar.addfile(info, io.BytesIO(version))
    _ingest(config, db, tmp_path, "dcom.tgz", buffer.getvalue(), UploadType.DS_ETC)
    _ingest(config, db, tmp_path, "clients.csv", CLIENTS.encode(), UploadType.INVENTORY)
    return db


def test_a_resolution_of_the_dcom_estate_says_which_host_is_in_which_class(
    config: Config, estate: Database
) -> None:
    outcome = resolve_estate(config, estate)
    assert outcome.resolution_id is not None
    with estate.read_session() as session:
        resolution = session.get(Resolution, outcome.resolution_id)
        assert resolution is not None and resolution.status == "complete"
        rows = session.execute(
            select(ResolvedHost.name, HostMembership.serverclass, HostMembership.result)
            .join(ResolvedHost, ResolvedHost.id == HostMembership.host_id)
            .where(HostMembership.resolution_id == outcome.resolution_id)
        ).all()
    # [serverClass:SearchHead] whitelist.0 = DCOMSearchHead*: hostname DCOMSearchHead01
    # matches (case-insensitive, whole value); every attribute of every host is known, so no
    # class is unknown, and webserver9 matches none of the four DCOM* patterns.
    assert sorted(rows) == [("idx1", "Indexer", "member"), ("sh1", "SearchHead", "member")]
    assert outcome.summary["hosts"] == 3
    # The DS version comes from the bundle's etc/splunk.version.
    assert resolution.ds_version == "9.4.3"


def test_the_estate_is_resolved_again_only_when_its_runs_change(
    config: Config, estate: Database
) -> None:
    resolve_estate(config, estate)
    assert not estate_changed(estate, latest_runs(estate))
    assert resolve_estate(config, estate, if_changed=True).resolution_id is None


def test_a_resolution_left_running_by_a_dead_resolver_is_replaced(
    config: Config, estate: Database
) -> None:
    dead = store.begin(estate, "nohost:1", {"runs": {}}, None)
    with pytest.raises(store.ResolutionBusy):
        store.begin(estate, "otherhost:2", {"runs": {}}, None)
    with estate.session() as session:  # its heartbeat stopped long ago
        row = session.get(Resolution, dead)
        assert row is not None
        row.heartbeat_at = row.created_at.replace(year=2000)
    outcome = resolve_estate(config, estate)
    with estate.read_session() as session:
        statuses = session.execute(select(Resolution.id, Resolution.status)).all()
    assert statuses == [(outcome.resolution_id, "complete")]  # the dead one is gone
