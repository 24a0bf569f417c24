"""Hostile serverclass.conf (RESOLVER.md §3 "Safety"): patterns come from untrusted bundles,
so none may hang the resolver or grow without bound."""

from __future__ import annotations

import time

from daemon.resolve.serverclass import resolve_serverclasses
from daemon.resolve.types import Evidence, Host
from daemon.resolve.vocabulary import FindingCode, MembershipResult
from tests.builders import codes, ds, known_host, results

FILE = "etc/system/local/serverclass.conf"


def test_catastrophic_backtracking_pattern_against_a_10kb_host_name_is_fast_and_right() -> None:
    # `(a+)+$` is exponential in a backtracking engine (PCRE); RE2 compiles it and runs it
    # in linear time, so it is evaluated, not refused.
    long_a = known_host("a" * 10_000, "10.0.0.1")
    long_a_bang = known_host("a" * 10_000 + "!", "10.0.0.2")
    conf = "[serverClass:evil]\nwhitelist.0 = (a+)+$\n"
    started = time.perf_counter()
    resolution = resolve_serverclasses(ds(conf), [long_a, long_a_bang], include_not_member=True)
    assert time.perf_counter() - started < 1.0
    assert results(resolution) == {
        (long_a.key, "evil"): "member",
        (long_a_bang.key, "evil"): "not_member",
    }
    assert "UNSAFE_PATTERN" not in codes(resolution)


def test_backreference_is_unsafe_pattern_and_unknown() -> None:
    conf = "[serverClass:evil]\nwhitelist.0 = (a)\\1\n"
    resolution = resolve_serverclasses(ds(conf), [known_host("aa", "10.0.0.1")])
    assert results(resolution) == {("aa", "evil"): "unknown"}
    assert resolution.memberships[0].missing == ("pattern:serverClass:evil whitelist.0",)
    assert codes(resolution).count("UNSAFE_PATTERN") == 1


def test_100000_whitelist_entries_evaluate_in_reasonable_time() -> None:
    evidence = Evidence(FILE, 2)
    settings = {f"whitelist.{n}": (f"host{n:06d}.example.com", evidence) for n in range(90_000)}
    settings.update(
        {f"whitelist.{n}": (f"glob{n:06d}-*", evidence) for n in range(90_000, 100_000)}
    )
    conf = {"serverClass:big": settings}
    hosts = [
        known_host(f"host{n:06d}.example.com", f"10.0.{n // 256}.{n % 256}")
        for n in range(0, 90_000, 90)
    ]
    hosts += [known_host(f"glob{n:06d}-x", "10.9.0.1") for n in range(90_000, 100_000, 1000)]
    hosts += [known_host(f"other{n}", "10.8.0.1") for n in range(100)]
    started = time.perf_counter()
    resolution = resolve_serverclasses(ds(conf), hosts)
    elapsed = time.perf_counter() - started
    assert elapsed < 15, elapsed
    member = {m.host for m in resolution.memberships if m.result is MembershipResult.MEMBER}
    assert len(member) == 1000 + 10
    entry = next(m for m in resolution.memberships if m.host == "glob095000-x").why.whitelist.entry
    assert entry is not None
    assert entry.key == "whitelist.95000"


def test_10000_apps_not_in_the_repository() -> None:
    lines = ["[serverClass:all]", "whitelist.0 = *"]
    lines += [f"[serverClass:all:app:ghost{n:05d}]" for n in range(10_000)]
    started = time.perf_counter()
    resolution = resolve_serverclasses(
        ds("\n".join(lines) + "\n", apps=["real"]), [known_host("web-01", "10.0.0.1")]
    )
    assert time.perf_counter() - started < 10
    assert codes(resolution).count("APP_NOT_IN_REPOSITORY") == 10_000
    (deliveries,) = resolution.deliveries.values()
    assert len(deliveries) == 10_000
    assert not any(d.settings.in_repository for d in deliveries)


def test_a_from_pathname_list_of_100000_hosts() -> None:
    names = "".join(f"client{n:06d}\n" for n in range(100_000))
    conf = "[serverClass:listed]\nwhitelist.from_pathname = etc/lists/clients.txt\n"
    hosts = [known_host("client099999", "10.0.0.1"), known_host("stranger", "10.0.0.2")]
    started = time.perf_counter()
    resolution = resolve_serverclasses(
        ds(conf, files={"etc/lists/clients.txt": names}), hosts, include_not_member=True
    )
    assert time.perf_counter() - started < 10
    assert results(resolution) == {
        ("client099999", "listed"): "member",
        ("stranger", "listed"): "not_member",
    }
    entry = resolution.memberships[0].why.whitelist.entry
    assert entry is not None
    assert (entry.evidence.file, entry.evidence.line) == ("etc/lists/clients.txt", 100_000)


def test_a_csv_bomb_in_from_pathname_is_unresolved_not_a_crash() -> None:
    # one field above Python's csv field limit (128 KiB): the list is unknown, with a finding
    bomb = "host\n" + '"' + "x" * 200_000 + '"\n'
    conf = """
        [serverClass:bomb]
        whitelist.from_pathname = etc/lists/bomb.csv
        whitelist.select_field = host
    """
    host = Host("web", client_name="web", hostname="web", ip="10.0.0.1", dns="web", guid=None)
    resolution = resolve_serverclasses(ds(conf, files={"etc/lists/bomb.csv": bomb}), [host])
    assert results(resolution) == {("web", "bomb"): "unknown"}
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.UNRESOLVED_FROM_PATHNAME]
    assert "CSV" in finding.message
