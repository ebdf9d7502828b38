"""Refused dependency wheels told from refused plugins.

A watched folder holds plugin wheels and the wheels of their third-party dependencies alike. A
wheel that validation refused is a failed plugin only if it is one: a dependency's refusal is
reported, names no plugin, and is quoted by the plugin that needs it (its requirement is then
"refused", not "missing").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..model.candidate import Candidate
from ..model.names import canonicalize_name
from ..model.problems import Problem, ProblemKind
from ..model.specifiers import requirement

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["dependency_refusals"]


def dependency_refusals(
    problems: Sequence[Problem], candidates: Sequence[Candidate]
) -> tuple[list[Problem], dict[str, list[tuple[str, str]]]]:
    """Tell refused dependency wheels from refused plugins.

    A wheel refused by validation whose distribution no candidate offers as a plugin, and which
    a candidate's ``Requires-Dist`` names, is a dependency wheel: it is no failed plugin (its
    problem names no plugin, its refusal is still reported), and the plugin needing it names the
    refusal instead of calling the dependency missing.

    :returns: the problems, those of dependency wheels naming no plugin; and the refusals, by
        normalized distribution name, as ``(version, reason)`` pairs.
    """
    kept: list[Problem] = []
    refused: dict[str, list[tuple[str, str]]] = {}
    named: tuple[set[str], set[str]] | None = None  # made for the first refused wheel only
    for problem in problems:
        found = _wheel_name(problem) if problem.kind is ProblemKind.WHEEL_INVALID else None
        if found is not None and named is None:
            named = _plugins_and_needs(candidates)
        if found is None or named is None or found[0] in named[0] or found[0] not in named[1]:
            kept.append(problem)
            continue
        reason = _reason(problem)
        refused.setdefault(found[0], []).append((found[1], reason))
        kept.append(attrs.evolve(problem, plugin=None, version=found[1]))
    return kept, refused


def _plugins_and_needs(candidates: Sequence[Candidate]) -> tuple[set[str], set[str]]:
    """The distributions of ``candidates``, and those their ``Requires-Dist`` name (both
    normalized): made only when a look refused a wheel, not at every swap among a thousand."""
    plugins: set[str] = {canonicalize_name(c.distribution) for c in candidates}
    needed: set[str] = {
        canonicalize_name(r.name) for c in candidates for r in _parsed(c.requires_dist)
    }
    return plugins, needed


def _parsed(texts: Sequence[str]) -> Iterator[Requirement]:
    for text in texts:
        try:
            yield requirement(text)
        except ValueError:  # InvalidRequirement
            continue  # refused with the plugin, when its requirements are checked


def _reason(problem: Problem) -> str:
    """A refusal's reason, without the file and the distribution its message starts with."""
    reason = problem.message.removeprefix(f"{problem.path}: ")
    if problem.plugin:
        reason = reason.removeprefix(f"plugin {problem.plugin!r}: ")
    return reason


def _wheel_name(problem: Problem) -> tuple[str, str] | None:
    """The normalized distribution and version a refused wheel's file name declares."""
    if not problem.path:
        return None
    from packaging.utils import parse_wheel_filename  # noqa: PLC0415  (a refusal only)

    try:
        name, version, _, _ = parse_wheel_filename(Path(problem.path).name)
    except ValueError:  # InvalidWheelFilename, InvalidVersion
        return None
    return str(name), str(version)
