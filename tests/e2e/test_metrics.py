"""`[metrics] listen`: the daemon serves Prometheus text that follows what it did: runs by
status and type, bytes stored, the ingest duration histogram, backlog/claimed gauges, and
autodoc_degraded 1 during a database outage, 0 after."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Workspace, free_tcp_port, wait_for
from tests.e2e.test_daemon_outages import (
    claimed_files,
    pg_proxy,
    proxied_url,
    runs_json,
    start_daemon,
    waiting_files,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> tuple[str, Samples] | None:
    """The content type and every sample, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            content_type = response.headers.get("Content-Type", "")
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def wait_metrics(port: int, what: str, check: Callable[[Samples], bool]) -> Samples:
    def ready() -> Samples | None:
        scraped = scrape(port)
        return scraped[1] if scraped and check(scraped[1]) else None

    samples: Samples = wait_for(ready, 30, what, interval=0.1)
    return samples


@pytest.mark.postgres
def test_metrics_follow_runs_bytes_durations_and_a_database_outage(
    make_workspace: Callable[..., Workspace], pg_url: str
) -> None:
    port = free_tcp_port()
    good = b"[monitor:///var/log/messages]\nindex = os\nsourcetype = syslog\n"
    bad = b"this is not an archive\n"  # a ds_etc drop must be one
    later = b"[tcpout:idx]\nserver = idx1:9997\n"
    with pg_proxy(pg_url) as proxy:
        ws = make_workspace(
            database_url=proxied_url(pg_url, proxy.port),
            extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
        with start_daemon(ws) as daemon:
            daemon.wait_event("daemon.started", 20)
            scraped = wait_for(lambda: scrape(port), 20, "the metrics endpoint")
            content_type, samples = scraped
            assert content_type.startswith("text/plain"), content_type
            assert value(samples, "autodoc_degraded") == 0
            assert value(samples, "autodoc_ingested_bytes_total") == 0
            assert value(samples, "autodoc_ingest_duration_seconds_count") == 0

            ws.drop("single_conf", "inputs.conf", good)
            ws.drop("ds_etc", "dcom-etc.tgz", bad)
            samples = wait_metrics(
                port,
                "two runs counted",
                lambda s: value(s, "autodoc_ingest_duration_seconds_count") == 2,
            )

            assert value(samples, "autodoc_runs_total", status="stored", type="single_conf") == 1
            assert value(samples, "autodoc_runs_total", status="failed", type="ds_etc") == 1
            runs = {
                (labels["status"], labels["type"]): v
                for (name, raw), v in samples.items()
                if name == "autodoc_runs_total"
                for labels in [dict(raw)]
            }
            assert sum(runs.values()) == 2, runs
            assert value(samples, "autodoc_ingested_bytes_total") == len(good)  # not the failed
            assert value(samples, "autodoc_ingest_duration_seconds_bucket", le="+Inf") == 2
            assert 0 < (value(samples, "autodoc_ingest_duration_seconds_sum") or 0) < 60
            assert value(samples, "autodoc_backlog_files") == 0
            assert value(samples, "autodoc_claimed_files") == 0
            assert value(samples, "autodoc_degraded") == 0
            assert not value(samples, "autodoc_failures_total", kind="unavailable")

            proxy.cut()
            ws.drop("single_conf", "outputs.conf", later)
            samples = wait_metrics(
                port, "autodoc_degraded 1", lambda s: value(s, "autodoc_degraded") == 1
            )
            assert (value(samples, "autodoc_failures_total", kind="unavailable") or 0) >= 1
            assert value(samples, "autodoc_runs_total", status="stored", type="single_conf") == 1
            assert daemon.named("daemon.degraded")
            assert claimed_files(ws), "outputs.conf stays claimed"

            proxy.start()
            samples = wait_metrics(
                port,
                "autodoc_degraded 0 and outputs.conf stored",
                lambda s: (
                    value(s, "autodoc_degraded") == 0
                    and value(s, "autodoc_runs_total", status="stored", type="single_conf") == 2
                ),
            )
            assert value(samples, "autodoc_ingested_bytes_total") == len(good) + len(later)
            assert value(samples, "autodoc_ingest_duration_seconds_count") == 3
            assert value(samples, "autodoc_runs_total", status="failed", type="ds_etc") == 1
            assert value(samples, "autodoc_claimed_files") == 0
            assert daemon.named("daemon.recovered")
            assert not waiting_files(ws) and not claimed_files(ws)
            assert daemon.stop() == 0, daemon.stderr()
        assert "Traceback" not in daemon.stderr(), daemon.stderr()
        statuses = sorted((r["type"], r["status"]) for r in runs_json(ws))
    assert statuses == [("ds_etc", "failed"), ("single_conf", "stored"), ("single_conf", "stored")]


def test_metrics_listen_on_a_taken_port_is_a_config_error(workspace: Workspace) -> None:
    """A port already in use stops `run` at start-up with exit 2 and one line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = workspace.config.read_text(encoding="utf-8")
        workspace.config.write_text(
            config + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8"
        )
        result = workspace.run("run", timeout=30)
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "metrics" in result.stderr, result.stderr
