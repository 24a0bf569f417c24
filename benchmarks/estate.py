"""Issue 10: resolving a large estate, and the queries on it, each as a whole process.

The estate (generated once, seeded, into benchmarks/out/estate/ and reused): a deployment
server's etc/ tree as a tar.gz — etc/system/local/serverclass.conf with 200
`[serverClass:...]` stanzas (site, environment, role, DNS-domain, IP-range and pilot-group
classes: globs, regexes, literal host lists, blacklists, filterType = blacklist on a few,
machineTypesFilter on some, and `[serverClass:X:app:Y]` stanzas delivering 2–6 apps each,
a few with a filter of their own), etc/deployment-apps/<app>/default/{app,inputs,outputs,
props}.conf for 100 apps, etc/splunk.version — and the deployment server's client list, an
inventory CSV of 10,000 clients (clientName,hostname,ip,dns,guid,utsname; 1% without dns).
`--quick`: 1,000 hosts, 40 classes, 30 apps, and the targets are not judged.

Both are stored and parsed through the CLI (`autodoc ingest FILE --type ds_etc|inventory
--label ds1`, `autodoc parse RUN RUN`) into a fresh database, on PostgreSQL and on SQLite.
Then, each as a child process timed whole (wall time; peak RSS from wait4's ru_maxrss):

- `autodoc resolve` (the full resolution: load, compute, write the rows, complete); best of
  2 (1 with --quick), each a new resolution of the same runs. Targets: ≤ 30 s on
  PostgreSQL, ≤ 45 s on SQLite, peak RSS ≤ 500 MB. Baseline: the load floor, a process that
  does what any resolver must before computing anything — start Python, import the loader,
  read the estate's runs, every stanza of the DS bundle and every inventory row
  (daemon.resolve.load.load_estate, as `autodoc resolve` calls it) — and nothing else.
- `autodoc btool NAME inputs` for a host that is in several classes: best of 5. Target
  ≤ 0.5 s. Baseline: `autodoc --help` (the interpreter, the CLI's imports and its argument
  parser: what any autodoc command costs before it does anything).
- `autodoc host NAME --json` for the same host: best of 5; information only, same baseline.
- the import floor of a database command: a process importing what every `autodoc` command
  that opens the database imports before doing anything (the CLI, daemon.config with
  SQLAlchemy, daemon.logs with structlog, the SQLAlchemy dialect and the driver): what btool
  and host cannot go below without changing those modules. Information only.
- `python -c pass`: the bare interpreter, for scale.

It measures the code in this checkout. `--code DIR` puts DIR first on the children's
PYTHONPATH so that another version's `daemon` package is measured (the estate is still
parsed by it): `git archive REV daemon | tar -x -C /tmp/before` then `--code /tmp/before`.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import AUTODOC, MB, OUT, REPO, Report, Row, Workspace, log

GENERATOR_VERSION = 2
FOLDER = OUT / "estate"
LABEL = "ds1"
# Issue 11 (resolve now computes and stores the data paths too): ≤ 60 s on PostgreSQL, peak
# RSS ≤ 800 MB (issue 10's were 30 s and 500 MB, without paths); SQLite keeps issue 10's 45 s.
RESOLVE_PG_TARGET_S = 60.0
RESOLVE_SQLITE_TARGET_S = 45.0
RSS_TARGET_MB = 800.0
BTOOL_TARGET_S = 0.5
PATHS_INDEX_TARGET_S = 1.0
PATHS_INDEX = "os"  # every forwarder's OS logs (org_uf_base_inputs) go there: the largest
FULL = {"hosts": 10_000, "classes": 200, "apps": 100}
QUICK = {"hosts": 1_000, "classes": 40, "apps": 30}


# -- the estate ---------------------------------------------------------------------------------

SITES = ("nyc", "chi", "dal", "sfo", "lon", "fra", "ams", "sgp", "syd", "tok")
ENVS = (("prod", 0.70), ("stg", 0.14), ("dev", 0.11), ("test", 0.05))
# role, share of hosts, machine types (weights)
ROLES: tuple[tuple[str, float, tuple[tuple[str, float], ...]], ...] = (
    ("web", 0.18, (("linux-x86_64", 0.9), ("linux-aarch64", 0.1))),
    ("app", 0.18, (("linux-x86_64", 0.8), ("windows-x64", 0.2))),
    ("db", 0.07, (("linux-x86_64", 0.7), ("windows-x64", 0.3))),
    ("k8s", 0.12, (("linux-x86_64", 0.6), ("linux-aarch64", 0.4))),
    ("wks", 0.16, (("windows-x64", 0.85), ("darwin-x86_64", 0.15))),
    ("dc", 0.02, (("windows-x64", 1.0),)),
    ("mail", 0.02, (("linux-x86_64", 0.5), ("windows-x64", 0.5))),
    ("proxy", 0.03, (("linux-x86_64", 1.0),)),
    ("lb", 0.02, (("linux-x86_64", 1.0),)),
    ("batch", 0.06, (("linux-x86_64", 1.0),)),
    ("build", 0.04, (("linux-x86_64", 0.7), ("linux-aarch64", 0.3))),
    ("syslog", 0.03, (("linux-x86_64", 1.0),)),
    ("hf", 0.02, (("linux-x86_64", 1.0),)),
    ("idx", 0.04, (("linux-x86_64", 1.0),)),
    ("sh", 0.03, (("linux-x86_64", 1.0),)),
)
PRODUCTS = (
    "nix",
    "windows",
    "apache",
    "nginx",
    "mysql",
    "mssql",
    "oracle",
    "postgres",
    "kubernetes",
    "docker",
    "exchange",
    "ad",
    "dns",
    "dhcp",
    "squid",
    "haproxy",
    "f5",
    "paloalto",
    "cisco-asa",
    "syslog",
    "jenkins",
    "tomcat",
    "iis",
    "auditd",
    "sysmon",
    "osquery",
    "crowdstrike",
    "okta",
    "aws",
    "vmware",
)


@dataclass
class Client:
    client_name: str
    hostname: str
    ip: str
    dns: str
    guid: str
    utsname: str
    site: str
    env: str
    role: str


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def make_clients(rng: random.Random, count: int) -> list[Client]:
    """Hosts named `<site>-<env>-<role><nnn>`, an IP block per site and environment, a DNS
    name under `<site>.example.com`; 12% with a custom clientName, 1% without dns."""
    counters: dict[tuple[str, str, str], int] = {}
    clients = []
    role_weights = [w for _, w, _ in ROLES]
    for _ in range(count):
        site = rng.choice(SITES)
        env = _weighted(rng, ENVS)
        role, _, types = rng.choices(ROLES, weights=role_weights)[0]
        n = counters[(site, env, role)] = counters.get((site, env, role), 0) + 1
        hostname = f"{site}-{env}-{role}{n:03d}"
        s, e = SITES.index(site), [x for x, _ in ENVS].index(env)
        r = [x for x, _, _ in ROLES].index(role)
        ip = f"10.{s * 16 + e * 4 + r // 4}.{(r % 4) * 64 + n // 250}.{n % 250 + 2}"
        client_name = hostname if rng.random() < 0.88 else f"uf_{role}_{site}_{n:04d}"
        dns = "" if rng.random() < 0.01 else f"{hostname}.{site}.example.com"
        guid = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
        utsname = _weighted(rng, types)
        clients.append(Client(client_name, hostname, ip, dns, guid, utsname, site, env, role))
    return clients


def inventory_csv(clients: list[Client]) -> str:
    lines = ["clientName,hostname,ip,dns,guid,utsname"]
    lines.extend(
        f"{c.client_name},{c.hostname},{c.ip},{c.dns},{c.guid},{c.utsname}" for c in clients
    )
    return "\n".join(lines) + "\n"


# Indexes the forwarders' apps send to; every indexer defines them all but one site's (below).
INDEXES = ("os", "main", "web", "network", "security", "windows", "app", "infra")
HF_SITES = ("nyc", "lon", "sgp")  # forwarders there send to two heavy forwarders
INDEXERS_PER_SITE = 2
HFS_PER_SITE = 2
NO_INFRA_SITE = "syd"  # its indexers lack `infra`: UNDEFINED_INDEX for what goes there
RECEIVER_PORT = 9997


@dataclass
class Topology:
    """Per site: the indexers and (HF_SITES) heavy forwarders, each a client with an etc/ tree
    of its own, and the output group and servers the site's forwarders use."""

    indexers: dict[str, list[Client]]
    hfs: dict[str, list[Client]]

    def server(self, c: Client) -> str:
        return f"{c.dns or c.hostname}:{RECEIVER_PORT}"

    def forwarder_group(self, site: str) -> tuple[str, list[str]]:
        if self.hfs.get(site):
            return f"{site}_hfs", [self.server(c) for c in self.hfs[site]]
        return f"{site}_indexers", [self.server(c) for c in self.indexers[site]]


def make_topology(clients: list[Client]) -> Topology:
    """The first prod (else any) `idx`/`hf` clients of each site, by name."""

    def pick(site: str, role: str, count: int) -> list[Client]:
        found = sorted(
            (c for c in clients if c.site == site and c.role == role),
            key=lambda c: (c.env != "prod", c.hostname),
        )
        return found[:count]

    return Topology(
        indexers={s: pick(s, "idx", INDEXERS_PER_SITE) for s in SITES},
        hfs={s: pick(s, "hf", HFS_PER_SITE) for s in HF_SITES},
    )


def make_apps(count: int) -> list[str]:
    """Deployment apps: org-wide bases, per-site outputs, per-role inputs (at most 60%), and
    add-ons (TAs)."""
    org = ["org_all_deploymentclient", "org_all_forwarder_outputs", "org_uf_base_inputs"]
    org += [f"org_{site}_outputs" for site in SITES]
    org += [f"org_{role}_inputs" for role, _, _ in ROLES]
    apps = org[: int(count * 0.6)]
    apps += [f"Splunk_TA_{p}" for p in PRODUCTS][: count - len(apps)]
    n = 0
    while len(apps) < count:
        apps.append(f"TA-{PRODUCTS[n % len(PRODUCTS)]}-custom{n // len(PRODUCTS) or ''}")
        n += 1
    return sorted(apps)


def app_files(rng: random.Random, app: str, topology: Topology) -> dict[str, str]:
    root = f"etc/deployment-apps/{app}/default"
    version = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    files = {
        f"{root}/app.conf": (
            "[install]\nstate = enabled\nis_configured = true\n\n"
            f"[launcher]\nauthor = platform-team\nversion = {version}\n"
            f"description = {app} for the estate\n\n"
            f"[ui]\nis_visible = false\nlabel = {app}\n\n[package]\nid = {app}\n"
        )
    }
    word = app.split("_")[-1].lower()
    index = rng.choice(INDEXES)
    inputs = []
    if app == "org_uf_base_inputs":
        # Every forwarder's OS logs (all_forwarders).
        for log_file in ("messages", "secure", "cron", "maillog", "boot.log", "audit/audit.log"):
            inputs.append(
                f"[monitor:///var/log/{log_file}]\ndisabled = 0\nindex = os\n"
                f"sourcetype = linux:{log_file.split('/')[-1].split('.')[0]}\n"
            )
    if "windows" in app or word == "ad" or "sysmon" in app or "iis" in app:
        for channel in rng.sample(["Security", "System", "Application", "Setup"], 2):
            inputs.append(
                f"[WinEventLog://{channel}]\ndisabled = 0\nindex = {index}\n"
                f"renderXml = true\nevt_resolve_ad_obj = 1\ncheckpointInterval = 5\n"
            )
    for n in range(rng.randint(2, 6)):
        path = f"/var/log/{word}/{rng.choice(['access', 'error', 'audit', 'app'])}{n}.log"
        inputs.append(
            f"[monitor://{path}]\ndisabled = {rng.choice(['0', '0', '0', '1'])}\n"
            f"index = {index}\nsourcetype = {word}:{rng.choice(['log', 'json', 'kv'])}\n"
            f"ignoreOlderThan = {rng.randint(1, 30)}d\n"
        )
    if rng.random() < 0.3:
        inputs.append(
            f"[script://./bin/{word}_stats.sh]\ninterval = {rng.choice([60, 300, 3600])}\n"
            f"index = {index}\nsourcetype = {word}:stats\ndisabled = 0\n"
        )
    if rng.random() < 0.1:
        inputs.append(f"[udp://{rng.randint(5140, 5199)}]\nindex = network\nsourcetype = syslog\n")
    files[f"{root}/inputs.conf"] = "\n".join(inputs)
    if app.endswith("_outputs") and app.split("_")[1] in SITES:
        # The site's forwarders send to its heavy forwarders, else to its indexers.
        group, servers = topology.forwarder_group(app.split("_")[1])
        outputs = (
            f"[tcpout]\ndefaultGroup = {group}\nforwardedindex.filter.disable = false\n\n"
            f"[tcpout:{group}]\nserver = {', '.join(servers)}\nuseACK = true\n"
            f"autoLBFrequency = 30\n"
        )
    else:
        outputs = f"[tcpout]\nmaxQueueSize = {rng.choice(['7MB', '16MB', 'auto'])}\n"
    files[f"{root}/outputs.conf"] = outputs
    props = []
    for n in range(rng.randint(2, 5)):
        props.append(
            f"[{word}:{['log', 'json', 'kv', 'stats', 'audit'][n]}]\nSHOULD_LINEMERGE = false\n"
            f"LINE_BREAKER = ([\\r\\n]+)\nTIME_PREFIX = ^\nMAX_TIMESTAMP_LOOKAHEAD = "
            f"{rng.randint(20, 40)}\nTRUNCATE = {rng.choice([10000, 50000, 0])}\n"
        )
    props.append(f"[source::/var/log/{word}/*.log]\nsourcetype = {word}:log\n")
    files[f"{root}/props.conf"] = "\n".join(props)
    return files


def _stanza(name: str, settings: dict[str, str]) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()) + "\n"


def serverclass_conf(
    rng: random.Random, clients: list[Client], apps: list[str], count: int
) -> tuple[str, int]:
    """`count` classes of the kinds real deployment servers hold; the conf and its number of
    [serverClass:X] stanzas."""
    roles = [r for r, _, _ in ROLES]
    envs = [e for e, _ in ENVS]
    by_role = {r: [a for a in apps if a == f"org_{r}_inputs"] for r in roles}
    tas = [a for a in apps if a.startswith(("Splunk_TA_", "TA-"))]
    classes: list[tuple[str, dict[str, str], list[tuple[str, dict[str, str]]]]] = []

    def app_stanzas(
        pick: list[str], extra: int, *, filters: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        chosen = list(dict.fromkeys(pick + rng.sample(tas, min(extra, len(tas)))))
        out = []
        for app in chosen:
            settings = {"stateOnClient": "enabled", "restartSplunkd": "true"}
            if filters and rng.random() < 0.25:
                settings["machineTypesFilter"] = "linux-*"
            elif filters and rng.random() < 0.1:
                settings["blacklist.0"] = "*-test-*"
            out.append((app, settings))
        return out

    outputs = {s: f"org_{s}_outputs" for s in SITES if f"org_{s}_outputs" in apps}
    # Org-wide: every forwarder but the Splunk servers (filterType blacklist).
    classes.append(
        (
            "all_forwarders",
            {
                "filterType": "blacklist",
                "blacklist.0": "*-idx*",
                "blacklist.1": "*-sh[0-9]*",
                "blacklist.2": "*-hf[0-9]*",
            },
            app_stanzas([a for a in apps if a.startswith("org_all_")], 0),
        )
    )
    classes.append(
        (
            "all_linux",
            {"whitelist.0": "*", "machineTypesFilter": "linux-x86_64, linux-aarch64"},
            app_stanzas([a for a in apps if a.endswith("_nix")], 1),
        )
    )
    classes.append(
        (
            "all_windows",
            {"whitelist.0": "*", "machineTypesFilter": "windows-*"},
            app_stanzas([a for a in apps if a.endswith("_windows")], 1),
        )
    )
    # Per site: outputs to the site's indexers (name and IP block).
    for s, site in enumerate(SITES):
        classes.append(
            (
                f"site_{site}",
                {
                    "whitelist.0": f"{site}-*",
                    "whitelist.1": f"10.{s * 16}.*",
                    "whitelist.2": f"*.{site}.example.com",
                    "blacklist.0": "*-idx*",
                    "blacklist.1": "*-hf[0-9]*",
                },
                app_stanzas([outputs[site]] if site in outputs else [], 0),
            )
        )
    # Per role, per OS.
    for role in roles:
        classes.append(
            (
                f"role_{role}",
                {"whitelist.0": f"*-{role}[0-9]*", "blacklist.0": "*-test-*"},
                app_stanzas(by_role[role], rng.randint(1, 3), filters=True),
            )
        )
    # Site x environment.
    for site in SITES:
        for env in envs:
            if len(classes) >= count * 0.45:
                break
            settings = {"whitelist.0": f"{site}-{env}-*"}
            if env == "prod":
                settings["blacklist.0"] = f"{site}-prod-build*"
            classes.append((f"{site}_{env}", settings, app_stanzas([], rng.randint(1, 2))))
    # Site x role: regexes, IP ranges and DNS names.
    pairs = [(site, role) for site in SITES for role in roles]
    rng.shuffle(pairs)
    for k, (site, role) in enumerate(pairs):
        if len(classes) >= count * 0.8:
            break
        s = SITES.index(site)
        if k % 3 == 0:
            settings = {"whitelist.0": f"({site}|{SITES[(s + 1) % 10]})-prod-{role}0[0-4][0-9]"}
        elif k % 3 == 1:
            settings = {
                "whitelist.0": f"*-{role}*.{site}.example.com",
                "whitelist.1": f"10.{s * 16 + 1}.*",
            }
        else:
            settings = {"whitelist.0": f"{site}-*-{role}*", "blacklist.0": f"{site}-dev-*"}
        if rng.random() < 0.3:
            settings["machineTypesFilter"] = rng.choice(["linux-x86_64", "windows-x64", "linux-*"])
        classes.append((f"{site}_{role}", settings, app_stanzas([], rng.randint(1, 3))))
    # Pilot groups: literal host lists (a few names no longer in the client list), custom
    # clientNames, GUIDs, single IPs.
    pilot = 0
    while len(classes) < count:
        pilot += 1
        members = rng.sample(clients, rng.randint(3, 25))
        settings = {}
        for n, c in enumerate(members):
            kind = rng.random()
            value = (
                c.hostname
                if kind < 0.6
                else c.client_name
                if kind < 0.75
                else c.ip
                if kind < 0.9
                else c.guid
            )
            settings[f"whitelist.{n * 5}"] = value
        if rng.random() < 0.5:
            gone = rng.randint(1, 3)
            for n in range(gone):
                settings[f"whitelist.{1000 + n}"] = f"retired-{pilot:03d}-{n}"
        classes.append(
            (f"pilot_{pilot:03d}", settings, app_stanzas([], rng.randint(1, 4), filters=True))
        )
    classes = classes[:count]

    parts = [
        _stanza(
            "global",
            {
                "repositoryLocation": "$SPLUNK_HOME/etc/deployment-apps",
                "restartSplunkd": "false",
                "stateOnClient": "enabled",
            },
        )
    ]
    for name, settings, app_list in classes:
        parts.append(_stanza(f"serverClass:{name}", settings))
        for app, app_settings in app_list:
            parts.append(_stanza(f"serverClass:{name}:app:{app}", app_settings))
    return "".join(parts), len(classes)


SPLUNK_VERSION = "VERSION=9.4.3\nBUILD=237ebbd22314\nPRODUCT=splunk\nPLATFORM=Linux-x86_64\n"
# Parsing-phase rewrites on the heavy forwarders and indexers: (transform, REGEX, DEST_KEY,
# FORMAT). Conditional (a REGEX other than `.`), so each splits a path in two.
TRANSFORMS = (
    ("route_auth_failures", "(?i)failed password|logon failure", "_MetaData:Index", "security"),
    ("drop_debug", "\\sDEBUG\\s", "queue", "nullQueue"),
    ("route_dev_hosts", ".", "_MetaData:Index", "main"),
)


def _tree_common(c: Client, apps: dict[str, dict[str, str]]) -> dict[str, str]:
    files = {
        "etc/system/local/server.conf": f"[general]\nserverName = {c.hostname}\n",
        "etc/splunk.version": SPLUNK_VERSION,
    }
    for app, confs in apps.items():
        for conf, text in confs.items():
            files[f"etc/apps/{app}/local/{conf}"] = text
    return files


def indexer_tree(c: Client) -> dict[str, str]:
    """An indexer: its indexes in an app, a splunktcp receiver, and a few parsing-phase
    transforms (a nullQueue for debug lines, dev hosts' data to main)."""
    indexes = [i for i in INDEXES if i != "main" and not (c.site == NO_INFRA_SITE and i == "infra")]
    indexes_conf = "".join(
        f"[{i}]\nhomePath = volume:hot/{i}/db\ncoldPath = volume:cold/{i}/colddb\n"
        f"thawedPath = $SPLUNK_DB/{i}/thaweddb\nfrozenTimePeriodInSecs = 7776000\n\n"
        for i in indexes
    )
    return _tree_common(
        c,
        {
            "org_all_indexes": {
                "indexes.conf": "[volume:hot]\npath = /opt/splunk/hot\n\n"
                "[volume:cold]\npath = /opt/splunk/cold\n\n" + indexes_conf
            },
            "org_idx_inputs": {
                "inputs.conf": f"[splunktcp://{RECEIVER_PORT}]\ndisabled = 0\n"
                "connection_host = ip\n"
            },
            "org_idx_filters": {
                "props.conf": "[inputs:log]\nTRANSFORMS-null = drop_debug\n\n"
                "[host::*-dev-*]\nTRANSFORMS-dev = route_dev_hosts\n",
                "transforms.conf": _transforms(("drop_debug", "route_dev_hosts")),
            },
        },
    )


def hf_tree(c: Client, topology: Topology) -> dict[str, str]:
    """A heavy forwarder: a splunktcp receiver, outputs to its site's indexers, and index
    routing for authentication failures (TRANSFORMS-, conditional)."""
    servers = ", ".join(topology.server(i) for i in topology.indexers[c.site])
    return _tree_common(
        c,
        {
            "SplunkForwarder": {"app.conf": "[install]\nstate = enabled\n"},
            "org_hf_inputs": {"inputs.conf": f"[splunktcp://{RECEIVER_PORT}]\ndisabled = 0\n"},
            "org_hf_outputs": {
                "outputs.conf": f"[tcpout]\ndefaultGroup = {c.site}_indexers\n"
                f"indexAndForward = false\n\n[tcpout:{c.site}_indexers]\n"
                f"server = {servers}\nuseACK = true\n"
            },
            "org_hf_routing": {
                "props.conf": "[linux:secure]\nTRANSFORMS-route = route_auth_failures\n\n"
                "[windows:log]\nTRANSFORMS-route = route_auth_failures\n\n"
                "[inputs:log]\nTRANSFORMS-null = drop_debug\n",
                "transforms.conf": _transforms(("route_auth_failures", "drop_debug")),
            },
        },
    )


def _transforms(names: tuple[str, ...]) -> str:
    return "".join(
        f"[{name}]\nREGEX = {regex}\nDEST_KEY = {dest}\nFORMAT = {fmt}\n\n"
        for name, regex, dest, fmt in TRANSFORMS
        if name in names
    )


def _tar_gz(path: Path, files: dict[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        for rel, text in files.items():
            data = text.encode()
            info = _reset(tarfile.TarInfo(rel))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 1_700_000_000
    info.uid = info.gid = 0
    info.uname = info.gname = "splunk"
    info.mode = 0o644
    return info


@dataclass
class EstateFiles:
    tarball: Path
    inventory: Path
    meta: dict[str, Any]
    instances: list[tuple[str, Path]]  # (host, its etc/ tree as tar.gz)


def generate(hosts: int, classes: int, apps: int, seed: int = 10) -> EstateFiles:
    """The DS bundle and the client list (made once into benchmarks/out/estate/)."""
    stem = f"estate-{hosts}h-{classes}c-{apps}a-v{GENERATOR_VERSION}-seed{seed}"
    tarball, inventory = FOLDER / f"{stem}.tar.gz", FOLDER / f"{stem}.csv"
    manifest, trees = FOLDER / f"{stem}.json", FOLDER / f"{stem}-instances"
    if tarball.exists() and inventory.exists() and manifest.exists():
        meta = json.loads(manifest.read_text())
        instances = [(h, trees / f"{h}.tar.gz") for h in meta["instance_hosts"]]
        if all(path.exists() for _, path in instances):
            return EstateFiles(tarball, inventory, meta, instances)
    log(f"generating the estate into {FOLDER.relative_to(REPO)}/{stem}.*")
    started = time.monotonic()
    rng = random.Random(f"autodoc-estate-{seed}")
    clients = make_clients(rng, hosts)
    app_names = make_apps(apps)
    topology = make_topology(clients)
    conf, made = serverclass_conf(rng, clients, app_names, classes)
    files = {"etc/system/local/serverclass.conf": conf}
    for app in app_names:
        files.update(app_files(rng, app, topology))
    files["etc/splunk.version"] = SPLUNK_VERSION
    trees.mkdir(parents=True, exist_ok=True)
    _tar_gz(tarball, files)
    inventory.write_text(inventory_csv(clients))
    instances = []
    tree_stanzas = 0
    for c, tree in [
        *((c, indexer_tree(c)) for site in SITES for c in topology.indexers[site]),
        *((c, hf_tree(c, topology)) for site in HF_SITES for c in topology.hfs[site]),
    ]:
        path = trees / f"{c.hostname}.tar.gz"
        _tar_gz(path, tree)
        instances.append((c.hostname, path))
        tree_stanzas += sum(len(re.findall(r"^\[", t, re.M)) for t in tree.values())
    stanzas = sum(len(re.findall(r"^\[", t, re.M)) for t in files.values())
    # The host btool and host are asked about: a prod web server in several classes.
    name = next(c.hostname for c in clients if c.role == "web" and c.env == "prod" and c.dns)
    meta = {
        "hosts": hosts,
        "classes": made,
        "class_stanzas": len(re.findall(r"^\[serverClass:", conf, re.M)),
        "apps": len(app_names),
        "files": len(files),
        "stanzas": stanzas,
        "host": name,
        "instance_hosts": [h for h, _ in instances],
        "indexers": sum(len(v) for v in topology.indexers.values()),
        "hfs": sum(len(v) for v in topology.hfs.values()),
        "tree_stanzas": tree_stanzas,
    }
    manifest.write_text(json.dumps(meta) + "\n")
    log(
        f"generated {len(files)} files ({stanzas:,} stanzas, {tarball.stat().st_size / MB:.2f} MB"
        f"), {hosts:,} clients and {len(instances)} etc/ trees in "
        f"{time.monotonic() - started:.1f} s"
    )
    return EstateFiles(tarball, inventory, meta, instances)


# -- the load floor: read the estate, nothing else ----------------------------------------------


def floor_child() -> dict[str, float]:
    """In the child: what `autodoc resolve` reads before computing (config from
    $AUTODOC_CONFIG)."""
    started = time.perf_counter()
    code = os.environ.get("AUTODOC_BENCH_CODE")
    if code:
        sys.path.insert(0, code)
    from daemon.config import load_config, resolve_config_path
    from daemon.database import Database
    from daemon.resolve.defaults import shipped_system_default
    from daemon.resolve.load import latest_runs, load_estate

    config = load_config(resolve_config_path(None))
    db = Database(config.database.url)
    runs = latest_runs(db)
    estate = load_estate(db, runs, system_default=shipped_system_default("inputs"))
    stanzas = sum(
        len(f.stanzas) for b in (*estate.deployment_servers, *estate.instances) for f in b.files
    )
    db.dispose()
    return {
        "stanzas": stanzas,
        "inventory": len(estate.inventory),
        "seconds": time.perf_counter() - started,
    }


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    def add(self, timed: common.Timed) -> None:
        self.seconds.append(timed.seconds)
        self.rss.append(timed.max_rss_bytes)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def peak_mb(self) -> float:
        return max(self.rss) / MB

    def spread(self) -> str:
        return ", ".join(f"{s:.2f}" for s in self.seconds)


@dataclass
class Side:
    label: str
    ws: Workspace
    parse: Timings = field(default_factory=Timings)
    floor: Timings = field(default_factory=Timings)
    resolve: Timings = field(default_factory=Timings)
    btool: Timings = field(default_factory=Timings)
    host: Timings = field(default_factory=Timings)
    help: Timings = field(default_factory=Timings)
    imports: Timings = field(default_factory=Timings)
    summary: dict[str, Any] = field(default_factory=dict)
    floor_data: dict[str, float] = field(default_factory=dict)
    paths_index: Timings = field(default_factory=Timings)
    paths_host: Timings = field(default_factory=Timings)
    btool_lines: int = 0
    host_bytes: int = 0
    paths_index_out: tuple[int, int] = (0, 0)  # paths, bytes
    paths_host_out: tuple[int, int] = (0, 0)

    def run(
        self, tag: str, args: list[str], timeout: float = 900, *, check: bool = True
    ) -> tuple[common.Timed, Path]:
        out, err = self.ws.logs / f"{tag}.out", self.ws.logs / f"{tag}.err"
        timed = common.run_timed(
            args, env=self.ws.env, cwd=self.ws.root, stdout=out, stderr=err, timeout=timeout
        )
        if check and timed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[-4:])} exited {timed.returncode}: "
                f"{err.read_text(errors='replace')[-1500:]}"
            )
        return timed, out


def prepare(side: Side, estate: EstateFiles) -> None:
    ws = side.ws
    ws.upgrade()
    runs = []
    drops = [(estate.tarball, "ds_etc", LABEL), (estate.inventory, "inventory", LABEL)]
    drops += [(path, "instance_etc", host) for host, path in estate.instances]
    for path, kind, label in drops:
        result = ws.autodoc("ingest", str(path), "--type", kind, "--label", label, timeout=300)
        found = re.search(r"run (\d+) stored", result.stderr)
        if result.returncode != 0 or not found:
            raise RuntimeError(f"autodoc ingest exited {result.returncode}: {result.stderr[-800:]}")
        runs.append(found.group(1))
    timed, _ = side.run("parse", [*AUTODOC, "parse", *runs], timeout=900)
    side.parse.add(timed)
    log(f"{side.label}: ingested and parsed {len(runs)} runs ({timed.seconds:.1f} s)")


def measure(side: Side, host: str, index: str, resolves: int, repeats: int) -> None:
    for n in range(resolves):
        timed, _ = side.run(f"floor-{n}", [sys.executable, __file__, "--floor"])
        side.floor.add(timed)
        side.floor_data = json.loads((side.ws.logs / f"floor-{n}.out").read_text())
        timed, out = side.run(f"resolve-{n}", [*AUTODOC, "resolve", "--json"], timeout=1800)
        side.resolve.add(timed)
        side.summary = json.loads(out.read_text())
        log(
            f"{side.label}: resolve {n + 1}: {timed.seconds:.2f} s, peak RSS "
            f"{timed.max_rss_bytes / MB:.0f} MB (load floor {side.floor.seconds[-1]:.2f} s)"
        )
    driver = (
        "psycopg, sqlalchemy.dialects.postgresql.psycopg"
        if side.ws.pg_name
        else "sqlite3, sqlalchemy.dialects.sqlite.pysqlite"
    )
    floor = f"import daemon.cli, daemon.config, daemon.logs, {driver}"
    for n in range(repeats):
        timed, _ = side.run(f"help-{n}", [*AUTODOC, "--help"])
        side.help.add(timed)
        timed, _ = side.run(f"imports-{n}", [sys.executable, "-c", floor])
        side.imports.add(timed)
        timed, out = side.run(f"btool-{n}", [*AUTODOC, "btool", host, "inputs"])
        side.btool.add(timed)
        side.btool_lines = len(out.read_text().splitlines())
        timed, out = side.run(f"host-{n}", [*AUTODOC, "host", host, "--json"])
        side.host.add(timed)
        side.host_bytes = out.stat().st_size
        timed, out = side.run(f"paths-index-{n}", [*AUTODOC, "paths", "--index", index, "--json"])
        side.paths_index.add(timed)
        side.paths_index_out = (len(json.loads(out.read_text())), out.stat().st_size)
        timed, out = side.run(f"paths-host-{n}", [*AUTODOC, "paths", "--host", host, "--json"])
        side.paths_host.add(timed)
        side.paths_host_out = (len(json.loads(out.read_text())), out.stat().st_size)
    log(
        f"{side.label}: paths --index {index} {side.paths_index.spread()} s "
        f"({side.paths_index_out[0]:,} paths); paths --host {side.paths_host.spread()} s"
    )
    log(
        f"{side.label}: btool {side.btool.spread()} s; host {side.host.spread()} s; "
        f"--help {side.help.spread()} s; import floor {side.imports.spread()} s"
    )


def add_rows(report: Report, side: Side, judged: bool, pg: bool) -> None:
    label = side.label
    target = RESOLVE_PG_TARGET_S if pg else RESOLVE_SQLITE_TARGET_S
    floor_note = (
        f"load floor read {side.floor_data.get('stanzas', 0):,.0f} stanzas and "
        f"{side.floor_data.get('inventory', 0):,.0f} inventory rows in "
        f"{side.floor_data.get('seconds', 0):.2f} s after start-up"
    )
    report.add(
        Row(
            f"{label}: autodoc resolve (process)",
            side.resolve.best,
            "s",
            baseline=side.floor.best,
            baseline_name="load floor process",
            target=f"≤ {target:g} s" if judged else "",
            met=side.resolve.best <= target if judged else None,
            note=f"best of {len(side.resolve.seconds)} ({side.resolve.spread()} s); "
            + ", ".join(f"{v:,} {k}" for k, v in side.summary.items() if k != "resolution")
            + f"; {floor_note}",
        )
    )
    report.add(
        Row(
            f"{label}: peak RSS of autodoc resolve",
            side.resolve.peak_mb,
            "MB",
            baseline=side.floor.peak_mb,
            baseline_name="load floor",
            target=f"≤ {RSS_TARGET_MB:g} MB" if judged else "",
            met=side.resolve.peak_mb <= RSS_TARGET_MB if judged else None,
        )
    )
    report.add(
        Row(
            f"{label}: autodoc btool NAME inputs (process)",
            side.btool.best,
            "s",
            baseline=side.help.best,
            baseline_name="autodoc --help",
            target=f"≤ {BTOOL_TARGET_S:g} s" if judged else "",
            met=side.btool.best <= BTOOL_TARGET_S if judged else None,
            note=f"best of {len(side.btool.seconds)} ({side.btool.spread()} s); "
            f"{side.btool_lines} lines; peak RSS {side.btool.peak_mb:.0f} MB",
        )
    )
    report.add(
        Row(
            f"{label}: autodoc host NAME --json (process)",
            side.host.best,
            "s",
            baseline=side.help.best,
            baseline_name="autodoc --help",
            note=f"best of {len(side.host.seconds)} ({side.host.spread()} s); "
            f"{side.host_bytes:,} bytes; peak RSS {side.host.peak_mb:.0f} MB",
        )
    )
    paths, size = side.paths_index_out
    report.add(
        Row(
            f"{label}: autodoc paths --index {PATHS_INDEX} --json (process)",
            side.paths_index.best,
            "s",
            baseline=side.help.best,
            baseline_name="autodoc --help",
            target=f"≤ {PATHS_INDEX_TARGET_S:g} s" if judged else "",
            met=side.paths_index.best <= PATHS_INDEX_TARGET_S if judged else None,
            note=f"best of {len(side.paths_index.seconds)} ({side.paths_index.spread()} s); "
            f"{paths:,} paths, {size / MB:.1f} MB of JSON; peak RSS "
            f"{side.paths_index.peak_mb:.0f} MB",
        )
    )
    paths, size = side.paths_host_out
    report.add(
        Row(
            f"{label}: autodoc paths --host NAME --json (process)",
            side.paths_host.best,
            "s",
            baseline=side.help.best,
            baseline_name="autodoc --help",
            note=f"best of {len(side.paths_host.seconds)} ({side.paths_host.spread()} s); "
            f"{paths:,} paths, {size:,} bytes; peak RSS {side.paths_host.peak_mb:.0f} MB",
        )
    )
    report.add(
        Row(
            f"{label}: import floor of a database command (process)",
            side.imports.best,
            "s",
            baseline=side.help.best,
            baseline_name="autodoc --help",
            note=f"best of {len(side.imports.seconds)} ({side.imports.spread()} s): the CLI, "
            "daemon.config (SQLAlchemy), daemon.logs (structlog), the dialect and the driver",
        )
    )


def main() -> int:
    p = common.parser(__doc__ or "")
    p.add_argument("--resolves", type=int, default=2, help="resolutions per backend (2)")
    p.add_argument("--repeats", type=int, default=5, help="runs of btool, host, --help (5)")
    p.add_argument("--only", default="postgres,sqlite", help="backends (postgres,sqlite)")
    p.add_argument("--code", type=Path, help="measure the daemon package in this folder")
    p.add_argument("--floor", action="store_true", help=argparse_hidden())
    args = p.parse_args()
    if args.floor:
        print(json.dumps(floor_child()))
        return 0
    load_average = os.getloadavg()[0]
    size = QUICK if args.quick else FULL
    resolves = 1 if args.quick and args.resolves == 2 else args.resolves
    judged = not args.quick
    common.check_sane_workspace()
    code = args.code.resolve() if args.code else None
    report = Report(
        "estate",
        f"Estate (issues 10, 11): {size['hosts']:,} hosts, {size['classes']} server classes, "
        f"{size['apps']} apps, forwarding to indexers — resolve with data paths, btool, host, "
        "paths" + (f" (daemon from {code})" if code else ""),
    )
    estate = generate(size["hosts"], size["classes"], size["apps"])
    host = estate.meta["host"]
    bare = Timings()
    for _ in range(args.repeats):
        bare.add(common.run_timed([sys.executable, "-c", "pass"]))

    pg = common.Postgres()
    sides: list[tuple[Side, bool]] = []
    backends = [b for b in args.only.split(",") if b]
    try:
        for backend in backends:
            if backend == "postgres":
                if not pg.available:
                    report.add(Row("PostgreSQL", None, "s", note=pg.problem))
                    continue
                ws = Workspace("estate-pg", database="postgres", pg=pg)
                side = Side(f"PostgreSQL {pg.version.split()[0]}", ws)
            else:
                side = Side("SQLite", Workspace("estate-sqlite"))
            sides.append((side, backend == "postgres"))
            if code is not None:
                path = os.pathsep.join(p for p in (str(code), side.ws.env.get("PYTHONPATH")) if p)
                side.ws.env.update(PYTHONPATH=path, AUTODOC_BENCH_CODE=str(code))
            prepare(side, estate)
            measure(side, host, PATHS_INDEX, resolves, args.repeats)
    finally:
        for side, _ in sides:
            side.ws.cleanup(keep=args.keep)

    for side, is_pg in sides:
        add_rows(report, side, judged, is_pg)
    report.add(
        Row(
            "python -c pass (process)",
            bare.best,
            "s",
            note=f"best of {len(bare.seconds)}: the bare interpreter, for scale",
        )
    )
    meta = estate.meta
    report.note(
        f"estate: a DS bundle of {meta['files']} files ({meta['stanzas']:,} stanzas: "
        f"{meta['classes']} [serverClass:X] and {meta['class_stanzas']:,} serverClass stanzas "
        f"in all, {meta['apps']} deployment apps, etc/splunk.version 9.4.3), "
        f"{estate.tarball.stat().st_size / MB:.2f} MB as tar.gz, and a client list of "
        f"{meta['hosts']:,} rows ({estate.inventory.stat().st_size / MB:.2f} MB CSV); generated "
        f"by benchmarks/estate.py (seeded) into {FOLDER.relative_to(REPO)}/"
    )
    report.note(
        f"forwarding: {meta['indexers']} indexers ({INDEXERS_PER_SITE} a site) and "
        f"{meta['hfs']} heavy forwarders ({HFS_PER_SITE} at each of {', '.join(HF_SITES)}), "
        f"each an instance_etc run of its own ({meta['tree_stanzas']:,} stanzas in all: "
        "serverName, indexes in an app, [splunktcp://9997], TRANSFORMS- index routing and "
        "nullQueue drops, conditional); the DS's org_<site>_outputs send each site's "
        "forwarders to its heavy forwarders, else its indexers (defaultGroup); "
        f"{NO_INFRA_SITE}'s indexers lack index infra"
    )
    for side, _ in sides:
        report.note(
            f"{side.label}: `autodoc parse` of both runs {side.parse.best:.1f} s, peak RSS "
            f"{side.parse.peak_mb:.0f} MB (setup, not judged)"
        )
    report.note(
        f"btool, host and paths --host asked about {host} (any host: the command looks one host "
        "up by name)"
    )
    report.note(
        "baselines: for resolve, the load floor — a process that imports the loader and reads "
        "the estate's latest runs, every stanza and every inventory row as `autodoc resolve` "
        "does (daemon.resolve.load.load_estate), computing and writing nothing: resolve minus "
        "the floor is what resolving and storing cost. For btool and host, `autodoc --help`: "
        "the interpreter, the CLI's imports and its parser, i.e. what any autodoc command "
        "costs before it opens the database"
    )
    report.note(
        "every figure is a whole process (wall time from fork to exit; peak RSS = wait4's "
        "ru_maxrss of the child)"
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        report.note(
            "PYTHONDONTWRITEBYTECODE is set: modules without a cached .pyc (daemon/ in this "
            "checkout) are compiled by every process; an installed package starts faster"
        )
    report.note(f"load average (1 min) at the start: {load_average:.2f} on {os.cpu_count()} CPUs")
    if not judged:
        report.note("--quick: a smaller estate than the targets', not judged")
    report.finish(results=not args.no_results)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
