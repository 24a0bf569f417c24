"""Every benchmark, one after another (what `make bench` runs after installing rclone and
py-spy): burst throughput, the large file, latency, memory, the burst profile, parsing .conf
files, persisting stanzas, parsing stored runs end to end, the zip bomb, and resolving a
10,000-host estate (resolve, btool, host), and start-up (`--help`, an empty scan). Each
script appends its own section to benchmarks/RESULTS.md; this one then appends a summary of
every target and the total time (budget: 15 minutes for all of `make bench`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import common
from common import Report, Row, log

SCRIPTS = {
    "burst": "burst.py",
    "large_file": "large_file.py",
    "latency": "latency.py",
    "memory": "memory.py",
    "profile": "profile_burst.py",
    "parse_conf": "parse_conf.py",
    "persist_stanzas": "persist_stanzas.py",
    "parse_run": "parse_run.py",
    "zip_bomb": "zip_bomb.py",
    "estate": "estate.py",
    "docs": "docs.py",
    "startup": "startup.py",
}
BUDGET_SECONDS = 15 * 60


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument(
        "--only", default=",".join(SCRIPTS), help=f"comma-separated from {', '.join(SCRIPTS)}"
    )
    args = p.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    for name in chosen:
        if name not in SCRIPTS:
            p.error(f"unknown benchmark {name!r}")
    started_env = os.environ.get("AUTODOC_BENCH_STARTED", "")
    started_wall = float(started_env) if started_env.replace(".", "").isdigit() else time.time()
    run_started = datetime.now(UTC)
    passthrough = [
        a for a in ("--quick", "--no-results", "--keep") if getattr(args, a[2:].replace("-", "_"))
    ]
    summary = Report("summary", "make bench: every target")
    durations: dict[str, float] = {}
    failures = []
    for name in chosen:
        command = [sys.executable, str(common.BENCH / SCRIPTS[name]), *passthrough]
        log(f"=== {SCRIPTS[name]} ===")
        start = time.monotonic()
        code = subprocess.run(command, cwd=common.REPO, check=False).returncode
        durations[name] = time.monotonic() - start
        if code != 0:
            failures.append(f"{SCRIPTS[name]} exited {code}")
            continue
        result = common.OUT / "results" / f"{name}.json"
        if not result.exists():
            failures.append(f"{SCRIPTS[name]} wrote no results")
            continue
        data = json.loads(result.read_text())
        if datetime.fromisoformat(data["date"]) < run_started.replace(microsecond=0):
            failures.append(f"{SCRIPTS[name]}: results are from an earlier run")
            continue
        for row in data["rows"]:
            if row["target"] or row["ours"] is None:
                fields = {k: row[k] for k in Row.__dataclass_fields__}
                fields["case"] = f"{name}: {row['case']}"
                fields["note"] = ""
                summary.add(Row(**fields))
    total = time.time() - started_wall
    summary.add(
        Row(
            "total: make bench" if started_env else "total: run_all.py",
            total / 60,
            "min",
            target="≤ 15 min" if not args.quick else "",
            met=total <= BUDGET_SECONDS if not args.quick else None,
            note=", ".join(f"{SCRIPTS[n]} {s:.0f} s" for n, s in durations.items())
            + ("" if started_env else "; venv and tool installation not included"),
        )
    )
    for failure in failures:
        summary.note(f"FAILED: {failure}")
    missed = [r.case for r in summary.rows if r.verdict() in ("MISSED", "NOT RUN")]
    summary.note(
        f"{len(missed)} of {len(summary.rows)} targets missed or not run"
        + (": see each section above for why" if missed else "")
    )
    summary.finish(results=not args.no_results)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
