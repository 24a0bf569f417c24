"""Issue 9: the peak RSS of `autodoc parse RUN_ID` on an app bundle zip whose one member
declares 100 bytes (size and CRC, in the local header and the central directory) and
inflates to 1.5 GiB of zeros: deflate (a 1.5 MB zip) and bzip2 (1.7 KB). Target: ≤ 300 MB,
and the run fails at a limit (parse.max_ratio, ...) instead of inflating the member.

Each method gets a fresh workspace (local store + SQLite); the zip (tests/zip_bombs.py) is
stored with `autodoc ingest FILE --type app_bundle`, then `autodoc parse RUN_ID` runs as a
child whose peak RSS is wait4's ru_maxrss. Twice: with the default limits, and with
parse.max_ratio raised out of the way so that the member is kept up to parse.max_member_bytes.

It measures the code in this checkout. `--code DIR` puts DIR first on the children's
PYTHONPATH so that another version's `daemon` package is measured, e.g. the one before the
fix: `git archive HEAD | tar -x -C /tmp/before` then `--code /tmp/before`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import common
from common import AUTODOC, MB, Report, Row, Workspace, log

from tests.zip_bombs import BOMB_BYTES, bomb

RSS_TARGET_MB = 300.0
METHODS = ("deflate", "bzip2")
RAISED_RATIO = 1e12  # so that parse.max_member_bytes (64 MiB) is what stops the read


def measure(method: str, size: int, max_ratio: float | None, code: Path | None, keep: bool) -> Row:
    extra = f"[parse]\nmax_ratio = {max_ratio}\n" if max_ratio else ""
    ws = Workspace(f"zip-bomb-{method}", extra=extra)
    if code is not None:
        ws.env["PYTHONPATH"] = os.pathsep.join([str(code), ws.env.get("PYTHONPATH", "")])
    try:
        ws.upgrade()
        blob = bomb(method, size)
        path = ws.staging / f"{method}-bomb.zip"
        path.write_bytes(blob)
        ingested = ws.autodoc("ingest", str(path), "--type", "app_bundle")
        found = re.search(r'"run_id": (\d+)', ingested.stdout + ingested.stderr)
        if ingested.returncode != 0 or found is None:
            raise RuntimeError(f"autodoc ingest exited {ingested.returncode}: {ingested.stderr}")
        log(f"autodoc parse of the {method} bomb ({len(blob):,} bytes)")
        out = ws.logs / f"parse-{method}.out"
        timed = common.run_timed(
            [*AUTODOC, "parse", found[1]],
            env=ws.env,
            cwd=ws.root,
            stdout=out,
            stderr=ws.logs / f"parse-{method}.err",
        )
        outcome = out.read_text(errors="replace").strip() or f"exit {timed.returncode}"
        peak = timed.max_rss_bytes / MB
        limits = f"parse.max_ratio = {max_ratio:g}" if max_ratio else "default limits"
        return Row(
            f"peak RSS, autodoc parse, {method} bomb ({len(blob):,} bytes), {limits}",
            peak,
            "MB",
            target=f"≤ {RSS_TARGET_MB:g} MB",
            met=peak <= RSS_TARGET_MB and "failed" in outcome and "parse.max_" in outcome,
            note=f"{timed.seconds:.1f} s, exit {timed.returncode}: {outcome}",
        )
    finally:
        ws.cleanup(keep)


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--code", type=Path, help="measure the daemon package in this folder")
    args = p.parse_args()
    size = 256 * 1024 * 1024 if args.quick else BOMB_BYTES
    common.check_sane_workspace()
    code = args.code.resolve() if args.code else None
    what = f" (daemon from {code})" if code else ""
    report = Report("zip_bomb", f"Zip bomb: {size / 2**30:g} GiB declared as 100 bytes{what}")
    for max_ratio in (None, RAISED_RATIO):
        for method in METHODS:
            report.add(measure(method, size, max_ratio, code, args.keep))
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
