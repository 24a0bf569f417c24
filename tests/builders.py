"""Estates in a few lines, for the resolver's unit and golden tests.

    conf = serverclass_conf('''
        [serverClass:web]
        whitelist.0 = web*
    ''')
    result = resolve_serverclasses(ds(conf, apps=["nix"]), [host(hostname="web-01")])

Settings keep real evidence: the conf text goes through the project's parser, so a setting's
line is its line in the text.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Iterable, Mapping

from daemon.conf.parser import parse_text
from daemon.resolve.serverclass import ServerClassResolution
from daemon.resolve.types import DeploymentServer, Evidence, Host, Setting

SYSTEM_LOCAL = "etc/system/local/serverclass.conf"
SYSTEM_DEFAULT = "etc/system/default/serverclass.conf"
DEPLOYMENT_APPS = "etc/deployment-apps"

# The [global] Splunk ships in system/default/serverclass.conf (10.x), the part that matters.
SHIPPED_GLOBAL = """
[global]
repositoryLocation = $SPLUNK_HOME/etc/deployment-apps
targetRepositoryLocation = $SPLUNK_HOME/etc/apps
stateOnClient = enabled
filterType = whitelist
"""

Stanzas = dict[str, dict[str, Setting]]


def evidence(line: int = 1, file: str = SYSTEM_LOCAL, **kwargs: object) -> Evidence:
    return Evidence(file, line, **kwargs)  # type: ignore[arg-type]


def serverclass_conf(
    text: str,
    *,
    file: str = SYSTEM_LOCAL,
    layer: str | None = "system",
    scope: str | None = "local",
    app: str | None = None,
    run: int | None = None,
) -> Stanzas:
    """One serverclass.conf text as stanza -> key -> (value, evidence of its last line)."""
    stanzas, _ = parse_text(textwrap.dedent(text))
    out: Stanzas = {}
    for stanza in stanzas:
        lines = {o.key: o.line for o in stanza.occurrences}
        settings = out.setdefault(stanza.name, {})
        for key, value in stanza.settings.items():
            settings[key] = (value, Evidence(file, lines.get(key, 0), layer, app, run, scope))
    return out


def shipped_default() -> Stanzas:
    return serverclass_conf(SHIPPED_GLOBAL, file=SYSTEM_DEFAULT, scope="default")


def layered(*confs: Stanzas) -> Stanzas:
    """Merge by precedence, highest first: a key comes from the first conf that sets it."""
    out: Stanzas = {}
    for conf in confs:
        for name, settings in conf.items():
            merged = out.setdefault(name, {})
            for key, setting in settings.items():
                merged.setdefault(key, setting)
    return out


def host(
    key: str | None = None,
    *,
    client_name: str | None = None,
    hostname: str | None = None,
    ip: str | None = None,
    dns: str | None = None,
    guid: str | None = None,
    machine_type: str | None = None,
) -> Host:
    """A host; its key defaults to the first name it has."""
    names = (client_name, hostname, ip, dns, guid)
    key = key or next((n for n in names if n), None) or "?"
    return Host(key, client_name, hostname, ip, dns, guid, machine_type)


def known_host(name: str, ip: str, *, machine_type: str = "linux-x86_64", **kw: str) -> Host:
    """A host the DS knows fully (as its client list reports it): every attribute set."""
    attrs = {
        "client_name": name,
        "hostname": name,
        "ip": ip,
        "dns": f"{name}.example.com",
        "guid": "00000000-0000-4000-8000-" + hashlib.sha256(name.encode()).hexdigest()[:12],
        "machine_type": machine_type,
    }
    attrs.update(kw)
    return Host(name, **attrs)


def ds(
    conf: Stanzas | str,
    *,
    apps: Iterable[str] | Mapping[str, Iterable[str]] = (),
    files: Mapping[str, bytes | str] | None = None,
    version: str | None = None,
    defaults: bool = False,
) -> DeploymentServer:
    """A deployment server. `apps`: the apps of etc/deployment-apps, or a mapping of
    directory (from etc/ on) -> apps. `files`: bundle files by path from $SPLUNK_HOME.
    `defaults`: layer the shipped system/default [global] under the conf."""
    stanzas = serverclass_conf(conf) if isinstance(conf, str) else conf
    if defaults:
        stanzas = layered(stanzas, shipped_default())
    repositories: dict[str, frozenset[str]]
    if isinstance(apps, Mapping):
        repositories = {path: frozenset(names) for path, names in apps.items()}
    else:
        repositories = {DEPLOYMENT_APPS: frozenset(apps)}
    contents = {
        path: data.encode() if isinstance(data, str) else data
        for path, data in (files or {}).items()
    }
    return DeploymentServer(stanzas, repositories.get, contents.get, version)


def results(resolution: ServerClassResolution) -> dict[tuple[str, str], str]:
    """(host, class) -> result, for member and unknown rows."""
    return {(m.host, m.serverclass): m.result.value for m in resolution.memberships}


def app_results(resolution: ServerClassResolution) -> dict[tuple[str, str], str]:
    """(host, app) -> delivery result (member or unknown)."""
    return {
        (host, d.app): d.result.value
        for host, deliveries in resolution.deliveries.items()
        for d in deliveries
    }


def codes(resolution: ServerClassResolution) -> list[str]:
    return sorted(f.code.value for f in resolution.findings)


# -- layers: a host's effective configuration (RESOLVER.md §4) ---------------------------------
# Imported here, not at the top, so this part stays one append to the file.
from daemon.conf.parser import parse_conf  # noqa: E402
from daemon.resolve.layers import ConfLayer, LayerKind, Origin, layer_from_stanzas  # noqa: E402


def layer_file(kind: LayerKind, app: str | None = None, conf: str = "inputs") -> str:
    """Where a layer's file sits in an etc/ tree: etc/system/local/inputs.conf,
    etc/apps/<app>/default/inputs.conf."""
    where = "etc/system" if app is None else f"etc/apps/{app}"
    return f"{where}/{kind.scope}/{conf}.conf"


def conf_layer(
    text: str,
    kind: LayerKind = LayerKind.SYSTEM_LOCAL,
    app: str | None = None,
    *,
    conf: str = "inputs",
    file: str | None = None,
    run: int | None = 1,
) -> ConfLayer:
    """One conf file of a host, through the project's parser. Leading blank lines are
    dropped, so line 1 is the text's first line with something on it."""
    origin = Origin(kind, app, file or layer_file(kind, app, conf), run)
    data = textwrap.dedent(text).lstrip("\n").encode()
    return layer_from_stanzas(origin, parse_conf(data).stanzas)
