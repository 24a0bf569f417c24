"""Properties of a host's effective configuration over generated layer stacks (RESOLVER.md §4):
the result depends on the layers' precedence only, never on the order they are given in, and
agrees with a plain reading of the rules (a reference written the slow, obvious way). And
btool's text of any parsed file reads back as the same configuration."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.conf.parser import parse_text
from daemon.resolve.btool import effective_to_json, render_btool
from daemon.resolve.layers import (
    ConfLayer,
    LayerKind,
    LayerStanza,
    Origin,
    effective,
    layer_from_rows,
    layer_from_stanzas,
    stack_key,
)

APPS = ["9lives", "Alpha", "Zulu", "_base", "alpha", "app10", "app9", "\u00e9t\u00e9"]
STANZAS = ["default", "tcp", "tcp://9514", "monitor", "monitor:///x", "batch:///y", "x"]
KEYS = ["index", "host", "A", "_z", "k"]
VALUES = st.text(alphabet="ab \n", min_size=0, max_size=4).map(str.strip)


@st.composite
def layers(draw: st.DrawFn) -> list[ConfLayer]:
    """A stack: one file per (kind, app), as a host has it."""
    places = draw(
        st.sets(
            st.sampled_from(
                [(LayerKind.SYSTEM_LOCAL, None), (LayerKind.SYSTEM_DEFAULT, None)]
                + [
                    (kind, app)
                    for kind in (LayerKind.APP_LOCAL, LayerKind.APP_DEFAULT)
                    for app in APPS
                ]
            ),
            max_size=8,
        )
    )
    out = []
    for run, (kind, app) in enumerate(sorted(places, key=str)):
        where = "etc/system" if app is None else f"etc/apps/{app}"
        origin = Origin(kind, app, f"{where}/{kind.scope}/inputs.conf", run)
        names = draw(st.lists(st.sampled_from(STANZAS), unique=True, max_size=5))
        rows = []
        line = 1
        for name in names:
            keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=4))
            values = {key: draw(VALUES) for key in keys}
            occurrences = [
                [key, value, line + 1 + i] for i, (key, value) in enumerate(values.items())
            ]
            rows.append((name, line, values, occurrences))
            line += len(keys) + 1
        out.append(layer_from_rows(origin, rows))
    return out


def reference(conf_type: str, stack: list[ConfLayer]) -> dict[str, dict[str, tuple[str, str]]]:
    """stanza -> key -> (value, file), straight from the words of §4."""

    def rank(layer: ConfLayer) -> tuple[int, bytes]:
        order = [LayerKind.SYSTEM_LOCAL, LayerKind.APP_LOCAL, LayerKind.APP_DEFAULT]
        kind = layer.origin.kind
        position = order.index(kind) if kind in order else 3
        return position, (layer.origin.app or "").encode("utf-8")  # byte order of UTF-8

    in_order = sorted(stack, key=rank)

    def lookup(stanza: str, key: str) -> tuple[str, str] | None:
        for layer in in_order:  # highest first: the first that sets it wins
            found = layer.stanzas.get(stanza)
            if found is not None and key in found.settings:
                return found.settings[key].value, layer.origin.file
        return None

    names = {name for layer in stack for name in layer.stanzas}
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for name in names:
        chain = [name]
        scheme = name.split(":", 1)[0] if ":" in name else None
        if conf_type == "inputs" and scheme in ("tcp", "monitor") and scheme in names:
            chain.append(scheme)
        if name != "default":
            chain.append("default")
        keys = {k for layer in stack for s in chain for k in layer.stanzas.get(s, _EMPTY).settings}
        settings = {}
        for key in keys:
            for stanza in chain:  # the stanza on its own first, then [<type>], then [default]
                value = lookup(stanza, key)
                if value is not None:
                    settings[key] = value
                    break
        out[name] = settings
    return out


_EMPTY = LayerStanza(0, {})


@settings(max_examples=100, deadline=None)
@given(stack=layers(), conf_type=st.sampled_from(["inputs", "props"]), seed=st.integers())
def test_the_result_does_not_depend_on_the_order_layers_are_given_in(
    stack: list[ConfLayer], conf_type: str, seed: int
) -> None:
    shuffled = list(stack)
    random.Random(seed).shuffle(shuffled)
    one, other = effective(conf_type, stack), effective(conf_type, shuffled)
    assert one.stack == other.stack == stack_key(reversed(stack))
    assert one.layers == other.layers
    assert effective_to_json(one) == effective_to_json(other)
    assert render_btool(one, debug=True) == render_btool(other, debug=True)


@settings(max_examples=100, deadline=None)
@given(
    stacks=st.lists(layers(), min_size=1, max_size=4),
    conf_type=st.sampled_from(["inputs", "props"]),
    keep=st.lists(st.booleans(), min_size=16, max_size=16),
)
def test_stacks_merged_with_one_shared_memo_are_what_each_merged_alone_is(
    stacks: list[list[ConfLayer]], conf_type: str, keep: list[bool]
) -> None:
    # Stacks that share some layer objects (as a resolution's stacks share system/default
    # and the apps of the same deliveries), merged in turn with one memo (the resolver's).
    pool = [layer for stack in stacks for layer in stack]
    mixed = [
        [layer for layer, k in zip(pool, keep * (len(pool) // 16 + 1), strict=False) if k] + stack
        for stack in stacks
    ]
    mixed = [list({id(la): la for la in stack}.values()) for stack in mixed]
    shared: dict[tuple[object, ...], object] = {}
    for stack in mixed:
        kinds = {(la.origin.kind, la.origin.app) for la in stack}
        if len(kinds) != len(stack):  # one file per (kind, app), as a host has it
            continue
        alone = effective(conf_type, stack)
        together = effective(conf_type, stack, shared)  # type: ignore[arg-type]
        assert effective_to_json(together) == effective_to_json(alone)
        assert render_btool(together, debug=True) == render_btool(alone, debug=True)
        assert [s.inherits for s in together.stanzas.values()] == [
            s.inherits for s in alone.stanzas.values()
        ]


@settings(max_examples=100, deadline=None)
@given(stack=layers(), conf_type=st.sampled_from(["inputs", "props"]))
def test_the_result_is_what_the_rules_say(stack: list[ConfLayer], conf_type: str) -> None:
    conf = effective(conf_type, stack)
    got = {
        name: {key: (value.value, value.file) for key, value in stanza.settings.items()}
        for name, stanza in conf.stanzas.items()
    }
    assert got == reference(conf_type, stack)
    assert list(conf.stanzas) == sorted(conf.stanzas, key=lambda name: name.encode())
    for stanza in conf.stanzas.values():
        assert list(stanza.settings) == sorted(stanza.settings, key=lambda key: key.encode())


# The characters that make lines special: continuations, headers, comments, blanks.
CONF_TEXT = st.text(alphabet="ab =[]#;\\\n\t\r\x0b\u00e9", max_size=80)


@settings(max_examples=200, deadline=None)
@given(text=CONF_TEXT)
def test_btool_text_reads_back_as_the_same_configuration(text: str) -> None:
    origin = Origin(LayerKind.SYSTEM_LOCAL, None, "etc/system/local/x.conf")
    conf = effective("x", [layer_from_stanzas(origin, parse_text(text)[0])])
    plain = render_btool(conf)
    back, _ = parse_text(plain)
    assert {s.name: s.settings for s in back} == {
        name: {key: value.value for key, value in stanza.settings.items()}
        for name, stanza in conf.stanzas.items()
    }
    column = len("/opt/splunk/etc/system/local/x.conf ")
    debug = render_btool(conf, debug=True).split("\n")  # not splitlines(): values keep CRs
    assert "\n".join(line[column:] for line in debug) == plain


def test_one_memo_tells_apart_a_shared_stanza_under_different_defaults() -> None:
    # The same app layer in two stacks whose [default] differ: [x] merges to two stanzas.
    def at(kind: LayerKind, app: str | None, text: str, run: int) -> ConfLayer:
        where = "etc/system" if app is None else f"etc/apps/{app}"
        origin = Origin(kind, app, f"{where}/{kind.scope}/inputs.conf", run)
        return layer_from_stanzas(origin, parse_text(text)[0])

    app = at(LayerKind.APP_DEFAULT, "a", "[x]\nk = 1\n", 1)
    one = at(LayerKind.SYSTEM_LOCAL, None, "[default]\nhost = one\n", 2)
    other = at(LayerKind.SYSTEM_LOCAL, None, "[default]\nhost = other\n", 3)
    shared: dict[tuple[object, ...], object] = {}
    first = effective("inputs", [app, one], shared)  # type: ignore[arg-type]
    second = effective("inputs", [app, other], shared)  # type: ignore[arg-type]
    assert first.value("x", "host") == "one"
    assert second.value("x", "host") == "other"
    assert first.value("x", "k") == second.value("x", "k") == "1"
