"""Evaluate the filters of levels.py against hosts, in Kleene's three-valued logic, with the
evidence of each decision (RESOLVER.md §3 "Three states", "Why").

Every pattern of the conf is compiled once into one `PatternIndex`; each host's values are
matched against all of them at once, and an inverted index (pattern -> lists) says which
lists a host hits and by which entry. A class is then evaluated only for the hosts that can
be in it: under `filterType = whitelist`, those its whitelist hits or cannot rule out.
The logic itself (Kleene's, with `missing`) is kleene.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from daemon.resolve.kleene import FALSE, TRUE, Outcome, join, k_and, lists_filter
from daemon.resolve.levels import AppStanza, Filter, MachineTypes, PatternList, ServerClass, Tree
from daemon.resolve.patterns import (
    DEFAULT_CHUNK,
    DEFAULT_MAX_MEM,
    PatternIndex,
    Unsafe,
    compile_pattern,
    could_match,
)
from daemon.resolve.types import (
    EntryMatch,
    Evidence,
    Finding,
    Host,
    ListWhy,
    Membership,
    Why,
)
from daemon.resolve.vocabulary import (
    MATCH_ORDER,
    FilterType,
    FindingCode,
    HostAttribute,
    ListName,
    MembershipResult,
    Severity,
)

_RANKED = tuple((rank, attr, attr.value) for rank, attr in enumerate(MATCH_ORDER))
_OTHER_FILTER_MISSING = {"packageTypesFilter": "package_type", "updaterRunningFilter": "updater"}
_LIST_KEY = tuple[str, ListName]  # (defining stanza, list): one list's entries
_EntryKey = tuple[tuple[int, int], str]  # an entry's place: (n or file line, key)
# Per host: list -> ((entry place, attribute rank), match) of the deciding entry.
_Hits = dict[_LIST_KEY, tuple[tuple[_EntryKey, int], EntryMatch]]


@dataclass(slots=True)
class _Compiled:
    entry_of: dict[int, tuple[int, _EntryKey]]  # pid -> (index, place) of its first entry
    kinds: tuple[HostAttribute, ...]  # attributes whose absence could hide a match
    always: tuple[str, ...]  # unsafe entries, unread files: unknown unless a hit


class MembershipEngine:
    """The conf's filters compiled against a set of hosts; answers class and app results."""

    def __init__(
        self,
        tree: Tree,
        hosts: Sequence[Host],
        *,
        max_mem: int = DEFAULT_MAX_MEM,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self.tree = tree
        self.hosts = hosts
        self.max_mem = max_mem
        self.findings: list[Finding] = []
        self.index = PatternIndex(max_mem=max_mem, chunk=chunk)
        self._lists: dict[_LIST_KEY, PatternList] = {}
        self._compiled: dict[_LIST_KEY, _Compiled] = {}
        self._pid_lists: dict[int, list[_LIST_KEY]] = {}
        for level in _filters(tree):
            for plist in (level.whitelist, level.blacklist):
                if plist.stanza is not None and (plist.stanza, plist.name) not in self._lists:
                    self._lists[(plist.stanza, plist.name)] = plist
        pids = {
            key: [self.index.add(e.pattern) for e in pl.entries] for key, pl in self._lists.items()
        }
        self.index.compile()
        for key, plist in self._lists.items():
            self._compiled[key] = self._compile(key, plist, pids[key])
        self._mt_reported: set[tuple[str, str]] = set()
        self._mt_outcomes: dict[tuple[MachineTypes, str | None], tuple[Outcome, ListWhy]] = {}
        self._decided: dict[tuple[object, ...], tuple[Outcome, bool, Why]] = {}
        self._unmatched: dict[tuple[int, frozenset[HostAttribute]], tuple[Outcome, ListWhy]] = {}
        self._hits = [self.host_hits(h) for h in hosts]
        self._lacking = [h.missing for h in hosts]
        # What decides a host no list hits: the attributes it lacks and its machine type.
        self._groups = [
            (lack, h.machine_type) for lack, h in zip(self._lacking, hosts, strict=True)
        ]
        self._by_list: dict[_LIST_KEY, list[int]] = {}
        self._by_missing: dict[frozenset[HostAttribute], list[int]] = {}
        for i, (lacking, hits) in enumerate(zip(self._lacking, self._hits, strict=True)):
            for key in hits:
                self._by_list.setdefault(key, []).append(i)
            self._by_missing.setdefault(lacking, []).append(i)

    def _compile(self, key: _LIST_KEY, plist: PatternList, pids: list[int]) -> _Compiled:
        entry_of: dict[int, tuple[int, _EntryKey]] = {}
        always: list[str] = [f"from_pathname:{u.path}" for u in plist.unresolved]
        kinds = {a for a in MATCH_ORDER if a not in (HostAttribute.IP, HostAttribute.GUID)}
        kinds_ip_guid: set[HostAttribute] = set()
        for n, (entry, pid) in enumerate(zip(plist.entries, pids, strict=True)):
            unsafe = self.index.unsafe.get(pid)
            if unsafe is not None:
                always.append(f"pattern:{entry.stanza} {entry.key}")
                self.findings.append(
                    _unsafe_finding(entry.stanza, entry.key, unsafe, entry.evidence)
                )
                continue
            sort_key = (entry.order, entry.key)
            if pid not in entry_of or sort_key < entry_of[pid][1]:
                if pid not in entry_of:
                    self._pid_lists.setdefault(pid, []).append(key)
                entry_of[pid] = (n, sort_key)
            if len(kinds_ip_guid) < 2:
                for attr in (HostAttribute.IP, HostAttribute.GUID):
                    if attr not in kinds_ip_guid and could_match(entry.pattern, attr):
                        kinds_ip_guid.add(attr)
        if not entry_of:
            kinds = set()
        found = kinds | kinds_ip_guid
        return _Compiled(entry_of, tuple(a for a in MATCH_ORDER if a in found), tuple(always))

    def host_hits(self, host: Host) -> _Hits:
        """Every list the host hits, with its deciding entry: the lowest entry, then the first
        attribute in the spec's order (so results never depend on entry order)."""
        hits: _Hits = {}
        for rank, attr, name in _RANKED:
            value = getattr(host, name)
            if value is None:
                continue
            for pid in self.index.match(value):
                for key in self._pid_lists.get(pid, ()):
                    n, sort_key = self._compiled[key].entry_of[pid]
                    rank_key = (sort_key, rank)
                    current = hits.get(key)
                    if current is None or rank_key < current[0]:
                        entry = self._lists[key].entries[n]
                        hits[key] = (
                            rank_key,
                            EntryMatch(
                                entry.stanza, entry.key, entry.pattern, attr, value, entry.evidence
                            ),
                        )
        return hits

    # -- one list, one host ---------------------------------------------------------------------

    def list_outcome(
        self, plist: PatternList, lacking: frozenset[HostAttribute], hits: _Hits
    ) -> tuple[Outcome, ListWhy]:
        """Does any entry match any of the host's values (True), could one match a value the
        host lacks or an entry we cannot read (None), or neither (False)?"""
        if plist.stanza is None:
            return FALSE, ListWhy(plist.name, None, False, False)
        key = (plist.stanza, plist.name)
        hit = hits.get(key)
        if hit is not None:
            why = ListWhy(
                plist.name, plist.stanza, plist.inherited, True, hit[1], (), plist.cleared_by
            )
            return TRUE, why
        # Not hit: the answer depends only on the list and what the host lacks; share it.
        cached = self._unmatched.get((id(plist), lacking))
        if cached is None:
            compiled = self._compiled.get(key)
            missing: tuple[str, ...] = ()
            if compiled is not None:
                missing = tuple(a.value for a in compiled.kinds if a in lacking) + compiled.always
            outcome: Outcome = (None, missing) if missing else FALSE
            why = ListWhy(
                plist.name,
                plist.stanza,
                plist.inherited,
                outcome[0],
                None,
                missing,
                plist.cleared_by,
            )
            cached = self._unmatched[(id(plist), lacking)] = (outcome, why)
        return cached

    def machine_types_outcome(self, mt: MachineTypes, host: Host) -> tuple[Outcome, ListWhy]:
        """machineTypesFilter: any of its patterns matches the host's machine type."""
        value = host.machine_type
        if value is not None:
            cached = self._mt_outcomes.get((mt, value))
            if cached is None:
                cached = self._mt_outcomes[(mt, value)] = self._machine_types(mt, value)
            return cached
        missing = (HostAttribute.MACHINE_TYPE.value,)
        return (None, missing), ListWhy(
            ListName.MACHINE_TYPES, mt.stanza, False, None, None, missing
        )

    def _machine_types(self, mt: MachineTypes, value: str) -> tuple[Outcome, ListWhy]:
        unsafe: list[str] = []
        for pattern in mt.patterns:
            compiled = compile_pattern(pattern, self.max_mem)
            if isinstance(compiled, Unsafe):
                unsafe.append(f"pattern:{mt.stanza} machineTypesFilter")
                if (mt.stanza, pattern) not in self._mt_reported:
                    self._mt_reported.add((mt.stanza, pattern))
                    self.findings.append(
                        _unsafe_finding(mt.stanza, "machineTypesFilter", compiled, mt.evidence)
                    )
            elif compiled.fullmatch(value) is not None:
                match = EntryMatch(
                    mt.stanza,
                    "machineTypesFilter",
                    pattern,
                    HostAttribute.MACHINE_TYPE,
                    value,
                    mt.evidence,
                )
                return TRUE, ListWhy(ListName.MACHINE_TYPES, mt.stanza, False, True, match)
        outcome: Outcome = (None, tuple(unsafe[:1])) if unsafe else FALSE
        return outcome, ListWhy(
            ListName.MACHINE_TYPES, mt.stanza, False, outcome[0], None, outcome[1]
        )

    # -- one level, one host --------------------------------------------------------------------

    def evaluate(
        self,
        level: Filter,
        host: Host,
        hits: _Hits,
        parent: Outcome | None = None,
        lacking: frozenset[HostAttribute] | None = None,
    ) -> tuple[Outcome, bool, Why]:
        """This level's answer for a host (AND-ed with the class's at app level), whether the
        two DS-version rules answer differently, and why."""
        if lacking is None:
            lacking = host.missing
        w, w_why = self.list_outcome(level.whitelist, lacking, hits)
        b, b_why = self.list_outcome(level.blacklist, lacking, hits)
        m: Outcome | None = None
        m_why = None
        if level.machine_types is not None:
            m, m_why = self.machine_types_outcome(level.machine_types, host)
        if w[0] is True or b[0] is True:
            return self._decide(level, w, w_why, b, b_why, m, m_why, parent)
        # Neither list hit: every piece is a shared object, so is the answer (a blacklist
        # class over thousands of hosts builds one why, not thousands).
        key = (id(level), id(w_why), id(b_why), id(m_why), parent)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._decide(level, w, w_why, b, b_why, m, m_why, parent)
        return decided

    def _decide(
        self,
        level: Filter,
        w: Outcome,
        w_why: ListWhy,
        b: Outcome,
        b_why: ListWhy,
        m: Outcome | None,
        m_why: ListWhy | None,
        parent: Outcome | None,
    ) -> tuple[Outcome, bool, Why]:
        terms: list[Outcome] = [] if parent is None else [parent]
        if m is not None:
            terms.append(m)
        for name in level.other_filters:
            terms.append((None, (_OTHER_FILTER_MISSING[name],)))
        decision = level.filter_type
        other: Outcome | None = None
        if decision.value is None:  # DS version unknown, or an invalid filterType
            a = k_and(lists_filter(FilterType.WHITELIST, w, b), *terms)
            z = k_and(lists_filter(FilterType.BLACKLIST, w, b), *terms)
            outcome = join(a, z, decision.missing)
            dependent = decision.version_rule is not None and a != z
        else:
            outcome = k_and(lists_filter(decision.value, w, b), *terms)
            if decision.alternative is not None:
                other = k_and(lists_filter(decision.alternative, w, b), *terms)
            dependent = other is not None and other != outcome
        why = Why(
            stanza=level.stanza,
            filter_type=decision,
            whitelist=w_why,
            blacklist=b_why,
            machine_types=m_why,
            other_filters=level.other_filters,
            class_result=None if parent is None else MembershipResult.of(parent[0]),
            other_rule_result=MembershipResult.of(other[0]) if dependent and other else None,
        )
        return outcome, dependent, why

    # -- bulk -----------------------------------------------------------------------------------

    def candidates(self, level: Filter) -> Iterable[int]:
        """Hosts that may pass this level: under filterType whitelist, those its whitelist
        hits or cannot rule out (an empty whitelist matches nobody); otherwise every host."""
        if level.filter_type.value is not FilterType.WHITELIST:
            return range(len(self.hosts))
        if level.whitelist.stanza is None:
            return ()
        key = (level.whitelist.stanza, level.whitelist.name)
        compiled = self._compiled[key]
        if compiled.always:
            return range(len(self.hosts))
        chosen = set(self._by_list.get(key, ()))
        for lacking, members in self._by_missing.items():
            if not lacking.isdisjoint(compiled.kinds):
                chosen.update(members)
        return sorted(chosen)

    def resolve_class(
        self, serverclass: ServerClass, *, include_not_member: bool = False
    ) -> list[tuple[int, Outcome, Membership]]:
        """(host index, outcome, membership) of every host that is member or unknown (every
        host with include_not_member), in host order."""
        out = []
        level = serverclass.filter
        hosts = range(len(self.hosts)) if include_not_member else self.candidates(level)
        evaluate = self._evaluator(level)
        name = serverclass.name
        results = {v: MembershipResult.of(v) for v in (True, False, None)}
        for i in hosts:
            outcome, _, why = evaluate(i, None)
            if outcome[0] is False and not include_not_member:
                continue
            membership = Membership(self.hosts[i].key, name, results[outcome[0]], why, outcome[1])
            out.append((i, outcome, membership))
        return out

    def _evaluator(
        self, level: Filter
    ) -> Callable[[int, Outcome | None], tuple[Outcome, bool, Why]]:
        """`evaluate` for host i of this level, answering once for all the hosts its lists do
        not hit that lack the same attributes and share a machine type and parent answer (a
        blacklist class over 10,000 hosts is one decision, not 10,000)."""
        hit: set[int] = set()
        for plist in (level.whitelist, level.blacklist):
            if plist.stanza is not None:
                hit.update(self._by_list.get((plist.stanza, plist.name), ()))
        shared: dict[tuple[object, ...], tuple[Outcome, bool, Why]] = {}
        groups = self._groups

        def evaluate(i: int, parent: Outcome | None) -> tuple[Outcome, bool, Why]:
            if i in hit:
                return self.evaluate(level, self.hosts[i], self._hits[i], parent, self._lacking[i])
            key = (groups[i], parent)
            answer = shared.get(key)
            if answer is None:
                answer = self.evaluate(
                    level, self.hosts[i], self._hits[i], parent, self._lacking[i]
                )
                shared[key] = answer
            return answer

        return evaluate

    def resolve_app(
        self, app: AppStanza, class_results: Iterable[tuple[int, Outcome, Membership]]
    ) -> list[tuple[int, Outcome, bool, Why]]:
        """(host index, outcome, DS-version dependent, why) of the app stanza for each class
        result given. RESOLVER.md §3: "app member = class member AND app filter"; an app
        stanza that sets no filter answers with its class's result and why."""
        out = []
        evaluate = self._evaluator(app.filter)
        for i, outcome, membership in class_results:
            if app.filter.same_as_class:
                out.append((i, outcome, False, membership.why))
                continue
            app_outcome, dependent, why = evaluate(i, outcome)
            out.append((i, app_outcome, dependent, why))
        return out

    def explain(self, host: Host, serverclass: ServerClass) -> Membership:
        """The class result of any host, not_member included, with its full why."""
        outcome, _, why = self.evaluate(serverclass.filter, host, self.host_hits(host))
        return Membership(
            host.key, serverclass.name, MembershipResult.of(outcome[0]), why, outcome[1]
        )


def _filters(tree: Tree) -> Iterable[Filter]:
    for serverclass in tree.classes:
        yield serverclass.filter
        for app in serverclass.apps:
            yield app.filter


def _unsafe_finding(stanza: str, key: str, unsafe: Unsafe, evidence: Evidence) -> Finding:
    return Finding(
        FindingCode.UNSAFE_PATTERN,
        Severity.WARNING,
        f"{stanza} {key}",
        f"{key} = {unsafe.pattern}: RE2 cannot run it ({unsafe.reason}); hosts it could "
        "decide are unknown",
        (evidence,),
    )
