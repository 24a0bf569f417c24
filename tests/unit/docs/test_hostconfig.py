"""The host page's inputs table (daemon.docs.hostconfig): every input stanza, its disabled
flag read as Splunk reads a boolean (the diff and the data paths read it the same way)."""

from __future__ import annotations

from daemon.docs.hostconfig import _inputs
from daemon.resolve.layers import (
    EffectiveConf,
    EffectiveStanza,
    EffectiveValue,
    LayerKind,
    Origin,
)

ORIGIN = Origin(LayerKind.SYSTEM_LOCAL, None, "etc/system/local/inputs.conf")


def _stanza(name: str, **settings: str) -> EffectiveStanza:
    values = {k: EffectiveValue(v, 1, ORIGIN) for k, v in sorted(settings.items())}
    return EffectiveStanza(name, ORIGIN, 1, values)


def test_every_input_stanza_is_a_row_and_disabled_reads_as_splunk_reads_it() -> None:
    stanzas = [
        _stanza("default", index="main"),
        _stanza("monitor:///var/log/a", disabled="yes"),
        _stanza("tcp-ssl:9997", disabled="0"),
        _stanza("fschange:/etc", disabled="True"),
        _stanza("splunktcp://9997"),
        _stanza("udp:514", disabled="no"),
        _stanza("SSL", password="x"),  # a global stanza: not an input
    ]
    conf = EffectiveConf("inputs", "s", (ORIGIN,), {s.name: s for s in stanzas})
    assert [(r.stanza, r.disabled) for r in _inputs(conf)] == [
        ("monitor:///var/log/a", True),
        ("tcp-ssl:9997", False),
        ("fschange:/etc", True),
        ("splunktcp://9997", False),
        ("udp:514", False),
    ]
