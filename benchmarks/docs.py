"""Issue 12: the documentation site and the pre-deploy preview on the generated estate, each as
a whole process.

The estate is benchmarks/estate.py's (10,000 hosts, 200 server classes, 100 deployment apps,
forwarding to indexers; `--quick`: 1,000 hosts, not judged), ingested, parsed and resolved on
PostgreSQL. Then:

- `autodoc docs build OUT` of that resolution (no earlier build to share with): wall time and
  peak RSS. Targets: ≤ 120 s, ≤ 1 GB. Baseline: `cp -r` of the site it built, i.e. writing
  the same files without rendering anything.
- the site: its pages and bytes, the overview `index.html` (target ≤ 2 MB), `findings.html`,
  the largest host page.
- the overview in headless Chromium (selenium, Debian's chromium and chromium-driver): the
  load event of `file://…/latest/index.html`, best of 3 warm. Target ≤ 2 s. Baseline: the
  same for a page of one line. Not run when selenium or chromium is missing.
- the same DS bundle dropped again (a new run, the same estate), resolved, and built: the
  second build links every page that came out the same to the first build's (hard links);
  the two builds' bytes on disk against one build's.
- `autodoc preview` of the DS bundle with one app moved from its class to another: wall time
  and peak RSS. Target ≤ 60 s. Baseline: `autodoc resolve` of the same estate (a preview
  resolves the whole estate too, then diffs it against the stored resolution).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import common
import estate
from common import AUTODOC, MB, Report, Row, Workspace, log

BROWSER = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def moved_app(tarball: Path, out: Path) -> str:
    """The DS bundle with one `[serverClass:A:app:X]` stanza renamed to another class B: X
    leaves A's hosts and reaches B's. Returns what was moved, for the report."""
    with tarfile.open(tarball) as source:
        members = [(m, source.extractfile(m).read() if m.isfile() else None) for m in source]  # type: ignore[union-attr]
    moved = ""
    with tarfile.open(out, "w:gz") as target:
        for member, data in members:
            if data is not None and member.name.endswith("system/local/serverclass.conf"):
                text = data.decode()
                classes = re.findall(r"^\[serverClass:([^:\]]+)\]$", text, re.M)
                app = re.search(r"^\[serverClass:([^:\]]+):app:([^\]]+)\]$", text, re.M)
                assert app is not None and len(classes) > 1, "no class delivers an app"
                other = next(c for c in reversed(classes) if c != app.group(1))
                text = text.replace(app.group(0), f"[serverClass:{other}:app:{app.group(2)}]", 1)
                moved = f"app {app.group(2)} moved from class {app.group(1)} to {other}"
                data = text.encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    assert moved, "the bundle has no etc/system/local/serverclass.conf"
    return moved


def disk_bytes(*folders: Path) -> int:
    """Bytes on disk of these folders together, a file linked twice counted once (du)."""
    out = subprocess.run(
        ["du", "-s", "--block-size=1", *map(str, folders)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(int(line.split()[0]) for line in out.splitlines())


def browser_load(pages: list[Path], repeats: int = 3) -> list[float] | str:
    """Best load event (ms) of each page, in one headless Chromium; why not, as a string."""
    if not (os.path.exists(BROWSER) and os.path.exists(DRIVER)):
        return "no chromium or chromium-driver (apt-get install chromium chromium-driver)"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        best = []
        for page in pages:
            times = []
            for _ in range(repeats + 1):  # the first load warms the cache: not counted
                driver.get(page.as_uri())
                times.append(
                    float(
                        driver.execute_script(
                            "const n = performance.getEntriesByType('navigation')[0];"
                            "return n.loadEventEnd - n.startTime;"
                        )
                    )
                )
            best.append(min(times[1:]))
        return best
    finally:
        driver.quit()


def main() -> int:
    p = common.parser(__doc__ or "")
    args = p.parse_args()
    load_average = os.getloadavg()[0]
    size = estate.QUICK if args.quick else estate.FULL
    judged = not args.quick
    common.check_sane_workspace()
    report = Report(
        "docs",
        f"Documentation site and preview (issue 12): {size['hosts']:,}-host estate, PostgreSQL",
    )
    files = estate.generate(size["hosts"], size["classes"], size["apps"])
    pg = common.Postgres()
    if not pg.available:
        report.add(Row("docs build", None, "s", note=pg.problem))
        report.finish(results=not args.no_results)
        return 1
    side = estate.Side(
        f"PostgreSQL {pg.version.split()[0]}", Workspace("docs", database="postgres", pg=pg)
    )
    ws = side.ws
    try:
        estate.prepare(side, files)
        resolved, _ = side.run("resolve", [*AUTODOC, "resolve"], timeout=900)
        log(f"resolved in {resolved.seconds:.1f} s")
        site = ws.root / "site"
        first, _ = side.run(
            "build1", [*AUTODOC, "docs", "build", str(site), "--quiet"], timeout=900
        )
        log(f"built in {first.seconds:.1f} s")
        [build1] = [d for d in site.iterdir() if d.is_dir() and not d.is_symlink()]
        copied = common.run_timed(["cp", "-r", str(build1), str(ws.root / "copy")], timeout=900)
        shutil.rmtree(ws.root / "copy", ignore_errors=True)
        pages = list(build1.rglob("*.html"))
        one_build = disk_bytes(build1)
        overview = (build1 / "index.html").stat().st_size
        findings = (build1 / "findings.html").stat().st_size
        largest = max((p.stat().st_size, p.name) for p in pages if p.parent.name == "hosts")

        blank = ws.root / "blank.html"
        blank.write_text("<!doctype html><title>blank</title><p>blank</p>\n")
        loads = browser_load([site / "latest" / "index.html", blank])

        # The same DS bundle again: a new run and resolution of the same estate.
        again = ws.root / "again.tar.gz"
        shutil.copyfile(files.tarball, again)
        result = ws.autodoc("ingest", str(again), "--type", "ds_etc", "--label", estate.LABEL)
        run = re.search(r"run (\d+) stored", result.stderr)
        if result.returncode != 0 or run is None:
            raise RuntimeError(f"autodoc ingest exited {result.returncode}: {result.stderr[-800:]}")
        side.run("parse2", [*AUTODOC, "parse", run.group(1)], timeout=900)
        side.run("resolve2", [*AUTODOC, "resolve"], timeout=900)
        second, _ = side.run(
            "build2", [*AUTODOC, "docs", "build", str(site), "--quiet"], timeout=900
        )
        builds = sorted(d for d in site.iterdir() if d.is_dir() and not d.is_symlink())
        two_builds = disk_bytes(*builds)

        changed = ws.root / "moved.tar.gz"
        moved = moved_app(files.tarball, changed)
        preview, out = side.run(
            "preview", [*AUTODOC, "preview", str(changed), "--label", estate.LABEL], timeout=900
        )
        headline = out.read_text().splitlines()[1] if out.exists() else ""
    finally:
        ws.cleanup(keep=args.keep)

    def target(text: str, met: bool) -> dict[str, object]:
        return {"target": text, "met": met} if judged else {}

    report.add(
        Row(
            "docs build (process)",
            first.seconds,
            "s",
            copied.seconds,
            "cp -r of the site",
            **target("≤ 120 s", first.seconds <= 120),  # type: ignore[arg-type]
            note=f"{len(pages):,} pages, no earlier build to share with",
        )
    )
    report.add(
        Row(
            "docs build peak RSS",
            first.max_rss_bytes / MB,
            "MB",
            **target("≤ 1024 MB", first.max_rss_bytes / MB <= 1024),  # type: ignore[arg-type]
        )
    )
    report.add(
        Row(
            "overview index.html",
            overview / MB,
            "MB",
            **target("≤ 2 MB", overview / MB <= 2),  # type: ignore[arg-type]
        )
    )
    if isinstance(loads, str):
        report.add(Row("overview load in Chromium", None, "ms", target="≤ 2000 ms", note=loads))
    else:
        report.add(
            Row(
                "overview load in Chromium",
                loads[0],
                "ms",
                loads[1],
                "a one-line page",
                **target("≤ 2000 ms", loads[0] <= 2000),  # type: ignore[arg-type]
                note="the load event from file://, best of 3 after one warm-up load",
            )
        )
    report.add(Row("site on disk", one_build / MB, "MB", note=f"{len(pages):,} pages"))
    report.add(
        Row(
            "findings.html",
            findings / MB,
            "MB",
            note="findings grouped by what they say, each row naming its hosts",
        )
    )
    report.add(Row("largest host page", largest[0] / MB, "MB", note=largest[1]))
    report.add(
        Row(
            "second build, same estate (process)",
            second.seconds,
            "s",
            first.seconds,
            "the first build",
            note=f"peak RSS {second.max_rss_bytes / MB:.0f} MB",
        )
    )
    report.add(
        Row(
            "two builds on disk",
            two_builds / MB,
            "MB",
            one_build / MB,
            "one build",
            note="unchanged pages are hard links to the previous build's",
        )
    )
    report.add(
        Row(
            "preview of a changed DS bundle (process)",
            preview.seconds,
            "s",
            resolved.seconds,
            "autodoc resolve",
            **target("≤ 60 s", preview.seconds <= 60),  # type: ignore[arg-type]
            note=f"peak RSS {preview.max_rss_bytes / MB:.0f} MB; {moved}: {headline}",
        )
    )
    report.note(
        f"estate: benchmarks/estate.py's generator, {files.meta['hosts']:,} clients, "
        f"{files.meta['classes']} classes, {files.meta['apps']} apps, "
        f"{len(files.instances)} indexer and heavy-forwarder trees; resolve "
        f"{resolved.seconds:.1f} s, peak RSS {resolved.max_rss_bytes / MB:.0f} MB (setup)"
    )
    report.note(
        "every figure is a whole process (wall time from fork to exit; peak RSS = wait4's "
        "ru_maxrss of the child); sizes are bytes on disk (du, a hard link counted once)"
    )
    report.note(f"load average (1 min) at the start: {load_average:.2f} on {os.cpu_count()} CPUs")
    if not judged:
        report.note("--quick: a smaller estate than the targets', not judged")
    report.finish(results=not args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
