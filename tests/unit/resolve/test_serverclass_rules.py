"""One test per membership rule of RESOLVER.md §3, named after the rule; the spec line each
one checks is quoted above it."""

from __future__ import annotations

from collections.abc import Sequence

from daemon.resolve.serverclass import ServerClassResolution, resolve_serverclasses
from daemon.resolve.types import Host
from daemon.resolve.vocabulary import FilterType, FindingCode, MembershipResult
from tests.builders import codes, ds, host, known_host, results

WEB = known_host("web-01", "10.1.2.3")
DB = known_host("db-01", "10.1.9.9")
MAIL = known_host("mail-01", "10.2.0.1", machine_type="windows-x64")


def resolve(
    conf: str,
    hosts: Sequence[Host] = (WEB, DB, MAIL),
    *,
    include_not_member: bool = False,
    **kwargs: object,
) -> ServerClassResolution:
    return resolve_serverclasses(
        ds(conf, **kwargs),  # type: ignore[arg-type]
        hosts,
        include_not_member=include_not_member,
    )


def members(resolution: ServerClassResolution, serverclass: str) -> set[str]:
    return {
        m.host
        for m in resolution.memberships
        if m.serverclass == serverclass and m.result is MembershipResult.MEMBER
    }


def app_members(resolution: ServerClassResolution, app: str) -> set[str]:
    return {
        a.host
        for a in resolution.iter_app_memberships()
        if a.app == app and a.result is MembershipResult.MEMBER
    }


# "Levels: [global] -> [serverClass:X] -> [serverClass:X:app:Y]. [global] matches nobody by
# itself; its settings are inherited."
def test_global_matches_nobody_by_itself() -> None:
    resolution = resolve("[global]\nwhitelist.0 = *\n")
    assert resolution.classes == ()
    assert resolution.memberships == ()


def test_global_lists_are_inherited() -> None:
    resolution = resolve("[global]\nwhitelist.0 = web*\n[serverClass:all]\n")
    assert members(resolution, "all") == {"web-01"}
    (membership,) = resolution.memberships
    assert membership.why.whitelist.stanza == "global"
    assert membership.why.whitelist.inherited is True


# "An app stanza can only narrow: app member = class member AND app filter."
def test_app_can_only_narrow() -> None:
    conf = """
        [serverClass:web]
        whitelist.0 = web*
        [serverClass:web:app:nix]
        whitelist.0 = *
    """
    resolution = resolve(conf, apps=["nix"])
    assert app_members(resolution, "nix") == {"web-01"}


# "filterType is inherited through all levels."
def test_filter_type_is_inherited_through_all_levels() -> None:
    conf = """
        [global]
        filterType = blacklist
        [serverClass:not_db]
        blacklist.0 = db*
        [serverClass:not_db:app:nix]
        blacklist.0 = mail*
    """
    resolution = resolve(conf, apps=["nix"], version="9.4.3")
    assert members(resolution, "not_db") == {"web-01", "mail-01"}
    assert app_members(resolution, "nix") == {"web-01"}
    membership = resolution.memberships[0]
    assert membership.why.filter_type.value is FilterType.BLACKLIST
    assert membership.why.filter_type.source == "global"


# "Patterns in whitelist.<n>/blacklist.<n> (any integers, gaps allowed)"
def test_list_entries_any_integers_gaps_allowed() -> None:
    conf = "[serverClass:x]\nwhitelist.7 = mail*\nwhitelist.1000 = web*\nwhitelist.0012 = nope\n"
    assert members(resolve(conf), "x") == {"web-01", "mail-01"}


# "`.` is a literal dot, `*` any run of characters, everything else keeps its regex meaning;
# case-insensitive; the whole value must match (ours ... state it in a finding once per
# resolution)."
def test_pattern_semantics_in_lists() -> None:
    conf = """
        [serverClass:net]
        whitelist.0 = 10.1.2.*
        [serverClass:regex]
        whitelist.0 = (WEB|mail)-0[0-9]
        [serverClass:partial]
        whitelist.0 = web
    """
    resolution = resolve(conf)
    assert members(resolution, "net") == {"web-01"}
    assert members(resolution, "regex") == {"web-01", "mail-01"}
    assert members(resolution, "partial") == set()
    assert codes(resolution).count("PATTERN_FULL_MATCH") == 1


# "A value matches a host if it matches any of the host's client_name, ip, dns, hostname,
# guid."
def test_value_matches_any_host_attribute() -> None:
    guid = "00000000-0000-4000-8000-000000000000"
    hosts = [
        Host("h0", client_name="c-1", hostname="h", ip="10.0.0.1", dns="d", guid=guid),
        Host("h1", client_name="c", hostname="h-1", ip="10.0.0.1", dns="d", guid=guid),
        Host("h2", client_name="c", hostname="h", ip="10.0.0.9", dns="d", guid=guid),
        Host("h3", client_name="c", hostname="h", ip="10.0.0.1", dns="d-1.example.com", guid=guid),
        Host(
            "h4", client_name="c", hostname="h", ip="10.0.0.1", dns="d", guid="ffe9fe01-" + guid[9:]
        ),
    ]
    conf = """
        [serverClass:x]
        whitelist.0 = c-1
        whitelist.1 = h-1
        whitelist.2 = 10.0.0.9
        whitelist.3 = *.example.com
        whitelist.4 = ffe9fe01*
    """
    resolution = resolve(conf, hosts)
    assert members(resolution, "x") == {"h0", "h1", "h2", "h3", "h4"}
    attributes = {m.host: m.why.whitelist.entry.attribute.value for m in resolution.memberships}  # type: ignore[union-attr]
    assert attributes == {
        "h0": "client_name",
        "h1": "hostname",
        "h2": "ip",
        "h3": "dns",
        "h4": "guid",
    }


# "filterType = whitelist (default): member = any whitelist AND NOT any blacklist; empty lists
# match nobody."
def test_filter_type_whitelist() -> None:
    conf = """
        [serverClass:web_not_03]
        whitelist.0 = *-01
        blacklist.0 = mail*
        [serverClass:empty]
        filterType = whitelist
    """
    resolution = resolve(conf)
    assert members(resolution, "web_not_03") == {"web-01", "db-01"}
    assert members(resolution, "empty") == set()


# "filterType = blacklist: member = any whitelist OR NOT any blacklist."
def test_filter_type_blacklist() -> None:
    # spec's table: neither -> yes; blacklist only -> no; whitelist only -> yes; both -> yes
    conf = """
        [serverClass:x]
        filterType = blacklist
        blacklist.0 = db*
        blacklist.1 = mail*
        whitelist.0 = mail*
    """
    assert members(resolve(conf), "x") == {"web-01", "mail-01"}
    assert members(resolve("[serverClass:y]\nfilterType = blacklist\n"), "y") == {
        "web-01",
        "db-01",
        "mail-01",
    }


# "Defining any whitelist.* or blacklist.* at a level drops both inherited lists
# (*.from_pathname counts as defining)."
def test_pair_override() -> None:
    conf = """
        [global]
        whitelist.0 = *
        blacklist.0 = db*
        [serverClass:own_whitelist]
        whitelist.0 = *-01
        [serverClass:own_from_pathname]
        whitelist.from_pathname = etc/lists/web.txt
        [serverClass:inherits]
    """
    resolution = resolve(conf, files={"etc/lists/web.txt": "web-01\n"})
    # the inherited blacklist is gone with the whitelist: db-01 is back
    assert members(resolution, "own_whitelist") == {"web-01", "db-01", "mail-01"}
    assert members(resolution, "own_from_pathname") == {"web-01"}
    assert members(resolution, "inherits") == {"web-01", "mail-01"}


# "machineTypesFilter (comma list, same pattern rules) is AND-ed with the lists. At
# serverClass level it keeps the inherited lists"
def test_machine_types_filter_at_class_level_keeps_inherited_lists() -> None:
    conf = """
        [global]
        whitelist.0 = *-01
        [serverClass:linux]
        machineTypesFilter = linux-*, sunos-sun4u
    """
    resolution = resolve(conf)
    assert members(resolution, "linux") == {"web-01", "db-01"}
    membership = next(m for m in resolution.memberships if m.host == "web-01")
    assert membership.why.machine_types is not None
    assert membership.why.machine_types.entry.pattern == "linux-*"  # type: ignore[union-attr]


# "... at app level it clears both lists."
def test_machine_types_filter_at_app_level_clears_both_lists() -> None:
    conf = """
        [serverClass:all]
        whitelist.0 = *
        [serverClass:all:app:cleared]
        machineTypesFilter = linux-x86_64
        [serverClass:all:app:restated]
        whitelist.0 = *
        machineTypesFilter = linux-x86_64
    """
    resolution = resolve(
        conf, apps=["cleared", "restated"], version="10.0.0", include_not_member=True
    )
    assert app_members(resolution, "cleared") == set()  # empty whitelist: nobody
    assert app_members(resolution, "restated") == {"web-01", "db-01"}
    row = next(a for a in resolution.app_memberships if a.app == "cleared")
    assert row.why.whitelist.cleared_by == "machineTypesFilter"


# "From 9.4.3 the implicit app-level filterType is whitelist (it was blacklist): an app
# stanza with only blacklist.* matched every class member not blacklisted before 9.4.3 and
# matches nobody after; one with only machineTypesFilter matched the class members of those
# machine types before and nobody after. [...] when the answer would differ between the two
# rules, emit DS_VERSION_DEPENDENT."
def test_app_level_filter_type() -> None:
    conf = """
        [serverClass:all]
        whitelist.0 = *
        [serverClass:all:app:not_db]
        blacklist.0 = db*
        [serverClass:all:app:linux]
        machineTypesFilter = linux-x86_64
    """
    apps = ["not_db", "linux"]
    before = resolve(conf, apps=apps, version="9.4.2")
    assert app_members(before, "not_db") == {"web-01", "mail-01"}
    assert app_members(before, "linux") == {"web-01", "db-01"}
    after = resolve(conf, apps=apps, version="9.4.3")
    assert app_members(after, "not_db") == set()
    assert app_members(after, "linux") == set()
    for resolution in (before, after):
        dependent = [f for f in resolution.findings if f.code is FindingCode.DS_VERSION_DEPENDENT]
        assert sorted(f.subject for f in dependent) == [
            "serverClass:all:app:linux",
            "serverClass:all:app:not_db",
        ]
    row = next(a for a in before.app_memberships if a.app == "not_db" and a.host == "web-01")
    assert row.why.filter_type.version_rule is not None
    assert "before 9.4.3" in row.why.filter_type.version_rule
    assert row.why.other_rule_result is MembershipResult.NOT_MEMBER


def test_app_level_filter_type_unknown_version_gives_unknown_where_rules_differ() -> None:
    conf = """
        [serverClass:all]
        whitelist.0 = *
        [serverClass:all:app:not_db]
        blacklist.0 = db*
    """
    resolution = resolve(conf, apps=["not_db"], version=None)
    rows = {a.host: (a.result, a.missing) for a in resolution.app_memberships}
    assert rows["web-01"] == (MembershipResult.UNKNOWN, ("ds_version",))
    # db-01 is blacklisted: not a member under either rule, so no unknown, no row
    assert "db-01" not in rows


def test_app_level_filter_type_explicit_or_inherited_from_an_administrator_is_kept() -> None:
    # (ours) only the shipped system/default filterType counts as "implicit".
    conf = """
        [serverClass:all]
        whitelist.0 = *
        filterType = whitelist
        [serverClass:all:app:not_db]
        blacklist.0 = db*
    """
    resolution = resolve(conf, apps=["not_db"], version="9.4.2")
    assert app_members(resolution, "not_db") == set()
    assert "DS_VERSION_DEPENDENT" not in codes(resolution)
    shipped = resolve_serverclasses(
        ds(
            "[serverClass:all]\nwhitelist.0 = *\n[serverClass:all:app:not_db]\nblacklist.0 = db*\n",
            apps=["not_db"],
            version="9.4.2",
            defaults=True,
        ),
        [WEB, DB],
    )
    assert app_members(shipped, "not_db") == {"web-01"}


# "whitelist.from_pathname (+ select_field, where_field, where_equals): a file relative to
# $SPLUNK_HOME inside the DS bundle, one value per line or a CSV (header names are
# case-sensitive; a number is a 1-based column with no header). Entries are a union with
# whitelist.<n>."
def test_from_pathname() -> None:
    conf = """
        [serverClass:plain]
        whitelist.from_pathname = etc/lists/plain.txt
        whitelist.0 = mail*
        [serverClass:by_name]
        whitelist.from_pathname = $SPLUNK_HOME/etc/lists/hosts.csv
        whitelist.select_field = host
        whitelist.where_field = Tier
        whitelist.where_equals = web*, nothing
        [serverClass:by_number]
        whitelist.from_pathname = etc/lists/plain.csv
        whitelist.select_field = 2
        whitelist.where_field = 1
        whitelist.where_equals = db
        [serverClass:wrong_case]
        whitelist.from_pathname = etc/lists/hosts.csv
        whitelist.select_field = Host
    """
    files = {
        "etc/lists/plain.txt": "\n  web-01  \n\n",
        "etc/lists/hosts.csv": "host,Tier\nweb-01,WEB-front\ndb-01,db\n",
        "etc/lists/plain.csv": "web,web-01\ndb,db-01\n",
    }
    resolution = resolve(conf, files=files)
    assert members(resolution, "plain") == {"web-01", "mail-01"}
    assert members(resolution, "by_name") == {"web-01"}
    assert members(resolution, "by_number") == {"db-01"}
    assert members(resolution, "wrong_case") == set()
    assert {r for (_, c), r in results(resolution).items() if c == "wrong_case"} == {"unknown"}
    entry = next(
        m for m in resolution.memberships if m.serverclass == "by_name"
    ).why.whitelist.entry
    assert entry is not None
    assert (entry.key, entry.evidence.file, entry.evidence.line) == (
        "whitelist.from_pathname",
        "etc/lists/hosts.csv",
        2,
    )


# "A file not in the bundle -> the class is unknown for every host it could change, finding
# UNRESOLVED_FROM_PATHNAME."
def test_from_pathname_missing_file_is_unknown() -> None:
    conf = """
        [serverClass:x]
        whitelist.from_pathname = etc/lists/gone.txt
        whitelist.0 = web*
        blacklist.0 = mail*
    """
    resolution = resolve(conf)
    assert results(resolution) == {("web-01", "x"): "member", ("db-01", "x"): "unknown"}
    unknown = next(m for m in resolution.memberships if m.host == "db-01")
    assert unknown.missing == ("from_pathname:etc/lists/gone.txt",)
    assert "UNRESOLVED_FROM_PATHNAME" in codes(resolution)


# "unknown when an attribute the host lacks (e.g. only its IP is known and a name pattern
# decides) [...] could change the outcome; why names what is missing. Never guess."
def test_three_states_missing_attribute() -> None:
    only_ip = host("only-ip", ip="10.1.2.3")
    only_name = Host("only-name", client_name="web-01", hostname="web-01", dns="web-01")
    resolution = resolve("[serverClass:web]\nwhitelist.0 = web*\n", [only_ip, only_name])
    assert results(resolution) == {("only-ip", "web"): "unknown", ("only-name", "web"): "member"}
    assert resolution.memberships[0].missing == ("client_name", "dns", "hostname")
    # an unknown ip cannot matter to `web*` (no IP holds a `w`), so only-name is decided
    resolution = resolve("[serverClass:net]\nwhitelist.0 = 10.*\n", [only_name])
    assert results(resolution) == {("only-name", "net"): "unknown"}
    assert resolution.memberships[0].missing == ("ip",)  # nor can a GUID hold a `.`


# Kleene logic: "F AND ? = F", "T OR ? = T".
def test_three_states_definite_answer_despite_unknown_list() -> None:
    # Both hosts lack client_name and dns, so a name pattern that misses their hostname is
    # unknown for them; a list that surely matches still decides.
    db = host("db", hostname="db-01")
    web = host("web", hostname="web-01")
    conf = """
        [serverClass:wl]
        whitelist.0 = web*
        blacklist.0 = db*
        [serverClass:bl]
        filterType = blacklist
        whitelist.0 = web*
        blacklist.0 = *-01
    """
    resolution = resolve(conf, [db, web], include_not_member=True)
    assert results(resolution) == {
        ("db", "wl"): "not_member",  # ? AND NOT T = F
        ("web", "wl"): "unknown",  # T AND NOT ? = ? (its unknown dns may be db-...)
        ("db", "bl"): "unknown",  # ? OR NOT T = ?
        ("web", "bl"): "member",  # T OR NOT T = T
    }


# "Safety. [...] treat a pattern RE2 cannot compile (backreferences, look-around) as unknown
# with a finding"
def test_unsafe_pattern_is_unknown_with_finding() -> None:
    conf = "[serverClass:x]\nwhitelist.0 = (web)\\1\nwhitelist.1 = db*\n"
    resolution = resolve(conf)
    assert results(resolution) == {
        ("web-01", "x"): "unknown",
        ("db-01", "x"): "member",
        ("mail-01", "x"): "unknown",
    }
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.UNSAFE_PATTERN]
    assert finding.subject == "serverClass:x whitelist.0"
    assert finding.evidence[0].line == 2


# "Why. Every decision records its evidence: the deciding entries (serverClass:X whitelist.2
# = web* matched hostname = web-01), the level each list came from (inherited from [global]
# or own), the filterType and its source, the version rule used."
def test_why_records_deciding_entry_level_and_filter_type_source() -> None:
    conf = """
        [global]
        blacklist.0 = mail*
        [serverClass:web]
        whitelist.2 = web*
    """
    resolution = resolve(conf, [host(hostname="web-01")])
    (membership,) = resolution.memberships
    why = membership.why
    assert why.whitelist.entry is not None
    entry = why.whitelist.entry
    assert (entry.stanza, entry.key, entry.pattern, entry.attribute.value, entry.value) == (
        "serverClass:web",
        "whitelist.2",
        "web*",
        "hostname",
        "web-01",
    )
    assert entry.evidence.line == 5
    assert (why.whitelist.stanza, why.whitelist.inherited) == ("serverClass:web", False)
    # the class defined a list, so the pair was replaced there: no blacklist inherited
    assert (why.blacklist.stanza, why.blacklist.inherited) == ("serverClass:web", False)
    assert (why.filter_type.value, why.filter_type.source) == (FilterType.WHITELIST, "default")
