"""The estate as the resolver reads it (RESOLVER.md §1): what the latest complete runs say,
as plain data. daemon.resolve.load builds it from the database; tests build it by hand
(tests/builders.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StanzaRow:
    """One stanza of one file as parsed: its settings and the line of each key's last
    occurrence (the one that wins within the file)."""

    name: str
    line: int
    settings: Mapping[str, str]
    lines: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ConfFile:
    """One .conf file of a bundle, where it sits (SPLUNK_CONF.md provenance) and its stanzas
    in file order."""

    run: int | None  # None: the shipped defaults of the package
    path: str  # inside the bundle, e.g. etc/deployment-apps/nix/local/inputs.conf
    conf_type: str
    layer: str | None  # system | app | deployment_app | user | cluster_bundle
    app: str | None
    scope: str | None  # default | local
    stanzas: tuple[StanzaRow, ...]


@dataclass(frozen=True, slots=True)
class Bundle:
    """An etc/ tree: a deployment server's (`ds_etc`) or an instance's own (`instance_etc`)."""

    run: int
    upload_type: str
    label: str | None
    files: tuple[ConfFile, ...]
    dirs: frozenset[str] = frozenset()  # folders two levels under etc/, e.g. etc/apps/nix

    def conf(self, conf_type: str) -> tuple[ConfFile, ...]:
        return tuple(f for f in self.files if f.conf_type == conf_type)

    def value(self, conf_type: str, stanza: str, key: str) -> str | None:
        """A value as written in the first file of that type that sets it (for facts such as
        splunk.version's VERSION, which live in one file)."""
        for file in self.conf(conf_type):
            for row in file.stanzas:
                if row.name == stanza and key in row.settings:
                    return row.settings[key]
        return None


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """A host as a deployment server's client list names it (an `inventory` run's row)."""

    run: int
    label: str | None  # the DS it belongs to
    row_number: int
    client_name: str | None = None
    hostname: str | None = None
    ip: str | None = None
    dns: str | None = None
    guid: str | None = None
    machine_type: str | None = None
    splunk_version: str | None = None
    role: str | None = None


class FileUnreadable(Exception):
    """What `Estate.read_file` raises for a file the bundle holds but that cannot be read
    (over a limit, a corrupt archive): the message says why."""


def _no_file(_run: int, _path: str) -> bytes | None:
    return None


@dataclass(frozen=True, slots=True)
class Estate:
    deployment_servers: tuple[Bundle, ...] = ()
    instances: tuple[Bundle, ...] = ()
    inventory: tuple[InventoryEntry, ...] = ()
    system_default: tuple[ConfFile, ...] = ()  # the product's shipped etc/system/default
    # A file of a bundle that parsing does not keep (a whitelist.from_pathname CSV): (run,
    # path relative to $SPLUNK_HOME) -> its bytes, None when the bundle has no such file;
    # raises FileUnreadable when it has one that cannot be read.
    read_file: Callable[[int, str], bytes | None] = field(default=_no_file)

    @property
    def runs(self) -> dict[str, dict[str, int]]:
        """The runs read, as a resolution records them: type -> label ("" for none) -> run."""
        found: dict[str, dict[str, int]] = {}
        for bundle in (*self.deployment_servers, *self.instances):
            found.setdefault(bundle.upload_type, {})[bundle.label or ""] = bundle.run
        for entry in self.inventory:
            found.setdefault("inventory", {})[entry.label or ""] = entry.run
        return found
