"""How the resolver files its problems: which ones it reports, in which order, and their wording.

Messages name plugins with versions (``hello 1.0.0``); ``Problem.plugin`` is the plugin refused
or skipped, ``Problem.involved`` the others, and a problem about an unmet requirement carries it
as a :class:`~pluginhost.model.problems.Requirement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model.candidate import Candidate, WheelOrigin
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind, Requirement
from ..model.specifiers import PluginConstraint

__all__ = ["above_chosen", "label", "problem_for", "problem_key", "requirement_of"]


def above_chosen(
    found: Iterable[tuple[Candidate, Problem]], chosen: Mapping[PluginName, Candidate]
) -> list[Problem]:
    """The problems of versions above the chosen one, or of every version when none is chosen."""
    return [
        problem
        for cand, problem in found
        if cand.name not in chosen or cand.version > chosen[cand.name].version
    ]


def problem_key(problem: Problem) -> tuple[str, str, str, str]:
    """The order of a plan's problems: by plugin, kind, version, then message."""
    return (problem.plugin or "", problem.kind.value, problem.version or "", problem.message)


def problem_for(
    kind: ProblemKind,
    cand: Candidate,
    message: str,
    involved: tuple[str, ...] = (),
    requirement: Requirement | None = None,
) -> Problem:
    """A problem about one candidate, with its version and, for a wheel, its path."""
    path = str(cand.origin.path) if isinstance(cand.origin, WheelOrigin) else None
    return Problem(kind, cand.name, message, involved, str(cand.version), path, requirement)


def requirement_of(
    cand: Candidate,
    dep: PluginName,
    constraint: PluginConstraint,
    available: Iterable[Candidate],
    chosen: Candidate | None = None,
) -> Requirement:
    """``cand``'s requirement on ``dep`` as fields, with the versions of ``dep`` at hand."""
    versions = tuple(str(c.version) for c in available)
    chosen_version = str(chosen.version) if chosen is not None else None
    return Requirement(cand.name, str(cand.version), dep, str(constraint), versions, chosen_version)


def label(cand: Candidate) -> str:
    """How messages name a candidate: ``hello 1.0.0``."""
    return f"{cand.name} {cand.version}"
