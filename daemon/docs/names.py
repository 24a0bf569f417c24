"""The pages a site has, by kind, and the links between them (DOCS.md's paths): every link
goes through `Names.link`, which links only names that have a page, so a crawl of the site
finds no broken link whatever the estate holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from markupsafe import Markup, escape

from daemon.docs.load import Site
from daemon.docs.slug import slug
from daemon.resolve.levels import serverclass_stanza

FOLDERS = {
    "host": "hosts",
    "serverclass": "serverclasses",
    "app": "apps",
    "index": "indexes",
    "sourcetype": "sourcetypes",
}
# A finding's subject "kind:name" names a page of that kind.
_SUBJECT_KINDS = {
    "app": "app",
    "index": "index",
    "serverclass": "serverclass",
    "serverClass": "serverclass",  # SERVERCLASS_EMPTY's subject
    "host": "host",
    "sourcetype": "sourcetype",
}


class Names:
    """The names that have a page, by kind, and links to them from a page `root` deep."""

    def __init__(self, by_kind: Mapping[str, Iterable[str]]) -> None:
        self.by_kind = {kind: sorted(set(names)) for kind, names in by_kind.items()}
        self._known = {kind: set(names) for kind, names in self.by_kind.items()}
        self._slugs: dict[tuple[str, str], str] = {}
        self._links: dict[str, dict[tuple[str, str], Markup]] = {}

    def has(self, kind: str, name: str | None) -> bool:
        return name is not None and name in self._known.get(kind, ())

    def path(self, kind: str, name: str) -> str:
        """The page's path from the site's root."""
        found = self._slugs.get((kind, name))
        if found is None:
            found = self._slugs[(kind, name)] = f"{FOLDERS[kind]}/{slug(name)}.html"
        return found

    def linker(self, root: str) -> Callable[[str, str | None], Markup]:
        # A host page links to the same indexes, hosts and sourcetypes over and over: each
        # link is made once per depth (Markup.format costs ~20 µs a call).
        made = self._links.setdefault(root, {})

        def link(kind: str, name: str | None) -> Markup:
            if name is None:
                return Markup("")
            found = made.get((kind, name))
            if found is None:
                text = escape(name)
                if self.has(kind, name):
                    href = escape(root + self.path(kind, name))
                    text = Markup('<a href="') + href + Markup('">') + text + Markup("</a>")
                found = made[(kind, name)] = text
            return found

        return link

    def hrefer(self, root: str) -> Callable[[str, str | None], str | None]:
        def href(kind: str, name: str | None) -> str | None:
            if name is None or kind not in FOLDERS or not self.has(kind, name):
                return None
            return root + self.path(kind, name)

        return href

    def subject(self, root: str) -> Callable[[str], Markup]:
        link = self.linker(root)

        def subject(text: str) -> Markup:
            kind, sep, name = text.partition(":")
            kind = _SUBJECT_KINDS.get(kind, "")
            if sep and kind and self.has(kind, name):
                return Markup("{}:{}").format(text.partition(":")[0], link(kind, name))
            return escape(text)

        return subject


def site_names(site: Site) -> Names:
    """Every name of the site that gets a page."""
    classes = {m.serverclass for m in site.memberships}
    classes.update(c for a in site.host_apps for c in a.serverclasses)
    classes.update(_defined_classes(site))
    apps = {a.app for a in site.host_apps} | set(site.app_files)
    apps.update(f.subject.partition(":")[2] for f in site.findings if f.subject.startswith("app:"))
    indexes: set[str] = set()
    sourcetypes: set[str] = set()
    for p in site.paths:
        if p.index and p.index != "default":
            indexes.add(p.index)
        if p.sourcetype:
            sourcetypes.add(p.sourcetype)
    for walk in site.walks.values():
        for final in walk.final:
            if final.index:
                indexes.add(final.index)
            if final.sourcetype:
                sourcetypes.add(final.sourcetype)
    for bundle in site.bundles:
        for file in bundle.conf("indexes"):
            indexes.update(s.name for s in file.stanzas if _is_index_stanza(s.name))
    return Names(
        {
            "host": [h.name for h in site.hosts],
            "serverclass": classes,
            "app": apps,
            "index": indexes,
            "sourcetype": sourcetypes,
        }
    )


def _is_index_stanza(name: str) -> bool:
    return name not in ("default", "") and not name.startswith(
        ("volume:", "provider:", "provider-family:")
    )


def _defined_classes(site: Site) -> set[str]:
    found = set()
    for bundle in site.bundles:
        if bundle.upload_type != "ds_etc":
            continue
        for file in bundle.conf("serverclass"):
            for row in file.stanzas:
                named = serverclass_stanza(row.name)
                if named is not None:
                    found.add(named[0])
    return found


class RunNames:
    """What a page says instead of a run id: the bundle's type and label (`ds_etc ds1`, an
    instance's own tree under its host's name, linked). A run id changes with every drop,
    even of the same content; the label does not, so a page citing only labels is the same
    in the next build and is shared with it (daemon.docs.site)."""

    def __init__(
        self, runs: Iterable[tuple[str, str, int]], owners: Mapping[int, str] | None = None
    ) -> None:
        """`owners`: the host each instance_etc run is the own tree of, which names an
        unlabelled one (dropped straight into inbox/instance_etc/)."""
        owners = owners or {}
        self._label = {
            run: (kind, label or (owners.get(run, "") if kind == "instance_etc" else ""))
            for kind, label, run in runs
        }

    def namer(self, link: Callable[[str, str | None], Markup]) -> Callable[[object], Markup]:
        made: dict[object, Markup] = {}

        def name(run: object) -> Markup:
            found = made.get(run)
            if found is None:
                found = made[run] = self._name(run, link)
            return found

        return name

    def _name(self, run: object, link: Callable[[str, str | None], Markup]) -> Markup:
        if run is None:
            return Markup("shipped")
        known = self._label.get(run) if isinstance(run, int) else None
        if known is None:
            return escape(f"run {run}")
        kind, label = known
        if kind == "instance_etc":
            return Markup("{} {}").format(kind, link("host", label))
        return escape(f"{kind} {label}" if label else kind)

    def source(self, text: str) -> str:
        """A host's source as a page shows it: `inventory:run 2 row 655` as
        `inventory ds1 row 655`."""
        rest = text.partition(":run ")[2]
        number, _, tail = rest.partition(" ")
        if not number.isascii() or not number.isdigit():
            return text
        known = self._label.get(int(number))
        if known is None:
            return text
        named = f"{known[0]} {known[1]}" if known[1] else known[0]
        return f"{named} {tail}" if tail else named
