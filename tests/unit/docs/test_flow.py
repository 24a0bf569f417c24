from __future__ import annotations

from daemon.docs.flow import FlowHost, FlowPath, build_flow
from daemon.docs.site import flow_urls


def _path(
    host: str, *hops: tuple[str, str | None], finals: tuple[tuple[str, str], ...] = ()
) -> FlowPath:
    return FlowPath(host, tuple(hops), finals)


def test_edges_are_weighted_by_the_inputs_that_take_them_and_hosts_sit_in_their_tier() -> None:
    hosts = [
        FlowHost("uf1", "uf", None),
        FlowHost("hf1", "hf", None),
        FlowHost("idx1", "indexer", None),
    ]
    paths = [
        _path("uf1", ("uf1", "hf1"), ("hf1", "idx1"), finals=(("web", "idx1"),)),
        _path("uf1", ("uf1", "hf1"), ("hf1", "idx1"), finals=(("os", "idx1"),)),
        _path("idx1", finals=(("_internal", "idx1"),)),  # indexed where it is read
    ]
    flow = build_flow(hosts, paths)
    columns = [[n.label for n in column] for column in flow.columns]
    assert columns == [["uf1"], ["hf1"], ["idx1"], ["_internal", "os", "web"]]
    weights = {(e.source.label, e.target.label): e.weight for e in flow.edges}
    assert weights == {
        ("uf1", "hf1"): 2,
        ("hf1", "idx1"): 2,
        ("idx1", "web"): 1,
        ("idx1", "os"): 1,
        ("idx1", "_internal"): 1,
    }
    heavy = next(e for e in flow.edges if e.weight == 2)
    light = next(e for e in flow.edges if e.weight == 1)
    assert heavy.width > light.width


def test_a_receiver_outside_the_estate_is_one_node() -> None:
    flow = build_flow([FlowHost("uf1", "uf", None)], [_path("uf1", ("uf1", None))])
    assert [(e.source.label, e.target.kind) for e in flow.edges] == [("uf1", "outside")]


def test_past_the_limit_forwarders_are_grouped_by_server_class_then_role() -> None:
    hosts = [FlowHost(f"uf{n:03d}", "uf", "web" if n % 2 else None) for n in range(120)]
    hosts.append(FlowHost("idx1", "indexer", None))
    paths = [_path(h.name, (h.name, "idx1"), finals=(("main", "idx1"),)) for h in hosts[:-1]]
    flow = build_flow(hosts, paths, limit=50)
    forwarders = flow.columns[0]
    assert sorted((n.kind, n.target, n.members) for n in forwarders) == [
        ("role", "uf", 60),
        ("serverclass", "web", 60),
    ]
    assert {e.weight for e in flow.edges if e.target.label == "idx1"} == {60}
    assert all(len(column) <= 50 for column in flow.columns)


def test_many_groups_and_indexes_stay_within_the_limit_with_an_other_node() -> None:
    hosts = [FlowHost(f"uf{n:03d}", "uf", f"class{n:03d}") for n in range(200)]
    hosts.append(FlowHost("idx1", "indexer", None))
    paths = [
        _path(h.name, (h.name, "idx1"), finals=((f"ix{i}", "idx1"),))
        for i, h in enumerate(hosts[:-1])
    ]
    flow = build_flow(hosts, paths, limit=50)
    assert all(len(column) <= 50 for column in flow.columns)
    assert any(n.kind == "other" for n in flow.columns[0])
    other = next(n for n in flow.columns[3] if n.kind == "other")
    assert other.members == 200 - 49
    # Every input is still counted: what enters the indexer leaves it.
    assert sum(e.weight for e in flow.edges if e.target.label == "idx1") == 200
    assert sum(e.weight for e in flow.edges if e.source.label == "idx1") == 200


def test_every_node_links_a_page_or_the_listing_that_holds_what_it_groups() -> None:
    hosts = [FlowHost(f"uf{n:03d}", "uf", "web" if n % 2 else None) for n in range(120)]
    hosts += [FlowHost(f"x{n:03d}", "uf", f"class{n:03d}") for n in range(60)]
    hosts.append(FlowHost("idx1", "indexer", None))
    paths = [
        _path(h.name, (h.name, "idx1"), finals=((f"ix{i}", "idx1"),))
        for i, h in enumerate(hosts[:-1])
    ]
    flow = build_flow(hosts, paths, limit=50)
    pages = {("host", "idx1"), ("serverclass", "web"), ("index", "ix0")}

    class Pages:  # daemon.docs.names.Names.hrefer's contract: a page's URL, or None
        def hrefer(self, root: str):  # type: ignore[no-untyped-def]
            return lambda kind, name: f"{kind}/{name}.html" if (kind, name) in pages else None

    urls = flow_urls(flow, Pages())  # type: ignore[arg-type]
    by_label = {n.label: urls.get(n.key) for n in flow.nodes}
    assert by_label["idx1"] == "host/idx1.html"
    assert by_label["web (60)"] == "serverclass/web.html"
    assert by_label["role uf (60)"] == "hosts.html#filter=uf"
    assert by_label["ix0"] == "index/ix0.html"
    others = [n for n in flow.nodes if n.kind == "other"]
    assert {urls[n.key] for n in others} == {"hosts.html", "indexes.html"}
