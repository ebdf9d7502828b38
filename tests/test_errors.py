"""Tests for the exception tree: structured attributes that survive pickling."""

from __future__ import annotations

import pickle

from pluginhost import (
    IndexHashError,
    IndexResponseError,
    IndexUnavailableError,
    PackageIndexError,
    Requirement,
    ResolutionError,
)


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
