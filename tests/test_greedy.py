"""Tests for the greedy rounds: versions chosen under requirements, and the problems they name."""

from __future__ import annotations

from hypothesis import given
from resolving import N, only, run, versions_of
from strategies import API_VERSION, actives, candidate, candidate_sets, policies

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import ProblemKind, Requirement
from pluginhost.model.versions import Version
from pluginhost.resolve.greedy import Greedy, choice_alone
from pluginhost.resolve.screen import collapse, screen


class TestChoice:
    def test_lower_version_satisfies_requirer(self) -> None:
        """A requirer's constraint pulls a plugin down to the highest version that fits."""
        plan = run(
            [
                *(candidate("hello", v) for v in ("1.0.0", "1.1.0", "1.2.0")),
                candidate("polite", "1.0.0", requires={"hello": "<1.2"}),
            ]
        )
        assert versions_of(plan) == {"hello": "1.1.0", "polite": "1.0.0"}
        assert plan.problems == ()

    def test_lower_version_of_requirer_when_its_dependency_fails(self) -> None:
        """A requirer falls back to a lower version whose requirements can be met."""
        plan = run(
            [
                candidate("hello", "1.2.0"),
                candidate("polite", "2.0.0", requires={"hello": "^2"}),
                candidate("polite", "1.0.0", requires={"hello": "^1"}),
            ]
        )
        assert versions_of(plan) == {"hello": "1.2.0", "polite": "1.0.0"}
        problem = only(plan, ProblemKind.UNSATISFIABLE)
        assert (problem.plugin, problem.version) == ("polite", "2.0.0")


class TestProblems:
    def test_unsatisfiable_message(self) -> None:
        """UNSATISFIABLE says who needs what and what is available."""
        plan = run(
            [
                candidate("hello", "1.2.0"),
                candidate("hello", "1.0.0"),
                candidate("polite", "1.1.0", requires={"hello": "^2.0"}),
            ]
        )
        problem = only(plan, ProblemKind.UNSATISFIABLE)
        assert problem.message == "polite 1.1.0 requires hello ^2.0, available: hello 1.2.0, 1.0.0"
        assert (problem.plugin, problem.version) == ("polite", "1.1.0")
        assert versions_of(plan) == {"hello": "1.2.0"}

    def test_conflicting_requirers_are_explained(self) -> None:
        """When a fitting version exists, the message says which version was chosen instead."""
        plan = run(
            [
                candidate("a", "1.0.0", requires={"c": "^1"}),
                candidate("b", "1.0.0", requires={"c": "^2"}),
                candidate("c", "1.0.0"),
                candidate("c", "2.0.0"),
            ]
        )
        assert versions_of(plan) == {"b": "1.0.0", "c": "2.0.0"}
        assert only(plan, ProblemKind.UNSATISFIABLE).message == (
            "a 1.0.0 requires c ^1, available: c 2.0.0, 1.0.0;"
            " other plugins' requirements chose c 2.0.0"
        )

    def test_missing_message(self) -> None:
        """MISSING names the requirer, the requirement and the absent plugin."""
        plan = run([candidate("polite", "1.1.0", requires={"hello": "^1.0"})])
        problem = only(plan, ProblemKind.MISSING)
        assert problem.message == "polite 1.1.0 requires hello ^1.0, which is not available"
        assert dict(plan.chosen) == {}

    def test_missing_names_the_dependency(self) -> None:
        """MISSING has the absent plugin in ``involved`` and the requirement as fields."""
        plan = run([candidate("polite", "1.1.0", requires={"hello": "^1.0"})])
        problem = only(plan, ProblemKind.MISSING)
        assert problem.involved == ("hello",)
        assert problem.requirement == Requirement("polite", "1.1.0", "hello", "^1.0")

    def test_unsatisfiable_carries_the_requirement(self) -> None:
        """UNSATISFIABLE names the required plugin and carries who requires what and what is
        available, highest first."""
        plan = run(
            [
                candidate("hello", "1.2.0"),
                candidate("hello", "1.0.0"),
                candidate("polite", "1.1.0", requires={"hello": "^2.0"}),
            ]
        )
        problem = only(plan, ProblemKind.UNSATISFIABLE)
        assert problem.involved == ("hello",)
        assert problem.requirement == Requirement(
            "polite", "1.1.0", "hello", "^2.0", available=("1.2.0", "1.0.0"), chosen="1.2.0"
        )

    def test_conflict_between_requirers_names_the_version_chosen(self) -> None:
        """When other requirers chose the version, the requirement says which version it was."""
        plan = run(
            [
                candidate("a", "1.0.0", requires={"c": "^1"}),
                candidate("b", "1.0.0", requires={"c": "^2"}),
                candidate("c", "1.0.0"),
                candidate("c", "2.0.0"),
            ]
        )
        assert only(plan, ProblemKind.UNSATISFIABLE).requirement == Requirement(
            "a", "1.0.0", "c", "^1", available=("2.0.0", "1.0.0"), chosen="2.0.0"
        )

    def test_dependency_failed_carries_the_requirement(self) -> None:
        """DEPENDENCY_FAILED carries the requirement on the skipped plugin; none was chosen."""
        plan = run(
            [
                candidate("top", "1.0.0", requires={"base": "^1"}),
                candidate("base", "1.0.0", requires={"gone": "*"}),
            ]
        )
        problem = only(plan, ProblemKind.DEPENDENCY_FAILED)
        assert problem.requirement == Requirement(
            "top", "1.0.0", "base", "^1", available=("1.0.0",)
        )

    def test_transitive_skip(self) -> None:
        """Dependents of a skipped plugin are skipped with the chain named; the rest loads."""
        plan = run(
            [
                candidate("top", "1.0.0", requires={"mid": "^1"}),
                candidate("mid", "1.0.0", requires={"base": "^1"}),
                candidate("base", "1.0.0", requires={"gone": "^1"}),
                candidate("other", "1.0.0"),
            ]
        )
        assert versions_of(plan) == {"other": "1.0.0"}
        top = only(plan, ProblemKind.DEPENDENCY_FAILED, "top")
        assert top.message == (
            "top 1.0.0 requires mid ^1, which is skipped: top -> mid -> base"
            " (base 1.0.0 requires gone ^1, which is not available)"
        )
        assert top.involved == ("mid", "base")
        assert only(plan, ProblemKind.DEPENDENCY_FAILED, "mid").involved == ("base",)
        assert only(plan, ProblemKind.MISSING).plugin == "base"

    def test_every_version_of_a_skipped_plugin_is_reported(self) -> None:
        """Each version that failed has its own problem when the plugin does not load."""
        plan = run([candidate("polite", v, requires={"hello": "*"}) for v in ("1.0.0", "2.0.0")])
        assert sorted(p.version or "" for p in plan.problems) == ["1.0.0", "2.0.0"]


class TestOptional:
    def test_absent_optional_is_fine(self) -> None:
        """An absent optional dependency neither skips nor reports anything."""
        plan = run([candidate("alpha", "1.0.0", optional={"beta": "^1"})])
        assert versions_of(plan) == {"alpha": "1.0.0"}
        assert plan.problems == ()
        assert plan.graph == {"alpha": ()}

    def test_unsatisfied_optional_does_not_skip(self) -> None:
        """An optional dependency at a non-matching version adds no edge and no problem."""
        plan = run(
            [candidate("alpha", "1.0.0", optional={"beta": "^2"}), candidate("beta", "1.0.0")]
        )
        assert set(plan.chosen) == {"alpha", "beta"}
        assert plan.graph[N("alpha")] == ()
        assert plan.problems == ()

    def test_optional_does_not_constrain(self) -> None:
        """An optional constraint never pulls a plugin's version down."""
        plan = run(
            [
                candidate("alpha", "1.0.0", optional={"beta": "^1"}),
                candidate("beta", "1.0.0"),
                candidate("beta", "2.0.0"),
            ]
        )
        assert versions_of(plan)["beta"] == "2.0.0"


class TestChoiceAlone:
    """A part of one plugin with one eligible version that requires nothing is chosen without
    the rounds; every other part goes through them."""

    @given(
        candidate_sets(names=("solo", "other"), max_versions=2),
        policies,
        actives(names=("solo", "other")),
    )
    def test_same_choice_as_the_rounds(
        self,
        cands: list[Candidate],
        policy: VersionPolicy,
        active: dict[PluginName, Version],
    ) -> None:
        pool, _ = collapse(cands)
        refused = screen(pool, API_VERSION, policy, active)
        eligible = {n: tuple(c for c in cs if c not in refused) for n, cs in pool.items()}
        alone = choice_alone(eligible, policy.allow_prerelease)
        if alone is None:
            return
        greedy = Greedy(pool, eligible, refused, policy.allow_prerelease)
        assert greedy.run() == alone
        assert greedy.failures == []

    def test_lone_plugin(self) -> None:
        """The usual plugin of a start: chosen as it is."""
        hello = candidate("hello", "1.0.0")
        assert choice_alone({N("hello"): (hello,)}, False) == {N("hello"): hello}

    def test_other_parts_go_through_the_rounds(self) -> None:
        """A requirement, a prerelease left out, two versions, two plugins or an optional
        dependency on itself: ``None``."""
        hello, pre = candidate("hello", "1.0.0"), candidate("hello", "2.0.0-rc.1")
        polite = candidate("polite", "1.0.0", requires={"hello": "^1"})
        assert choice_alone({N("polite"): (polite,)}, False) is None
        assert choice_alone({N("hello"): (pre,)}, False) is None
        assert choice_alone({N("hello"): (pre,)}, True) == {N("hello"): pre}
        assert choice_alone({N("hello"): (pre, hello)}, True) is None
        assert choice_alone({N("hello"): (hello,), N("polite"): (polite,)}, False) is None
        narcissus = candidate("narcissus", "1.0.0", optional={"narcissus": "*"})
        assert choice_alone({N("narcissus"): (narcissus,)}, False) is None
