"""RESOLVER.md §3 Apps: which delivered apps are live configuration on a host — and so in its
effective configuration (§4)."""

from __future__ import annotations

from dataclasses import replace

from daemon.resolve.estate import Bundle, ConfFile, Estate
from daemon.resolve.resolver import resolve
from tests.unit.resolve.test_estate_hostile import (
    DS_RUN,
    conf_file,
    inventory,
    known,
)

CLASSES = """\
[serverClass:all]
whitelist.0 = *
[serverClass:all:app:enabled_app]
[serverClass:all:app:noop_on]
stateOnClient = noop
[serverClass:all:app:noop_off]
stateOnClient = noop
[serverClass:all:app:off]
stateOnClient = disabled
[serverClass:far]
whitelist.0 = *
targetRepositoryLocation = $SPLUNK_HOME/etc/deployment-apps
[serverClass:far:app:elsewhere]
"""
APPS = ("enabled_app", "noop_on", "noop_off", "off", "elsewhere")


def _app_file(app: str, conf_type: str, text: str) -> ConfFile:
    path = f"etc/deployment-apps/{app}/default/{conf_type}.conf"
    made = conf_file(text, path, conf_type=conf_type, layer="deployment_app", scope="default")
    return replace(made, app=app)


def test_stateonclient_noop_keeps_the_apps_own_install_state() -> None:
    # "`stateOnClient` (`enabled` default, `disabled` = delivered, not active, `noop` = keep
    # the app's own `app.conf [install] state`)"; "targetRepositoryLocation ... elsewhere the
    # app is delivered but **not** live config".
    files = [conf_file(CLASSES)]
    for app in APPS:
        files.append(_app_file(app, "inputs", f"[monitor:///var/log/{app}]\nindex = {app}\n"))
    files.append(_app_file("noop_off", "app", "[install]\nstate = disabled\n"))
    files.append(_app_file("noop_on", "app", "[install]\nstate = enabled\n"))
    ds = Bundle(
        DS_RUN,
        "ds_etc",
        "ds1",
        tuple(files),
        frozenset(f"etc/deployment-apps/{a}" for a in APPS),
    )
    resolution = resolve(Estate((ds,), inventory=inventory(known("web", "10.0.0.1"))))
    (host,) = resolution.hosts
    assert host.stack is not None
    stanzas = set(resolution.effective_inputs[host.stack].stanzas)
    live = {s.rsplit("/", 1)[1] for s in stanzas if s.startswith("monitor:///var/log/")}
    assert live == {"enabled_app", "noop_on"}
    # Every one of them is delivered all the same.
    assert {a.app for a in resolution.apps if a.result == "deployed"} == set(APPS)
