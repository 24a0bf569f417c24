"""PropsIndex (daemon/resolve/props.py): selections are the same whether its compiled RE2
sets are kept or released between events (the data paths keep only the most recent ones)."""

from __future__ import annotations

from daemon.resolve.layers import LayerKind, Origin, effective, layer_from_rows
from daemon.resolve.props import Event, PropsIndex


def _props() -> PropsIndex:
    origin = Origin(LayerKind.APP_DEFAULT, "web", "etc/apps/web/default/props.conf", 1)
    rows = [
        ("source::/var/log/...", 1, {"sourcetype": "syslog"}, [["sourcetype", "syslog", 2]]),
        ("source::/var/log/nginx/*.log", 3, {"priority": "50"}, [["priority", "50", 4]]),
        ("host::WEB*", 5, {"TRANSFORMS-a": "t1"}, [["TRANSFORMS-a", "t1", 6]]),
    ]
    return PropsIndex(effective("props", [layer_from_rows(origin, rows)]))


def test_a_released_index_selects_what_a_kept_one_does_and_still_knows_where_values_came_from() -> (
    None
):
    kept, released = _props(), _props()
    first = Event(None, "/var/log/nginx/access.log", "web01")
    later = Event(None, "/var/log/messages", "WEB02")
    before = released.select(first)
    released.release()
    assert released.select(later) == kept.select(later)
    assert released.select(first) is before  # remembered, not selected again
    assert before == kept.select(first)
    assert sorted(before) == ["TRANSFORMS-a", "priority", "sourcetype"]
    assert released.where(before["sourcetype"]) == ("source::/var/log/...", "sourcetype")
    assert released.where(before["TRANSFORMS-a"]) == ("host::WEB*", "TRANSFORMS-a")
