"""Tests for the parts of a pool: splitting by requirements, merging plans, the memo of a host."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    API_VERSION,
    actives,
    candidate,
    candidate_sets,
    dependency_maps,
    policies,
    versions,
)

from pluginhost.model import pacing
from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.versions import Version
from pluginhost.resolve.graph import load_order
from pluginhost.resolve.links import link
from pluginhost.resolve.parts import split
from pluginhost.resolve.replan import Replan
from pluginhost.resolve.resolution import Plan, _resolve_part, resolve

EIGHT = ("a", "b", "c", "d", "e", "f", "g", "h")


def names_of(parts: list[list[Candidate]]) -> list[set[str]]:
    return sorted(({str(c.name) for c in part} for part in parts), key=sorted)


def run(pool: list[Candidate], active: dict[PluginName, Version], memo: Replan | None) -> Plan:
    return resolve(pool, api_version=API_VERSION, policy=VersionPolicy(), active=active, memo=memo)


class TestSplit:
    def test_unrelated_plugins_are_parts_of_their_own(self) -> None:
        """Plugins that name no other plugin each make a part."""
        parts = split([candidate("a", "1.0.0"), candidate("b", "1.0.0"), candidate("a", "2.0.0")])
        assert names_of(parts) == [{"a"}, {"b"}]

    def test_requirements_and_optional_plugins_join_parts(self) -> None:
        """A chain of requirements and an optional plugin join their plugins into one part."""
        pool = [
            candidate("a", "1.0.0", requires={"b": "*"}),
            candidate("b", "1.0.0"),
            candidate("c", "1.0.0", optional={"b": "*"}),
            candidate("d", "1.0.0"),
        ]
        assert names_of(split(pool)) == [{"a", "b", "c"}, {"d"}]

    def test_one_version_requiring_joins_the_whole_plugin(self) -> None:
        """An old version's requirement joins its plugin to the required one: all versions of
        a plugin are decided together."""
        pool = [candidate("a", "2.0.0"), candidate("a", "1.0.0", requires={"b": "*"})]
        pool.append(candidate("b", "1.0.0"))
        assert names_of(split(pool)) == [{"a", "b"}]

    def test_requires_dist_links_join_parts(self) -> None:
        """A Requires-Dist line naming another plugin's distribution joins the two."""
        pool = link([candidate("a", "1.0.0", requires_dist=["b-dist>=1"]), candidate("c", "1.0.0")])
        pool.append(candidate("b", "1.0.0", distribution="b-dist"))
        assert names_of(split(link(pool))) == [{"a", "b"}, {"c"}]


class TestMergedPlan:
    def test_order_is_by_level_then_name_across_parts(self) -> None:
        """The load order of several parts is the order one sort of the whole graph gives."""
        pool = [
            candidate("z", "1.0.0", requires={"y": "*"}),
            candidate("y", "1.0.0"),
            candidate("b", "1.0.0", requires={"a": "*"}),
            candidate("a", "1.0.0", requires={"x": "*"}),
            candidate("x", "1.0.0"),
            candidate("m", "1.0.0"),
        ]
        assert run(pool, {}, None).order == ("m", "x", "y", "a", "z", "b")


class TestMemo:
    def test_a_change_replans_only_its_part(self) -> None:
        """After one plugin of a hundred changes, the ninety-nine other parts come from the memo,
        and the plan is the one a fresh resolution gives."""
        pool = [candidate(f"p{i:02d}", "1.0.0") for i in range(100)]
        memo = Replan()
        first = run(pool, {}, memo)
        # With the plugins active, each part is planned once more (the downgrade rule reads
        # the active version); then only changes miss.
        active = {n: c.version for n, c in first.chosen.items()}
        run(pool, active, memo)
        assert (memo.hits, memo.misses) == (0, 200)
        pool[7] = candidate("p07", "1.1.0")
        second = run(pool, active, memo)
        assert (memo.hits, memo.misses) == (99, 201)
        assert second == run(pool, active, None)
        assert str(second.chosen[PluginName("p07")].version) == "1.1.0"

    def test_a_full_replan_paces(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Planning a thousand parts in one go (the first resolution after a start) gives the
        interpreter lock back along the way, not only before and after: one pace per 32
        parts."""
        paces: list[None] = []
        monkeypatch.setattr(pacing, "pace", lambda: paces.append(None))
        pool = [candidate(f"p{i:03d}", "1.0.0") for i in range(320)]
        run(pool, {}, Replan())
        assert len(paces) >= 320 // 32

    def test_a_changed_active_version_replans_its_part(self) -> None:
        """The active version takes part in the downgrade rule, so a part is re-planned when it
        changes, even with the same candidates."""
        pool = [candidate("a", "1.0.0"), candidate("a", "2.0.0")]
        memo = Replan()
        run(pool, {}, memo)
        plan = run(pool, {PluginName("a"): Version(3, 0, 0)}, memo)
        assert dict(plan.chosen) == {}  # both are downgrades now
        assert memo.misses == 2

    def test_other_policy_forgets_the_memo(self) -> None:
        """Plans made under one policy are never reused under another."""
        pool = [candidate("a", "1.0.0"), candidate("a", "2.0.0-rc.1")]
        memo = Replan()
        run(pool, {}, memo)
        pre = resolve(
            pool,
            api_version=API_VERSION,
            policy=VersionPolicy(allow_prerelease=True),
            active={},
            memo=memo,
        )
        assert str(pre.chosen[PluginName("a")].version) == "2.0.0-rc.1"


@st.composite
def changes(draw: st.DrawFn, pool: list[Candidate]) -> list[Candidate]:
    """``pool`` with one plugin's versions replaced by zero to two new ones."""
    name = draw(st.sampled_from(EIGHT))
    kept = [c for c in pool if c.name != name]
    new = draw(st.lists(versions(), max_size=2, unique=True))
    return kept + [
        candidate(name, str(v), requires=draw(dependency_maps(EIGHT, simple=True))) for v in new
    ]


History = list[tuple[list[Candidate], dict[PluginName, Version] | None]]


@st.composite
def histories(draw: st.DrawFn) -> History:
    """A pool and up to four changes of it, one plugin at a time; at each, the active versions
    are those chosen before (``None``) or others (a rollback, a restart)."""
    pool = draw(candidate_sets(names=EIGHT, duplicates=True))
    steps: History = [(pool, None)]
    for _ in range(draw(st.integers(0, 4))):
        pool = draw(changes(pool))
        steps.append((pool, draw(st.one_of(st.none(), actives(EIGHT)))))
        steps.append((pool, None))  # the same pool again: every part from the memo
    return steps


class TestProperties:
    @given(histories(), policies)
    def test_memo_gives_a_fresh_resolutions_plan(
        self, steps: History, policy: VersionPolicy
    ) -> None:
        """Through a series of changes, a resolution with the memo equals a fresh one."""
        memo = Replan()
        active: dict[PluginName, Version] = {}
        for pool, given_active in steps:
            active = active if given_active is None else given_active
            kwargs = {"api_version": API_VERSION, "policy": policy, "active": active}
            fresh = resolve(pool, **kwargs)  # type: ignore[arg-type]
            assert resolve(pool, memo=memo, **kwargs) == fresh  # type: ignore[arg-type]
            active = {n: c.version for n, c in fresh.chosen.items()}

    @given(candidate_sets(names=EIGHT, duplicates=True), policies)
    def test_parts_plan_like_the_whole_pool_or_load_more(
        self, pool: list[Candidate], policy: VersionPolicy
    ) -> None:
        """Each part's plan is the whole pool's plan restricted to the part, except where the
        part alone loads every one of its plugins (the full-load search runs per part)."""
        linked = link(pool)
        whole = _resolve_part(linked, API_VERSION, policy, {})
        plan = resolve(pool, api_version=API_VERSION, policy=policy)
        for part in split(linked):
            names = {c.name for c in part}
            mine = {n: c for n, c in plan.chosen.items() if n in names}
            theirs = {n: c for n, c in whole.chosen.items() if n in names}
            assert mine == theirs or set(mine) == names
        if len(whole.chosen) == len({c.name for c in pool}):
            assert dict(plan.chosen) == whole.chosen
        if dict(plan.chosen) == whole.chosen:
            # The same plugins: the order merged from the parts is one sort of the whole graph.
            assert plan.order == load_order(whole.graph)
