#!/usr/bin/env bash
# `make bench`: install what the benchmarks need, then run every one (benchmarks/run_all.py,
# which appends the tables to benchmarks/RESULTS.md). Arguments go to run_all.py, e.g.
# `make bench BENCH_ARGS=--quick` for a smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTODOC_BENCH_STARTED="${AUTODOC_BENCH_STARTED:-$(date +%s)}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

# rclone, the baseline (Debian's package).
if ! command -v rclone >/dev/null 2>&1; then
  echo "bench: installing rclone with apt-get" >&2
  { as_root apt-get update -qq \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; } \
    || echo "bench: could not install rclone: its baselines will be reported as not run" >&2
fi

# py-spy, the profiler (from PyPI, into the venv only: not a project dependency).
if [ ! -x .venv/bin/py-spy ]; then
  .venv/bin/pip install --quiet py-spy \
    || echo "bench: could not install py-spy: profiles use benchmarks/flame.py's sampler" >&2
fi

# PostgreSQL: start the machine's cluster when the default server is down (as .ci/run does).
if [ -z "${AUTODOC_BENCH_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
  && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
      || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# The parsing benchmarks read the real configuration next to the checkout.
if [ ! -d ../shared/corpus ]; then
  echo "bench: ../shared/corpus not found: parse_conf.py and parse_run.py will fail" >&2
fi

exec .venv/bin/python benchmarks/run_all.py "$@"
