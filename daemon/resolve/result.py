"""What one resolution computed (RESOLVER.md §1–§4), as plain data: hosts, their server
classes and apps, the effective inputs of each layer stack, and the findings. The store
writes it as it is; `to_json` gives each part the shape of RESOLVER.md §7.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.resolve.layers import EffectiveConf
from daemon.resolve.paths import DataPath
from daemon.resolve.types import Finding, Membership

HOST_FIELDS = ("client_name", "hostname", "ip", "dns", "guid", "machine_type", "splunk_version")


@dataclass(frozen=True, slots=True)
class ResolvedHost:
    name: str
    role: str  # uf | hf | indexer | search_head | ds | unknown ...
    client_name: str | None = None
    hostname: str | None = None
    ip: str | None = None
    dns: str | None = None
    guid: str | None = None
    machine_type: str | None = None
    splunk_version: str | None = None
    ds: str | None = None  # the label of the deployment server it belongs to
    sources: tuple[str, ...] = ()  # "inventory:run 3 row 7", "instance_etc:run 5", ...
    stack: str | None = None  # key of its layer stack (effective_inputs)


@dataclass(frozen=True, slots=True)
class HostApp:
    """An app on a host: `deployed` or `unknown` from the DS, or `observed` in its own tree."""

    host: str
    app: str
    result: str
    serverclasses: tuple[str, ...] = ()
    state: str | None = None
    target: str | None = None
    in_repository: bool = False
    why: Any = None  # JSON-ready evidence


@dataclass(frozen=True, slots=True)
class Resolution:
    hosts: tuple[ResolvedHost, ...]
    memberships: tuple[Membership, ...]  # member and unknown only
    apps: tuple[HostApp, ...]
    # stack key -> its effective inputs (stored as btool --json's shape, RESOLVER.md §7)
    effective_inputs: Mapping[str, EffectiveConf]
    findings: tuple[Finding, ...]
    ds_version: str | None = None
    paths: tuple[DataPath, ...] = ()  # RESOLVER.md §5
    summary: Mapping[str, Any] = field(default_factory=dict)
