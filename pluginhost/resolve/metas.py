"""Meta-packages: dependency wheels that require a plugin, and bring what it runs with.

tox-uv 1.37.1 is one: a wheel with no entry point that requires tox-uv-bare (the plugin) and uv
(the executable tox-uv-bare runs). ``pip install tox-uv`` installs the three; a host whose
watched folder held the three wheels loaded tox-uv-bare alone, since nothing required tox-uv,
and tox failed with "uv not found". So a dependency wheel at hand that requires a plugin's
distribution, at a version the plugin's meets, adds its other requirements to that plugin's:
they are served as the plugin's shared dependencies, each need naming the meta-package. Its
requirements on other plugins are not added (what a plugin needs of plugins is its own to say).

Pure: the wheels and the candidates are the caller's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion

from ..discover.wheel import WheelInfo
from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.specifiers import checked_applies, requirement

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName

__all__ = ["Meta", "meta_lines", "metas_of"]


@frozen
class Meta:
    """A wheel at hand that requires one distribution, seen from that distribution.

    :param who: the wheel, as a need names it (``"tox-uv 1.37.1"``).
    :param specifier: what it requires of that distribution.
    :param lines: its other requirements that apply here, with their normalized names.
    """

    who: str
    specifier: SpecifierSet
    lines: tuple[tuple[NormalizedName, str], ...]


def metas_of(wheels: Iterable[WheelInfo]) -> dict[NormalizedName, tuple[Meta, ...]]:
    """For each distribution a wheel at hand requires, those wheels, with their other
    requirements: used only for the distributions that are plugins' (:func:`meta_lines`)."""
    found: dict[NormalizedName, list[Meta]] = defaultdict(list)
    for wheel in wheels:
        parsed = [parsed for line in wheel.requires_dist if (parsed := _applying(line))]
        who = f"{wheel.distribution} {wheel.version}"
        for name, specifier, _ in parsed:
            others = tuple((n, line) for n, _, line in parsed if n != name)
            if others:
                found[name].append(Meta(who, specifier, others))
    return {name: tuple(metas) for name, metas in found.items()}


def meta_lines(
    metas: Mapping[NormalizedName, tuple[Meta, ...]],
    candidate: Candidate,
    plugins: Collection[NormalizedName],
) -> list[tuple[str, str]]:
    """The ``(who, line)`` requirements the meta-packages of ``candidate``'s version add to
    its own, but those naming a plugin's distribution (``plugins``)."""
    added = []
    for meta in metas.get(candidate.dist_key, ()):
        try:
            meets = meta.specifier.contains(candidate.version_text, prereleases=True)
        except InvalidVersion:  # a semver text PEP 440 cannot read: no meta-package meant it
            continue
        if meets:
            added += [(meta.who, line) for name, line in meta.lines if name not in plugins]
    return added


def _applying(line: str) -> tuple[NormalizedName, SpecifierSet, str] | None:
    """A line's distribution and specifier when it applies here; ``None`` when it does not,
    or its marker cannot be evaluated here (validation refused a wheel with a line that cannot
    be parsed): the plugin's own check says nothing of a line that is not its own."""
    try:
        req = requirement(line)
        if not checked_applies(req):
            return None
    except ValueError:
        return None
    return canonicalize_name(req.name), req.specifier, line
