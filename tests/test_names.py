"""Tests for pluginhost.model.names: one spelling per plugin and distribution name."""

from __future__ import annotations

import packaging.utils
from hypothesis import given
from hypothesis import strategies as st

from pluginhost.model.names import canonicalize_name, display_name, name_fault, plugin_name


class TestCanonicalizeName:
    @given(st.text(alphabet="aZ09-_.é ", max_size=12))
    def test_as_packaging_normalizes(self, name: str) -> None:
        """The same spelling as packaging's canonicalize_name (PEP 503), which is not
        imported for it, runs of separators and case included."""
        assert canonicalize_name(name) == packaging.utils.canonicalize_name(name)

    def test_runs_of_separators_become_one(self) -> None:
        """``-``, ``_`` and ``.`` in any mix are one ``-``."""
        assert canonicalize_name("Hello_.-World--Two") == "hello-world-two"


class TestPluginNames:
    def test_plugin_name_is_normalized(self) -> None:
        """A plugin's name is its normalized spelling."""
        assert plugin_name("Hello_World") == "hello-world"

    def test_display_name_names_the_entry_point_when_it_differs(self) -> None:
        """The distribution's name, with the plugin's in brackets when it is not the same."""
        assert display_name("export", "datasette-render-binary") == (
            "datasette-render-binary (export)"
        )
        assert display_name("pytest-xdist", "pytest_xdist") == "pytest_xdist"


class TestNameFault:
    def test_valid_names_pass(self) -> None:
        """The names a manifest or an entry point may give pass."""
        for name in ("hello", "Hello_World", "a.b-c", "x" * 100, "0day"):
            assert name_fault(name) is None

    def test_invalid_names_say_why_escaped_and_cut(self) -> None:
        """Empty, a path, a newline, too long or not UTF-8: refused, shown escaped and cut."""
        for name, shown in (
            ("", "''"),
            ("../../x", "'../../x'"),
            ("p1\nx", "'p1\\nx'"),
            ("a" * 5000, repr("a" * 60 + "...")),
            (b"\xff".decode("utf-8", "surrogateescape"), "'\\udcff'"),
        ):
            assert name_fault(name) == (
                f"{shown} is not a plugin name: use at most 100 letters, digits, '-', '_' and "
                "'.', starting with a letter or digit"
            )
