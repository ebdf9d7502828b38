"""Semver versions, PEP 440 mapping and npm/Cargo constraints, checked against a reference."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.version import Version as Pep440Version

from pluginhost.model.errors import ManifestError, UnorderableVersionError, VersionError
from pluginhost.model.semver_base import SemVer
from pluginhost.model.versions import (
    ANY,
    Constraint,
    Version,
    check_orderable,
    from_pep440,
    parse_dist_version,
    parse_version,
)

V = Version.parse

# (constraint, version, allowed) with prereleases refused unless named.
TABLE = [
    # ^: up to the next change of the first non-zero part given.
    ("^1.2.3", "1.2.3", True),
    ("^1.2.3", "1.9.9", True),
    ("^1.2.3", "1.2.2", False),
    ("^1.2.3", "2.0.0", False),
    ("^1.2", "1.2.0", True),
    ("^1", "1.99.0", True),
    ("^0.2.3", "0.2.3", True),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    # ~: patch-level changes, or minor ones when only the major is given.
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.0", True),
    ("~1.2", "1.3.0", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2", "1.2.5", True),
    ("~>1.2", "1.3.0", False),
    # Comparisons; a partial version stands for all of its completions.
    (">=1.2.3", "1.2.3", True),
    (">=1.2.3", "1.2.2", False),
    (">1.2.3", "1.2.3", False),
    (">1.2.3", "1.2.4", True),
    (">1.2", "1.2.9", False),
    (">1.2", "1.3.0", True),
    ("<=1.2.3", "1.2.3", True),
    ("<=1.2.3", "1.2.4", False),
    ("<=1.2", "1.2.9", True),
    ("<=1.2", "1.3.0", False),
    ("<1.2.3", "1.2.2", True),
    ("<1.2.3", "1.2.3", False),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0", False),
    ("=1.2.3", "1.2.3", True),
    ("==1.2.3", "1.2.4", False),
    ("=1.2", "1.2.7", True),
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "1.2.4", False),
    ("1.2", "1.2.9", True),
    ("1.2", "1.3.0", False),
    ("1", "1.9.9", True),
    ("1", "2.0.0", False),
    ("v1.2.3", "1.2.3", True),
    # Wildcards.
    ("*", "0.0.0", True),
    ("*", "99.0.0", True),
    ("x", "3.1.4", True),
    ("1.x", "1.7.0", True),
    ("1.x", "2.0.0", False),
    ("1.2.X", "1.2.5", True),
    ("1.*", "1.4.0", True),
    ("1.x.3", "1.4.0", True),
    (">*", "1.0.0", False),
    ("<x", "0.0.0", False),
    (">=*", "1.0.0", True),
    # Comma and space are AND, || is OR.
    (">=1.2, <1.5", "1.4.0", True),
    (">=1.2, <1.5", "1.5.0", False),
    (">=1.2 <1.5", "1.4.0", True),
    (">=1.2,<1.5", "1.1.0", False),
    (">= 1.2 , < 1.5", "1.4.9", True),
    ("  ^1.2\t", "1.5.0", True),
    ("^1.0 || ^3.0", "3.1.0", True),
    ("^1.0 || ^3.0", "2.0.0", False),
    ("^1.0||^3.0", "1.0.0", True),
    ("<1 || >=2, <3 || 5", "5.1.0", True),
    ("<1 || >=2, <3 || 5", "3.0.0", False),
    ("1.2.3+build.5", "1.2.3", True),
    # Prereleases match only when a comparator names one of the same major.minor.patch.
    ("^1.2", "1.3.0-rc.1", False),
    (">=1.2.0-rc.1", "1.2.0-rc.2", True),
    (">=1.2.0-rc.1", "1.2.0", True),
    (">=1.2.0-rc.1", "1.3.0-beta.1", False),
    (">=1.2.0-rc.1", "1.2.0-beta.1", False),
    ("^1.2.3-beta.2", "1.2.3-beta.3", True),
    ("<1.2.3-rc.1", "1.2.3-beta.1", True),
    ("1.2.3-rc.1", "1.2.3-rc.1", True),
    ("1.2.3-rc.1", "1.2.3-rc.2", False),
    ("*", "1.0.0-rc.1", False),
    (">1.2", "1.3.0-rc.1", False),
    (">=1.2.0-rc.1 || >=2", "2.0.0-rc.1", False),
]

PRERELEASE_TABLE = [
    # With prerelease=True any prerelease matches on its ordering alone...
    ("^1.2", "1.3.0-rc.1", True),
    ("*", "1.0.0-rc.1", True),
    (">1.2", "1.3.0-rc.1", True),
    ("<2.0.0", "2.0.0-rc.1", True),
    # ...but a partial or caret bound excludes the prereleases of its ceiling.
    ("^1.2", "2.0.0-rc.1", False),
    ("~1.2", "1.3.0-alpha.1", False),
    ("1.2", "1.3.0-0", False),
    ("<=1.2", "1.3.0-rc.1", False),
    ("^1.2", "1.2.0-rc.1", False),
]

BAD_CONSTRAINTS = [
    "",
    "   ",
    "^1.0 ||",
    "|| ^1.0",
    "^1.0 || || ^2.0",
    "hello",
    "1.2.3.4",
    "1.2-rc.1",
    "^^1",
    ">=",
    "1.2 - 2.0",
    "1.2.3-",
    "1.2.3-rc..1",
    "x" * 1001,
]


class TestConstraint:
    @pytest.mark.parametrize("text", ["^\u0661.0", "\u0663", ">=1.\uff12"])
    def test_digits_of_other_scripts_refused(self, text: str) -> None:
        """Only ASCII digits are numbers in a constraint (regex's \\d takes any script's)."""
        with pytest.raises(VersionError, match="cannot read"):
            Constraint.parse(text)

    @pytest.mark.parametrize(("text", "version", "allowed"), TABLE)
    def test_table(self, text: str, version: str, allowed: bool) -> None:
        """Each operator has its npm/Cargo meaning, prereleases excluded unless named."""
        assert Constraint.parse(text).allows(V(version)) is allowed

    @pytest.mark.parametrize(("text", "version", "allowed"), PRERELEASE_TABLE)
    def test_prerelease_policy(self, text: str, version: str, allowed: bool) -> None:
        """prerelease=True admits prereleases by ordering, never past a caret or partial ceiling."""
        assert Constraint.parse(text).allows(V(version), prerelease=True) is allowed

    @pytest.mark.parametrize(
        ("short", "long"),
        [
            ("^0.2.3", ">=0.2.3, <0.3.0-0"),
            ("^0.0.3", ">=0.0.3, <0.0.4-0"),
            ("~1", ">=1.0.0, <2.0.0-0"),
            (">1.2", ">=1.3.0"),
            ("<=1.2", "<1.3.0-0"),
            ("1.2", ">=1.2.0 <1.3.0-0"),
        ],
    )
    def test_equivalences(self, short: str, long: str) -> None:
        """The module docstring's equivalences hold on a grid of versions."""
        for version in UNIVERSE:
            for pre in (False, True):
                expected = Constraint.parse(long).allows(version, prerelease=pre)
                assert Constraint.parse(short).allows(version, prerelease=pre) is expected

    @pytest.mark.parametrize("text", BAD_CONSTRAINTS)
    def test_refused(self, text: str) -> None:
        """Unreadable constraints raise VersionError, which is a ManifestError and a ValueError."""
        with pytest.raises(VersionError) as info:
            Constraint.parse(text)
        assert isinstance(info.value, ManifestError)
        assert isinstance(info.value, ValueError)

    def test_not_a_string(self) -> None:
        """A non-string constraint is a VersionError, not a TypeError."""
        with pytest.raises(VersionError, match="must be a string, not int"):
            Constraint.parse(3)  # type: ignore[arg-type]

    def test_text_kept(self) -> None:
        """The constraint remembers its stripped text for messages."""
        assert str(Constraint.parse("  ^1.2 || 3 ")) == "^1.2 || 3"

    def test_any(self) -> None:
        """ANY admits every release and no prerelease unless asked."""
        assert ANY.allows(V("0.0.0"))
        assert ANY.allows(V("123.4.5"))
        assert not ANY.allows(V("1.0.0-rc.1"))
        assert ANY.allows(V("1.0.0-rc.1"), prerelease=True)


class TestParseVersion:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1.2.3", "1.2.3"),
            ("1.2.3-rc.1+b.7", "1.2.3-rc.1+b.7"),
            (" 1.2.3 ", "1.2.3"),
            ("1.2", "1.2.0"),
            ("1", "1.0.0"),
            ("1.2.0rc1", "1.2.0-rc.1"),
            ("v1.2", "1.2.0"),
        ],
    )
    def test_parsed(self, text: str, expected: str) -> None:
        """Strict semver is taken as is; anything else goes through the PEP 440 mapping."""
        assert str(parse_version(text)) == expected

    @pytest.mark.parametrize("text", ["", "one", "1.2.3.4.x", "1!", "1.0.poast1", "x" * 2000])
    def test_refused(self, text: str) -> None:
        """Text that is neither semver nor PEP 440 is a VersionError."""
        with pytest.raises(VersionError):
            parse_version(text)

    @pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="no digit limit")
    def test_over_a_lowered_digit_limit(self) -> None:
        """A part over the interpreter's int() digit limit, set low by the application, is a
        VersionError, not a bare ValueError."""
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(640)
        try:
            with pytest.raises(VersionError, match="neither a semantic nor a PEP 440"):
                parse_version("1." + "9" * 700)
            with pytest.raises(VersionError, match="cannot read"):
                Constraint.parse("^1." + "9" * 700)
        finally:
            sys.set_int_max_str_digits(limit)

    def test_not_a_string(self) -> None:
        """A non-string version is a VersionError, not a TypeError."""
        with pytest.raises(VersionError, match="must be a string, not float"):
            parse_version(1.2)  # type: ignore[arg-type]


class TestLocalBuilds:
    """Build metadata orders like PEP 440 local labels, so that each dev rebuild swaps."""

    @pytest.mark.parametrize(
        ("lower", "higher"),
        [
            ("1.2.0", "1.2.0+dev.1"),
            ("1.2.0+dev.1", "1.2.0+dev.2"),
            ("1.2.0+dev.9", "1.2.0+dev.10"),
            ("1.2.0+dev", "1.2.0+dev.1"),
            ("1.2.0+abc", "1.2.0+7"),
            ("1.2.0+dev.99", "1.2.1"),
            ("1.2.0-rc.1+dev.5", "1.2.0"),
        ],
    )
    def test_ordered(self, lower: str, higher: str) -> None:
        """A later label sorts after an earlier one and after none; the release decides first."""
        assert parse_version(lower) < parse_version(higher)
        assert max(parse_version(higher), parse_version(lower)) == parse_version(higher)
        assert parse_version(lower) != parse_version(higher)

    def test_pep440_local_label_kept(self) -> None:
        """A PEP 440 local version keeps its label, and its PEP 440 spelling."""
        assert str(from_pep440("1.2+dev.3")) == "1.2+dev.3"
        assert from_pep440("1.2+dev.3") > from_pep440("1.2+dev.2")

    def test_same_label_equal(self) -> None:
        """The same label is the same version, with the same hash."""
        assert parse_version("1.2.0+dev.3") == parse_version("1.2.0+dev.3")
        assert hash(parse_version("1.2.0+dev.3")) == hash(parse_version("1.2.0+dev.3"))

    @pytest.mark.parametrize("text", ["=1.2.0", "^1.2", "~1.2.0", "<=1.2.0", ">=1.2.0", "1.2"])
    def test_constraints_ignore_the_label(self, text: str) -> None:
        """A local build satisfies what its release satisfies, as PEP 440's ``==1.2.0`` does."""
        assert Constraint.parse(text).allows(parse_version("1.2.0+dev.3"))
        assert not Constraint.parse("<1.2.0").allows(parse_version("1.2.0+dev.3"))


class TestPep440:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1.2", "1.2.0"),
            ("1", "1.0.0"),
            ("1.2.3", "1.2.3"),
            ("1.2.3.0", "1.2.3"),
            ("1.2.0rc1", "1.2.0-rc.1"),
            ("1.2.0a2", "1.2.0-alpha.2"),
            ("1.2.0b3", "1.2.0-beta.3"),
            ("1.2.0alpha4", "1.2.0-alpha.4"),
            ("1.2.0-c5", "1.2.0-rc.5"),
            ("1.2rc1", "1.2.0-rc.1"),
        ],
    )
    def test_mapped(self, text: str, expected: str) -> None:
        """Short releases are padded and a/b/rc become alpha/beta/rc identifiers."""
        assert str(from_pep440(text)) == expected

    def test_order_kept(self) -> None:
        """The mapping keeps PEP 440 order: a < b < rc < final."""
        texts = ["1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0rc10", "1.0", "1.0.1"]
        mapped = [from_pep440(t) for t in texts]
        assert mapped == sorted(mapped)

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("nonsense", "neither a semantic nor a PEP 440 version"),
            ("1" * 1001, "too long"),
        ],
    )
    def test_refused(self, text: str, why: str) -> None:
        """Text that is no PEP 440 version is refused, saying why."""
        with pytest.raises(VersionError, match=why):
            from_pep440(text)


# -- properties against a reference ----------------------------------------------------------------

PRERELEASES = (None, None, None, "0", "1", "alpha", "alpha.1", "beta.2", "rc.1", "rc.1.x")
OPS = ("", "=", "^", "~", ">=", ">", "<=", "<")
UNIVERSE = [
    Version(major, minor, patch, prerelease=pre)
    for major in range(3)
    for minor in range(3)
    for patch in range(3)
    for pre in PRERELEASES[2:]
]

# A comparator as the generator builds it: operator, the numbers given (0 to 3), a prerelease.
Comp = tuple[str, tuple[int, ...], str | None]
Key = tuple[Any, ...]

versions = st.builds(
    Version,
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    prerelease=st.sampled_from(PRERELEASES),
)


@st.composite
def comps(draw: st.DrawFn) -> Comp:
    """A comparator on a full, partial or wildcard version, with a prerelease only when full."""
    parts = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=3)))
    pre = draw(st.sampled_from(PRERELEASES)) if len(parts) == 3 else None
    return draw(st.sampled_from(OPS)), parts, pre


@st.composite
def render(draw: st.DrawFn, comp: Comp) -> str:
    """Spell a comparator: optional ``v``, space after the operator, wildcards for missing parts."""
    op, parts, pre = comp
    numbers = [str(p) for p in parts]
    if len(parts) < 3 and (not parts or draw(st.booleans())):
        wild = draw(st.sampled_from("xX*"))
        numbers += [wild] * draw(st.integers(1, 3 - len(parts)))
    text = ".".join(numbers)
    if pre is not None:
        text += f"-{pre}"
    if draw(st.booleans()) and parts:
        text = "v" + text
    space = draw(st.sampled_from(["", "", " "])) if op else ""
    return op + space + text


@st.composite
def constraints(draw: st.DrawFn) -> tuple[str, list[list[Comp]]]:
    """Constraint text with its structure: alternatives of comparators."""
    alternatives = draw(st.lists(st.lists(comps(), min_size=1, max_size=3), min_size=1, max_size=3))
    joins = st.sampled_from([", ", ",", " ", " ,  "])
    texts = []
    for alt in alternatives:
        spelled = [draw(render(c)) for c in alt]
        texts.append(spelled[0] + "".join(draw(joins) + s for s in spelled[1:]))
    ors = st.sampled_from(["||", " || ", "  ||"])
    return texts[0] + "".join(draw(ors) + t for t in texts[1:]), alternatives


def _with_version(
    constraint: tuple[str, list[list[Comp]]],
) -> st.SearchStrategy[tuple[str, list[list[Comp]], Version]]:
    """The constraint with a version, often one at or just past one of its bounds."""
    text, alternatives = constraint
    bounds = [[*parts, 0, 0, 0][:3] for alt in alternatives for _, parts, _ in alt]

    @st.composite
    def near(draw: st.DrawFn) -> Version:
        parts = draw(st.sampled_from(bounds))
        index = draw(st.integers(0, 2))
        parts[index] += draw(st.integers(-1, 1)) if parts[index] else draw(st.integers(0, 1))
        return Version(parts[0], parts[1], parts[2], prerelease=draw(st.sampled_from(PRERELEASES)))

    return st.tuples(st.just(text), st.just(alternatives), st.one_of(versions, near()))


def _key(major: int, minor: int, patch: int, pre: str | None) -> Key:
    """A sort key: releases after their prereleases, numeric identifiers before alphanumeric."""
    if pre is None:
        return (major, minor, patch, (1,))
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, (0, *ids))


def _floor(parts: Sequence[int], index: int) -> Key:
    """Below every version (prereleases too) after those starting with ``parts[:index + 1]``."""
    bumped = [*parts, 0, 0, 0][:3]
    bumped[index] += 1
    bumped[index + 1 :] = [0] * (2 - index)
    return (*bumped, (0,))


# low, low included, high, high included; None for an open end. A comparator admitting nothing
# (">*") has no interval at all.
Interval = tuple[Key | None, bool, Key | None, bool]
EVERYTHING: Interval = (None, True, None, True)


def _interval(comp: Comp) -> Interval | None:
    op, parts, pre = comp
    n = len(parts)
    if n == 0:
        return None if op in {">", "<"} else EVERYTHING
    full = [*parts, 0, 0][:3]
    low = _key(full[0], full[1], full[2], pre)
    caret = next((i for i, p in enumerate(parts) if p != 0), n - 1)
    table: dict[str, Interval] = {
        "^": (low, True, _floor(parts, caret), False),
        "~": (low, True, _floor(parts, 0 if n == 1 else 1), False),
        "": (low, True, low, True) if n == 3 else (low, True, _floor(parts, n - 1), False),
        ">=": (low, True, None, True),
        ">": (low, False, None, True) if n == 3 else (_floor(parts, n - 1), True, None, True),
        "<": (None, True, low, False),
        "<=": (None, True, low, True) if n == 3 else (None, True, _floor(parts, n - 1), False),
    }
    table["="] = table[""]
    return table[op]


def _inside(key: Key, interval: Interval | None) -> bool:
    if interval is None:
        return False
    low, low_in, high, high_in = interval
    above = low is None or key > low or (low_in and key == low)
    below = high is None or key < high or (high_in and key == high)
    return above and below


def reference(alternatives: list[list[Comp]], version: Version, pre_ok: bool) -> bool:
    """An independent reading of the rules, on intervals of tuple keys."""
    key = _key(version.major, version.minor, version.patch, version.prerelease)
    for alt in alternatives:
        if not all(_inside(key, _interval(c)) for c in alt):
            continue
        release = (version.major, version.minor, version.patch)
        named = any(pre is not None and parts == release for _, parts, pre in alt)
        if version.prerelease is None or pre_ok or named:
            return True
    return False


def _caret_ceiling(version: Version) -> str:
    parts = [version.major, version.minor, version.patch]
    index = next((i for i, p in enumerate(parts) if p != 0), 2)
    parts[index] += 1
    parts[index + 1 :] = [0] * (2 - index)
    return ".".join(map(str, parts))


class TestConstraintProperties:
    @given(st.text())
    @example("1.2.3-" + "a." * 400 + "a")
    @example("\u0661.\u0662")  # Arabic-Indic digits match \d
    def test_any_text_parses_or_raises_version_error(self, text: str) -> None:
        """Constraint.parse on arbitrary text returns a Constraint or raises VersionError."""
        with contextlib.suppress(VersionError):
            Constraint.parse(text)

    @given(st.lists(st.sampled_from([*"0123456789.^~><=|,*xXv-+ \t", "rc", "||"])).map("".join))
    def test_constraint_like_text_parses_or_raises_version_error(self, text: str) -> None:
        """Text made of constraint characters parses, or raises only VersionError."""
        try:
            constraint = Constraint.parse(text)
        except VersionError:
            return
        constraint.allows(V("1.2.3"), prerelease=True)

    @settings(max_examples=500)
    @given(constraints().flatmap(_with_version), st.booleans())
    @example((">1.2", [[(">", (1, 2), None)]], V("1.3.0-rc.1")), False)
    @example(("^0.0", [[("^", (0, 0), None)]], V("0.1.0-0")), True)
    def test_agrees_with_reference(
        self, case: tuple[str, list[list[Comp]], Version], pre_ok: bool
    ) -> None:
        """allows() agrees with the reference implementation on generated constraints."""
        text, alternatives, version = case
        expected = reference(alternatives, version, pre_ok)
        assert Constraint.parse(text).allows(version, prerelease=pre_ok) is expected

    @given(versions, versions, st.booleans())
    def test_caret_is_a_range(self, base: Version, version: Version, pre_ok: bool) -> None:
        """``^X`` is ``>=X, <C-0`` with C the next release after X's first non-zero part."""
        caret = Constraint.parse(f"^{base}")
        explicit = Constraint.parse(f">={base}, <{_caret_ceiling(base)}-0")
        assert caret.allows(version, prerelease=pre_ok) is explicit.allows(
            version, prerelease=pre_ok
        )

    @given(constraints(), constraints(), versions, st.booleans())
    def test_or_is_union(
        self,
        left: tuple[str, list[list[Comp]]],
        right: tuple[str, list[list[Comp]]],
        version: Version,
        pre_ok: bool,
    ) -> None:
        """``A || B`` admits exactly what A or B admits."""
        either = Constraint.parse(f"{left[0]} || {right[0]}").allows(version, prerelease=pre_ok)
        a = Constraint.parse(left[0]).allows(version, prerelease=pre_ok)
        b = Constraint.parse(right[0]).allows(version, prerelease=pre_ok)
        assert either is (a or b)

    @given(st.lists(comps(), min_size=2, max_size=4), versions, st.data())
    def test_comma_is_intersection(
        self, alt: list[Comp], version: Version, data: st.DataObject
    ) -> None:
        """``A, B`` admits what both admit, when prereleases are on (a named one serves all)."""
        texts = [data.draw(render(c)) for c in alt]
        both = Constraint.parse(", ".join(texts)).allows(version, prerelease=True)
        assert both is all(Constraint.parse(t).allows(version, prerelease=True) for t in texts)

    @given(st.lists(comps(), min_size=2, max_size=4), versions, st.data())
    def test_comma_is_intersection_for_releases(
        self, alt: list[Comp], version: Version, data: st.DataObject
    ) -> None:
        """For releases, ``A, B`` admits what both admit whatever the prerelease policy."""
        release = version.finalize_version()
        texts = [data.draw(render(c)) for c in alt]
        both = Constraint.parse(" ".join(texts)).allows(release)
        assert both is all(Constraint.parse(t).allows(release) for t in texts)


# -- PEP 440 versions without a semver equivalent ------------------------------------------------


class TestPep440Exact:
    @pytest.mark.parametrize(
        ("text", "shown", "projection"),
        [
            ("0.2.0.post2", "0.2.0.post2", "0.2.0"),
            ("1!2.0", "1!2.0", "2.0.0"),
            ("1.2.3.4", "1.2.3.4", "1.2.3"),
            ("1.0.dev3", "1.0.dev3", "1.0.0-0.dev.3"),
            ("1.0+ABC.1", "1.0+abc.1", "1.0.0"),
            ("1.0a1.dev2", "1.0a1.dev2", "1.0.0-alpha.1"),
            ("1.0rc1.post1", "1.0rc1.post1", "1.0.0-rc.1"),
            ("1.0.post1.dev2", "1.0.post1.dev2", "1.0.0"),
            ("1.2.3.4a1", "1.2.3.4a1", "1.2.3"),
        ],
    )
    def test_kept_with_projection(self, text: str, shown: str, projection: str) -> None:
        """A version without semver equivalent keeps its PEP 440 text and gets a projection."""
        version = from_pep440(text)
        assert str(version) == shown
        assert version.exact == Pep440Version(text)
        assert str(version.project()) == projection
        assert parse_version(text) == version

    def test_mapped_versions_have_no_exact(self) -> None:
        """A version with a semver equivalent is that semver version, as before."""
        assert from_pep440("1.2rc1").exact is None
        assert from_pep440("1.2rc1").pep440 == Pep440Version("1.2rc1")

    def test_post_release_sorts_after_its_release(self) -> None:
        """0.2.0.post2 is above 0.2.0 and 0.2.0.post1, below 0.2.1."""
        texts = ["0.2.0", "0.2.0.post1", "0.2.0.post2", "0.2.1"]
        versions = [parse_version(t) for t in reversed(texts)]
        assert [str(v) for v in sorted(versions)] == texts

    def test_epoch_sorts_above_everything(self) -> None:
        """1!0.1 is above every version without an epoch."""
        assert from_pep440("1!0.1") > Version(99, 0, 0)
        assert max([Version(5, 0, 0), from_pep440("1!0.1"), from_pep440("4.0.post9")]) == (
            from_pep440("1!0.1")
        )

    @pytest.mark.parametrize(
        ("text", "constraint", "allowed"),
        [
            ("0.2.0.post2", "=0.2.0", True),
            ("0.2.0.post2", "^0.2", True),
            ("0.2.0.post2", ">0.2.0", False),
            ("1.2.3.4", "~1.2.3", True),
            ("1.2.3.4", ">1.2.3", False),
            ("1.0+abc", "1.0.0", True),
            ("1.0.dev3", "^1.0", False),
            ("1.0.dev3", ">=1.0.0-0", True),
            ("0.9.9.post1", "<1.0", True),
        ],
    )
    def test_constraint_on_projection(self, text: str, constraint: str, allowed: bool) -> None:
        """A constraint matches the projection: a post release satisfies what its release does."""
        assert Constraint.parse(constraint).allows(from_pep440(text)) is allowed

    def test_dev_release_is_a_prerelease(self) -> None:
        """A dev release counts as a prerelease for the policy, and matches with it."""
        dev = from_pep440("1.1.dev1")
        assert dev.is_prerelease
        assert not Constraint.parse("^1.0").allows(dev)
        assert Constraint.parse("^1.0").allows(dev, prerelease=True)

    def test_four_part_prerelease_is_a_prerelease(self) -> None:
        """1.2.3.4a1 projects onto 1.2.3 but stays a prerelease for the policy."""
        version = from_pep440("1.2.3.4a1")
        assert version.is_prerelease
        assert not Constraint.parse(">=1.0").allows(version)
        assert Constraint.parse(">=1.0").allows(version, prerelease=True)

    def test_epoch_allowed_only_by_any(self) -> None:
        """A version with an epoch satisfies '*' and no constraint that orders."""
        epoch = from_pep440("1!2.0")
        assert ANY.allows(epoch)
        assert not Constraint.parse(">=0.0.0").allows(epoch, prerelease=True)
        assert Constraint.parse("^2.0 || *").allows(epoch)

    def test_check_orderable_names_plugin_and_version(self) -> None:
        """An npm constraint on an epoch is a typed error naming the plugin and the version."""
        with pytest.raises(UnorderableVersionError) as info:
            check_orderable(Constraint.parse("^2.0"), from_pep440("1!2.0"), plugin="leaflet")
        err = info.value
        assert (err.plugin, err.version) == ("leaflet", "1!2.0")
        assert "leaflet 1!2.0 has an epoch" in str(err)
        assert isinstance(err, VersionError)
        check_orderable(ANY, from_pep440("1!2.0"), plugin="leaflet")
        check_orderable(Constraint.parse("^2.0"), from_pep440("2.0.post1"), plugin="leaflet")

    def test_dist_version_local_is_pep440(self) -> None:
        """A distribution's 1.0.0+abc is PEP 440's local version, above 1.0.0."""
        assert parse_dist_version("1.0.0+abc") > Version(1, 0, 0)
        assert parse_version("1.0.0+abc") > Version(1, 0, 0)  # build metadata orders alike

    def test_registry_round_trip(self) -> None:
        """str() of an exact version reads back as the same version."""
        for text in ["0.2.0.post2", "1!2.0", "1.2.3.4", "1.0.dev3", "1.0.0+abc"]:
            version = parse_dist_version(text)
            again = parse_dist_version(str(version))
            assert again == version
            assert again.exact == version.exact


# Any PEP 440 version: epochs, several release parts, pre, post, dev and local segments.
pep440_texts = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        f"{epoch}!" * (epoch > 0)
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{local}" if local else "")
    ),
    st.sampled_from([0, 0, 0, 0, 1]),
    st.lists(st.integers(0, 3), min_size=1, max_size=5),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 2)),
    st.none() | st.integers(0, 2),
    st.none() | st.integers(0, 2),
    st.sampled_from(["", "", "", "abc", "7"]),
)


class TestPep440Properties:
    @settings(max_examples=400)
    @given(pep440_texts, pep440_texts)
    @example("1.0.post1", "1.0")
    @example("1!0.1", "9.0")
    @example("1.0.dev1", "1.0a1")
    def test_order_agrees_with_packaging(self, a: str, b: str) -> None:
        """Plugin versions compare exactly as packaging.version.Version does."""
        mine, theirs = parse_dist_version(a), parse_dist_version(b)
        pa, pb = Pep440Version(a), Pep440Version(b)
        assert (mine < theirs, mine == theirs, mine > theirs) == (pa < pb, pa == pb, pa > pb)

    @settings(max_examples=400)
    @given(st.lists(pep440_texts, min_size=1, max_size=8))
    def test_sorting_agrees_with_packaging(self, texts: list[str]) -> None:
        """Sorting plugin versions sorts them as PEP 440 does."""
        ours = [Pep440Version(str(v)) for v in sorted(map(parse_dist_version, texts))]
        assert ours == sorted(map(Pep440Version, texts))

    @settings(max_examples=400)
    @given(pep440_texts, pep440_texts)
    @example("1.2.3", "1.2.3.4a1")
    @example("1.0.dev1", "1.0a1")
    def test_projection_never_decreases(self, a: str, b: str) -> None:
        """Without epochs, a higher PEP 440 version never projects lower: ranges stay ranges."""
        mine, theirs = parse_dist_version(a), parse_dist_version(b)
        if not (mine.orderable and theirs.orderable) or mine > theirs:
            return
        assert mine.project() <= theirs.project()

    @given(pep440_texts, constraints(), st.booleans())
    def test_constraint_matches_the_projection(
        self, text: str, constraint: tuple[str, Any], pre_ok: bool
    ) -> None:
        """Without an epoch, a version satisfies a constraint exactly when its projection does,
        once prereleases are on (the policy asks the PEP 440 version whether it is one)."""
        version = parse_dist_version(text)
        if not version.orderable:
            return
        parsed = Constraint.parse(constraint[0])
        assert parsed.allows(version, prerelease=True) is parsed.allows(
            version.project(), prerelease=True
        )
        if not version.is_prerelease:
            assert parsed.allows(version, prerelease=pre_ok) is parsed.allows(version.project())


@pytest.mark.skipif(
    not hasattr(SemVer, "MAX_LENGTH"), reason="semver before 3.2 holds versions of any length"
)
class TestSemverLimits:
    """semver 3.2 refuses versions longer than 255 characters (``Version.MAX_LENGTH``), with a
    ``ValueError`` that escaped the parsers of wheels and of constraints."""

    @pytest.mark.parametrize(
        "text", ["1" + "0" * 300, "1.0a" + "1" * 300, "1.0.dev" + "9" * 300, "1.0rc" + "1" * 260]
    )
    @pytest.mark.parametrize("parse", [parse_dist_version, parse_version])
    def test_a_version_semver_cannot_hold(self, text: str, parse: Any) -> None:
        """A VersionError naming the text, never a bare ValueError."""
        with pytest.raises(VersionError, match="cannot be held as a semantic version") as caught:
            parse(text)
        assert repr(text[:40])[:-1] in str(caught.value)

    @pytest.mark.parametrize("text", ["^1.2.3-" + "a." * 200 + "a", ">=" + "9" * 300])
    def test_a_constraint_semver_cannot_hold(self, text: str) -> None:
        with pytest.raises(VersionError, match="in constraint"):
            Constraint.parse(text)
