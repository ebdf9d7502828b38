"""Requires-Dist specifiers as constraints on a plugin version, alone or with plugin.toml's."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from pluginhost.model.specifiers import (
    BothConstraints,
    DistSpecifier,
    applies_here,
    both,
    checked_applies,
    requirement,
)
from pluginhost.model.versions import Constraint, Version, from_pep440


def spec(text: str) -> DistSpecifier:
    return DistSpecifier("pytest-metadata", SpecifierSet(text))


class TestDistSpecifier:
    @pytest.mark.parametrize(
        ("text", "version", "allowed"),
        [
            (">=2.0.0", "3.0.1", True),
            (">=2.0.0", "1.9", False),
            ("~=0.2.0", "0.2.0.post2", True),
            ("==0.2.0", "0.2.0.post2", False),
            (">=1!1.0", "1!2.0", True),
            (">=1!1.0", "9.0", False),
            ("<2", "1!0.1", False),
            ("", "1!0.1", True),
            ("==1.2.3.4", "1.2.3.4", True),
        ],
    )
    def test_orders_by_pep440(self, text: str, version: str, allowed: bool) -> None:
        """A specifier matches by PEP 440, epochs, post and four-part releases included."""
        assert spec(text).allows(from_pep440(version)) is allowed

    def test_prerelease_by_policy_or_by_name(self) -> None:
        """A prerelease matches when the policy allows it, or when the specifier names one."""
        rc = from_pep440("2.0rc1")
        assert not spec(">=1.0").allows(rc)
        assert spec(">=1.0").allows(rc, prerelease=True)
        assert spec(">=2.0rc1").allows(rc)

    def test_semver_only_version_never_matches(self) -> None:
        """A semver version PEP 440 cannot write is no distribution's version: no match."""
        assert not spec("").allows(Version(1, 0, 0, prerelease="foo"))

    def test_text(self) -> None:
        """Shown as written, '*' when it allows everything."""
        assert (str(spec(">=2.0")), str(spec(""))) == (">=2.0", "*")
        assert spec("").is_any
        assert not spec(">1").is_any


class TestBoth:
    def test_both_apply(self) -> None:
        """A version must satisfy the plugin.toml constraint and the Requires-Dist specifier."""
        combined = both(Constraint.parse("^1.0"), spec(">=1.2"))
        assert isinstance(combined, BothConstraints)
        assert combined.allows(Version(1, 3, 0))
        assert not combined.allows(Version(1, 1, 0))  # plugin.toml yes, Requires-Dist no
        assert not combined.allows(Version(2, 0, 0))  # Requires-Dist yes, plugin.toml no
        assert str(combined) == "^1.0 (plugin.toml) and >=1.2 (Requires-Dist)"

    def test_one_side(self) -> None:
        """With one side only, that side is the constraint."""
        manifest, dist = Constraint.parse("^1.0"), spec(">=1.2")
        assert both(manifest, None) is manifest
        assert both(None, dist) is dist


class TestAppliesHere:
    @pytest.mark.parametrize(
        ("text", "applies"),
        [
            ("attrs", True),
            ('attrs; python_version >= "3"', True),
            ('attrs; extra == "cli"', False),
            ('attrs; sys_platform == "nonesuch"', False),
        ],
    )
    def test_markers(self, text: str, applies: bool) -> None:
        assert applies_here(requirement(text)) is applies

    @pytest.mark.parametrize(
        "text", ['attrs; "y" < "z"', 'attrs; python_version < "1~x" and "a" == "b"']
    )
    def test_unevaluable_marker_is_a_value_error(self, text: str) -> None:
        """packaging raises a KeyError for a marker naming no environment value: one type."""
        with pytest.raises(ValueError, match="marker"):
            applies_here(requirement(text))


class TestCheckedApplies:
    def test_applies(self) -> None:
        assert checked_applies(requirement('attrs>=1; python_version >= "3"'))
        assert not checked_applies(requirement('attrs>=1; extra == "cli"'))

    def test_a_specifier_that_cannot_compare(self) -> None:
        """Parsed lazily: a version over int()'s digit limit fails when it first compares,
        here, not later in the resolver or the follower."""
        req = requirement("attrs>=1." + "1" * 5000)
        with pytest.raises(ValueError, match="digit"):
            checked_applies(req)
