"""Tests for the resolver: choice, policy, problems, cycles, order, and random-graph properties."""

from __future__ import annotations

import graphlib
import itertools
import random
from collections.abc import Iterable, Mapping, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import API_VERSION, actives, candidate, candidate_sets, policies

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName, plugin_name
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import Problem, ProblemKind
from pluginhost.model.versions import Version
from pluginhost.resolve.resolver import Plan, resolve

N = plugin_name
PRE = VersionPolicy(allow_prerelease=True)


def run(
    cands: Iterable[Candidate],
    *,
    policy: VersionPolicy = VersionPolicy(),
    active: Mapping[str, str] | None = None,
    api: Version = API_VERSION,
) -> Plan:
    """Resolve with versions written as strings."""
    act = {N(k): Version.parse(v) for k, v in (active or {}).items()}
    return resolve(cands, api_version=api, policy=policy, active=act)


def versions_of(plan: Plan) -> dict[str, str]:
    return {name: str(cand.version) for name, cand in plan.chosen.items()}


def only(plan: Plan, kind: ProblemKind, plugin: str | None = None) -> Problem:
    found = [p for p in plan.problems if p.kind is kind and plugin in (None, p.plugin)]
    assert len(found) == 1, plan.problems
    return found[0]


class TestChoice:
    def test_highest_version_chosen(self) -> None:
        """Without constraints, the highest version of each plugin is chosen."""
        plan = run([candidate("hello", v) for v in ("1.0.0", "1.10.0", "1.2.0")])
        assert versions_of(plan) == {"hello": "1.10.0"}
        assert plan.problems == ()

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

    def test_empty(self) -> None:
        """No candidates give an empty plan."""
        plan = run([])
        assert (dict(plan.chosen), plan.order, plan.problems, dict(plan.graph)) == ({}, (), (), {})


class TestPolicy:
    def test_prerelease_refused_by_default(self) -> None:
        """A newer prerelease is refused, named in a problem, and the release loads."""
        plan = run([candidate("hello", "1.0.0"), candidate("hello", "1.1.0-rc.1")])
        assert versions_of(plan) == {"hello": "1.0.0"}
        problem = only(plan, ProblemKind.REFUSED)
        assert problem.version == "1.1.0-rc.1"
        assert "prerelease" in problem.message

    def test_prerelease_allowed_by_policy(self) -> None:
        """With allow_prerelease the prerelease is the highest version and is chosen."""
        plan = run([candidate("hello", "1.0.0"), candidate("hello", "1.1.0-rc.1")], policy=PRE)
        assert versions_of(plan) == {"hello": "1.1.0-rc.1"}
        assert plan.problems == ()

    def test_prerelease_named_by_requirer(self) -> None:
        """A requirement naming the prerelease selects it even when the policy forbids them."""
        plan = run(
            [
                candidate("hello", "1.0.0"),
                candidate("hello", "1.1.0-rc.1"),
                candidate("polite", "1.0.0", requires={"hello": ">=1.1.0-rc.1"}),
            ]
        )
        assert versions_of(plan) == {"hello": "1.1.0-rc.1", "polite": "1.0.0"}

    def test_prerelease_named_only_by_a_skipped_requirer(self) -> None:
        """A prerelease whose only requirer is skipped is refused rather than loaded."""
        plan = run(
            [
                candidate("hello", "1.1.0-rc.1"),
                candidate("polite", "1.0.0", requires={"hello": ">=1.1.0-rc.1", "gone": "*"}),
            ]
        )
        assert dict(plan.chosen) == {}
        assert "names them" in only(plan, ProblemKind.REFUSED, "hello").message
        assert only(plan, ProblemKind.MISSING).plugin == "polite"

    def test_downgrade_refused(self) -> None:
        """A version lower than the active one is refused unless the policy allows downgrades."""
        cands = [candidate("hello", "1.0.0")]
        plan = run(cands, active={"hello": "1.2.0"})
        assert dict(plan.chosen) == {}
        assert only(plan, ProblemKind.REFUSED).message == (
            "hello 1.0.0 is lower than the active hello 1.2.0,"
            " and the policy does not allow downgrades"
        )
        allowed = run(cands, active={"hello": "1.2.0"}, policy=VersionPolicy(allow_downgrade=True))
        assert versions_of(allowed) == {"hello": "1.0.0"}

    def test_downgrade_refused_even_when_required(self) -> None:
        """A requirer cannot force a downgrade: it is skipped instead."""
        plan = run(
            [
                candidate("hello", "1.0.0"),
                candidate("hello", "1.2.0"),
                candidate("polite", "1.0.0", requires={"hello": "<1.2"}),
            ],
            active={"hello": "1.2.0"},
        )
        assert versions_of(plan) == {"hello": "1.2.0"}
        assert only(plan, ProblemKind.UNSATISFIABLE).message == (
            "polite 1.0.0 requires hello <1.2, available: hello 1.2.0"
        )

    def test_old_versions_are_not_reported(self) -> None:
        """Refused versions below the chosen one raise no problem."""
        plan = run(
            [candidate("hello", "1.0.0"), candidate("hello", "1.2.0")], active={"hello": "1.2.0"}
        )
        assert versions_of(plan) == {"hello": "1.2.0"}
        assert plan.problems == ()


class TestHost:
    def test_host_constraint_refuses(self) -> None:
        """A version whose host constraint excludes the API is refused, and a lower one loads."""
        plan = run([candidate("hello", "2.0.0", host="^2"), candidate("hello", "1.0.0", host="^1")])
        assert versions_of(plan) == {"hello": "1.0.0"}
        problem = only(plan, ProblemKind.REFUSED)
        assert (problem.plugin, problem.version) == ("hello", "2.0.0")
        assert problem.message == "hello 2.0.0 requires host API ^2, this host provides 1.2.0"
        assert problem.path == "/wheels/hello-2.0.0.whl"

    def test_prerelease_host_api_is_not_subject_to_policy(self) -> None:
        """A prerelease host API is matched on its ordering alone."""
        plan = run([candidate("hello", "1.0.0", host=">=1.2")], api=Version.parse("1.3.0-beta.1"))
        assert versions_of(plan) == {"hello": "1.0.0"}


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


class TestCycles:
    def test_cycle_of_three(self) -> None:
        """A 3-cycle is named in order for each member; dependents skip, others load."""
        plan = run(
            [
                candidate("x", "1.0.0", requires={"y": "^1"}),
                candidate("y", "1.0.0", requires={"z": "^1"}),
                candidate("z", "1.0.0", requires={"x": "^1"}),
                candidate("w", "1.0.0", requires={"x": "^1"}),
                candidate("hello", "1.0.0"),
            ]
        )
        assert versions_of(plan) == {"hello": "1.0.0"}
        for name in "xyz":
            problem = only(plan, ProblemKind.CYCLE, name)
            assert problem.message == f"{name} 1.0.0 is in a dependency cycle: x -> y -> z -> x"
            assert set(problem.involved) == set("xyz") - {name}
        assert only(plan, ProblemKind.DEPENDENCY_FAILED, "w").message == (
            "w 1.0.0 requires x ^1, which is skipped: w -> x"
            " (x -> y -> z -> x is a dependency cycle)"
        )

    def test_self_cycle(self) -> None:
        """A plugin requiring itself is a cycle of one."""
        plan = run([candidate("a", "1.0.0", requires={"a": "^1"}), candidate("b", "1.0.0")])
        assert versions_of(plan) == {"b": "1.0.0"}
        assert only(plan, ProblemKind.CYCLE).message == "a 1.0.0 is in a dependency cycle: a -> a"

    def test_component_without_a_simple_cycle(self) -> None:
        """A component with two loops through one hub is walked through every member."""
        plan = run(
            [
                candidate("a", "1.0.0", requires={"b": "*", "c": "*"}),
                candidate("b", "1.0.0", requires={"a": "*"}),
                candidate("c", "1.0.0", requires={"a": "*"}),
            ]
        )
        assert only(plan, ProblemKind.CYCLE, "a").message.endswith("a -> b -> a -> c -> a")

    def test_optional_edge_closes_a_cycle(self) -> None:
        """A satisfied optional dependency counts as an edge for cycles."""
        plan = run(
            [
                candidate("a", "1.0.0", requires={"b": "^1"}),
                candidate("b", "1.0.0", optional={"a": "^1"}),
            ]
        )
        assert {p.plugin for p in plan.problems if p.kind is ProblemKind.CYCLE} == {"a", "b"}

    def test_long_chain_and_big_cycle(self) -> None:
        """Thousands of plugins in a chain or a cycle need no recursion."""
        names = [f"p{i:04}" for i in range(2000)]
        chain = [candidate(n, "1.0.0", requires={m: "*"}) for n, m in itertools.pairwise(names)]
        plan = run([*chain, candidate(names[-1], "1.0.0")])
        assert plan.order == tuple(reversed(names))
        ring = run([*chain, candidate(names[-1], "1.0.0", requires={names[0]: "*"})])
        assert dict(ring.chosen) == {}
        assert len(ring.problems) == len(names)


class TestOptional:
    def test_present_optional_orders_the_load(self) -> None:
        """A present, satisfied optional dependency loads first and is in the graph."""
        plan = run(
            [candidate("alpha", "1.0.0", optional={"beta": "^1"}), candidate("beta", "1.0.0")]
        )
        assert plan.order == ("beta", "alpha")
        assert plan.graph[N("alpha")] == ("beta",)

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


class TestDuplicates:
    def test_same_version_different_bytes_conflict(self) -> None:
        """Different bytes under one version: the first by path is kept, the other reported."""
        first = candidate("hello", "1.0.0", path="/a/hello.whl", sha="1" * 64)
        second = candidate("hello", "1.0.0", path="/b/hello.whl", sha="2" * 64)
        plan = run([second, first])
        assert plan.chosen[N("hello")] is first
        problem = only(plan, ProblemKind.CONFLICT)
        assert problem.message == (
            "hello 1.0.0 is offered twice with different contents:"
            " /a/hello.whl and /b/hello.whl; the first is used"
        )
        assert problem.path == "/b/hello.whl"

    def test_same_bytes_collapse_silently(self) -> None:
        """The same wheel at two paths is one candidate."""
        plan = run([candidate("hello", "1.0.0", path=p, sha="1" * 64) for p in ("/b", "/a")])
        assert str(plan.chosen[N("hello")].origin) == "/a"
        assert plan.problems == ()

    def test_installed_preferred_over_wheel(self) -> None:
        """An installed distribution wins over a wheel of the same version, which is reported."""
        wheel = candidate("hello", "1.0.0")
        installed = candidate("hello", "1.0.0", installed=True)
        plan = run([wheel, installed, installed])
        assert plan.chosen[N("hello")] is installed
        assert only(plan, ProblemKind.CONFLICT).path == "/wheels/hello-1.0.0.whl"


# -- properties ------------------------------------------------------------------------------------


def satisfied(constraint_holder: Candidate, dep: PluginName, chosen: Candidate, pre: bool) -> bool:
    return constraint_holder.manifest.requires[dep].allows(chosen.version, prerelease=pre)


def requirers(name: PluginName, chosen: Mapping[PluginName, Candidate]) -> list[Candidate]:
    return [c for c in chosen.values() if name in c.manifest.requires]


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

    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    @given(st.booleans().flatmap(lambda closed: candidate_sets(closed=closed)), policies, actives())
    def test_loads_everything_when_brute_force_can(
        self, cands: list[Candidate], policy: VersionPolicy, active: dict[PluginName, Version]
    ) -> None:
        """(e) If some choice of versions loads every plugin, the resolver loads every plugin."""
        plan = resolve(cands, api_version=API_VERSION, policy=policy, active=active)
        if brute_force_full_load(cands, policy, active):
            assert set(plan.chosen) == {c.name for c in cands}, plan.problems

    @given(candidate_sets(duplicates=True), policies, actives())
    def test_cycles_named_are_real(
        self, cands: list[Candidate], policy: VersionPolicy, active: dict[PluginName, Version]
    ) -> None:
        """(f) Every cycle the resolver names is a closed path of real requirements (optional
        ones count: they order loading too)."""
        plan = resolve(cands, api_version=API_VERSION, policy=policy, active=active)
        manifests = [c.manifest for c in cands]
        edges = {(m.name, dep) for m in manifests for dep in [*m.requires, *m.optional]}
        for problem in plan.problems:
            if problem.kind is not ProblemKind.CYCLE:
                continue
            path = [N(n) for n in problem.message.rsplit(": ", 1)[1].split(" -> ")]
            assert path[0] == path[-1]
            assert problem.plugin in path
            assert problem.plugin not in plan.chosen
            assert all(step in edges for step in itertools.pairwise(path)), (path, edges)


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
