"""The daemon's worker pool, driven in a thread with a real pipeline (SQLite and the in-memory
blob store) and a store that holds each upload until the test lets it go."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from structlog.testing import capture_logs

from daemon import migrate
from daemon.config import load_config
from daemon.database import Database
from daemon.inbox import Inbox
from daemon.models import RunStatus
from daemon.pipeline import Pipeline
from daemon.scanner import Scanner
from daemon.service import Daemon
from daemon.storage import StoredBlob
from daemon.storage.memory import MemoryBlobStore
from tests.conftest import write_config

TIMEOUT = 10.0


class GatedStore(MemoryBlobStore):
    """Each put waits for `release`; `entered` is set by the first."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.puts = 0

    def put(self, source: BinaryIO, *, link_from: Path | None = None) -> StoredBlob:
        self.puts += 1
        self.entered.set()
        assert self.release.wait(TIMEOUT), "the test never released the store"
        return super().put(source, link_from=link_from)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_stop_signal_starts_no_queued_job_and_counts_it_abandoned_for_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AUTODOC_DATABASE_URL", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(
        write_config(tmp_path, "[daemon]\nworkers = 1\nstop_timeout_seconds = 30\n")
    )
    db = Database(config.database.url)
    migrate.upgrade(db.engine)
    store = GatedStore()
    inbox = Inbox(config.inbox.path)
    inbox.ensure()
    # Left claimed by an earlier daemon: at start-up each is queued as a job of its own, and
    # the only worker takes them one at a time.
    contents = [gzip.compress(b"etc/system/local/inputs.conf %d" % i, mtime=0) for i in range(8)]
    for i, data in enumerate(contents):
        (inbox.root / "ds_etc" / f"etc{i}.tgz").write_bytes(data)
    for drop, _st in inbox.survey()[0]:
        assert inbox.claim(drop) is not None

    daemon = Daemon(config, inbox, Pipeline(config, db, store))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    with capture_logs() as logs:
        thread.start()
        assert store.entered.wait(TIMEOUT), "no job started"
        daemon.mailbox.put(("stop", "SIGTERM"))  # what the SIGTERM handler sends
        _until(lambda: daemon.stopping, "the daemon to see the stop")
        store.release.set()  # the job in flight finishes; the queued ones must not start
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "the daemon did not stop"

    assert store.puts == 1, f"{store.puts - 1} job(s) started after the stop"
    [stopped] = [e for e in logs if e["event"] == "daemon.stopped"]
    assert stopped["abandoned"] == len(contents) - 1, stopped
    assert len(list(inbox.claimed())) == len(contents) - 1
    [stored] = db.list_runs(limit=None)
    assert stored.status == RunStatus.STORED

    # The next start (here a scan) finishes each left-over file, each once.
    report = Scanner(inbox, Pipeline(config, db, store), 2, 0.0).scan()
    assert (report.stored, report.failed, report.deferred) == (len(contents) - 1, 0, 0)
    runs = db.list_runs(limit=None)
    assert [r.status for r in runs] == [RunStatus.STORED] * len(contents)
    assert sorted(f.path for r in runs for f in r.files) == sorted(
        f"etc{i}.tgz" for i in range(len(contents))
    )
    assert list(inbox.claimed()) == []
