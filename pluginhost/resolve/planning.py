"""Planning: what the engine asks of the resolver, given the versions active now.

Pure functions of the candidates on offer, the active versions, the host API version and the
policy. The resolver chooses versions from scratch; planning adds what only a running host has:
bytes that claim an active version but differ from it, updates that an active dependent's
constraint would break, and, with ``breaking_change="cascade"``, the dependents let go so that
such an update goes ahead.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Collection, Iterable, Mapping, Sequence

from ..model.candidate import (
    ONE_BY_ONE,
    Candidate,
    candidate_key,
    candidate_name,
    not_among,
    without_keys,
)
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.pacing import pace
from ..model.policy import BreakingChange, VersionPolicy
from ..model.problems import Problem, ProblemKind
from ..model.versions import Version
from .links import Via, link, plugins_by_distribution
from .replan import Replan
from .resolution import Plan, resolve_linked

__all__ = ["Outlook", "drop_conflicts", "pin", "plan"]

_VERSION = operator.attrgetter("version")


@frozen
class Outlook:
    """A plan, with what planning found around it.

    :param plan: what the resolver chose from the pool.
    :param problems: updates held back by an active dependent (``REFUSED``, filed under the
        update), or dependents let go for an update (``DEPENDENCY_FAILED``, filed under the
        dependent).
    :param victims: active dependents to unload before the plan is applied (cascade only).
    """

    plan: Plan
    problems: tuple[Problem, ...] = ()
    victims: tuple[PluginName, ...] = ()


def drop_conflicts(
    offered: Sequence[Candidate], active: Mapping[PluginName, Candidate]
) -> tuple[list[Candidate], list[Problem]]:
    """Set aside candidates that claim an active version with other bytes: never a replace.

    :returns: the candidates kept, and a ``CONFLICT`` problem for each one set aside.
    """
    problems: list[Problem] = []
    refused: set[int] = set()
    # Only bytes that no active version has can conflict: the active versions themselves are
    # passed over by identity, in C; what is left is mostly the new wheel, unless the active
    # versions were read from the registry (then their keys are compared in C too).
    rest = not_among(offered, active.values())
    if len(rest) > ONE_BY_ONE:
        rest = without_keys(rest, set(map(candidate_key, active.values())))
    for c in rest:
        current = active.get(c.name)
        if current is None or current.version_text != c.version_text or current.key == c.key:
            continue
        refused.add(id(c))
        problems.append(
            Problem(
                ProblemKind.CONFLICT,
                c.name,
                f"{c.name} {c.version} from {c.origin} has other contents "
                f"(sha256 {c.sha256 or '-'}) than the active {c.name} {c.version} "
                f"(sha256 {current.sha256 or '-'}); refused: a new version needs a new "
                "version number",
                version=c.version_text,
                path=str(c.origin),
            )
        )
    refused.update(_other_distributions(offered, rest, active, problems))
    kept = [c for c in offered if id(c) not in refused] if refused else list(offered)
    return kept, problems


def _other_distributions(
    offered: Sequence[Candidate],
    rest: Sequence[Candidate],
    active: Mapping[PluginName, Candidate],
    problems: list[Problem],
) -> set[int]:
    """The candidates of a plugin that another distribution provides: a plugin is one
    distribution, whose versions replace each other.

    Two distributions whose one entry point has the same name (pytest-tornado and
    pytest-tornasync both declare ``tornado``) got one plugin name: the higher version served
    and the other was ignored in silence, or came in as an update, the state of one handed to
    the other. The active plugin's distribution keeps the name while it is offered; otherwise
    the distribution named like the plugin, else the first by name (the active one's wheels
    deleted, the one left replaces it). Each other one is a ``CONFLICT`` naming both.
    """
    offers: dict[PluginName, set[str]] = collections.defaultdict(set)
    for c in rest:  # what is new: a wheel or two at a swap, every candidate only at a start
        offers[c.name].add(c.dist_key)
    chosen: dict[PluginName, str] = {}
    for name, dists in offers.items():
        current = active.get(name)
        mine = current.dist_key if current is not None else None
        if mine is not None and (mine in dists or _offered(offered, name, mine)):
            chosen[name] = mine
        elif len(dists) > 1:
            chosen[name] = name if name in dists else min(dists)
    refused = set()
    for c in rest:
        keeps = chosen.get(c.name, c.dist_key)
        if c.dist_key != keeps:
            refused.add(id(c))
            current = active.get(c.name)
            serving = current is not None and current.dist_key == keeps
            problems.append(_distribution_conflict(c, keeps, serving))
    return refused


def _offered(offered: Sequence[Candidate], name: PluginName, distribution: str) -> bool:
    """Whether a candidate of ``name`` from ``distribution`` is offered (the active version's
    own, passed over as new): looked for only when another distribution offers the name."""
    return any(c.name == name and c.dist_key == distribution for c in offered)


def _distribution_conflict(c: Candidate, keeps: str, active: bool) -> Problem:
    which = "the active one" if active else "the one kept"
    return Problem(
        ProblemKind.CONFLICT,
        c.name,
        f"{c.distribution} {c.version} from {c.origin} provides the plugin {c.name}, which the "
        f"distribution {keeps} provides ({which}): two distributions cannot be one plugin "
        "(their entry points share a name); refused",
        version=c.version_text,
        path=str(c.origin),
    )


def pin(pool: Iterable[Candidate], pins: Mapping[PluginName, Candidate]) -> list[Candidate]:
    """The pool with every version of a pinned plugin but the pinned one taken out."""
    if not pins:
        return list(pool)
    return [c for c in pool if c.name not in pins or c.key == pins[c.name].key]


def plan(
    pool: Sequence[Candidate],
    active: Mapping[PluginName, Candidate],
    *,
    api_version: Version,
    policy: VersionPolicy,
    breaking_change: BreakingChange,
    memo: Replan | None = None,
    downgradable: Collection[PluginName] = (),
    via: Via | None = None,
) -> Outlook:
    """Resolve ``pool`` against the active versions, holding back or cascading breaking updates.

    :param pool: every candidate on offer, the active versions included when they stay.
    :param active: the candidate of each active plugin.
    :param memo: the planner's last resolution, patched (see :class:`.replan.Replan`).
    :param downgradable: plugins that may go to a lower version whatever the policy (their
        active version was taken back by its index).
    :param via: the requirements of the dependency wheels at hand, through which a plugin may
        need another (:func:`.links.link`).
    """
    # Active plugins link to the plugins on offer and to each other (a removed wheel's plugin
    # is still active until it is unloaded), and the pool to the active ones.
    # Both links are made with one map: the active plugins and the pool name the same
    # distributions either way (a thousand candidates, at each swap).
    plugins = plugins_by_distribution([*active.values(), *pool], via)
    pace()
    linked = link(list(active.values()), plugins=plugins, via=via)
    active = dict(zip(active.keys(), linked, strict=True))  # in C: a thousand, at each change
    pool = link(pool, plugins=plugins, via=via)
    pace()
    versions = dict(zip(active.keys(), map(_VERSION, linked), strict=True))
    for name in downgradable:
        versions.pop(name, None)

    def without(victims: Sequence[PluginName]) -> Plan:
        kept = [c for c in pool if c.name not in victims]
        # The pool is linked already, to the active plugins too (a superset of what
        # resolve() would link it to).
        return resolve_linked(
            kept, api_version=api_version, policy=policy, active=versions, memo=memo
        )

    first = without(())
    pace()
    breaking = _breaking(first, pool, active, api_version, policy)
    if not breaking or breaking_change != "cascade":
        return _stranding(Outlook(first, tuple(breaking)), active, policy)
    # The dependents that stand in the way are let go, and the update goes ahead.
    again = without(_victims(breaking))
    # Unless it cannot load even then (it misses a plugin of its own, say): such an update is
    # held back as with "reject", and lets none of its dependents go for nothing.
    ahead = [p for p in breaking if _chosen(again, p)]
    held = tuple(p for p in breaking if p not in ahead)
    if not ahead:
        return Outlook(first, held)
    victims = _victims(ahead)
    if held:
        again = without(victims)
    let_go = tuple(
        _let_go(p.plugin or "", p.version or "", active[PluginName(p.involved[0])]) for p in ahead
    )
    return _stranding(Outlook(again, held + let_go, victims), active, policy)


def _stranding(
    outlook: Outlook, active: Mapping[PluginName, Candidate], policy: VersionPolicy
) -> Outlook:
    """``outlook`` with the active plugins its plan strands let go too.

    A plan can choose, for a plugin whose active version left the pool (its wheel gone, its
    release yanked), a version that an active dependent's constraint refuses: the only one
    on offer, lower, with downgrades allowed. The dependent is then not chosen (its
    requirement cannot be met), and, left loaded, it served on beside a version it refuses,
    re-imported against it. It is let go, as when the plugin it requires goes away.
    """
    chosen = outlook.plan.chosen
    stranded: list[Problem] = []
    # Set differences, in C: a thousand active plugins, at each change, most often all chosen.
    for name in sorted(active.keys() - chosen.keys() - set(outlook.victims)):
        dependent = active[name]
        for required, constraint in dependent.requires.items():
            serving = chosen.get(required)
            if serving is not None and not constraint.allows(
                serving.version, prerelease=policy.allow_prerelease
            ):
                stranded.append(_let_go(required, serving.version_text, dependent))
                break
    if not stranded:
        return outlook
    victims = (*outlook.victims, *(PluginName(p.plugin or "") for p in stranded))
    return Outlook(outlook.plan, (*outlook.problems, *stranded), victims)


def _victims(breaking: Sequence[Problem]) -> tuple[PluginName, ...]:
    """The active dependents that hold back the updates of ``breaking``, each once."""
    return tuple(dict.fromkeys(PluginName(p.involved[0]) for p in breaking))


def _chosen(plan: Plan, update: Problem) -> bool:
    """Whether ``plan`` chose the version that ``update`` was held back for."""
    chosen = plan.chosen.get(PluginName(update.plugin or ""))
    return chosen is not None and chosen.version_text == update.version


def _breaking(
    plan: Plan,
    pool: Sequence[Candidate],
    active: Mapping[PluginName, Candidate],
    api_version: Version,
    policy: VersionPolicy,
) -> list[Problem]:
    """Newer versions held back only because an active dependent's constraint excludes them."""
    problems: list[Problem] = []
    allow_pre = policy.allow_prerelease
    # Only a plugin offered in several versions can have a newer one held back: counted at C
    # speed, since most plugins of a large pool are offered in one version.
    several = sorted(n for n, k in collections.Counter(map(candidate_name, pool)).items() if k > 1)
    if not several:
        return problems
    # Grouped once: looking through the whole pool for each plugin grew with its square.
    by_name: dict[PluginName, list[Candidate]] = {name: [] for name in several}
    for c in pool:
        if c.name in by_name:
            by_name[c.name].append(c)
    for name in several:  # in the order of plan.chosen, which is sorted by name
        chosen = plan.chosen.get(name)
        if chosen is None:
            continue
        newer = [
            c
            for c in by_name.get(name, ())
            if c.version > chosen.version
            and c.manifest.host.allows(api_version, prerelease=True)
            and (allow_pre or not c.version.is_prerelease)
        ]
        if not newer:
            continue
        best = max(newer, key=lambda c: c.version)
        for dep_name, dep in active.items():
            constraint = dep.requires.get(name)
            if constraint is not None and not constraint.allows(best.version, prerelease=allow_pre):
                problems.append(
                    Problem(
                        ProblemKind.REFUSED,
                        name,
                        f"{name} {best.version} would break {dep_name} "
                        f"{dep.version}, which requires {name} {constraint}",
                        involved=(dep_name,),
                        version=str(best.version),
                    )
                )
    return problems


def _let_go(plugin: str, version: str, dependent: Candidate) -> Problem:
    """The problem of a dependent unloaded for ``plugin`` at ``version``: filed under the
    dependent."""
    constraint = dependent.requires.get(PluginName(plugin))
    return Problem(
        ProblemKind.DEPENDENCY_FAILED,
        dependent.name,
        f"{dependent.name} {dependent.version} was unloaded for {plugin} {version}: it "
        f"requires {plugin} {constraint}",
        involved=(plugin,),
        version=dependent.version_text,
    )
