"""Tests for the exception tree: structured attributes that survive pickling."""

from __future__ import annotations

import pickle

from pluginhost import Requirement, ResolutionError


class TestResolutionError:
    def test_requirement_survives_pickling(self) -> None:
        """ResolutionError keeps its requirement across processes (pickling)."""
        needs = Requirement("polite", "1.0.0", "hello", "^1")
        err = ResolutionError("unmet", plugin="polite", missing=("hello",), requirement=needs)
        copy = pickle.loads(pickle.dumps(err))
        assert (copy.requirement, copy.missing, str(copy)) == (needs, ("hello",), str(err))
