"""The dependency graph among chosen plugins: its edges, its cycles and the load order.

Edges are the required dependencies plus the optional ones that are chosen and satisfied (rules 4
and 6 of :mod:`.resolution`). Nothing here recurses: a chain of thousands of plugins is fine.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict, deque
from collections.abc import Callable, Mapping

from ..model.candidate import Candidate
from ..model.names import PluginName
from ..model.specifiers import PluginConstraint

__all__ = ["Graph", "demands_of", "find_cycles", "graph_of", "load_order"]

Graph = Mapping[PluginName, tuple[PluginName, ...]]
"""Plugin -> the chosen plugins it depends on, sorted."""


def demands_of(
    chosen: Mapping[PluginName, Candidate],
) -> dict[PluginName, list[tuple[Candidate, PluginConstraint]]]:
    """The constraints that the chosen plugins' requirements put on each plugin."""
    demands = defaultdict(list)
    for cand in chosen.values():
        for dep, constraint in cand.requires.items():
            demands[dep].append((cand, constraint))
    return demands


def graph_of(
    chosen: Mapping[PluginName, Candidate], allow_pre: bool
) -> dict[PluginName, tuple[PluginName, ...]]:
    """Each chosen plugin's edges: its required dependencies and its satisfied optional ones."""
    return {name: _edges(cand, chosen, allow_pre) for name, cand in sorted(chosen.items())}


def _edges(
    cand: Candidate, chosen: Mapping[PluginName, Candidate], allow_pre: bool
) -> tuple[PluginName, ...]:
    deps = {dep for dep in cand.requires if dep in chosen}
    deps.update(
        dep
        for dep, constraint in cand.manifest.optional.items()
        if dep in chosen and constraint.allows(chosen[dep].version, prerelease=allow_pre)
    )
    return tuple(sorted(deps))


def find_cycles(graph: Graph) -> list[tuple[PluginName, ...]]:
    """A closed walk through each cyclic component, e.g. ``(a, b, c, a)``, sorted."""
    return sorted(
        _walk(graph, set(component))
        for component in _components(graph)
        if len(component) > 1 or component[0] in graph[component[0]]
    )


def _components(graph: Graph) -> list[list[PluginName]]:
    """Strongly connected components: Tarjan's algorithm with an explicit stack, no recursion."""
    index: dict[PluginName, int] = {}
    low: dict[PluginName, int] = {}
    stack: list[PluginName] = []
    found: list[list[PluginName]] = []

    def visit(node: PluginName) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)

    for root in graph:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, edges = work[-1]
            for dep in edges:
                if dep not in index:
                    visit(dep)
                    work.append((dep, iter(graph[dep])))
                    break
                if dep in stack:
                    low[node] = min(low[node], index[dep])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    cut = stack.index(node)
                    found.append(stack[cut:])
                    del stack[cut:]
    return found


def _walk(graph: Graph, members: set[PluginName]) -> tuple[PluginName, ...]:
    """A closed walk from the smallest member through all members, by shortest hops."""
    start = min(members)
    walk = [start]
    unseen = members - {start}
    while unseen:
        hop = _shortest(graph, walk[-1], unseen.__contains__, members)
        walk.extend(hop)
        unseen.difference_update(hop)
    walk.extend(_shortest(graph, walk[-1], start.__eq__, members))
    return tuple(walk)


def _shortest(
    graph: Graph, source: PluginName, goal: Callable[[str], bool], members: set[PluginName]
) -> list[PluginName]:
    """The nodes after ``source`` on a shortest path to a goal, staying among ``members``."""
    parent: dict[PluginName, PluginName] = {}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for dep in graph[node]:
            if dep not in members:
                continue
            if goal(dep):
                path = [dep]
                while node != source:
                    path.append(node)
                    node = parent[node]
                return path[::-1]
            if dep != source and dep not in parent:
                parent[dep] = node
                queue.append(dep)
    raise AssertionError("unreachable: members are strongly connected")


def load_order(graph: Graph) -> tuple[PluginName, ...]:
    if not any(graph.values()):
        # No edges (most parts of a pool: one plugin alone): every node is ready at once. A
        # start among 1,000 plugins made a sorter for each of them.
        return tuple(sorted(graph))
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: list[PluginName] = []
    while sorter.is_active():
        batch = sorted(sorter.get_ready())
        order.extend(batch)
        sorter.done(*batch)
    return tuple(order)
