"""serverclass.conf's three levels, `[global]` -> `[serverClass:X]` -> `[serverClass:X:app:Y]`,
turned into the effective filter of each class and app stanza (RESOLVER.md §3).

One rule, one function: `pair_override` (own lists replace both inherited ones; an app-level
machineTypesFilter clears both), `filter_type`, `app_level_filter_type` (the 9.4.3 change),
`machine_types_filter`, and `from_pathname` (in its own module). Nothing here looks at a
host: membership.py evaluates these filters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from daemon.resolve.frompathname import FromPathname, from_pathname
from daemon.resolve.types import Evidence, FilterTypeDecision, Finding, Setting, Stanzas
from daemon.resolve.vocabulary import (
    APP_FILTER_TYPE_CHANGE,
    FilterType,
    FindingCode,
    ListName,
    Severity,
)

GLOBAL = "global"
# Filters AND-ed with the lists that, defined at app level, clear both inherited lists
# (serverclass.conf.spec "Filter-triggered atomic override"). We know a host's machine type;
# package type and updater state we never know, so those two always answer unknown.
_APP_FILTERS = ("machineTypesFilter", "packageTypesFilter", "updaterRunningFilter")
_LISTS = (ListName.WHITELIST, ListName.BLACKLIST)
_NUMBERED = re.compile(r"(whitelist|blacklist)\.([0-9]+)")
_QUALIFIERS = frozenset({"from_pathname", "select_field", "where_field", "where_equals"})
_VERSION = re.compile(r"\s*v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?")

Settings = Mapping[str, Setting]


@dataclass(frozen=True, slots=True)
class Entry:
    """One pattern of a list: `whitelist.2 = web*`, or one line of a from_pathname file."""

    stanza: str
    key: str
    pattern: str
    evidence: Evidence
    order: tuple[int, int]  # (n, 0) for <list>.<n>; (-1, line) for from_pathname entries


@dataclass(frozen=True, slots=True)
class PatternList:
    name: ListName
    stanza: str | None  # the stanza that defined it; None: defined nowhere (empty)
    inherited: bool = False
    entries: tuple[Entry, ...] = ()
    unresolved: tuple[FromPathname, ...] = ()  # entries we could not read: unknown
    cleared_by: str | None = None  # the app-level filter that emptied it


@dataclass(frozen=True, slots=True)
class MachineTypes:
    stanza: str
    patterns: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Filter:
    """What a level asks of a host: its lists, filterType, machine types, other filters."""

    stanza: str
    whitelist: PatternList
    blacklist: PatternList
    filter_type: FilterTypeDecision
    machine_types: MachineTypes | None = None
    other_filters: tuple[str, ...] = ()
    same_as_class: bool = False  # an app stanza that sets no filter: app = class


@dataclass(frozen=True, slots=True)
class AppStanza:
    app: str  # "*" for [serverClass:X:app:*]
    stanza: str
    settings: Settings
    filter: Filter


@dataclass(frozen=True, slots=True)
class ServerClass:
    name: str
    stanza: str
    settings: Settings
    filter: Filter
    apps: tuple[AppStanza, ...]  # stanza order of app name, ASCII


@dataclass(frozen=True, slots=True)
class Tree:
    global_settings: Settings
    classes: tuple[ServerClass, ...]  # ASCII order of class name
    findings: tuple[Finding, ...]


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """ "9.4.3" (or "9.4", "10.0.1.2", "9.4.3-abc") as (9, 4, 3); None when unreadable."""
    match = _VERSION.match(text or "")
    if not match:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor or 0), int(patch or 0)


def serverclass_stanza(name: str) -> tuple[str, str | None] | None:
    """(class, app or None) of a `[serverClass:<class>]` or `[serverClass:<class>:app:<app>]`
    stanza, None for any other: the class name is all up to `:app:`, colons included."""
    if not name.startswith("serverClass:"):
        return None
    class_name, sep, app = name[len("serverClass:") :].partition(":app:")
    return class_name, app if sep else None


def build_tree(
    stanzas: Stanzas, read_file: Callable[[str], bytes | None], ds_version: str | None
) -> Tree:
    """Every class and app stanza with its effective filter, plus findings about the conf."""
    findings: list[Finding] = []
    global_settings: Settings = stanzas.get(GLOBAL, {})
    class_settings: dict[str, Settings] = {}
    app_settings: dict[str, dict[str, Settings]] = {}
    for name, settings in stanzas.items():
        if name == GLOBAL:
            continue
        named = serverclass_stanza(name)
        if named is not None:
            class_name, app = named
            if app is not None:
                app_settings.setdefault(class_name, {})[app] = settings
                class_settings.setdefault(class_name, {})
            else:
                class_settings[class_name] = settings
            continue
        # serverclass.conf.spec: "Do not use [default] as a stanza name in serverclass.conf
        # [...] Using [default] results in an error message and incorrect matching behavior."
        evidence = tuple(ev for _, ev in list(settings.values())[:1])
        findings.append(
            Finding(
                FindingCode.IGNORED_STANZA,
                Severity.WARNING,
                f"[{name}]",
                f"serverclass.conf never reads [{name}]; its settings are ignored",
                evidence,
            )
        )
    for key in _APP_FILTERS:
        if key in global_settings and global_settings[key][0].strip():
            findings.append(
                Finding(
                    FindingCode.IGNORED_SETTING,
                    Severity.INFO,
                    f"global {key}",
                    f"{key} has no effect at the global level (serverclass.conf.spec)",
                    (global_settings[key][1],),
                )
            )

    global_pair = pair_override(None, GLOBAL, global_settings, read_file, findings)
    version = parse_version(ds_version)
    classes = []
    for class_name in sorted(class_settings):
        own = class_settings[class_name]
        stanza = f"serverClass:{class_name}"
        chain = ((stanza, own), (GLOBAL, global_settings))
        whitelist, blacklist = pair_override(global_pair, stanza, own, read_file, findings)
        class_filter = Filter(
            stanza,
            whitelist,
            blacklist,
            filter_type(chain, findings),
            machine_types_filter(stanza, own),
            _other_filters(own),
        )
        apps = []
        for app in sorted(app_settings.get(class_name, {})):
            settings = app_settings[class_name][app]
            app_stanza = f"{stanza}:app:{app}"
            app_filter = _app_filter(
                app_stanza, settings, class_filter, chain, version, read_file, findings
            )
            apps.append(AppStanza(app, app_stanza, settings, app_filter))
        classes.append(ServerClass(class_name, stanza, own, class_filter, tuple(apps)))
    return Tree(global_settings, tuple(classes), tuple(findings))


def _app_filter(
    stanza: str,
    settings: Settings,
    class_filter: Filter,
    class_chain: Sequence[tuple[str, Settings]],
    version: tuple[int, int, int] | None,
    read_file: Callable[[str], bytes | None],
    findings: list[Finding],
) -> Filter:
    parent = (class_filter.whitelist, class_filter.blacklist)
    whitelist, blacklist = pair_override(
        parent, stanza, settings, read_file, findings, app_level=True
    )
    machine_types = machine_types_filter(stanza, settings)
    others = _other_filters(settings)
    if not (defines_lists(settings) or "filterType" in settings or machine_types or others):
        # Both DS-version rules agree here: the class result c is W AND NOT B (or W OR NOT
        # B), and c AND (W OR NOT B) = c by absorption, which holds in Kleene logic too.
        return replace(
            class_filter,
            stanza=stanza,
            whitelist=whitelist,
            blacklist=blacklist,
            same_as_class=True,
        )
    return Filter(
        stanza,
        whitelist,
        blacklist,
        app_level_filter_type(stanza, settings, class_chain, version, findings),
        machine_types,
        others,
    )


def defines_lists(settings: Settings) -> bool:
    """Any `whitelist.*` or `blacklist.*` key, `*.from_pathname` included (RESOLVER.md §3)."""
    return any(key.startswith(("whitelist.", "blacklist.")) for key in settings)


def pair_override(
    parent: tuple[PatternList, PatternList] | None,
    stanza: str,
    settings: Settings,
    read_file: Callable[[str], bytes | None],
    findings: list[Finding],
    *,
    app_level: bool = False,
) -> tuple[PatternList, PatternList]:
    """The whitelist and blacklist in effect at this level.

    RESOLVER.md §3: "Defining any whitelist.* or blacklist.* at a level drops both inherited
    lists (*.from_pathname counts as defining)." And: machineTypesFilter "at app level
    clears both lists" (so do packageTypesFilter and updaterRunningFilter).
    """
    if defines_lists(settings):
        return own_list(ListName.WHITELIST, stanza, settings, read_file, findings), own_list(
            ListName.BLACKLIST, stanza, settings, read_file, findings
        )
    if app_level:
        cleared_by = next(iter(_other_filters(settings)), None)
        if machine_types_filter(stanza, settings) is not None:
            cleared_by = "machineTypesFilter"
        if cleared_by is not None:
            return (
                PatternList(ListName.WHITELIST, stanza, cleared_by=cleared_by),
                PatternList(ListName.BLACKLIST, stanza, cleared_by=cleared_by),
            )
    if parent is None:
        return PatternList(ListName.WHITELIST, None), PatternList(ListName.BLACKLIST, None)
    return _inherited(parent)


def _inherited(pair: tuple[PatternList, PatternList]) -> tuple[PatternList, PatternList]:
    whitelist, blacklist = pair
    if whitelist.stanza is not None:
        whitelist = replace(whitelist, inherited=True)
    if blacklist.stanza is not None:
        blacklist = replace(blacklist, inherited=True)
    return whitelist, blacklist


def own_list(
    name: ListName,
    stanza: str,
    settings: Settings,
    read_file: Callable[[str], bytes | None],
    findings: list[Finding],
) -> PatternList:
    """`<name>.<n>` entries (any integers, gaps allowed) plus the from_pathname ones."""
    entries: list[Entry] = []
    for key, (value, evidence) in settings.items():
        match = _NUMBERED.fullmatch(key)
        if match and match.group(1) == name.value:
            if value.strip():  # an empty entry names nothing
                entries.append(Entry(stanza, key, value.strip(), evidence, (int(match[2]), 0)))
        elif key.startswith(f"{name.value}.") and key.split(".", 1)[1] not in _QUALIFIERS:
            findings.append(
                Finding(
                    FindingCode.INVALID_SETTING,
                    Severity.WARNING,
                    f"{stanza} {key}",
                    f"{key} is not a list entry (<n> must be an unsigned integer); it still "
                    "replaces the inherited lists",
                    (evidence,),
                )
            )
    entries.sort(key=lambda e: (e.order, e.key))
    unresolved: tuple[FromPathname, ...] = ()
    listed = from_pathname(name.value, settings, read_file)
    if listed is not None:
        if listed.unresolved is not None:
            unresolved = (listed,)
            findings.append(
                Finding(
                    FindingCode.UNRESOLVED_FROM_PATHNAME,
                    Severity.WARNING,
                    f"{stanza} {listed.key}",
                    f"{listed.key} = {listed.path}: {listed.unresolved}; the class is unknown "
                    "for every host this list could change",
                    (listed.evidence,),
                )
            )
        for pattern, line in listed.entries:
            origin = listed.evidence
            evidence = Evidence(
                listed.file or listed.path, line, origin.layer, origin.app, origin.run
            )
            entries.append(Entry(stanza, listed.key, pattern, evidence, (-1, line)))
    return PatternList(name, stanza, False, tuple(entries), unresolved)


def filter_type(
    chain: Sequence[tuple[str, Settings]], findings: list[Finding]
) -> FilterTypeDecision:
    """The first `filterType` from this level up to [global]; `whitelist` when none.

    RESOLVER.md §3: "filterType is inherited through all levels"; serverclass.conf.spec:
    "Default: whitelist". An invalid value decides nothing: both types are evaluated.
    """
    for stanza, settings in chain:
        if "filterType" in settings:
            value, evidence = settings["filterType"]
            try:
                return FilterTypeDecision(FilterType(value.strip().lower()), stanza, evidence)
            except ValueError:
                findings.append(
                    Finding(
                        FindingCode.INVALID_SETTING,
                        Severity.WARNING,
                        f"{stanza} filterType",
                        f"filterType = {value!r} is neither whitelist nor blacklist; hosts "
                        "the two would treat differently are unknown",
                        (evidence,),
                    )
                )
                return FilterTypeDecision(None, stanza, evidence, missing=(f"{stanza} filterType",))
    return FilterTypeDecision(FilterType.WHITELIST, "default")


def app_level_filter_type(
    stanza: str,
    settings: Settings,
    class_chain: Sequence[tuple[str, Settings]],
    version: tuple[int, int, int] | None,
    findings: list[Finding],
) -> FilterTypeDecision:
    """filterType of an app stanza that sets a filter of its own.

    RESOLVER.md §3: "From 9.4.3 the implicit app-level filterType is whitelist (it was
    blacklist)". *Ours*: "implicit" means no stanza of the chain sets filterType but the
    shipped `system/default` [global] (whose `whitelist` is the documented default); a
    value an administrator set at the class or [global] is inherited under both rules.
    """
    if "filterType" in settings:
        return filter_type(((stanza, settings),), findings)
    if any("filterType" in s and not s["filterType"][1].shipped_default for _, s in class_chain):
        return filter_type(class_chain, findings)
    shipped = next((s["filterType"][1] for _, s in class_chain if "filterType" in s), None)
    if version is None:
        return FilterTypeDecision(
            None,
            "implicit",
            shipped,
            "DS version unknown: whitelist from 9.4.3, blacklist before",
            missing=("ds_version",),
        )
    written = ".".join(map(str, version))
    if version >= APP_FILTER_TYPE_CHANGE:
        rule = f"DS {written} (9.4.3 or later): implicit app-level filterType whitelist"
        return FilterTypeDecision(
            FilterType.WHITELIST, "implicit", shipped, rule, FilterType.BLACKLIST
        )
    rule = f"DS {written} (before 9.4.3): implicit app-level filterType blacklist"
    return FilterTypeDecision(FilterType.BLACKLIST, "implicit", shipped, rule, FilterType.WHITELIST)


def machine_types_filter(stanza: str, settings: Settings) -> MachineTypes | None:
    """`machineTypesFilter` of this stanza (comma list, same pattern rules), AND-ed with the
    lists. Never inherited from [global], where it "has no effect". An empty value is unset.
    """
    if "machineTypesFilter" not in settings:
        return None
    value, evidence = settings["machineTypesFilter"]
    patterns = tuple(p.strip() for p in value.split(",") if p.strip())
    return MachineTypes(stanza, patterns, evidence) if patterns else None


def _other_filters(settings: Settings) -> tuple[str, ...]:
    return tuple(k for k in _APP_FILTERS[1:] if k in settings and settings[k][0].strip())
