"""What a resolution reads from a DS bundle beyond its parsed .conf files, on each database:
`whitelist.from_pathname` lists from the stored blob, and app folders with no .conf file
(recorded at parse time in bundle_dirs) counting as in the repository."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

from sqlalchemy import select

from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.models import BundleDir, HostApp, HostMembership, ResolutionFinding, ResolvedHost
from daemon.resolving import resolve_estate
from tests.integration.test_resolution import _ingest

SERVERCLASS = b"""\
[serverClass:listed]
whitelist.from_pathname = etc/system/local/hosts.txt

[serverClass:listed:app:scripts_only]

[serverClass:prod]
whitelist.from_pathname = $SPLUNK_HOME/etc/system/local/clients.csv
whitelist.select_field = host
whitelist.where_field = env
whitelist.where_equals = prod

[serverClass:absent]
whitelist.from_pathname = /opt/splunk/etc/system/local/none.txt
"""
CLIENTS = (
    "clientName,hostname,ip,dns,guid,utsname\n"
    "web01,web01,10.0.0.1,web01.example.com,,linux-x86_64\n"
    "web02,web02,10.0.0.2,web02.example.com,,linux-x86_64\n"
    "db01,db01,10.0.0.3,db01.example.com,,linux-x86_64\n"
)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _resolve(config: Config, db: Database, tmp_path: Path, files: dict[str, bytes]) -> int:
    ds = _ingest(config, db, tmp_path, "ds.tgz", _tar(files), UploadType.DS_ETC)
    _ingest(config, db, tmp_path, "clients.csv", CLIENTS.encode(), UploadType.INVENTORY)
    with db.read_session() as session:
        dirs = session.scalars(select(BundleDir.path).where(BundleDir.run_id == ds)).all()
    assert sorted(dirs) == ["etc/deployment-apps/scripts_only"]
    outcome = resolve_estate(config, db)
    assert outcome.resolution_id is not None
    return outcome.resolution_id


def test_from_pathname_lists_are_read_from_the_stored_bundle(
    config: Config, db: Database, tmp_path: Path
) -> None:
    resolution = _resolve(
        config,
        db,
        tmp_path,
        {
            "opt/splunk/etc/system/local/serverclass.conf": SERVERCLASS,
            "opt/splunk/etc/system/local/hosts.txt": b"# web tier\nweb*\n",
            "opt/splunk/etc/system/local/clients.csv": (
                b"host,env\nweb01,prod\nweb02,dev\ndb*,prod\n"
            ),
            "opt/splunk/etc/deployment-apps/scripts_only/bin/run.sh": b"#!/bin/sh\n",
        },
    )
    with db.read_session() as session:
        rows = session.execute(
            select(ResolvedHost.name, HostMembership.serverclass, HostMembership.result)
            .join(ResolvedHost, ResolvedHost.id == HostMembership.host_id)
            .where(HostMembership.resolution_id == resolution)
        ).all()
        apps = session.execute(
            select(ResolvedHost.name, HostApp.app, HostApp.in_repository)
            .join(ResolvedHost, ResolvedHost.id == HostApp.host_id)
            .where(HostApp.resolution_id == resolution)
        ).all()
        codes = session.scalars(
            select(ResolutionFinding.code).where(ResolutionFinding.resolution_id == resolution)
        ).all()
    # hosts.txt: `web*` on line 2 (the comment line is a pattern no name matches). clients.csv:
    # the `host` column of the rows whose `env` is `prod`: web01 and the pattern db*. web02
    # has no GUID in the inventory, and db* could match one (hex digits), so it is unknown.
    # none.txt is not in the bundle: `absent` is unknown for every host, with the finding.
    assert sorted(rows) == [
        ("db01", "absent", "unknown"),
        ("db01", "prod", "member"),
        ("web01", "absent", "unknown"),
        ("web01", "listed", "member"),
        ("web01", "prod", "member"),
        ("web02", "absent", "unknown"),
        ("web02", "listed", "member"),
        ("web02", "prod", "unknown"),
    ]
    # scripts_only has no .conf file, but its folder is in the repository.
    assert sorted(apps) == [("web01", "scripts_only", True), ("web02", "scripts_only", True)]
    assert "APP_NOT_IN_REPOSITORY" not in codes
    assert "UNRESOLVED_FROM_PATHNAME" in codes


def test_a_from_pathname_file_over_the_member_limit_is_unresolved_with_the_reason(
    config: Config, db: Database, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        config, parse=dataclasses.replace(config.parse, max_member_bytes=4096)
    )
    big = b"".join(b"host%06d\n" % i for i in range(1000))  # 11 kB
    resolution = _resolve(
        config,
        db,
        tmp_path,
        {
            "etc/system/local/serverclass.conf": SERVERCLASS,
            "etc/system/local/hosts.txt": big,
            "etc/deployment-apps/scripts_only/default/app.conf": b"[ui]\n",
        },
    )
    with db.read_session() as session:
        messages = session.scalars(
            select(ResolutionFinding.message).where(
                ResolutionFinding.resolution_id == resolution,
                ResolutionFinding.code == "UNRESOLVED_FROM_PATHNAME",
            )
        ).all()
    assert any("max_member_bytes" in message for message in messages), messages
