"""The app rules of RESOLVER.md §3 ("Apps"), one test per rule, the spec line quoted."""

from __future__ import annotations

from daemon.resolve.serverclass import ServerClassResolution, resolve_serverclasses
from daemon.resolve.types import AppDelivery
from daemon.resolve.vocabulary import FindingCode, MembershipResult, StateOnClient
from tests.builders import app_results, codes, ds, known_host

WEB = known_host("web-01", "10.1.2.3")
DB = known_host("db-01", "10.1.9.9")
REPOSITORY = ["nix", "outputs", "web_app"]


def resolve(conf: str, **kwargs: object) -> ServerClassResolution:
    kwargs.setdefault("apps", REPOSITORY)
    return resolve_serverclasses(ds(conf, **kwargs), [WEB, DB])  # type: ignore[arg-type]


def delivery(resolution: ServerClassResolution, host: str, app: str) -> AppDelivery:
    return next(d for d in resolution.deliveries[host] if d.app == app)


# "[serverClass:X:app:*] = every app in the repository"
def test_app_star_is_every_app_in_the_repository() -> None:
    resolution = resolve("[serverClass:web]\nwhitelist.0 = web*\n[serverClass:web:app:*]\n")
    assert app_results(resolution) == {("web-01", app): "member" for app in REPOSITORY}
    assert {a.app for a in resolution.iter_app_memberships()} == {"*"}
    assert resolution.inheriting == {"web": ("*",)}


# "(not mixable with named app stanzas in one class)"
def test_app_star_mixed_with_named_stanzas_is_a_finding() -> None:
    conf = """
        [serverClass:web]
        whitelist.0 = web*
        [serverClass:web:app:*]
        [serverClass:web:app:nix]
        stateOnClient = disabled
    """
    resolution = resolve(conf)
    assert "APP_STAR_MIXED" in codes(resolution)
    assert app_results(resolution) == {
        ("web-01", "nix"): "member",  # the named stanza keeps its meaning
        ("web-01", "outputs"): "unknown",  # only app:* brings these
        ("web-01", "web_app"): "unknown",
    }
    assert delivery(resolution, "web-01", "nix").settings.state is StateOnClient.DISABLED


# "repositoryLocation (default $SPLUNK_HOME/etc/deployment-apps), an absolute
# repositoryLocation is read against the DS's $SPLUNK_HOME, i.e. the part from etc/ on
# (/opt/splunk/etc/deployment-apps = the bundle's etc/deployment-apps), and one that lies
# outside the bundle makes its apps APP_NOT_IN_REPOSITORY"
def test_repository_location() -> None:
    conf = """
        [serverClass:default_repo]
        whitelist.0 = web*
        [serverClass:default_repo:app:nix]
        [serverClass:absolute]
        whitelist.0 = web*
        repositoryLocation = /opt/splunk/etc/other-apps
        [serverClass:absolute:app:special]
        [serverClass:outside]
        whitelist.0 = web*
        repositoryLocation = /srv/apps
        [serverClass:outside:app:nix]
    """
    apps = {"etc/deployment-apps": ["nix"], "etc/other-apps": ["special"]}
    resolution = resolve(conf, apps=apps)
    settings = {(s.serverclass, s.app): s for s in resolution.app_settings}
    assert settings[("default_repo", "nix")].repository_path == "etc/deployment-apps"
    assert settings[("absolute", "special")].repository_path == "etc/other-apps"
    assert settings[("absolute", "special")].in_repository is True
    assert settings[("outside", "nix")].repository_path is None
    assert settings[("outside", "nix")].in_repository is False
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.APP_NOT_IN_REPOSITORY]
    assert finding.subject == "serverClass:outside:app:nix"


# "A named app missing from the repository -> APP_NOT_IN_REPOSITORY."
def test_app_not_in_repository() -> None:
    conf = "[serverClass:web]\nwhitelist.0 = web*\n[serverClass:web:app:ghost]\n"
    resolution = resolve(conf)
    assert codes(resolution).count("APP_NOT_IN_REPOSITORY") == 1
    ghost = delivery(resolution, "web-01", "ghost")
    assert ghost.result is MembershipResult.MEMBER  # the DS is told to deliver it...
    assert ghost.settings.in_repository is False  # ...and has nothing to deliver


# "targetRepositoryLocation (default $SPLUNK_HOME/etc/apps; elsewhere the app is delivered but
# not live config)"
def test_target_repository_location() -> None:
    conf = """
        [serverClass:live]
        whitelist.0 = web*
        [serverClass:live:app:nix]
        [serverClass:staged]
        whitelist.0 = web*
        targetRepositoryLocation = $SPLUNK_HOME/etc/deployment-apps
        [serverClass:staged:app:outputs]
    """
    resolution = resolve(conf)
    assert delivery(resolution, "web-01", "nix").settings.live is True
    staged = delivery(resolution, "web-01", "outputs")
    assert staged.result is MembershipResult.MEMBER
    assert staged.settings.live is False


# "stateOnClient (enabled default, disabled = delivered, not active, noop = keep the app's own
# app.conf [install] state)"
def test_state_on_client() -> None:
    conf = """
        [global]
        stateOnClient = noop
        [serverClass:web]
        whitelist.0 = web*
        [serverClass:web:app:nix]
        stateOnClient = disabled
        [serverClass:web:app:outputs]
        [serverClass:db]
        whitelist.0 = db*
        stateOnClient = enabled
        [serverClass:db:app:web_app]
        [serverClass:db:app:nix]
        stateOnClient = sometimes
    """
    resolution = resolve(conf)
    assert delivery(resolution, "web-01", "nix").settings.state is StateOnClient.DISABLED
    assert delivery(resolution, "web-01", "outputs").settings.state is StateOnClient.NOOP
    assert delivery(resolution, "db-01", "web_app").settings.state is StateOnClient.ENABLED
    assert delivery(resolution, "db-01", "nix").settings.state is None
    assert "INVALID_SETTING" in codes(resolution)


# "Several classes delivering one app: the app is delivered once; its settings from the first
# class in ASCII order of class name (ours) with APP_MULTIPLY_ASSIGNED when they disagree."
def test_app_multiply_assigned() -> None:
    conf = """
        [serverClass:b_second]
        whitelist.0 = *-01
        [serverClass:b_second:app:nix]
        stateOnClient = disabled
        [serverClass:B_first]
        whitelist.0 = web*
        [serverClass:B_first:app:nix]
        [serverClass:B_first:app:outputs]
        [serverClass:c_agrees]
        whitelist.0 = web*
        [serverClass:c_agrees:app:outputs]
    """
    resolution = resolve(conf)
    nix = delivery(resolution, "web-01", "nix")
    assert nix.serverclasses == ("B_first", "b_second")  # ASCII: uppercase first
    assert nix.settings.serverclass == "B_first"
    assert nix.settings.state is StateOnClient.ENABLED
    assert delivery(resolution, "db-01", "nix").settings.state is StateOnClient.DISABLED
    assert [d.app for d in resolution.deliveries["web-01"]].count("outputs") == 1
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.APP_MULTIPLY_ASSIGNED]
    assert finding.subject == "app:nix"  # outputs: the two classes agree, no finding


# "excludeFromUpdate -> finding (those paths on the client are unknowable without its own
# tree)."
def test_exclude_from_update() -> None:
    conf = """
        [serverClass:web]
        whitelist.0 = web*
        excludeFromUpdate = $app_root$/local
        [serverClass:web:app:nix]
    """
    resolution = resolve(conf)
    assert delivery(resolution, "web-01", "nix").settings.exclude_from_update == (
        "$app_root$/local",
    )
    (finding,) = [f for f in resolution.findings if f.code is FindingCode.EXCLUDE_FROM_UPDATE]
    assert finding.subject == "serverClass:web excludeFromUpdate"
