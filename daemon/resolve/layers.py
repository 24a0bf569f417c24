"""A host's effective configuration of one conf type, btool offline (RESOLVER.md §4): the conf
files the host has, one `ConfLayer` each, in; every stanza merged by precedence, with the
origin of every value, out. Pure: plain data in, plain data out.

One rule, one function:

    precedence       system/local > every app's local > every app's default > system/default;
                     between apps, ASCII (UTF-8 byte) order of the directory name, first wins
    input_type       the `[<type>]` stanza an inputs.conf stanza inherits from
    effective        each stanza merged across layers on its own, then the keys it still lacks
                     filled from its `[<type>]` (inputs only), then from the merged `[default]`
    stack_key        what hosts with the same layer stack share, so they share one computation

A layer is built from what the caller holds: `layer_from_rows` (the database's `stanzas`
rows), `layer_from_lines` (stanzas that know each key's line), `layer_from_stanzas` (the
parser's). `layer_kind` maps a stored file's (layer, scope) to its kind on the host.
`host_files` picks the stored files of one conf type a host reads (its own tree, the DS apps
it gets live, the shipped system/default) and `conf_layer` makes each a layer: the resolver
and `autodoc btool` share them.

Speed: a layer's values are `EffectiveValue` objects made once, when the layer is built (one
file's worth, shared by every host that has the file); merging a stack only moves references
between dicts, so 10,000 hosts cost one merge per distinct stack and no copies of values.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from daemon.resolve.locations import is_live_apps_directory

if TYPE_CHECKING:  # at run time only where needed: `autodoc btool` starts faster without them
    from daemon.conf.types import Stanza
    from daemon.resolve.estate import Bundle, ConfFile
    from daemon.resolve.types import Clue, Evidence

DEFAULT_STANZA = "default"

# The inputs.conf stanzas that sit between an input and [default] (RESOLVER.md §4). Splunk
# documents [tcp], [udp], [splunktcp], [script], [http] and [WinEventLog] as global stanzas
# of their input type; [monitor] is ours. Other schemes (batch, fschange, perfmon, modular
# inputs ...) get [default] only: nothing documents a [<scheme>] parent for them.
INPUT_TYPE_STANZAS = frozenset(
    {"tcp", "udp", "splunktcp", "script", "http", "WinEventLog", "monitor"}
)

# `<scheme>://...` or `<scheme>:...`; a scheme is what Splunk allows a modular input's
# (dev docs: "[0-9a-zA-Z][0-9a-zA-Z_-]*").
_SCHEME = re.compile(r"([0-9A-Za-z][0-9A-Za-z_-]*):")


class LayerKind(enum.StrEnum):
    """Where a conf file sits on the host, in global context; the value is the `layer` label
    of the output (the app, when there is one, is its own field)."""

    SYSTEM_LOCAL = "system/local"
    APP_LOCAL = "app/local"
    APP_DEFAULT = "app/default"
    SYSTEM_DEFAULT = "system/default"

    @property
    def rank(self) -> int:
        """0 for the highest precedence."""
        return _RANKS[self]

    @property
    def scope(self) -> str:
        """Either "local" or "default"."""
        return self.value.partition("/")[2]

    @property
    def in_app(self) -> bool:
        return self in (LayerKind.APP_LOCAL, LayerKind.APP_DEFAULT)


_RANKS = {kind: rank for rank, kind in enumerate(LayerKind)}


def layer_kind(layer: str | None, scope: str | None) -> LayerKind | None:
    """The kind of a stored file's provenance (`stanzas.layer`, `stanzas.scope`): an app from
    the DS repository is an app on the host. None for what global context does not read
    here (users, cluster bundles, unknown places)."""
    if scope not in ("local", "default"):
        return None
    if layer == "system":
        return LayerKind.SYSTEM_LOCAL if scope == "local" else LayerKind.SYSTEM_DEFAULT
    if layer in ("app", "deployment_app"):
        return LayerKind.APP_LOCAL if scope == "local" else LayerKind.APP_DEFAULT
    return None


@dataclass(frozen=True, slots=True)
class Origin:
    """One conf file of a host: its kind, its app (None for system), its path inside the
    bundle it was read from (e.g. `etc/deployment-apps/nix/default/inputs.conf`) and the run
    that stored it (None for data with no run, e.g. the shipped corpus)."""

    kind: LayerKind
    app: str | None
    file: str
    run: int | None = None

    def __post_init__(self) -> None:
        if self.kind.in_app != (self.app is not None):
            raise ValueError(f"{self.kind.value} layer with app={self.app!r}: {self.file}")

    @property
    def layer(self) -> str:
        return self.kind.value

    @property
    def scope(self) -> str:
        return self.kind.scope

    @property
    def label(self) -> str:
        """For people: "system/local", "app:Splunk_TA_nix/default"."""
        return self.kind.value if self.app is None else f"app:{self.app}/{self.kind.scope}"


@dataclass(frozen=True, slots=True)
class EffectiveValue:
    """A value and the line of the file (1-based; 0 when the line is unknown) it came from."""

    value: str
    line: int
    origin: Origin

    @property
    def file(self) -> str:
        return self.origin.file

    @property
    def layer(self) -> str:
        return self.origin.kind.value

    @property
    def scope(self) -> str:
        return self.origin.kind.scope

    @property
    def app(self) -> str | None:
        return self.origin.app

    @property
    def run(self) -> int | None:
        return self.origin.run

    def clue(self, conf: str, stanza: str, key: str) -> Clue:
        """This value as the evidence of a data path or check: conf, stanza, key, value and
        where it was written."""
        from daemon.resolve.types import Clue

        origin = self.origin
        layer = "app" if origin.kind.in_app else "system"
        return Clue(
            conf, stanza, key, self.value, origin.file, self.line, layer, origin.app, origin.run
        )

    def evidence(self) -> Evidence:
        """The resolver's evidence: layer "system" or "app" and the scope apart."""
        from daemon.resolve.types import Evidence

        origin = self.origin
        layer = "app" if origin.kind.in_app else "system"
        return Evidence(origin.file, self.line, layer, origin.app, origin.run, origin.scope)


@dataclass(frozen=True, slots=True)
class LayerStanza:
    line: int  # of the header; 0 for settings before any header (the implicit [default])
    settings: Mapping[str, EffectiveValue]


@dataclass(frozen=True, slots=True)
class ConfLayer:
    """One conf file of a host with its stanzas in file order."""

    origin: Origin
    stanzas: Mapping[str, LayerStanza]


@dataclass(frozen=True, slots=True)
class EffectiveStanza:
    name: str
    origin: Origin  # the highest layer whose file has this stanza: btool --debug's header
    line: int
    settings: Mapping[str, EffectiveValue]  # ASCII order of key
    inherits: tuple[str, ...] = ()  # the stanzas that filled missing keys, nearest first


@dataclass(frozen=True, slots=True)
class EffectiveConf:
    conf_type: str
    stack: str  # stack_key of the layers
    layers: tuple[Origin, ...]  # highest precedence first
    stanzas: Mapping[str, EffectiveStanza]  # ASCII order of name, [default] included

    def get(self, stanza: str, key: str) -> EffectiveValue | None:
        found = self.stanzas.get(stanza)
        return None if found is None else found.settings.get(key)

    def value(self, stanza: str, key: str) -> str | None:
        found = self.get(stanza, key)
        return None if found is None else found.value


# -- building layers ---------------------------------------------------------------------------

# A `stanzas` row as the loader selects it: name, line, settings {key: value} and occurrences
# [[key, value, line], ...] in file order (daemon.models.ConfStanza).
DbStanzaRow = tuple[str, int, Mapping[str, str], Sequence[Sequence[Any]]]


def layer_from_rows(origin: Origin, rows: Iterable[DbStanzaRow]) -> ConfLayer:
    """A layer from one conf file's `stanzas` rows, in `order_in_file`. A key's line is its
    last occurrence's: the one whose value won (occurrences are in file order)."""
    stanzas: dict[str, LayerStanza] = {}
    for name, line, settings, occurrences in rows:
        lines = {str(o[0]): int(o[2]) for o in occurrences}
        stanzas[name] = LayerStanza(line, _values(origin, settings, lines))
    return ConfLayer(origin, stanzas)


def layer_from_stanzas(origin: Origin, parsed: Iterable[Stanza]) -> ConfLayer:
    """A layer from daemon.conf.parser's stanzas of one file."""
    stanzas: dict[str, LayerStanza] = {}
    for stanza in parsed:
        lines = {o.key: o.line for o in stanza.occurrences}
        stanzas[stanza.name] = LayerStanza(stanza.line, _values(origin, stanza.settings, lines))
    return ConfLayer(origin, stanzas)


class LinedStanza(Protocol):
    """A stanza as a loader may hold it: settings and the line of each key's winning
    occurrence (any object with these attributes, e.g. a frozen dataclass)."""

    @property
    def name(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def settings(self) -> Mapping[str, str]: ...
    @property
    def lines(self) -> Mapping[str, int]: ...


def layer_from_lines(origin: Origin, stanzas: Iterable[LinedStanza]) -> ConfLayer:
    """A layer from stanzas that already know each key's line."""
    return ConfLayer(
        origin, {s.name: LayerStanza(s.line, _values(origin, s.settings, s.lines)) for s in stanzas}
    )


def _values(
    origin: Origin, settings: Mapping[str, str], lines: Mapping[str, int]
) -> dict[str, EffectiveValue]:
    return {
        key: EffectiveValue(value, lines.get(key, 0), origin) for key, value in settings.items()
    }


# -- a host's files ------------------------------------------------------------------------------


def host_files(
    conf_type: str,
    ds: Bundle | None,
    instance: Bundle | None,
    live_apps: Collection[str],
    system_default: Iterable[ConfFile],
) -> list[ConfFile]:
    """The conf files of one type a host reads (RESOLVER.md §4): its own tree's system and
    apps when it sent one (its copy of a DS app is what it runs), the DS's copy of each live
    app it gets and does not have yet, and the shipped system/default unless its tree has one."""
    files: list[ConfFile] = []
    own: set[str] = set()
    if instance is not None:
        files.extend(f for f in instance.conf(conf_type) if f.layer in ("system", "app"))
        own = instance_apps(instance)
    if not any(f.layer == "system" and f.scope == "default" for f in files):
        files.extend(f for f in system_default if f.conf_type == conf_type)
    if ds is not None:
        files.extend(
            f
            for f in ds.conf(conf_type)
            if f.layer == "deployment_app" and f.app in live_apps and f.app not in own
        )
    return files


def conf_layer(file: ConfFile) -> ConfLayer | None:
    """A stored file as a layer of a host; None for one a host does not read (user, cluster)."""
    kind = layer_kind(file.layer, file.scope)
    if kind is None:
        return None
    origin = Origin(kind, file.app if kind.in_app else None, file.path, file.run)
    return layer_from_lines(origin, file.stanzas)


def bundle_apps(bundle: Bundle, path: str) -> Collection[str] | None:
    """The app folders under `path` (from etc/ on) of a bundle, None when it has none."""
    prefix = path.rstrip("/") + "/"
    found = {d[len(prefix) :].split("/", 1)[0] for d in bundle.dirs if d.startswith(prefix)}
    found.update(
        f.path[len(prefix) :].split("/", 1)[0] for f in bundle.files if f.path.startswith(prefix)
    )
    found.discard("")
    return found or None


def instance_apps(bundle: Bundle) -> set[str]:
    """The apps an instance's own tree holds in etc/apps."""
    apps = set(bundle_apps(bundle, "etc/apps") or ())
    apps.update(f.app for f in bundle.files if f.layer == "app" and f.app)
    return apps


def install_state(bundle: Bundle, app: str, layer: str = "app") -> str | None:
    """`[install] state` of one app's app.conf in a bundle (layer "app" for an instance's
    etc/apps, "deployment_app" for a DS repository): its local over its default."""
    files = sorted(
        (f for f in bundle.conf("app") if f.layer == layer and f.app == app),
        key=lambda f: f.scope != "local",
    )
    for file in files:
        for row in file.stanzas:
            if row.name == "install" and "state" in row.settings:
                return row.settings["state"].strip()
    return None


def is_live(app: str, state: str | None, target: str | None, ds: Bundle | None) -> bool:
    """A delivered app is live configuration on its host (RESOLVER.md §3 Apps): it goes to
    the live apps folder and is enabled — stateOnClient `enabled` (or invalid: the default),
    or `noop` and the app's own app.conf [install] state (the DS's copy) is not disabled."""
    if state == "disabled" or not is_live_apps_directory(target or ""):
        return False
    if state == "noop" and ds is not None:
        return install_state(ds, app, "deployment_app") != "disabled"
    return True


# -- the rules ---------------------------------------------------------------------------------


def precedence(origin: Origin) -> tuple[int, str, str, int]:
    """Sort key, highest precedence first: kind, then the app's directory name. Python
    compares str by code point, which is UTF-8 byte order: digits < uppercase < `_` <
    lowercase, as Splunk's ASCII order. Two files of one kind and app (a caller's mistake)
    are ordered by path then run, so the result never depends on the order given."""
    return (
        origin.kind.rank,
        origin.app or "",
        origin.file,
        -1 if origin.run is None else origin.run,
    )


def ordered(layers: Iterable[ConfLayer]) -> list[ConfLayer]:
    """The layers highest precedence first."""
    return sorted(layers, key=_layer_precedence)


def _layer_precedence(layer: ConfLayer) -> tuple[int, str, str, int]:
    return precedence(layer.origin)


def stack_key(layers: Iterable[ConfLayer]) -> str:
    """sha256 hex of the layers' identity (kind, app, file, run) in precedence order: equal
    for hosts whose stacks hold the same files, whatever order they were listed in. A run's
    file never changes, so the identity stands for the content. Over one conf type's layers
    it keys that conf's computation; over all of a host's layers, the host's whole stack."""
    return _stack_key(ordered(layers))


def _stack_key(in_order: Sequence[ConfLayer]) -> str:
    identity = [[o.kind.value, o.app, o.file, o.run] for o in (layer.origin for layer in in_order)]
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()


def input_type(stanza: str) -> str | None:
    """The input type an inputs.conf stanza names: `monitor:///var/log` -> monitor,
    `tcp://9997` -> tcp, `WinEventLog://Security` -> WinEventLog, `udp:514` -> udp. TLS
    variants are their base type (`splunktcp-ssl:9997` -> splunktcp, `tcp-ssl:514` -> tcp):
    the spec sends their settings to the [splunktcp] stanza, and the shipped [splunktcp]
    `route` is what every S2S receiver uses. None for a name with no scheme ([default],
    [SSL], [tcp] itself)."""
    match = _SCHEME.match(stanza)
    if match is None:
        return None
    return match.group(1).removesuffix("-ssl")


def type_stanza(conf_type: str, stanza: str) -> str | None:
    """The `[<type>]` stanza between `stanza` and [default], inputs.conf only."""
    if conf_type != "inputs":
        return None
    kind = input_type(stanza)
    return kind if kind in INPUT_TYPE_STANZAS else None


# Merged stanzas shared between stacks (effective's `shared`): a stanza whose own layers and
# whose parents' layers are the same in two stacks merges to the same EffectiveStanza.
StanzaMemo = dict[tuple[object, ...], EffectiveStanza]


def effective(
    conf_type: str, layers: Iterable[ConfLayer], shared: StanzaMemo | None = None
) -> EffectiveConf:
    """The merged configuration of one conf type over one host's layers.

    `shared`, kept by a caller that merges many stacks of the same conf type, hands out one
    EffectiveStanza for every stack in which that stanza and its parents come from the same
    layers (most of a props.conf is the shipped system/default's, in every stack): the
    stacks then hold one copy, and the merge is done once. It is keyed by the layers' ids,
    so the caller keeps those layer objects alive as long as it keeps `shared`."""
    in_order = ordered(layers)
    return _merge(conf_type, in_order, _stack_key(in_order), shared)


def _merge(
    conf_type: str,
    in_order: Sequence[ConfLayer],
    stack: str,
    shared: StanzaMemo | None = None,
) -> EffectiveConf:
    # The layers that have each stanza, lowest first (a higher layer's update() overwrites).
    having: dict[str, list[tuple[ConfLayer, LayerStanza]]] = {}
    for layer in reversed(in_order):
        for name, stanza in layer.stanzas.items():
            found = having.get(name)
            if found is None:
                having[name] = [(layer, stanza)]
            else:
                found.append((layer, stanza))
    memo: StanzaMemo = {} if shared is None else shared
    own: dict[str, dict[str, EffectiveValue]] = {}

    def own_of(name: str) -> dict[str, EffectiveValue]:
        settings = own.get(name)
        if settings is None:
            settings = {}
            for _layer, stanza in having[name]:
                settings.update(stanza.settings)
            own[name] = settings
        return settings

    def layers_of(name: str) -> tuple[int, ...]:
        return tuple([id(layer) for layer, _stanza in having[name]])

    # Then what a stanza lacks from [<type>] and the merged [default]: never the other way
    # round, so `[x] k` in system/default beats `[default] k` in system/local. What each
    # chain of parents gives is merged and sorted once: a stanza's dict then starts as a
    # copy of it (cheap) and needs sorting again only when the stanza adds keys its parents
    # lack, as updating a key keeps its place.
    has_default = DEFAULT_STANZA in having
    bases: dict[tuple[str, ...], dict[str, EffectiveValue]] = {}
    parent_keys: dict[tuple[str, ...], tuple[object, ...]] = {}
    stanzas: dict[str, EffectiveStanza] = {}
    for name in sorted(having):
        parents: tuple[str, ...] = ()
        if name != DEFAULT_STANZA:
            parent = type_stanza(conf_type, name)
            if parent is not None and parent != name and parent in having:
                parents = (parent, DEFAULT_STANZA) if has_default else (parent,)
            elif has_default:
                parents = (DEFAULT_STANZA,)
        from_parents = parent_keys.get(parents)
        if from_parents is None:
            from_parents = parent_keys[parents] = tuple((p, layers_of(p)) for p in parents)
        key = (conf_type, name, layers_of(name), from_parents)
        merged = memo.get(key)
        if merged is None:
            settings = own_of(name)
            if parents:
                base = bases.get(parents)
                if base is None:
                    chain: dict[str, EffectiveValue] = {}
                    for parent in reversed(parents):
                        chain.update(own_of(parent))
                    base = bases[parents] = _sorted(chain)
                filled = dict(base)
                filled.update(settings)
                settings = filled if len(filled) == len(base) else _sorted(filled)
            else:
                settings = _sorted(settings)
            top_layer, top_stanza = having[name][-1]
            merged = EffectiveStanza(name, top_layer.origin, top_stanza.line, settings, parents)
            memo[key] = merged
        stanzas[name] = merged
    return EffectiveConf(conf_type, stack, tuple(layer.origin for layer in in_order), stanzas)


def _sorted(settings: dict[str, EffectiveValue]) -> dict[str, EffectiveValue]:
    keys = sorted(settings)  # str against str: timsort's fast path, unlike (key, value) pairs
    return {key: settings[key] for key in keys}


H = TypeVar("H", bound=Hashable)


def effective_for_hosts(
    conf_type: str, stacks: Mapping[H, Iterable[ConfLayer]]
) -> dict[H, EffectiveConf]:
    """Each host's effective conf; hosts with the same stack share one (the same object)."""
    done: dict[str, EffectiveConf] = {}
    out: dict[H, EffectiveConf] = {}
    for host, layers in stacks.items():
        in_order = ordered(layers)
        key = _stack_key(in_order)
        conf = done.get(key)
        if conf is None:
            conf = done[key] = _merge(conf_type, in_order, key)
        out[host] = conf
    return out
