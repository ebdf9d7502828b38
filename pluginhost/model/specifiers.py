"""Requires-Dist on another plugin, as a constraint on that plugin's version.

A plugin's ``Requires-Dist`` line that names the distribution of another plugin
(``pytest-html`` requires ``pytest-metadata>=2.0.0``) constrains that plugin exactly as a
``[plugin.requires]`` entry of ``plugin.toml`` does, with its PEP 440 specifier:
:class:`DistSpecifier`. When both name the same plugin, both apply: :class:`BothConstraints`.
Each has the :class:`~pluginhost.model.versions.Constraint` methods that resolution asks for
(``allows``, ``is_any``, ``str()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from packaging.specifiers import SpecifierSet

from .frozen import frozen
from .versions import Constraint, Version

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = [
    "BothConstraints",
    "DistSpecifier",
    "PluginConstraint",
    "applies_here",
    "both",
    "checked_applies",
    "requirement",
]


def requirement(text: str) -> Requirement:
    """A ``Requires-Dist`` line (PEP 508), parsed.

    ``packaging.requirements`` is imported at the first line parsed: with its markers it loads
    ``packaging.tags`` and ``subprocess``, which a host whose plugins require nothing never needs.

    :raises ValueError: ``InvalidRequirement`` when the line is not a requirement.
    """
    from packaging.requirements import Requirement

    return Requirement(text)


def checked_applies(req: Requirement) -> bool:
    """Whether ``req`` applies here (:func:`applies_here`), once each of its specifiers has
    compared a version: a specifier's version is parsed only when it compares, so that a line
    read now cannot fail untyped later (a version over ``int()``'s digit limit).

    :raises ValueError: when a specifier cannot compare, or the marker cannot be evaluated.
    """
    for spec in req.specifier:
        spec.contains("0", prereleases=True)
    return applies_here(req)


def applies_here(req: Requirement) -> bool:
    """Whether ``req`` applies on this interpreter when no extra is asked for.

    :raises ValueError: when its marker cannot be evaluated: ``UndefinedComparison``, and
        ``UndefinedEnvironmentName`` (a marker comparing two strings, ``"y" < "z"``), which is
        a ``KeyError`` in packaging 26 and is raised again here as a ``ValueError``.
    """
    if req.marker is None:
        return True
    try:
        return req.marker.evaluate({"extra": ""})
    except LookupError as exc:
        raise ValueError(f"marker {str(req.marker)!r} names what no environment has") from exc


@frozen
class DistSpecifier:
    """A ``Requires-Dist`` requirement on a plugin's distribution.

    >>> spec = DistSpecifier("pytest-metadata", SpecifierSet(">=2.0"))
    >>> spec.allows(Version(3, 0, 1)), str(spec)
    (True, '>=2.0')

    :param distribution: the distribution it names, as written.
    :param specifier: its PEP 440 specifier; empty allows every version.
    """

    distribution: str
    specifier: SpecifierSet

    @property
    def is_any(self) -> bool:
        return not self.specifier

    def allows(self, version: Version, *, prerelease: bool = False) -> bool:
        """Whether ``version`` satisfies the specifier, ordered by PEP 440 (epochs too).

        A prerelease matches when ``prerelease`` is set (the host's policy) or when the
        specifier names one, as PEP 440 says.
        """
        exact = version.pep440
        if exact is None:
            return False  # a semver version PEP 440 cannot write cannot be a distribution's
        # Explicit both ways: what packaging does with None has changed between its versions.
        named = bool(self.specifier.prereleases)
        return self.specifier.contains(exact, prereleases=prerelease or named)

    def __str__(self) -> str:
        return str(self.specifier) or "*"


@frozen
class BothConstraints:
    """``plugin.toml`` and ``Requires-Dist`` name the same plugin: a version must satisfy both.

    :param manifest: the ``[plugin.requires]`` constraint.
    :param dist: the ``Requires-Dist`` specifier.
    """

    manifest: Constraint
    dist: DistSpecifier

    @property
    def is_any(self) -> bool:
        return self.manifest.is_any and self.dist.is_any

    def allows(self, version: Version, *, prerelease: bool = False) -> bool:
        return self.manifest.allows(version, prerelease=prerelease) and self.dist.allows(
            version, prerelease=prerelease
        )

    def __str__(self) -> str:
        return f"{self.manifest} (plugin.toml) and {self.dist} (Requires-Dist)"


PluginConstraint: TypeAlias = Constraint | DistSpecifier | BothConstraints
"""What one plugin's requirement puts on another plugin's version."""


def both(manifest: Constraint | None, dist: DistSpecifier | None) -> PluginConstraint:
    """The constraint of one requirement named in ``plugin.toml``, ``Requires-Dist`` or both."""
    if manifest is None:
        assert dist is not None
        return dist
    if dist is None:
        return manifest
    return BothConstraints(manifest, dist)
