"""PropsIndex and PatternMatcher (daemon/resolve/props.py): a props.conf selects the same
keys through a matcher shared with other props.conf files as through its own, and a matcher
that lacks some of its patterns is never trusted for it."""

from __future__ import annotations

from daemon.resolve.layers import EffectiveConf, LayerKind, Origin, effective, layer_from_rows
from daemon.resolve.props import Event, PatternMatcher, PropsIndex

EVENTS = [
    Event(None, "/var/log/nginx/access.log", "web01"),
    Event(None, "/var/log/messages", "WEB02"),
    Event("syslog", "/opt/x", "db01"),
    Event(None, None, None),
]


def _props(app: str, *extra: tuple[str, dict[str, str]]) -> EffectiveConf:
    origin = Origin(LayerKind.APP_DEFAULT, app, f"etc/apps/{app}/default/props.conf", 1)
    stanzas = [
        ("source::/var/log/...", {"sourcetype": "syslog"}),
        ("source::/var/log/nginx/*.log", {"priority": "50"}),
        ("host::WEB*", {"TRANSFORMS-a": "t1"}),
        *extra,
    ]
    rows = [
        (name, 10 * n, values, [[k, v, 10 * n + 1 + i] for i, (k, v) in enumerate(values.items())])
        for n, (name, values) in enumerate(stanzas)
    ]
    return effective("props", [layer_from_rows(origin, rows)])


def test_a_shared_matcher_selects_what_each_props_conf_alone_selects() -> None:
    one = _props("a", ("source::/opt/*", {"TZ": "UTC"}))
    other = _props("b", ("host::db*", {"TZ": "CET"}), ("source::/var/log/messages", {"k": "v"}))
    shared = PatternMatcher([one, other])
    for props in (one, other):
        together, alone = PropsIndex(props, shared), PropsIndex(props)
        for event in EVENTS:
            selected = together.select(event)
            assert selected == alone.select(event), event
            for value in selected.values():
                assert together.where(value) == alone.where(value)
    assert sorted(PropsIndex(other, shared).select(EVENTS[1])) == [
        "TRANSFORMS-a",
        "k",
        "sourcetype",
    ]


def test_a_matcher_that_lacks_a_props_confs_patterns_is_not_used_for_it() -> None:
    unseen = _props("c", ("source::/srv/...", {"TZ": "X"}))
    index = PropsIndex(unseen, PatternMatcher([_props("a")]))
    assert index.select(Event(None, "/srv/app.log", None))["TZ"].value == "X"


def test_patterns_over_several_sets_all_match() -> None:
    many = [(f"source::/logs/{n:04d}/*.log", {"N": str(n)}) for n in range(2_500)]
    props = _props("a", *many)
    index = PropsIndex(props, PatternMatcher([props]))
    for n in (0, 999, 1_000, 2_499):
        assert index.select(Event(None, f"/logs/{n:04d}/x.log", None))["N"].value == str(n)
    assert "N" not in index.select(Event(None, "/logs/2500/x.log", None))


def test_a_set_of_long_ordinary_patterns_is_split_until_re2_takes_it_not_matched_one_by_one() -> (
    None
):
    # 1,000 patterns of ~120 characters (long application paths): together over RE2's
    # memory budget, each far under it (review of issue 11).
    names = [(f"source::/opt/app{i}/{'d' * 100}/*.log", {"N": str(i)}) for i in range(1_000)]
    props = _props("a", *names)
    matcher = PatternMatcher([props])
    kinds = [type(compiled).__name__ for _kept, compiled in matcher._sets[0]]
    assert "_OneByOne" not in kinds and len(kinds) > 1
    index = PropsIndex(props, matcher)
    assert index.select(Event(None, f"/opt/app999/{'d' * 100}/x.log", None))["N"].value == "999"


def test_good_patterns_next_to_refused_and_huge_ones_still_match() -> None:
    huge = "..." + "(a|b)" * 3000  # RE2 refuses it (over its memory budget)
    props = _props(
        "a",
        ("source::/var/(log", {"K": "refused"}),
        ("source::" + huge, {"K": "huge"}),
        ("source::/var/log/*.log", {"K": "good"}),
        ("host::web*", {"H": "lower"}),
    )
    matcher = PatternMatcher([props])
    assert matcher.matching(0, "/var/log/a.log") == {"/var/log/*.log", "/var/log/..."}
    assert matcher.matching(1, "WEB01") == {"WEB*", "web*"}  # host patterns ignore case
    assert matcher.matching(0, "/VAR/log/a.log") == set()  # source patterns do not


def test_one_props_conf_looks_up_only_its_own_matching_patterns() -> None:
    # 2,000 props.conf, each its own [host::*|h<n>] matching every host: selecting for one
    # must not walk the 2,000 estate-wide matches (quadratic in the hosts).
    confs = [_props(f"app{n}", (f"host::*|h{n}", {"N": str(n)})) for n in range(2_000)]
    matcher = PatternMatcher(confs)
    looked: list[str] = []

    class Counting(dict):  # type: ignore[type-arg]
        def __getitem__(self, key: str) -> object:
            looked.append(key)
            return super().__getitem__(key)

        def get(self, key: str, default: object = None) -> object:
            looked.append(key)
            return super().get(key, default)

    mine = confs[7]
    object.__setattr__(mine, "stanzas", Counting(mine.stanzas))
    assert PropsIndex(mine, matcher).select(Event(None, None, "web01"))["N"].value == "7"
    assert sum(1 for key in looked if key.startswith("host::")) <= 10  # 2 own, not 2,000
