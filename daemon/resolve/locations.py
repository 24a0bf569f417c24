"""Where a path written in serverclass.conf lies inside the DS bundle.

The bundle holds the DS's `etc/` tree, so `$SPLUNK_HOME/etc/deployment-apps` and an absolute
`/opt/splunk/etc/deployment-apps` are both the bundle's `etc/deployment-apps` (RESOLVER.md
§3: "an absolute repositoryLocation is read against the DS's $SPLUNK_HOME, i.e. the part
from etc/ on"). A path with no `etc` part lies outside the bundle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

_HOME_VARIABLES = ("$SPLUNK_HOME", "${SPLUNK_HOME}", "%SPLUNK_HOME%")


def bundle_candidates(path: str) -> list[str]:
    """The paths inside the bundle this path may mean, most likely first (empty: outside).

    `$SPLUNK_HOME/x` and a relative `x` (from_pathname is "relative to $SPLUNK_HOME") mean
    `x`. An absolute path means the part from an `etc` directory on; with several `etc`
    parts (`/opt/etc/splunk/etc/deployment-apps`) each is a candidate, the first first.
    """
    text = path.strip().replace("\\", "/")
    for variable in _HOME_VARIABLES:
        if text.startswith(variable):
            return [_clean(text[len(variable) :])]
    is_absolute = text.startswith("/") or (len(text) > 1 and text[1] == ":")  # C:/...
    if not is_absolute:
        return [_clean(text)]
    parts = [p for p in text.split("/") if p]
    return ["/".join(parts[i:]) for i, part in enumerate(parts) if part == "etc"]


def _clean(relative: str) -> str:
    parts = [p for p in relative.split("/") if p and p != "."]
    return "/".join(parts)


def in_bundle(path: str, exists: Callable[[str], bool]) -> str | None:
    """The first candidate for `path` that `exists` in the bundle, None when none does."""
    for candidate in bundle_candidates(path):
        if candidate and ".." not in candidate.split("/") and exists(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=256)
def is_live_apps_directory(path: str) -> bool:
    """Is this targetRepositoryLocation the client's `etc/apps` (live configuration)?"""
    return any(c == "etc/apps" for c in bundle_candidates(path))
