"""Turning runs into JSON-ready dicts and rows into a plain-text table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daemon.models import IngestionRun


def run_to_dict(run: IngestionRun) -> dict[str, Any]:
    """The shape DESIGN.md gives for `runs list --json` and `runs show --json`."""
    return {
        "id": run.id,
        "created_at": run.created_at.isoformat(),
        "type": run.type.value,
        "label": run.label,
        "status": run.status.value,
        "notes": run.notes,
        "files": [
            {
                "path": f.path,
                "sha256": f.sha256,
                "size_bytes": f.size_bytes,
                "stored_object_key": f.stored_object_key,
            }
            for f in run.files
        ],
    }


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
