"""The full-load search (rule 5 of :mod:`.resolution`): versions that load every plugin at once.

Greedy rounds can skip more than needed; this depth-first search, bounded by
:data:`SEARCH_BUDGET` steps, finds a choice that loads everything when one exists within it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from ..model.candidate import Candidate
from ..model.names import PluginName
from .graph import demands_of, find_cycles, graph_of
from .screen import Pool

__all__ = ["SEARCH_BUDGET", "search_full"]

SEARCH_BUDGET: Final = 10_000
"""Steps of the full-load search; each step tries one version of one plugin."""


def search_full(eligible: Pool, allow_pre: bool) -> dict[PluginName, Candidate] | None:
    """Versions loading every plugin under rules 2-4, first in (name, version high to low) order.

    :returns: ``None`` when there are none, or when the budget runs out first.
    """
    names = sorted(eligible)
    if not all(map(_could_load, names, [eligible] * len(names))):
        return None
    position = {name: i for i, name in enumerate(names)}
    picked: list[Candidate] = []
    tried = [0] * len(names)
    for _ in range(SEARCH_BUDGET):
        level = len(picked)
        if level == len(names):
            full = dict(zip(names, picked, strict=True))
            if _loads_together(full, allow_pre):
                return full
        elif tried[level] < len(eligible[names[level]]):
            cand = eligible[names[level]][tried[level]]
            tried[level] += 1
            if _fits(cand, picked, position, allow_pre):
                picked.append(cand)
            continue
        else:
            tried[level] = 0
        # A dead end: go back one level and let it try its next version.
        if not picked:
            return None
        picked.pop()
    return None


def _could_load(name: PluginName, eligible: Pool) -> bool:
    # Spares the search a hopeless walk when some plugin lacks versions or dependencies outright.
    return any(all(eligible.get(dep) for dep in c.requires) for c in eligible[name])


def _fits(
    cand: Candidate,
    picked: Sequence[Candidate],
    position: Mapping[PluginName, int],
    allow_pre: bool,
) -> bool:
    """Whether ``cand`` agrees with the versions picked so far, both ways."""
    level = len(picked)
    for dep, constraint in cand.requires.items():
        at = position.get(dep)
        if at is None or at == level:  # missing, or requiring itself: a cycle
            return False
        if at < level and not constraint.allows(picked[at].version, prerelease=allow_pre):
            return False
    return all(
        p.requires[cand.name].allows(cand.version, prerelease=allow_pre)
        for p in picked
        if cand.name in p.requires
    )


def _loads_together(full: Mapping[PluginName, Candidate], allow_pre: bool) -> bool:
    demands = demands_of(full)
    unrequired = any(
        c.version.is_prerelease and not allow_pre and not demands.get(name)
        for name, c in full.items()
    )
    return not unrequired and not find_cycles(graph_of(full, allow_pre))
