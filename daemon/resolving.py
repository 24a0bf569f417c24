"""Resolving the estate (RESOLVER.md §1): load what the latest complete runs say, compute a
resolution (daemon.resolve, pure) and store it (daemon.resolve.store).

`autodoc resolve` does it on demand. The daemon does it by itself after a `ds_etc`,
`instance_etc` or `inventory` run completes, once such runs stop completing for
`[resolve] debounce_seconds`, in a child process (`autodoc resolve --if-changed`): a big
estate never holds up ingestion or parsing, and its memory goes back when it ends. One
resolver works at a time per database (the claim in daemon.resolve.store); a resolver that
died is redone by the next start, because the estate then differs from the newest resolution.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from daemon import faults
from daemon.conf.archive import ArchiveRejected, read_tree_files
from daemon.config import Config
from daemon.database import Database
from daemon.domain import UploadType
from daemon.errors import TransientError
from daemon.logs import get_logger
from daemon.models import Base, ResolutionStatus
from daemon.owners import this_process
from daemon.parsing import BlobReader, archive_limits
from daemon.resolve import store
from daemon.resolve.defaults import shipped_system_default
from daemon.resolve.estate import Estate, FileUnreadable
from daemon.resolve.load import HOST_COLUMNS, EstateRuns, Reader, latest_runs, load_estate
from daemon.resolve.locations import bundle_candidates
from daemon.resolve.resolver import PATH_CONF_TYPES, ResolveOptions, explain_host, resolve
from daemon.resolve.types import Host, to_json
from daemon.storage import make_store

RESOLUTIONS = Base.metadata.tables["resolutions"]
FILES = Base.metadata.tables["files"]


@dataclass(frozen=True)
class ResolveOutcome:
    resolution_id: int | None  # None: nothing to do (the estate has not changed)
    summary: dict[str, Any]
    seconds: float = 0.0


def estate_changed(db: Database, runs: EstateRuns) -> bool:
    """True when no resolution, complete or failed, was made from exactly these runs (a failed
    one is not retried until the estate changes or `autodoc resolve` is asked)."""
    with db.read_session() as session:
        last = session.execute(
            select(RESOLUTIONS.c.inputs)
            .where(RESOLUTIONS.c.status != ResolutionStatus.RUNNING)
            .order_by(RESOLUTIONS.c.id.desc())
            .limit(1)
        ).scalar()
    return not last or last.get("runs") != runs


def resolve_estate(
    config: Config, db: Database, *, ds_version: str | None = None, if_changed: bool = False
) -> ResolveOutcome:
    """Compute and store a resolution of the estate as it is now. Raises ResolutionBusy when
    another process is resolving."""
    start = time.monotonic()
    runs = latest_runs(db)
    if not runs or (if_changed and not estate_changed(db, runs)):
        return ResolveOutcome(None, {})
    version = ds_version or config.resolve.ds_version or None
    owner = this_process()
    # The override asked for is kept with the runs: a preview resolves as this one did.
    resolution_id = store.begin(db, owner, {"runs": runs, "ds_version": version}, version)
    log = get_logger(resolution_id=resolution_id)
    log.info("resolution.started", runs=runs)
    try:
        with _heartbeat(db, resolution_id, owner):
            estate = load_estate(db, runs, system_default=shipped_system_default(*PATH_CONF_TYPES))
            estate = dataclasses.replace(estate, read_file=bundle_files(config, db, estate))
            result = resolve(estate, ResolveOptions(ds_version=version))
            faults.point("after_resolution_computed")
            store.write(db, resolution_id, result)
            faults.point("after_resolution_rows")
            summary = dict(result.summary)
            store.complete(db, resolution_id, owner, summary, result.ds_version)
    except (store.ResolutionLost, TransientError):
        # Not this estate's fault: nothing is recorded against these runs, so the next
        # attempt (the daemon's, or the next start's) does it again.
        raise
    except Exception as exc:
        log.error("resolution.failed", error=repr(exc), exc_info=exc)
        with contextlib.suppress(Exception):
            store.fail(db, resolution_id, owner, f"internal error: {exc!r}")
        raise
    seconds = round(time.monotonic() - start, 3)
    log.info("resolution.complete", duration_ms=round(seconds * 1000, 1), **summary)
    return ResolveOutcome(resolution_id, summary, seconds)


def every_membership(
    config: Config, db: Reader, resolution: Mapping[str, Any], host: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A stored host's result for every class of its DS, not_member included, with why and
    missing ({name, result, why, missing}, by class name), decided again from the runs and
    DS version the resolution used: only its DS's serverclass.conf (and from_pathname
    files) is read. Empty when the host belongs to no DS or that run is gone."""
    label = host.get("_ds") or ""
    run = (resolution.get("inputs") or {}).get("runs", {}).get(UploadType.DS_ETC.value, {})
    if label not in run:
        return []
    runs = {UploadType.DS_ETC.value: {label: run[label]}}
    estate = load_estate(db, runs, conf_types=("serverclass", "splunk.version"))
    estate = dataclasses.replace(estate, read_file=bundle_files(config, db, estate))
    subject = Host(key=host["name"], **{f: host.get(f) for f in HOST_COLUMNS})
    options = ResolveOptions(ds_version=resolution.get("ds_version"))
    found = explain_host(estate, subject, label, options)
    return [
        {
            "name": m.serverclass,
            "result": m.result.value,
            "why": to_json(m.why),
            "missing": to_json(m.missing),
        }
        for m in sorted(found, key=lambda m: m.serverclass)
    ]


def bundle_files(config: Config, db: Reader, estate: Estate) -> Callable[[int, str], bytes | None]:
    """`Estate.read_file` for the files serverclass.conf reads (`*.from_pathname`): parsing
    keeps only .conf files, so they are read from each DS's stored bundle, all of one bundle
    in one pass, before resolving. A bundle that cannot be read that way (a file over
    `[parse] max_member_bytes`) makes its files unreadable, with the reason; a blob store
    that fails raises StorageUnavailable (the resolution is tried again)."""
    wanted: dict[int, set[str]] = {}
    for bundle in estate.deployment_servers:
        for conf in bundle.conf("serverclass"):
            for row in conf.stanzas:
                for key, value in row.settings.items():
                    if key.endswith(".from_pathname"):
                        wanted.setdefault(bundle.run, set()).update(bundle_candidates(value))
    if not wanted:
        return estate.read_file
    with db.read_session() as session:
        blobs = {
            run_id: (key, path)
            for run_id, key, path in session.execute(
                select(FILES.c.run_id, FILES.c.stored_object_key, FILES.c.path).where(
                    FILES.c.run_id.in_(list(wanted))
                )
            )
        }
    blob_store = make_store(config.storage)
    found: dict[int, dict[str, bytes]] = {}
    unreadable: dict[int, str] = {}
    for run_id, paths in wanted.items():
        if run_id not in blobs:
            continue
        key, name = blobs[run_id]
        with io.BufferedReader(BlobReader(blob_store, key)) as blob:
            try:
                found[run_id] = read_tree_files(
                    blob, UploadType.DS_ETC, name=name, wanted=paths, limits=archive_limits(config)
                )
            except ArchiveRejected as exc:
                unreadable[run_id] = f"the DS bundle (run {run_id}) cannot be read: {exc}"

    def read_file(run_id: int, path: str) -> bytes | None:
        if run_id in unreadable:
            raise FileUnreadable(unreadable[run_id])
        return found.get(run_id, {}).get(path)

    return read_file


@contextlib.contextmanager
def _heartbeat(db: Database, resolution_id: int, owner: str) -> Iterator[None]:
    """Renew the claim while the resolution is computed and written."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(store.HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):  # a missed beat only risks a takeover
                store.heartbeat(db, resolution_id, owner)

    thread = threading.Thread(target=beat, name="resolve-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# How often the daemon looks for runs that other daemons (sharing the database) completed.
POLL_SECONDS = 60.0
RETRY_SECONDS = 30.0


class AutoResolver:
    """The daemon's resolver: woken when a run completes, it waits for `[resolve]
    debounce_seconds` without another wake, then runs `autodoc resolve --if-changed` as a
    child process (which does nothing when the estate has not changed). Its log lines go to
    the daemon's stdout. A failed child is retried after RETRY_SECONDS.

    Then it keeps the documentation site current: `autodoc docs build --if-stale`, a child of
    its own (the resolver's memory is given back first), builds the latest resolution's site
    when `latest` does not point at it yet. A failed build leaves `latest` where it was and
    never touches the resolution; the child logs why (`docs.build_failed`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="resolve", daemon=True)

    def start(self) -> None:
        self.wake.set()  # at start-up: redo what a resolver that died left undone
        self.thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()  # its resolution stays `running`; the next resolver redoes it
        self.thread.join(timeout)

    def _loop(self) -> None:
        log = get_logger()
        while not self.stop.is_set():
            self.wake.wait(POLL_SECONDS)
            if self.stop.is_set():
                return
            self.wake.clear()
            # Debounce: one resolution for a burst of completed runs.
            while self.wake.wait(self.config.resolve.debounce_seconds):
                if self.stop.is_set():
                    return
                self.wake.clear()
            code = self._run_child("resolve", "--if-changed", "--quiet")
            if code not in (0, None) and not self.stop.is_set():
                log.warning("resolution.retry", exit_code=code, retry_in_s=RETRY_SECONDS)
                self.stop.wait(RETRY_SECONDS)
                self.wake.set()
            elif code == 0:
                docs = self._run_child("docs", "build", "--if-stale", "--quiet")
                if docs not in (0, None):
                    # The child said why (docs.build_failed) unless it was killed: the exit
                    # code is the daemon's own account, under a name of its own.
                    log.warning(
                        "docs.build_exited", exit_code=docs, docs=str(self.config.docs.path)
                    )

    def _run_child(self, *args: str) -> int | None:
        command = [sys.executable, "-m", "daemon", "--config", str(self.config.source), *args]
        with self._lock:
            if self.stop.is_set():
                return None
            self._child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        try:
            return self._child.wait()
        finally:
            with self._lock:
                self._child = None
