"""Tests for the status document: how problems are written as JSON."""

from __future__ import annotations

import json

from pluginhost.host.statusdoc import problem_json
from pluginhost.model.problems import Problem, ProblemKind, Requirement


class TestProblemJson:
    def test_requirement_as_fields(self) -> None:
        """A problem's requirement is written field by field, as plain JSON."""
        requirement = Requirement("polite", "1.1.0", "hello", "^2.0", ("1.2.0",), "1.2.0")
        problem = Problem(
            ProblemKind.UNSATISFIABLE,
            "polite",
            "polite 1.1.0 requires hello ^2.0, available: hello 1.2.0",
            involved=("hello",),
            version="1.1.0",
            requirement=requirement,
        )
        written = json.loads(json.dumps(problem_json(problem)))
        assert written["involved"] == ["hello"]
        assert written["requirement"] == {
            "plugin": "polite",
            "version": "1.1.0",
            "requires": "hello",
            "constraint": "^2.0",
            "available": ["1.2.0"],
            "chosen": "1.2.0",
        }

    def test_no_requirement(self) -> None:
        """A problem without a requirement writes null for it."""
        problem = Problem(ProblemKind.CYCLE, "a", "a 1.0.0 is in a dependency cycle: a -> a")
        assert problem_json(problem)["requirement"] is None
