"""SHADOWED_SETTING (RESOLVER.md §6): two apps set the same stanza key to different values on
one host — which wins and why. Pure: a host's layers of one conf type in, the shadowed keys
out. Only where an app's value is the effective one: when system/local sets the key, no app
wins and their disagreement changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from daemon.resolve.layers import ConfLayer, EffectiveValue, ordered
from daemon.resolve.types import Finding
from daemon.resolve.vocabulary import FindingCode, Severity


@dataclass(frozen=True, slots=True)
class Shadow:
    conf: str
    stanza: str
    key: str
    winner: EffectiveValue
    losers: tuple[EffectiveValue, ...]  # other apps' values that differ, by precedence

    def why(self) -> str:
        """The precedence rule that puts the winner first (RESOLVER.md §4)."""
        loser = self.losers[0]
        if self.winner.origin.kind is not loser.origin.kind:
            return "an app's local/ comes before any app's default/"
        return (
            f"apps of the same scope go in ASCII order of their folder name "
            f"({self.winner.app!r} before {loser.app!r})"
        )

    def finding(self, host: str | None) -> Finding:
        winner = self.winner
        others = ", ".join(f"{v.origin.label} {v.value!r}" for v in self.losers)
        return Finding(
            FindingCode.SHADOWED_SETTING,
            Severity.INFO,
            f"{self.conf}:[{self.stanza}] {self.key}",
            f"{self.conf}.conf [{self.stanza}] {self.key}: {winner.origin.label} sets "
            f"{winner.value!r} and wins over {others}: {self.why()}",
            tuple(v.clue(self.conf, self.stanza, self.key) for v in (winner, *self.losers)),
            host,
        )


def shadowed(conf_type: str, layers: Iterable[ConfLayer]) -> tuple[Shadow, ...]:
    """Every (stanza, key) whose effective value comes from an app while another app sets it
    to something else, in ASCII order of stanza and key."""
    first: dict[tuple[str, str], EffectiveValue] = {}
    losers: dict[tuple[str, str], list[EffectiveValue]] = {}
    for layer in ordered(layers):  # highest precedence first
        in_app = layer.origin.kind.in_app
        for name, stanza in layer.stanzas.items():
            for key, value in stanza.settings.items():
                where = (name, key)
                winner = first.setdefault(where, value)
                if winner is value or not in_app or not winner.origin.kind.in_app:
                    continue
                if winner.app != value.app and winner.value.strip() != value.value.strip():
                    losers.setdefault(where, []).append(value)
    return tuple(
        Shadow(conf_type, name, key, first[(name, key)], tuple(found))
        for (name, key), found in sorted(losers.items())
    )
