"""Planning against the active versions: conflicts, pins, breaking updates held back or cascaded."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from resolving import N, versions_of
from strategies import API_VERSION, candidate

from pluginhost.model.candidate import Candidate
from pluginhost.model.policy import BreakingChange, VersionPolicy
from pluginhost.model.problems import ProblemKind
from pluginhost.resolve.planning import Outlook, drop_conflicts, pin, plan

HELLO1, HELLO2 = candidate("hello", "1.0.0"), candidate("hello", "2.0.0")
POLITE = candidate("polite", "1.0.0", requires={"hello": "^1.0"})


def outlook(
    pool: Sequence[Candidate],
    active: Sequence[Candidate],
    breaking_change: BreakingChange = "reject",
    policy: VersionPolicy = VersionPolicy(),
) -> Outlook:
    """Plan ``pool`` with ``active`` serving."""
    return plan(
        pool,
        {c.name: c for c in active},
        api_version=API_VERSION,
        policy=policy,
        breaking_change=breaking_change,
    )


class TestDropConflicts:
    def test_other_bytes_of_an_active_version_set_aside(self) -> None:
        """A candidate claiming the active version with other bytes is refused as a conflict."""
        impostor = candidate("hello", "1.0.0", sha="f" * 64, path="/w/hello-1.0.0.whl")
        kept, problems = drop_conflicts([impostor, HELLO1, HELLO2], {N("hello"): HELLO1})
        assert kept == [HELLO1, HELLO2]
        (problem,) = problems
        assert problem.kind is ProblemKind.CONFLICT
        assert (problem.plugin, problem.version, problem.path) == (
            "hello",
            "1.0.0",
            "/w/hello-1.0.0.whl",
        )
        assert f"sha256 {'f' * 64}" in problem.message
        assert f"sha256 {HELLO1.sha256}" in problem.message

    def test_nothing_active_nothing_dropped(self) -> None:
        """Without active versions every candidate is kept."""
        assert drop_conflicts([HELLO1, HELLO2], {}) == ([HELLO1, HELLO2], [])

    def test_installed_plugins_compared_by_location(self) -> None:
        """An installed plugin's identity is where it is installed: the same place is no
        conflict."""
        env = candidate("hello", "1.0.0", installed=True)
        kept, problems = drop_conflicts([env], {N("hello"): env})
        assert (kept, problems) == ([env], [])

    @pytest.mark.parametrize("size", [4, 60])  # below and above what is compared one by one
    @pytest.mark.parametrize("copies", [False, True])
    def test_same_answer_for_the_serving_objects_and_for_copies(
        self, size: int, copies: bool
    ) -> None:
        """The active versions are passed over by identity, and copies of their bytes (as read
        from the registry) by their keys: the conflicts are the same either way."""
        offered = [candidate(f"p{i}", "1.0.0") for i in range(size)]
        impostor = candidate("p0", "1.0.0", sha="f" * 64)
        update = candidate("p1", "2.0.0")
        serving = [candidate(f"p{i}", "1.0.0") for i in range(size)] if copies else offered
        active = {c.name: c for c in serving}
        kept, problems = drop_conflicts([*offered, impostor, update], active)
        assert kept == [*offered, update]
        assert [(p.kind, p.plugin, p.version) for p in problems] == [
            (ProblemKind.CONFLICT, "p0", "1.0.0")
        ]


class TestOneDistribution:
    """A plugin is one distribution: another distribution offering its name is a conflict."""

    TORNADO = candidate("tornado", "0.8.1", distribution="pytest-tornado", path="/w/a.whl")
    TORNASYNC = candidate("tornado", "0.6.0", distribution="pytest-tornasync", path="/w/b.whl")

    def test_with_none_active_the_first_distribution_by_name_is_kept(self) -> None:
        """Both offered at a start: the first by name stays (not the higher version, which
        took the name before, the other ignored in silence), the other is a conflict naming
        both."""
        kept, problems = drop_conflicts([self.TORNASYNC, self.TORNADO], {})
        assert kept == [self.TORNADO]
        (problem,) = problems
        assert (problem.kind, problem.plugin, problem.path) == (
            ProblemKind.CONFLICT,
            "tornado",
            "/w/b.whl",
        )
        assert "pytest-tornasync 0.6.0" in problem.message
        assert "pytest-tornado provides" in problem.message

    def test_the_distribution_named_like_the_plugin_is_kept(self) -> None:
        named = candidate("constrained", "0.1.0", distribution="constrained")
        other = candidate("constrained", "2.0.0", distribution="a-mirrors")
        assert drop_conflicts([other, named], {})[0] == [named]

    def test_the_active_distribution_keeps_the_name_while_it_is_offered(self) -> None:
        """Another distribution dropped beside the active one is refused, not an update (it
        came in as one, the active plugin's state handed to unrelated code)."""
        newer = candidate("tornado", "9.0.0", distribution="pytest-tornasync")
        active = {N("tornado"): self.TORNADO}
        kept, problems = drop_conflicts([self.TORNADO, newer], active)
        assert kept == [self.TORNADO]
        assert [p.version for p in problems] == ["9.0.0"]
        assert "(the active one)" in problems[0].message

    def test_the_one_left_replaces_an_active_distribution_no_longer_offered(self) -> None:
        """The active distribution's wheels deleted, the other one's is kept: it replaces it."""
        active = {N("tornado"): self.TORNADO}
        assert drop_conflicts([self.TORNASYNC], active) == ([self.TORNASYNC], [])

    def test_versions_of_one_distribution_are_no_conflict_whatever_its_spelling(self) -> None:
        one = candidate("hello", "1.0.0", distribution="Hello_World")
        two = candidate("hello", "2.0.0", distribution="hello-world")
        assert drop_conflicts([one, two], {}) == ([one, two], [])
        assert drop_conflicts([two], {N("hello"): one}) == ([two], [])


class TestPin:
    def test_only_the_pinned_version_of_a_pinned_plugin(self) -> None:
        """A pinned plugin keeps only its pinned bytes in the pool; others keep all theirs."""
        assert pin([HELLO1, HELLO2, POLITE], {N("hello"): HELLO1}) == [HELLO1, POLITE]

    def test_pinned_bytes_matter(self) -> None:
        """Other bytes of the pinned version are taken out too."""
        other = candidate("hello", "1.0.0", sha="0" * 64)
        assert pin([other, HELLO1], {N("hello"): HELLO1}) == [HELLO1]


class TestPlan:
    def test_update_without_dependents(self) -> None:
        """With nothing in the way, the newest version is chosen and no problem filed."""
        result = outlook([HELLO1, HELLO2], [HELLO1])
        assert versions_of(result.plan) == {"hello": "2.0.0"}
        assert (result.problems, result.victims) == ((), ())

    def test_breaking_update_rejected(self) -> None:
        """With "reject", an update an active dependent excludes is held back, filed under the
        update, naming the dependent."""
        result = outlook([HELLO1, HELLO2, POLITE], [HELLO1, POLITE])
        assert versions_of(result.plan) == {"hello": "1.0.0", "polite": "1.0.0"}
        assert result.victims == ()
        (problem,) = result.problems
        assert problem.kind is ProblemKind.REFUSED
        assert (problem.plugin, problem.version, problem.involved) == (
            "hello",
            "2.0.0",
            ("polite",),
        )
        assert problem.message == "hello 2.0.0 would break polite 1.0.0, which requires hello ^1.0"

    def test_breaking_update_cascades(self) -> None:
        """With "cascade", the dependent is let go, the update goes ahead, and the dependent's
        problem is filed under the dependent."""
        result = outlook([HELLO1, HELLO2, POLITE], [HELLO1, POLITE], "cascade")
        assert versions_of(result.plan) == {"hello": "2.0.0"}
        assert result.victims == ("polite",)
        (problem,) = result.problems
        assert problem.kind is ProblemKind.DEPENDENCY_FAILED
        assert (problem.plugin, problem.version, problem.involved) == (
            "polite",
            "1.0.0",
            ("hello",),
        )
        assert problem.message == (
            "polite 1.0.0 was unloaded for hello 2.0.0: it requires hello ^1.0"
        )

    def test_each_dependent_let_go_once(self) -> None:
        """Two dependents in the way are both let go, each named once."""
        kind = candidate("kind", "1.0.0", requires={"hello": "~1.0"})
        result = outlook([HELLO1, HELLO2, POLITE, kind], [HELLO1, POLITE, kind], "cascade")
        assert set(result.victims) == {"polite", "kind"}
        assert len(result.victims) == 2
        assert {p.plugin for p in result.problems} == {"polite", "kind"}

    def test_dependent_that_allows_the_update_stays(self) -> None:
        """An active dependent whose constraint allows the update is no victim."""
        easy = candidate("easy", "1.0.0", requires={"hello": ">=1.0"})
        result = outlook([HELLO1, HELLO2, easy], [HELLO1, easy], "cascade")
        assert versions_of(result.plan) == {"hello": "2.0.0", "easy": "1.0.0"}
        assert result.victims == ()

    def test_prerelease_is_no_breaking_update_unless_allowed(self) -> None:
        """A prerelease the policy does not allow is not an update anyone breaks."""
        pre = candidate("hello", "2.0.0-rc.1")
        held = outlook([HELLO1, pre, POLITE], [HELLO1, POLITE], "cascade")
        assert (held.victims, held.problems) == ((), ())
        allowed = VersionPolicy(allow_prerelease=True)
        result = outlook([HELLO1, pre, POLITE], [HELLO1, POLITE], "cascade", allowed)
        assert result.victims == ("polite",)

    def test_update_the_host_refuses_is_no_breaking_update(self) -> None:
        """A newer version the host API excludes breaks nobody: it could not load anyway."""
        future = candidate("hello", "2.0.0", host=">=9.0")
        result = outlook([HELLO1, future, POLITE], [HELLO1, POLITE], "cascade")
        assert (result.victims, result.problems) == ((), ())

    def test_cascade_lets_no_one_go_for_an_update_that_cannot_load(self) -> None:
        """An update that cannot load even without its dependents (it requires a plugin that is
        missing) unloads no dependent: it is held back as with "reject"."""
        broken = candidate("hello", "2.0.0", requires={"zeta": "^1.0"})
        result = outlook([HELLO1, broken, POLITE], [HELLO1, POLITE], "cascade")
        assert versions_of(result.plan) == {"hello": "1.0.0", "polite": "1.0.0"}
        assert result.victims == ()
        assert [(p.kind, p.plugin) for p in result.problems] == [(ProblemKind.REFUSED, "hello")]

    def test_cascade_lets_go_only_for_updates_that_go_ahead(self) -> None:
        """Of two blocked updates, only the one that can load lets its dependent go."""
        broken = candidate("hello", "2.0.0", requires={"zeta": "^1.0"})
        world1, world2 = candidate("world", "1.0.0"), candidate("world", "2.0.0")
        fan = candidate("fan", "1.0.0", requires={"world": "^1.0"})
        pool = [HELLO1, broken, POLITE, world1, world2, fan]
        result = outlook(pool, [HELLO1, POLITE, world1, fan], "cascade")
        assert result.victims == ("fan",)
        assert versions_of(result.plan) == {"hello": "1.0.0", "polite": "1.0.0", "world": "2.0.0"}
        kinds = sorted((p.plugin or "", p.kind) for p in result.problems)
        assert kinds == [("fan", ProblemKind.DEPENDENCY_FAILED), ("hello", ProblemKind.REFUSED)]


class TestStranded:
    """A plan that must take a plugin to a version an active dependent refuses (the active
    version left the pool: its wheel gone, or yanked) lets the dependent go: left loaded, it
    served beside that version, re-imported against it."""

    @pytest.mark.parametrize("breaking_change", ["reject", "cascade"])
    def test_a_dependent_refusing_the_only_version_left_is_let_go(
        self, breaking_change: BreakingChange
    ) -> None:
        hello11 = candidate("hello", "1.1.0")
        picky = candidate("picky", "1.0.0", requires={"hello": "^1.1"})
        result = outlook(
            [HELLO1, picky],
            [hello11, picky],
            breaking_change,
            VersionPolicy(allow_downgrade=True),
        )
        assert versions_of(result.plan) == {"hello": "1.0.0"}
        assert result.victims == ("picky",)
        (problem,) = [p for p in result.problems if p.kind is ProblemKind.DEPENDENCY_FAILED]
        assert (problem.plugin, problem.version, problem.involved) == (
            "picky",
            "1.0.0",
            ("hello",),
        )
        assert problem.message == (
            "picky 1.0.0 was unloaded for hello 1.0.0: it requires hello ^1.1"
        )

    def test_a_dependent_the_plan_keeps_is_not_let_go(self) -> None:
        """The same dependent, with the version it needs still on offer, stays chosen."""
        hello11 = candidate("hello", "1.1.0")
        picky = candidate("picky", "1.0.0", requires={"hello": "^1.1"})
        result = outlook(
            [HELLO1, hello11, picky], [hello11, picky], policy=VersionPolicy(allow_downgrade=True)
        )
        assert versions_of(result.plan) == {"hello": "1.1.0", "picky": "1.0.0"}
        assert result.victims == ()
