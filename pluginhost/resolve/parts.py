"""Independent parts of a pool: plugins that no requirement joins are resolved apart.

Two plugins belong to one part when a candidate of either names the other, through any chain,
in its requirements (``[plugin.requires]`` or a linked ``Requires-Dist``) or its
``[plugin.optional]``. Every rule of :mod:`.resolution` looks only along those names: a choice,
an exclusion, a cycle or the full-load search in one part never changes another. So the plan
of a pool is the union of the plans of its parts, and its load order is theirs merged by level
(the batch of :class:`graphlib.TopologicalSorter` a plugin falls in), ties by name.

That is what makes a change cost what it touches. :class:`PartMemo` keeps the plans of the
parts of the last resolution, keyed by exactly what decides them (their candidates with their
links, the active versions of their plugins); a host that swaps one plugin among a thousand
re-plans that plugin's part, with its dependents and dependencies, and takes every other part's
plan as it was. Splitting the pool and merging the plans stay linear, at a few microseconds a
plugin.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from itertools import chain
from typing import final

from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.pacing import paced
from ..model.policy import VersionPolicy
from ..model.problems import Problem
from ..model.versions import Version
from .graph import Graph

__all__ = ["PartMemo", "PartPlan", "levels_of", "merge_order", "names_of", "split"]


@final
@frozen
class PartPlan:
    """The plan of one part: what to load, the edges among it, why the rest is left out.

    :param levels: each chosen plugin's load level: 0 without dependencies, else one more than
        its deepest dependency's.
    """

    chosen: Mapping[PluginName, Candidate]
    graph: Graph
    problems: tuple[Problem, ...]
    levels: Mapping[PluginName, int]


def split(candidates: Sequence[Candidate]) -> list[list[Candidate]]:
    """``candidates`` grouped into parts, each in the order given; see the module docstring."""
    parent: dict[PluginName, PluginName] = {}

    def root(name: PluginName) -> PluginName:
        top = name
        while (up := parent.get(top, top)) != top:
            top = up
        while name != top:  # path halving keeps later finds short
            parent[name], name = top, parent[name]
        return top

    for cand in candidates:
        if not cand.requires and not cand.manifest.optional:
            continue  # most plugins: nothing to join
        for dep in names_of(cand):
            a, b = root(cand.name), root(dep)
            if a != b:
                parent[a] = b
    parts: dict[PluginName, list[Candidate]] = defaultdict(list)
    for cand in candidates:
        # A name no requirement joined is its own root: one lookup instead of a call.
        name = cand.name
        parts[root(name) if name in parent else name].append(cand)
    return list(parts.values())


def levels_of(graph: Graph, order: Sequence[PluginName]) -> dict[PluginName, int]:
    """Each plugin's level in ``order`` (dependencies first): what batch it loads in."""
    levels: dict[PluginName, int] = {}
    for name in order:
        deps = graph[name]
        levels[name] = 1 + max(levels[d] for d in deps) if deps else 0
    return levels


def merge_order(levels: Mapping[PluginName, int]) -> tuple[PluginName, ...]:
    """The load order of all parts: by level, then by name, as one topological sort of the
    whole graph would give it."""
    # Sorted as (level, name) pairs, compared in C: a key function called for each of a
    # thousand names cost most of a re-plan's merge.
    by_level = sorted(zip(levels.values(), levels.keys(), strict=True))
    return tuple(map(operator.itemgetter(1), by_level))


def names_of(candidate: Candidate) -> chain[PluginName]:
    """The plugins ``candidate`` requires or names as optional: what joins it to their part."""
    return chain(candidate.requires, candidate.manifest.optional)


@final
class PartMemo:
    """The plans of the parts of the latest resolutions, for the next one to reuse.

    Owned by one planner (the engine's): two generations are kept, so that the second
    resolution of one change (a cascade resolves again without the dependents let go) does not
    push out what the next change needs. Entries are valid for one host API version and policy:
    the memo forgets everything when either differs.
    """

    def __init__(self) -> None:
        self._now: dict[Hashable, PartPlan] = {}
        self._before: dict[Hashable, PartPlan] = {}
        self._terms: tuple[Version, VersionPolicy] | None = None
        # One-candidate parts by the candidate's identity, checked by the identity of it and
        # of its plugin's active version: hashing a thousand (candidate, version) keys at each
        # change cost more than all the rest of the memo.
        self._singles: dict[int, tuple[Candidate, Version | None, PartPlan]] = {}
        self.hits = 0
        self.misses = 0

    def plans(
        self,
        parts: Iterable[Sequence[Candidate]],
        active: Mapping[PluginName, Version],
        terms: tuple[Version, VersionPolicy],
        resolve_part: Callable[[Sequence[Candidate]], PartPlan],
    ) -> list[PartPlan]:
        """The plan of each part, from the memo where an equal part was resolved before."""
        if terms != self._terms:
            self._now, self._before, self._terms = {}, {}, terms
            self._singles = {}
        found = []
        now, before = self._now, self._before
        singles: dict[int, tuple[Candidate, Version | None, PartPlan]] = {}
        last_singles = self._singles
        # A full resolution (the first after a start) plans a thousand parts in one go, at
        # about 45 us each: 32 between two yields paused a caller up to 5 ms (a switch
        # interval) at the first swap after a start among 1,000 plugins.
        for part in paced(parts, every=8):
            single = len(part) == 1 and not part[0].plugin_requires
            if single:  # most parts
                only, version = part[0], active.get(part[0].name)
                seen = last_singles.get(id(only))
                if seen is not None and seen[0] is only and seen[1] is version:
                    self.hits += 1
                    singles[id(only)] = seen
                    found.append(seen[2])
                    continue
            key = _key(part, active)
            got = now.get(key) or before.get(key)
            if got is None:
                self.misses += 1
                got = resolve_part(part)
            else:
                self.hits += 1
            now[key] = got
            if single:
                singles[id(only)] = (only, version, got)
            found.append(got)
        self._now, self._before = {}, now
        # As the keyed plans: what this resolution used. Each entry holds its candidate, so
        # no id here is reused while it is kept.
        self._singles = singles
        return found


def _key(part: Sequence[Candidate], active: Mapping[PluginName, Version]) -> Hashable:
    """What decides a part's plan: its candidates with their links (links are not part of a
    candidate's equality), and the active version of each of its plugins (the downgrade rule)."""
    if len(part) == 1 and not part[0].plugin_requires:  # most parts: spared two sets
        only = part[0]
        return only, active.get(only.name)
    # Counted, not a set: two equal copies (one wheel offered twice) make one conflict each
    # against other bytes, so a part with one copy is not the part with two.
    cands = frozenset(
        Counter(
            (c, tuple((n, str(s)) for n, s in c.plugin_requires.items()))
            if c.plugin_requires
            else c
            for c in part
        ).items()
    )
    names = {c.name for c in part}
    return cands, frozenset((n, active[n]) for n in names if n in active)
