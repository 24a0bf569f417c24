"""Collapsed stacks (py-spy's `raw` format: `thread (tid): name;frame;frame... count`): where
the time goes by category, the hottest functions, and a self-contained SVG flame graph.

Also a fallback sampler (`python benchmarks/flame.py sample OUT -- autodoc args...`) for
machines where py-spy cannot attach (no ptrace): it runs `autodoc` in-process and samples
every thread's stack with sys._current_frames(), writing the same format.
"""

from __future__ import annotations

import functools
import html
import linecache
import re
import sys
import sysconfig
import threading
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^(?:thread \((?P<tid>[^)]*)\): ?)?(?P<name>.*)$")

IDLE = "idle: waiting (for work, a lock, a future, a timer)"
STARTUP = "start-up: imports"


@dataclass
class Frame:
    func: str
    file: str
    line: int

    @property
    def module(self) -> str:
        """`daemon/pipeline.py`, `sqlalchemy/orm/session.py`, `threading.py`, ..."""
        f = self.file
        for marker in ("/site-packages/", "/dist-packages/"):
            if marker in f:
                return f.split(marker, 1)[1]
        if "/daemon/" in f:
            return "daemon/" + f.rsplit("/daemon/", 1)[1]
        m = re.search(r"/python3\.\d+/(.*)$", f)
        return m.group(1) if m else f

    def source(self) -> str:
        return linecache.getline(_resolve(self.file), self.line).strip() if self.line else ""

    def label(self) -> str:
        return f"{self.func} ({self.module})"


@functools.cache
def _resolve(file: str) -> str:
    """A saved profile names files relative to their package root: find them again."""
    if not file or file.startswith(("/", "<")):
        return file
    paths = sysconfig.get_paths()
    for root in (
        Path(__file__).resolve().parent.parent,
        Path(paths["purelib"]),
        Path(paths["stdlib"]),
    ):
        if (root / file).is_file():
            return str(root / file)
    return file


@dataclass
class Stack:
    thread: str
    frames: list[Frame]
    count: int


def parse_frame(text: str) -> Frame:
    m = _FRAME.match(text)
    if not m:
        return Frame(text, "", 0)
    return Frame(m.group("func"), m.group("file"), int(m.group("line") or 0))


def parse(path: Path) -> list[Stack]:
    stacks = []
    names: dict[str, str] = {}  # a thread's name, once Python has given it one
    for raw in path.read_text(errors="replace").splitlines():
        body, _, count = raw.rpartition(" ")
        if not body or not count.isdigit():
            continue
        parts = body.split(";")
        m = _THREAD.match(parts[0])
        tid, name = (m.group("tid") or "", m.group("name").strip()) if m else ("", parts[0])
        if name.startswith("thread ("):  # no name yet: the main thread during imports
            name = ""
        if tid and name:
            names[tid] = name
        stacks.append(Stack(name or f"tid {tid}", [parse_frame(p) for p in parts[1:]], int(count)))
    for stack in stacks:
        if stack.thread.startswith("tid "):
            stack.thread = names.get(stack.thread[4:], "MainThread")
    return stacks


_IDLE_MODULES = ("threading.py", "queue.py", "concurrent/futures/_base.py", "selectors.py")
_DB_MODULES = ("sqlalchemy/", "sqlite3/", "psycopg/", "psycopg_binary/", "psycopg_pool/")
_S3_MODULES = ("boto3/", "botocore/", "s3transfer/", "urllib3/", "http/", "ssl.py", "socket.py")


# A blocking call made from C shows as the Python line that made it.
_WAIT_LINE = re.compile(
    r"\.get\(|\.wait\(|\bsleep\(|\.acquire\(|\bselect\(|\.poll\(|os\.read\(|\.recv"
)
_OUR_WAIT_LINE = re.compile(r"\b(jobs|mailbox|queue|events)\.get\(|\.wait\(|\bsleep\(|\.join\(")


def is_idle(leaf: Frame) -> bool:
    """The thread is waiting: for work, an event, a lock, a future or a timer."""
    mod = leaf.module
    if mod.startswith(_IDLE_MODULES):
        return True
    text = leaf.source()
    if not text:
        return False
    if mod.startswith("daemon/"):
        return bool(_OUR_WAIT_LINE.search(text))
    if mod.startswith(("watchdog/", "concurrent/", "socketserver.py", "prometheus_client/")):
        return bool(_WAIT_LINE.search(text))
    return False


def _ours(frame: Frame) -> str | None:
    """A category from the source line of one of our frames, or None to look further up."""
    text = frame.source()
    mod = frame.module
    checks = (
        ("fsync", "fsync (blobs, claimed files, directories)"),
        ("digest.update", "read + sha256"),
        ("readinto", "read + sha256"),
        ("hash_stream", "read + sha256"),
        ("os.link", "hard link into the store"),
        ("os.rename", "rename (claim into .processing, into the store)"),
        (".rename(", "rename (claim into .processing, into the store)"),
        ("unlink", "unlink (claimed source)"),
        ("mkstemp", "temp file (copy path)"),
        ("_write_all", "write (copy path)"),
        ("os.write", "write (copy path)"),
        ("flock", "open + flock + lease checks"),
        ("F_SETLEASE", "open + flock + lease checks"),
        ("writer_open", "open + flock + lease checks"),
        ("os.open", "open + flock + lease checks"),
        ("scandir", "inbox survey (scandir + lstat)"),
        ("lstat", "inbox survey (scandir + lstat)"),
        ("makedirs_durable", "mkdir + fsync of new folders"),
        ("mkdir", "mkdir + fsync of new folders"),
        ("handlers.validate", "validate (magic bytes)"),
        ("pread", "validate (magic bytes)"),
    )
    for needle, category in checks:
        if needle in text:
            return category
    if mod.startswith("daemon/watcher") or mod.startswith("daemon/readiness"):
        return "watcher + readiness bookkeeping"
    return None


def categorize(stack: Stack) -> str:
    frames = stack.frames
    if not frames:
        return "other"
    if is_idle(frames[-1]):
        return IDLE
    if any(f.func == "_find_and_load" for f in frames):
        return STARTUP
    for frame in reversed(frames):
        mod = frame.module
        if mod.startswith(("alembic/", "daemon/migrate.py")):
            return "start-up: migrations check (alembic)"
        if mod.startswith(_DB_MODULES):
            return _database(frames, frame)
        if mod.startswith(("structlog/", "json/")):
            return "logging (structlog JSON lines)"
        if mod.startswith(_S3_MODULES):
            return "S3 client (boto3 requests)"
        if mod.startswith("watchdog/"):
            return "watcher (watchdog inotify thread)"
        if mod.startswith("hashlib"):
            return "read + sha256"
        if mod.startswith("daemon/"):
            category = _ours(frame)
            if category:
                return category
    if frames[-1].module.startswith("daemon/"):
        return f"other daemon code ({frames[-1].func})"
    return f"other ({frames[-1].module})"


def _database(frames: list[Frame], innermost: Frame) -> str:
    if any(f.func == "_sqlite_begin" for f in frames):
        return "database: BEGIN IMMEDIATE (waits for SQLite's write lock)"
    if "commit" in innermost.func.lower():
        return "database: COMMIT (fsync of the WAL on SQLite)"
    if "ping" in innermost.func.lower():
        return "database: pool pre-ping"
    if any(f.func in ("connect", "__connect", "_do_get", "_create_connection") for f in frames):
        return "database: new connection"
    return "database: SQL statements (SQLAlchemy + driver)"


@dataclass
class Summary:
    rate: float
    threads: dict[str, int] = field(default_factory=dict)  # samples per thread
    busy_threads: dict[str, int] = field(default_factory=dict)  # non-idle samples per thread
    categories: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)

    @property
    def busy(self) -> int:
        return sum(n for c, n in self.categories.items() if c != IDLE)


def summarize(stacks: list[Stack], rate: float) -> Summary:
    summary = Summary(rate)
    threads: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    for s in stacks:
        threads[s.thread] += s.count
        category = categorize(s)
        summary.categories[category] += s.count
        if category != IDLE:
            busy[s.thread] += s.count
            if s.frames:
                summary.self_time[s.frames[-1].label()] += s.count
    summary.threads = dict(threads)
    summary.busy_threads = dict(busy)
    return summary


def markdown(summary: Summary, top: int = 12) -> str:
    busy = summary.busy or 1
    seconds = 1 / summary.rate
    lines = [
        "| where the busy thread-time goes | share | thread-seconds |",
        "|---|---|---|",
    ]
    rest = 0
    for category, n in summary.categories.most_common():
        if category == IDLE:
            continue
        if n / busy < 0.01:
            rest += n
            continue
        lines.append(f"| {category} | {100 * n / busy:.1f} % | {n * seconds:.2f} |")
    if rest:
        lines.append(f"| everything else (under 1 % each) | {100 * rest / busy:.1f} % | "
                     f"{rest * seconds:.2f} |")  # fmt: skip
    lines += ["", "| hottest Python functions (self, busy samples) | share |", "|---|---|"]
    for label, n in summary.self_time.most_common(top):
        lines.append(f"| `{label}` | {100 * n / busy:.1f} % |")
    threads = ", ".join(
        f"{name} {summary.busy_threads.get(name, 0) * seconds:.1f} of {n * seconds:.1f} s"
        for name, n in sorted(summary.threads.items())
        if summary.busy_threads.get(name, 0) * seconds >= 0.05 or name.startswith("ingest")
    )
    lines += [
        "",
        f"Busy of sampled seconds per thread ({summary.rate:g} Hz; threads busy under 0.05 s "
        f"left out): {threads}.",
    ]
    return "\n".join(lines)


def write_collapsed(stacks: list[Stack], path: Path) -> None:
    """Save stacks compactly: `thread;func (module:line);... count`, file names relative to
    their package root, identical stacks merged (parse() reads it back)."""
    merged: Counter[str] = Counter()
    for s in stacks:
        frames = ";".join(f"{f.func} ({f.module}:{f.line})" for f in s.frames)
        merged[f"{s.thread};{frames}" if frames else s.thread] += s.count
    path.write_text("".join(f"{k} {n}\n" for k, n in sorted(merged.items())))


# -- SVG flame graph ------------------------------------------------------------------------


def svg(stacks: list[Stack], title: str, width: int = 1600) -> str:
    """A static flame graph (root at the bottom), one tower per thread; hover for details."""
    counts: defaultdict[tuple[str, ...], int] = defaultdict(int)
    for s in stacks:
        path: tuple[str, ...] = (f"thread {s.thread}",)
        counts[path] += s.count
        for f in s.frames:
            if f.file.startswith("<frozen importlib"):
                continue  # import machinery: 6 frames per nested import, nothing to act on
            path = (*path, f"{f.func} ({f.module})")
            counts[path] += s.count
    total = sum(s.count for s in stacks) or 1
    depth = max((len(p) for p in counts), default=1)
    row, pad, top = 16, 10, 40
    height = top + depth * row + pad
    children: defaultdict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for p in counts:
        children[p[:-1]].append(p)
    scale = (width - 2 * pad) / total
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">',
        '<rect width="100%" height="100%" fill="#fdfdfd"/>',
        f'<text x="{pad}" y="20" font-size="14">{html.escape(title)}</text>',
        f'<text x="{pad}" y="34" fill="#666">{total} samples; width = share of samples; '
        "hover a frame for its name and count</text>",
    ]

    def draw(path: tuple[str, ...], x: float) -> None:
        n = counts[path]
        w = n * scale
        level = len(path) - 1
        y = height - pad - (level + 1) * row
        name = path[-1]
        hue = zlib.crc32(name.split(" (")[-1].encode()) % 360
        if w >= 0.3:
            tip = html.escape(f"{name}: {n} samples, {100 * n / total:.1f} %")
            out.append(
                f'<g><title>{tip}</title><rect x="{x:.2f}" y="{y}" width="{w:.2f}" '
                f'height="{row - 1}" fill="hsl({hue},65%,72%)"/>'
            )
            chars = int(w / 6.6)
            if chars >= 4:
                text = name if len(name) <= chars else name[: chars - 1] + "…"
                out.append(f'<text x="{x + 2:.2f}" y="{y + row - 4}">{html.escape(text)}</text>')
            out.append("</g>")
        for child in sorted(children.get(path, []), key=lambda c: -counts[c]):
            draw(child, x)
            x += counts[child] * scale

    x = float(pad)
    for root in sorted(children[()], key=lambda c: -counts[c]):
        draw(root, x)
        x += counts[root] * scale
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- fallback sampler -------------------------------------------------------------------------


def _sample(out: Path, interval: float, stop: threading.Event) -> None:
    me = threading.get_ident()
    counts: Counter[str] = Counter()
    while not stop.wait(interval):
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            frames = []
            f = frame
            while f is not None:
                code = f.f_code
                frames.append(f"{code.co_qualname} ({code.co_filename}:{f.f_lineno})")
                f = f.f_back
            key = f"thread ({ident}): {names.get(ident, '?')};" + ";".join(reversed(frames))
            counts[key] += 1
    out.write_text("".join(f"{k} {n}\n" for k, n in counts.items()))


def sample_main(argv: list[str]) -> int:
    """`flame.py sample OUT RATE -- autodoc-args...`: run autodoc in-process, sampled."""
    out, rate = Path(argv[0]), float(argv[1])
    args = argv[argv.index("--") + 1 :]
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(out, 1 / rate, stop), daemon=True)
    sampler.start()
    from daemon.cli import main

    try:
        return main(args)
    finally:
        stop.set()
        sampler.join()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sample":
        sys.exit(sample_main(sys.argv[2:]))
    stacks = parse(Path(sys.argv[1]))
    print(markdown(summarize(stacks, float(sys.argv[2]) if len(sys.argv) > 2 else 100)))
