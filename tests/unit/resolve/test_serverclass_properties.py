"""Properties of server-class membership over generated confs and hosts (RESOLVER.md §3).

The "fewer attributes" property, stated exactly: forgetting attributes of a host (or the DS
version, or a from_pathname file) can only turn answers into `unknown`; every answer that
stays definite is the fuller host's answer. That is both "never member where the fuller one
is not_member" and "never not_member where the fuller one is member" — blacklists included,
because Kleene's NOT is monotone in information too. It needs one assumption, the one the
resolver states: a known ip is an IP address and a known guid a GUID (the last test shows
why).
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.resolve.serverclass import ServerClassResolution, resolve_serverclasses
from daemon.resolve.types import Host
from tests.builders import ds, host, serverclass_conf

NAMES = ["web-01", "web-02", "db-01", "mail-01"]
IPS = ["10.0.0.1", "10.0.1.2", "192.168.0.9"]
GUIDS = ["0a0b0c0d-0000-4000-8000-000000000001", "ffe9fe01-a4fb-425e-9f63-56cc274d7f8b"]
MACHINES = ["linux-x86_64", "windows-x64"]
PATTERNS = [
    *NAMES,
    *IPS,
    GUIDS[1],
    "web*",
    "*-01",
    "10.0.*",
    "*",
    "DB*",
    "(web|mail)-0[12]",
    "*.example.com",
    "ffe9*",
    r"(a)\1",  # unsafe
]
APPS = ["nix", "outputs"]
FILES = {"etc/lists/web.txt": "web-01\n10.0.1.2\n"}

patterns = st.lists(st.sampled_from(PATTERNS), max_size=3)


@st.composite
def stanza(draw: st.DrawFn, level: str) -> list[str]:
    lines = []
    if draw(st.booleans()):
        lines.append(f"filterType = {draw(st.sampled_from(['whitelist', 'blacklist']))}")
    for name in ("whitelist", "blacklist"):
        for pattern in draw(patterns):
            lines.append(f"{name}.{draw(st.integers(0, 99))} = {pattern}")
    if draw(st.integers(0, 5)) == 0:
        lines.append(f"whitelist.from_pathname = {draw(st.sampled_from([*FILES, 'etc/gone']))}")
    if level != "global" and draw(st.integers(0, 3)) == 0:
        lines.append(f"machineTypesFilter = {draw(st.sampled_from(['linux-*', 'windows-x64']))}")
    return lines


@st.composite
def confs(draw: st.DrawFn) -> str:
    text = ["[global]", *draw(stanza("global"))]
    for c in range(draw(st.integers(1, 3))):
        text += [f"[serverClass:c{c}]", *draw(stanza("class"))]
        for app in draw(st.lists(st.sampled_from(APPS), max_size=2, unique=True)):
            text += [f"[serverClass:c{c}:app:{app}]", *draw(stanza("app"))]
    return "\n".join(text) + "\n"


@st.composite
def full_hosts(draw: st.DrawFn) -> Host:
    name = draw(st.sampled_from(NAMES))
    return Host(
        "h",
        client_name=draw(st.sampled_from([name, "client-" + name])),
        hostname=name,
        ip=draw(st.sampled_from(IPS)),
        dns=draw(st.sampled_from([name + ".example.com", name])),
        guid=draw(st.sampled_from(GUIDS)),
        machine_type=draw(st.sampled_from(MACHINES)),
    )


hosts = st.lists(
    st.builds(
        host,
        client_name=st.none() | st.sampled_from(NAMES),
        hostname=st.none() | st.sampled_from(NAMES),
        ip=st.none() | st.sampled_from(IPS),
        guid=st.none() | st.sampled_from(GUIDS),
        machine_type=st.none() | st.sampled_from(MACHINES),
    ),
    min_size=1,
    max_size=4,
).map(lambda hs: [replace(h, key=f"h{i}") for i, h in enumerate(hs)])
versions = st.sampled_from([None, "9.4.2", "9.4.3"])
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def resolve(conf: str | dict, hs: list[Host], version: str | None, files: dict = FILES):  # type: ignore[no-untyped-def, type-arg]
    return resolve_serverclasses(
        ds(conf, apps=APPS, files=files, version=version), hs, include_not_member=True
    )


def answers(resolution: ServerClassResolution) -> dict[tuple[str, ...], str]:
    out = {(m.host, m.serverclass): m.result.value for m in resolution.memberships}
    out.update(
        {(a.host, a.serverclass, a.app): a.result.value for a in resolution.iter_app_memberships()}
    )
    return out


@SETTINGS
@given(confs(), hosts, versions)
def test_an_app_filter_never_adds_a_host_the_class_lacks(
    conf: str, hs: list[Host], version: str | None
) -> None:
    resolution = resolve(conf, hs, version)
    classes = {(m.host, m.serverclass): m.result.value for m in resolution.memberships}
    rank = {"not_member": 0, "unknown": 1, "member": 2}
    for app in resolution.iter_app_memberships():
        assert rank[app.result.value] <= rank[classes[(app.host, app.serverclass)]]


@SETTINGS
@given(confs(), hosts, versions, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_stanza_key_or_entry_order(
    conf: str, hs: list[Host], version: str | None, rnd: random.Random
) -> None:
    stanzas = serverclass_conf(conf)
    expected = resolve(stanzas, hs, version)
    # stanza and key order: the same answers, why included
    shuffled = {
        name: dict(rnd.sample(list(s.items()), len(s)))
        for name, s in rnd.sample(list(stanzas.items()), len(stanzas))
    }
    again = resolve(shuffled, hs, version)
    assert set(again.memberships) == set(expected.memberships)
    assert set(again.iter_app_memberships()) == set(expected.iter_app_memberships())
    # entry order: renumber every list entry; the answers (not the deciding entry) hold
    renumbered = {}
    for name, s in stanzas.items():
        numbers = rnd.sample(range(1000), len(s))
        renumbered[name] = {
            (f"{key.split('.')[0]}.{n}" if key.split(".")[-1].isdigit() else key): value
            for (key, value), n in zip(s.items(), numbers, strict=True)
        }
    assert answers(resolve(renumbered, hs, version)) == answers(expected)


@SETTINGS
@given(
    confs(),
    full_hosts(),
    st.sets(st.sampled_from(["client_name", "hostname", "ip", "dns", "guid", "machine_type"])),
    versions,
)
def test_a_host_with_fewer_known_attributes_never_contradicts_a_fuller_one(
    conf: str, full: Host, forget: set[str], version: str | None
) -> None:
    sparse = replace(full, **dict.fromkeys(forget))
    fuller = answers(resolve(conf, [full], version))
    for key, value in answers(resolve(conf, [sparse], version)).items():
        assert value in ("unknown", fuller[key]), key


@SETTINGS
@given(confs(), full_hosts(), st.sampled_from(["9.4.2", "9.4.3"]))
def test_an_unknown_ds_version_or_missing_file_never_contradicts_a_known_one(
    conf: str, full: Host, version: str
) -> None:
    known = answers(resolve(conf, [full], version))
    for value_key, value in answers(resolve(conf, [full], None)).items():
        assert value in ("unknown", known[value_key])
    for value_key, value in answers(resolve(conf, [full], version, files={})).items():
        assert value in ("unknown", known[value_key])


def test_fewer_attributes_property_needs_ip_to_be_an_ip_address() -> None:
    # The resolver knows `web*` cannot match an IP address, so a host whose only unknown is
    # its ip is decided by its names. A "fuller" host whose ip is not an IP breaks that.
    conf = "[serverClass:web]\nwhitelist.0 = web*\n"
    names = {"client_name": "db-01", "hostname": "db-01", "dns": "db-01", "guid": GUIDS[0]}
    sparse = Host("h", **names)
    liar = Host("h", ip="web-01", **names)
    assert answers(resolve(conf, [sparse], None))[("h", "web")] == "not_member"
    assert answers(resolve(conf, [liar], None))[("h", "web")] == "member"
