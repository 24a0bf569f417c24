"""The resolver's words: results, finding codes, severities and serverclass.conf values.

No SQLAlchemy here (nor anywhere in daemon.resolve); the store maps these strings to columns.
Finding codes are stable: add new ones, never rename one (RESOLVER.md §6).
"""

from __future__ import annotations

import enum


class MembershipResult(enum.StrEnum):
    """A three-valued answer (RESOLVER.md §3 "Three states"): never a guess."""

    MEMBER = "member"
    NOT_MEMBER = "not_member"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: bool | None) -> MembershipResult:
        """True/False/None (Kleene's three values) as a result."""
        if value is None:
            return cls.UNKNOWN
        return cls.MEMBER if value else cls.NOT_MEMBER


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class FindingCode(enum.StrEnum):
    # RESOLVER.md §6
    UNDEFINED_INDEX = "UNDEFINED_INDEX"
    DANGLING_OUTPUT = "DANGLING_OUTPUT"
    NOT_FORWARDED = "NOT_FORWARDED"
    INDEX_FILTERED = "INDEX_FILTERED"
    MISSING_TRANSFORM = "MISSING_TRANSFORM"
    TRANSFORM_ON_WRONG_TIER = "TRANSFORM_ON_WRONG_TIER"
    ROUTING_LOOP = "ROUTING_LOOP"
    APP_NOT_IN_REPOSITORY = "APP_NOT_IN_REPOSITORY"
    APP_UNUSED = "APP_UNUSED"
    SERVERCLASS_EMPTY = "SERVERCLASS_EMPTY"
    HOST_UNMANAGED = "HOST_UNMANAGED"
    APP_DRIFT = "APP_DRIFT"
    APP_MULTIPLY_ASSIGNED = "APP_MULTIPLY_ASSIGNED"
    DS_VERSION_DEPENDENT = "DS_VERSION_DEPENDENT"
    UNRESOLVED_FROM_PATHNAME = "UNRESOLVED_FROM_PATHNAME"
    UNSAFE_PATTERN = "UNSAFE_PATTERN"
    SHADOWED_SETTING = "SHADOWED_SETTING"
    IDENTITY_CONFLICT = "IDENTITY_CONFLICT"
    # New codes, same rule of stability.
    PATTERN_FULL_MATCH = "PATTERN_FULL_MATCH"  # the (ours) full-match assumption, once
    APP_STAR_MIXED = "APP_STAR_MIXED"  # [serverClass:X:app:*] beside named app stanzas
    EXCLUDE_FROM_UPDATE = "EXCLUDE_FROM_UPDATE"  # paths on the client we cannot know
    INVALID_SETTING = "INVALID_SETTING"  # a value serverclass.conf.spec does not allow
    IGNORED_SETTING = "IGNORED_SETTING"  # a setting that has no effect where it is set
    IGNORED_STANZA = "IGNORED_STANZA"  # [default] or a stanza serverclass.conf never reads
    CONTINUE_MATCHING_FALSE = "CONTINUE_MATCHING_FALSE"  # continueMatching is not modelled


class FilterType(enum.StrEnum):
    WHITELIST = "whitelist"
    BLACKLIST = "blacklist"


class StateOnClient(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    NOOP = "noop"  # keep the app's own app.conf [install] state


class ListName(enum.StrEnum):
    WHITELIST = "whitelist"
    BLACKLIST = "blacklist"
    MACHINE_TYPES = "machineTypesFilter"


class LiteralKind(enum.StrEnum):
    """What a literal whitelist/blacklist entry names (identity uses it to create hosts)."""

    IP = "ip"
    GUID = "guid"
    NAME = "name"


class HostAttribute(enum.StrEnum):
    """What a pattern is matched against. MATCH_ORDER is serverclass.conf.spec's order."""

    CLIENT_NAME = "client_name"
    IP = "ip"
    DNS = "dns"
    HOSTNAME = "hostname"
    GUID = "guid"
    MACHINE_TYPE = "machine_type"


# whitelist.<n>: "matched against several items in order: clientName, IP address, the
# hostname by reverse DNS, the hostname the client provides, the instanceId (GUID)".
MATCH_ORDER: tuple[HostAttribute, ...] = (
    HostAttribute.CLIENT_NAME,
    HostAttribute.IP,
    HostAttribute.DNS,
    HostAttribute.HOSTNAME,
    HostAttribute.GUID,
)

# The version that changed the implicit app-level filterType (serverclass.conf.spec 9.4.3+).
APP_FILTER_TYPE_CHANGE: tuple[int, ...] = (9, 4, 3)
