"""Server-class cases where the spec is silent or the conf is wrong: each decision (ours)
answers unknown rather than guess, or says so in a finding."""

from __future__ import annotations

from daemon.resolve.serverclass import ServerClassResolver, resolve_serverclasses
from daemon.resolve.types import Host
from daemon.resolve.vocabulary import FindingCode, MembershipResult
from tests.builders import codes, ds, known_host, results

WEB = known_host("web-01", "10.1.2.3")
DB = known_host("db-01", "10.1.9.9")


def test_invalid_filter_type_evaluates_both_and_is_unknown_where_they_differ() -> None:
    conf = "[serverClass:x]\nfilterType = greylist\nwhitelist.0 = web*\nblacklist.0 = web*\n"
    resolution = resolve_serverclasses(ds(conf), [WEB, DB], include_not_member=True)
    # web: whitelist rule F, blacklist rule T -> unknown; db: F and T -> unknown
    assert results(resolution) == {("web-01", "x"): "unknown", ("db-01", "x"): "unknown"}
    assert resolution.memberships[0].missing == ("serverClass:x filterType",)
    assert "INVALID_SETTING" in codes(resolution)


def test_default_stanza_is_ignored_with_a_finding() -> None:
    # serverclass.conf.spec: "Do not use [default] as a stanza name in serverclass.conf"
    conf = "[default]\nwhitelist.0 = *\n[serverClass:x]\n"
    resolution = resolve_serverclasses(ds(conf), [WEB])
    assert resolution.memberships == ()
    assert "IGNORED_STANZA" in codes(resolution)


def test_machine_types_filter_at_global_has_no_effect() -> None:
    # serverclass.conf.spec: "This filter has no effect when defined at the global level."
    conf = "[global]\nmachineTypesFilter = windows-*\n[serverClass:x]\nwhitelist.0 = *\n"
    resolution = resolve_serverclasses(ds(conf), [WEB])
    assert results(resolution) == {("web-01", "x"): "member"}
    assert "IGNORED_SETTING" in codes(resolution)


def test_unknown_machine_type_is_unknown_unless_the_lists_already_exclude() -> None:
    conf = "[serverClass:x]\nwhitelist.0 = web*\nmachineTypesFilter = linux-*\n"
    no_type = [Host(h.key, h.client_name, h.hostname, h.ip, h.dns, h.guid) for h in (WEB, DB)]
    resolution = resolve_serverclasses(ds(conf), no_type, include_not_member=True)
    assert results(resolution) == {("web-01", "x"): "unknown", ("db-01", "x"): "not_member"}
    assert resolution.memberships[0].missing == ("machine_type",)


def test_package_types_filter_is_never_knowable() -> None:
    conf = "[serverClass:x]\nwhitelist.0 = web*\npackageTypesFilter = universal_forwarder\n"
    resolution = resolve_serverclasses(ds(conf), [WEB])
    assert results(resolution) == {("web-01", "x"): "unknown"}
    assert resolution.memberships[0].missing == ("package_type",)


def test_from_pathname_selection_the_spec_forbids_is_unresolved() -> None:
    # "select_field and where_field must be specified the same way"
    conf = """
        [serverClass:x]
        whitelist.from_pathname = etc/hosts.csv
        whitelist.select_field = 1
        whitelist.where_field = tier
        whitelist.where_equals = web
    """
    resolution = resolve_serverclasses(ds(conf, files={"etc/hosts.csv": "web-01,web\n"}), [WEB])
    assert results(resolution) == {("web-01", "x"): "unknown"}
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.UNRESOLVED_FROM_PATHNAME]
    assert "mix a name and a number" in finding.message


def test_continue_matching_false_is_reported_not_modelled() -> None:
    conf = "[serverClass:x]\nwhitelist.0 = *\ncontinueMatching = false\n"
    assert "CONTINUE_MATCHING_FALSE" in codes(resolve_serverclasses(ds(conf), [WEB]))


def test_explain_gives_the_why_of_a_host_that_is_not_a_member() -> None:
    conf = "[serverClass:web]\nwhitelist.0 = web*\nblacklist.0 = db*\n"
    resolver = ServerClassResolver(ds(conf), [WEB, DB])
    explained = resolver.explain(DB, "web")
    assert explained.result is MembershipResult.NOT_MEMBER
    assert explained.why.blacklist.entry is not None
    assert explained.why.blacklist.entry.pattern == "db*"
    # a host the resolver was not built with is explained too
    stranger = known_host("web-99", "10.9.9.9")
    assert resolver.explain(stranger, "web").result is MembershipResult.MEMBER
