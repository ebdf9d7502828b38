"""The journal: what the engine tells of its changes, kept in one place.

It files the problems of the last reconcile, remembers the error of each candidate whose change
failed (``install()`` raises it) and the bytes that failed for good, keeps each plugin's
history, and emits the events of discovery, refusal and failure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import compress
from types import MappingProxyType

from ..model.candidate import Candidate, CandidateKey, candidate_key, not_among, without_keys
from ..model.errors import InstallError, PluginHostError, StoreError
from ..model.events import Event, EventKind
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from .failures import REFUSALS, candidate_event, detached, refusal_event
from .view import History

__all__ = ["Journal", "Outcome"]

# Kinds of failure that are the bytes' own: the same bytes would fail the same way again.
_FOR_GOOD = frozenset({ProblemKind.LOAD_FAILED, ProblemKind.WHEEL_INVALID, ProblemKind.CONFLICT})


@frozen
class Outcome:
    """What a reconcile did that its caller may need to answer for: ``failures``, the error
    of each candidate whose change failed, by its key."""

    failures: Mapping[CandidateKey, PluginHostError] = MappingProxyType({})


class Journal:
    """The engine's account of what happened.

    :param emit: delivers an event to the host's subscribers.
    """

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self.history = History()
        self._problems: list[Problem] = []
        self._failures: dict[CandidateKey, PluginHostError] = {}
        self._for_good: dict[CandidateKey, Problem] = {}
        # Bytes refused for a conflict with the plugins active then (a top-level module another
        # one has), and those plugins: the conflict may go with them.
        self._conflicted: dict[CandidateKey, frozenset[str]] = {}
        # Plugins whose version failed for good since begin(), with none serving.
        self._unserved: set[str] = set()
        self._seen: set[CandidateKey] = set()
        # The candidates of the last announce: seen then.
        self._offered: Sequence[Candidate] = ()
        self._refused: set[Problem] = set()
        self._retry = False

    # -- a reconcile's account ---------------------------------------------------------------

    def begin(self, problems: Iterable[Problem], *, again: bool = False) -> None:
        """Start the account of a reconcile with the problems its plan found.

        :param again: the same reconcile planned once more (falling back: see
            :meth:`passed_over`): its failures so far stay in the account.
        """
        self._problems = list(problems)
        self._unserved = set()
        if not again:
            self._failures = {}
            self._retry = False

    def problems(self) -> tuple[Problem, ...]:
        return tuple(self._problems)

    def failures(self) -> Mapping[CandidateKey, PluginHostError]:
        """The error of each candidate whose change failed since :meth:`begin`."""
        return MappingProxyType(dict(self._failures))

    def file(self, problem: Problem) -> None:
        """Add ``problem`` to the account, once."""
        if problem not in self._problems:
            self._problems.append(problem)

    def wants_retry(self) -> bool:
        """Whether the file system refused a change (disk full, read-only) since :meth:`begin`."""
        return self._retry

    def refused_by_disk(self) -> None:
        """Note that the file system refused a change: it may go through once it recovers."""
        self._retry = True

    # -- bytes that failed for good ----------------------------------------------------------

    def failed_before(
        self, key: CandidateKey, active: Collection[str] | None = None
    ) -> Problem | None:
        """The problem of bytes that failed before: trying them again would fail the same way.

        :param active: the plugins active now: bytes refused for a conflict while a plugin
            active then is gone since are tried again (a plugin refused for a top-level module
            another one had stayed refused once that one was removed, until a restart).
        """
        others = self._conflicted.get(key)
        if others is not None and active is not None and not others <= set(active):
            self.forgive(key)
            return None
        return self._for_good.get(key)

    def passed_over(
        self, offered: list[Candidate], serving: Collection[PluginName]
    ) -> list[Candidate]:
        """``offered`` without the bytes that failed for good whose plugin no version serves
        and has another version on offer that has not: the host falls back to the newest that
        loads (a wheel whose health check failed left its plugin unloaded beside working older
        wheels). Their failures stay told. A plugin that serves keeps its version: the failed
        newest holds it there, as its rollback left it (passed over, a version between the two
        was loaded at the next look, unasked)."""
        if not self._for_good:
            return offered  # the common case: nothing to look at
        # Picked out in C: a thousand candidates at each swap once any version failed.
        failed = list(
            compress(offered, map(self._for_good.__contains__, map(candidate_key, offered)))
        )
        others = {c.name for c in offered if c.key not in self._for_good} if failed else set()
        dropped = {c.key for c in failed if c.name in others and c.name not in serving}
        for key in dropped:
            self.file(self._for_good[key])
        return without_keys(offered, dropped) if dropped else offered

    def fallback_due(self, offered: Sequence[Candidate]) -> bool:
        """Whether a plugin none serves failed for good since :meth:`begin` while another of
        its versions on offer has not: planning again falls back to it."""
        return bool(self._unserved) and any(
            c.name in self._unserved and c.key not in self._for_good for c in offered
        )

    def forgive(self, key: CandidateKey) -> None:
        """Let bytes that failed be tried again (``install()`` asks for them explicitly)."""
        self._for_good.pop(key, None)
        self._conflicted.pop(key, None)

    # -- events ------------------------------------------------------------------------------

    def announce(self, candidates: Sequence[Candidate]) -> None:
        """A ``discovered`` event for each candidate seen for the first time."""
        # Those of the last announce were seen then: passed over by identity, in C, where
        # hashing a thousand keys cost half a millisecond at each swap (measured).
        fresh = not_among(candidates, self._offered)
        self._offered = tuple(candidates)
        for c in without_keys(fresh, self._seen):
            if c.key not in self._seen:  # two copies of one wheel: told once
                self._seen.add(c.key)
                self.emit(candidate_event(EventKind.DISCOVERED, c))

    def report_refusals(self, problems: Sequence[Problem]) -> None:
        """An event for each file refused by a look at the sources, once while it stays there."""
        current = {p for p in problems if p.kind in REFUSALS}
        for problem in sorted(current - self._refused, key=lambda p: (p.path or "", p.message)):
            self.emit(refusal_event(problem))
        # Forgotten once gone, so that the same bad file dropped again is reported again.
        self._refused = current

    def failed(
        self,
        candidate: Candidate,
        problem: Problem,
        exc: PluginHostError | None,
        previous: str | None,
        active: Collection[str] = (),
    ) -> None:
        """Tell that a change to ``candidate`` failed with ``problem`` (and ``exc``).

        :param previous: the version that serves on, if one does.
        :param active: the plugins active when it failed.
        """
        self.file(problem)
        if exc is not None:
            self._failures[candidate.key] = detached(exc, candidate.name)
        if isinstance(exc, InstallError | StoreError):
            # A full or read-only disk is no fault of the bytes: they are tried again at the
            # next change in the folders, or by install().
            self._retry = True
        elif problem.kind in _FOR_GOOD:
            self._for_good[candidate.key] = problem
            if problem.kind is ProblemKind.CONFLICT:
                self._conflicted[candidate.key] = frozenset(active) - {candidate.name}
            if previous is None:
                self._unserved.add(candidate.name)
        self.history.add("failed", candidate, problem.message)
        if exc is not None:
            self.emit(
                Event.failure(
                    EventKind.LOAD_FAILED,
                    candidate.name,
                    exc,
                    distribution=candidate.distribution,
                    version=candidate.version_text,
                    previous_version=previous,
                    origin=str(candidate.origin),
                    sha256=candidate.sha256,
                )
            )
        else:
            self.emit(
                candidate_event(
                    EventKind.LOAD_FAILED,
                    candidate,
                    previous_version=previous,
                    error=problem.message,
                )
            )
