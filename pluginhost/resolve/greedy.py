"""The greedy rounds (rules 3 and 4 of :mod:`.resolution`): choose versions, skip what cannot load.

Each round moves every plugin to the highest version its requirers accept, then checks every
chosen version's requirements; a failing version is excluded (``MISSING``, ``UNSATISFIABLE``,
``DEPENDENCY_FAILED``, or ``REFUSED`` for a prerelease no one requires) and cycles are skipped
(``CYCLE``), until a round chooses versions that all load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import final

from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind, Requirement
from ..model.specifiers import PluginConstraint
from .graph import demands_of, find_cycles, graph_of
from .reports import label, problem_for, requirement_of
from .screen import Pool

__all__ = ["Greedy", "choice_alone"]


@frozen
class _Skip:
    """Why a plugin is skipped: the chain of plugins down to the root cause, and that cause."""

    chain: tuple[PluginName, ...]
    cause: str


@frozen
class _Failure:
    candidate: Candidate
    problem: Problem
    skip: _Skip


def choice_alone(eligible: Pool, allow_pre: bool) -> dict[PluginName, Candidate] | None:
    """What the greedy rounds choose for a part of one plugin with one eligible version that
    requires nothing and is no prerelease left out: that version. ``None`` for any other part.

    Most parts of a start are such plugins: hundreds of them went through the rounds' set-up,
    one round and its checks, for a choice known beforehand (issue 13).
    """
    if len(eligible) != 1:
        return None
    ((name, cands),) = eligible.items()
    if len(cands) != 1:
        return None
    (cand,) = cands
    if cand.requires or (cand.version.is_prerelease and not allow_pre):
        return None
    if name in cand.manifest.optional:  # an edge to itself: a cycle the rounds skip it for
        return None
    return {name: cand}


@final
class Greedy:
    """The greedy rounds of rules 3 and 4. Excluded versions and skipped plugins only grow."""

    def __init__(
        self, pool: Pool, eligible: Pool, refused: Mapping[Candidate, Problem], allow_pre: bool
    ) -> None:
        self._pool = pool
        self._eligible = eligible
        self._allow_pre = allow_pre
        self._excluded: set[Candidate] = set()
        self._first_failure: dict[Candidate, _Failure] = {}
        self.failures: list[tuple[Candidate, Problem]] = []
        self.skips = {
            name: _Skip((name,), refused[pool[name][0]].message)
            for name, cands in eligible.items()
            if not cands
        }

    def run(self) -> dict[PluginName, Candidate]:
        """Run rounds until one chooses versions without failures or cycles; return them."""
        rounds = sum(map(len, self._eligible.values())) + len(self._eligible) + 1
        for _ in range(rounds):
            chosen = self._choose()
            failures = self._check(chosen)
            if failures:
                self._exclude(failures)
                continue
            cycles = find_cycles(graph_of(chosen, self._allow_pre))
            if not cycles:
                return chosen
            self._skip_cycles(cycles, chosen)
        raise AssertionError("unreachable: every round excludes a version or skips a plugin")

    def _live(self) -> dict[PluginName, tuple[Candidate, ...]]:
        return {
            name: tuple(c for c in cands if c not in self._excluded)
            for name, cands in self._eligible.items()
            if name not in self.skips
        }

    def _choose(self) -> dict[PluginName, Candidate]:
        live = self._live()
        current = {name: cands[0] for name, cands in live.items()}
        while True:  # versions only move down, so this ends within as many steps as versions
            demands = demands_of(current)
            settled = {
                name: _pick(
                    [c for c in live[name] if c.version <= cand.version],
                    demands.get(name, ()),
                    self._allow_pre,
                )
                for name, cand in current.items()
            }
            if settled == current:
                return current
            current = settled

    def _check(self, chosen: Mapping[PluginName, Candidate]) -> list[_Failure]:
        demands = demands_of(chosen)
        failures = []
        for name, cand in sorted(chosen.items()):
            for dep, constraint in sorted(cand.requires.items()):
                failure = self._unmet(cand, dep, constraint, chosen)
                if failure is not None:
                    failures.append(failure)
            if cand.version.is_prerelease and not self._allow_pre and not demands.get(name):
                failures.append(_root_failure(ProblemKind.REFUSED, cand, _unrequired(cand)))
        return failures

    def _unmet(
        self,
        cand: Candidate,
        dep: PluginName,
        constraint: PluginConstraint,
        chosen: Mapping[PluginName, Candidate],
    ) -> _Failure | None:
        needs = f"{label(cand)} requires {dep} {constraint}"
        if dep not in self._pool:
            missing = requirement_of(cand, dep, constraint, ())
            return _root_failure(
                ProblemKind.MISSING, cand, f"{needs}, which is not available", missing
            )
        available = self._eligible[dep]
        if dep in self.skips:
            skipped = requirement_of(cand, dep, constraint, available)
            return _dependency_failure(cand, needs, self.skips[dep], skipped)
        got = chosen.get(dep)
        if got is not None and constraint.allows(got.version, prerelease=self._allow_pre):
            return None
        message = f"{needs}, available: {dep} {', '.join(str(c.version) for c in available)}"
        if got is not None and any(
            constraint.allows(c.version, prerelease=self._allow_pre) for c in available
        ):
            # A fitting version exists: say why it is not the one chosen.
            message += f"; other plugins' requirements chose {label(got)}"
        unmet = requirement_of(cand, dep, constraint, available, got)
        return _root_failure(ProblemKind.UNSATISFIABLE, cand, message, unmet)

    def _exclude(self, failures: Iterable[_Failure]) -> None:
        for failure in failures:
            self.failures.append((failure.candidate, failure.problem))
            self._excluded.add(failure.candidate)
            self._first_failure.setdefault(failure.candidate, failure)
        for name, cands in self._live().items():
            if not cands:
                # The highest version's reason stands for the plugin in its dependents' messages.
                self.skips[name] = self._first_failure[self._eligible[name][0]].skip

    def _skip_cycles(
        self, cycles: Iterable[tuple[PluginName, ...]], chosen: Mapping[PluginName, Candidate]
    ) -> None:
        for walk in cycles:
            members = tuple(dict.fromkeys(walk))
            text = " -> ".join(walk)
            for name in members:
                others = tuple(m for m in members if m != name)
                message = f"{label(chosen[name])} is in a dependency cycle: {text}"
                problem = problem_for(ProblemKind.CYCLE, chosen[name], message, others)
                self.failures.append((chosen[name], problem))
                self.skips[name] = _Skip((name,), f"{text} is a dependency cycle")


def _pick(
    cands: Sequence[Candidate],
    demands: Sequence[tuple[Candidate, PluginConstraint]],
    allow_pre: bool,
) -> Candidate:
    """The highest candidate satisfying every demand, else the most of them, ties to the higher."""
    best, best_score = cands[0], -1
    for cand in cands:
        score = sum(k.allows(cand.version, prerelease=allow_pre) for _, k in demands)
        if score == len(demands):
            return cand
        if score > best_score:
            best, best_score = cand, score
    return best


def _root_failure(
    kind: ProblemKind, cand: Candidate, message: str, requirement: Requirement | None = None
) -> _Failure:
    # The required plugin is involved too: the host names it in ResolutionError.missing.
    involved = (requirement.requires,) if requirement is not None else ()
    problem = problem_for(kind, cand, message, involved, requirement)
    return _Failure(cand, problem, _Skip((cand.name,), message))


def _dependency_failure(
    cand: Candidate, needs: str, skip: _Skip, requirement: Requirement
) -> _Failure:
    chain = (cand.name, *skip.chain)
    message = f"{needs}, which is skipped: {' -> '.join(chain)} ({skip.cause})"
    kind = ProblemKind.DEPENDENCY_FAILED
    problem = problem_for(kind, cand, message, skip.chain, requirement)
    return _Failure(cand, problem, _Skip(chain, skip.cause))


def _unrequired(cand: Candidate) -> str:
    return (
        f"{label(cand)} is a prerelease, and the policy allows prereleases only"
        " where a loaded plugin's requirement names them"
    )
