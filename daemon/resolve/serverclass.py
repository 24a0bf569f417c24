"""Server-class membership and app delivery for one deployment server (RESOLVER.md §3): the
entry point of the pure core. `resolve_serverclasses(ds, hosts)` answers, for every host,
its classes and the apps it gets, each `member | not_member | unknown` with why.

levels.py turns the conf into filters, membership.py evaluates them; this module adds the
apps: `[serverClass:X:app:*]` (every app of the repository), `repositoryLocation`,
`targetRepositoryLocation`, `stateOnClient`, `excludeFromUpdate`, one delivery per app when
several classes deliver it, and the findings about them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from daemon.resolve.delivery import DeliveryPlan
from daemon.resolve.levels import GLOBAL, AppStanza, ServerClass, Settings, build_tree
from daemon.resolve.locations import in_bundle, is_live_apps_directory
from daemon.resolve.membership import MembershipEngine
from daemon.resolve.patterns import DEFAULT_CHUNK, DEFAULT_MAX_MEM
from daemon.resolve.types import (
    AppDelivery,
    AppMembership,
    AppSettings,
    DeploymentServer,
    Evidence,
    Finding,
    Host,
    Membership,
)
from daemon.resolve.vocabulary import FindingCode, MembershipResult, Severity, StateOnClient

DEFAULT_REPOSITORY = "$SPLUNK_HOME/etc/deployment-apps"
DEFAULT_TARGET = "$SPLUNK_HOME/etc/apps"
_FALSE_WORDS = frozenset({"false", "0", "no", "f", "n"})
_SAMPLE = 5  # hosts named in a finding about many


@dataclass(frozen=True, slots=True)
class ServerClassResolution:
    classes: tuple[str, ...]  # ASCII order
    memberships: tuple[Membership, ...]  # member and unknown (all with include_not_member)
    # Per host and app stanza with a filter of its own (app "*" for app:*); an app stanza
    # that sets no filter answers as its class: `inheriting` names those per class, and
    # iter_app_memberships() yields every row.
    app_memberships: tuple[AppMembership, ...]
    inheriting: Mapping[str, tuple[str, ...]]
    deliveries: Mapping[str, tuple[AppDelivery, ...]]  # host -> its apps; shared tuples
    app_settings: tuple[AppSettings, ...]  # every (class, app) named or expanded from app:*
    findings: tuple[Finding, ...]

    def iter_app_memberships(self) -> Iterator[AppMembership]:
        """Every (host, class, app stanza) row: the stored ones, then those of app stanzas
        that inherit their class's answer and why."""
        yield from self.app_memberships
        for m in self.memberships:
            for app in self.inheriting.get(m.serverclass, ()):
                yield AppMembership(m.host, m.serverclass, app, m.result, m.why, m.missing)


def resolve_serverclasses(
    ds: DeploymentServer,
    hosts: Sequence[Host],
    *,
    include_not_member: bool = False,
    max_mem: int = DEFAULT_MAX_MEM,
    chunk: int = DEFAULT_CHUNK,
) -> ServerClassResolution:
    """Every host's classes and apps from this DS."""
    resolver = ServerClassResolver(ds, hosts, max_mem=max_mem, chunk=chunk)
    return resolver.resolve(include_not_member=include_not_member)


class ServerClassResolver:
    """The conf compiled once against the hosts; `resolve()` for all, `explain()` for one."""

    def __init__(
        self,
        ds: DeploymentServer,
        hosts: Sequence[Host],
        *,
        max_mem: int = DEFAULT_MAX_MEM,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self.ds = ds
        self.hosts = hosts
        self.tree = build_tree(ds.stanzas, ds.read_file, ds.version)
        self.engine = MembershipEngine(self.tree, hosts, max_mem=max_mem, chunk=chunk)
        self._listings: dict[str, Collection[str] | None] = {}
        self._classes = {c.name: c for c in self.tree.classes}

    def explain(self, host: Host, serverclass: str) -> Membership:
        """Any host's result for one class, not_member included, with its why."""
        return self.engine.explain(host, self._classes[serverclass])

    def resolve(self, *, include_not_member: bool = False) -> ServerClassResolution:
        findings = list(self.tree.findings)
        findings.extend(_conf_findings(self.tree.global_settings, self.tree.classes))
        memberships: list[Membership] = []
        app_memberships: list[AppMembership] = []
        all_settings: list[AppSettings] = []
        inheriting: dict[str, tuple[str, ...]] = {}
        plan = DeliveryPlan(len(self.hosts))
        for serverclass in self.tree.classes:
            results = self.engine.resolve_class(serverclass, include_not_member=include_not_member)
            memberships.extend(m for _, _, m in results)
            apps = self._apps(serverclass, findings)
            for _, _, _, settings in apps:
                all_settings.extend(settings.values())
            # App stanzas that set no filter answer exactly as their class: one slot for all,
            # no rows of their own (iter_app_memberships derives them).
            same = [a for a in apps if a[0].filter.same_as_class and not a[2]]
            if same:
                inheriting[serverclass.name] = tuple(a[0].app for a in same)
                names = tuple(n for a in same for n in a[1])
                merged = {k: v for a in same for k, v in a[3].items()}
                slot = plan.slot(serverclass.name, names, merged)
                for i, outcome, _ in results:
                    if outcome[0] is not False:
                        plan.deliver(i, slot, MembershipResult.of(outcome[0]))
            for app, names, capped, settings in apps:
                if app.filter.same_as_class and not capped:
                    continue
                slot = plan.slot(serverclass.name, names, settings)
                dependent: list[str] = []
                for i, outcome, is_dependent, why in self.engine.resolve_app(app, results):
                    host = self.hosts[i]
                    if is_dependent:
                        dependent.append(host.key)
                    value, missing = outcome
                    if capped and value is True:
                        value, missing = None, ("app:* beside named app stanzas",)
                    result = MembershipResult.of(value)
                    if result is MembershipResult.NOT_MEMBER and not include_not_member:
                        continue
                    app_memberships.append(
                        AppMembership(host.key, serverclass.name, app.app, result, why, missing)
                    )
                    if result is not MembershipResult.NOT_MEMBER:
                        plan.deliver(i, slot, result)
                if dependent:
                    findings.append(_version_finding(app, dependent))
        deliveries = plan.build([h.key for h in self.hosts], findings)
        if any(c.filter.whitelist.entries or c.filter.blacklist.entries for c in self.tree.classes):
            findings.append(_FULL_MATCH)
        findings.extend(self.engine.findings)
        return ServerClassResolution(
            tuple(c.name for c in self.tree.classes),
            tuple(memberships),
            tuple(app_memberships),
            inheriting,
            deliveries,
            tuple(all_settings),
            tuple(findings),
        )

    # -- apps ------------------------------------------------------------------------------------

    def _listing(self, path: str) -> Collection[str] | None:
        if path not in self._listings:
            self._listings[path] = self.ds.list_apps(path)
        return self._listings[path]

    def _apps(
        self, serverclass: ServerClass, findings: list[Finding]
    ) -> list[tuple[AppStanza, tuple[str, ...], bool, dict[str, AppSettings]]]:
        """Each app stanza of the class: the apps it names, whether its results are capped at
        unknown, and the delivery settings of each app."""
        own, glob = serverclass.settings, self.tree.global_settings
        repository, repository_ev = _lookup("repositoryLocation", DEFAULT_REPOSITORY, own, glob)
        path = in_bundle(repository, lambda p: self._listing(p) is not None)
        listing = self._listing(path) if path is not None else None
        named = [a for a in serverclass.apps if a.app != "*"]
        stars = [a for a in serverclass.apps if a.app == "*"]
        if stars and named:
            # serverclass.conf.spec: "The '*' stanza cannot be mixed with named stanzas for
            # a given server class." (ours) Named stanzas keep their meaning; the apps only
            # app:* brings are unknown.
            findings.append(
                Finding(
                    FindingCode.APP_STAR_MIXED,
                    Severity.ERROR,
                    stars[0].stanza,
                    f"{stars[0].stanza} beside {len(named)} named app stanza(s); the apps only "
                    "app:* adds are unknown for every host",
                    _first_evidence(stars[0].settings),
                )
            )
        out: list[tuple[AppStanza, tuple[str, ...], bool, dict[str, AppSettings]]] = []
        for app in named:
            file_name = _value(app.settings, "appFile") or app.app
            found = listing is not None and file_name in listing
            settings = self._settings(serverclass, app, app.app, repository, path, found)
            if not found:
                where = "is outside the DS bundle" if path is None else f"({path}) lacks it"
                findings.append(
                    Finding(
                        FindingCode.APP_NOT_IN_REPOSITORY,
                        Severity.ERROR,
                        app.stanza,
                        f"app {file_name!r}: repositoryLocation {repository} {where}",
                        _first_evidence(app.settings) + repository_ev,
                    )
                )
            out.append((app, (app.app,), False, {app.app: settings}))
        named_apps = {a.app for a in named}
        for star in stars:
            if listing is None:
                findings.append(
                    Finding(
                        FindingCode.APP_NOT_IN_REPOSITORY,
                        Severity.ERROR,
                        star.stanza,
                        f"app:* names every app of repositoryLocation {repository}, which is "
                        "outside the DS bundle: its apps are unknown",
                        _first_evidence(star.settings) + repository_ev,
                    )
                )
            names = tuple(sorted(a for a in listing or () if a not in named_apps))
            settings_of = {
                n: self._settings(serverclass, star, n, repository, path, True) for n in names
            }
            out.append((star, names, bool(named), settings_of))
        return out

    def _settings(
        self,
        serverclass: ServerClass,
        app: AppStanza,
        name: str,
        repository: str,
        path: str | None,
        found: bool,
    ) -> AppSettings:
        own, glob = serverclass.settings, self.tree.global_settings
        state_text, state_ev = _lookup("stateOnClient", "enabled", app.settings, own, glob)
        try:
            state: StateOnClient | None = StateOnClient(state_text.strip().lower())
        except ValueError:
            state = None
        # targetRepositoryLocation: "If you leave this value unset or empty, the deployment
        # server uses the 'repositoryLocation' path instead" (an empty value; unset is the
        # default $SPLUNK_HOME/etc/apps, as system/default sets it).
        target, target_ev = _lookup("targetRepositoryLocation", DEFAULT_TARGET, own, glob)
        target = target.strip() or repository
        exclude, exclude_ev = _lookup("excludeFromUpdate", "", app.settings, own, glob)
        return AppSettings(
            serverclass=serverclass.name,
            app=name,
            stanza=app.stanza,
            state=state,
            repository=repository,
            repository_path=path,
            in_repository=found,
            target=target,
            live=is_live_apps_directory(target),
            exclude_from_update=tuple(p.strip() for p in exclude.split(",") if p.strip()),
            evidence=state_ev + target_ev + exclude_ev,
        )


_FULL_MATCH = Finding(
    FindingCode.PATTERN_FULL_MATCH,
    Severity.INFO,
    "serverclass.conf",
    "whitelist/blacklist patterns must match a whole value (ours: Splunk's examples imply "
    "it, its spec does not say so)",
)


def _lookup(key: str, default: str, *levels: Settings) -> tuple[str, tuple[Evidence, ...]]:
    """The first level that sets `key` (app, class, global), else the default."""
    for settings in levels:
        if key in settings:
            value, evidence = settings[key]
            return value, (evidence,)
    return default, ()


def _value(settings: Settings, key: str) -> str:
    """The stripped value of `key` at this level, "" when unset."""
    return settings[key][0].strip() if key in settings else ""


def _first_evidence(settings: Mapping[str, tuple[str, Evidence]]) -> tuple[Evidence, ...]:
    return tuple(ev for _, ev in list(settings.values())[:1])


def _conf_findings(global_settings: Settings, classes: Sequence[ServerClass]) -> list[Finding]:
    """excludeFromUpdate (paths on the client we cannot know), an invalid stateOnClient, and
    continueMatching = false (class order decides; not modelled) wherever they are set."""
    out = []
    levels: list[tuple[str, Settings]] = [(GLOBAL, global_settings)]
    for serverclass in classes:
        levels.append((serverclass.stanza, serverclass.settings))
        levels.extend((app.stanza, app.settings) for app in serverclass.apps)
    for stanza, settings in levels:
        if "excludeFromUpdate" in settings and settings["excludeFromUpdate"][0].strip():
            value, evidence = settings["excludeFromUpdate"]
            out.append(
                Finding(
                    FindingCode.EXCLUDE_FROM_UPDATE,
                    Severity.INFO,
                    f"{stanza} excludeFromUpdate",
                    f"excludeFromUpdate = {value}: what those paths hold on a client is "
                    "unknowable without the client's own tree",
                    (evidence,),
                )
            )
        state = _value(settings, "stateOnClient")
        if "stateOnClient" in settings and state.lower() not in set(StateOnClient):
            out.append(
                Finding(
                    FindingCode.INVALID_SETTING,
                    Severity.WARNING,
                    f"{stanza} stateOnClient",
                    f"stateOnClient = {state!r} is none of enabled, disabled, noop: the "
                    "state of its apps on the client is unknown",
                    (settings["stateOnClient"][1],),
                )
            )
        if _value(settings, "continueMatching").lower() in _FALSE_WORDS:
            out.append(
                Finding(
                    FindingCode.CONTINUE_MATCHING_FALSE,
                    Severity.WARNING,
                    f"{stanza} continueMatching",
                    "continueMatching = false stops matching at this class in definition "
                    "order; the resolver does not model it: later classes may be wrong",
                    (settings["continueMatching"][1],),
                )
            )
    return out


def _version_finding(app: AppStanza, hosts: list[str]) -> Finding:
    sample = ", ".join(hosts[:_SAMPLE]) + (", ..." if len(hosts) > _SAMPLE else "")
    rule = app.filter.filter_type.version_rule or ""
    return Finding(
        FindingCode.DS_VERSION_DEPENDENT,
        Severity.WARNING,
        app.stanza,
        f"{app.stanza} sets a filter but no filterType: the implicit app-level filterType "
        f"changed in 9.4.3 (blacklist before, whitelist after), and {len(hosts)} host(s) get a "
        f"different answer under each ({sample}); {rule}",
        _first_evidence(app.settings),
    )
