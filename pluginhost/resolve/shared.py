"""Shared third-party dependencies: which version of each meets every plugin that needs it.

A plugin's ``Requires-Dist`` on a library (not on another plugin) is met, in this order of
preference, by the host environment's copy, by the shared dependency already serving, or by the
highest wheel at hand that meets the requirements of every plugin using that dependency. One
version of each dependency serves every plugin (they share one interpreter, and so one module
per name); requirements that no single version meets are refused with
:class:`~pluginhost.DependencyConflictError`, naming who needs what and which versions exist.

Pure: the environment is asked through the ``installed`` callable the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from ..discover.wheel import WheelInfo
from ..model.errors import DependencyConflictError, ResolutionError
from ..model.frozen import frozen
from ..model.names import canonicalize_name
from ..model.specifiers import checked_applies, requirement

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.utils import NormalizedName

__all__ = [
    "Choice",
    "Need",
    "Serving",
    "applicable",
    "choose_dependencies",
    "remembered",
    "requirements_of",
    "version_key",
]


@frozen
class Need:
    """One requirement on a dependency: who needs it (``"anthropic 1.0.0"``) and the
    requirement as written (``"opentelemetry-api>=1.20"``)."""

    who: str
    requirement: str


@frozen
class Serving:
    """A shared dependency serving now: its version, what its users need of it, and its own
    ``Requires-Dist`` lines (a new user of it uses what it requires too)."""

    version: str
    needs: tuple[Need, ...] = ()
    requires: tuple[str, ...] = ()


@frozen
class Choice:
    """What meets one dependency of a plugin.

    :param distribution: the dependency's normalized name.
    :param need: the requirement it meets.
    :param wheel: the wheel to serve it from; ``None`` when the serving copy meets it.
    """

    distribution: str
    need: Need
    wheel: WheelInfo | None


Installed = Callable[[str], str | None]
"""The version of a distribution in the host environment, ``None`` when it has none."""


def remembered(installed: Installed) -> Installed:
    """``installed``, asked once per name: the host's lookup searches ``sys.path`` and parses
    a METADATA each time (about 0.6 ms), and 40 meta-packages of 1,000 lines naming one
    library asked it 40,000 times, for 20 s under the host's lock."""
    known: dict[str, str | None] = {}

    def lookup(name: str) -> str | None:
        if name not in known:
            known[name] = installed(name)
        return known[name]

    return lookup


def applicable(who: str, texts: Iterable[str]) -> list[Requirement]:
    """The requirements of ``texts`` that apply here (no extra asked for, this platform).

    :raises ResolutionError: naming a requirement that cannot be parsed.
    """
    found = []
    for text in texts:
        try:
            req = requirement(text)
            applies = checked_applies(req)
        except ValueError as exc:  # InvalidRequirement, a specifier or marker that cannot be used
            raise ResolutionError(f"invalid Requires-Dist {text!r}: {exc}", plugin=who) from exc
        if applies:
            found.append(req)
    return found


def choose_dependencies(
    plugin: str,
    who: str,
    requires_dist: Iterable[str],
    wheels: Sequence[WheelInfo],
    serving: Mapping[str, Serving],
    installed: Installed,
    refused: Mapping[str, Sequence[tuple[str, str]]] = {},
    *,
    linked: Collection[str] = (),
    more: Iterable[tuple[str, str]] = (),
    itself: tuple[str, str] | None = None,
) -> list[Choice]:
    """The shared dependencies that meet ``requires_dist`` and those of the wheels chosen.

    :param plugin: the plugin whose requirements these are (errors name it).
    :param who: the plugin and its version, as needs name it (``"anthropic 1.0.0"``).
    :param wheels: the dependency wheels at hand in the watched folders.
    :param serving: the shared dependencies serving now, by normalized name.
    :param installed: the version of a distribution in the environment.
    :param refused: dependency wheels at hand that validation refused, by normalized name, as
        ``(version, reason)`` pairs: an unmet requirement names them.
    :param linked: the normalized distributions of the plugins ``plugin`` is linked to: a
        chosen wheel's requirement on one is the link's, met by that plugin.
    :param more: ``(who, line)`` requirements others add to the plugin's own (its
        meta-packages': :mod:`.metas`).
    :param itself: the plugin's own distribution (normalized) and version: a requirement on
        it, its own or a dependency's (a cycle through a library), is met by the plugin.
    :returns: one choice per dependency the environment does not meet, in the order needed.
    :raises DependencyConflictError: naming the requirement that no version meets.
    """
    chosen: dict[str, Choice] = {}
    installed = remembered(installed)
    pending = [(who, req) for req in applicable(plugin, requires_dist)]
    pending += [(by, req) for by, line in more for req in applicable(plugin, [line])]
    while pending:
        needer, req = pending.pop(0)
        name = canonicalize_name(req.name)
        if name in linked:
            continue  # a plugin, loaded before this one (resolve/links.py)
        need = Need(needer, str(req))
        if itself is not None and name == itself[0]:
            _met_by_itself(plugin, need, req, itself[1])
            continue
        env = installed(name)
        if env is not None and req.specifier.contains(env, prereleases=True):
            continue  # the environment's copy is preferred
        if name in chosen:
            _check_again(plugin, name, chosen[name], need, serving, wheels, refused, env)
            continue
        choice = _choose(plugin, name, need, req, serving, wheels, refused, env)
        chosen[name] = choice
        # What the chosen copy needs in turn, the serving one's too: its dependencies have
        # this plugin as a user, or they went with their last other user (and the plugin
        # failed to import at the next start).
        version, lines = (
            (choice.wheel.version, choice.wheel.requires_dist)
            if choice.wheel is not None
            else (serving[name].version, serving[name].requires)
        )
        pending += [(f"{name} {version}", r) for r in applicable(plugin, lines)]
    return list(chosen.values())


def _met_by_itself(plugin: str, need: Need, req: Requirement, version: str) -> None:
    """Check a requirement on the plugin's own distribution against its version, as ``pip``
    does; such a requirement was looked for among the dependencies, and the plugin refused as
    missing a wheel that was its own.

    :raises ResolutionError: when its version does not meet it.
    """
    try:
        meets = req.specifier.contains(version, prereleases=True)
    except InvalidVersion:  # a semver text PEP 440 cannot read: it is the plugin all the same
        return
    if not meets:
        reason = f"{need.who} needs {need.requirement}, the plugin's own distribution at {version}"
        raise ResolutionError(reason, plugin=plugin)


def requirements_of(wheels: Iterable[WheelInfo]) -> dict[NormalizedName, tuple[str, ...]]:
    """The ``Requires-Dist`` lines of each distribution among ``wheels``, every version's, by
    normalized name (the :data:`~.links.Via` of the dependency wheels at hand)."""
    lines: dict[NormalizedName, dict[str, None]] = {}
    for wheel in wheels:
        lines.setdefault(canonicalize_name(wheel.distribution), {}).update(
            dict.fromkeys(wheel.requires_dist)
        )
    return {name: tuple(found) for name, found in lines.items()}


def _choose(
    plugin: str,
    name: str,
    need: Need,
    req: Requirement,
    serving: Mapping[str, Serving],
    wheels: Sequence[WheelInfo],
    refused: Mapping[str, Sequence[tuple[str, str]]],
    env: str | None,
) -> Choice:
    current = serving.get(name)
    if current is not None and req.specifier.contains(current.version, prereleases=True):
        return Choice(name, need, None)
    needs = (*(current.needs if current else ()), need)
    fitting = [w for w in wheels if _meets(w, name, needs)]
    best = max(fitting, key=version_key, default=None)
    if best is None:
        raise _conflict(plugin, name, needs, wheels, refused, env)
    return Choice(name, need, best)


def _check_again(
    plugin: str,
    name: str,
    choice: Choice,
    need: Need,
    serving: Mapping[str, Serving],
    wheels: Sequence[WheelInfo],
    refused: Mapping[str, Sequence[tuple[str, str]]],
    env: str | None,
) -> None:
    """A second requirement on a dependency chosen already must be met by that choice."""
    version = choice.wheel.version if choice.wheel else serving[name].version
    if requirement(need.requirement).specifier.contains(version, prereleases=True):
        return
    current = serving.get(name)
    needs = (*(current.needs if current else ()), choice.need, need)
    raise _conflict(plugin, name, needs, wheels, refused, env)


def _meets(wheel: WheelInfo, name: str, needs: Sequence[Need]) -> bool:
    if canonicalize_name(wheel.distribution) != name:
        return False
    return all(
        requirement(n.requirement).specifier.contains(wheel.version, prereleases=True)
        for n in needs
    )


def _conflict(
    plugin: str,
    name: str,
    needs: Sequence[Need],
    wheels: Sequence[WheelInfo],
    refused: Mapping[str, Sequence[tuple[str, str]]],
    env: str | None,
) -> DependencyConflictError:
    """The refusal naming who needs what of ``name``, and every version at hand."""
    at_hand = [
        (w.version, str(w.path))
        for w in sorted(wheels, key=version_key, reverse=True)
        if canonicalize_name(w.distribution) == name
    ]
    if env is not None:
        at_hand.append((env, "environment"))
    turned_down = [(version, f"refused: {reason}") for version, reason in refused.get(name, ())]
    who = "; ".join(f"{n.who} needs {n.requirement}" for n in needs)
    if at_hand:
        versions = ", ".join(f"{v} ({where})" for v, where in at_hand)
        if len(needs) > 1:
            wanted = f"no single version of {name} meets every requirement"
        else:  # one requirement alone is no conflict between requirements
            wanted = f"no version of {name} at hand meets the requirement"
        reason = f"{wanted} ({who}); at hand: {versions}"
    elif not turned_down:
        reason = (
            f"requirement {needs[-1].requirement!r} is met neither by the host environment nor "
            f"by a wheel in the watched folders ({who})"
        )
    else:
        reason = f"no usable version of {name} ({who})"
    for version, why in turned_down:
        reason += f"; {name} {version} is in the folder but was {why}"
    return DependencyConflictError(
        reason,
        plugin=plugin,
        distribution=name,
        needs=tuple((n.who, n.requirement) for n in needs),
        available=(*at_hand, *turned_down),
    )


def version_key(wheel: WheelInfo) -> tuple[Version, str]:
    """How the wheels of one distribution are ordered: by PEP 440 version, the highest chosen
    (one that PEP 440 cannot read sorts lowest), then by path."""
    try:
        return (Version(wheel.version), str(wheel.path))
    except InvalidVersion:
        return (Version("0"), str(wheel.path))
