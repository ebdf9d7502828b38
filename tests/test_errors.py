"""Tests for the exception tree: structured attributes that survive pickling."""

from __future__ import annotations

import pickle

from pluginhost import RemotePluginError, Requirement, ResolutionError


class TestResolutionError:
    def test_requirement_survives_pickling(self) -> None:
        """ResolutionError keeps its requirement across processes (pickling)."""
        needs = Requirement("polite", "1.0.0", "hello", "^1")
        err = ResolutionError("unmet", plugin="polite", missing=("hello",), requirement=needs)
        copy = pickle.loads(pickle.dumps(err))
        assert (copy.requirement, copy.missing, str(copy)) == (needs, ("hello",), str(err))


class TestRemotePluginError:
    def test_builtin_type_is_also_that_builtin(self) -> None:
        """An error of a builtin type from a worker is an instance of that builtin too, of one
        cached class per type."""
        error = RemotePluginError.from_remote("KeyError", "'k'", "tb", builtin=True, hook="h")
        assert isinstance(error, KeyError)
        assert isinstance(error, RemotePluginError)
        again = RemotePluginError.from_remote("KeyError", "x", "tb", builtin=True)
        assert type(again) is type(error)
        assert (error.type_name, error.remote_traceback, error.hook) == ("KeyError", "tb", "h")

    def test_pickles_as_the_same_builtin_typed_error(self) -> None:
        """A remote error survives pickling with its builtin type and its attributes."""
        error = RemotePluginError.from_remote("ValueError", "m", "tb", plugin="p", builtin=True)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.type_name, copy.remote_traceback, str(copy)) == (
            "ValueError",
            "tb",
            str(error),
        )

    def test_builtin_that_cannot_be_mixed_in_stays_plain(self) -> None:
        """A builtin whose constructor takes other arguments gives a plain RemotePluginError."""
        error = RemotePluginError.from_remote("UnicodeDecodeError", "m", "tb", builtin=True)
        assert type(error) is RemotePluginError

    def test_a_non_builtin_name_is_never_looked_up(self) -> None:
        """A type name that is not a builtin's gives a plain RemotePluginError."""
        error = RemotePluginError.from_remote("ValueError", "m", "tb", builtin=False)
        assert type(error) is RemotePluginError
