"""A host's effective configuration for its page: each conf type of CONF_TYPES in btool's
`--debug` layout (daemon.resolve.btool), computed once per layer stack and shared by every
host that has the same one (most hosts of a large estate share a few stacks).

Stanzas that only the shipped system/default holds are the same on every host and make most
of a props.conf (~1,400 stanzas): a page lists them by count, `autodoc btool NAME CONF --debug`
prints them. Everything a host's own tree or its apps set is shown in full.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from daemon.conf.normalize import input_type, parse_bool
from daemon.docs.load import CONF_TYPES, Host, HostApp
from daemon.resolve.btool import render_btool
from daemon.resolve.estate import Bundle, ConfFile
from daemon.resolve.layers import (
    ConfLayer,
    EffectiveConf,
    EffectiveStanza,
    LayerKind,
    conf_layer,
    effective,
    host_files,
    is_live,
)


@dataclass(frozen=True, slots=True)
class ConfView:
    conf_type: str
    text: Markup  # btool --debug, escaped once for every page that shows it
    shown: int  # stanzas shown
    shipped_only: int  # stanzas left out: only the shipped system/default has them


@dataclass(frozen=True, slots=True)
class InputRow:
    stanza: str
    disabled: bool
    index: str | None
    sourcetype: str | None
    origin: str  # where the stanza's header comes from, e.g. app:nix/local


@dataclass(frozen=True, slots=True)
class HostConfig:
    confs: tuple[ConfView, ...]
    inputs: tuple[InputRow, ...]
    # What makes it: the deployment server's label, the host whose own etc/ tree it reads
    # (None: no tree of its own), the live apps the DS delivers.
    ds: str | None = None
    own: str | None = None
    apps: tuple[str, ...] = ()


class HostConfigs:
    """The effective configuration of hosts, computed once per (DS, own tree, live apps)."""

    def __init__(self, bundles: Sequence[Bundle], shipped: Sequence[ConfFile]) -> None:
        self._ds = {b.label or "": b for b in bundles if b.upload_type == "ds_etc"}
        self._instances = {b.run: b for b in bundles if b.upload_type == "instance_etc"}
        self._shipped = tuple(shipped)
        self._layers: dict[int, ConfLayer | None] = {}
        self._by_key: dict[tuple[object, ...], HostConfig] = {}
        self._views: dict[tuple[str, str], ConfView] = {}

    def of(self, host: Host, apps: Iterable[HostApp]) -> HostConfig:
        ds = self._ds.get(host.ds or "") or next(iter(self._ds.values()), None)
        instance = self._instances.get(host.instance_run or -1)
        deployed = [a for a in apps if a.result == "deployed"]
        live = frozenset(a.app for a in deployed if is_live(a.app, a.state, a.target, ds))
        key = (None if ds is None else ds.run, None if instance is None else instance.run, live)
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = dataclasses.replace(
                self._compute(ds, instance, live),
                ds=None if ds is None else ds.label or "",
                own=None if instance is None else instance.label or host.name,
                apps=tuple(sorted(live)),
            )
        return found

    def forget(self) -> None:
        """Drop the configurations computed so far (~200 KB of btool text a stack): a caller
        going through the hosts stack by stack calls it between stacks."""
        self._by_key.clear()
        self._views.clear()

    def _compute(
        self, ds: Bundle | None, instance: Bundle | None, live: frozenset[str]
    ) -> HostConfig:
        views = []
        inputs: tuple[InputRow, ...] = ()
        for conf_type in CONF_TYPES:
            files = host_files(conf_type, ds, instance, live, self._shipped)
            layers = [la for f in files if (la := self._layer(f)) is not None]
            if not layers:
                continue
            conf = effective(conf_type, layers)
            view = self._views.get((conf_type, conf.stack))
            if view is None:
                view = self._views[(conf_type, conf.stack)] = _view(conf)
            views.append(view)
            if conf_type == "inputs":
                inputs = _inputs(conf)
        return HostConfig(tuple(views), inputs)

    def _layer(self, file: ConfFile) -> ConfLayer | None:
        key = id(file)  # files are shared by every host that reads them
        if key not in self._layers:
            self._layers[key] = conf_layer(file)
        return self._layers[key]


def _shipped_only(stanza: EffectiveStanza) -> bool:
    if not _is_shipped(stanza.origin.kind, stanza.origin.run):
        return False
    return all(_is_shipped(v.origin.kind, v.origin.run) for v in stanza.settings.values())


def _is_shipped(kind: LayerKind, run: int | None) -> bool:
    return kind is LayerKind.SYSTEM_DEFAULT and run is None


def _view(conf: EffectiveConf) -> ConfView:
    kept = {n: s for n, s in conf.stanzas.items() if not _shipped_only(s)}
    shown = dataclasses.replace(conf, stanzas=kept)
    text = render_btool(shown, None, True) if kept else ""
    return ConfView(conf.conf_type, escape(text), len(kept), len(conf.stanzas) - len(kept))


def _inputs(conf: EffectiveConf) -> tuple[InputRow, ...]:
    rows = []
    for name, stanza in conf.stanzas.items():
        if input_type(name)[1] is None:
            continue  # [default], a global stanza: not an input
        disabled = stanza.settings.get("disabled")
        rows.append(
            InputRow(
                name,
                disabled is not None and parse_bool(disabled.value) is True,
                _value(stanza, "index"),
                _value(stanza, "sourcetype"),
                stanza.origin.label,
            )
        )
    return tuple(rows)


def _value(stanza: EffectiveStanza, key: str) -> str | None:
    found = stanza.settings.get(key)
    return None if found is None else found.value
