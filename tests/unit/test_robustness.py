"""One odd file never wedges the inbox; odd commands end in one line, not a traceback."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import pytest
from structlog.testing import capture_logs

from daemon import cli, migrate
from daemon.config import Config
from daemon.database import Database
from daemon.errors import SourceChanged
from daemon.inbox import Drop, Inbox
from daemon.models import RunStatus
from daemon.pipeline import Pipeline
from daemon.scanner import Scanner
from daemon.storage import StoredBlob
from daemon.storage.local import LocalBlobStore
from daemon.storage.memory import MemoryBlobStore

GZ = b"\x1f\x8b" + b"\x08" * 30


class PickyStore(MemoryBlobStore):
    """Raises `error` for content starting with `trigger`, stores the rest."""

    def __init__(self, trigger: bytes, error: BaseException) -> None:
        super().__init__()
        self.trigger = trigger
        self.error = error

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        data = source.read()
        if data.startswith(self.trigger):
            raise self.error
        return super().put(io.BytesIO(data), link_from=link_from)


def _scan(config: Config, store: MemoryBlobStore, files: dict[str, bytes]) -> tuple:
    db = Database(config.database.url)
    migrate.upgrade(db.engine)
    inbox = Inbox(config.inbox.path)
    inbox.ensure()
    for rel, data in files.items():
        (inbox.root / rel).write_bytes(data)
    report = Scanner(inbox, Pipeline(config, db, store), 2, 0.0).scan()
    return report, db, inbox


def test_a_file_still_being_written_waits_while_the_others_are_stored(config: Config) -> None:
    store = PickyStore(GZ + b"busy", SourceChanged("file is still open for writing"))
    report, db, inbox = _scan(
        config, store, {"ds_etc/busy.tgz": GZ + b"busy", "ds_etc/ok.tgz": GZ + b"ok"}
    )
    assert (report.stored, report.deferred) == (1, 1)
    assert [c.name for c in inbox.claimed()] == ["busy.tgz"]
    assert sorted(r.status.value for r in db.list_runs()) == ["pending", "stored"]


def test_an_unexpected_error_fails_only_that_run_and_keeps_the_file(config: Config) -> None:
    store = PickyStore(GZ + b"bug", ZeroDivisionError("a bug"))
    with capture_logs() as logs:
        report, db, _inbox = _scan(
            config, store, {"ds_etc/bug.tgz": GZ + b"bug", "ds_etc/ok.tgz": GZ + b"ok"}
        )
    assert (report.stored, report.failed) == (1, 1)
    failed = db.list_runs(status=RunStatus.FAILED)[0]
    assert "internal error: ZeroDivisionError('a bug')" in (failed.notes or "")
    assert (config.inbox.failed_path / "ds_etc" / f"{failed.id}-bug.tgz").read_bytes() == (
        GZ + b"bug"
    )
    assert "run.crashed" in [e["event"] for e in logs]


def test_a_drop_that_cannot_be_claimed_is_warned_about_and_the_rest_go_on(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_claim = Inbox.claim

    def claim(self: Inbox, drop: Drop):  # type: ignore[no-untyped-def]
        if drop.path.name == "locked.tgz":
            raise PermissionError(13, "Permission denied")
        return real_claim(self, drop)

    monkeypatch.setattr(Inbox, "claim", claim)
    with capture_logs() as logs:
        report, _db, inbox = _scan(
            config, MemoryBlobStore(), {"ds_etc/locked.tgz": GZ + b"1", "ds_etc/ok.tgz": GZ + b"2"}
        )
    assert report.stored == 1
    refused = [e for e in logs if e["event"] == "inbox.refused"]
    assert [(e["path"], e["reason"]) for e in refused] == [
        ("ds_etc/locked.tgz", "cannot be claimed: Permission denied")
    ]
    assert (inbox.root / "ds_etc/locked.tgz").exists()


def test_local_store_never_links_a_file_a_writer_still_has_open(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs").mkdir()
    source = tmp_path / "drop.tgz"
    source.write_bytes(b"first part")
    with open(source, "ab") as writer, open(source, "rb") as reader:
        with pytest.raises(SourceChanged, match="still open for writing"):
            store.put(reader, link_from=source)
        writer.write(b" and the rest")
    with open(source, "rb") as reader:
        blob = store.put(reader, link_from=source)
    stored = tmp_path / "blobs" / blob.key
    assert stored.read_bytes() == b"first part and the rest"
    assert stored.stat().st_ino == source.stat().st_ino  # linked, not copied, once closed


def test_status_on_an_unmigrated_database_exits_2_and_creates_nothing(
    config_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(config_path), "status"]) == 2
    assert "run 'autodoc db upgrade'" in capsys.readouterr().out
    assert not (config_path.parent / "var" / "autodoc.db").exists()
    assert not config.storage.path.exists()


def test_ingest_of_a_directory_is_a_usage_error_naming_it(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(["--config", str(config_path), "ingest", str(tmp_path), "--type", "ds_etc"]) == 2
    )
    err = capsys.readouterr().err
    assert err == f"autodoc: {tmp_path}: not a regular file (directory)\n"
