"""Which candidates may be chosen at all (rules 1 and 2 of :mod:`.resolution`).

One candidate per name and version (other bytes under the same version are ``CONFLICT``), and
``REFUSED`` for the versions that the host API, the downgrade rule or the prerelease rule excludes,
and for a version with an epoch (``1!2.0``) that a ``plugin.toml`` constraint other than ``*``
names: such a constraint cannot order it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import UnorderableVersionError
from ..model.names import PluginName
from ..model.policy import VersionPolicy
from ..model.problems import Problem, ProblemKind
from ..model.specifiers import BothConstraints, PluginConstraint
from ..model.versions import Constraint, Version, check_orderable
from .reports import label, problem_for

__all__ = ["Pool", "collapse", "screen"]

Pool = Mapping[PluginName, tuple[Candidate, ...]]
"""Each plugin's candidates, one per version, highest first."""


# -- 1. duplicates ---------------------------------------------------------------------------------


def collapse(
    candidates: Iterable[Candidate],
) -> tuple[dict[PluginName, tuple[Candidate, ...]], list[Problem]]:
    groups: dict[tuple[PluginName, Version], list[Candidate]] = defaultdict(list)
    for cand in candidates:
        groups[cand.name, cand.version].append(cand)
    pool: dict[PluginName, list[Candidate]] = defaultdict(list)
    conflicts: list[Problem] = []
    for group in groups.values():
        # Sorted only when there is a choice: the key's repr() is most of a start's resolution.
        kept, *others = sorted(group, key=_origin_key) if len(group) > 1 else group
        pool[kept.name].append(kept)
        conflicts.extend(_conflict(kept, other) for other in others if not _same_bytes(kept, other))
    return {name: _descending(cands) for name, cands in sorted(pool.items())}, conflicts


def _origin_key(cand: Candidate) -> tuple[bool, str, str, str]:
    # repr() last: equal origins with different manifests must still sort the same way every time.
    return (isinstance(cand.origin, WheelOrigin), str(cand.origin), cand.sha256 or "", repr(cand))


def _same_bytes(a: Candidate, b: Candidate) -> bool:
    if a.sha256 is None and b.sha256 is None:
        return True  # both installed: the environment holds one copy of a distribution version
    return a.sha256 == b.sha256


def _conflict(kept: Candidate, other: Candidate) -> Problem:
    if kept.sha256 is None or other.sha256 is None:
        # An installed copy has no wheel hash to compare: the two may well be the same bytes.
        how = "installed and as a wheel (an installed copy's files are not compared with a wheel)"
    else:
        how = "with different contents"
    message = (
        f"{label(kept)} is offered twice {how}: {kept.origin} and {other.origin}; the first is used"
    )
    return problem_for(ProblemKind.CONFLICT, other, message)


def _descending(cands: Iterable[Candidate]) -> tuple[Candidate, ...]:
    return tuple(sorted(cands, key=lambda c: c.version, reverse=True))


# -- 2. eligibility --------------------------------------------------------------------------------


def screen(
    pool: Pool, api_version: Version, policy: VersionPolicy, active: Mapping[PluginName, Version]
) -> dict[Candidate, Problem]:
    demands = _demands(pool)
    named = _named_prereleases(pool, demands)
    refused = {}
    for name, cands in pool.items():
        for cand in cands:
            reason = _refusal(cand, api_version, policy, active.get(name), named)
            if reason is None:
                reason = _unorderable(cand, demands[name])
            if reason is not None:
                refused[cand] = problem_for(ProblemKind.REFUSED, cand, reason)
    return refused


def _refusal(
    cand: Candidate,
    api_version: Version,
    policy: VersionPolicy,
    active: Version | None,
    named: set[Candidate],
) -> str | None:
    if not cand.manifest.host.allows(api_version, prerelease=True):
        return (
            f"{label(cand)} requires host API {cand.manifest.host},"
            f" this host provides {api_version}"
        )
    if active is not None and cand.version < active and not policy.allow_downgrade:
        return (
            f"{label(cand)} is lower than the active {cand.name} {active},"
            " and the policy does not allow downgrades"
        )
    if cand.version.is_prerelease and not policy.allow_prerelease and cand not in named:
        return f"{label(cand)} is a prerelease, and the policy does not allow prereleases"
    return None


_Demands = Mapping[PluginName, list[tuple[Candidate, PluginConstraint]]]


def _demands(pool: Pool) -> _Demands:
    """What every candidate of the pool requires of each plugin, whether chosen or not."""
    demands = defaultdict(list)
    for cands in pool.values():
        for cand in cands:
            for dep, constraint in cand.requires.items():
                demands[dep].append((cand, constraint))
    return demands


def _unorderable(cand: Candidate, demands: list[tuple[Candidate, PluginConstraint]]) -> str | None:
    """Why a version with an epoch cannot be chosen: a plugin.toml constraint must order it."""
    if cand.version.orderable:
        return None
    for requirer, constraint in demands:
        written = constraint.manifest if isinstance(constraint, BothConstraints) else constraint
        if not isinstance(written, Constraint):
            continue  # a Requires-Dist specifier orders epochs as PEP 440 does
        try:
            check_orderable(written, cand.version, plugin=cand.name)
        except UnorderableVersionError as e:
            return f"{e.reason} (required by {label(requirer)})"
    return None


def _named_prereleases(pool: Pool, demands: _Demands) -> set[Candidate]:
    """Prereleases that some plugin's requirement names explicitly, whatever the policy says."""
    return {
        cand
        for name, cands in pool.items()
        for cand in cands
        if cand.version.is_prerelease and any(c.allows(cand.version) for _, c in demands[name])
    }
