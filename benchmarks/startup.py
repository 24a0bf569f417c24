"""Start-up: `autodoc --help` and `autodoc scan` on an empty inbox (local store + SQLite, and
S3 on SeaweedFS + PostgreSQL), side by side with `python -c pass` of the same interpreter;
median of N runs of each whole process, interleaved so that a slow moment hits all of them.
"""

from __future__ import annotations

import contextlib
import statistics
import sys

import common
from common import Report, Row, Workspace, log

HELP_TARGET_MS = 150.0


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    args = p.parse_args()
    runs = 5 if args.quick and args.runs == 15 else args.runs
    common.check_sane_workspace()
    report = Report("startup", f"Start-up: whole processes, median of {runs} runs")
    pg = common.Postgres()
    s3 = common.SeaweedFS()
    with contextlib.ExitStack() as stack:
        commands: dict[str, tuple[list[str], Workspace | None]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "autodoc --help": ([*common.AUTODOC, "--help"], None),
        }
        local = Workspace("startup-local")
        stack.callback(local.cleanup, args.keep)
        local.upgrade()
        commands["autodoc scan, empty inbox, local + SQLite"] = ([*common.AUTODOC, "scan"], local)
        log("starting SeaweedFS")
        if pg.available and s3.start():
            stack.callback(s3.stop)
            remote = Workspace(
                "startup-s3",
                database="postgres",
                store="s3",
                pg=pg,
                s3=s3,
                s3_prefix=f"startup-{common.short_id()}/",
            )
            stack.callback(remote.cleanup, args.keep)
            remote.upgrade()
            commands["autodoc scan, empty inbox, S3 + PostgreSQL"] = (
                [*common.AUTODOC, "scan"],
                remote,
            )
        else:
            report.note(pg.problem or s3.problem)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, (command, ws) in commands.items():
                timed = common.run_timed(
                    command,
                    env=ws.env if ws else common.base_env(),
                    cwd=ws.root if ws else common.REPO,
                )
                if timed.returncode != 0:
                    raise RuntimeError(f"{name} exited {timed.returncode}")
                times[name].append(timed.seconds * 1000)
    floor = statistics.median(times["python -c pass"])
    for name, samples in times.items():
        median = statistics.median(samples)
        target, met = "", None
        if name == "autodoc --help":
            target, met = f"≤ {HELP_TARGET_MS:.0f} ms", median <= HELP_TARGET_MS
        baseline = None if name == "python -c pass" else floor
        report.add(
            Row(
                name,
                median,
                "ms",
                baseline,
                "python -c pass" if baseline else "",
                target,
                met,
                f"min {min(samples):.1f} ms, max {max(samples):.1f} ms, "
                f"{median - floor:.0f} ms above python -c pass",
            )
        )
    report.note(
        "each command a whole process (fork, exec, interpreter start-up, imports, config, "
        "database schema check; scan: the store's ping and one look at the inbox), measured "
        "from fork to exit"
    )
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
