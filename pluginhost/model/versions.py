"""Semantic versions and the constraints that plugins put on each other and on the host.

Constraints follow the npm/Cargo meanings::

    ^1.2.3   >=1.2.3 <2.0.0        ~1.2.3   >=1.2.3 <1.3.0       1.2 / =1.2   >=1.2.0 <1.3.0
    ^0.2.3   >=0.2.3 <0.3.0        ~1       >=1.0.0 <2.0.0       1.2.3        =1.2.3
    >1.2     >=1.3.0               <=1.2    <1.3.0               *, 1.x       any

A comma (or a space) joins comparators that must all hold; ``||`` joins alternatives.

A prerelease version (``1.2.0-rc.1``) matches only when the caller allows prereleases or when a
comparator of the same alternative names a prerelease of the same ``major.minor.patch``, so that
``>=1.2.0-rc.1`` accepts ``1.2.0-rc.2`` but not ``1.3.0-beta.1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import attrs
import semver
from packaging.version import Version as Pep440Version

from .errors import VersionError


class Version(semver.Version):
    """A semantic version whose build metadata orders like a PEP 440 local version.

    semver ignores ``+build`` when ordering; here ``1.2.0 < 1.2.0+dev.1 < 1.2.0+dev.2 <
    1.2.0+dev.10``, so that each local rebuild (``pluginhost dev``) is a newer version that
    swaps, never the same version with other bytes. Constraints still ignore it: ``=1.2.0``
    allows ``1.2.0+dev.3``, as PEP 440's ``==1.2.0`` allows ``1.2.0+local``.

    >>> Version.parse("1.2.0+dev.2") > Version.parse("1.2.0+dev.1")
    True
    """

    def compare(self, other: object) -> int:
        result = super().compare(other)  # type: ignore[arg-type]
        if result or not isinstance(other, semver.Version):
            return result
        return _cmp_keys(_local_key(self.build), _local_key(other.build))


def _local_key(build: str | None) -> tuple[tuple[int, int | str], ...]:
    """PEP 440's order of local labels: none first; numbers after words, compared as numbers."""
    if not build:
        return ()
    return tuple((1, int(p)) if p.isdigit() else (0, p.lower()) for p in build.split("."))


def _cmp_keys(a: tuple[tuple[int, int | str], ...], b: tuple[tuple[int, int | str], ...]) -> int:
    return (a > b) - (a < b)


__all__ = ["Constraint", "Version", "from_pep440", "parse_version"]

_MAX_LEN: Final = 1000
_PRE_NAMES: Final = {"a": "alpha", "b": "beta", "rc": "rc"}
_COMPARATOR: Final = re.compile(
    r"(?P<op>\^|~>?|>=|<=|>|<|==?)?\s*v?"
    r"(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,  # "\d" alone would take any script's digits, and int() them
)
_WILDCARDS: Final = frozenset({"x", "X", "*"})


def parse_version(text: str) -> Version:
    """Parse a plugin or host version: strict semver, else a PEP 440 version mapped to semver.

    >>> str(parse_version("1.2"))
    '1.2.0'

    :raises VersionError: when the text is neither.
    """
    if not isinstance(text, str):
        raise VersionError(f"version must be a string, not {type(text).__name__}")
    try:
        return Version.parse(text.strip())
    except (ValueError, TypeError):
        return from_pep440(text)


def from_pep440(text: str) -> Version:
    """Map a PEP 440 distribution version to semver.

    ``1.2`` becomes ``1.2.0``, ``1.2.0rc1`` becomes ``1.2.0-rc.1`` and a local label stays one
    (``1.2+dev.3`` becomes ``1.2.0+dev.3``, ordered as :class:`Version` says). Epochs, post and
    dev releases, and releases of more than three non-zero parts have no faithful semver
    ordering and are refused.

    :raises VersionError: when the version cannot be mapped.
    """
    if len(text) > _MAX_LEN:
        raise VersionError(f"version string of {len(text)} characters is too long")
    try:
        pv = Pep440Version(text)
    except ValueError:  # InvalidVersion, or a part over int()'s digit limit (which can be set)
        raise VersionError(f"{_show(text)} is neither a semantic nor a PEP 440 version") from None
    unmappable = {
        "an epoch": pv.epoch != 0,
        "a post release": pv.post is not None,
        "a dev release": pv.dev is not None,
        "more than three release parts": any(pv.release[3:]),
    }
    for what, present in unmappable.items():
        if present:
            raise VersionError(f"{text!r} has {what}, which has no semver equivalent")
    major, minor, patch = (*pv.release, 0, 0)[:3]
    prerelease = None
    if pv.pre is not None:
        prerelease = f"{_PRE_NAMES[pv.pre[0]]}.{pv.pre[1]}"
    return Version(major, minor, patch, prerelease, pv.local)


@attrs.frozen
class _Comparator:
    """One bound: ``op`` is a function of (candidate, bound).

    ``implicit`` marks a bound the parser derived rather than one the text names: the ``-0`` floor
    of ``>1.2`` (``>=1.3.0-0``) names no prerelease, so it must not let ``1.3.0-rc.1`` in.
    """

    op: str
    bound: Version
    implicit: bool = False

    def allows(self, version: Version) -> bool:
        # semver's own order, blind to build metadata: a local build satisfies what its
        # release does.
        return _OPS[self.op](semver.Version.compare(version, self.bound))


_OPS: Final[dict[str, Callable[[int], bool]]] = {
    ">=": lambda c: c >= 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    "<": lambda c: c < 0,
    "=": lambda c: c == 0,
}


@attrs.frozen
class Constraint:
    """A parsed version constraint; build one with :meth:`parse`.

    >>> Constraint.parse("^1.2").allows(Version.parse("1.9.0"))
    True
    """

    text: str
    alternatives: tuple[tuple[_Comparator, ...], ...] = attrs.field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse constraint text.

        :raises VersionError: naming the part that cannot be read.
        """
        if not isinstance(text, str):
            raise VersionError(f"constraint must be a string, not {type(text).__name__}")
        if len(text) > _MAX_LEN:
            raise VersionError(f"constraint of {len(text)} characters is too long")
        alternatives = tuple(_parse_alternative(part, text) for part in text.split("||"))
        return cls(text=text.strip(), alternatives=alternatives)

    def allows(self, version: Version, *, prerelease: bool = False) -> bool:
        """Whether ``version`` satisfies the constraint.

        :param prerelease: let any prerelease match on its ordering alone (the host's policy).
        """
        return any(_alternative_allows(alt, version, prerelease) for alt in self.alternatives)

    def __str__(self) -> str:
        return self.text


def _alternative_allows(alt: tuple[_Comparator, ...], version: Version, pre_ok: bool) -> bool:
    if not all(c.allows(version) for c in alt):
        return False
    if version.prerelease is None or pre_ok:
        return True
    base = version.finalize_version()
    return any(
        c.bound.prerelease is not None and not c.implicit and c.bound.finalize_version() == base
        for c in alt
    )


def _parse_alternative(part: str, whole: str) -> tuple[_Comparator, ...]:
    # Commas and spaces both join comparators; spaces between an operator and its version are
    # allowed (">= 1.2"), so they are closed up before splitting.
    squeezed = re.sub(r"(\^|~>?|>=|<=|>|<|==?)\s+", r"\1", part.strip())
    tokens = [t for t in re.split(r"[\s,]+", squeezed) if t]
    if not tokens:
        raise VersionError(f"empty alternative in constraint {whole!r}")
    comparators: list[_Comparator] = []
    for token in tokens:
        comparators.extend(_parse_token(token, whole))
    return tuple(comparators)


def _parse_token(token: str, whole: str) -> list[_Comparator]:
    if token in _WILDCARDS:
        return []
    match = _COMPARATOR.fullmatch(token)
    if match is None:
        raise VersionError(f"cannot read {token!r} in constraint {whole!r}")
    op = match["op"] or "="
    parts = [match["major"], match["minor"], match["patch"]]
    # A wildcard ends the precise part: "1.x.3" means "1.x".
    known: list[int] = []
    for p in parts:
        if p is None or p in _WILDCARDS:
            break
        known.append(_number(p, token, whole))
    if match["pre"] and len(known) < 3:
        raise VersionError(f"prerelease on a partial version {token!r} in constraint {whole!r}")
    return _expand(op.rstrip(">") if op == "~>" else op.replace("==", "="), known, match["pre"])


def _number(digits: str, token: str, whole: str) -> int:
    """One numeric part; the interpreter's digit limit for ``int()`` can be set below
    :data:`_MAX_LEN`, so it may refuse what the length check let through."""
    try:
        return int(digits)
    except ValueError:
        raise VersionError(f"cannot read {_show(token)} in constraint {_show(whole)}") from None


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# One branch per operator, in the order of the table in the module docstring.
def _expand(op: str, known: list[int], pre: str | None) -> list[_Comparator]:  # noqa: PLR0911
    """Turn one comparator on a possibly partial version into plain bounds."""
    if not known:
        return [] if op in {"=", "^", "~", ">=", "<="} else _never(op)
    major, minor, patch = [*known, 0, 0][:3]
    low = Version(major, minor, patch, prerelease=pre)
    if op == "^":
        return [_Comparator(">=", low), _Comparator("<", _caret_ceiling(known))]
    if op == "~":
        ceiling = _bump(known, min(len(known), 2) - 1 if len(known) > 1 else 0)
        return [_Comparator(">=", low), _Comparator("<", ceiling)]
    exact = len(known) == 3
    if op == "=":
        if exact:
            return [_Comparator("=", low)]
        return [_Comparator(">=", low), _Comparator("<", _bump(known, len(known) - 1))]
    if op == ">" and not exact:
        return [_Comparator(">=", _bump(known, len(known) - 1), implicit=True)]
    if op == "<=" and not exact:
        return [_Comparator("<", _bump(known, len(known) - 1))]
    return [_Comparator(op, low)]


def _never(op: str) -> list[_Comparator]:
    # ">*" and "<*" can match nothing; keep them expressible rather than raising.
    zero = Version(0, 0, 0, prerelease="0")
    return [_Comparator("<", zero)]


def _caret_ceiling(known: list[int]) -> Version:
    """The exclusive upper bound of ``^known``: bump the first non-zero part that was given."""
    for index, value in enumerate(known):
        if value != 0:
            return _bump(known, index)
    return _bump(known, len(known) - 1)


def _bump(known: list[int], index: int) -> Version:
    parts = [*known, 0, 0, 0][:3]
    parts[index] += 1
    for later in range(index + 1, 3):
        parts[later] = 0
    # "-0" is the lowest prerelease: "^1.2" must not admit 2.0.0-rc.1 even when prereleases are on.
    return Version(parts[0], parts[1], parts[2], prerelease="0")


ANY: Final = Constraint.parse("*")
