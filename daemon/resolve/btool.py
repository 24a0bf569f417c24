"""An `EffectiveConf` as `splunk btool CONF list [STANZA] [--debug]` prints it, and as the
`--json` of `autodoc btool` (RESOLVER.md §7). Pure: text and dicts out.

What btool does and we copy: every stanza, [default] included, in ASCII order, each followed
by all its keys (inherited ones too) in ASCII order as `key = value`, no blank lines; the
STANZA argument selects the stanzas whose name starts with it (`list http:` shows every
`[http://...]`, `list splunktcp` the receivers too). `--debug` puts the file each line comes
from on the left, padded to one column: the longest path of the conf's files plus one space.
A stanza's header line names the highest layer whose file has the stanza.

Choices of ours, where btool shows nothing we could copy:
- Paths in `--debug` are where the host reads the file: `$SPLUNK_HOME/etc/system/...` and
  `$SPLUNK_HOME/etc/apps/<app>/(local|default)/`, also for an app that comes from the DS's
  repository (`etc/deployment-apps/<app>` in the DS bundle): the DS delivers it to
  `etc/apps/<app>`, the only place where an app is live configuration. `splunk_home` defaults
  to /opt/splunk; a home containing `\\` is a Windows one and gets `\\` separators. The
  bundle path stays in `--json` (`file`), which is the evidence.
- A value that spans lines (a `\\` continuation in the file) is printed as written: each line
  but the last ends in `\\`, so the output reads back as the same conf. With `--debug` every
  such line carries the file column too, so cutting the column off any line gives the plain
  output.
"""

from __future__ import annotations

from typing import Any

from daemon.resolve.layers import EffectiveConf, EffectiveStanza, Origin

DEFAULT_SPLUNK_HOME = "/opt/splunk"
_NOT_FIRST = frozenset("[#;")


def select(
    effective: EffectiveConf, stanza: str | None = None, *, exact: bool = False
) -> list[EffectiveStanza]:
    """The stanzas btool lists: all, those whose name starts with `stanza`, or (`exact`)
    the one named `stanza`."""
    stanzas = effective.stanzas
    if stanza is None:
        return list(stanzas.values())
    if exact:
        found = stanzas.get(stanza)
        return [] if found is None else [found]
    return [s for name, s in stanzas.items() if name.startswith(stanza)]


def host_path(origin: Origin, conf_type: str, splunk_home: str = DEFAULT_SPLUNK_HOME) -> str:
    """The conf file's absolute path on the host (see the module docstring)."""
    sep = "\\" if "\\" in splunk_home else "/"
    parts = ["etc", "system"] if origin.app is None else ["etc", "apps", origin.app]
    parts += [origin.scope, f"{conf_type}.conf"]
    return splunk_home.rstrip(sep) + sep + sep.join(parts)


def render_btool(
    effective: EffectiveConf,
    stanza: str | None = None,
    debug: bool = False,
    *,
    splunk_home: str = DEFAULT_SPLUNK_HOME,
    exact: bool = False,
) -> str:
    """btool's text: `[stanza]` then `key = value` lines; with `debug`, the file on the left."""
    lines: list[str] = []
    selected = select(effective, stanza, exact=exact)
    if not debug:
        for found in selected:
            lines.append(f"[{found.name}]")
            for key, value in found.settings.items():
                lines.append(_setting(key, value.value))
        return "".join(line + "\n" for line in lines)

    paths = {o: host_path(o, effective.conf_type, splunk_home) for o in effective.layers}
    width = max((len(p) for p in paths.values()), default=0) + 1
    columns = {o: p.ljust(width) for o, p in paths.items()}
    for found in selected:
        lines.append(columns[found.origin] + f"[{found.name}]")
        for key, value in found.settings.items():
            column = columns[value.origin]
            text = _setting(key, value.value)
            if "\n" in text:
                text = text.replace("\n", "\n" + column)
            lines.append(column + text)
    return "".join(line + "\n" for line in lines)


def _setting(key: str, value: str) -> str:
    # Keys can span lines too (a continued line with no `=` until a later one). Each line
    # keeps its own trailing backslash, the added one is what the parser drops again.
    text = f"{key} = {value}"
    if "\n" in text:
        text = text.replace("\n", "\\\n")
    # A key starting `[`, `#` or `;` came from behind a continuation (or, `;`, an indent):
    # printed first on a line it would be a header or a comment, so it stays behind one.
    if key[:1] in _NOT_FIRST:
        text = "\\\n" + text
    # A value ending in a backslash was written `\ ` (a backslash then blanks continues
    # nothing): printed bare, it would swallow the next line.
    return text + " " if text[-1] == "\\" else text


def effective_to_json(
    effective: EffectiveConf, stanza: str | None = None, *, exact: bool = False
) -> dict[str, dict[str, dict[str, Any]]]:
    """`{STANZA: {KEY: {value, file, line, layer, app, run}}}`, both levels in ASCII order;
    `file` is the path inside the bundle, `layer` the kind ("system/local", "app/default")."""
    return {
        found.name: {
            key: {
                "value": value.value,
                "file": value.origin.file,
                "line": value.line,
                "layer": value.origin.kind.value,
                "app": value.origin.app,
                "run": value.origin.run,
            }
            for key, value in found.settings.items()
        }
        for found in select(effective, stanza, exact=exact)
    }
