"""Parsing stored runs end to end: `autodoc parse RUN_ID` timed as a whole process (start-up,
schema check, claim, reading the blob, parsing every member, the rows in one transaction,
`complete`), on PostgreSQL (the targets) and on SQLite (for comparison), two bundles:

- the shared corpus's ds_etc bundle (../shared/corpus/ds_etc/dcom/etc, packed here as a
  tar.gz of `etc/...`): target ≤ 2 s on PostgreSQL;
- a generated etc tree of 100,000 stanzas (benchmarks/out/parse_run/, made once and reused):
  ~400 deployment apps, each with app.conf, default.meta and inputs/props/transforms/outputs/
  indexes in default/ and local/ (the stanzas of persist_stanzas.py, written as .conf text),
  plus 2% of the stanzas in etc/system/local/serverclass.conf: target ≤ 10 s on PostgreSQL,
  with the process's peak RSS ≤ 300 MB.

Each workspace (config, database, blob store) is fresh; the bundle is stored with
`autodoc ingest FILE --type ds_etc`, then parsed again and again (a re-parse replaces the
run's rows: delete + insert, where the first one inserts into empty tables); the best run
counts (the corpus: best of 3; the generated bundle: 2 on PostgreSQL, 1 on SQLite, to stay
under a minute), the peak RSS is the largest of all runs (getrusage ru_maxrss of the child).
The in-process time is `duration_ms` of the `run.complete` log event (`autodoc parse` logs
JSON lines to stderr), i.e. without interpreter start-up and imports.

Baseline, in the same run and interleaved with ours: the floor, a plain Python process that
streams the same tar.gz with tarfile and runs ksconf's `parse_conf` (PARSECONF_LOOSE, UTF-8
else Latin-1) over every member ours parses (`default/`, `local/` .conf and `metadata/`
.meta); no database, no hashing, no normalizing. What parse + persist costs beyond parsing is
ours minus the floor.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import MB, OUT, REPO, Report, Row, Workspace, log

CORPUS_ETC = REPO.parent / "shared" / "corpus" / "ds_etc" / "dcom" / "etc"
CORPUS_TARGET_S = 2.0
GENERATED_TARGET_S = 10.0
RSS_TARGET_MB = 300.0
GENERATOR_VERSION = 1
FOLDER = OUT / "parse_run"


# -- the bundles ---------------------------------------------------------------------------------


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 1_700_000_000
    info.uid = info.gid = 0
    info.uname = info.gname = "splunk"
    return info


def corpus_tarball(etc: Path, dest: Path) -> Path:
    """etc/ packed as a tar.gz whose members are `etc/...` (sorted, fixed owners and times)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        tar.add(etc, arcname="etc", filter=_reset)
    return dest


def _render(name: str, settings: dict[str, str]) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()) + "\n"


# (conf, scope, mean stanzas): about 250 stanzas per app, inputs:props:transforms ~ 4:3:3.
_PLAN = (
    ("inputs", "default", 45),
    ("inputs", "local", 45),
    ("props", "default", 50),
    ("props", "local", 15),
    ("transforms", "default", 60),
    ("outputs", "local", 15),
    ("indexes", "default", 15),
)


def generated_files(total: int, seed: int = 11) -> Iterator[tuple[str, str]]:
    """(path, text) of an etc tree holding exactly `total` stanzas."""
    from persist_stanzas import _stanza

    rng = random.Random(seed)
    left = total
    n = 0  # file number, for persist_stanzas' generator (outputs' addresses)

    def stanzas(conf: str, count: int) -> str:
        nonlocal n
        n += 1
        return "".join(_render(*_stanza(rng, conf, n, order)) for order in range(count))

    serverclasses = min(left, max(1, total // 50))
    yield "etc/system/local/serverclass.conf", stanzas("serverclass", serverclasses)
    left -= serverclasses
    app_number = 0
    while left > 0:
        base = common._APPS[app_number % len(common._APPS)]
        cycle = app_number // len(common._APPS)
        app = base if cycle == 0 else f"{base}_{cycle:03d}"
        app_number += 1
        root = f"etc/deployment-apps/{app}"
        launcher = (
            "[install]\nstate = enabled\n\n[launcher]\nauthor = bench\n"
            f"version = {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}\n\n"
            f"[ui]\nis_visible = false\nlabel = {app}\n"
        )
        meta = "[]\naccess = read : [ * ], write : [ admin ]\nexport = system\n"
        for path, text, count in (
            (f"{root}/default/app.conf", launcher, 3),
            (f"{root}/metadata/default.meta", meta, 1),
        ):
            if left >= count:
                yield path, text
                left -= count
        for conf, scope, mean in _PLAN:
            count = min(left, rng.randint(mean // 2, mean * 3 // 2))
            if count <= 0:
                break
            yield f"{root}/{scope}/{conf}.conf", stanzas(conf, count)
            left -= count


def generated_tarball(total: int, seed: int = 11) -> tuple[Path, int]:
    """The generated bundle (made once into benchmarks/out/parse_run/); its number of files."""
    stem = f"etc-{total}-v{GENERATOR_VERSION}-seed{seed}"
    path, manifest = FOLDER / f"{stem}.tar.gz", FOLDER / f"{stem}.json"
    if path.exists() and manifest.exists():
        return path, int(json.loads(manifest.read_text())["files"])
    log(f"generating a {total:,}-stanza etc tree into {path.relative_to(REPO)}")
    started = time.monotonic()
    FOLDER.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    files = 0
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        for rel, text in generated_files(total, seed):
            data = text.encode()
            info = _reset(tarfile.TarInfo(rel))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
            files += 1
    tmp.replace(path)
    manifest.write_text(json.dumps({"stanzas": total, "files": files}) + "\n")
    size = path.stat().st_size / MB
    log(f"generated {files} files, {size:.1f} MB in {time.monotonic() - started:.1f} s")
    return path, files


# -- the floor: a plain Python process with ksconf -------------------------------------------


def floor_child(tarball: Path) -> dict[str, float]:
    """Stream the tar.gz and parse every member ours would with ksconf (in the child)."""
    started = time.perf_counter()
    from ksconf.conf.parser import PARSECONF_LOOSE, parse_conf

    members = stanzas = size = 0
    with tarfile.open(tarball, "r|gz") as tar:
        for info in tar:
            parts = info.name.split("/")
            if not info.isfile() or len(parts) < 2:
                continue
            leaf, scope = parts[-1], parts[-2]
            if not (
                (leaf.endswith(".conf") and scope in ("default", "local"))
                or (leaf.endswith(".meta") and scope == "metadata")
            ) or leaf.startswith("._"):
                continue
            handle = tar.extractfile(info)
            assert handle is not None
            data = handle.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            stanzas += len(parse_conf(io.StringIO(text), PARSECONF_LOOSE))
            members += 1
            size += len(data)
    return {
        "members": members,
        "stanzas": stanzas,
        "bytes": size,
        "seconds": time.perf_counter() - started,
    }


def run_floor(tarball: Path, logs: Path, tag: str) -> tuple[common.Timed, dict[str, float]]:
    out = logs / f"{tag}.json"
    timed = common.run_timed(
        [sys.executable, __file__, "--floor", str(tarball)],
        stdout=out,
        stderr=logs / f"{tag}.err",
        timeout=300,
    )
    if timed.returncode != 0:
        error = (logs / f"{tag}.err").read_text(errors="replace")[-800:]
        raise RuntimeError(f"floor exited {timed.returncode}: {error}")
    return timed, json.loads(out.read_text())


# -- ours: autodoc ingest, then autodoc parse ------------------------------------------------


@dataclass
class Side:
    """One bundle on one backend: a workspace holding one stored run, parsed again and again."""

    label: str
    ws: Workspace
    run_id: int = 0
    seconds: list[float] = field(default_factory=list)  # whole process
    in_process_ms: list[float] = field(default_factory=list)  # run.complete duration_ms
    rss: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def ingest(self, tarball: Path) -> None:
        self.ws.upgrade()
        result = self.ws.autodoc("ingest", str(tarball), "--type", "ds_etc", timeout=300)
        found = re.search(r"run (\d+) stored", result.stderr)
        if result.returncode != 0 or not found:
            raise RuntimeError(f"autodoc ingest exited {result.returncode}: {result.stderr[-800:]}")
        self.run_id = int(found.group(1))

    def parse(self) -> None:
        tag = f"parse-{len(self.seconds) + 1}"
        err = self.ws.logs / f"{tag}.log"
        timed = common.run_timed(
            [*common.AUTODOC, "parse", str(self.run_id)],
            env=self.ws.env,
            cwd=self.ws.root,
            stdout=self.ws.logs / f"{tag}.out",
            stderr=err,
            timeout=600,
        )
        if timed.returncode != 0:
            raise RuntimeError(
                f"autodoc parse {self.run_id} exited {timed.returncode}: "
                f"{err.read_text(errors='replace')[-800:]}"
            )
        tail = common.LogTail(err)
        tail.poll()
        done = tail.named("run.complete")
        if not done:
            raise RuntimeError(f"no run.complete event in {err}")
        event = done[-1]
        self.in_process_ms.append(float(event["duration_ms"]))
        from daemon.conf.store import COUNTED

        self.counts = {k: int(event[k]) for k in COUNTED if k in event}
        self.seconds.append(timed.seconds)
        self.rss.append(timed.max_rss_bytes)
        log(
            f"{self.label} run {len(self.seconds)}: {timed.seconds:.2f} s "
            f"({event['duration_ms'] / 1000:.2f} s in-process), "
            f"peak RSS {timed.max_rss_bytes / MB:.0f} MB"
        )


def measure(
    bundle: str,
    tarball: Path,
    runs: dict[str, int],
    pg: common.Postgres | None,
    keep: bool,
) -> tuple[dict[str, Side], list[tuple[common.Timed, dict[str, float]]]]:
    """Ingest `tarball` on each backend in `runs` ({"postgres": n, "sqlite": m}), then parse it
    n (m) times, interleaved round by round with the floor (run max(n, m) times)."""
    sides: dict[str, Side] = {}
    floors: list[tuple[common.Timed, dict[str, float]]] = []
    try:
        for backend, n in runs.items():
            if n <= 0:
                continue
            if backend == "postgres":
                if pg is None:
                    continue
                label = f"PostgreSQL {pg.version.split()[0]}"
                ws = Workspace(f"parse-run-{bundle}-pg", database="postgres", pg=pg)
            else:
                label = "SQLite"
                ws = Workspace(f"parse-run-{bundle}-sqlite")
            side = sides[backend] = Side(label, ws)
            side.ingest(tarball)
        logs = OUT / "logs" / f"parse-run-{bundle}-floor"
        logs.mkdir(parents=True, exist_ok=True)
        for round_ in range(max(runs.values())):
            timed, floor = run_floor(tarball, logs, f"floor-{round_ + 1}")
            floors.append((timed, floor))
            log(
                f"floor run {round_ + 1}: {timed.seconds:.2f} s "
                f"({floor['seconds']:.2f} s in-process)"
            )
            for backend, side in sides.items():
                if round_ < runs[backend]:
                    side.parse()
    finally:
        for side in sides.values():
            side.ws.cleanup(keep=keep)
    return sides, floors


def add_rows(
    report: Report,
    prefix: str,
    sides: dict[str, Side],
    floors: list[tuple[common.Timed, dict[str, float]]],
    time_target: float | None,
    rss_target: float | None,
) -> None:
    if not sides or not floors:
        return
    floor_s = min(t.seconds for t, _ in floors)
    floor_in = min(f["seconds"] for _, f in floors)
    floor_rss = max(t.max_rss_bytes for t, _ in floors) / MB
    for backend, side in sides.items():
        pg = backend == "postgres"
        runs = len(side.seconds)
        best = min(side.seconds)
        target = f"≤ {time_target:g} s" if pg and time_target else ""
        first = side.seconds[0]
        report.add(
            Row(
                f"{prefix}: {side.label}, autodoc parse (process)",
                best,
                "s",
                baseline=floor_s,
                baseline_name="ksconf floor process",
                target=target,
                met=best <= time_target if target and time_target else None,
                note=(
                    f"best of {runs}"
                    + (f" (the first, into empty tables: {first:.2f} s)" if runs > 1 else "")
                    + "; "
                    + ", ".join(f"{v:,} {k}" for k, v in side.counts.items())
                ),
            )
        )
        report.add(
            Row(
                f"{prefix}: {side.label}, in-process (run.complete duration_ms)",
                min(side.in_process_ms) / 1000,
                "s",
                baseline=floor_in,
                baseline_name="ksconf floor in-process",
            )
        )
        rss = max(side.rss) / MB
        rss_judged = pg and rss_target is not None
        report.add(
            Row(
                f"{prefix}: {side.label}, peak RSS of autodoc parse",
                rss,
                "MB",
                baseline=floor_rss,
                baseline_name="ksconf floor",
                target=f"≤ {rss_target:g} MB" if rss_judged else "",
                met=rss <= rss_target if rss_judged and rss_target is not None else None,
            )
        )
    _, floor = floors[0]
    report.note(
        f"{prefix}: floor (ksconf, no database) parsed {floor['members']:.0f} members, "
        f"{floor['bytes'] / MB:.1f} MB, {floor['stanzas']:,.0f} stanzas; best of {len(floors)}: "
        f"{floor_s:.2f} s as a process, {floor_in:.2f} s of it after start-up"
    )


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--stanzas", type=int, default=100_000, help="generated bundle (100000)")
    p.add_argument("--runs", type=int, default=3, help="parses of the corpus bundle (3)")
    p.add_argument(
        "--generated-runs",
        default="2,1",
        help="parses of the generated bundle on PostgreSQL,SQLite (2,1; 0 skips one)",
    )
    p.add_argument("--corpus", type=Path, default=CORPUS_ETC, help=f"default {CORPUS_ETC}")
    p.add_argument("--floor", type=Path, help=argparse_hidden())
    args = p.parse_args()
    if args.floor:
        print(json.dumps(floor_child(args.floor)))
        return 0
    load_average = os.getloadavg()[0]
    quick = args.quick
    total = 10_000 if quick and args.stanzas == 100_000 else args.stanzas
    corpus_runs = 2 if quick and args.runs == 3 else args.runs
    pg_runs, sqlite_runs = (int(x) for x in args.generated_runs.split(","))
    if quick:
        pg_runs, sqlite_runs = min(pg_runs, 1), min(sqlite_runs, 1)
    if not args.corpus.is_dir():
        raise SystemExit(f"corpus not found: {args.corpus}")
    common.check_sane_workspace()

    report = Report(
        "parse_run",
        f"Parse + persist of stored runs: the ds_etc corpus and {total:,} generated stanzas",
    )
    pg = common.Postgres()
    if not pg.available:
        report.add(Row("PostgreSQL", None, "s", note=pg.problem))
    pg_or_none = pg if pg.available else None

    corpus = corpus_tarball(args.corpus, FOLDER / "ds_etc-dcom.tar.gz")
    log(f"corpus bundle: {corpus.stat().st_size / MB:.2f} MB ({corpus.relative_to(REPO)})")
    sides, floors = measure(
        "corpus",
        corpus,
        {"postgres": corpus_runs, "sqlite": corpus_runs},
        pg_or_none,
        args.keep,
    )
    add_rows(report, "ds_etc corpus", sides, floors, CORPUS_TARGET_S, None)

    generated, files = generated_tarball(total)
    log(f"generated bundle: {generated.stat().st_size / MB:.1f} MB, {files} files")
    judged = total >= 100_000
    sides, floors = measure(
        "generated",
        generated,
        {"postgres": pg_runs, "sqlite": sqlite_runs},
        pg_or_none,
        args.keep,
    )
    for side in sides.values():
        if side.counts.get("stanzas") != total:
            report.note(f"WRONG: {side.label} stored {side.counts} stanzas, not {total:,}")
    add_rows(
        report,
        f"{total:,} stanzas",
        sides,
        floors,
        GENERATED_TARGET_S if judged else None,
        RSS_TARGET_MB if judged else None,
    )
    report.note(
        f"bundles: the corpus {args.corpus} as a {corpus.stat().st_size / MB:.2f} MB tar.gz; "
        f"the generated one {generated.stat().st_size / MB:.1f} MB, {files} files "
        f"({generated.relative_to(REPO)})"
    )
    report.note(
        "in-process: duration_ms of the run.complete log event (claim to complete, without "
        "interpreter start-up and imports); the floor's: from before importing ksconf to the "
        "end. Peak RSS: the largest getrusage ru_maxrss of all runs of that process"
    )
    report.note(f"load average (1 min) at the start: {load_average:.2f} on {os.cpu_count()} CPUs")
    if not judged:
        report.note(f"{total:,} stanzas: smaller than the targets' 100,000, not judged")
    report.finish(results=not args.no_results)
    if not args.keep:
        (FOLDER / "ds_etc-dcom.tar.gz").unlink(missing_ok=True)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
