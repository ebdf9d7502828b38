"""How the engine tells a failed change: the problem it files, the error it raises."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from ..load.reaper import Leak
from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import (
    ActivationError,
    InstallError,
    ManifestError,
    PluginHostError,
    ResolutionError,
    StoreError,
    TrustError,
    WheelError,
)
from ..model.events import Event, EventKind
from ..model.names import PluginName
from ..model.policy import VersionPolicy
from ..model.problems import Problem, ProblemKind, Requirement
from ..swap.cleanup import leak_report
from ..swap.members import Member

__all__ = [
    "REFUSALS",
    "candidate_event",
    "dependency_gone",
    "detached",
    "given",
    "leak_event",
    "load_problem",
    "member_event",
    "refusal",
    "refusal_event",
    "rollback_failed",
    "skipped_for",
]

# What a file refused at discovery is reported as, and the error it was refused with.
REFUSALS: dict[ProblemKind, tuple[EventKind, type[PluginHostError]]] = {
    ProblemKind.MANIFEST_INVALID: (EventKind.MANIFEST_INVALID, ManifestError),
    ProblemKind.WHEEL_INVALID: (EventKind.REFUSED, WheelError),
    ProblemKind.UNTRUSTED: (EventKind.REFUSED, TrustError),
    ProblemKind.SOURCE_DISTRIBUTION: (EventKind.REFUSED, WheelError),
}


def load_problem(candidate: Candidate, exc: PluginHostError) -> Problem:
    """The problem a failed load of ``candidate`` is filed as."""
    kind = ProblemKind.LOAD_FAILED
    if isinstance(exc, ResolutionError):
        kind = ProblemKind.REQUIREMENT_FAILED if exc.missing else ProblemKind.CONFLICT
    elif isinstance(exc, WheelError):
        kind = ProblemKind.WHEEL_INVALID
    return Problem(
        kind,
        candidate.name,
        f"{candidate.name} {candidate.version}: {exc.reason}",
        involved=getattr(exc, "missing", ()),
        version=candidate.version_text,
        path=str(candidate.origin),
        requirement=getattr(exc, "requirement", None),
    )


def skipped_for(candidate: Candidate, dependency: PluginName) -> Problem:
    """The problem of a plugin skipped because a plugin it requires is not active."""
    constraint = candidate.requires[dependency]
    return Problem(
        ProblemKind.DEPENDENCY_FAILED,
        candidate.name,
        f"{candidate.name} {candidate.version} was skipped because {dependency}, "
        "which it requires, is not active",
        involved=(dependency,),
        version=candidate.version_text,
        requirement=Requirement(
            candidate.name, candidate.version_text, dependency, str(constraint)
        ),
    )


def refusal(
    candidate: Candidate,
    problems: Sequence[Problem],
    serving: Candidate | None,
    policy: VersionPolicy,
) -> PluginHostError:
    """The error for a candidate that was offered but is not active, from the problems filed.

    Only for candidates that failed no step of their own: those raise the step's error.

    :param serving: the version of the plugin that serves instead, if one does.
    """
    name, version = candidate.name, candidate.version_text
    filed = [p for p in problems if p.plugin == name]
    mine = [p for p in filed if p.version in (None, version)] or filed
    if not mine:
        return ResolutionError(_not_chosen(candidate, serving, policy), plugin=name)
    problem = mine[-1]
    if problem.kind is ProblemKind.LOAD_FAILED:
        return ActivationError(problem.message, plugin=name, step="load")
    missing = problem.involved if problem.kind is ProblemKind.MISSING else ()
    return ResolutionError(
        problem.message, plugin=name, missing=missing, requirement=problem.requirement
    )


def _not_chosen(candidate: Candidate, serving: Candidate | None, policy: VersionPolicy) -> str:
    text = f"{candidate.name} {candidate.version} was not chosen"
    if serving is None:
        return text
    if serving.version <= candidate.version:
        return f"{text}: {serving.version} serves"
    if not policy.allow_downgrade:
        return (
            f"{text}: it is older than {serving.version}, which serves, and the version policy "
            "forbids a downgrade (VersionPolicy(allow_downgrade=True) allows it, and pins it)"
        )
    return f"{text}: it is older than {serving.version}, which serves"


def detached(exc: PluginHostError, plugin: str) -> PluginHostError:
    """A copy of ``exc`` naming ``plugin``, without the traceback that would pin the frames (and
    so the modules) of the version that failed."""
    clone = copy.copy(exc)
    clone.__traceback__ = None
    clone.__context__ = clone.__cause__ = None
    if clone.plugin is None:
        clone.plugin = plugin
        clone.args = (clone._message(),)
    return clone


def given(exc: PluginHostError, candidate: Candidate) -> PluginHostError:
    """``exc`` naming the wheel ``candidate`` was read from, when it names no file: the error of
    ``install()`` says which wheel it was given, whatever step refused it.

    A copy, like :func:`detached`: the original may be kept as the change's failure.
    """
    if exc.path is not None or not isinstance(candidate.origin, WheelOrigin):
        return exc
    clone = copy.copy(exc)
    clone.path = str(candidate.origin.path)
    clone.args = (clone._message(),)
    return clone


def rollback_failed(
    target: Candidate, current: Candidate, failure: PluginHostError | None
) -> PluginHostError:
    """The error of a rollback that was undone: the file system's own kind when it refused."""
    reason = f"rollback to {target.version} failed; {current.version} stays active"
    if failure is not None:
        reason = f"{reason}: {failure.reason}"
    if isinstance(failure, InstallError | StoreError):
        return type(failure)(reason, plugin=current.name, path=failure.path)
    return ActivationError(reason, plugin=current.name, step="rollback")


def refusal_event(problem: Problem) -> Event:
    """The event of a file refused by a look at the sources."""
    kind, error = REFUSALS[problem.kind]
    return Event(
        kind,
        problem.plugin,
        version=problem.version,
        origin=problem.path,
        error=problem.message,
        error_type=f"{error.__module__}.{error.__qualname__}",
        step=str(problem.kind),
    )


def member_event(kind: EventKind, m: Member, **fields: object) -> Event:
    """An event about a member of a transition: its version, the one it replaces (unless given),
    and, for a dependent re-imported at the same version, the change it was re-imported for."""
    fields.setdefault("previous_version", m.old.candidate.version_text if m.old else None)
    return candidate_event(kind, m.candidate, reimported_for=m.reimported_for, **fields)


def candidate_event(kind: EventKind, c: Candidate, **fields: object) -> Event:
    """An event about ``c``, naming its version, origin and hash."""
    return Event(
        kind,
        c.name,
        distribution=c.distribution,
        version=c.version_text,
        origin=str(c.origin),
        sha256=c.sha256,
        **fields,  # type: ignore[arg-type]
    )


def leak_event(leak: Leak) -> Event:
    """The ``leaked`` event of a retired version whose modules outlived a full collection."""
    text = "; ".join(leak_report(leak.modules, leak.owned))
    return Event(EventKind.LEAKED, leak.plugin, version=leak.version, error=text)


def dependency_gone(dependent: PluginName, name: PluginName) -> Problem:
    """Why ``dependent`` was unloaded along with ``name``."""
    return Problem(
        ProblemKind.DEPENDENCY_FAILED,
        dependent,
        f"{dependent} was unloaded because {name}, which it requires, went away",
        involved=(name,),
    )
