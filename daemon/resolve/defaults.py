"""The product's shipped `etc/system/default` (Splunk 10.4.2, in system_default/ beside this
module): the bottom layer of every host that did not send its own (RESOLVER.md §4).

Parsed lazily, one conf type at a time (all 56 files take ~0.3 s; `btool` needs one).
"""

from __future__ import annotations

import functools
from importlib import resources

from daemon.conf.parser import parse_conf
from daemon.resolve.estate import ConfFile, StanzaRow


@functools.cache
def shipped_types() -> tuple[str, ...]:
    folder = resources.files(__package__).joinpath("system_default")
    return tuple(
        sorted(e.name.removesuffix(".conf") for e in folder.iterdir() if e.name.endswith(".conf"))
    )


@functools.cache
def shipped_conf(conf_type: str) -> ConfFile | None:
    """The shipped system/default file of that type, parsed once per process."""
    if conf_type not in shipped_types():
        return None
    name = f"{conf_type}.conf"
    parsed = parse_conf(resources.files(__package__).joinpath("system_default", name).read_bytes())
    return ConfFile(
        run=None,
        path=f"etc/system/default/{name}",
        conf_type=conf_type,
        layer="system",
        app=None,
        scope="default",
        stanzas=tuple(
            StanzaRow(
                name=s.name,
                line=s.line,
                settings=s.settings,
                lines={o.key: o.line for o in s.occurrences},
            )
            for s in parsed.stanzas
        ),
    )


def shipped_system_default(*conf_types: str) -> tuple[ConfFile, ...]:
    """The shipped files of those types (every type when none is named)."""
    found = (shipped_conf(t) for t in (conf_types or shipped_types()))
    return tuple(f for f in found if f is not None)
