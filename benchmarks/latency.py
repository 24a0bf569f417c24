"""Latency: drop → `stored` for single drops spaced apart, with the daemon running (local store
+ SQLite unless --database postgres).

- rename-published: the bundle is written as `.<name>.XXXXXX` beside its final name and
  renamed into place (what rsync does); the clock starts when the rename returns;
- write-in-place: the bundle is written under its final name and closed (what cp or a script
  does); the clock starts when close() returns, so the daemon's settle time is part of it.

The clock stops at the `timestamp` of the run's `run.stored` log line (written after the
commit and the source's removal). The next drop waits until then plus --gap seconds.
settle_seconds is set to --settle (default 0.5 s, so that 200 write-in-place drops fit in the
time budget; the target is relative to it).
"""

from __future__ import annotations

import json
import os
import sys
import time

import common
from common import Report, Row, Workspace, log


def one_drop(
    daemon: common.Daemon, folder: os.PathLike[str], name: str, data: bytes, mode: str
) -> tuple[float, float]:
    """Drop one file; seconds from the drop to its `run.created` and to its `run.stored`."""
    final = os.path.join(folder, name)
    stored_before = daemon.tail.count("run.stored")
    failed_before = daemon.tail.count("run.failed")
    if mode == "rename":
        tmp = os.path.join(folder, f".{name}.{common.short_id()[:6]}")
        with open(tmp, "wb") as out:
            out.write(data)
        os.rename(tmp, final)
        start = time.time()
    else:
        with open(final, "wb") as out:
            out.write(data)
        start = time.time()
    deadline = time.monotonic() + 30
    while True:
        daemon.tail.poll()
        if daemon.tail.count("run.failed") > failed_before:
            raise RuntimeError(f"{name} failed: {daemon.tail.named('run.failed')[-1]}")
        if daemon.tail.count("run.stored") > stored_before:
            break
        if not daemon.alive():
            raise RuntimeError(f"daemon exited {daemon.proc.returncode}: {daemon.stderr()[-600:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not stored within 30 s")
        time.sleep(0.003)
    stored = daemon.tail.named("run.stored")[-1]
    created = [e for e in daemon.tail.named("run.created") if e.get("run_id") == stored["run_id"]]
    if not created or not str(created[-1].get("origin", "")).endswith(name):
        raise RuntimeError(f"stored run {stored['run_id']} is not {name}: {created[-1:]}")
    return common.event_time(created[-1]) - start, common.event_time(stored) - start


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--drops", type=int, default=200, help="drops per mode (default 200)")
    p.add_argument("--settle", type=float, default=0.5, help="settle_seconds (default 0.5)")
    p.add_argument("--gap", type=float, default=0.05, help="pause after each stored (default 0.05)")
    p.add_argument("--modes", default="rename,in-place", help="rename, in-place or both")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = p.parse_args()
    n = 20 if args.quick and args.drops == 200 else args.drops
    modes = [m for m in args.modes.split(",") if m]
    common.check_sane_workspace()

    report = Report("latency", f"Latency: drop → stored, {n} single drops per mode")
    source = common.corpus(n * len(modes))
    pg = common.Postgres() if args.database == "postgres" else None
    if pg is not None and not pg.available:
        sys.exit(pg.problem)
    ws = Workspace("latency", database=args.database, pg=pg, settle_seconds=args.settle)
    raw: dict[str, list[float]] = {}
    to_created: dict[str, list[float]] = {}
    try:
        ws.upgrade()
        feeder = ws.inbox / "ds_etc" / "latency-feeder"
        feeder.mkdir(parents=True)
        daemon = common.Daemon(ws)
        try:
            daemon.wait_ready()
            time.sleep(0.5)
            for m, mode in enumerate(modes):
                log(f"{n} {mode} drops, {args.gap:g} s apart")
                values, created = [], []
                for i in range(n):
                    rel, _ = source.files[m * n + i]
                    data = (source.folder / rel).read_bytes()
                    seen, stored = one_drop(daemon, feeder, f"{mode}-{i:04d}.tgz", data, mode)
                    created.append(seen)
                    values.append(stored)
                    time.sleep(args.gap)
                raw[mode] = values
                to_created[mode] = created
            rss = daemon.memory().get("VmRSS", 0)
            started = daemon.tail.named("daemon.started")
            observer = started[0].get("observer", "?") if started else "?"
        finally:
            daemon.stop()
    finally:
        ws.cleanup(args.keep)

    for mode, values in raw.items():
        ms = [v * 1000 for v in values]
        p50, p95, p99 = (common.percentile(ms, q) for q in (50, 95, 99))
        first = common.median(to_created[mode]) * 1000
        pipeline = [b - a for a, b in zip(to_created[mode], values, strict=True)]
        spread = (
            f"min {min(ms):.1f} ms, max {max(ms):.1f} ms, n = {len(ms)}; median drop → "
            f"`run.created` {first:.0f} ms (noticing + claiming), `run.created` → `run.stored` "
            f"{common.median(pipeline) * 1000:.0f} ms"
        )
        if mode == "rename":
            report.add(Row("rename-published p50", p50, "ms", target="≤ 100 ms", met=p50 <= 100,
                           note=spread))  # fmt: skip
            report.add(Row("rename-published p95", p95, "ms"))
            report.add(Row("rename-published p99", p99, "ms", target="≤ 500 ms", met=p99 <= 500))
        else:
            limit = args.settle * 1000 + 150
            report.add(
                Row(
                    "write-in-place p50",
                    p50,
                    "ms",
                    target=f"≤ settle + 150 = {limit:.0f} ms",
                    met=p50 <= limit,
                    note=spread,
                )
            )
            report.add(Row("write-in-place p95", p95, "ms"))
            report.add(Row("write-in-place p99", p99, "ms"))
    report.note(
        f"{ws.describe()}, settle_seconds = {args.settle:g}, observer {observer}, "
        f"{args.gap:g} s between a run's `stored` and the next drop; daemon RSS at the end "
        f"{rss / common.MB:.0f} MB"
    )
    report.note(
        "percentiles are nearest-rank; the write-in-place clock starts at close(), after "
        "which the daemon must see the file unchanged for settle_seconds"
    )
    results = common.OUT / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "latency-raw.json").write_text(json.dumps(raw) + "\n")
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
