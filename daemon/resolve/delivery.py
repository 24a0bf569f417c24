"""One delivery per host and app, however many server classes deliver it (RESOLVER.md §3
"Apps"): which class's settings apply, and APP_MULTIPLY_ASSIGNED when the classes disagree.

Each group of app stanzas is a *slot*; a host's *signature* lists the slots that deliver to
it, in class order (so ASCII). Hosts of one signature share one tuple of deliveries, and a
delivery made by the same slots is one object for every host: 10,000 hosts that each get
100 apps from one `app:*` hold 100 deliveries, not a million.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from daemon.resolve.types import AppDelivery, AppSettings, Finding
from daemon.resolve.vocabulary import FindingCode, MembershipResult, Severity

# (slot, result): one app stanza group's answer for a host.
_Source = tuple[int, MembershipResult]


class DeliveryPlan:
    def __init__(self, hosts: int) -> None:
        # slot -> (class, apps it names, their settings)
        self._slots: list[tuple[str, tuple[str, ...], Mapping[str, AppSettings]]] = []
        self._signatures: list[list[_Source]] = [[] for _ in range(hosts)]

    def slot(
        self, serverclass: str, apps: tuple[str, ...], settings: Mapping[str, AppSettings]
    ) -> int:
        """A group of app stanzas of one class that always answers alike; slots of a class
        come in ASCII order of class name."""
        self._slots.append((serverclass, apps, settings))
        return len(self._slots) - 1

    def deliver(self, host: int, slot: int, result: MembershipResult) -> None:
        """The slot delivers its apps to host (index) as member or unknown."""
        self._signatures[host].append((slot, result))

    def build(
        self, host_keys: Sequence[str], findings: list[Finding]
    ) -> dict[str, tuple[AppDelivery, ...]]:
        """Every host's deliveries, sorted by app; APP_MULTIPLY_ASSIGNED appended to findings
        once per app and set of disagreeing classes."""
        disagreements: dict[tuple[str, tuple[str, ...]], AppSettings] = {}
        by_signature: dict[tuple[_Source, ...], tuple[AppDelivery, ...]] = {}
        by_sources: dict[tuple[str, tuple[_Source, ...]], AppDelivery] = {}
        out = {}
        for key, signature in zip(host_keys, self._signatures, strict=True):
            frozen = tuple(signature)
            deliveries = by_signature.get(frozen)
            if deliveries is None:
                apps: dict[str, list[_Source]] = {}
                for slot, result in frozen:
                    for name in self._slots[slot][1]:
                        apps.setdefault(name, []).append((slot, result))
                made = []
                for name in sorted(apps):
                    sources = (name, tuple(apps[name]))
                    delivery = by_sources.get(sources)
                    if delivery is None:
                        rows = [
                            (self._slots[s][0], r, self._slots[s][2][name]) for s, r in sources[1]
                        ]
                        delivery, disagree = app_multiply_assigned(name, rows)
                        by_sources[sources] = delivery
                        if disagree:
                            disagreements.setdefault(
                                (name, delivery.serverclasses), delivery.settings
                            )
                    made.append(delivery)
                deliveries = by_signature[frozen] = tuple(made)
            out[key] = deliveries
        for (name, classes), settings in disagreements.items():
            findings.append(
                Finding(
                    FindingCode.APP_MULTIPLY_ASSIGNED,
                    Severity.WARNING,
                    f"app:{name}",
                    f"app {name} is delivered by {', '.join(classes)} with different settings "
                    "(stateOnClient, repositoryLocation, targetRepositoryLocation or "
                    f"excludeFromUpdate); {settings.serverclass} wins (first in ASCII order "
                    "that surely delivers it)",
                    settings.evidence,
                )
            )
        return out


def app_multiply_assigned(
    name: str, rows: Sequence[tuple[str, MembershipResult, AppSettings]]
) -> tuple[AppDelivery, bool]:
    """The one delivery of an app from these classes (ASCII order), and whether their
    settings disagree.

    RESOLVER.md §3 (ours): "Several classes delivering one app: the app is delivered once;
    its settings from the first class in ASCII order of class name with
    APP_MULTIPLY_ASSIGNED when they disagree." The first class that surely delivers it wins;
    when an earlier class is unknown and would set other settings, they are uncertain.
    """
    chosen = next((n for n, r in enumerate(rows) if r[1] is MembershipResult.MEMBER), None)
    result = MembershipResult.UNKNOWN if chosen is None else MembershipResult.MEMBER
    settings = rows[chosen or 0][2]
    classes = tuple(r[0] for r in rows)
    certain, disagree = True, False
    if len(rows) > 1:
        wanted = settings.delivery_key()
        certain = all(r[2].delivery_key() == wanted for r in rows[: chosen or len(rows)])
        disagree = len({r[2].delivery_key() for r in rows}) > 1
    return AppDelivery(name, result, classes, settings, certain), disagree
