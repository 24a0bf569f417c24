"""The project's vocabulary: plain enums shared by the pure modules (inbox, handlers, archive,
normalizer, resolver) and the database models. No SQLAlchemy here: the pure packages import
this module, and a test keeps them free of the database layer.

Values are stored as VARCHAR(50), so later milestones add members without a schema change.
"""

from __future__ import annotations

import enum


class UploadType(enum.StrEnum):
    DS_ETC = "ds_etc"
    INSTANCE_ETC = "instance_etc"
    APP_BUNDLE = "app_bundle"
    SINGLE_CONF = "single_conf"
    INVENTORY = "inventory"  # the deployment server's client list (RESOLVER.md §1)


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    STORED = "stored"
    PARSING = "parsing"
    NORMALIZED = "normalized"
    COMPLETE = "complete"
    FAILED = "failed"


class ResolutionStatus(enum.StrEnum):
    RUNNING = "running"  # a resolver holds it; never shown
    COMPLETE = "complete"
    FAILED = "failed"


class PropsTarget(enum.StrEnum):
    """What a props.conf stanza applies to, from its name."""

    SOURCETYPE = "sourcetype"  # [<sourcetype>]
    SOURCE = "source"  # [source::<pattern>]
    HOST = "host"  # [host::<pattern>]
    RULE = "rule"  # [rule::<name>] source type classification rule
    DELAYEDRULE = "delayedrule"  # [delayedrule::<name>]
    DEFAULT = "default"  # [default]


class IndexKind(enum.StrEnum):
    INDEX = "index"
    DEFAULT = "default"
    VOLUME = "volume"  # [volume:<name>]
    PROVIDER = "provider"  # [provider:<name>] (virtual indexes)
    PROVIDER_FAMILY = "provider-family"  # [provider-family:<name>]


class OutputKind(enum.StrEnum):
    TCPOUT = "tcpout"  # [tcpout]: defaultGroup, indexAndForward
    TCPOUT_GROUP = "tcpout_group"  # [tcpout:<group>]: server list
    TCPOUT_SERVER = "tcpout_server"  # [tcpout-server://<host>:<port>]
    SYSLOG = "syslog"  # [syslog]: defaultGroup
    SYSLOG_GROUP = "syslog_group"  # [syslog:<group>]: server
    HTTPOUT = "httpout"  # [httpout]
    INDEX_AND_FORWARD = "index_and_forward"  # [indexAndForward]: index = true|false
    DEFAULT = "default"
    OTHER = "other"


class ServerClassKind(enum.StrEnum):
    GLOBAL = "global"  # [global]: a template, matches no client by itself
    SERVER_CLASS = "server_class"  # [serverClass:<name>]
    APP = "app"  # [serverClass:<name>:app:<app>]
    DEFAULT = "default"  # [default] (or settings before the first stanza)


def is_splunk_version(text: str) -> bool:
    """A Splunk version as `[resolve] ds_version` and `--ds-version` take it: 9.4.3, 9.4,
    10.0.1.2."""
    parts = text.split(".")
    return 2 <= len(parts) <= 4 and all(p.isascii() and p.isdigit() for p in parts)
