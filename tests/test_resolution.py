"""Tests for resolve() and the Plan: the whole of resolution, and its random-graph properties."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from resolving import N, requirers, run, satisfied, versions_of
from strategies import API_VERSION, actives, candidate, candidate_sets, policies

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import ProblemKind
from pluginhost.model.versions import Version
from pluginhost.resolve.resolution import resolve


class TestResolve:
    def test_highest_version_chosen(self) -> None:
        """Without constraints, the highest version of each plugin is chosen."""
        plan = run([candidate("hello", v) for v in ("1.0.0", "1.10.0", "1.2.0")])
        assert versions_of(plan) == {"hello": "1.10.0"}
        assert plan.problems == ()

    def test_diamond(self) -> None:
        """Two paths to one base settle on the version both accept, and it loads first."""
        plan = run(
            [
                candidate("top", "1.0.0", requires={"left": "^1", "right": "^1"}),
                candidate("left", "1.0.0", requires={"base": "^1"}),
                candidate("right", "1.0.0", requires={"base": ">=1.1"}),
                *(candidate("base", v) for v in ("1.0.0", "1.1.0", "2.0.0")),
            ]
        )
        assert versions_of(plan)["base"] == "1.1.0"
        assert plan.order == ("base", "left", "right", "top")
        assert plan.graph == {
            "base": (),
            "left": ("base",),
            "right": ("base",),
            "top": ("left", "right"),
        }
        assert plan.problems == ()

    def test_empty(self) -> None:
        """No candidates give an empty plan."""
        plan = run([])
        assert (dict(plan.chosen), plan.order, plan.problems, dict(plan.graph)) == ({}, (), (), {})


class TestProperties:
    @given(candidate_sets(duplicates=True), policies, actives(), st.randoms())
    def test_deterministic_under_shuffle(
        self,
        cands: list[Candidate],
        policy: VersionPolicy,
        active: dict[PluginName, Version],
        rnd: random.Random,
    ) -> None:
        """The plan does not depend on the order of the candidates."""
        shuffled = list(cands)
        rnd.shuffle(shuffled)
        kwargs = {"api_version": API_VERSION, "policy": policy, "active": active}
        assert resolve(shuffled, **kwargs) == resolve(cands, **kwargs)  # type: ignore[arg-type]

    @given(candidate_sets(duplicates=True), policies, actives())
    def test_invariants(
        self, cands: list[Candidate], policy: VersionPolicy, active: dict[PluginName, Version]
    ) -> None:
        """Requirements, host, policy, order and problem accounting hold on random graphs."""
        plan = resolve(cands, api_version=API_VERSION, policy=policy, active=active)
        pre = policy.allow_prerelease
        chosen = plan.chosen
        for name, cand in chosen.items():
            # (a) every required dependency is chosen and satisfied
            for dep in cand.manifest.requires:
                assert dep in chosen
                assert satisfied(cand, dep, chosen[dep], pre)
            # (b) host constraint and policy
            assert cand.manifest.host.allows(API_VERSION, prerelease=True)
            if not policy.allow_downgrade and name in active:
                assert cand.version >= active[name]
            if cand.version.prerelease and not pre:
                assert requirers(name, chosen)
        # (c) order is a permutation of the chosen names respecting every edge
        assert sorted(plan.order) == sorted(chosen)
        position = {name: i for i, name in enumerate(plan.order)}
        for name, deps in plan.graph.items():
            assert all(position[dep] < position[name] for dep in deps)
        # (d) every name is chosen or named as the plugin of a problem
        named = {p.plugin for p in plan.problems}
        assert {c.name for c in cands} <= set(chosen) | named
        # problems about a chosen plugin concern versions above it, or duplicate copies
        for problem in plan.problems:
            name = N(problem.plugin or "")
            if name in chosen and problem.kind is not ProblemKind.CONFLICT:
                assert Version.parse(problem.version or "") > chosen[name].version
