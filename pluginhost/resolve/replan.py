"""Re-planning what a change touches: the last resolution's parts and merged plan, patched.

A plan is the union of its parts' plans (:mod:`.parts`). Between two resolutions of one host
the pool differs by the few candidates a change added or took out, and the active versions by
the few plugins it switched. :class:`Replan` keeps the last resolution: its pool by identity,
each part with the names it holds or names, and the merged choice, graph, levels and problems.
The next resolution finds what differs with set operations on identities (at C speed: a
thousand candidates cost microseconds, where a Python loop over them cost a millisecond), takes
out the parts that hold or name a touched plugin, splits their candidates and the added ones
again, and merges the new parts' plans in. Every other part stays as it was, unvisited.

Why that is the full resolution's answer: a part holds every name any of its candidates
requires or names as optional, so a candidate outside the touched parts names nothing inside
them, and the touched parts' candidates (old or added) name nothing outside them but the names
of added candidates, which are touched themselves. So the candidates taken out and split again
make whole parts of the new pool, and the untouched parts are parts of it too.
``tests/test_replan.py`` compares the two on random pools and changes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from itertools import chain, compress
from types import MappingProxyType
from typing import final

from ..model.candidate import Candidate, candidate_name
from ..model.names import PluginName
from ..model.pacing import pace
from ..model.policy import VersionPolicy
from ..model.problems import Problem
from ..model.versions import Version
from .graph import Graph
from .parts import PartMemo, PartPlan, merge_order, names_of, split
from .reports import problem_key

__all__ = ["Merged", "Replan"]

#: A plan's choice, load order, problems and graph, each sorted as :class:`.resolution.Plan`
#: has them.
Merged = tuple[Mapping[PluginName, Candidate], tuple[PluginName, ...], tuple[Problem, ...], Graph]


@final
class Replan:
    """The last resolution of one planner (the engine's), for the next one to patch.

    Entries are valid for one host API version and policy: everything is forgotten when
    either differs. ``hits`` counts the parts whose plan was reused (kept untouched, or found
    in the :class:`.parts.PartMemo`), ``misses`` the parts resolved.
    """

    def __init__(self) -> None:
        self._memo = PartMemo()
        self._terms: tuple[Version, VersionPolicy] | None = None
        self._forget()

    def _forget(self) -> None:
        self._pool: dict[int, Candidate] = {}  # the last pool, by identity (each one held)
        self._active: dict[PluginName, Version] = {}
        self._by_name: dict[PluginName, list[Candidate]] = {}
        # Each part by its first candidate's name: the names it holds or names, its plan.
        self._parts: dict[PluginName, tuple[frozenset[PluginName], PartPlan]] = {}
        self._part_of: dict[PluginName, PluginName] = {}
        self._chosen: dict[PluginName, Candidate] = {}
        self._graph: dict[PluginName, tuple[PluginName, ...]] = {}
        self._levels: dict[PluginName, int] = {}
        self._troubled: dict[PluginName, tuple[Problem, ...]] = {}
        self._merged: Merged | None = None

    @property
    def hits(self) -> int:
        return self._memo.hits

    @property
    def misses(self) -> int:
        return self._memo.misses

    def resolve(
        self,
        candidates: Sequence[Candidate],
        active: Mapping[PluginName, Version],
        terms: tuple[Version, VersionPolicy],
        resolve_part: Callable[[Sequence[Candidate]], PartPlan],
    ) -> Merged:
        """The merged plan of ``candidates`` (linked), re-planning only what changed."""
        if terms != self._terms:
            self._terms = terms
            self._forget()
        pool = dict(zip(map(id, candidates), candidates, strict=True))
        added = [pool[i] for i in pool.keys() - self._pool.keys()]
        removed = [self._pool[i] for i in self._pool.keys() - pool.keys()]
        touched = self._touched(added, removed, active)
        self._pool, self._active = pool, dict(active)
        if not touched and self._merged is not None:
            self._memo.hits += len(self._parts)
            return self._merged
        try:
            self._merged = self._patch(added, removed, touched, active, terms, resolve_part)
        except BaseException:
            self._forget()  # half patched: the next resolution starts afresh
            raise
        return self._merged

    def _patch(
        self,
        added: Sequence[Candidate],
        removed: Sequence[Candidate],
        touched: set[PluginName],
        active: Mapping[PluginName, Version],
        terms: tuple[Version, VersionPolicy],
        resolve_part: Callable[[Sequence[Candidate]], PartPlan],
    ) -> Merged:
        self._regroup(added, removed)
        region, gone = self._take_out(touched)
        pace()
        parts = split([c for name in region for c in self._by_name.get(name, ())])
        plans = self._memo.plans(parts, active, terms, resolve_part)
        self._memo.hits += len(self._parts)  # the parts kept as they were
        came: dict[PluginName, int] = {}
        for part, plan in zip(parts, plans, strict=True):
            self._put(part, plan)
            came.update(plan.levels)
        pace()
        return self._merge(self._merged if gone == came else None, came)

    def _touched(
        self,
        added: Sequence[Candidate],
        removed: Sequence[Candidate],
        active: Mapping[PluginName, Version],
    ) -> set[PluginName]:
        """The plugins a change touches: those of candidates added or taken out, those an
        added candidate names, and those whose active version is another object."""
        touched = set(map(candidate_name, added))
        touched.update(map(candidate_name, removed))
        for c in added:
            touched.update(names_of(c))
        last = self._active.keys()
        names = list(active.keys() if active.keys() == last else active.keys() | last)
        # Compared by identity: a version is the active candidate's own object, unchanged
        # until another version serves (an equal copy only costs a re-plan of its part).
        moved = map(operator.is_not, map(active.get, names), map(self._active.get, names))
        touched.update(compress(names, moved))
        return touched

    def _regroup(self, added: Sequence[Candidate], removed: Sequence[Candidate]) -> None:
        """Each plugin's candidates, with the change applied (by identity)."""
        by_name = self._by_name
        for c in removed:
            left = [k for k in by_name[c.name] if k is not c]
            if left:
                by_name[c.name] = left
            else:
                del by_name[c.name]
        for c in added:
            by_name.setdefault(c.name, []).append(c)

    def _take_out(self, touched: set[PluginName]) -> tuple[set[PluginName], dict[PluginName, int]]:
        """Take the parts holding or naming a touched plugin out of the merged plan; returns
        the names to split again (theirs and the touched ones), and the levels of the plugins
        they had chosen."""
        region = set(touched)
        gone: dict[PluginName, int] = {}
        for root in {self._part_of[n] for n in touched if n in self._part_of}:
            names, plan = self._parts.pop(root)
            region |= names
            for name in names:
                del self._part_of[name]
            gone.update(plan.levels)
            for name in plan.chosen:
                del self._chosen[name], self._graph[name], self._levels[name]
            self._troubled.pop(root, None)
        return region, gone

    def _put(self, part: Sequence[Candidate], plan: PartPlan) -> None:
        root = part[0].name
        names = set(map(candidate_name, part))
        for c in part:
            names.update(names_of(c))
        self._parts[root] = (frozenset(names), plan)
        self._part_of.update(dict.fromkeys(names, root))
        self._chosen.update(plan.chosen)
        self._graph.update(plan.graph)
        self._levels.update(plan.levels)
        if plan.problems:
            self._troubled[root] = plan.problems

    def _merge(self, last: Merged | None, came: Mapping[PluginName, int]) -> Merged:
        """The parts' plans as one, sorted as a resolution of the whole pool sorts them: the
        load order by level, then name (one topological sort of the whole graph).

        :param last: the last merged plan when the parts planned again chose the plugins they
            had chosen, at the same levels: its order stands, and its sorted choice and graph
            are copied with the entries of ``came`` replaced (sorting a thousand names again
            cost most of a re-plan).
        """
        problems = tuple(sorted(chain.from_iterable(self._troubled.values()), key=problem_key))
        if last is not None:
            chosen = {**last[0], **{name: self._chosen[name] for name in came}}
            graph = {**last[3], **{name: self._graph[name] for name in came}}
            return MappingProxyType(chosen), last[1], problems, MappingProxyType(graph)
        return (
            MappingProxyType(dict(sorted(self._chosen.items()))),
            merge_order(self._levels),
            problems,
            MappingProxyType(dict(sorted(self._graph.items()))),
        )
