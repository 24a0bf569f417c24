"""Persisting normalized configuration: `daemon.conf.store.replace_run_conf` of 100,000
generated stanzas (inputs/props/transforms mostly, some outputs/indexes/serverclass; 100 per
file, 6-9 settings each), on PostgreSQL (target ≤ 10 s) and SQLite (for comparison), with the
whole process's peak RSS (target ≤ 300 MB).

Each backend runs in its own child process, so its getrusage ru_maxrss is its own. Times:
`generate` consumes the member iterator alone (the parser's share in real life); `replace
(empty)` is the first replace into a migrated database, `replace (again)` replaces those rows
(delete + insert), both including the generation they pull. The CPU seconds of this process
and of its PostgreSQL backend (from /proc, when the server is local) tell the two sides apart
on a busy machine.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import common
from common import Report, Row, log

if str(common.REPO) not in sys.path:
    sys.path.insert(0, str(common.REPO))

TIME_TARGET_S = 10.0
RSS_TARGET_MB = 300.0
PER_FILE = 100


def members(total: int, file_id: int, seed: int = 5) -> Iterator[object]:
    """ConfMembers holding `total` stanzas, generated lazily."""
    from daemon.conf.store import ConfMember
    from daemon.conf.types import Layer, Occurrence, ParsedConf, Provenance, Scope, Stanza

    rng = random.Random(seed)
    kinds = ["inputs"] * 4 + ["props"] * 3 + ["transforms"] * 3 + ["outputs", "indexes"]
    made = 0
    n = 0
    while made < total:
        conf = "serverclass" if n % 50 == 49 else kinds[n % len(kinds)]
        app = rng.choice(common._APPS)
        scope = Scope.LOCAL if n % 3 == 0 else Scope.DEFAULT
        stanzas = []
        for order in range(min(PER_FILE, total - made)):
            name, settings = _stanza(rng, conf, n, order)
            line = 1 + order * 10
            occurrences = [
                Occurrence(k, v, line + i + 1) for i, (k, v) in enumerate(settings.items())
            ]
            stanzas.append(Stanza(name, line, order, settings, occurrences))
        made += len(stanzas)
        path = f"etc/deployment-apps/{app}/{scope}/{conf}.conf"
        size = sum(len(k) + len(v) + 4 for s in stanzas for k, v in s.settings.items())
        yield ConfMember(
            file_id,
            f"{path}#{n}",  # one file per app and scope in reality; unique here
            f"{rng.getrandbits(256):064x}",
            size,
            Provenance(Layer.DEPLOYMENT_APP, app, scope, conf),
            ParsedConf("utf-8", stanzas, []),
        )
        n += 1


def _stanza(rng: random.Random, conf: str, n: int, order: int) -> tuple[str, dict[str, str]]:
    st = rng.choice(common._SOURCETYPES)
    idx = rng.choice(common._INDEXES)
    word = rng.choice(common._WORDS)
    token = f"{rng.getrandbits(32):08x}"
    if conf == "inputs":
        return f"monitor:///var/log/{word}/{token}/*.log", {
            "index": idx,
            "sourcetype": st,
            "disabled": rng.choice(["0", "1", "false"]),
            "host": rng.choice(common._HOSTS),
            "whitelist": f"\\.(log|txt|{token[:3]})$",
            "ignoreOlderThan": f"{rng.randint(1, 30)}d",
            "_TCP_ROUTING": "primary_indexers, dr_indexers",
        }
    if conf == "props":
        return f"{st}:{token}", {
            "SHOULD_LINEMERGE": "false",
            "LINE_BREAKER": "([\\r\\n]+)",
            "TIME_PREFIX": f"^\\w+\\s+{token[:3]}=",
            "MAX_TIMESTAMP_LOOKAHEAD": str(rng.randint(20, 40)),
            f"TRANSFORMS-{word}": f"{word}_{token}, {word}_route",
            "SEDCMD-mask": "s/password=\\S+/password=####/g",
            f"EXTRACT-{word}": f"(?<{word}_id>[0-9a-f]{{{rng.randint(4, 16)}}})",
        }
    if conf == "transforms":
        return f"{word}_{token}", {
            "REGEX": f"^(?:[^,]*,){{{rng.randint(1, 30)}}}({token[:4]}|{word})",
            "DEST_KEY": rng.choice(["_MetaData:Index", "MetaData:Sourcetype", "_TCP_ROUTING"]),
            "FORMAT": idx,
            "SOURCE_KEY": "_raw",
            "WRITE_META": "false",
            "LOOKAHEAD": "4096",
        }
    if conf == "outputs":
        servers = ", ".join(f"10.{n % 256}.{order}.{i}:9997" for i in range(1, 4))
        return f"tcpout:{word}_{token}", {
            "server": servers,
            "useACK": "true",
            "autoLBFrequency": str(rng.randint(10, 60)),
            "compressed": "true",
            "maxQueueSize": "7MB",
            "sslVerifyServerCert": "false",
        }
    if conf == "indexes":
        name = f"{idx}_{token}"
        return name, {
            "homePath": f"$SPLUNK_DB/{name}/db",
            "coldPath": f"$SPLUNK_DB/{name}/colddb",
            "thawedPath": f"$SPLUNK_DB/{name}/thaweddb",
            "frozenTimePeriodInSecs": str(rng.randint(1, 400) * 86400),
            "maxTotalDataSizeMB": str(rng.randint(1, 500) * 1000),
            "repFactor": "auto",
        }
    return f"serverClass:{word}_{token}", {
        "whitelist.0": f"{rng.choice(common._HOSTS)}*",
        "whitelist.1": f"10.{rng.randint(0, 255)}.*",
        "blacklist.0": "*-test-*",
        "machineTypesFilter": "linux-x86_64, windows-x64",
        "restartSplunkd": "true",
        "stateOnClient": "enabled",
    }


# -- one backend, in a child process -------------------------------------------------------------


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of `pid` from /proc (0.0 if unreadable)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(backend: str, url: str, total: int) -> dict[str, float]:
    from sqlalchemy import text

    from daemon import migrate
    from daemon.conf.store import replace_run_conf, run_counts
    from daemon.database import Database, FileRecord
    from daemon.models import UploadType

    db = Database(url)
    migrate.upgrade(db.engine)
    run_id = db.create_run(UploadType.DS_ETC, "bench", "persist_stanzas")
    db.mark_stored(run_id, FileRecord("bench.tgz", "0" * 64, 1, "k"), lambda _e: "stored")
    file_id = db.get_run(run_id).files[0].id

    started = time.perf_counter()
    generated = sum(len(m.parsed.stanzas) for m in members(total, file_id))  # type: ignore[attr-defined]
    result = {"generate_s": time.perf_counter() - started}

    counts: dict[str, int] = {}
    for tag in ("first", "again"):
        with db.engine.connect() as connection:
            server_pid = None
            if backend == "postgres":
                server_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            server_cpu, client_cpu = _cpu_seconds(server_pid), _cpu_seconds()
            started = time.perf_counter()
            counts = replace_run_conf(connection, run_id, members(total, file_id))  # type: ignore[arg-type]
            connection.commit()
            result[f"{tag}_s"] = time.perf_counter() - started
            result[f"{tag}_client_cpu_s"] = _cpu_seconds() - client_cpu
            if server_pid is not None:
                result[f"{tag}_server_cpu_s"] = _cpu_seconds(server_pid) - server_cpu

    stored = run_counts(db.engine, run_id)
    db.dispose()
    assert generated == total == counts["stanzas"] == stored["stanzas"], (counts, stored)
    assert stored == counts, (stored, counts)
    result["rows"] = float(sum(counts.values()))
    result["typed"] = float(sum(counts[t] for t in counts if t not in ("stanzas", "conf_files")))
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / common.MB
    return result


def run_child(backend: str, url: str, total: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", backend, "--url", url, "--stanzas", str(total)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{backend} child failed: {out.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--stanzas", type=int, default=100_000, help="stanzas (default 100000)")
    p.add_argument("--backends", default="postgres,sqlite", help="postgres, sqlite or both")
    p.add_argument("--child", help=argparse_hidden())
    p.add_argument("--url", help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.stanzas)))
        return 0
    total = 5_000 if args.quick and args.stanzas == 100_000 else args.stanzas
    common.check_sane_workspace()
    report = Report("persist_stanzas", f"Persisting {total:,} stanzas (replace_run_conf)")
    for backend in [b for b in args.backends.split(",") if b]:
        pg = None
        name = ""
        if backend == "postgres":
            pg = common.Postgres()
            if not pg.available:
                report.add(Row("PostgreSQL", None, "s", note=pg.problem))
                continue
            name, url = pg.create()
            label = f"PostgreSQL {pg.version.split()[0]}"
        else:
            folder = common.OUT / "persist"
            folder.mkdir(parents=True, exist_ok=True)
            db_file = folder / f"persist-{common.short_id()}.db"
            url = f"sqlite:///{db_file}"
            label = "SQLite"
        log(f"{label}: {total:,} stanzas")
        try:
            r = run_child(backend, url, total)
        finally:
            if pg is not None:
                pg.drop(name)
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        pg_target = backend == "postgres" and total >= 100_000
        target = f"≤ {TIME_TARGET_S:g} s" if pg_target else ""
        report.add(Row(f"{label}: generate only", r["generate_s"], "s"))
        for tag, case in (("first", "replace (empty)"), ("again", "replace (again)")):
            seconds = r[f"{tag}_s"]
            cpu = f"CPU: this process {r[f'{tag}_client_cpu_s']:.2f} s"
            if f"{tag}_server_cpu_s" in r:
                cpu += f", PostgreSQL backend {r[f'{tag}_server_cpu_s']:.2f} s"
            if tag == "first":
                cpu += f"; {r['rows']:,.0f} rows ({r['typed']:,.0f} typed)"
            met = seconds <= TIME_TARGET_S if target else None
            report.add(Row(f"{label}: {case}", seconds, "s", target=target, met=met, note=cpu))
        report.add(
            Row(
                f"{label}: peak RSS",
                r["max_rss_mb"],
                "MB",
                target=f"≤ {RSS_TARGET_MB:g} MB",
                met=r["max_rss_mb"] <= RSS_TARGET_MB,
                note="getrusage ru_maxrss of the child process",
            )
        )
    report.finish(results=not args.no_results)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
