"""daemon.docs.diff's rules over hand-made views, and the change-ticket text of a diff."""

from __future__ import annotations

from daemon.docs.diff import (
    EMPTY,
    FindingView,
    HostView,
    InputStanza,
    ResolutionView,
    app_contents,
    diff,
    final_indexes,
    host_change,
    inputs_change,
)
from daemon.docs.ticket import LINES_SHOWN, NAMES_SHOWN, group_hosts, to_text

SHIPPED = InputStanza({"host": "$decideOnStartup"}, configured=False)


def view(rid: int | None, hosts: dict[str, HostView], **kw: object) -> ResolutionView:
    return ResolutionView(rid, hosts, kw.get("apps", {}), kw.get("findings", ()))  # type: ignore[arg-type]


def test_an_unchanged_host_is_left_out_and_a_changed_one_lists_only_what_changed() -> None:
    inputs = {"default": SHIPPED, "monitor:///a": InputStanza({"index": "a"})}
    same = HostView(frozenset({"web"}), frozenset({"nix"}), inputs, {"monitor:///a": ("a",)})
    moved = HostView(frozenset({"web", "db"}), frozenset(), inputs, {"monitor:///a": ("a",)})
    found = diff(view(1, {"h1": same, "h2": same}), view(2, {"h1": same, "h2": moved}))
    assert (found["from"], found["to"]) == (1, 2)
    [entry] = found["hosts"]
    assert entry == {
        "host": "h2",
        "change": "changed",
        "serverclasses_added": ["db"],
        "serverclasses_removed": [],
        "apps_added": [],
        "apps_removed": ["nix"],
        "inputs_added": [],
        "inputs_removed": [],
        "inputs_changed": [],
        "paths_changed": [],
    }


def test_inputs_change_gives_each_key_with_null_where_it_is_not_set() -> None:
    old = {"monitor:///a": InputStanza({"index": "a", "sourcetype": "x"}), "gone": InputStanza({})}
    new = {"monitor:///a": InputStanza({"index": "b", "crcSalt": "s"}), "new": InputStanza({})}
    added, removed, changed = inputs_change(old, new)
    assert (added, removed) == (["new"], ["gone"])
    assert changed == [
        {"input": "monitor:///a", "key": "crcSalt", "from": None, "to": "s"},
        {"input": "monitor:///a", "key": "index", "from": "a", "to": "b"},
        {"input": "monitor:///a", "key": "sourcetype", "from": "x", "to": None},
    ]


def test_a_host_added_lists_its_configured_inputs_not_the_shipped_defaults_nor_paths() -> None:
    host = HostView(
        frozenset({"all"}),
        frozenset({"base"}),
        {"default": SHIPPED, "monitor:///a": InputStanza({"index": "a"})},
        {"monitor:///a": ("a",)},
    )
    added = host_change("h", None, host)
    removed = host_change("h", host, None)
    assert added is not None and removed is not None
    assert (added["change"], added["inputs_added"], added["paths_changed"]) == (
        "added",
        ["monitor:///a"],
        [],
    )
    assert (removed["change"], removed["serverclasses_removed"], removed["inputs_removed"]) == (
        "removed",
        ["all"],
        ["monitor:///a"],
    )


def test_a_disabled_input_added_or_removed_is_not_listed_but_turning_it_off_is_a_change() -> None:
    off = InputStanza({"disabled": "true", "index": "a"})
    on = InputStanza({"disabled": "0", "index": "a"})
    added, removed, changed = inputs_change({"gone": off, "x": on}, {"new": off, "x": off})
    assert (added, removed) == ([], [])
    assert changed == [{"input": "x", "key": "disabled", "from": "0", "to": "true"}]
    assert inputs_change({}, {"new": on})[0] == ["new"]


def test_paths_change_compares_the_sets_of_final_indexes_and_an_input_without_a_path() -> None:
    old = HostView(finals={"a": ("main",), "b": final_indexes(["x", "y", "x"]), "c": ("c",)})
    new = HostView(finals={"a": ("main",), "b": final_indexes(["y", None]), "d": ("d",)})
    entry = host_change("h", old, new)
    assert entry is not None
    assert entry["paths_changed"] == [
        {"input": "b", "from": ["x", "y"], "to": ["y", None]},
        {"input": "c", "from": ["c"], "to": []},
        {"input": "d", "from": [], "to": ["d"]},
    ]


def test_hosts_of_one_stack_share_their_inputs_comparison() -> None:
    old = {"s": InputStanza({"k": "1"})}
    new = {"s": InputStanza({"k": "2"})}
    compared: dict[tuple[int, int], object] = {}
    first = inputs_change(old, new, compared)
    assert inputs_change(old, new, compared) is first
    assert len(compared) == 1


def test_app_changes_by_file_stanza_and_key_and_apps_added_or_removed_whole() -> None:
    old = {
        "web": {
            "local/inputs.conf": {"monitor:///a": {"index": "a"}, "old": {}},
            "default/app.conf": {"launcher": {"version": "1"}},
            "gone.conf": {"x": {}},
        },
        "same": {"default/app.conf": {"launcher": {"version": "1"}}},
        "dropped": {"default/app.conf": {"launcher": {}}},
    }
    new = {
        "web": {
            "local/inputs.conf": {"monitor:///a": {"index": "b"}, "new": {"k": "v"}},
            "default/app.conf": {"launcher": {"version": "1"}},
            "new.conf": {"y": {}},
        },
        "same": {"default/app.conf": {"launcher": {"version": "1"}}},
        "fresh": {"default/inputs.conf": {"s": {}}},
    }
    found = diff(view(1, {}, apps=old), view(2, {}, apps=new))["apps"]
    assert [(a["app"], a["change"]) for a in found] == [
        ("dropped", "removed"),
        ("fresh", "added"),
        ("web", "changed"),
    ]
    assert found[0]["files"] == [
        {
            "path": "default/app.conf",
            "stanzas_added": [],
            "stanzas_removed": ["launcher"],
            "keys_changed": [],
        }
    ]
    assert found[2]["files"] == [
        {"path": "gone.conf", "stanzas_added": [], "stanzas_removed": ["x"], "keys_changed": []},
        {
            "path": "local/inputs.conf",
            "stanzas_added": ["new"],
            "stanzas_removed": ["old"],
            "keys_changed": [{"stanza": "monitor:///a", "key": "index", "from": "a", "to": "b"}],
        },
        {"path": "new.conf", "stanzas_added": ["y"], "stanzas_removed": [], "keys_changed": []},
    ]


def test_an_app_file_is_named_by_its_repository_path_after_its_deployment_servers_label() -> None:
    files = [
        ("ds1", "nix", "etc/deployment-apps/nix/local/inputs.conf", {"s": {}}),
        ("ds2", "nix", "opt/splunk/etc/deployment-apps/nix/local/inputs.conf", {"t": {}}),
        ("ds1", "web", "etc/deployment-apps/web/local/inputs.conf", {}),
        ("", "web", "splunk/etc/deployment-apps/web/local/inputs.conf", {}),
    ]
    found = app_contents(files)
    # The folder the bundle was packed from does not count; a second DS holding an app
    # does not rename the first one's files (both would show as changed).
    assert sorted(found["nix"]) == ["ds1: nix/local/inputs.conf", "ds2: nix/local/inputs.conf"]
    assert sorted(found["web"]) == ["ds1: web/local/inputs.conf", "web/local/inputs.conf"]


def test_a_hosts_finding_is_the_same_by_code_host_and_subject_whatever_its_message() -> None:
    kept = FindingView("DANGLING_OUTPUT", "warning", "h1", "outputs:[tcpout:a]", "old words")
    reworded = FindingView("DANGLING_OUTPUT", "warning", "h1", "outputs:[tcpout:a]", "new")
    gone = FindingView("DANGLING_OUTPUT", "warning", "h2", "outputs:[tcpout:a]", "m")
    new = FindingView("DANGLING_OUTPUT", "warning", "h3", "outputs:[tcpout:a]", "m")
    found = diff(view(1, {}, findings=(kept, gone)), view(2, {}, findings=(reworded, new)))
    assert found["findings"] == {"new": [new.to_json()], "resolved": [gone.to_json()]}


def test_an_estate_finding_whose_count_changed_is_the_same_finding() -> None:
    before = FindingView(
        "DS_VERSION_DEPENDENT", "warning", None, "[serverClass:a:app:b]", "2 hosts"
    )
    after = FindingView("DS_VERSION_DEPENDENT", "warning", None, "[serverClass:a:app:b]", "3 hosts")
    found = diff(view(1, {}, findings=(before,)), view(2, {}, findings=(after,)))
    assert found["findings"] == {"new": [], "resolved": []}


def test_the_ticket_text_groups_hosts_with_the_same_change_and_says_when_nothing_changed() -> None:
    quiet = to_text(diff(EMPTY, EMPTY), "a -> b")
    assert quiet.splitlines() == [
        "Changes: a -> b",
        "hosts: 0 changed, 0 added, 0 removed; apps: none changed; findings: 0 new, 0 resolved",
        "",
        "No change: every host, app and finding is as it was.",
    ]
    names = [f"web{i:02}" for i in range(NAMES_SHOWN + 5)]
    host = HostView(frozenset({"web"}))
    found = diff(view(1, {}), view(2, {**{n: host for n in names}, "db": HostView()}))
    groups = group_hosts(found["hosts"])
    assert [len(hosts) for hosts, _entry in groups] == [1, NAMES_SHOWN + 5]
    text = to_text(found, "1 -> 2")
    assert "hosts: 0 changed, 26 added, 0 removed" in text
    assert f"{NAMES_SHOWN + 5} hosts: web00, web01," in text
    assert "and 5 more (--json lists them all) (added)" in text
    assert "  server classes   + web" in text


def test_the_ticket_text_shows_a_long_list_up_to_a_cap_and_says_how_many_more() -> None:
    many = LINES_SHOWN + 7
    inputs = {f"monitor:///var/log/{i:03}": InputStanza({"index": "a"}) for i in range(many)}
    before = HostView(inputs={"monitor:///gone": InputStanza({})})
    app_before = {"inputs.conf": {s: {"index": "a"} for s in inputs}}
    app_after = {"inputs.conf": {s: {"index": "b"} for s in inputs} | {"[new]": {}}}
    found = diff(
        view(1, {"h1": before}, apps={"web": app_before}),
        view(2, {"h1": HostView(inputs=inputs)}, apps={"web": app_after}),
    )
    lines = to_text(found, "1 -> 2").splitlines()
    # The host's inputs: LINES_SHOWN of those added, then the one removed all the same.
    assert (
        sum(
            line.endswith(("+ monitor:///var/log/000", "+ monitor:///var/log/024"))
            for line in lines
        )
        == 2
    )
    assert "monitor:///var/log/025" not in "".join(lines)
    assert lines.count("                   ... and 7 more (--json lists them all)") == 1
    assert any(line.endswith("- monitor:///gone") for line in lines)
    # The app's keys: LINES_SHOWN of them, the stanza added all the same.
    assert sum(line == "  +   index = b" for line in lines) == LINES_SHOWN
    assert "    ... and 7 more keys (--json lists them all)" in lines
    assert "  + [[new]]" in lines
    assert len(found["hosts"][0]["inputs_added"]) == many  # the JSON has them all
