"""Requires-Dist on another plugin: which plugins a candidate's ``Requires-Dist`` names.

A requirement whose distribution is the distribution of a plugin candidate (from a watched
folder or the environment) is a plugin dependency: it orders the load and constrains the
version with its PEP 440 specifier, exactly as ``[plugin.requires]`` does, and the host does not
look for it among the third-party requirements (:func:`third_party`). Its markers are evaluated
for the running interpreter with no extra asked for, so requirements of the plugin's own extras
(``extra == "test"``) do not apply; extras asked *of* the other plugin
(``datasette-leaflet[x]``) are not installed by anyone, so they add nothing here.

The link depends on the candidates at hand (a folder may offer the other plugin later), so it is
made by :func:`link` at each resolution, never stored in a wheel's candidate by discovery.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import compress
from typing import TYPE_CHECKING, Final

import attrs
from packaging.specifiers import SpecifierSet

from ..model.candidate import Candidate
from ..model.names import PluginName, canonicalize_name
from ..model.specifiers import DistSpecifier, checked_applies, requirement

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

__all__ = ["Via", "link", "plugins_by_distribution", "third_party"]

_PARSED_CACHE: Final = 4096
_REQUIRES_DIST: Final = operator.attrgetter("requires_dist")
_DIST_KEY: Final = operator.attrgetter("dist_key")


Via = Mapping["NormalizedName", Sequence[str]]
"""The ``Requires-Dist`` lines of each dependency distribution at hand (not a plugin), by its
normalized name: a plugin needing one that needs a plugin needs that plugin too."""


def link(
    candidates: Sequence[Candidate],
    known: Iterable[Candidate] = (),
    *,
    plugins: Mapping[NormalizedName, set[PluginName]] | None = None,
    via: Via | None = None,
) -> list[Candidate]:
    """``candidates``, each with the plugins its ``Requires-Dist`` names as ``plugin_requires``,
    directly or through the dependencies of ``via`` (pytest-factoryboy needs factory_boy,
    which needs Faker, a plugin).

    :param known: more candidates whose distributions count as plugins (the active ones).
    :param plugins: :func:`plugins_by_distribution` of ``candidates`` and ``known``, when the
        caller made it already (then ``known`` is not read).
    :returns: the same candidates in the same order; one whose links changed is a new copy.
        Links already made are kept (an active plugin's, made when it was chosen).
    """
    if not any(map(_REQUIRES_DIST, candidates)):
        return list(candidates)  # nothing to link: found at C speed, as for most plugins
    if plugins is None:
        plugins = plugins_by_distribution([*candidates, *known], via)
    return [_linked(c, plugins, via or {}) for c in candidates]


def third_party(candidate: Candidate) -> tuple[str, ...]:
    """``candidate``'s ``Requires-Dist`` lines but those naming a plugin it is linked to."""
    linked = {canonicalize_name(s.distribution) for s in candidate.plugin_requires.values()}
    if not linked:
        return candidate.requires_dist
    return tuple(
        line
        for line in candidate.requires_dist
        if (parsed := _parse(line)) is None or parsed[0] not in linked
    )


def plugins_by_distribution(
    candidates: Iterable[Candidate], via: Via | None = None
) -> dict[NormalizedName, set[PluginName]]:
    """The plugins of each distribution among ``candidates`` that a ``Requires-Dist`` line of
    one of them, or of a dependency of ``via``, names (the only ones a link looks up), by its
    normalized name."""
    candidates = list(candidates)
    # Found at C speed: going through a thousand candidates in Python at each change cost a
    # millisecond, for the few distributions that lines name.
    lines = map(_REQUIRES_DIST, filter(_REQUIRES_DIST, candidates))
    named = set().union(*map(_named, lines), *map(_named, map(tuple, (via or {}).values())))
    if not named:
        return {}
    plugins: dict[NormalizedName, set[PluginName]] = defaultdict(set)
    for c in compress(candidates, map(named.__contains__, map(_DIST_KEY, candidates))):
        plugins[c.dist_key].add(c.name)
    return plugins


def _linked(
    cand: Candidate, plugins: Mapping[NormalizedName, set[PluginName]], via: Via
) -> Candidate:
    if not cand.requires_dist:
        return cand  # most plugins: nothing to link, and links made earlier stay (see below)
    found: dict[PluginName, DistSpecifier] = {}
    own = cand.dist_key
    for dist, written, specifier in _named_through(cand.requires_dist, own, plugins, via):
        for name in plugins.get(dist, ()):
            if name == cand.name:
                continue
            before = found.get(name)
            # Two applying lines on one distribution (under different markers) both hold.
            merged = specifier if before is None else before.specifier & specifier
            found[name] = DistSpecifier(written, merged)
    # A link made earlier stays when its plugin is no longer at hand: an active plugin keeps
    # needing the plugin it was loaded with, which is then missing, as in plugin.toml.
    merged_links = {**cand.plugin_requires, **found}
    if merged_links == cand.plugin_requires:
        return cand
    return attrs.evolve(cand, plugin_requires=dict(sorted(merged_links.items())))


def _named_through(
    lines: Iterable[str],
    own: NormalizedName,
    plugins: Mapping[NormalizedName, set[PluginName]],
    via: Via,
) -> Iterator[tuple[NormalizedName, str, SpecifierSet]]:
    """The requirements of ``lines`` and, through each dependency of ``via`` they name (not a
    plugin's distribution), of that dependency's lines, once each."""
    pending = list(lines)
    seen = {own}
    while pending:
        parsed = _parse(pending.pop(0))
        if parsed is None or parsed[0] == own:
            continue
        yield parsed
        dist = parsed[0]
        if dist not in plugins and dist in via and dist not in seen:
            seen.add(dist)
            pending += via[dist]


@functools.lru_cache(maxsize=_PARSED_CACHE)
def _named(lines: tuple[str, ...]) -> frozenset[NormalizedName]:
    """The distributions that ``lines`` name, where they apply here."""
    return frozenset(parsed[0] for line in lines if (parsed := _parse(line)) is not None)


@functools.lru_cache(maxsize=_PARSED_CACHE)
def _parse(line: str) -> tuple[NormalizedName, str, SpecifierSet] | None:
    """A line's distribution and specifier, or ``None`` when it does not apply here.

    An unreadable line is left to the third-party check, which refuses it with a reason.
    """
    try:
        req = requirement(line)
    except ValueError:  # InvalidRequirement
        return None
    try:
        applies = checked_applies(req)
    except ValueError:  # UndefinedComparison and the like: the third-party check says why
        return None
    if not applies:
        return None
    return canonicalize_name(req.name), req.name, req.specifier
