"""Tests for the dependency graph among chosen plugins: edges, cycles and the load order."""

from __future__ import annotations

import graphlib
import itertools

from hypothesis import given
from hypothesis import strategies as st
from resolving import N, only, run, versions_of
from strategies import API_VERSION, actives, candidate, candidate_sets, policies

from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.policy import VersionPolicy
from pluginhost.model.problems import ProblemKind
from pluginhost.model.versions import Version
from pluginhost.resolve.graph import demands_of, find_cycles, load_order
from pluginhost.resolve.resolution import resolve


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


class TestEdges:
    def test_present_optional_orders_the_load(self) -> None:
        """A present, satisfied optional dependency loads first and is in the graph."""
        plan = run(
            [candidate("alpha", "1.0.0", optional={"beta": "^1"}), candidate("beta", "1.0.0")]
        )
        assert plan.order == ("beta", "alpha")
        assert plan.graph[N("alpha")] == ("beta",)


class TestFindCycles:
    def test_acyclic_graph_has_none(self) -> None:
        """A graph without cycles gives no cycle."""
        assert find_cycles({N("a"): (N("b"),), N("b"): ()}) == []

    def test_each_cyclic_component_once(self) -> None:
        """Each cyclic component is one closed walk from its smallest member, sorted."""
        graph = {
            N("d"): (N("c"),),
            N("c"): (N("d"),),
            N("b"): (N("a"),),
            N("a"): (N("b"),),
            N("e"): (N("a"),),
        }
        assert find_cycles(graph) == [("a", "b", "a"), ("c", "d", "c")]


class TestLoadOrder:
    def test_dependencies_first_batches_by_name(self) -> None:
        """Dependencies come first, and plugins ready together come in name order."""
        graph = {N("top"): (N("b"), N("a")), N("b"): (), N("a"): ()}
        assert load_order(graph) == ("a", "b", "top")

    @given(st.sets(st.sampled_from("abcdefgh"), max_size=8), st.data())
    def test_same_order_as_a_topological_sorter(self, names: set[str], data: st.DataObject) -> None:
        """With edges or none (the common case, taken without a sorter), the order is that of
        graphlib's sorter taken batch by batch, each batch in name order."""
        nodes = sorted(N(n) for n in names)
        edges = st.lists(st.sampled_from(nodes), unique=True) if nodes else st.just([])
        order = data.draw(st.permutations(nodes))  # the graph's own order is no sorted one
        graph = {n: tuple(data.draw(edges)) if data.draw(st.booleans()) else () for n in order}
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
        except graphlib.CycleError:
            return
        expected: list[str] = []
        while sorter.is_active():
            batch = sorted(sorter.get_ready())
            expected += batch
            sorter.done(*batch)
        assert load_order(graph) == tuple(expected)


class TestDemands:
    def test_constraints_put_on_each_plugin(self) -> None:
        """Each plugin's demands are its requirers with their constraints; optional ones none."""
        polite = candidate("polite", "1.0.0", requires={"hello": "^1"}, optional={"x": "*"})
        demands = demands_of({N("polite"): polite})
        assert [(c.name, str(k)) for c, k in demands[N("hello")]] == [("polite", "^1")]
        assert N("x") not in demands


class TestProperties:
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
