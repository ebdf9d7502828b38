"""Semantic versions and the constraints that plugins put on each other and on the host.

Constraints follow the npm/Cargo meanings::

    ^1.2.3   >=1.2.3 <2.0.0        ~1.2.3   >=1.2.3 <1.3.0       1.2 / =1.2   >=1.2.0 <1.3.0
    ^0.2.3   >=0.2.3 <0.3.0        ~1       >=1.0.0 <2.0.0       1.2.3        =1.2.3
    >1.2     >=1.3.0               <=1.2    <1.3.0               *, 1.x       any

A comma (or a space) joins comparators that must all hold; ``||`` joins alternatives.

A prerelease version (``1.2.0-rc.1``) matches only when the caller allows prereleases or when a
comparator of the same alternative names a prerelease of the same ``major.minor.patch``, so that
``>=1.2.0-rc.1`` accepts ``1.2.0-rc.2`` but not ``1.3.0-beta.1``.

Plugin versions are distribution versions (PEP 440). Those with a semver equivalent (``1.2``,
``1.2.0rc1``) become that semver version. The others keep their exact PEP 440 version, which
orders them against every other version, and match constraints through their *projection*, the
semver version standing for them (``docs/limits.md``, "Versions"):

- a post release (``0.2.0.post2``), a local version (``1.0+abc``) and a release of more than three
  parts (``1.2.3.4``) satisfy what ``0.2.0``, ``1.0.0`` and ``1.2.3`` satisfy;
- a dev release (``1.2.0.dev3``) is a prerelease of ``1.2.0`` that sorts before its alphas
  (``1.2.0-0.dev.3``); a dev release of a prerelease or of a post release counts as that one;
- a version with an epoch (``1!2.0``) sorts above every version without one, which no npm/Cargo
  constraint can say: only ``*`` allows it (:func:`check_orderable` names it), while a
  ``Requires-Dist`` specifier (PEP 440) orders it like any other.

The projection never decreases as the PEP 440 version grows, so a constraint's range of versions
stays a range.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, SupportsInt

import attrs
from packaging.version import Version as Pep440Version

from .errors import UnorderableVersionError, VersionError
from .frozen import frozen
from .semver_base import SemVer

__all__ = [
    "Constraint",
    "Version",
    "check_orderable",
    "from_pep440",
    "parse_dist_version",
    "parse_version",
]

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
_SEMVER_PRE: Final = re.compile(r"(?P<name>alpha|beta|rc)\.(?P<number>\d+)", re.ASCII)
_PEP440_PRE: Final = {"alpha": "a", "beta": "b", "rc": "rc"}


class Version(SemVer):
    """A plugin or host version: a semver version, or a PEP 440 version and its projection.

    >>> v = Version.from_pep440("0.2.0.post2")  # Version.parse() takes semver only
    >>> str(v), v > Version(0, 2, 0), Constraint.parse("=0.2.0").allows(v)
    ('0.2.0.post2', True, True)

    The semver fields (``major``, ``minor``, ``patch``, ``prerelease``) hold the projection that
    constraints match; :attr:`exact` holds the PEP 440 version, set only when it has no semver
    equivalent. Two versions of which one has :attr:`exact` compare by PEP 440.
    """

    __slots__ = ("_exact", "_hash")

    def __init__(
        self,
        major: SupportsInt,
        minor: SupportsInt = 0,
        patch: SupportsInt = 0,
        prerelease: str | int | None = None,
        build: str | int | None = None,
        *,
        exact: Pep440Version | None = None,
    ) -> None:
        try:
            super().__init__(major, minor, patch, prerelease, build)
        except ValueError as exc:
            # semver 3.2 refuses a version longer than its MAX_LENGTH (255 characters): one
            # pluginhost cannot read, like any other (callers say which text it was).
            raise VersionError(f"cannot be held as a semantic version: {exc}") from None
        self._exact = exact

    @classmethod
    def from_pep440(cls, text: str) -> Version:
        """:func:`from_pep440`, as a constructor."""
        return from_pep440(text)

    @property
    def exact(self) -> Pep440Version | None:
        """The PEP 440 version, when it has no semver equivalent (else ``None``)."""
        return self._exact

    @property
    def pep440(self) -> Pep440Version | None:
        """The PEP 440 version this version is, or ``None`` for a semver version that PEP 440
        cannot write (``1.0.0-foo``, ``2.0.0-0``)."""
        if self._exact is not None:
            return self._exact
        return _as_pep440(self)

    @property
    def is_prerelease(self) -> bool:
        """A prerelease or dev release (PEP 440), or a semver prerelease: what the policy asks."""
        if self._exact is not None:
            return self._exact.is_prerelease
        return self.prerelease is not None

    @property
    def orderable(self) -> bool:
        """Whether npm/Cargo constraints can order it: every version but one with an epoch."""
        return self._exact is None or self._exact.epoch == 0

    def compare(self, other: object) -> int:
        if isinstance(other, Version) and (self._exact is not None or other._exact is not None):
            mine, theirs = self.pep440, other.pep440
            if mine is not None and theirs is not None:
                return (mine > theirs) - (mine < theirs)
        result = super().compare(other)  # type: ignore[arg-type]
        if result or not isinstance(other, SemVer):
            return result
        # semver orders no build metadata; here it orders like a PEP 440 local label, so that
        # each local rebuild (``1.2.0+dev.3``, ``pluginhost dev``) is newer than the last.
        return _cmp_keys(_local_key(self.build), _local_key(other.build))

    def project(self) -> Version:
        """The semver version that stands for this one in constraints."""
        return Version(self.major, self.minor, self.patch, self.prerelease, self.build)

    def __str__(self) -> str:
        return str(self._exact) if self._exact is not None else super().__str__()

    def __repr__(self) -> str:
        if self._exact is not None:
            return f"Version.from_pep440({str(self._exact)!r})"
        return super().__repr__()

    def __hash__(self) -> int:
        # semver's hash is of the projection's fields, so versions equal by PEP 440 share
        # them; kept once made, since the resolver hashes every active version at each change.
        try:
            return self._hash
        except AttributeError:
            self._hash: int = SemVer.__hash__(self)
            return self._hash


def _local_key(build: str | None) -> tuple[tuple[int, int | str], ...]:
    """PEP 440's order of local labels: none first; numbers after words, compared as numbers."""
    if not build:
        return ()
    return tuple((1, int(p)) if p.isdigit() else (0, p.lower()) for p in build.split("."))


def _cmp_keys(a: tuple[tuple[int, int | str], ...], b: tuple[tuple[int, int | str], ...]) -> int:
    return (a > b) - (a < b)


def parse_version(text: str) -> Version:
    """Parse a plugin or host version: strict semver, else a PEP 440 version.

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


def parse_dist_version(text: str) -> Version:
    """Parse a distribution's version (a plugin's): like :func:`parse_version`, except that a
    local version (``1.0.0+abc``) is PEP 440's, ordered above ``1.0.0``, not semver build
    metadata, which orders nothing.

    :raises VersionError: when the text is no version.
    """
    if isinstance(text, str) and "+" in text and _is_pep440(text):
        return from_pep440(text)
    return parse_version(text)


def from_pep440(text: str) -> Version:
    """Read a PEP 440 distribution version.

    ``1.2`` becomes ``1.2.0`` and ``1.2.0rc1`` becomes ``1.2.0-rc.1``. Epochs, post, dev and local
    versions, and releases of more than three non-zero parts keep their exact PEP 440 version
    beside their projection (the module docstring says which).

    :raises VersionError: when the text is no PEP 440 version.
    """
    if len(text) > _MAX_LEN:
        raise VersionError(f"version string of {len(text)} characters is too long")
    try:
        pv = Pep440Version(text)
    except ValueError:  # InvalidVersion, or a part over int()'s digit limit (which can be set)
        raise VersionError(f"{_show(text)} is neither a semantic nor a PEP 440 version") from None
    try:
        return _projected(pv)
    except VersionError as exc:
        raise VersionError(f"{_show(text)} {exc.reason}") from None


def _projected(pv: Pep440Version) -> Version:
    """The version standing for ``pv`` (its projection, with ``pv`` kept when they differ)."""
    major, minor, patch = (*pv.release, 0, 0)[:3]
    extra = any(pv.release[3:])
    mappable = pv.epoch == 0 and pv.post is None and pv.dev is None and pv.local is None
    if mappable and not extra:
        pre = None if pv.pre is None else f"{_PRE_NAMES[pv.pre[0]]}.{pv.pre[1]}"
        return Version(major, minor, patch, pre)
    return Version(major, minor, patch, _projected_pre(pv, extra), exact=pv)


def _projected_pre(pv: Pep440Version, extra: bool) -> str | None:
    """The prerelease of a PEP 440 version's projection (see the module docstring)."""
    if extra:
        # 1.2.3.4a1 lies between 1.2.3 and 1.2.4: any prerelease of 1.2.3 would sort below 1.2.3.
        return None
    if pv.pre is not None:
        return f"{_PRE_NAMES[pv.pre[0]]}.{pv.pre[1]}"
    if pv.dev is not None and pv.post is None:
        # Numeric identifiers sort before alphanumeric ones: 0.dev.N comes before alpha.
        return f"0.dev.{pv.dev}"
    return None


def _as_pep440(version: SemVer) -> Pep440Version | None:
    if version.build is not None:
        return None
    text = f"{version.major}.{version.minor}.{version.patch}"
    if version.prerelease is not None:
        match = _SEMVER_PRE.fullmatch(version.prerelease)
        if match is None:
            return None
        text += f"{_PEP440_PRE[match['name']]}{match['number']}"
    return Pep440Version(text)


def _is_pep440(text: str) -> bool:
    try:
        Pep440Version(text)
    except ValueError:
        return False
    return True


def check_orderable(constraint: Constraint, version: Version, *, plugin: str) -> None:
    """Refuse a constraint that must order a version it cannot: one with an epoch.

    >>> try:
    ...     check_orderable(Constraint.parse("^1.0"), from_pep440("1!1.0"), plugin="hello")
    ... except UnorderableVersionError as e:
    ...     print(e.plugin, e.version)
    hello 1!1.0

    :param plugin: the plugin whose version it is.
    :raises UnorderableVersionError: naming the plugin, the version and the constraint.
    """
    if version.orderable or constraint.is_any:
        return
    raise UnorderableVersionError(
        f"{plugin} {version} has an epoch, which the npm/Cargo constraint {constraint.text!r}"
        " cannot order; only '*' or a Requires-Dist specifier (PEP 440) can require it",
        plugin=plugin,
        version=str(version),
    )


@frozen
class _Comparator:
    """One bound: ``op`` is a function of (candidate, bound).

    ``implicit`` marks a bound the parser derived rather than one the text names: the ``-0`` floor
    of ``>1.2`` (``>=1.3.0-0``) names no prerelease, so it must not let ``1.3.0-rc.1`` in.
    """

    op: str
    bound: Version
    implicit: bool = False

    def allows(self, version: Version) -> bool:
        # The projection, not the PEP 440 order: a post release satisfies what its release does.
        return _OPS[self.op](SemVer.compare(version, self.bound))


_OPS: Final[dict[str, Callable[[int], bool]]] = {
    ">=": lambda c: c >= 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    "<": lambda c: c < 0,
    "=": lambda c: c == 0,
}


@frozen
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

    @property
    def is_any(self) -> bool:
        """Whether it allows every version (``*``): it orders nothing."""
        return any(not alt for alt in self.alternatives)

    def allows(self, version: Version, *, prerelease: bool = False) -> bool:
        """Whether ``version`` satisfies the constraint.

        A version with an epoch satisfies only a constraint that allows everything
        (:func:`check_orderable` says why, as an error).

        :param prerelease: let any prerelease match on its ordering alone (the host's policy).
        """
        if not version.orderable:
            return self.is_any
        return any(_alternative_allows(alt, version, prerelease) for alt in self.alternatives)

    def __str__(self) -> str:
        return self.text


def _alternative_allows(alt: tuple[_Comparator, ...], version: Version, pre_ok: bool) -> bool:
    if not all(c.allows(version) for c in alt):
        return False
    if not version.is_prerelease or pre_ok:
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
    try:
        return _expand(op.rstrip(">") if op == "~>" else op.replace("==", "="), known, match["pre"])
    except VersionError as exc:
        raise VersionError(f"{_show(token)} in constraint {_show(whole)} {exc.reason}") from None


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
