"""Memory, on the local store + SQLite:

1. peak RSS while ingesting one 2 GiB bundle: of `autodoc scan` (getrusage ru_maxrss of the
   whole process) and of the running daemon (VmHWM from /proc/<pid>/status, a fresh daemon);
2. the running daemon's RSS (VmRSS) after 1,000 and after 10,000 burst files, dropped in
   bursts of 1,000 into one daemon, each burst drained (and 1 s idle) before RSS is read:
   it must not grow with the count.

benchmarks/large_file.py reports the peak RSS of `autodoc scan` on S3 as well.
"""

from __future__ import annotations

import os
import sys
import time

import common
from common import Report, Row, Workspace, log

RSS_TARGET_MB = 120.0
GROWTH_TARGET_MB = 20.0


def large(report: Report, size_mib: int, keep: bool) -> None:
    label = f"{size_mib / 1024:g} GiB" if size_mib >= 1024 else f"{size_mib} MiB"
    folder = common.OUT / "memory"
    big = folder / f"bundle-{size_mib}MiB.tar"
    rel = "ds_etc/ds-par-01/ds-par-01-etc-full.tar"
    log(f"writing a {label} bundle")
    common.make_large_bundle(big, size_mib * 1024 * 1024)
    target = f"≤ {RSS_TARGET_MB:.0f} MB"
    try:
        # autodoc scan
        ws = Workspace("memory-large-scan")
        try:
            ws.upgrade()
            (ws.inbox / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(big, ws.inbox / rel)
            log(f"autodoc scan of the {label} bundle")
            timed, tail = ws.scan(timeout=1200)
            stored = tail.named("run.stored")
            if timed.returncode != 0 or len(stored) != 1:
                raise RuntimeError(f"scan exited {timed.returncode}: {ws.stderr_of('scan')[-400:]}")
            peak = timed.max_rss_bytes / common.MB
            report.add(Row(f"peak RSS, autodoc scan, {label} local", peak, "MB", target=target,
                           met=peak <= RSS_TARGET_MB, note="getrusage ru_maxrss"))  # fmt: skip
            digest = str(stored[0]["sha256"])
            blob = ws.blobs / "sha256" / digest[:2] / digest[2:4] / digest
            try:  # take the bundle back instead of writing it again
                os.chmod(blob, 0o644)
                os.rename(blob, big)
            except OSError:
                common.make_large_bundle(big, size_mib * 1024 * 1024)
        finally:
            ws.cleanup(keep)

        # the daemon
        ws = Workspace("memory-large-daemon")
        try:
            ws.upgrade()
            daemon = common.Daemon(ws)
            try:
                daemon.wait_ready()
                time.sleep(0.5)
                idle = daemon.memory()
                log(f"the daemon ingests the {label} bundle")
                (ws.inbox / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(big, ws.inbox / rel)
                if not daemon.wait_count(("run.stored", "run.failed"), 1, 900):
                    raise RuntimeError(daemon.why_not(("run.stored", "run.failed"), 1))
                if daemon.tail.count("run.stored") != 1:
                    raise RuntimeError(f"failed: {daemon.tail.named('run.failed')}")
                mem = daemon.memory()
            finally:
                daemon.stop()
            peak = mem["VmHWM"] / common.MB
            report.add(
                Row(
                    f"peak RSS, daemon, {label} local",
                    peak,
                    "MB",
                    target=target,
                    met=peak <= RSS_TARGET_MB,
                    note=f"VmHWM; RSS idle before it {idle['VmRSS'] / common.MB:.0f} MB, "
                    f"after it {mem['VmRSS'] / common.MB:.0f} MB",
                )
            )
        finally:
            ws.cleanup(keep)
    finally:
        big.unlink(missing_ok=True)


def growth(report: Report, total: int, burst: int, keep: bool, timeout: float) -> None:
    source = common.corpus(total)
    ws = Workspace("memory-growth")
    points: list[tuple[int, int]] = []
    try:
        ws.upgrade()
        log(f"staging {total} bundles")
        rels = common.stage(source, range(total), ws.staging)
        daemon = common.Daemon(ws)
        try:
            daemon.wait_ready()
            time.sleep(0.5)
            points.append((0, daemon.memory()["VmRSS"]))
            for start in range(0, total, burst):
                chunk = rels[start : start + burst]
                common.publish(ws.staging, ws.inbox, chunk)
                done = start + len(chunk)
                if not daemon.wait_count(("run.stored", "run.failed"), done, timeout):
                    raise RuntimeError(daemon.why_not(("run.stored", "run.failed"), done))
                time.sleep(1.0)
                rss = daemon.memory()["VmRSS"]
                points.append((done, rss))
                log(f"{done} files: RSS {rss / common.MB:.1f} MB")
            failed = daemon.tail.count("run.failed")
            hwm = daemon.memory()["VmHWM"]
        finally:
            daemon.stop()
        counts = ws.status_counts()
    finally:
        ws.cleanup(keep)
    at = dict(points)
    first = at[burst] / common.MB
    last = at[total] / common.MB
    report.add(Row(f"daemon RSS after {burst:,} files", first, "MB"))
    report.add(
        Row(
            f"daemon RSS after {total:,} files",
            last,
            "MB",
            first,
            f"after {burst:,}",
            f"≤ RSS after {burst:,} + {GROWTH_TARGET_MB:.0f} MB",
            last <= first + GROWTH_TARGET_MB and not failed,
            f"grew {last - first:+.1f} MB; peak (VmHWM) {hwm / common.MB:.1f} MB"
            + (f"; {failed} runs failed" if failed else ""),
        )
    )
    report.note(
        "daemon RSS (MB) by files stored: "
        + ", ".join(f"{n:,}: {rss / common.MB:.1f}" for n, rss in points)
    )
    ingested = sum(counts.get(s, 0) for s in ("stored", "parsing", "normalized", "complete"))
    if ingested != total or ingested != sum(counts.values()):
        report.note(f"database after the bursts: {counts} (expected {total} stored or parsed)")


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--size-mib", type=int, default=2048, help="large bundle (default 2048)")
    p.add_argument("--files", type=int, default=10_000, help="burst files in all (default 10000)")
    p.add_argument("--burst", type=int, default=1000, help="files per burst (default 1000)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per burst (default 600)")
    p.add_argument("--no-large", action="store_true", help="skip the large-bundle part")
    p.add_argument("--no-growth", action="store_true", help="skip the 10,000-file part")
    args = p.parse_args()
    size_mib = 256 if args.quick and args.size_mib == 2048 else args.size_mib
    total = 1000 if args.quick and args.files == 10_000 else args.files
    burst = 200 if args.quick and args.burst == 1000 else args.burst
    if total % burst or total < 2 * burst:
        p.error("--files must be a multiple of --burst, at least two bursts")
    common.check_sane_workspace()
    report = Report("memory", "Memory: peak and steady RSS")
    if not args.no_large:
        try:
            large(report, size_mib, args.keep)
        except Exception as exc:
            report.add(Row("peak RSS, large bundle", None, "MB", target=f"≤ {RSS_TARGET_MB:.0f} MB",
                           note=f"failed: {exc}"))  # fmt: skip
    if not args.no_growth:
        try:
            growth(report, total, burst, args.keep, args.timeout)
        except Exception as exc:
            report.add(
                Row(
                    f"daemon RSS after {total:,} files",
                    None,
                    "MB",
                    target=f"≤ RSS after {burst:,} + {GROWTH_TARGET_MB:.0f} MB",
                    note=f"failed: {exc}",
                )
            )
    report.note("local store + SQLite, default [daemon] workers; MB = 10^6 bytes")
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
