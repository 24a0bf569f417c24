"""Burst throughput: N small Splunk bundles dropped at once, drained by `autodoc scan` and by
the running daemon, on local store + SQLite, local store + PostgreSQL and S3 (SeaweedFS on
loopback) + PostgreSQL; baseline in the same run: `rclone move --transfers 4` of the same
files to the same destination filesystem or bucket.

scan: the files are renamed into the inbox, then the whole `autodoc scan` process is timed
(interpreter start-up, migrations check, every file fsync'd and committed).
daemon: `autodoc run` is started and ready (sd_notify READY=1); the files are renamed into the
inbox at once; the time runs until the last `run.stored` line (its own timestamp).
Every measurement uses a fresh workspace, database and bucket prefix, and is checked
afterwards: N runs `stored` in the database and N blobs in the store.
"""

from __future__ import annotations

import contextlib
import sys
import time

import common
from common import Drain, Report, Row, Workspace, log

CONFIGS = {
    "local-sqlite": ("local", "sqlite", 500.0),
    "local-pg": ("local", "postgres", 400.0),
    "s3-pg": ("s3", "postgres", None),  # target: rclone's files/s to the same server
}
LABELS = {
    "local-sqlite": "local + SQLite",
    "local-pg": "local + PostgreSQL",
    "s3-pg": "S3 + PostgreSQL",
}


def check(ws: Workspace, n: int) -> str:
    """'' when the workspace holds exactly n stored runs and n blobs; else what is wrong. A
    run the daemon has gone on to parse (its parse workers run beside ingestion) counts as
    stored."""
    counts = ws.status_counts()
    blobs = ws.blob_count()
    problems = []
    ingested = sum(counts.get(s, 0) for s in ("stored", "parsing", "normalized", "complete"))
    if ingested != n or ingested != sum(counts.values()):
        problems.append(f"runs by status {counts}")
    if blobs != n:
        problems.append(f"{blobs} blobs")
    return f"expected {n} stored runs and blobs, found " + ", ".join(problems) if problems else ""


def drain_scan(ws: Workspace, source: common.Corpus, n: int) -> Drain:
    rels = common.stage(source, range(n), ws.staging)
    common.publish(ws.staging, ws.inbox, rels)
    timed, tail = ws.scan()
    if timed.returncode != 0:
        raise RuntimeError(f"autodoc scan exited {timed.returncode}: {ws.stderr_of('scan')[-600:]}")
    finished = tail.named("scan.finished")
    inner = finished[-1].get("duration_ms") if finished else None
    return Drain(
        n,
        timed.seconds,
        tail.count("run.stored"),
        tail.count("run.failed"),
        {"in_process_s": inner / 1000 if isinstance(inner, int | float) else None},
    )


def drain_daemon(ws: Workspace, source: common.Corpus, n: int, timeout: float) -> Drain:
    rels = common.stage(source, range(n), ws.staging)
    daemon = common.Daemon(ws)
    try:
        daemon.wait_ready()
        time.sleep(0.3)  # let start-up work (first rescan, state file) settle
        rss_before = daemon.memory().get("VmRSS", 0)
        start = common.publish(ws.staging, ws.inbox, rels)
        done = daemon.wait_count(("run.stored", "run.failed"), n, timeout)
        stored = daemon.tail.named("run.stored")
        end = max((common.event_time(e) for e in stored), default=time.time())
        rss_after = daemon.memory().get("VmRSS", 0)
        if not done:
            raise RuntimeError(daemon.why_not(("run.stored", "run.failed"), n))
        return Drain(
            n,
            end - start,
            len(stored),
            daemon.tail.count("run.failed"),
            {"rss_before": rss_before, "rss_after": rss_after},
        )
    finally:
        code = daemon.stop()
        if code not in (0, None):
            log(f"daemon exited {code}: {daemon.stderr()[-400:]}")


def rclone_burst(
    source: common.Corpus, n: int, s3: common.SeaweedFS | None, keep: bool, tries: int = 1
) -> tuple[float | None, str]:
    """files/s of `rclone move` of the same n files (local: same filesystem; S3: same bucket),
    the best of `tries` runs."""
    if common.rclone_path() is None:
        return None, "rclone not installed (make bench installs it with apt-get)"
    best: float | None = None
    for _ in range(tries):
        rate, problem = _rclone_once(source, n, s3, keep)
        if rate is None:
            return None, problem
        best = max(best or 0.0, rate)
    return best, ""


def warm_up(source: common.Corpus, n: int, s3: common.SeaweedFS, keep: bool) -> None:
    """An unmeasured rclone move into the bucket first: SeaweedFS grows its volumes on the
    first writes, which would otherwise fall on whichever measurement comes first (rclone's)."""
    _rclone_once(source, min(n, 200), s3, keep)


def _rclone_once(
    source: common.Corpus, n: int, s3: common.SeaweedFS | None, keep: bool
) -> tuple[float | None, str]:
    ws = Workspace("rclone-s3" if s3 else "rclone-local")
    try:
        common.stage(source, range(n), ws.staging)
        prefix = f"rclone-burst-{common.short_id()}/"
        if s3 is not None:
            dest = f"{common.RCLONE_REMOTE}:{common.S3_BUCKET}/{prefix}"
        else:
            dest = str(ws.var / "rclone-dest")
        timed = common.rclone(
            ["move", str(ws.staging), dest], s3.endpoint if s3 else None, ws.logs / "rclone.log"
        )
        if timed.returncode != 0:
            err = (ws.logs / "rclone.err").read_text(errors="replace")[-600:]
            return None, f"rclone exited {timed.returncode}: {err}"
        if s3 is not None:
            moved = s3.count(prefix)[0]
        else:
            moved = sum(1 for p in (ws.var / "rclone-dest").rglob("*") if p.is_file())
        if moved != n:
            return None, f"rclone moved {moved} of {n} files"
        return n / timed.seconds, ""
    finally:
        ws.cleanup(keep)


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--files", type=int, default=1000, help="files per burst (default 1000)")
    p.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, from {', '.join(CONFIGS)} (default: all)",
    )
    p.add_argument("--modes", default="scan,daemon", help="scan, daemon or both (default)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per drain (default 300)")
    args = p.parse_args()
    n = 100 if args.quick and args.files == 1000 else args.files
    configs = [c for c in args.configs.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    for c in configs:
        if c not in CONFIGS:
            p.error(f"unknown config {c!r}")
    common.check_sane_workspace()

    report = Report("burst", f"Burst throughput: {n} small bundles dropped at once")
    source = common.corpus(n)
    report.note(f"corpus: {source.describe(n)}")
    pg = common.Postgres() if any(CONFIGS[c][1] == "postgres" for c in configs) else None
    s3: common.SeaweedFS | None = None
    with contextlib.ExitStack() as stack:
        if any(CONFIGS[c][0] == "s3" for c in configs):
            s3 = common.SeaweedFS()
            log("starting SeaweedFS")
            if not s3.start():
                report.note(s3.problem)
                s3 = None
            else:
                stack.callback(s3.stop)
                report.note(
                    f"SeaweedFS: {s3.version}, on loopback, same machine (shares the 2 cores)"
                )
        if pg is not None:
            report.note(
                pg.problem or f"PostgreSQL {pg.version} at {pg.url.host}:{pg.url.port or 5432}"
            )
        report.note(f"rclone: {common.rclone_version()}, `rclone move SRC DEST --transfers 4`")
        if s3 is not None:
            report.note(
                "S3 baseline: the best of 2 rclone moves, after an unmeasured one that warms "
                "SeaweedFS up (its first writes grow volumes)"
            )

        baselines: dict[str, tuple[float | None, str]] = {}
        if any(CONFIGS[c][0] == "local" for c in configs):
            log(f"rclone move of {n} files, same filesystem")
            baselines["local"] = rclone_burst(source, n, None, args.keep)
        if s3 is not None:
            log("warming SeaweedFS up (an unmeasured rclone move)")
            warm_up(source, n, s3, args.keep)
            log(f"rclone move of {n} files to SeaweedFS, best of 2")
            baselines["s3"] = rclone_burst(source, n, s3, args.keep, tries=2)
        for where, (rate, problem) in baselines.items():
            name = "rclone move, same filesystem" if where == "local" else "rclone move to S3"
            report.add(Row(f"baseline: {name}", rate, "files/s", note=problem))

        for config in configs:
            store, database, floor = CONFIGS[config]
            baseline, _ = baselines.get(store, (None, ""))
            for mode in modes:
                case = f"{LABELS[config]}: {'autodoc scan' if mode == 'scan' else 'daemon'}"
                target = f"≥ {floor:.0f} files/s" if floor else "≥ rclone's files/s"
                skip = ""
                if database == "postgres" and (pg is None or not pg.available):
                    skip = pg.problem if pg else "no PostgreSQL"
                if store == "s3" and s3 is None:
                    skip = "no S3 server"
                if skip:
                    report.add(Row(case, None, "files/s", baseline, "rclone", target, None, skip))
                    continue
                log(f"{case}: {n} files")
                ws = Workspace(
                    f"burst-{config}-{mode}",
                    database=database,
                    store=store,
                    pg=pg,
                    s3=s3,
                    s3_prefix=f"{config}-{mode}-{common.short_id()}/" if store == "s3" else "",
                )
                try:
                    ws.upgrade()
                    if mode == "scan":
                        drain = drain_scan(ws, source, n)
                    else:
                        drain = drain_daemon(ws, source, n, args.timeout)
                    wrong = check(ws, n)
                except Exception as exc:
                    report.add(
                        Row(
                            case,
                            None,
                            "files/s",
                            baseline,
                            "rclone",
                            target,
                            None,
                            f"failed: {exc}",
                        )
                    )
                    log(f"{case}: FAILED: {exc}")
                    continue
                finally:
                    ws.cleanup(args.keep)
                rate = drain.rate
                met = rate >= floor if floor else (baseline is not None and rate >= baseline)
                notes = []
                if drain.extra.get("in_process_s"):
                    inner = drain.extra["in_process_s"]
                    notes.append(
                        f"whole process {drain.seconds:.2f} s, of which the scan itself "
                        f"{inner:.2f} s ({n / inner:.0f} files/s)"
                    )
                if drain.extra.get("rss_after"):
                    notes.append(
                        f"drained in {drain.seconds:.2f} s; daemon RSS "
                        f"{drain.extra['rss_before'] / common.MB:.0f} → "
                        f"{drain.extra['rss_after'] / common.MB:.0f} MB"
                    )
                if drain.failed or wrong:
                    met = False
                    notes.append(f"{drain.failed} failed; {wrong}".strip("; "))
                report.add(
                    Row(case, rate, "files/s", baseline, "rclone", target, met, "; ".join(notes))
                )
                log(f"{case}: {rate:.0f} files/s")

    if "local" in baselines:
        report.note(
            "rclone move on the same filesystem renames each file (its local backend moves "
            "server-side): no copy, no hash, no fsync, no database, so ours/baseline there "
            "only shows how far from a bare rename we are."
        )
    report.note(
        "rclone records nothing and does not sha256 (it checks sizes/MD5 only): a generous "
        "baseline. Ours fsyncs every blob and commits every run before the source is removed."
    )
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
