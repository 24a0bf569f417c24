"""Plain data shared by the archive reader, the .conf parser and the normalizer.

The parser (`daemon.conf.parser`) is pure: bytes in, `ParsedConf` out. The archive reader
(`daemon.conf.archive`) finds the members worth parsing and says where each sits
(`Provenance`). The normalizer turns both into rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Layer(enum.StrEnum):
    SYSTEM = "system"
    APP = "app"
    USER = "user"
    DEPLOYMENT_APP = "deployment_app"
    CLUSTER_BUNDLE = "cluster_bundle"


class Scope(enum.StrEnum):
    DEFAULT = "default"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a person should know about: a skipped line, a refused member, a limit hit.

    `line` is 1-based, 0 when the finding is about a whole file or archive member.
    `code` is a stable kebab-case identifier (e.g. "no-equals", "latin1-fallback").
    """

    code: str
    message: str
    line: int = 0
    path: str | None = None  # member path inside the archive, when known


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One `key = value` line as written (evidence; the effective value is the last one)."""

    key: str
    value: str
    line: int


@dataclass(slots=True)
class Stanza:
    name: str
    line: int  # line of the first header; 0 for the implicit global stanza reported as "default"
    order: int  # 0-based position in first-seen order within the file
    settings: dict[str, str] = field(default_factory=dict)  # effective values, first-seen key order
    occurrences: list[Occurrence] = field(default_factory=list)  # every setting line, in order


@dataclass(slots=True)
class ParsedConf:
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"
    stanzas: list[Stanza]  # first-seen order
    findings: list[Finding]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a member sits in a Splunk tree (SPLUNK_CONF.md, "Where a file sits")."""

    layer: Layer | None  # None when the path fits no row of the table (e.g. single_conf)
    app: str | None
    scope: Scope | None
    conf_type: str  # file name without .conf / .meta ("inputs", "default" for default.meta)
