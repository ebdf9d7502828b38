"""Meta-packages: dependency wheels that require a plugin, and bring what it runs with.

tox-uv 1.37.1 is one: a wheel with no entry point that requires tox-uv-bare (the plugin) and uv
(the executable tox-uv-bare runs). ``pip install tox-uv`` installs the three; a host whose
watched folder held the three wheels loaded tox-uv-bare alone, since nothing required tox-uv,
and tox failed with "uv not found". So a dependency wheel at hand that requires a plugin's
distribution, at a version the plugin's meets, adds its other requirements to that plugin's:
they are served as the plugin's shared dependencies, each need naming the meta-package. Its
requirements on other plugins are not added (what a plugin needs of plugins is its own to say).

A meta-package whose plugin is not at hand did nothing and said nothing (llm-claude-3 0.11
alone, a shim that requires llm-anthropic). Its plugin unknown, the host cannot tell it from any
other wheel by what it requires; but a dependency wheel that nothing at hand requires serves
nothing, unless it is some plugin's meta-package. So such a wheel with a requirement that
nothing meets (no plugin, no wheel at hand, nothing installed) is a ``missing`` problem naming
the wheel and that requirement (:func:`missing_plugins`); it refuses nothing.

Pure: the wheels and the candidates are the caller's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion

from ..discover.wheel import WheelInfo
from ..model.candidate import Candidate
from ..model.errors import ResolutionError
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.problems import Problem, ProblemKind
from ..model.specifiers import checked_applies, requirement
from .shared import remembered, version_key

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName

__all__ = ["Meta", "Unmet", "meta_lines", "metas_of", "missing_plugins", "unmet_requirements"]


@frozen
class Meta:
    """A wheel at hand that requires one distribution, seen from that distribution.

    :param who: the wheel, as a need names it (``"tox-uv 1.37.1"``).
    :param specifier: what it requires of that distribution.
    :param lines: its requirements that apply here, with their normalized names: one tuple
        shared by the wheel's metas (a tuple of the others for each made a wheel of 5,000 lines
        cost 25 million steps).
    """

    who: str
    specifier: SpecifierSet
    lines: tuple[tuple[NormalizedName, str], ...]


def metas_of(wheels: Iterable[WheelInfo]) -> dict[NormalizedName, tuple[Meta, ...]]:
    """For each distribution a wheel at hand requires, those wheels, with their other
    requirements: used only for the distributions that are plugins' (:func:`meta_lines`).

    Of a distribution with several versions at hand, only the one a dependency is served from
    counts, the highest (:func:`~.shared.version_key`), as ``pip install`` takes one version:
    meta 2.0 dropped beside meta 1.0 added both their pins, and the plugin was refused ("no
    single version of uv meets every requirement").
    """
    found: dict[NormalizedName, list[Meta]] = defaultdict(list)
    for wheel in _newest(wheels):
        parsed = [parsed for line in wheel.requires_dist if (parsed := _applying(line))]
        names = {name for name, _, _ in parsed}
        if len(names) < 2:
            continue  # nothing to add to what it requires
        who = f"{wheel.distribution} {wheel.version}"
        lines = tuple((name, line) for name, _, line in parsed)
        for name, specifier, _ in parsed:
            found[name].append(Meta(who, specifier, lines))
    return {name: tuple(metas) for name, metas in found.items()}


def meta_lines(
    metas: Mapping[NormalizedName, tuple[Meta, ...]],
    candidate: Candidate,
    plugins: Collection[NormalizedName],
    limit: int,
) -> list[tuple[str, str]]:
    """The ``(who, line)`` requirements the meta-packages of ``candidate``'s version add to
    its own, but those naming its distribution or another plugin's (``plugins``).

    :param limit: the most lines they may add together, as one wheel may hold
        (:attr:`~pluginhost.WheelLimits.max_requirements`): each wheel within it, 40 of them
        naming one plugin added 40,000.
    :raises ResolutionError: naming the plugin and its meta-packages, when they add more.
    """
    added: list[tuple[str, str]] = []
    own = candidate.dist_key
    for meta in metas.get(own, ()):
        try:
            meets = meta.specifier.contains(candidate.version_text, prereleases=True)
        except InvalidVersion:  # a semver text PEP 440 cannot read: no meta-package meant it
            continue
        if meets:
            added += [(meta.who, line) for n, line in meta.lines if n != own and n not in plugins]
            if len(added) > limit:
                raise _too_many(candidate, metas[own], limit)
    return added


def _too_many(candidate: Candidate, metas: Sequence[Meta], limit: int) -> ResolutionError:
    whose = list(dict.fromkeys(meta.who for meta in metas))
    named = ", ".join(whose[:10]) + (f" and {len(whose) - 10} more" if len(whose) > 10 else "")
    reason = (
        f"the meta-packages of {candidate.display} {candidate.version_text} ({named}) add more"
        f" than {limit} requirement lines to it, the most one wheel may hold"
        " (WheelLimits.max_requirements)"
    )
    return ResolutionError(reason, plugin=candidate.name)


def _newest(wheels: Iterable[WheelInfo]) -> list[WheelInfo]:
    """The highest version at hand of each distribution among ``wheels``."""
    best: dict[NormalizedName, WheelInfo] = {}
    for wheel in wheels:
        name = canonicalize_name(wheel.distribution)
        if name not in best or version_key(wheel) > version_key(best[name]):
            best[name] = wheel
    return list(best.values())


@frozen
class Unmet:
    """A wheel at hand that no other wheel at hand requires, with its requirements that no
    wheel at hand and nothing installed meets.

    :param wheel: the wheel.
    :param names: the normalized names of every distribution it requires (here).
    :param lines: the requirements met by nothing, as written, with their normalized names.
    """

    wheel: WheelInfo
    names: frozenset[NormalizedName]
    lines: tuple[tuple[NormalizedName, str], ...]


def unmet_requirements(
    wheels: Sequence[WheelInfo], installed: Callable[[str], str | None]
) -> tuple[Unmet, ...]:
    """The wheels among ``wheels`` that none of them requires and that require something no
    wheel at hand and nothing installed meets, of each distribution its highest version alone
    (:func:`metas_of`): checked against the plugins at hand by
    :func:`missing_plugins` (made when the wheels at hand change, not at each look).

    :param installed: the version of a distribution in the host environment, or ``None``.
    """
    installed = remembered(installed)  # asked per line, of a few names
    parsed = {w.path: [p for line in w.requires_dist if (p := _applying(line))] for w in wheels}
    at_hand = {canonicalize_name(w.distribution) for w in wheels}
    required = {name for found in parsed.values() for name, _, _ in found}
    unmet = []
    for wheel in _newest(wheels):  # an older version beside it is no meta-package any more
        if canonicalize_name(wheel.distribution) in required:
            continue  # a dependency of another wheel: that one's requirements tell
        lines = tuple(
            (name, line)
            for name, _, line in parsed[wheel.path]
            if name not in at_hand and installed(name) is None
        )
        if lines:
            names = frozenset(name for name, _, _ in parsed[wheel.path])
            unmet.append(Unmet(wheel, names, lines))
    return tuple(unmet)


def missing_plugins(unmet: Sequence[Unmet], candidates: Sequence[Candidate]) -> list[Problem]:
    """A ``missing`` problem for each of the ``unmet`` wheels that no plugin at hand requires
    and that requires none (a meta-package whose plugin is not at hand): it names the wheel
    and what it requires that nothing meets, and no plugin."""
    if not unmet:
        return []  # the common case, at every look
    plugins = {c.dist_key for c in candidates}
    needed = {
        name for c in candidates for name, _, _ in filter(None, map(_applying, c.requires_dist))
    }
    problems = []
    for found in unmet:
        wheel = found.wheel
        if canonicalize_name(wheel.distribution) in needed or not found.names.isdisjoint(plugins):
            continue  # a plugin's dependency, or a meta-package whose plugin is at hand
        lines = ", ".join(line for _, line in found.lines)
        message = (
            f"{wheel.path}: {wheel.distribution} {wheel.version} is required by no plugin at"
            f" hand and requires {lines}, which no plugin, wheel at hand or installed"
            " distribution provides: a meta-package does nothing until the plugin it requires"
            " is at hand"
        )
        involved = tuple(name for name, _ in found.lines)
        path, version = str(wheel.path), wheel.version
        problem = Problem(ProblemKind.MISSING, None, message, involved, version, path)
        problems.append(problem)
    return problems


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
