"""Hostile estates against a whole resolution (issue 10): `resolve()` over an Estate built by
hand, as a bundle or a client list an attacker dropped would make it. Nothing may hang the
resolver, grow without bound, merge hosts silently or read outside the bundle; a pattern RE2
cannot run is `unknown` with UNSAFE_PATTERN (RESOLVER.md §2, §3).

No assertion here is on time (the suite's rule): RE2's linear time is what keeps the ReDoS
classics fast, and the behaviour is what is checked.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable

import pytest

from daemon.conf.parser import parse_text
from daemon.resolve.estate import Bundle, ConfFile, Estate, InventoryEntry, StanzaRow
from daemon.resolve.resolver import resolve
from daemon.resolve.result import Resolution
from daemon.resolve.vocabulary import FindingCode

SERVERCLASS = "etc/system/local/serverclass.conf"
DS_RUN, INVENTORY_RUN, INSTANCE_RUN = 1, 2, 3
GUID_1 = "00000000-0000-4000-8000-000000000001"
GUID_2 = "00000000-0000-4000-8000-000000000002"
GUID_3 = "00000000-0000-4000-8000-000000000003"


# -- estates in a few lines ---------------------------------------------------------------------


def conf_file(
    text: str,
    path: str = SERVERCLASS,
    *,
    run: int = DS_RUN,
    conf_type: str = "serverclass",
    layer: str = "system",
    scope: str = "local",
) -> ConfFile:
    """One .conf file through the project's parser, as load.py would hand it over."""
    stanzas, _ = parse_text(textwrap.dedent(text))
    rows = tuple(
        StanzaRow(s.name, s.line, dict(s.settings), {o.key: o.line for o in s.occurrences})
        for s in stanzas
    )
    return ConfFile(run, path, conf_type, layer, None, scope, rows)


def ds_bundle(serverclass: str, *, apps: Iterable[str] = (), label: str = "ds1") -> Bundle:
    """A deployment server whose system/local/serverclass.conf is `serverclass` and whose
    repository holds `apps`."""
    return Bundle(
        DS_RUN,
        "ds_etc",
        label,
        (conf_file(serverclass),),
        frozenset(f"etc/deployment-apps/{a}" for a in apps),
    )


def inventory(*rows: dict[str, str], label: str = "ds1") -> tuple[InventoryEntry, ...]:
    return tuple(InventoryEntry(INVENTORY_RUN, label, n, **row) for n, row in enumerate(rows, 1))


def known(name: str, ip: str, guid: str = GUID_1) -> dict[str, str]:
    """A client list row that names every attribute a pattern is matched against."""
    return {
        "client_name": name,
        "hostname": name,
        "dns": f"{name}.example.com",
        "ip": ip,
        "guid": guid,
        "machine_type": "linux-x86_64",
    }


def estate(serverclass: str, *rows: dict[str, str], apps: Iterable[str] = ()) -> Estate:
    return Estate((ds_bundle(serverclass, apps=apps),), inventory=inventory(*rows))


def results(resolution: Resolution) -> dict[tuple[str, str], str]:
    """(host, class) -> member | unknown (not_member rows are not kept)."""
    return {(m.host, m.serverclass): m.result.value for m in resolution.memberships}


def codes(resolution: Resolution) -> Counter[str]:
    return Counter(f.code.value for f in resolution.findings)


def conflicts(resolution: Resolution) -> list[str]:
    return [f.message for f in resolution.findings if f.code is FindingCode.IDENTITY_CONFLICT]


# -- 1. catastrophic backtracking --------------------------------------------------------------

A_10K = "a" * 10_000


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "^(a+)+$", "(a|aa)+$", "(a|a?)+$", "([a-z]+)+$", "(a+){2,}$", "((a+)+)+$"],
)
def test_redos_classics_against_a_10kb_host_name_are_evaluated_in_linear_time_and_right(
    pattern: str,
) -> None:
    # Exponential in a backtracking engine (PCRE) on "aaa...a!"; RE2 compiles them and runs
    # them in linear time, so they are evaluated (member / not_member), not refused. Every
    # attribute of both hosts is known, so nothing is unknown.
    resolution = resolve(
        estate(
            f"[serverClass:evil]\nwhitelist.0 = {pattern}\n",
            known(A_10K, "10.0.0.1", GUID_1),
            known(A_10K + "!", "10.0.0.2", GUID_2),
        )
    )
    assert results(resolution) == {(A_10K, "evil"): "member"}
    assert codes(resolution)[FindingCode.UNSAFE_PATTERN] == 0
    (member,) = resolution.memberships
    entry = member.why.whitelist.entry
    assert entry is not None and (entry.key, entry.pattern) == ("whitelist.0", pattern)
    # The 10 kB name that ends in "!" is in no class: in the client list, so HOST_UNMANAGED.
    unmanaged = [f.host for f in resolution.findings if f.code is FindingCode.HOST_UNMANAGED]
    assert unmanaged == [A_10K + "!"]


def test_a_redos_pattern_that_matches_nothing_leaves_its_class_empty_not_hung() -> None:
    resolution = resolve(
        estate(
            "[serverClass:evil]\nwhitelist.0 = (x+x+)+y\n",
            known("x" * 10_000, "10.0.0.1"),
        )
    )
    assert results(resolution) == {}
    assert codes(resolution)[FindingCode.SERVERCLASS_EMPTY] == 1


@pytest.mark.parametrize(
    "pattern",
    [
        "(a)\\1",  # backreference
        "(?=a)a+",  # look-ahead
        "(?!b)a+",  # negative look-ahead
        "(?<=a)a+",  # look-behind
        "a++",  # possessive
        "a{1001}",  # over RE2's repetition limit
        "((a{100}){100}){100}",  # nested repetition RE2 refuses
    ],
)
def test_a_pattern_re2_refuses_is_unsafe_and_unknown_and_spoils_no_other_class(
    pattern: str,
) -> None:
    conf = f"""
        [serverClass:evil]
        whitelist.0 = {pattern}
        [serverClass:fine]
        whitelist.0 = a*
    """
    resolution = resolve(estate(conf, known(A_10K, "10.0.0.1")))
    assert results(resolution) == {(A_10K, "evil"): "unknown", (A_10K, "fine"): "member"}
    evil = next(m for m in resolution.memberships if m.serverclass == "evil")
    assert evil.missing == ("pattern:serverClass:evil whitelist.0",)
    (unsafe,) = [f for f in resolution.findings if f.code is FindingCode.UNSAFE_PATTERN]
    assert unsafe.subject == "serverClass:evil whitelist.0"
    assert unsafe.evidence[0].file == SERVERCLASS


def test_an_unsafe_machine_types_filter_is_unknown_with_one_finding() -> None:
    conf = """
        [serverClass:evil]
        whitelist.0 = *
        machineTypesFilter = (linux)\\1, (a+)+$
    """
    rows = [known(f"web{n}", f"10.0.0.{n}") for n in range(1, 4)]
    resolution = resolve(estate(conf, *rows))
    assert set(results(resolution).values()) == {"unknown"}
    assert codes(resolution)[FindingCode.UNSAFE_PATTERN] == 1  # once, not once per host


# -- 2. 100,000 whitelist entries ------------------------------------------------------------


def test_100000_whitelist_entries_in_one_class_still_find_the_host_of_the_last_one() -> None:
    # Distinct regular expressions (no `*`: a glob is checked against every attribute kind
    # one by one, which only costs time): 100 RE2 sets of 1,000. Patterns never make hosts.
    # The stanza is built as load.py hands it over, without parsing 100,000 lines first.
    settings = {f"whitelist.{n}": f"decoy{n:06d}-x+" for n in range(99_999)}
    settings["whitelist.99999"] = "target-[0-9]+"
    lines = {key: n for n, key in enumerate(settings, 2)}
    row = StanzaRow("serverClass:big", 1, settings, lines)
    serverclass = ConfFile(DS_RUN, SERVERCLASS, "serverclass", "system", None, "local", (row,))
    resolution = resolve(
        Estate(
            (Bundle(DS_RUN, "ds_etc", "ds1", (serverclass,)),),
            inventory=inventory(
                known("target-01", "10.0.0.1", GUID_1), known("bystander", "10.0.0.2", GUID_2)
            ),
        )
    )
    assert sorted(h.name for h in resolution.hosts) == ["bystander", "target-01"]
    assert results(resolution) == {("target-01", "big"): "member"}
    entry = resolution.memberships[0].why.whitelist.entry
    assert entry is not None
    assert (entry.key, entry.pattern, entry.evidence.line) == (
        "whitelist.99999",
        "target-[0-9]+",
        100_001,
    )
    assert codes(resolution)[FindingCode.UNSAFE_PATTERN] == 0


def test_10000_literal_whitelist_entries_make_one_host_each_all_members() -> None:
    # RESOLVER.md §2: literal entries are hosts. Each is one host, merged with the client
    # list's row that has its name, and each is a member of the class that names it.
    lines = ["[serverClass:listed]"]
    lines += [f"whitelist.{n} = host{n:05d}" for n in range(10_000)]
    resolution = resolve(estate("\n".join(lines) + "\n", known("host09999", "10.0.0.1")))
    assert len(resolution.hosts) == 10_000
    assert len({h.name for h in resolution.hosts}) == 10_000
    assert set(results(resolution).values()) == {"member"}
    assert len(resolution.memberships) == 10_000
    listed = next(h for h in resolution.hosts if h.name == "host09999")
    assert listed.sources == ("inventory:run 2 row 1", "whitelist:run 1")


# -- 3. duplicate identities (RESOLVER.md §2) ----------------------------------------------------

ALL = "[serverClass:all]\nwhitelist.0 = *\n"


def test_one_client_name_twice_with_different_ips_is_one_host_and_a_conflict() -> None:
    # clientName names one instance: the rows merge, the first (the inventory's) IP is kept
    # and the other one is a finding, never dropped without a word.
    resolution = resolve(
        estate(
            ALL, {"client_name": "web", "ip": "10.0.0.1"}, {"client_name": "web", "ip": "10.0.0.2"}
        )
    )
    (host,) = resolution.hosts
    assert (host.name, host.ip) == ("web", "10.0.0.1")
    assert host.sources == ("inventory:run 2 row 1", "inventory:run 2 row 2")
    (message,) = conflicts(resolution)
    assert "10.0.0.2" in message and "10.0.0.1" in message and "kept" in message


def test_one_guid_for_two_client_names_is_two_hosts_and_a_conflict() -> None:
    resolution = resolve(
        estate(ALL, {"client_name": "a", "guid": GUID_1}, {"client_name": "b", "guid": GUID_1})
    )
    assert sorted((h.name, h.guid) for h in resolution.hosts) == [("a", GUID_1), ("b", GUID_1)]
    (message,) = conflicts(resolution)
    assert GUID_1 in message and "kept apart" in message
    assert results(resolution) == {("a", "all"): "member", ("b", "all"): "member"}


def test_one_ip_for_two_client_names_is_two_hosts_and_a_conflict() -> None:
    # Clients behind NAT: the deployment server sees one address for all of them.
    resolution = resolve(
        estate(
            ALL,
            {"client_name": "a", "hostname": "a", "ip": "10.0.0.9"},
            {"client_name": "b", "hostname": "b", "ip": "10.0.0.9"},
        )
    )
    assert sorted((h.name, h.ip) for h in resolution.hosts) == [
        ("a", "10.0.0.9"),
        ("b", "10.0.0.9"),
    ]
    (message,) = conflicts(resolution)
    assert "10.0.0.9" in message and "kept apart" in message


def test_one_ip_for_two_hostnames_without_client_names_merges_with_a_conflict() -> None:
    # RESOLVER.md §2 merges on ip last and keeps the first source's hostname: the second
    # name is not lost without a word, it is in the finding.
    resolution = resolve(
        estate(ALL, {"hostname": "a", "ip": "10.0.0.9"}, {"hostname": "b", "ip": "10.0.0.9"})
    )
    (host,) = resolution.hosts
    assert (host.name, host.hostname) == ("a", "a")
    (message,) = conflicts(resolution)
    assert "hostname = 'b'" in message


def test_one_client_name_behind_two_guids_is_two_hosts_with_distinct_names() -> None:
    # Cloned images keep the clientName of the template: two instances, one name.
    resolution = resolve(
        estate(
            ALL,
            {"client_name": "web", "guid": GUID_1, "ip": "10.0.0.1"},
            {"client_name": "web", "guid": GUID_2, "ip": "10.0.0.2"},
        )
    )
    names = sorted(h.name for h in resolution.hosts)
    assert names == ["web", f"web [{GUID_2}]"]
    assert len(conflicts(resolution)) == 1
    assert sorted(results(resolution)) == [(n, "all") for n in names]


def test_a_client_name_that_mimics_an_alias_never_makes_two_hosts_share_a_name() -> None:
    resolution = resolve(
        estate(
            ALL,
            {"client_name": f"web [{GUID_2}]", "ip": "10.0.0.3"},
            {"client_name": "web", "guid": GUID_1, "ip": "10.0.0.1"},
            {"client_name": "web", "guid": GUID_2, "ip": "10.0.0.2"},
        )
    )
    names = [h.name for h in resolution.hosts]
    assert len(names) == 3
    assert len(set(names)) == 3, names


def test_an_instance_tree_with_an_inventory_hostname_but_another_guid_stays_apart() -> None:
    instance = Bundle(
        INSTANCE_RUN,
        "instance_etc",
        "web01",
        (
            conf_file(
                "[general]\nserverName = web01\n",
                "etc/system/local/server.conf",
                run=INSTANCE_RUN,
                conf_type="server",
            ),
            conf_file(
                f"[general]\nguid = {GUID_2}\n",
                "etc/instance.cfg",
                run=INSTANCE_RUN,
                conf_type="instance.cfg",
            ),
        ),
    )
    resolution = resolve(
        Estate(
            (ds_bundle(ALL),),
            (instance,),
            inventory({"client_name": "web01", "hostname": "web01", "guid": GUID_1}),
        )
    )
    assert sorted((h.name, h.guid) for h in resolution.hosts) == [
        ("web01", GUID_1),
        (f"web01 [{GUID_2}]", GUID_2),
    ]
    (message,) = conflicts(resolution)
    assert "instance_etc:run 3" in message and "kept apart" in message


def test_an_fqdn_whitelist_literal_joins_the_inventory_host_with_that_short_name() -> None:
    # RESOLVER.md §2: "lower-cased hostname (short name = first label of an FQDN also
    # matches)". The client list has the short name, serverclass.conf the FQDN.
    resolution = resolve(
        estate(
            "[serverClass:web]\nwhitelist.0 = web01.example.com\n",
            {"client_name": "web01", "hostname": "web01", "ip": "10.0.0.1", "guid": GUID_1},
        )
    )
    assert [h.name for h in resolution.hosts] == ["web01"]


# -- 4. 10,000 apps not in the repository ------------------------------------------------------


def test_10000_apps_missing_from_the_repository_are_each_a_finding_and_the_rest_resolves() -> None:
    # RESOLVER.md §3: "A named app missing from the repository -> APP_NOT_IN_REPOSITORY", one
    # per app stanza (the spec sets no cap), and the resolution still completes around them.
    lines = ["[serverClass:all]", "whitelist.0 = *", "[serverClass:all:app:real]"]
    lines += [f"[serverClass:all:app:ghost{n:05d}]" for n in range(10_000)]
    resolution = resolve(
        estate("\n".join(lines) + "\n", known("web-01", "10.0.0.1"), apps=["real", "spare"])
    )
    missing = [f for f in resolution.findings if f.code is FindingCode.APP_NOT_IN_REPOSITORY]
    assert len(missing) == 10_000
    assert len({f.subject for f in missing}) == 10_000
    assert missing[0].subject == "serverClass:all:app:ghost00000"
    apps = {a.app: a for a in resolution.apps}
    assert len(apps) == 10_001
    assert apps["real"].in_repository and apps["real"].result == "deployed"
    assert not any(a.in_repository for name, a in apps.items() if name != "real")
    assert [f.subject for f in resolution.findings if f.code is FindingCode.APP_UNUSED] == [
        "app:spare"
    ]
    assert resolution.summary["apps"] == 10_001


# -- 5. whatever else a dropped bundle can hold ------------------------------------------------


def test_a_megabyte_class_and_app_name_resolve_like_any_other() -> None:
    big = "x" * 1_000_000
    conf = f"[serverClass:{big}]\nwhitelist.0 = web\n[serverClass:{big}:app:{big}]\n"
    resolution = resolve(estate(conf, known("web", "10.0.0.1"), apps=["nix"]))
    assert results(resolution) == {("web", big): "member"}
    (app,) = resolution.apps
    assert (app.app, app.in_repository) == (big, False)
    assert codes(resolution)[FindingCode.APP_NOT_IN_REPOSITORY] == 1


def test_nul_characters_in_names_and_patterns_are_plain_characters() -> None:
    # The conf store replaces NUL before a resolution reads it; the pure resolver must not
    # choke on one either way (RE2 and the identity merge treat it as a character).
    conf = "[serverClass:n\x00ul]\nwhitelist.0 = web\x00*\n"
    resolution = resolve(
        estate(conf, known("web\x00evil", "10.0.0.1", GUID_1), known("web", "10.0.0.2", GUID_2))
    )
    assert results(resolution) == {("web\x00evil", "n\x00ul"): "member"}


def test_a_host_name_with_html_is_kept_verbatim() -> None:
    # Escaping is the renderer's job: the data says exactly what the client list said.
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    resolution = resolve(
        estate("[serverClass:all]\nwhitelist.0 = <script>*\n", known(name, "10.0.0.1"))
    )
    (host,) = resolution.hosts
    assert (host.name, host.client_name) == (name, name)
    assert results(resolution) == {(name, "all"): "member"}


class _Reads:
    """A bundle's read_file that records what it was asked and answers for one path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[str] = []

    def __call__(self, run: int, path: str) -> bytes | None:
        assert run == DS_RUN
        self.asked.append(path)
        return self.files.get(path)


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "$SPLUNK_HOME/../../etc/passwd",
        "etc/system/local/../../../../../etc/passwd",
        "..\\..\\..\\etc\\passwd",
        "$SPLUNK_HOME/etc/../../etc/passwd",
    ],
)
def test_a_from_pathname_that_climbs_out_of_the_bundle_is_never_read(path: str) -> None:
    reads = _Reads({"etc/passwd": b"web01\n"})
    resolution = resolve(
        Estate(
            (ds_bundle(f"[serverClass:x]\nwhitelist.from_pathname = {path}\n"),),
            inventory=inventory(known("web01", "10.0.0.1")),
            read_file=reads,
        )
    )
    assert not any(".." in p.split("/") for p in reads.asked), reads.asked
    assert results(resolution) == {("web01", "x"): "unknown"}
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.UNRESOLVED_FROM_PATHNAME]
    assert "not in the DS bundle" in finding.message


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "C:\\etc\\passwd", "/opt/splunk/etc/../../../etc/passwd"]
)
def test_an_absolute_from_pathname_is_read_inside_the_bundle_only(path: str) -> None:
    # RESOLVER.md §3: an absolute path is read against the DS's $SPLUNK_HOME, from etc/ on:
    # /etc/passwd is the bundle's etc/passwd, never the resolver's own.
    reads = _Reads({"etc/passwd": b"web01\n"})
    resolution = resolve(
        Estate(
            (ds_bundle(f"[serverClass:x]\nwhitelist.from_pathname = {path}\n"),),
            inventory=inventory(known("web01", "10.0.0.1"), known("root", "10.0.0.2", GUID_2)),
            read_file=reads,
        )
    )
    assert reads.asked and all(p == "etc/passwd" for p in reads.asked), reads.asked
    assert results(resolution) == {("web01", "x"): "member"}


@pytest.mark.parametrize(
    "location",
    [
        "$SPLUNK_HOME/etc/deployment-apps/../../../../etc",
        "../../../etc/deployment-apps",
        "/opt/splunk/etc/deployment-apps/../../../../../var",
        "$SPLUNK_HOME/../deployment-apps",
    ],
)
def test_a_repository_location_with_dot_dot_out_of_the_bundle_holds_no_app(location: str) -> None:
    conf = f"""
        [global]
        repositoryLocation = {location}
        [serverClass:named]
        whitelist.0 = *
        [serverClass:named:app:nix]
        [serverClass:star]
        whitelist.0 = *
        [serverClass:star:app:*]
    """
    resolution = resolve(estate(conf, known("web", "10.0.0.1"), apps=["nix", "win"]))
    assert [(a.app, a.in_repository) for a in resolution.apps] == [("nix", False)]
    subjects = sorted(
        f.subject for f in resolution.findings if f.code is FindingCode.APP_NOT_IN_REPOSITORY
    )
    assert subjects == ["serverClass:named:app:nix", "serverClass:star:app:*"]


def test_a_repository_location_of_slash_etc_lists_only_folders_of_the_bundle() -> None:
    # `/etc` is read from etc/ on, i.e. the bundle's own etc/ (RESOLVER.md §3): odd, but it
    # never reaches the resolver's file system.
    conf = """
        [global]
        repositoryLocation = /etc
        [serverClass:s]
        whitelist.0 = *
        [serverClass:s:app:*]
    """
    resolution = resolve(estate(conf, known("web", "10.0.0.1"), apps=["nix"]))
    # etc/deployment-apps/nix and etc/system/local/serverclass.conf: the bundle's folders
    assert sorted(a.app for a in resolution.apps) == ["deployment-apps", "system"]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ("whitelist.0 =", "nobody"),  # empty: names nothing, yet replaces [global]'s lists
        ("whitelist.0 =    ", "nobody"),
        ("whitelist.0 = *", "everyone"),
        ("whitelist.0 = **", "everyone"),
        ("whitelist.0 = *\nblacklist.0 = *", "nobody"),
        ("filterType = blacklist\nblacklist.0 =", "everyone"),
        ("filterType = blacklist\nblacklist.0 = *", "nobody"),
    ],
)
def test_empty_and_star_only_entries_match_nobody_or_everyone_and_make_no_host(
    entries: str, expected: str
) -> None:
    conf = f"[global]\nwhitelist.0 = *\n[serverClass:c]\n{entries}\n"
    rows = [known("web", "10.0.0.1"), {"ip": "10.0.0.2"}, {"hostname": "name-only"}]
    resolution = resolve(estate(conf, *rows))
    assert sorted(h.name for h in resolution.hosts) == ["10.0.0.2", "name-only", "web"]
    if expected == "everyone":
        assert results(resolution) == {
            ("web", "c"): "member",
            ("10.0.0.2", "c"): "member",
            ("name-only", "c"): "member",
        }
    else:
        assert results(resolution) == {}
        assert codes(resolution)[FindingCode.SERVERCLASS_EMPTY] == 1


def test_megabyte_identity_values_from_the_client_list_resolve() -> None:
    # The inventory reader lets a value up to its 1 MiB record limit through.
    big = "h" * 1_000_000
    resolution = resolve(
        estate("[serverClass:h]\nwhitelist.0 = h+\n", {"client_name": big, "ip": "10.0.0.1"})
    )
    assert results(resolution) == {(big, "h"): "member"}
