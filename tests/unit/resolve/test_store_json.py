"""store.JsonText, the JSON the store writes for a resolution's rows, is exactly what
`json.dumps(to_json(value))` (and, for effective inputs, btool's `--json` shape) gives: it only
encodes each shared object once."""

from __future__ import annotations

import json
import textwrap

from daemon.conf.parser import parse_text
from daemon.resolve.btool import effective_to_json
from daemon.resolve.estate import Bundle, ConfFile, Estate, InventoryEntry, StanzaRow
from daemon.resolve.resolver import resolve
from daemon.resolve.store import JsonText
from daemon.resolve.types import to_json

SERVERCLASS = """
    [global]
    stateOnClient = enabled

    [serverClass:web]
    whitelist.0 = web-*
    whitelist.1 = 10.1.*
    blacklist.0 = *-test-*
    machineTypesFilter = linux-*

    [serverClass:web:app:nix]
    restartSplunkd = true

    [serverClass:web:app:"quoted"\u00e9]
    blacklist.0 = web-0[2-3]

    [serverClass:everyone]
    filterType = blacklist
    blacklist.0 = db-*

    [serverClass:everyone:app:*]

    [serverClass:pilot]
    whitelist.0 = web-01
    whitelist.1 = 10.9.9.9
    whitelist.2 = (a)\\1

    [serverClass:pilot:app:win]
    machineTypesFilter = windows-*
"""


def _file(text: str, path: str, layer: str, app: str | None, conf: str) -> ConfFile:
    stanzas, _ = parse_text(textwrap.dedent(text))
    rows = tuple(
        StanzaRow(s.name, s.line, dict(s.settings), {o.key: o.line for o in s.occurrences})
        for s in stanzas
    )
    return ConfFile(1, path, conf, layer, app, "default" if app else "local", rows)


def _estate() -> Estate:
    apps = {
        "nix": "[monitor:///var/log]\nindex = os\n[default]\nhost = x\n",
        "win": "[WinEventLog://Security]\nindex = wineventlog\n",
        '"quoted"\u00e9': "[tcp://9514]\nsourcetype = a \\\n  b\n",
    }
    files = [_file(SERVERCLASS, "etc/system/local/serverclass.conf", "system", None, "serverclass")]
    files += [
        _file(
            text, f"etc/deployment-apps/{app}/default/inputs.conf", "deployment_app", app, "inputs"
        )
        for app, text in apps.items()
    ]
    ds = Bundle(
        1, "ds_etc", "ds1", tuple(files), frozenset(f"etc/deployment-apps/{a}" for a in apps)
    )
    rows = [
        ("web-01", "10.1.0.1", "web-01.example.com", "linux-x86_64"),
        ("web-02", "10.1.0.2", None, "linux-x86_64"),
        ("web-test-03", "10.1.0.3", "w3.example.com", "windows-x64"),
        ("db-01", "10.2.0.1", "db-01.example.com", None),
    ]
    inventory = tuple(
        InventoryEntry(2, "ds1", n, client_name=c, hostname=c, ip=ip, dns=dns, machine_type=mt)
        for n, (c, ip, dns, mt) in enumerate(rows, 1)
    )
    return Estate(deployment_servers=(ds,), inventory=inventory)


def test_every_row_encodes_as_json_dumps_of_to_json() -> None:
    resolution = resolve(_estate())
    encode = JsonText()
    values: list[object] = [m.why for m in resolution.memberships]
    values += [m.missing for m in resolution.memberships]
    values += [a.why for a in resolution.apps] + [a.serverclasses for a in resolution.apps]
    values += [f.evidence for f in resolution.findings] + [h.sources for h in resolution.hosts]
    assert len(resolution.memberships) > 5 and resolution.findings
    for value in values * 2:  # the second time from the memo
        assert encode(value) == json.dumps(to_json(value)), value


def test_effective_inputs_encode_as_btool_json() -> None:
    resolution = resolve(_estate())
    encode = JsonText()
    assert resolution.effective_inputs
    for conf in resolution.effective_inputs.values():
        shaped = effective_to_json(conf)
        for name, stanza in conf.stanzas.items():
            assert encode.settings(stanza.settings) == json.dumps(shaped[name])


def test_two_stored_evidence_arrays_join_into_one_whatever_their_spacing() -> None:
    from daemon.resolve.load import _joined

    for first, second, items in [
        ("[1]", "[2, 3]", [1, 2, 3]),
        ("[]", "[2]", [2]),
        ("[1]", "[ ]", [1]),
        ("[\n]", "[\n]", []),
        (" [1] ", "[\n 2\n]", [1, 2]),
    ]:
        assert json.loads(_joined(first, second)) == items, (first, second)
