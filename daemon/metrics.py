"""Prometheus metrics (off unless [metrics] listen is set), in their own registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from daemon.errors import ConfigError


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.runs = Counter(
            "autodoc_runs",
            "Runs finished by this process, by outcome and type",
            ["status", "type"],
            registry=r,
        )
        self.bytes = Counter("autodoc_ingested_bytes", "Bytes of files stored", registry=r)
        self.duration = Histogram(
            "autodoc_ingest_duration_seconds",
            "Time from claim to stored or failed",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.parse_duration = Histogram(
            "autodoc_parse_duration_seconds",
            "Time to parse a stored run to complete or failed",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.failures = Counter(
            "autodoc_failures", "Errors by kind (deferred, unavailable)", ["kind"], registry=r
        )
        self.backlog = Gauge(
            "autodoc_backlog_files", "Files in the inbox not yet claimed", registry=r
        )
        self.claimed = Gauge(
            "autodoc_claimed_files", "Files claimed and being processed", registry=r
        )
        self.degraded = Gauge(
            "autodoc_degraded", "1 while the database or storage is down", registry=r
        )

    def serve(self, listen: str) -> None:
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"[metrics] listen must be HOST:PORT, got {listen!r}")
        try:
            start_http_server(
                int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry
            )
        except OSError as exc:
            raise ConfigError(f"[metrics] listen {listen}: {exc.strerror}") from None
