"""Resolution: from the candidates at hand to the plugins to load, their versions and their order.

:func:`resolve` is pure (no I/O, no logging) and deterministic: the same candidates in any order
give an equal :class:`Plan`. "``v`` satisfies ``c``" always means
``c.allows(v, prerelease=policy.allow_prerelease)``. The rules, in the order they apply:

1. **Duplicates.** Candidates of one name and version are ordered installed origins first, then
   wheels by path, and the first is kept. Copies with the same bytes (same sha256, or both
   installed) are dropped silently; every other copy is a ``CONFLICT`` naming both origins.
2. **Eligibility.** A version is refused (``REFUSED``) when its host constraint does not allow the
   host's ``api_version`` (asked with ``prerelease=True``: the host's own version is not subject to
   the plugin prerelease policy), when it is lower than the active version and the policy forbids
   downgrades, or when it is a prerelease, the policy forbids prereleases, and no plugin's
   requirement names it (:meth:`Constraint.allows` with ``prerelease=False``). A prerelease admitted
   that way must in the end be required by a loaded plugin, or it is refused in turn. Refusals are
   reported only for versions higher than the chosen one, or for all versions when the plugin does
   not load: an old version lying around is not a problem.
3. **Choice (greedy rounds).** Each plugin starts at its highest eligible version; then each moves
   to the highest version, no higher than its current one, that satisfies every constraint the
   chosen plugins' ``requires`` put on it (``optional`` never constrains). When none satisfies them
   all, the one satisfying the most, ties to the higher. Versions only move down, so this settles.
   Then each chosen version's requirements are checked: a name without candidates is ``MISSING``,
   a skipped plugin is ``DEPENDENCY_FAILED`` (naming the chain down to the root cause), anything
   else is ``UNSATISFIABLE`` (who needs what, what is available). A failing version is excluded
   and the round starts over; a plugin without versions left is skipped, so its dependents fail in
   later rounds. Like refusals, failures are reported for versions above the chosen one only.
4. **Cycles.** Among the chosen plugins, edges are the required dependencies plus optional ones
   that are chosen and satisfied. Every strongly connected component of more than one plugin, or
   a plugin depending on itself, is a ``CYCLE`` for each member, listing the members in cycle order
   (``a -> b -> c -> a``); the members are skipped and the round starts over. Excluded versions and
   skipped plugins only grow, so there are at most (versions + plugins + 1) rounds.
5. **Full-load search.** Greedy rounds can skip more than needed: when two requirers disagree on
   a dependency, the one that loses is dropped even if lowering the other would have pleased both.
   So when the rounds skip anything in a part (plugins joined by requirements, :mod:`.parts`), a
   depth-first search (names sorted, versions highest first, at most
   :data:`.search.SEARCH_BUDGET` steps) looks for versions that load *every* plugin of that part
   under rules 2-4, and when it finds them they are the part's plan. Guarantee: if all plugins of
   a part can load together and the search finds it within its budget (always for a few plugins
   of a few versions), all load. When no full load of a part exists, its greedy result stands:
   consistent, but not necessarily the largest set.
6. **Order.** Dependencies (and present optional ones) load first: batch after batch of the
   plugins whose dependencies are loaded, each batch sorted by name, as one
   :class:`graphlib.TopologicalSorter` over the chosen plugins gives it.

Rules 1-6 look only along requirements, so each part of the pool is resolved alone and the plan
is the union of the parts' plans (:mod:`.parts`); a host keeps its last resolution in a
:class:`~.replan.Replan`, and a change re-plans only the parts it touches.

Requirements are a plugin's ``[plugin.requires]`` and the plugins its ``Requires-Dist`` names
(:mod:`.links`: the distribution of a candidate, with its PEP 440 specifier); when both name one
plugin, a version must satisfy both. Everything below says "requires" of both alike.

Problem messages name plugins with versions; ``Problem.plugin`` is the plugin refused or skipped,
``Problem.involved`` the others.

This module holds the plan and runs the steps in order; the rules live beside it: 1-2 in
:mod:`.screen`, 3-4 in :mod:`.greedy` (the graph and its cycles in :mod:`.graph`), 5 in
:mod:`.search`, which problems are reported and their wording in :mod:`.reports`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import final

import attrs

from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.pacing import paced
from ..model.policy import VersionPolicy
from ..model.problems import Problem
from ..model.versions import Version
from .graph import Graph, graph_of, load_order
from .greedy import Greedy, choice_alone
from .links import link
from .parts import PartPlan, levels_of, merge_order, split
from .replan import Replan
from .reports import above_chosen, problem_key
from .screen import collapse, screen
from .search import search_full

__all__ = ["Plan", "resolve", "resolve_linked"]


@final
@frozen
class Plan:
    """What to load, in which order, and why the rest is left out.

    :param chosen: the version to load per plugin.
    :param order: load order, dependencies first.
    :param problems: why plugins (or versions of them) are left out.
    :param graph: plugin -> the chosen plugins it depends on (required, plus optional ones that are
        chosen and satisfied), sorted.
    """

    chosen: Mapping[PluginName, Candidate] = attrs.field(hash=False)
    order: tuple[PluginName, ...]
    problems: tuple[Problem, ...]
    graph: Graph = attrs.field(hash=False)


def resolve(
    candidates: Iterable[Candidate],
    *,
    api_version: Version,
    policy: VersionPolicy = VersionPolicy(),
    active: Mapping[PluginName, Version] | None = None,
    memo: Replan | None = None,
) -> Plan:
    """Choose a version per plugin and a load order; see the module docstring for the rules.

    >>> resolve([], api_version=Version(1, 0, 0)).order
    ()

    :param candidates: every plugin version at hand, in any order.
    :param api_version: the host's API version, matched against each manifest's ``host``.
    :param policy: the operator's prerelease and downgrade rules.
    :param active: the version of each plugin active now, for the downgrade rule.
    :param memo: the last resolution of the same planner, of which only what the candidates
        or the active versions changed is planned again (the plan is the same without it).
    :returns: the plan; it never raises for unresolvable input, it names problems instead.
    """
    # 0. Requires-Dist lines naming another plugin's distribution are requirements like any.
    return resolve_linked(
        link(list(candidates)), api_version=api_version, policy=policy, active=active, memo=memo
    )


def resolve_linked(
    candidates: Sequence[Candidate],
    *,
    api_version: Version,
    policy: VersionPolicy,
    active: Mapping[PluginName, Version] | None,
    memo: Replan | None,
) -> Plan:
    """:func:`resolve` of candidates already linked (:func:`.links.link`) among themselves."""
    active = active or {}

    def resolve_part(part: Sequence[Candidate]) -> PartPlan:
        return _resolve_part(part, api_version, policy, active)

    if memo is not None:
        chosen, order, problems, graph = memo.resolve(
            candidates, active, (api_version, policy), resolve_part
        )
        return Plan(chosen=chosen, order=order, problems=problems, graph=graph)
    plans = [resolve_part(part) for part in paced(split(candidates), every=16)]
    merged: dict[PluginName, Candidate] = {}
    edges: dict[PluginName, tuple[PluginName, ...]] = {}
    levels: dict[PluginName, int] = {}
    found: list[Problem] = []
    for part_plan in plans:
        merged.update(part_plan.chosen)
        edges.update(part_plan.graph)
        levels.update(part_plan.levels)
        found.extend(part_plan.problems)
    return Plan(
        chosen=MappingProxyType(dict(sorted(merged.items()))),
        order=merge_order(levels),
        problems=tuple(sorted(found, key=problem_key)),
        graph=MappingProxyType(dict(sorted(edges.items()))),
    )


def _resolve_part(
    candidates: Sequence[Candidate],
    api_version: Version,
    policy: VersionPolicy,
    active: Mapping[PluginName, Version],
) -> PartPlan:
    """Rules 1-6 for the linked candidates of one part (:mod:`.parts`)."""
    allow_pre = policy.allow_prerelease
    # 1. One candidate per name and version; other bytes under the same version are conflicts.
    pool, conflicts = collapse(candidates)
    # 2. Refuse what the host API, the downgrade rule or the prerelease rule excludes outright.
    refused = screen(pool, api_version, policy, active)
    eligible = {name: tuple(c for c in cands if c not in refused) for name, cands in pool.items()}
    # 3-4. Greedy rounds choose versions and skip what cannot load, cycles included.
    alone = choice_alone(eligible, allow_pre)
    if alone is not None:
        chosen, failures = alone, []
    else:
        greedy = Greedy(pool, eligible, refused, allow_pre)
        chosen = greedy.run()
        failures = greedy.failures
    # 5. The rounds may have skipped more than needed: prefer a load of everything if one exists.
    if len(chosen) < len(pool):
        full = search_full(eligible, allow_pre)
        if full is not None:
            chosen, failures = full, []
    # 6. Load order and the problems worth reporting against what was chosen.
    graph = graph_of(chosen, allow_pre)
    problems = [*conflicts, *above_chosen([*refused.items(), *failures], chosen)]
    return PartPlan(
        chosen=chosen,
        graph=graph,
        problems=tuple(problems),
        levels=levels_of(graph, load_order(graph)),
    )
