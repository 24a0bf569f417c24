"""Test-only fault points: AUTODOC_FAULT=<step> kills the process at that step boundary, so
the crash tests can prove that every step is recoverable. Unset, a point costs one compare."""

from __future__ import annotations

import os
import signal

INGEST_STEPS = (
    "after_claim",
    "after_run_insert",
    "mid_store",
    "after_blob_durable",
    "after_commit",
    "after_failed_commit",
)
PARSE_STEPS = ("after_parse_claim", "mid_parse", "after_normalized")  # daemon.parsing
RESOLVE_STEPS = ("after_resolution_computed", "after_resolution_rows")  # daemon.resolving
DOCS_STEPS = ("mid_docs_build",)  # daemon.docs.site: host pages written, the rest not yet
STEPS = (*INGEST_STEPS, *PARSE_STEPS, *RESOLVE_STEPS, *DOCS_STEPS)

_ARMED = os.environ.get("AUTODOC_FAULT", "")


def point(step: str) -> None:
    if _ARMED and step == _ARMED:
        # SIGKILL: no finally blocks, no atexit, no flushing - as a power cut or `kill -9`.
        os.kill(os.getpid(), signal.SIGKILL)
