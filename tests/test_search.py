"""Tests for the full-load search: it loads every plugin whenever some choice of versions can."""

from __future__ import annotations

import graphlib
import itertools
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resolving import requirers, run, satisfied, versions_of
from strategies import API_VERSION, actives, candidate, candidate_sets, policies

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.versions import Version
from pluginhost.resolve import search
from pluginhost.resolve.resolution import resolve


class TestSearch:
    def test_full_load_found_when_greedy_choice_would_skip(self) -> None:
        """When lowering one requirer pleases both, everything loads (the full-load search)."""
        plan = run(
            [
                candidate("a", "1.0.0", requires={"c": "^1"}),
                candidate("b", "2.0.0", requires={"c": "^2"}),
                candidate("b", "1.0.0", requires={"c": "^1"}),
                candidate("c", "1.0.0"),
                candidate("c", "2.0.0"),
            ]
        )
        assert versions_of(plan) == {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"}
        assert plan.problems == ()

    def test_none_when_a_dependency_has_no_versions(self) -> None:
        """Without versions of a required plugin, nothing is searched and nothing is found."""
        polite = candidate("polite", "1.0.0", requires={"hello": "*"})
        assert search.search_full(pool(polite), allow_pre=False) is None

    def test_none_when_the_budget_runs_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A full load beyond the step budget is not found; within it, it is."""
        cands = [
            candidate("a", "1.0.0", requires={"c": "^1"}),
            *(candidate("c", f"{v}.0.0") for v in range(1, 9)),
        ]
        assert search.search_full(pool(*cands), allow_pre=False) is not None
        monkeypatch.setattr(search, "SEARCH_BUDGET", 5)
        assert search.search_full(pool(*cands), allow_pre=False) is None


def pool(*cands: Candidate) -> dict[PluginName, tuple[Candidate, ...]]:
    """The eligible versions of each plugin, highest first, as screening hands them on."""
    found: dict[PluginName, list[Candidate]] = {}
    for cand in cands:
        found.setdefault(cand.name, []).append(cand)
    return {n: tuple(sorted(c, key=lambda c: c.version, reverse=True)) for n, c in found.items()}


class TestProperties:
    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    @given(st.booleans().flatmap(lambda closed: candidate_sets(closed=closed)), policies, actives())
    def test_loads_everything_when_brute_force_can(
        self, cands: list[Candidate], policy: VersionPolicy, active: dict[PluginName, Version]
    ) -> None:
        """(e) If some choice of versions loads every plugin, the resolver loads every plugin."""
        plan = resolve(cands, api_version=API_VERSION, policy=policy, active=active)
        if brute_force_full_load(cands, policy, active):
            assert set(plan.chosen) == {c.name for c in cands}, plan.problems


def brute_force_full_load(
    cands: Sequence[Candidate], policy: VersionPolicy, active: Mapping[PluginName, Version]
) -> bool:
    """Whether any one version per name loads every name: the reference for (e)."""
    by_name: dict[PluginName, list[Candidate]] = {}
    for cand in cands:
        by_name.setdefault(cand.name, []).append(cand)
    names = sorted(by_name)
    return any(
        _loads(dict(zip(names, combo, strict=True)), policy, active)
        for combo in itertools.product(*(by_name[n] for n in names))
    )


def _loads(
    chosen: Mapping[PluginName, Candidate],
    policy: VersionPolicy,
    active: Mapping[PluginName, Version],
) -> bool:
    pre = policy.allow_prerelease
    for name, cand in chosen.items():
        if not cand.manifest.host.allows(API_VERSION, prerelease=True):
            return False
        if name in active and cand.version < active[name] and not policy.allow_downgrade:
            return False
        if cand.version.prerelease and not pre and not requirers(name, chosen):
            return False
        for dep in cand.manifest.requires:
            if dep not in chosen or not satisfied(cand, dep, chosen[dep], pre):
                return False
    graph = {
        name: [
            *cand.manifest.requires,
            *(
                d
                for d, c in cand.manifest.optional.items()
                if d in chosen and c.allows(chosen[d].version, prerelease=pre)
            ),
        ]
        for name, cand in chosen.items()
    }
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return False
    return True
