"""Large file: one 2 GiB bundle (an uncompressed tar of an etc/ tree with a big lookup file)
through the inbox with `autodoc scan`, the whole process timed.

- local store, same filesystem as the inbox, SQLite: against the floor, a Python process that
  reads the file once (1 MiB reads), sha256s it and fsyncs it;
- S3 (SeaweedFS on loopback) + PostgreSQL: against `rclone copy` of the same file to the same
  bucket (another prefix).

The page cache is dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every timed
process, so each side reads the file from disk once; when the kernel refuses, every side
runs with a warm cache and the notes say so. Peak RSS of each `autodoc scan` (getrusage) is
reported too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import common
from common import Report, Row, Workspace, log

FLOOR = """
import hashlib, os, sys
digest = hashlib.sha256()
buffer = bytearray(1 << 20)
view = memoryview(buffer)
with open(sys.argv[1], "rb", buffering=0) as handle:
    while n := handle.readinto(view):
        digest.update(view[:n])
    os.fsync(handle.fileno())
print(digest.hexdigest())
"""

RSS_TARGET_MB = 120.0


def scan_one(ws: Workspace, big: Path, rel: str, cold: bool) -> tuple[common.Timed, str, str]:
    """Move `big` into the inbox and time `autodoc scan`; returns the timing, the sha256 the
    run recorded, and how long the scan itself took by its own log."""
    target = ws.inbox / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(big, target)
    if cold:
        common.drop_caches()
    timed, tail = ws.scan(timeout=1200)
    if timed.returncode != 0:
        raise RuntimeError(f"autodoc scan exited {timed.returncode}: {ws.stderr_of('scan')[-600:]}")
    stored = tail.named("run.stored")
    if len(stored) != 1:
        raise RuntimeError(f"expected one run.stored, log has {tail.counts}")
    finished = tail.named("scan.finished")
    inner = finished[-1].get("duration_ms") if finished else None
    inside = (
        f"; the scan itself {inner / 1000:.2f} s (its scan.finished), the rest is start-up"
        if isinstance(inner, int | float)
        else ""
    )
    return timed, str(stored[0].get("sha256", "")), inside


def take_back(ws: Workspace, sha256: str, big: Path) -> bool:
    """The local store keeps the bundle as its blob (same inode when it was linked): move it
    back out for the next measurement instead of writing 2 GiB again."""
    blob = ws.blobs / "sha256" / sha256[:2] / sha256[2:4] / sha256
    try:
        os.chmod(blob, 0o644)
        os.rename(blob, big)
    except OSError:
        return False
    return True


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--size-mib", type=int, default=2048, help="bundle size (default 2048)")
    p.add_argument("--no-local", action="store_true", help="skip the local-store case")
    p.add_argument("--no-s3", action="store_true", help="skip the S3 case")
    p.add_argument("--warm", action="store_true", help="do not drop the page cache")
    args = p.parse_args()
    size_mib = 256 if args.quick and args.size_mib == 2048 else args.size_mib
    size = size_mib * 1024 * 1024
    common.check_sane_workspace()
    label = f"{size_mib / 1024:g} GiB" if size_mib >= 1024 else f"{size_mib} MiB"
    report = Report("large_file", f"Large file: one {label} bundle")

    cold = not args.warm and common.drop_caches()
    report.note(
        "page cache dropped before each timed process (cold reads on both sides)"
        if cold
        else "page cache NOT dropped (warm cache on both sides"
        + (": --warm)" if args.warm else ": the kernel refused drop_caches)")
    )
    folder = common.OUT / "large"
    folder.mkdir(parents=True, exist_ok=True)
    big = folder / f"bundle-{size_mib}MiB.tar"
    rel = "ds_etc/ds-par-01/ds-par-01-etc-full.tar"

    def ensure_big() -> None:
        if big.exists() and big.stat().st_size >= size - (1 << 20):
            return
        log(f"writing {big.relative_to(common.REPO)} ({label})")
        common.make_large_bundle(big, size)

    ensure_big()
    actual = big.stat().st_size
    report.note(f"bundle: {actual} bytes, uncompressed tar (random content, not sparse)")

    with contextlib.ExitStack() as stack:
        if not args.no_local:
            log("floor: read + sha256 + fsync in one Python process")
            if cold:
                common.drop_caches()
            out = folder / "floor.out"
            floor = common.run_timed([sys.executable, "-c", FLOOR, str(big)], stdout=out)
            floor_digest = out.read_text().strip()
            report.add(
                Row(
                    "floor: python read + sha256 + fsync",
                    floor.seconds,
                    "s",
                    note=f"{actual / floor.seconds / common.MB:.0f} MB/s",
                )
            )
            log("autodoc scan, local store")
            ws = Workspace("large-local")
            stack.callback(ws.cleanup, args.keep)
            ws.upgrade()
            try:
                timed, digest, inside = scan_one(ws, big, rel, cold)
                ok = digest == floor_digest
                report.add(
                    Row(
                        "autodoc scan, local store + SQLite (whole process)",
                        timed.seconds,
                        "s",
                        floor.seconds,
                        "floor",
                        "≤ 1.25 × floor",
                        ok and timed.seconds <= 1.25 * floor.seconds,
                        f"{actual / timed.seconds / common.MB:.0f} MB/s{inside}"
                        + ("" if ok else f"; sha256 {digest} differs from the floor's"),
                    )
                )
                report.add(
                    Row(
                        "peak RSS, autodoc scan, local",
                        timed.max_rss_bytes / common.MB,
                        "MB",
                        target=f"≤ {RSS_TARGET_MB:.0f} MB",
                        met=timed.max_rss_bytes / common.MB <= RSS_TARGET_MB,
                    )
                )
                if not take_back(ws, digest, big):
                    ensure_big()
            except Exception as exc:
                report.add(Row("autodoc scan, local store + SQLite", None, "s", note=str(exc)))
                ensure_big()
            finally:
                ws.cleanup(args.keep)

        if not args.no_s3:
            s3 = common.SeaweedFS()
            pg = common.Postgres()
            log("starting SeaweedFS")
            problem = "" if s3.start() else s3.problem
            stack.callback(s3.stop)
            problem = problem or pg.problem
            if common.rclone_path() is None:
                problem = problem or "rclone not installed"
            if problem:
                report.add(Row("autodoc scan, S3 + PostgreSQL", None, "s", note=problem))
            else:
                report.note(f"SeaweedFS {s3.version} on loopback; {common.rclone_version()}")
                log("rclone copy to SeaweedFS")
                ws_r = Workspace("large-rclone")
                stack.callback(ws_r.cleanup, args.keep)
                if cold:
                    common.drop_caches()
                dest = f"{common.RCLONE_REMOTE}:{common.S3_BUCKET}/rclone-large/"
                rc = common.rclone(["copy", str(big), dest], s3.endpoint, ws_r.logs / "rclone.log")
                n, stored = s3.count("rclone-large/")
                rc_ok = rc.returncode == 0 and n == 1 and stored == actual
                report.add(
                    Row(
                        "baseline: rclone copy to S3",
                        rc.seconds if rc_ok else None,
                        "s",
                        note=(
                            f"{actual / rc.seconds / common.MB:.0f} MB/s"
                            if rc_ok
                            else f"rclone exited {rc.returncode}, bucket has {n} objects"
                        ),
                    )
                )
                log("autodoc scan, S3 + PostgreSQL")
                ws = Workspace("large-s3", database="postgres", store="s3", pg=pg, s3=s3,
                               s3_prefix="autodoc-large/")  # fmt: skip
                stack.callback(ws.cleanup, args.keep)
                try:
                    ws.upgrade()
                    timed, _, inside = scan_one(ws, big, rel, cold)
                    n, stored = s3.count("autodoc-large/")
                    ok = n == 1 and stored == actual
                    report.add(
                        Row(
                            "autodoc scan, S3 + PostgreSQL (whole process)",
                            timed.seconds,
                            "s",
                            rc.seconds if rc_ok else None,
                            "rclone copy",
                            "≤ 1.15 × rclone copy",
                            ok and rc_ok and timed.seconds <= 1.15 * rc.seconds,
                            f"{actual / timed.seconds / common.MB:.0f} MB/s{inside}"
                            + ("" if ok else f"; bucket has {n} objects, {stored} bytes"),
                        )
                    )
                    report.add(
                        Row(
                            "peak RSS, autodoc scan, S3",
                            timed.max_rss_bytes / common.MB,
                            "MB",
                            target=f"≤ {RSS_TARGET_MB:.0f} MB",
                            met=timed.max_rss_bytes / common.MB <= RSS_TARGET_MB,
                        )
                    )
                except Exception as exc:
                    report.add(Row("autodoc scan, S3 + PostgreSQL", None, "s", note=str(exc)))
    report.note(
        "the local store hashes the claimed file and hard-links it into the store (same "
        "filesystem), so it reads the file once and writes nothing; S3 reads it twice (hash, "
        "then upload from the page cache). Both `autodoc scan` times include interpreter "
        "start-up and the migrations check (~1 s)."
    )
    if big.exists() and not args.keep:
        big.unlink()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
