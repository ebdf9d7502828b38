"""Tests for the exception tree: structured attributes that survive pickling."""

from __future__ import annotations

import pickle

from pluginhost import (
    IndexHashError,
    IndexResponseError,
    IndexUnavailableError,
    PackageIndexError,
    RemotePluginError,
    Requirement,
    ResolutionError,
)
from pluginhost.model import errors


class TestResolutionError:
    def test_requirement_survives_pickling(self) -> None:
        """ResolutionError keeps its requirement across processes (pickling)."""
        needs = Requirement("polite", "1.0.0", "hello", "^1")
        err = ResolutionError("unmet", plugin="polite", missing=("hello",), requirement=needs)
        copy = pickle.loads(pickle.dumps(err))
        assert (copy.requirement, copy.missing, str(copy)) == (needs, ("hello",), str(err))


class TestPackageIndexError:
    def test_url_without_credentials(self) -> None:
        """An index error names its URL without userinfo, and keeps it across pickling."""
        err = IndexHashError("bad bytes", url="https://bob:s3cret@index.example/simple/x/")
        copy = pickle.loads(pickle.dumps(err))
        assert copy.url == err.url == "https://index.example/simple/x/"
        assert str(copy) == str(err) == "https://index.example/simple/x/: bad bytes"
        assert "s3cret" not in repr(err)

    def test_tree(self) -> None:
        """Index errors are PackageIndexErrors, and the builtins that fit."""
        assert issubclass(IndexUnavailableError, PackageIndexError)
        assert issubclass(IndexUnavailableError, OSError)
        assert issubclass(IndexResponseError, ValueError)
        assert issubclass(IndexHashError, PackageIndexError)


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

    def test_unknown_names_claimed_builtin_are_not_kept(self) -> None:
        """A worker claiming builtin types of new names at each call grows no cache in the
        host (480 MiB after 60 calls of long names, kept after the plugin was unloaded)."""
        kept = len(errors._REMOTE_TYPES)
        for n in range(100):
            error = RemotePluginError.from_remote(f"Made{n}" + "x" * 1000, "m", "tb", builtin=True)
            assert type(error) is RemotePluginError
        assert len(errors._REMOTE_TYPES) == kept

    def test_a_non_builtin_name_is_never_looked_up(self) -> None:
        """A type name that is not a builtin's gives a plain RemotePluginError."""
        error = RemotePluginError.from_remote("ValueError", "m", "tb", builtin=False)
        assert type(error) is RemotePluginError
