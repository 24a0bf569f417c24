"""The data-flow picture of the overview (DOCS.md): forwarders → heavy forwarders → indexers →
indexes, each edge weighted by the number of inputs whose data takes it. Pure: paths in, a
laid-out picture out (the template draws it as inline SVG).

A column of more than `limit` nodes is grouped: hosts by their smallest member server class
(else their role), indexes beyond the busiest ones into one "other" node, so that the picture
stays readable — and small — for 10,000 hosts.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

COLUMNS = ("forwarders", "heavy forwarders", "indexers", "indexes")
LIMIT = 50
ROW = 22  # px between two nodes of a column
WIDTH = 230  # px between two columns
NODE_WIDTH = 170
TOP = 30


@dataclass(frozen=True, slots=True)
class FlowHost:
    name: str
    role: str
    group: str | None  # the server class it is grouped under past the limit (None: its role)


@dataclass(frozen=True, slots=True)
class FlowPath:
    """One input's data: the host reading it, the hops (from, to; to None outside the
    estate) and the final (index, at) pairs."""

    host: str
    hops: tuple[tuple[str, str | None], ...]
    finals: tuple[tuple[str | None, str | None], ...]


@dataclass(frozen=True, slots=True)
class Node:
    key: str  # "host:NAME", "group:NAME", "index:NAME", "outside", "other-indexes"
    label: str
    column: int
    kind: str  # host | serverclass | role | index | outside | other
    target: str | None  # the name of the page it links to (host, class or index)
    members: int = 1
    x: int = 0
    y: int = 0


@dataclass(frozen=True, slots=True)
class Edge:
    source: Node
    target: Node
    weight: int
    width: float


@dataclass(frozen=True, slots=True)
class Flow:
    columns: tuple[tuple[Node, ...], ...]
    edges: tuple[Edge, ...]
    width: int
    height: int

    @property
    def nodes(self) -> Iterable[Node]:
        for column in self.columns:
            yield from column


def build_flow(hosts: Sequence[FlowHost], paths: Iterable[FlowPath], limit: int = LIMIT) -> Flow:
    """The picture of these paths, every column grouped past `limit` nodes."""
    by_name = {h.name: h for h in hosts}
    # Raw edges between raw keys, weighted by the inputs that take them.
    weights: Counter[tuple[str, str]] = Counter()
    receives: set[str] = set()
    forwards: set[str] = set()
    seen: set[str] = set()
    index_weight: Counter[str] = Counter()
    for path in paths:
        taken: set[tuple[str, str]] = set()
        for source, to in path.hops:
            target = f"host:{to}" if to is not None else "outside"
            taken.add((f"host:{source}", target))
            forwards.add(source)
            seen.add(source)
            if to is not None:
                receives.add(to)
                seen.add(to)
        for index, at in path.finals:
            if at is None:
                continue
            name = index if index is not None else "?"
            taken.add((f"host:{at}", f"index:{name}"))
            seen.add(at)
        for edge in taken:
            weights[edge] += 1
            if edge[1].startswith("index:"):
                index_weight[edge[1]] += 1
        if taken:
            seen.add(path.host)

    def column_of(name: str) -> int:
        role = by_name[name].role if name in by_name else "unknown"
        if role == "indexer":
            return 2
        if role == "hf":
            return 1
        if name in receives:
            return 1 if name in forwards else 2
        return 0

    raw: dict[int, list[str]] = defaultdict(list)
    for name in sorted(seen):
        raw[column_of(name)].append(f"host:{name}")
    if any(target == "outside" for _s, target in weights):
        raw[2].append("outside")
    raw[3] = sorted({target for _s, target in weights if target.startswith("index:")})

    node_weight: Counter[str] = Counter()
    for (source, target), weight in weights.items():
        node_weight[source] += weight
        node_weight[target] += weight

    # Each raw key to the node it is drawn as.
    mapping: dict[str, Node] = {}
    for column in range(3):
        keys = raw.get(column, [])
        if len(keys) <= limit:
            for key in keys:
                mapping[key] = _single(key, column)
        else:
            for key, node in _group_hosts(keys, column, by_name, node_weight, limit).items():
                mapping[key] = node
    indexes = raw[3]
    if len(indexes) <= limit:
        for key in indexes:
            mapping[key] = _single(key, 3)
    else:
        busiest = sorted(indexes, key=lambda k: (-index_weight[k], k))[: limit - 1]
        rest = [k for k in indexes if k not in set(busiest)]
        other = Node("other-indexes", f"{len(rest)} other indexes", 3, "other", None, len(rest))
        for key in indexes:
            mapping[key] = _single(key, 3) if key in busiest else other

    edges: Counter[tuple[str, str]] = Counter()
    nodes: dict[str, Node] = {}
    for (source, target), weight in weights.items():
        a, b = mapping[source], mapping[target]
        nodes[a.key], nodes[b.key] = a, b
        if a.key != b.key:
            edges[(a.key, b.key)] += weight
    return _layout(nodes, edges)


def _single(key: str, column: int) -> Node:
    if key == "outside":
        return Node(key, "outside the estate", column, "outside", None)
    kind, _, name = key.partition(":")
    return Node(key, name, column, kind, name)


def _group_hosts(
    keys: Sequence[str],
    column: int,
    by_name: Mapping[str, FlowHost],
    weight: Mapping[str, int],
    limit: int,
) -> dict[str, Node]:
    """Hosts by server class (else role); past `limit` groups, the lightest in one."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in keys:
        if key == "outside":
            groups[("outside", "outside")].append(key)
            continue
        host = by_name.get(key.partition(":")[2])
        if host is not None and host.group:
            groups[("serverclass", host.group)].append(key)
        else:
            groups[("role", host.role if host else "unknown")].append(key)
    ordered = sorted(groups, key=lambda g: (-sum(weight[k] for k in groups[g]), g))
    kept, rest = ordered[: limit - 1], ordered[limit - 1 :]
    if len(rest) == 1:
        kept, rest = ordered, []
    found: dict[str, Node] = {}
    for kind, name in kept:
        members = groups[(kind, name)]
        if kind == "outside":
            node = Node("outside", "outside the estate", column, "outside", None)
        else:
            label = (
                f"{name} ({len(members)})"
                if kind == "serverclass"
                else f"role {name} ({len(members)})"
            )
            node = Node(f"group:{column}:{kind}:{name}", label, column, kind, name, len(members))
        for key in members:
            found[key] = node
    if rest:
        members = [k for g in rest for k in groups[g]]
        node = Node(
            f"group:{column}:other",
            f"{len(rest)} other groups ({len(members)})",
            column,
            "other",
            None,
            len(members),
        )
        for key in members:
            found[key] = node
    return found


def _layout(nodes: Mapping[str, Node], edges: Mapping[tuple[str, str], int]) -> Flow:
    by_column: dict[int, list[Node]] = defaultdict(list)
    for node in nodes.values():
        by_column[node.column].append(node)
    placed: dict[str, Node] = {}
    columns = []
    for column in range(len(COLUMNS)):
        ordered = sorted(
            by_column.get(column, []),
            key=lambda n: (n.kind == "other", n.kind == "outside", n.label),
        )
        laid = tuple(
            Node(
                n.key,
                n.label,
                n.column,
                n.kind,
                n.target,
                n.members,
                column * WIDTH + 10,
                TOP + i * ROW,
            )
            for i, n in enumerate(ordered)
        )
        placed.update((n.key, n) for n in laid)
        columns.append(laid)
    heaviest = max(edges.values(), default=1)
    laid_edges = tuple(
        Edge(placed[a], placed[b], w, round(1 + 5 * math.log1p(w) / math.log1p(heaviest), 1))
        for (a, b), w in sorted(edges.items())
    )
    rows = max((len(c) for c in columns), default=0)
    return Flow(
        tuple(columns),
        laid_edges,
        (len(COLUMNS) - 1) * WIDTH + NODE_WIDTH + 20,
        TOP + rows * ROW + 10,
    )
