"""RESOLVER.md §2, host identity: one test per rule, the spec's words in a comment.

merge_identities takes Records in source order (inventory rows, instance trees, literal
entries); instance_record and literal_record make them from a bundle and an entry.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.resolve.estate import Bundle
from daemon.resolve.identity import (
    Identities,
    Record,
    instance_record,
    literal_record,
    merge_identities,
)
from daemon.resolve.resolver import instance_role
from daemon.resolve.types import Evidence
from tests.unit.resolve.test_estate_hostile import GUID_1, GUID_2, conf_file

INVENTORY, INSTANCE, LITERAL = "inventory:run 2 row 1", "instance_etc:run 3", "whitelist:run 1"


def merged(*records: Record) -> Identities:
    return merge_identities(records)


def names(identities: Identities) -> list[str]:
    return sorted(h.name for h in identities.hosts)


def messages(identities: Identities) -> list[str]:
    return [f.message for f in identities.findings]


def test_merge_on_guid_first() -> None:
    # "Merge on guid, then clientName, ..." — a guid names one instance whatever else differs.
    result = merged(
        Record(INVENTORY, client_name="web01", guid=GUID_1),
        Record(INSTANCE, hostname="renamed", guid=GUID_1.upper()),
    )
    (host,) = result.hosts
    assert host.values == {"client_name": "web01", "guid": GUID_1, "hostname": "renamed"}
    assert host.sources == [INVENTORY, INSTANCE]


def test_merge_on_client_name_then_hostname_then_ip() -> None:
    # "... then clientName, then lower-cased hostname ..., then ip."
    result = merged(
        Record(INVENTORY, client_name="c1", hostname="h1", ip="10.0.0.1"),
        Record(INSTANCE, client_name="C1"),
        Record(LITERAL, hostname="H1"),
        Record(LITERAL, ip="10.0.0.1"),
    )
    assert len(result.hosts) == 1
    assert len(result.hosts[0].sources) == 4
    assert result.findings == ()


def test_a_short_hostname_matches_the_fqdn_whose_first_label_it_is_either_way_round() -> None:
    # "lower-cased hostname (short name = first label of an FQDN also matches)"
    short_first = merged(
        Record(INVENTORY, client_name="web01", hostname="web01"),
        Record(LITERAL, hostname="WEB01.example.com"),
    )
    fqdn_first = merged(
        Record(INVENTORY, client_name="web01", hostname="web01.example.com"),
        Record(LITERAL, hostname="web01"),
    )
    for result, kept in ((short_first, "web01"), (fqdn_first, "web01.example.com")):
        (host,) = result.hosts
        assert host.values["hostname"] == kept
        assert result.findings == ()  # the same name written two ways is no conflict


def test_a_short_hostname_shared_by_several_fqdns_merges_with_none_and_says_so() -> None:
    # Matching is for "the" FQDN of a short name: two candidates are a finding, not a guess.
    result = merged(
        Record(INVENTORY, client_name="a", hostname="web01.a.example.com"),
        Record(INVENTORY, client_name="b", hostname="web01.b.example.com"),
        Record(LITERAL, hostname="web01"),
    )
    assert names(result) == ["a", "b", "web01"]
    (message,) = messages(result)
    assert "several hosts (a, b)" in message


def test_sources_that_disagree_keep_the_inventory_value_and_record_a_finding() -> None:
    # "Two sources that disagree on a field: keep the inventory's, record a finding."
    result = merged(
        Record(INVENTORY, client_name="web01", ip="10.0.0.1", splunk_version="9.2.1"),
        Record(INSTANCE, client_name="web01", splunk_version="9.4.0"),
    )
    (host,) = result.hosts
    assert host.values["splunk_version"] == "9.2.1"
    (message,) = messages(result)
    assert message == f"{INSTANCE} says splunk_version = '9.4.0'; {INVENTORY} says '9.2.1' (kept)"


def test_two_guids_behind_one_client_name_are_two_hosts_with_a_finding_and_two_names() -> None:
    # "Conflicts are findings, never silent merges" (issue 10): a guid names an instance.
    result = merged(
        Record(INVENTORY, client_name="web", guid=GUID_1),
        Record("inventory:run 2 row 2", client_name="web", guid=GUID_2),
    )
    assert names(result) == ["web", f"web [{GUID_2}]"]
    (message,) = messages(result)
    assert "kept apart" in message


def test_an_alias_never_takes_a_name_another_host_has_in_any_case() -> None:
    # A name identifies one host in the results; names are looked up case-insensitively.
    result = merged(
        Record(INVENTORY, client_name=f"WEB [{GUID_2}]"),
        Record(INVENTORY, client_name="web", guid=GUID_1),
        Record(INVENTORY, client_name="Web", guid=GUID_2),
    )
    found = [h.name.lower() for h in result.hosts]
    assert len(found) == len(set(found)) == 3


def test_literal_entries_are_classified_as_ip_guid_or_name_and_patterns_make_no_host() -> None:
    # "literal whitelist/blacklist entries (no `*` and no regex characters but `.`) classified
    # as IP, GUID or name — patterns never create hosts."
    where = Evidence("etc/system/local/serverclass.conf", 3, run=1)
    ip = literal_record("10.1.2.3", "ds1", where)
    guid = literal_record(GUID_1, "ds1", where)
    name = literal_record("web01.example.com", "ds1", where)
    assert ip is not None and (ip.ip, ip.hostname) == ("10.1.2.3", None)
    assert guid is not None and (guid.guid, guid.hostname) == (GUID_1, None)
    assert name is not None and name.hostname == "web01.example.com"
    for pattern in ("web*", "web-\\d+", "web0[12]", "(web|db)01", "web?"):
        assert literal_record(pattern, "ds1", where) is None, pattern


def test_an_instance_names_itself_by_server_name_else_by_its_label() -> None:
    # "`instance_etc` runs (`server.conf [general] serverName` as hostname, the label as
    # hostname when nothing else)"; guid from etc/instance.cfg, machine type from PLATFORM.
    server = conf_file(
        "[general]\nserverName = idx01\n",
        "etc/system/local/server.conf",
        run=3,
        conf_type="server",
    )
    cfg = conf_file(
        f"[general]\nguid = {GUID_1}\n", "etc/instance.cfg", run=3, conf_type="instance.cfg"
    )
    version = conf_file(
        "[default]\nVERSION = 9.4.3\nPLATFORM = Linux-x86_64\n",
        "etc/splunk.version",
        run=3,
        conf_type="splunk.version",
    )
    named = instance_record(Bundle(3, "instance_etc", "label", (server, cfg, version)), "uf", None)
    assert (named.hostname, named.guid) == ("idx01", GUID_1)
    assert (named.machine_type, named.splunk_version) == ("linux-x86_64", "9.4.3")
    bare = instance_record(Bundle(4, "instance_etc", "label", ()), None, None)
    assert bare.hostname == "label"


def _instance(*files: tuple[str, str, str], dirs: tuple[str, ...] = ()) -> Bundle:
    """An instance tree from (path, conf type, text), app and scope taken from the path."""
    confs = []
    for path, conf_type, text in files:
        parts = path.split("/")
        app = parts[2] if parts[1] == "apps" else None
        layer = "app" if app else "system"
        made = conf_file(text, path, run=3, conf_type=conf_type, layer=layer, scope=parts[-2])
        confs.append(replace(made, app=app))
    return Bundle(3, "instance_etc", "h", tuple(confs), frozenset(dirs))


def test_role_from_the_apps_an_instance_has() -> None:
    # "Role from the apps an instance has (`SplunkUniversalForwarder` → uf, `SplunkForwarder`
    # enabled → hf, indexes defined + splunktcp input → indexer, `serverclass.conf` → ds)"
    uf = _instance(dirs=("etc/apps/SplunkUniversalForwarder",))
    hf = _instance(dirs=("etc/apps/SplunkForwarder",))
    hf_disabled = _instance(
        ("etc/apps/SplunkForwarder/local/app.conf", "app", "[install]\nstate = disabled\n"),
        # another app's state says nothing of SplunkForwarder's
        ("etc/apps/nix/local/app.conf", "app", "[install]\nstate = enabled\n"),
        dirs=("etc/apps/SplunkForwarder",),
    )
    hf_other_disabled = _instance(
        ("etc/apps/aaa/local/app.conf", "app", "[install]\nstate = disabled\n"),
        dirs=("etc/apps/SplunkForwarder",),
    )
    indexer = _instance(
        ("etc/system/local/indexes.conf", "indexes", "[web]\nhomePath = $SPLUNK_DB/web/db\n"),
        ("etc/system/local/inputs.conf", "inputs", "[splunktcp://9997]\n"),
    )
    indexes_only = _instance(
        ("etc/system/local/indexes.conf", "indexes", "[web]\nhomePath = $SPLUNK_DB/web/db\n"),
    )
    ds = _instance(("etc/system/local/serverclass.conf", "serverclass", "[global]\n"))
    assert instance_role(uf) == "uf"
    assert instance_role(hf) == "hf"
    assert instance_role(hf_disabled) is None
    assert instance_role(hf_other_disabled) == "hf"
    assert instance_role(indexer) == "indexer"
    assert instance_role(indexes_only) is None
    assert instance_role(ds) == "ds"


def test_a_literal_name_joins_the_host_whose_client_name_or_dns_it_is() -> None:
    # Literal entries are matched by the DS against clientName, hostname and dns (§3), so a
    # literal that is a host's clientName names that host, not a second one; it adds no
    # hostname to it (the literal says which host, not which attribute).
    where = Evidence("etc/system/local/serverclass.conf", 3, run=1)
    by_client = literal_record("sh1", "ds1", where)
    by_dns = literal_record("sh2.example.com", "ds1", where)
    assert by_client is not None and by_dns is not None
    result = merged(
        Record(INVENTORY, client_name="sh1", ip="10.0.0.1"),
        Record("inventory:run 2 row 2", client_name="other", dns="sh2.example.com"),
        by_client,
        by_dns,
    )
    assert names(result) == ["other", "sh1"]
    assert all("hostname" not in h.values for h in result.hosts)
    assert result.findings == ()


def test_no_role_from_the_shipped_splunktcp_stanza_or_a_disabled_receiver() -> None:
    # "indexes defined + splunktcp input → indexer": every instance's system/default has a
    # bare [splunktcp] stanza, which is no input; a disabled one receives nothing.
    index = ("etc/apps/web/local/indexes.conf", "indexes", "[web]\nhomePath = $SPLUNK_DB/web\n")
    shipped = ("etc/system/default/inputs.conf", "inputs", "[splunktcp]\nroute = x\n")
    disabled = ("etc/system/local/inputs.conf", "inputs", "[splunktcp://9997]\ndisabled = 1\n")
    ssl = ("etc/system/local/inputs.conf", "inputs", "[splunktcp-ssl:9997]\n")
    assert instance_role(_instance(index, shipped)) is None
    assert instance_role(_instance(index, disabled)) is None
    assert instance_role(_instance(index, ssl)) == "indexer"


def test_a_cluster_peer_that_receives_is_an_indexer() -> None:
    # A peer's indexes come in the bundle its manager pushes (etc/peer-apps, formerly
    # etc/slave-apps), which is not parsed: its splunktcp input and that folder make it one.
    receives = ("etc/system/local/inputs.conf", "inputs", "[splunktcp://9997]\n")
    assert instance_role(_instance(receives, dirs=("etc/peer-apps/idx_base",))) == "indexer"
    assert instance_role(_instance(receives, dirs=("etc/slave-apps/idx_base",))) == "indexer"
    assert instance_role(_instance(receives)) is None
