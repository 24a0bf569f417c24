"""Host identity (RESOLVER.md §2): inventory rows, instance trees and literal whitelist entries
merged into hosts. Conflicts are findings, never silent merges.

Sources are taken in order (inventory, instances, literal entries), so where two disagree on
a field the earlier one, the inventory's, is kept. A record joins a host found by the first
key it shares in the order guid, clientName, hostname (lower-cased; a short name and the one
FQDN whose first label it is match, either way round), ip — unless the two disagree on guid
or clientName, which name an instance for sure: then they stay apart and the shared key is a
finding.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from daemon.resolve.estate import Bundle, InventoryEntry
from daemon.resolve.patterns import classify_literal
from daemon.resolve.types import Evidence, Finding
from daemon.resolve.vocabulary import FindingCode, LiteralKind, Severity

FIELDS = ("client_name", "hostname", "ip", "dns", "guid", "machine_type", "splunk_version")
# Fields that name one Splunk instance: two records that disagree on one are two instances.
# The keys a record is merged on, in order (dns for a literal whitelist name only).
_KEYS = ("guid", "client_name", "hostname", "ip", "dns")
_DISTINCT = ("guid", "client_name")


@dataclass(frozen=True, slots=True)
class Record:
    """What one source says of one host."""

    source: str  # "inventory:run 3 row 7", "instance_etc:run 5", "whitelist:run 2"
    ds: str | None = None  # the DS label the source belongs to, when it says
    client_name: str | None = None
    hostname: str | None = None
    ip: str | None = None
    dns: str | None = None
    guid: str | None = None
    machine_type: str | None = None
    splunk_version: str | None = None
    role: str | None = None
    instance_run: int | None = None  # the host's own etc/ tree
    evidence: tuple[Evidence, ...] = ()
    # A literal whitelist name: the DS matches it against clientName, hostname and dns, so
    # it joins a host that has it as any of them (and then adds no hostname of its own).
    any_name: bool = False


@dataclass(slots=True)
class Identity:
    """A host as merged so far (mutable while merging)."""

    values: dict[str, str] = field(default_factory=dict)
    role: str | None = None
    ds: str | None = None
    sources: list[str] = field(default_factory=list)
    instance_run: int | None = None
    alias: str | None = None  # when another host has the same display name

    @property
    def name(self) -> str:
        if self.alias:
            return self.alias
        for key in ("client_name", "hostname", "dns", "ip", "guid"):
            if self.values.get(key):
                return self.values[key]
        return "?"


def inventory_records(entries: Iterable[InventoryEntry]) -> list[Record]:
    return [
        Record(
            source=f"inventory:run {e.run} row {e.row_number}",
            ds=e.label,
            client_name=e.client_name,
            hostname=e.hostname,
            ip=e.ip,
            dns=e.dns,
            guid=e.guid,
            machine_type=e.machine_type,
            splunk_version=e.splunk_version,
            role=e.role,
        )
        for e in entries
    ]


def instance_record(bundle: Bundle, role: str | None, ds: str | None) -> Record:
    """An instance's own tree: serverName as hostname (the label when nothing else), its
    deploymentclient clientName, instance.cfg guid, splunk.version PLATFORM and VERSION."""
    platform = bundle.value("splunk.version", "default", "PLATFORM")
    return Record(
        source=f"instance_etc:run {bundle.run}",
        ds=ds,
        client_name=bundle.value("deploymentclient", "deployment-client", "clientName"),
        hostname=bundle.value("server", "general", "serverName") or bundle.label,
        guid=bundle.value("instance.cfg", "general", "guid"),
        machine_type=platform.lower() if platform else None,
        splunk_version=bundle.value("splunk.version", "default", "VERSION"),
        role=role,
        instance_run=bundle.run,
    )


def literal_record(entry: str, ds: str | None, evidence: Evidence) -> Record | None:
    """A literal whitelist/blacklist entry as a host; None for a pattern."""
    kind = classify_literal(entry)
    if kind is None:
        return None
    where = f"whitelist:run {evidence.run}" if evidence.run is not None else "whitelist"
    if kind is LiteralKind.IP:
        return Record(source=where, ds=ds, evidence=(evidence,), ip=entry)
    if kind is LiteralKind.GUID:
        return Record(source=where, ds=ds, evidence=(evidence,), guid=entry)
    return Record(source=where, ds=ds, evidence=(evidence,), hostname=entry, any_name=True)


@dataclass(slots=True)
class _Merger:
    hosts: list[Identity] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    by_key: dict[tuple[str, str], int] = field(default_factory=dict)
    # first label of an FQDN hostname -> hosts with that FQDN; a short hostname -> its hosts
    by_short: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_bare: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, record: Record) -> None:
        target = self._find(record)
        if target is None:
            self.hosts.append(Identity())
            target = len(self.hosts) - 1
        elif record.any_name:
            record = replace(record, hostname=None)
        self._merge(target, record)

    def _find(self, record: Record) -> int | None:
        for key in _KEYS:
            value = getattr(record, key)
            if record.any_name and key in ("client_name", "dns"):
                value = record.hostname
            if not value or (key == "dns" and not record.any_name):
                continue
            found = self.by_key.get((key, _norm(key, value)))
            if found is None and key == "hostname":
                found = self._by_short_name(record, value)
            if found is None:
                continue
            clash = self._clash(self.hosts[found], record)
            if clash is None:
                return found
            self.findings.append(
                _conflict(
                    f"{record.source} shares {key} {value!r} with host "
                    f"{self.hosts[found].name!r} but has another {clash}: kept apart",
                    self.hosts[found].name,
                    record,
                )
            )
        return None

    def _by_short_name(self, record: Record, name: str) -> int | None:
        """The one host whose hostname is this short name's FQDN, or this FQDN's short name."""
        short = name.split(".", 1)[0].lower()
        candidates = (self.by_bare if "." in name else self.by_short).get(short, set())
        if len(candidates) == 1:
            return next(iter(candidates))
        if len(candidates) > 1:
            names = sorted(self.hosts[i].name for i in candidates)
            self.findings.append(
                _conflict(
                    f"{record.source} names the host name {name!r}, whose short name matches "
                    f"several hosts ({', '.join(names)}): not merged with any",
                    name,
                    record,
                )
            )
        return None

    def _clash(self, host: Identity, record: Record) -> str | None:
        for key in _DISTINCT:
            mine, theirs = host.values.get(key), getattr(record, key)
            if mine and theirs and _norm(key, mine) != _norm(key, theirs):
                return key
        return None

    def _merge(self, index: int, record: Record) -> None:
        host = self.hosts[index]
        for key in FIELDS:
            value = getattr(record, key)
            if not value:
                continue
            kept = host.values.get(key)
            if kept is None:
                host.values[key] = value
                self._index(index, key, value)
            elif _norm(key, kept) != _norm(key, value) and not (
                key == "hostname" and _short_and_long(_norm(key, kept), _norm(key, value))
            ):
                self.findings.append(
                    _conflict(
                        f"{record.source} says {key} = {value!r}; {host.sources[0]} says "
                        f"{kept!r} (kept)",
                        host.name,
                        record,
                    )
                )
        if record.role and not host.role:
            host.role = record.role
        if record.ds and not host.ds:
            host.ds = record.ds
        if record.instance_run is not None and host.instance_run is None:
            host.instance_run = record.instance_run
        host.sources.append(record.source)

    def _index(self, index: int, key: str, value: str) -> None:
        if key not in _KEYS:
            return
        self.by_key.setdefault((key, _norm(key, value)), index)
        if key == "hostname":
            short = value.split(".", 1)[0].lower()
            (self.by_short if "." in value else self.by_bare)[short].add(index)


def _short_and_long(one: str, other: str) -> bool:
    """One name is the other's first label (web01 and web01.example.com)."""
    short, long = sorted((one, other), key=len)
    return "." not in short and long.startswith(short + ".")


def _norm(key: str, value: str) -> str:
    if key == "ip":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value.strip().lower()
    return value.strip().lower()


def _conflict(message: str, subject: str, record: Record) -> Finding:
    return Finding(
        code=FindingCode.IDENTITY_CONFLICT,
        severity=Severity.WARNING,
        subject=f"host:{subject}",
        message=message,
        evidence=record.evidence,
        host=subject,
    )


@dataclass(frozen=True, slots=True)
class Identities:
    hosts: tuple[Identity, ...]
    findings: tuple[Finding, ...]


def merge_identities(records: Sequence[Record]) -> Identities:
    """Hosts from records given in source order (inventory, instances, literal entries)."""
    merger = _Merger()
    for record in records:
        merger.add(record)
    # Hosts kept apart on purpose (two guids behind one clientName) would share a display
    # name; a name must identify one host in the results, whatever its case (names are
    # looked up case-insensitively), and an alias must not take a name a client already has.
    names = {host.name.lower() for host in merger.hosts}
    taken: set[str] = set()
    for host in merger.hosts:
        name = host.name
        if name.lower() in taken:
            detail = host.values.get("guid") or host.values.get("ip") or host.sources[0]
            alias, n = f"{name} [{detail}]", 1
            while alias.lower() in taken or alias.lower() in names:
                n += 1
                alias = f"{name} [{detail}] ({n})"
            host.alias = alias
        taken.add(host.name.lower())
    return Identities(tuple(merger.hosts), tuple(merger.findings))
