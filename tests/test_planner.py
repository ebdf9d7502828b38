"""The host's planner: the last pool planned again against the versions a start made active,
so that the next change plans only what it touches, with the answer a fresh plan gives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import API_VERSION, candidate, candidate_sets

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.resolve.planner import Planner
from pluginhost.resolve.planning import Outlook, plan

POOL = [
    *(candidate(f"p{i}", "1.0.0") for i in range(30)),
    candidate("app", "1.0.0", requires={"lib": "^1.0"}),
    candidate("lib", "1.1.0"),
]


def planner() -> Planner:
    return Planner(API_VERSION, VersionPolicy(), "reject")


def fresh(pool: Sequence[Candidate], active: Mapping[PluginName, Candidate]) -> Outlook:
    """The outlook with no memo: what every patched plan must equal."""
    return plan(
        pool, active, api_version=API_VERSION, policy=VersionPolicy(), breaking_change="reject"
    )


def started(
    pool: Sequence[Candidate], *, warm: bool
) -> tuple[Planner, dict[PluginName, Candidate]]:
    """A planner after a start: the pool planned with nothing active, the choice made active,
    and warmed if asked."""
    p = planner()
    active = dict(p.plan(pool, {}).plan.chosen)
    if warm:
        p.warm(active)
    return p, active


class TestWarm:
    def test_warm_plans_every_part_against_the_active_versions(self) -> None:
        """Each of the 31 parts (30 alone, app with lib) is planned once at start and once
        more when warmed; the next reconcile, with nothing changed, plans none and answers as a
        fresh plan does."""
        p = planner()
        first = p.plan(POOL, {})
        assert p.memo.misses == 31
        active = dict(first.plan.chosen)
        p.warm(active)
        assert p.memo.misses == 62
        assert p.plan(list(POOL), active) == fresh(POOL, active)
        assert p.memo.misses == 62

    def test_after_a_warm_a_swap_plans_only_its_part(self) -> None:
        """The first swap after a start plans one part, and answers as a fresh plan does."""
        p, active = started(POOL, warm=True)
        before = p.memo.misses
        pool = [*POOL, candidate("p7", "2.0.0")]
        got = p.plan(pool, active)
        assert p.memo.misses == before + 1
        assert got == fresh(pool, active)
        assert got.plan.chosen[PluginName("p7")].version_text == "2.0.0"

    def test_without_a_warm_the_first_swap_plans_every_part(self) -> None:
        """What the warm spares: every active version moved since the start's plan."""
        p, active = started(POOL, warm=False)
        before = p.memo.misses
        p.plan([*POOL, candidate("p7", "2.0.0")], active)
        assert p.memo.misses == before + 31

    def test_warm_before_any_plan_does_nothing(self) -> None:
        p = planner()
        p.warm({})
        assert (p.memo.hits, p.memo.misses) == (0, 0)

    @settings(max_examples=60, deadline=None)
    @given(pool=candidate_sets(closed=True), data=st.data())
    def test_same_answer_as_a_fresh_plan(self, pool: list[Candidate], data: st.DataObject) -> None:
        """On random pools: a start, a warm, then a change adding or taking out one candidate
        plans as a fresh plan of the changed pool does."""
        p, active = started(pool, warm=True)
        if data.draw(st.booleans()) and len(pool) > 1:
            gone = data.draw(st.sampled_from(pool))
            changed = [c for c in pool if c is not gone]
        else:
            extra = data.draw(candidate_sets(closed=True))[0]
            changed = [*pool, extra]
        assert p.plan(changed, active) == fresh(changed, active)
