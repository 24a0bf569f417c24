"""Plain data of the resolver: what goes in (settings with their evidence, hosts, the DS
bundle) and what comes out (memberships with `why` and `missing`, deliveries, findings).

Frozen slots dataclasses, so results can be shared between hosts without copies; `to_json`
turns any of them into the JSON the store and `--json` write.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.resolve.vocabulary import (
    MATCH_ORDER,
    FilterType,
    FindingCode,
    HostAttribute,
    ListName,
    MembershipResult,
    Severity,
    StateOnClient,
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a value was written: file inside the bundle, 1-based line, layer, app, run.

    For a `from_pathname` entry, `file` is the list file and `line` its line there.
    `scope` is "default" or "local" when known: `[global] filterType = whitelist` in the
    shipped `system/default` is the documented default, not an administrator's choice.
    """

    file: str
    line: int
    layer: str | None = None
    app: str | None = None
    run: int | None = None
    scope: str | None = None

    @property
    def shipped_default(self) -> bool:
        return self.layer == "system" and self.scope == "default"


@dataclass(frozen=True, slots=True)
class Clue:
    """One setting a data path or an estate check rests on (RESOLVER.md §5): the conf type,
    stanza, key and value, and where it was written."""

    conf: str
    stanza: str
    key: str
    value: str
    file: str
    line: int
    layer: str | None = None
    app: str | None = None
    run: int | None = None


# One setting as merged by precedence: its effective value and where that value came from.
Setting = tuple[str, Evidence]
# serverclass.conf merged across layers: stanza name -> key -> setting.
Stanzas = Mapping[str, Mapping[str, Setting]]


@dataclass(frozen=True, slots=True)
class Host:
    """A host as identity (RESOLVER.md §2) knows it. None = unknown, "" = known to be empty.

    Membership assumes a known `ip` is an IP address and a known `guid` a GUID: that is how
    a pattern like `web*` is known never to match a host's missing IP.
    """

    key: str  # the host's name in results (identity picks it)
    client_name: str | None = None
    hostname: str | None = None
    ip: str | None = None
    dns: str | None = None
    guid: str | None = None
    machine_type: str | None = None  # utsname, e.g. linux-x86_64

    def value(self, attribute: HostAttribute) -> str | None:
        value: str | None = getattr(self, attribute.value)
        return value

    @property
    def missing(self) -> frozenset[HostAttribute]:
        """The matched attributes (MATCH_ORDER) this host lacks."""
        return frozenset(a for a in MATCH_ORDER if getattr(self, a.value) is None)


@dataclass(frozen=True, slots=True)
class Finding:
    code: FindingCode
    severity: Severity
    subject: str  # e.g. "serverClass:web whitelist.3", "app:Splunk_TA_nix"
    message: str
    evidence: tuple[Evidence | Clue, ...] = ()
    host: str | None = None


@dataclass(frozen=True, slots=True)
class DeploymentServer:
    """One DS: merged serverclass.conf, its bundle's content, its version.

    `list_apps(path)` names what lies in a directory of the bundle (a path from `etc/` on,
    e.g. "etc/deployment-apps"), None when the bundle has no such directory.
    `read_file(path)` is a file of the bundle (path relative to $SPLUNK_HOME), None when
    absent. A dict's `.get` does for both.
    """

    stanzas: Stanzas
    list_apps: Callable[[str], Collection[str] | None]
    read_file: Callable[[str], bytes | None]
    version: str | None = None  # etc/splunk.version VERSION, or [resolve] ds_version
    name: str = ""


# -- why ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryMatch:
    """The entry that decided a list: `serverClass:web whitelist.2 = web*` matched
    `hostname = web-01`."""

    stanza: str
    key: str  # "whitelist.2", "whitelist.from_pathname", "machineTypesFilter"
    pattern: str
    attribute: HostAttribute
    value: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ListWhy:
    """One list's outcome for one host, and the level the list came from."""

    list: ListName
    stanza: str | None  # the stanza that defined the effective list; None: defined nowhere
    inherited: bool  # defined at a parent level ([global] or the class)
    matched: bool | None
    entry: EntryMatch | None = None  # the deciding entry when matched
    missing: tuple[str, ...] = ()  # what an unknown outcome lacks
    cleared_by: str | None = None  # an app-level filter that cleared the inherited lists


@dataclass(frozen=True, slots=True)
class FilterTypeDecision:
    """filterType at one level, where it came from and which version rule chose it.

    `value` None: undecided (DS version unknown and the two rules are both evaluated, or an
    invalid value); `alternative` is the other rule's value when a version rule chose.
    """

    value: FilterType | None
    source: str  # a stanza name, "default" or "implicit"
    evidence: Evidence | None = None
    version_rule: str | None = None
    alternative: FilterType | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Why:
    stanza: str  # the level decided: "serverClass:web" or "serverClass:web:app:nix"
    filter_type: FilterTypeDecision
    whitelist: ListWhy
    blacklist: ListWhy
    machine_types: ListWhy | None = None
    other_filters: tuple[str, ...] = ()  # packageTypesFilter etc.: not knowable, so unknown
    class_result: MembershipResult | None = None  # app level: app = class AND app filter
    other_rule_result: MembershipResult | None = None  # the other DS-version rule's answer
    notes: tuple[str, ...] = ()


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Membership:
    host: str
    serverclass: str
    result: MembershipResult
    why: Why
    missing: tuple[str, ...]  # attribute names, "ds_version", "from_pathname:<path>", ...


@dataclass(frozen=True, slots=True)
class AppMembership:
    host: str
    serverclass: str
    app: str
    result: MembershipResult
    why: Why
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppSettings:
    """How one class delivers one app (the same for every host it reaches)."""

    serverclass: str
    app: str
    stanza: str  # "serverClass:X:app:Y" or "serverClass:X:app:*"
    state: StateOnClient | None  # None: an invalid stateOnClient
    repository: str  # repositoryLocation as written
    repository_path: str | None  # inside the bundle, from etc/ on; None: outside it
    in_repository: bool
    target: str  # targetRepositoryLocation as written
    live: bool  # target is $SPLUNK_HOME/etc/apps: the app is live configuration
    exclude_from_update: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    def delivery_key(self) -> tuple[object, ...]:
        """What two classes must agree on not to be APP_MULTIPLY_ASSIGNED."""
        return (self.state, self.repository_path, self.target, self.exclude_from_update)


@dataclass(frozen=True, slots=True)
class AppDelivery:
    """An app a host gets from the DS, once however many classes deliver it. Hosts that get
    the same apps from the same classes share these objects."""

    app: str
    result: MembershipResult  # member (deployed) or unknown
    serverclasses: tuple[str, ...]  # every class delivering it (member or unknown), ASCII order
    settings: AppSettings  # from the first class in ASCII order that delivers it for sure
    settings_certain: bool = True  # False: an earlier unknown class would set other settings


def to_json(value: Any) -> Any:
    """A result as JSON-ready data: dataclasses to dicts, enums to strings, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def why_sentence(membership: Mapping[str, Any]) -> str:
    """One sentence of why a host is, may be or is not in a class, from a membership's stored
    JSON (`result`, `why`, `missing`): the whitelist entry that matched, what the host lacks
    for it to be decided, the blacklist entry that excludes it, or that no whitelist entry
    matches. Empty when the stored why says none of these."""
    why = membership.get("why") or {}
    entry = (why.get("whitelist") or {}).get("entry")
    if membership.get("result") == "member" and entry:
        return (
            f"{entry['stanza']} {entry['key']} = {entry['pattern']} matched "
            f"{entry['attribute']} = {entry['value']}"
        )
    if membership.get("missing"):
        return f"cannot be decided: the host's {', '.join(membership['missing'])} is not known"
    if membership.get("result") == "not_member":
        black = (why.get("blacklist") or {}).get("entry")
        if black:
            return (
                f"{black['stanza']} {black['key']} = {black['pattern']} excludes it "
                f"({black['attribute']} = {black['value']})"
            )
        if why.get("whitelist") and not why["whitelist"].get("matched"):
            return f"no whitelist entry of {why['whitelist']['stanza']} matches it"
    return ""
