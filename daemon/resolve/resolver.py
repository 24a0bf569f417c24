"""One resolution of the estate (RESOLVER.md §1–§4): identity, then for each deployment server
its classes and apps per host, then each host's apps (delivered and observed) and effective
inputs, with the findings of each step. Pure: an Estate in, a Resolution out.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.conf.normalize import parse_bool
from daemon.resolve.estate import Bundle, ConfFile, Estate
from daemon.resolve.identity import (
    Identity,
    Record,
    instance_record,
    inventory_records,
    literal_record,
    merge_identities,
)
from daemon.resolve.layers import (
    ConfLayer,
    EffectiveConf,
    StanzaMemo,
    bundle_apps,
    conf_layer,
    effective,
    host_files,
    install_state,
    instance_apps,
    is_live,
    stack_key,
)
from daemon.resolve.paths import HostConfig, data_paths
from daemon.resolve.patterns import classify_literal
from daemon.resolve.result import HostApp, Resolution, ResolvedHost
from daemon.resolve.serverclass import resolve_serverclasses
from daemon.resolve.shadows import Shadow, shadowed
from daemon.resolve.types import (
    AppDelivery,
    DeploymentServer,
    Finding,
    Host,
    Membership,
    Stanzas,
)
from daemon.resolve.vocabulary import FindingCode, LiteralKind, MembershipResult, Severity

_LIST_KEY_PREFIXES = ("whitelist.", "blacklist.")
# The conf types a resolution merges for every host: inputs (stored) and what data paths read.
PATH_CONF_TYPES = ("inputs", "outputs", "props", "transforms", "indexes")


@dataclass(frozen=True, slots=True)
class ResolveOptions:
    ds_version: str | None = None  # overrides every DS's etc/splunk.version


def resolve(estate: Estate, options: ResolveOptions | None = None) -> Resolution:
    return _Resolver(estate, options or ResolveOptions()).run()


def explain_host(
    estate: Estate, host: Host, ds_label: str | None, options: ResolveOptions | None = None
) -> tuple[Membership, ...]:
    """One host's result for every class of its deployment server, not_member included, as
    resolve() decides it (a resolution stores member and unknown only): `host NAME --all`."""
    for bundle in estate.deployment_servers:
        if (bundle.label or "") == (ds_label or ""):
            ds = _Resolver(estate, options or ResolveOptions())._deployment_server(bundle)
            return resolve_serverclasses(ds, [host], include_not_member=True).memberships
    return ()


class _Resolver:
    def __init__(self, estate: Estate, options: ResolveOptions) -> None:
        self.estate = estate
        self.options = options
        self.findings: list[Finding] = []
        self._layers: dict[int, ConfLayer | None] = {}
        self._serverclass: dict[int, Stanzas] = {}
        # Hosts that get the same deliveries (one shared tuple per signature, delivery.py)
        # from the same DS and the same tree share each effective conf and their app whys.
        self._conf_of: dict[tuple[str, int, int, int], EffectiveConf] = {}
        self._confs: dict[tuple[str, str], EffectiveConf] = {}
        # Stanzas merged from the same layers in several stacks, merged once (the layers live
        # in self._layers as long as this).
        self._stanzas: StanzaMemo = {}
        # What each stack's layers shadow: findings with no host, one copy per stack (host
        # findings share their text and evidence).
        self._shadows: dict[tuple[str, str], tuple[Finding, ...]] = {}
        self._shadows_of: dict[tuple[str, int, int, int], tuple[Finding, ...]] = {}
        # Effective confs of the types data paths read, by content: stacks that differ only
        # in layers that change nothing of that type share one object (and so their walks).
        self._by_content: dict[tuple[object, ...], EffectiveConf] = {}
        self._app_why: dict[int, dict[str, Any]] = {}

    def run(self) -> Resolution:
        ds_by_label = {b.label or "": b for b in self.estate.deployment_servers}
        only = next(iter(ds_by_label)) if len(ds_by_label) == 1 else None
        identities = merge_identities(self._records(ds_by_label, only))
        self.findings.extend(identities.findings)
        # The DS each host belongs to: the one its source names, or the only one.
        ds_of = {id(i): i.ds if i.ds in ds_by_label else only for i in identities.hosts}
        by_ds: dict[str, list[Identity]] = defaultdict(list)
        for identity in identities.hosts:
            if (label := ds_of[id(identity)]) is not None:
                by_ds[label].append(identity)
        memberships: list[Membership] = []
        deliveries: dict[str, tuple[AppDelivery, ...]] = {}
        versions: dict[str, str | None] = {}
        for label, bundle in ds_by_label.items():
            ds = self._deployment_server(bundle)
            versions[label] = ds.version
            members = by_ds.get(label, [])
            result = resolve_serverclasses(ds, [_host(i) for i in members])
            memberships.extend(result.memberships)
            deliveries.update(result.deliveries)
            self.findings.extend(result.findings)
            self._class_findings(label, result.classes, result.memberships)
            self._unused_apps(bundle, ds, result.deliveries.values())
        instances = {b.run: b for b in self.estate.instances}
        hosts: list[ResolvedHost] = []
        apps: list[HostApp] = []
        stacks: dict[str, EffectiveConf] = {}
        configs: list[HostConfig] = []
        classes_of: dict[str, int] = defaultdict(int)
        for m in memberships:
            classes_of[m.host] += 1
        for identity in identities.hosts:
            label = ds_of[id(identity)]
            ds_bundle = ds_by_label.get(label) if label is not None else None
            instance = instances.get(identity.instance_run or -1)
            delivered = deliveries.get(identity.name, ())
            apps.extend(self._host_apps(identity.name, delivered, instance, ds_bundle))
            stack = self._inputs(delivered, instance, ds_bundle, stacks)
            resolved = _resolved(identity, label, instance, stack)
            hosts.append(resolved)
            configs.append(
                self._host_config(resolved, stacks[stack], delivered, instance, ds_bundle)
            )
            if not classes_of[identity.name] and any(
                s.startswith("inventory:") for s in identity.sources
            ):
                self.findings.append(
                    Finding(
                        FindingCode.HOST_UNMANAGED,
                        Severity.INFO,
                        f"host:{identity.name}",
                        f"{identity.name} is in the deployment server's client list but in no "
                        "server class",
                        host=identity.name,
                    )
                )
        walked = data_paths(configs)
        self.findings.extend(walked.findings)
        summary = {
            "deployment_servers": len(ds_by_label),
            "hosts": len(hosts),
            "memberships": sum(1 for m in memberships if m.result is MembershipResult.MEMBER),
            "unknown": sum(1 for m in memberships if m.result is MembershipResult.UNKNOWN),
            "apps": len(apps),
            "stacks": len(stacks),
            "paths": len(walked.paths),
            "findings": len(self.findings),
        }
        version = self.options.ds_version or next(iter(versions.values()), None)
        return Resolution(
            hosts=tuple(hosts),
            memberships=tuple(memberships),
            apps=tuple(apps),
            effective_inputs=stacks,
            paths=walked.paths,
            findings=tuple(self.findings),
            ds_version=version,
            summary=summary,
        )

    # -- identity ---------------------------------------------------------------------------

    def _records(self, ds_by_label: Mapping[str, Bundle], only: str | None) -> list[Record]:
        records = inventory_records(self.estate.inventory)
        for bundle in self.estate.instances:
            records.append(instance_record(bundle, instance_role(bundle), _ds_of(bundle, only)))
        for label, bundle in ds_by_label.items():
            for stanza in self._merged_serverclass(bundle).values():
                for key, (value, evidence) in stanza.items():
                    if not key.startswith(_LIST_KEY_PREFIXES) or key.endswith(
                        ("from_pathname", "select_field", "where_field", "where_equals")
                    ):
                        continue
                    record = literal_record(value.strip(), label or None, evidence)
                    if record is not None:
                        records.append(record)
        return records

    # -- deployment servers -----------------------------------------------------------------

    def _layer(self, file: ConfFile) -> ConfLayer | None:
        if id(file) not in self._layers:
            self._layers[id(file)] = conf_layer(file)
        return self._layers[id(file)]

    def _own_layers(self, bundle: Bundle, conf_type: str) -> list[ConfLayer]:
        """A tree's own configuration of that type (not a DS's repository), with the shipped
        system/default when the tree lacks its own."""
        files = [f for f in bundle.conf(conf_type) if f.layer in ("system", "app")]
        if not any(f.layer == "system" and f.scope == "default" for f in files):
            files.extend(f for f in self.estate.system_default if f.conf_type == conf_type)
        return [layer for f in files if (layer := self._layer(f)) is not None]

    def _merged_serverclass(self, bundle: Bundle) -> Stanzas:
        if bundle.run not in self._serverclass:
            merged = effective("serverclass", self._own_layers(bundle, "serverclass"))
            self._serverclass[bundle.run] = {
                name: {key: (v.value, v.evidence()) for key, v in stanza.settings.items()}
                for name, stanza in merged.stanzas.items()
            }
        return self._serverclass[bundle.run]

    def _deployment_server(self, bundle: Bundle) -> DeploymentServer:
        version = self.options.ds_version or bundle.value("splunk.version", "default", "VERSION")
        read = self.estate.read_file
        return DeploymentServer(
            stanzas=self._merged_serverclass(bundle),
            list_apps=lambda path: bundle_apps(bundle, path),
            read_file=lambda path: read(bundle.run, path),
            version=version,
            name=bundle.label or "",
        )

    def _class_findings(
        self, label: str, classes: Sequence[str], memberships: Sequence[Membership]
    ) -> None:
        reached = {m.serverclass for m in memberships}
        for name in classes:
            if name not in reached:
                self.findings.append(
                    Finding(
                        FindingCode.SERVERCLASS_EMPTY,
                        Severity.WARNING,
                        f"serverClass:{name}",
                        f"server class {name} of deployment server {label or '(unlabelled)'} "
                        "matches no known host",
                    )
                )

    def _unused_apps(
        self,
        bundle: Bundle,
        ds: DeploymentServer,
        delivered: Iterable[tuple[AppDelivery, ...]],
    ) -> None:
        used = {d.app for host_apps in delivered for d in host_apps}
        repository = ds.list_apps("etc/deployment-apps") or ()
        for app in sorted(set(repository) - used):
            self.findings.append(
                Finding(
                    FindingCode.APP_UNUSED,
                    Severity.INFO,
                    f"app:{app}",
                    f"app {app} is in the repository of deployment server "
                    f"{bundle.label or '(unlabelled)'} but delivered to no known host",
                )
            )

    # -- hosts --------------------------------------------------------------------------------

    def _host_apps(
        self,
        host: str,
        delivered: Sequence[AppDelivery],
        instance: Bundle | None,
        ds: Bundle | None,
    ) -> list[HostApp]:
        apps = [
            HostApp(
                host=host,
                app=d.app,
                result="deployed" if d.result is MembershipResult.MEMBER else "unknown",
                serverclasses=d.serverclasses,
                state=None if d.settings.state is None else d.settings.state.value,
                target=d.settings.target,
                in_repository=d.settings.in_repository,
                why=self._why_of(d),
            )
            for d in delivered
        ]
        if instance is None:
            return apps
        deployed = {d.app for d in delivered if d.result is MembershipResult.MEMBER}
        for app in sorted(instance_apps(instance)):
            apps.append(HostApp(host=host, app=app, result="observed", in_repository=False))
            if app in deployed and ds is not None:
                self._drift(host, app, instance, ds)
        return apps

    def _why_of(self, delivery: AppDelivery) -> dict[str, Any]:
        """One why per delivery, shared by every host it reaches (deliveries are shared)."""
        why = self._app_why.get(id(delivery))
        if why is None:
            why = {
                "stanza": delivery.settings.stanza,
                "settings_certain": delivery.settings_certain,
            }
            self._app_why[id(delivery)] = why
        return why

    def _drift(self, host: str, app: str, instance: Bundle, ds: Bundle) -> None:
        expected = _app_content(ds, app, "deployment_app")
        observed = _app_content(instance, app, "app")
        changed = sorted(
            k for k in expected.keys() | observed.keys() if expected.get(k) != observed.get(k)
        )
        if not changed:
            return
        conf_type, scope, stanza = changed[0]
        self.findings.append(
            Finding(
                FindingCode.APP_DRIFT,
                Severity.WARNING,
                f"app:{app}",
                f"{host}'s copy of {app} differs from the deployment server's in "
                f"{len(changed)} stanza(s), first {scope}/{conf_type}.conf [{stanza}]",
                host=host,
            )
        )

    def _inputs(
        self,
        delivered: Sequence[AppDelivery],
        instance: Bundle | None,
        ds: Bundle | None,
        stacks: dict[str, EffectiveConf],
    ) -> str:
        """The key of the host's inputs layer stack, its effective inputs in `stacks`."""
        conf = self._conf("inputs", delivered, instance, ds)
        stacks.setdefault(conf.stack, conf)
        return conf.stack

    def _conf(
        self,
        conf_type: str,
        delivered: Sequence[AppDelivery],
        instance: Bundle | None,
        ds: Bundle | None,
    ) -> EffectiveConf:
        """A host's effective conf of that type, once per layer stack (hosts that get the same
        deliveries and have the same tree share the object)."""
        shared = _signature(conf_type, delivered, instance, ds)
        found = self._conf_of.get(shared)
        if found is None:
            live = {d.app for d in delivered if _live(d, ds)}
            files = host_files(conf_type, ds, instance, live, self.estate.system_default)
            layers = [layer for f in files if (layer := self._layer(f)) is not None]
            key = (conf_type, stack_key(layers))  # no layers at all: one key for every type
            found = self._confs.get(key)
            if found is None:
                found = effective(conf_type, layers, self._stanzas)
                if conf_type != "inputs":  # an inputs stack is stored under its own key
                    content = (conf_type, *map(id, found.stanzas.values()))
                    found = self._by_content.setdefault(content, found)
                self._confs[key] = found
                self._shadows[key] = tuple(_unsaid(s) for s in shadowed(conf_type, layers))
            self._conf_of[shared] = found
            self._shadows_of[shared] = self._shadows[key]
        return found

    def _host_config(
        self,
        resolved: ResolvedHost,
        inputs: EffectiveConf,
        delivered: Sequence[AppDelivery],
        instance: Bundle | None,
        ds: Bundle | None,
    ) -> HostConfig:
        names = {resolved.name}
        names.update(
            v for v in (resolved.client_name, resolved.hostname, resolved.ip, resolved.dns) if v
        )
        lowered = {n.strip().lower() for n in names if n.strip()}
        lowered.update(
            n.split(".", 1)[0] for n in list(lowered) if classify_literal(n) is not LiteralKind.IP
        )
        config = HostConfig(
            name=resolved.name,
            role=resolved.role,
            names=frozenset(lowered),
            hostname=resolved.hostname or resolved.name,
            own_tree=instance is not None,
            indexes_known=instance is None or not cluster_peer(instance),
            inputs=inputs,
            outputs=self._conf("outputs", delivered, instance, ds),
            props=self._conf("props", delivered, instance, ds),
            transforms=self._conf("transforms", delivered, instance, ds),
            indexes=self._conf("indexes", delivered, instance, ds),
        )
        name = resolved.name
        for conf_type in PATH_CONF_TYPES:
            self.findings.extend(
                Finding(f.code, f.severity, f.subject, f.message, f.evidence, name)
                for f in self._shadows_of[_signature(conf_type, delivered, instance, ds)]
            )
        return config


def _signature(
    conf_type: str, delivered: Sequence[AppDelivery], instance: Bundle | None, ds: Bundle | None
) -> tuple[str, int, int, int]:
    """What decides a host's layers of one conf type: its deliveries (one shared tuple per
    signature, delivery.py), its DS and its own tree."""
    return (
        conf_type,
        id(delivered),
        -1 if ds is None else ds.run,
        -1 if instance is None else instance.run,
    )


def _unsaid(shadow: Shadow) -> Finding:
    """A SHADOWED_SETTING finding of no host yet: each host of the stack gets a copy."""
    return shadow.finding(None)


def instance_role(bundle: Bundle) -> str | None:
    """RESOLVER.md §2: a role from the apps and settings an instance has."""
    apps = instance_apps(bundle)
    if "SplunkUniversalForwarder" in apps:
        return "uf"
    if "SplunkForwarder" in apps and install_state(bundle, "SplunkForwarder") != "disabled":
        return "hf"
    indexes = any(
        row.name not in ("default",) and not row.name.startswith(("volume:", "provider"))
        for f in bundle.conf("indexes")
        if not (f.layer == "system" and f.scope == "default")
        for row in f.stanzas
    )
    receives = any(
        row.name.startswith(("splunktcp://", "splunktcp-ssl:"))
        and parse_bool(row.settings.get("disabled", "")) is not True
        for f in bundle.conf("inputs")
        if not (f.layer == "system" and f.scope == "default")
        for row in f.stanzas
    )
    if indexes and receives:
        return "indexer"
    if receives and cluster_peer(bundle):
        return "indexer"  # its indexes come in the cluster bundle
    if any(f.layer in ("system", "app") for f in bundle.conf("serverclass")):
        return "ds"
    return None


def cluster_peer(bundle: Bundle) -> bool:
    """An indexer cluster peer: apps in etc/peer-apps (etc/slave-apps before 9.0), the
    bundle its manager pushes. Parsing does not read those folders (SPLUNK_CONF.md), so
    such a peer's indexes are not known here."""
    return bool(bundle_apps(bundle, "etc/peer-apps") or bundle_apps(bundle, "etc/slave-apps"))


def _live(delivery: AppDelivery, ds: Bundle | None) -> bool:
    """Delivered for sure and live on the host (RESOLVER.md §3 Apps, layers.is_live)."""
    state = delivery.settings.state
    return delivery.result is MembershipResult.MEMBER and is_live(
        delivery.app, state.value if state else None, delivery.settings.target, ds
    )


def _app_content(bundle: Bundle, app: str, layer: str) -> dict[tuple[str, str, str], str]:
    content: dict[tuple[str, str, str], str] = {}
    for f in bundle.files:
        if f.layer == layer and f.app == app:
            for row in f.stanzas:
                digest = hashlib.sha256(repr(sorted(row.settings.items())).encode()).hexdigest()
                content[(f.conf_type, f.scope or "", row.name)] = digest
    return content


def _ds_of(bundle: Bundle, only: str | None) -> str | None:
    """The DS an instance names in deploymentclient.conf targetUri, else the only DS."""
    target = bundle.value("deploymentclient", "target-broker:deploymentServer", "targetUri")
    if target:
        return target.split("://")[-1].split(":")[0].split(".")[0] or only
    return only


def _host(identity: Identity) -> Host:
    values = identity.values
    return Host(
        key=identity.name,
        client_name=values.get("client_name"),
        hostname=values.get("hostname"),
        ip=values.get("ip"),
        dns=values.get("dns"),
        guid=values.get("guid"),
        machine_type=values.get("machine_type"),
    )


def _resolved(
    identity: Identity, ds: str | None, instance: Bundle | None, stack: str
) -> ResolvedHost:
    values = identity.values
    role = (instance_role(instance) if instance is not None else None) or identity.role
    return ResolvedHost(
        name=identity.name,
        role=role or "unknown",
        client_name=values.get("client_name"),
        hostname=values.get("hostname"),
        ip=values.get("ip"),
        dns=values.get("dns"),
        guid=values.get("guid"),
        machine_type=values.get("machine_type"),
        splunk_version=values.get("splunk_version"),
        ds=ds or None,
        sources=tuple(identity.sources),
        stack=stack,
    )
