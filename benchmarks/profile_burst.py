"""Profile of the burst case (local store + SQLite, N small bundles; `--config s3-pg`: S3 on
SeaweedFS + PostgreSQL): `autodoc scan` run under py-spy, and the running daemon with py-spy
attached while it drains a burst.

py-spy samples every thread, idle ones included (--idle: a worker in fsync() is not running
but is where the time goes), with full file names so that each sample can be put in a
category by the source line it stands on. Saved in benchmarks/profiles/:

  burst-<scan|daemon>-<config>.svg   flame graph (open it in a browser; hover for names)
  burst-<scan|daemon>-<config>.txt   the collapsed stacks (py-spy's raw format)

and the summary (busy thread-time by category, hottest functions) goes into RESULTS.md.
Without py-spy (or without ptrace), a pure-Python sampler in benchmarks/flame.py runs
`autodoc` in-process instead (--tool sampler).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import common
import flame
from common import Report, Row, Workspace, log


def py_spy() -> str | None:
    beside = common.BIN / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def spy_args(rate: int, out: Path) -> list[str]:
    return ["record", "--rate", str(rate), "--idle", "--threads", "--full-filenames",
            "--format", "raw", "--output", str(out)]  # fmt: skip


def profile_scan(ws: Workspace, tool: str, rate: int, out: Path) -> float:
    if tool == "py-spy":
        command = [py_spy() or "py-spy", *spy_args(rate, out), "--", *common.AUTODOC, "scan"]
    else:
        command = [sys.executable, str(common.BENCH / "flame.py"), "sample", str(out), str(rate),
                   "--", "scan"]  # fmt: skip
    timed = common.run_timed(
        command, env=ws.env, cwd=ws.root, stdout=ws.logs / "scan.log", stderr=ws.logs / "scan.err"
    )
    if timed.returncode != 0:
        raise RuntimeError(
            f"profiled scan exited {timed.returncode}: {ws.stderr_of('scan')[-600:]}"
        )
    return timed.seconds


def profile_daemon(
    ws: Workspace, rels: list[str], tool: str, rate: int, out: Path, timeout: float
) -> float:
    command = None
    if tool == "sampler":
        command = [sys.executable, str(common.BENCH / "flame.py"), "sample", str(out), str(rate),
                   "--", "run"]  # fmt: skip
    daemon = common.Daemon(ws, command=command)
    spy: subprocess.Popen[bytes] | None = None
    try:
        daemon.wait_ready()
        if tool == "py-spy":
            with open(ws.logs / "py-spy.err", "wb") as err:
                spy = subprocess.Popen(
                    [py_spy() or "py-spy", *spy_args(rate, out), "--pid", str(daemon.pid)],
                    stdout=err,
                    stderr=subprocess.STDOUT,
                )
            time.sleep(1.0)  # attached and sampling
        start = common.publish(ws.staging, ws.inbox, rels)
        if not daemon.wait_count(("run.stored", "run.failed"), len(rels), timeout):
            raise RuntimeError(daemon.why_not(("run.stored", "run.failed"), len(rels)))
        end = max(common.event_time(e) for e in daemon.tail.named("run.stored"))
        return end - start
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        daemon.stop()


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--files", type=int, default=1000, help="files in the burst (default 1000)")
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--modes", default="scan,daemon", help="scan, daemon or both (default)")
    p.add_argument("--tool", choices=("auto", "py-spy", "sampler"), default="auto")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument(
        "--config", choices=("local-sqlite", "s3-pg"), default="local-sqlite", help="stores"
    )
    args = p.parse_args()
    n = 100 if args.quick and args.files == 1000 else args.files
    modes = [m for m in args.modes.split(",") if m]
    common.check_sane_workspace()
    tool = args.tool
    if tool == "auto":
        tool = "py-spy" if py_spy() else "sampler"
    where = "local store + SQLite" if args.config == "local-sqlite" else "S3 + PostgreSQL"
    report = Report("profile", f"Profile: burst of {n} bundles, {where}")
    source = common.corpus(n)
    common.PROFILES.mkdir(parents=True, exist_ok=True)
    stack = contextlib.ExitStack()
    pg: common.Postgres | None = None
    s3: common.SeaweedFS | None = None
    if args.config == "s3-pg":
        pg = common.Postgres()
        s3 = common.SeaweedFS()
        if not pg.available or not s3.start():
            report.note(pg.problem or s3.problem)
            report.finish(results=not args.no_results)
            return 1
        stack.callback(s3.stop)
    with stack:
        profile_modes(args, modes, n, tool, source, report, where, pg, s3)
    report.note(
        "thread-time adds up the threads (2 workers + main + watcher): the shares say where "
        "the workers spend their time, not wall-clock percentages; idle samples (waiting for "
        "work, a lock or a future) are left out"
    )
    report.finish(results=not args.no_results)
    return 0


def profile_modes(
    args: argparse.Namespace,
    modes: list[str],
    n: int,
    tool: str,
    source: common.Corpus,
    report: Report,
    where: str,
    pg: common.Postgres | None,
    s3: common.SeaweedFS | None,
) -> None:
    for mode in modes:
        name = f"burst-{mode}-{args.config}"
        raw = common.PROFILES / f"{name}.txt"
        raw.unlink(missing_ok=True)
        case = f"{'autodoc scan' if mode == 'scan' else 'daemon'} under {tool}"
        used = tool
        seconds = 0.0
        for attempt in (tool, "sampler"):
            used = attempt
            ws = Workspace(
                f"profile-{mode}",
                database="postgres" if pg else "sqlite",
                store="s3" if s3 else "local",
                pg=pg,
                s3=s3,
                s3_prefix=f"profile-{mode}-{common.short_id()}/" if s3 else "",
            )
            try:
                ws.upgrade()
                rels = common.stage(source, range(n), ws.staging)
                log(f"profiling {mode} with {attempt}: {n} files")
                if mode == "scan":
                    common.publish(ws.staging, ws.inbox, rels)
                    seconds = profile_scan(ws, attempt, args.rate, raw)
                else:
                    seconds = profile_daemon(ws, rels, attempt, args.rate, raw, args.timeout)
                if raw.exists() and raw.stat().st_size:
                    break
                report.note(f"{mode}: {attempt} wrote no samples; see {ws.logs}")
            except Exception as exc:
                report.note(f"{mode}: {attempt} failed: {exc}")
            finally:
                ws.cleanup(args.keep)
            if attempt == "sampler":
                break
        if not raw.exists() or not raw.stat().st_size:
            report.add(Row(case, None, "files/s", note="no profile recorded"))
            continue
        stacks = flame.parse(raw)
        title = f"autodoc {mode}: burst of {n} bundles, {where} ({used}, {args.rate} Hz)"
        svg = common.PROFILES / f"{name}.svg"
        svg.write_text(flame.svg(stacks, title))
        summary = flame.summarize(stacks, args.rate)
        flame.write_collapsed(stacks, raw)  # after summarize(): it reads the full file names
        what = "whole process" if mode == "scan" else "drop to last stored"
        report.add(
            Row(
                f"{'autodoc scan' if mode == 'scan' else 'daemon'} under {used}",
                n / seconds if seconds else None,
                "files/s",
                note=f"{what} {seconds:.2f} s while profiled; "
                f"{svg.relative_to(common.REPO)}, {raw.relative_to(common.REPO)}",
            )
        )
        busy = summary.busy or 1
        top = ", ".join(
            f"{c} {100 * k / busy:.0f} %"
            for c, k in summary.categories.most_common()
            if c != flame.IDLE and k / busy >= 0.02
        )
        report.note(f"{mode}, busy thread-time by category (2 % and more): {top}")
        report.blocks.append(f"**{mode}** ({svg.name}):\n\n" + flame.markdown(summary))


if __name__ == "__main__":
    sys.exit(main())
