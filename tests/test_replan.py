"""Tests for re-planning what a change touches: the same plan as a fresh resolution, with only
the touched parts resolved again."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import API_VERSION, actives, candidate, candidate_sets, dependency_maps, policies
from strategies import versions as version_values

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.versions import Version
from pluginhost.resolve.parts import PartPlan
from pluginhost.resolve.replan import Replan
from pluginhost.resolve.resolution import Plan, resolve

NAMES = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")


def run(
    pool: list[Candidate],
    memo: Replan | None,
    active: dict[PluginName, Version] | None = None,
    policy: VersionPolicy = VersionPolicy(),
) -> Plan:
    return resolve(pool, api_version=API_VERSION, policy=policy, active=active or {}, memo=memo)


class TestTouchedParts:
    def test_nothing_changed_reuses_every_part(self) -> None:
        """The same candidates and active versions again: no part is resolved, the plan is
        equal to the last one."""
        pool = [candidate(f"p{i}", "1.0.0") for i in range(50)]
        memo = Replan()
        first = run(pool, memo)
        again = run(list(pool), memo)
        assert again == first
        assert (memo.hits, memo.misses) == (50, 50)

    def test_a_missing_dependency_that_turns_up_replans_its_dependent(self) -> None:
        """A plugin whose dependency was missing loads once a wheel of the dependency is added,
        though the added candidate names nothing: the dependent's part names it."""
        a = candidate("a", "1.0.0", requires={"b": "^1.0"})
        memo = Replan()
        assert "a" not in run([a], memo).chosen
        plan = run([a, candidate("b", "1.2.0")], memo)
        assert list(plan.order) == ["b", "a"]
        assert plan.problems == ()

    def test_a_requirement_dropped_splits_the_part(self) -> None:
        """A new version of ``a`` that no longer requires ``b``: both are planned again, apart,
        and ``c`` (its own part) is not."""
        a1 = candidate("a", "1.0.0", requires={"b": "*"})
        b, c = candidate("b", "1.0.0"), candidate("c", "1.0.0")
        memo = Replan()
        run([a1, b, c], memo)
        misses = memo.misses
        a2 = candidate("a", "2.0.0")
        plan = run([a2, b, c], memo)
        assert plan == run([a2, b, c], None)
        assert plan.order == ("a", "b", "c")
        assert memo.misses == misses + 2  # a's part and b's, now apart; not c's

    def test_an_added_requirement_joins_two_parts(self) -> None:
        """A new version of ``a`` requiring ``b`` joins their parts; the merged order puts
        ``b`` first."""
        a1, b = candidate("a", "1.0.0"), candidate("b", "1.0.0")
        memo = Replan()
        run([a1, b], memo)
        a2 = candidate("a", "2.0.0", requires={"b": "^1"})
        plan = run([a2, b], memo)
        assert plan.order == ("b", "a")
        assert plan == run([a2, b], None)

    def test_one_of_two_equal_copies_taken_out(self) -> None:
        """Two equal copies of a wheel (one wheel offered twice) conflict each with other bytes
        of the version; with one taken out, one conflict is left (found by the property below:
        the parts' memo took a part with one copy for the part with two)."""
        path, sha = "/elsewhere/0.whl", "9d3a34"
        copies = [candidate("a", "1.0.0", path=path, sha=sha) for _ in range(2)]
        installed = candidate("a", "1.0.0", installed=True)
        memo = Replan()
        assert len(run([*copies, installed], memo).problems) == 2
        plan = run([copies[1], installed], memo)
        assert plan == run([copies[1], installed], None)
        assert len(plan.problems) == 1

    def test_other_policy_forgets_everything(self) -> None:
        """Plans made under one policy are never reused under another."""
        pool = [candidate("a", "1.0.0"), candidate("a", "2.0.0-rc.1")]
        memo = Replan()
        run(pool, memo)
        pre = run(pool, memo, policy=VersionPolicy(allow_prerelease=True))
        assert str(pre.chosen[PluginName("a")].version) == "2.0.0-rc.1"


@st.composite
def edits(draw: st.DrawFn, pool: list[Candidate]) -> list[Candidate]:
    """``pool`` with some candidates taken out and some new ones added, the rest the very
    objects they were (as a host's look keeps them)."""
    kept = [c for c in pool if draw(st.booleans()) or draw(st.booleans())]
    added = [
        candidate(
            draw(st.sampled_from(NAMES)),
            str(draw(version_values())),
            requires=draw(dependency_maps(NAMES, simple=True)),
            optional=draw(st.sampled_from([None, {draw(st.sampled_from(NAMES)): "*"}])),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    order = draw(st.permutations(kept + added))
    return list(order)


@st.composite
def histories(
    draw: st.DrawFn,
) -> list[tuple[list[Candidate], dict[PluginName, Version] | None]]:
    """A pool and up to six edits of it; at each, the active versions are those chosen before
    (``None``) or others (a rollback, a restart)."""
    pool = draw(candidate_sets(names=NAMES, duplicates=True))
    steps: list[tuple[list[Candidate], dict[PluginName, Version] | None]] = [(pool, None)]
    for _ in range(draw(st.integers(1, 6))):
        pool = draw(edits(pool))
        steps.append((pool, draw(st.one_of(st.none(), st.none(), actives(NAMES)))))
    return steps


class TestProperties:
    @settings(max_examples=300)
    @given(histories(), policies)
    def test_a_replan_is_a_fresh_resolution(
        self,
        steps: list[tuple[list[Candidate], dict[PluginName, Version] | None]],
        policy: VersionPolicy,
    ) -> None:
        """Through random edits (parts joined, split, emptied; dependencies appearing and
        going; active versions moving), each re-plan equals a resolution from scratch: the
        choice, the load order, the graph and the problems."""
        memo = Replan()
        active: dict[PluginName, Version] = {}
        for pool, given_active in steps:
            active = active if given_active is None else given_active
            fresh = run(pool, None, active, policy)
            assert run(pool, memo, active, policy) == fresh
            assert run(pool, memo, active, policy) == fresh  # nothing touched
            active = {n: c.version for n, c in fresh.chosen.items()}


class TestFailure:
    def test_a_resolution_that_raises_leaves_nothing_half_patched(self) -> None:
        """An error in the middle of a re-plan (a part's resolution raising) forgets the last
        resolution: the next one starts afresh and equals a fresh resolution."""
        a1, b = candidate("a", "1.0.0"), candidate("b", "1.0.0", requires={"a": "^1"})
        memo = Replan()
        run([a1, b], memo)
        a2 = candidate("a", "1.1.0")

        def broken(part: object) -> PartPlan:
            raise RuntimeError("a bug in a rule")

        with pytest.raises(RuntimeError):
            memo.resolve([a2, b], {}, (API_VERSION, VersionPolicy()), broken)
        plan = run([a2, b], memo)
        assert plan == run([a2, b], None)
        assert plan.order == ("a", "b")
        assert plan.chosen[PluginName("a")] is a2
