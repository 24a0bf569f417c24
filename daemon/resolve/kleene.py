"""Kleene's three-valued logic with `missing`: True, False and None (unknown), each unknown
carrying what it lacks, so an answer says what would decide it (RESOLVER.md §3 "Three
states").

NOT ? = ?; F AND ? = F; T AND ? = ?; T OR ? = T; F OR ? = ?. So a blacklist that surely
matches excludes a host under `filterType = whitelist` even when its whitelist is unknown,
and an unknown never hides a definite answer it cannot change. Every connective is monotone
in information: learning an unknown can only turn ? into T or F, never T into F.
"""

from __future__ import annotations

from daemon.resolve.vocabulary import FilterType

# A three-valued outcome and what an unknown one lacks.
Outcome = tuple[bool | None, tuple[str, ...]]
TRUE: Outcome = (True, ())
FALSE: Outcome = (False, ())


def k_not(a: Outcome) -> Outcome:
    return (None if a[0] is None else not a[0]), a[1]


def k_and(*terms: Outcome) -> Outcome:
    """False if any term is False; else unknown if any is; `missing` from the unknown ones."""
    missing: list[str] = []
    for value, lacks in terms:
        if value is False:
            return FALSE
        if value is None:
            missing.extend(m for m in lacks if m not in missing)
    return (None, tuple(missing)) if missing or any(t[0] is None for t in terms) else TRUE


def k_or(*terms: Outcome) -> Outcome:
    """True if any term is True; else unknown if any is; `missing` from the unknown ones."""
    missing: list[str] = []
    for value, lacks in terms:
        if value is True:
            return TRUE
        if value is None:
            missing.extend(m for m in lacks if m not in missing)
    return (None, tuple(missing)) if missing or any(t[0] is None for t in terms) else FALSE


def whitelist_filter(w: Outcome, b: Outcome) -> Outcome:
    """filterType = whitelist: member = any whitelist AND NOT any blacklist."""
    return k_and(w, k_not(b))


def blacklist_filter(w: Outcome, b: Outcome) -> Outcome:
    """filterType = blacklist: member = any whitelist OR NOT any blacklist."""
    return k_or(w, k_not(b))


def lists_filter(filter_type: FilterType, w: Outcome, b: Outcome) -> Outcome:
    if filter_type is FilterType.WHITELIST:
        return whitelist_filter(w, b)
    return blacklist_filter(w, b)


def join(a: Outcome, b: Outcome, lacks: tuple[str, ...]) -> Outcome:
    """The answer when we cannot tell which of two rules applies: theirs if they agree."""
    if a[0] is not None and a[0] == b[0]:
        return a
    missing = list(lacks)
    missing.extend(m for m in (*a[1], *b[1]) if m not in missing)
    return None, tuple(missing)
