"""Tests for the problem values: hashable, comparable, and compatible with older call sites."""

from __future__ import annotations

import attrs

from pluginhost import Problem, ProblemKind, Requirement


class TestProblem:
    def test_requirement_defaults_to_none(self) -> None:
        """A problem built the way older code builds it has no requirement."""
        problem = Problem(ProblemKind.MISSING, "polite", "text", ("hello",), "1.0.0", "/w.whl")
        assert problem.requirement is None

    def test_hashable_with_a_requirement(self) -> None:
        """Problems with requirements go into sets: equal fields, one element."""
        needs = Requirement("polite", "1.0.0", "hello", "^1", available=("1.0.0",))
        twice = {
            Problem(ProblemKind.MISSING, "polite", "text", requirement=needs),
            Problem(ProblemKind.MISSING, "polite", "text", requirement=attrs.evolve(needs)),
        }
        assert len(twice) == 1
