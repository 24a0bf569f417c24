"""`autodoc preview` (DOCS.md): what a new ds_etc bundle would change, before it is deployed.

The estate of the latest resolution is resolved again with the bundle standing in for one
deployment server's, entirely in memory: no run, blob, resolution or row is written. The
bundle is checked as a drop would be (size, format, the archive limits of `[parse]`) by the
same code the pipeline uses, and a deployment server's bundle must hold a serverclass.conf.
The result is turned into the same view a stored resolution gives (daemon.docs.diff), so
`autodoc diff` and `autodoc preview` compare alike.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon import handlers
from daemon.conf.archive import ArchiveRejected, read_members, read_tree_files
from daemon.conf.parser import parse_conf
from daemon.conf.types import ParsedConf, Provenance
from daemon.config import Config
from daemon.docs.diff import (
    FindingView,
    HostView,
    InputStanza,
    ResolutionView,
    app_contents,
    final_indexes,
)
from daemon.domain import UploadType
from daemon.errors import AutodocError, ConfigError, PermanentError
from daemon.inbox import given_file
from daemon.parsing import archive_limits
from daemon.resolve.estate import Bundle, ConfFile, Estate, StanzaRow
from daemon.resolve.layers import EffectiveConf
from daemon.resolve.load import EstateRuns, NoResolution, Reader, latest_resolution, latest_runs
from daemon.resolve.locations import bundle_candidates
from daemon.resolve.result import Resolution

# The run id the previewed bundle goes by: no stored run has it (ids start at 1).
PREVIEW_RUN = 0


class PreviewRefused(AutodocError):
    """The bundle cannot stand in for a deployment server's."""


@dataclass(frozen=True)
class Preview:
    base: int | None  # the resolution compared with; None when there is none yet
    label: str  # the DS the bundle stands in for ("" for an unlabelled one)
    view: ResolutionView
    seconds: float = 0.0


TreeReader = Callable[[Iterable[str]], dict[str, bytes]]


def _regular_file(path: Path) -> os.stat_result:
    """The file's stat; PreviewRefused when it is missing or not a regular file."""
    try:
        return given_file(path)
    except ConfigError as exc:
        raise PreviewRefused(exc.message) from None


def read_bundle(config: Config, path: Path, label: str) -> tuple[Bundle, TreeReader]:
    """The ds_etc bundle in `path`, parsed in memory as the pipeline would store it, and a
    reader of its other files (for `whitelist.from_pathname`). Raises PreviewRefused with
    the reason a drop of it would fail with."""
    st = _regular_file(path)
    if st.st_size == 0:
        raise PreviewRefused(f"{path}: the file is empty")
    limit = config.inbox.max_file_bytes
    if st.st_size > limit:
        raise PreviewRefused(f"{path}: file is {st.st_size} bytes; max_file_bytes is {limit}")
    limits = archive_limits(config)
    files: list[ConfFile] = []
    dirs: set[str] = set()
    try:
        with open(path, "rb") as handle:
            handlers.validate(UploadType.DS_ETC, handle.read(handlers.HEAD_BYTES))
            handle.seek(0)
            members = read_members(
                handle, UploadType.DS_ETC, name=path.name, limits=limits, findings=[], dirs=dirs
            )
            files.extend(_conf_file(m.path, m.provenance, parse_conf(m.data)) for m in members)
    except PermanentError as exc:  # not an archive, corrupt, a bomb, over a limit
        raise PreviewRefused(f"{path}: {exc.message}") from None
    except OSError as exc:
        raise PreviewRefused(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if not any(f.conf_type == "serverclass" and not f.path.endswith(".meta") for f in files):
        raise PreviewRefused(
            f"{path}: no serverclass.conf in the bundle: a deployment server's etc/ tree has "
            "etc/system/local/serverclass.conf (or one in an app); is this the right file?"
        )
    bundle = Bundle(
        PREVIEW_RUN, UploadType.DS_ETC.value, label or None, tuple(files), frozenset(dirs)
    )

    def read_tree(wanted: Iterable[str]) -> dict[str, bytes]:
        with open(path, "rb") as handle:
            return read_tree_files(
                handle, UploadType.DS_ETC, name=path.name, wanted=list(wanted), limits=limits
            )

    return bundle, read_tree


def _conf_file(path: str, place: Provenance, parsed: ParsedConf) -> ConfFile:
    """A member as the resolver reads it back from the database once stored."""
    return ConfFile(
        run=PREVIEW_RUN,
        path=path,
        conf_type=place.conf_type,
        layer=None if place.layer is None else place.layer.value,
        app=place.app,
        scope=None if place.scope is None else place.scope.value,
        stanzas=tuple(
            StanzaRow(s.name, s.line, dict(s.settings), {o.key: o.line for o in s.occurrences})
            for s in parsed.stanzas
        ),
    )


def base_runs(db: Reader) -> tuple[dict[str, Any] | None, EstateRuns]:
    """The latest complete resolution (None when there is none) and the runs it read (the
    latest complete runs when there is none)."""
    try:
        resolution = latest_resolution(db)
    except NoResolution:
        return None, latest_runs(db)
    runs = (resolution.get("inputs") or {}).get("runs", {})
    return resolution, {kind: dict(labels) for kind, labels in runs.items()}


def ds_version_of(config: Config, resolution: Mapping[str, Any] | None) -> str | None:
    """The DS version override to resolve with: the base resolution's (`autodoc resolve
    --ds-version`, or the config's then), else the config's. Without it a preview of the
    very bundle the base read would show membership changes that are only the version's."""
    inputs = (resolution or {}).get("inputs") or {}
    if "ds_version" in inputs:
        return inputs["ds_version"] or None
    return config.resolve.ds_version or None


def pick_label(runs: EstateRuns, label: str | None) -> str:
    """The DS the bundle stands in for: `label`, or the only one. Raises PreviewRefused."""
    labels = sorted(runs.get(UploadType.DS_ETC.value, {}))
    if label is not None:
        if labels and label not in labels:
            raise PreviewRefused(
                f"no deployment server is labelled {label!r}; the labels are: "
                + ", ".join(repr(name) for name in labels)
            )
        return label
    if len(labels) > 1:
        raise PreviewRefused(
            "several deployment servers: say which one the bundle is for with --label "
            + "(" + ", ".join(repr(name) for name in labels) + ")"
        )  # fmt: skip
    return labels[0] if labels else ""


def substitute(estate: Estate, bundle: Bundle) -> Estate:
    """The estate with `bundle` in place of the DS of its label (added when there is none)."""
    servers = list(estate.deployment_servers)
    for i, server in enumerate(servers):
        if (server.label or "") == (bundle.label or ""):
            servers[i] = bundle
            break
    else:
        servers.append(bundle)
    return dataclasses.replace(estate, deployment_servers=tuple(servers))


def reader_with(
    bundle: Bundle,
    read_tree: TreeReader,
    others: Callable[[int, str], bytes | None],
) -> Callable[[int, str], bytes | None]:
    """`Estate.read_file` serving the previewed bundle's files from it, the others' from the
    stored bundles: the files its serverclass.conf names are read in one pass."""
    wanted: set[str] = set()
    for conf in bundle.conf("serverclass"):
        for row in conf.stanzas:
            for key, value in row.settings.items():
                if key.endswith(".from_pathname"):
                    wanted.update(bundle_candidates(value))
    found: dict[str, bytes] = {}
    if wanted:
        try:
            found = read_tree(wanted)
        except (ArchiveRejected, OSError) as exc:
            raise PreviewRefused(f"the bundle's from_pathname files: {exc}") from None

    def read_file(run_id: int, path: str) -> bytes | None:
        if run_id == PREVIEW_RUN:
            return found.get(path)
        return others(run_id, path)

    return read_file


def view_of(resolution: Resolution, estate: Estate) -> ResolutionView:
    """A resolution in memory as a diff compares it (as load_view reads a stored one). Its
    data paths are iterated once."""
    classes: dict[str, set[str]] = {}
    for m in resolution.memberships:
        if m.result.value == "member":
            classes.setdefault(m.host, set()).add(m.serverclass)
    apps: dict[str, set[str]] = {}
    for a in resolution.apps:
        if a.result == "deployed":
            apps.setdefault(a.host, set()).add(a.app)
    stacks = {stack: _inputs(conf) for stack, conf in resolution.effective_inputs.items()}
    finals: dict[str, dict[str, tuple[str | None, ...]]] = {}
    walks: dict[int, tuple[str | None, ...]] = {}
    for path in resolution.paths:
        ends = walks.get(id(path.walk))
        if ends is None:
            ends = walks[id(path.walk)] = final_indexes(f.index for f in path.walk.final)
        finals.setdefault(path.host, {})[path.input] = ends
    empty: dict[str, InputStanza] = {}
    files = (
        (bundle.label or "", f.app, f.path, {s.name: dict(s.settings) for s in f.stanzas})
        for bundle in estate.deployment_servers
        for f in bundle.files
        if f.layer == "deployment_app" and f.app is not None
    )
    return ResolutionView(
        id=None,
        hosts={
            h.name: HostView(
                serverclasses=frozenset(classes.get(h.name, ())),
                apps=frozenset(apps.get(h.name, ())),
                inputs=stacks.get(h.stack, empty) if h.stack is not None else empty,
                finals=finals.get(h.name, {}),
            )
            for h in resolution.hosts
        },
        apps=app_contents(files),
        findings=tuple(
            FindingView(f.code.value, f.severity.value, f.host, f.subject, f.message)
            for f in resolution.findings
        ),
    )


def _inputs(conf: EffectiveConf) -> dict[str, InputStanza]:
    return {
        name: InputStanza(
            {k: v.value for k, v in stanza.settings.items()},
            any(v.origin.run is not None for v in stanza.settings.values()),
        )
        for name, stanza in conf.stanzas.items()
    }


def preview(config: Config, db: Reader, path: Path, label: str | None = None) -> Preview:
    """Resolve the estate with the bundle in `path` for the DS `label`; nothing is stored.
    Raises PreviewRefused."""
    from daemon.resolve.defaults import shipped_system_default
    from daemon.resolve.load import load_estate
    from daemon.resolve.resolver import PATH_CONF_TYPES, ResolveOptions, resolve
    from daemon.resolving import bundle_files

    start = time.monotonic()
    _regular_file(path)  # a missing file says so before anything is asked of the database
    resolution, runs = base_runs(db)
    chosen = pick_label(runs, label)
    bundle, read_tree = read_bundle(config, path, chosen)
    runs.get(UploadType.DS_ETC.value, {}).pop(chosen, None)
    estate = load_estate(db, runs, system_default=shipped_system_default(*PATH_CONF_TYPES))
    estate = substitute(estate, bundle)
    estate = dataclasses.replace(
        estate, read_file=reader_with(bundle, read_tree, bundle_files(config, db, estate))
    )
    result = resolve(estate, ResolveOptions(ds_version=ds_version_of(config, resolution)))
    view = view_of(result, estate)
    base = None if resolution is None else int(resolution["id"])
    return Preview(base, chosen, view, round(time.monotonic() - start, 3))
