"""A start's restore of the committed plugins, and the versions it leaves out: those a newer
version offered replaces, those an allowed downgrade replaces, and those removed while the host
was down.

A start restored every committed plugin, then its first reconcile swapped in the newer
versions its sources offered (a wheel upgraded while the host was down). An application's own
manager cannot take a plugin twice in one process: pytest refuses a hook spec or a
command-line option added again, so the upgrade failed at every start and the old version
served on, run after run. So a committed version for which the start's look offers a newer one
is left out of the restore: the reconcile loads the newer one directly, handed the state the
committed one saved, and the committed version is offered beside it, from its site dir, so
that the reconcile falls back to it if the newer one fails to load. The plugins that require
such a plugin are left to the reconcile too, which loads them after it. Once the reconcile is
done, a replaced version is kept as a backup of its plugin, as a swap keeps it.

With ``allow_downgrade``, a committed version for which the look offers only lower ones is left
out the same way, but it is offered to the reconcile only once the lower version has failed
(offered beside it, the committed version, the higher, would win): the reconcile then plans
again and goes back to it, ``rolled_back``, as after a failed upgrade.

A committed plugin that no source offers any more (its wheel deleted, its distribution
uninstalled) is not restored either: the first reconcile would unload it at once, and an
application's manager keeps what it added (pytest's options). It is recorded as removed once
the reconcile is done (:meth:`StartUpgrades.settle`), as the reconcile would have. Not when the
look could not tell: a folder, a wheel or an index that cannot be read now holds what was
committed from it, a plugin installed explicitly is offered by the host itself, and one whose
file the look refused is left to the reconcile.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from ..discover.sources import Scan
from ..model.candidate import Candidate, CandidateKey, WheelOrigin, candidate_key, without_keys
from ..model.events import EventKind
from ..model.names import PluginName
from ..model.problems import Problem
from ..state.registry import Record
from .failures import candidate_event, skipped_for

if TYPE_CHECKING:
    from .changes import Changer
    from .journal import Journal

__all__ = ["StartUpgrades", "removed_while_down", "restore_records", "tell_removed"]


def removed_while_down(
    records: Sequence[Record],
    scan: Scan,
    held: Sequence[Path],
    manual: Collection[PluginName],
) -> frozenset[PluginName]:
    """The committed plugins that a start's look shows removed: offered by no source, as the
    reconcile would find them gone; but not one the look could not tell of.

    :param scan: what the start's look found.
    :param held: the folders, wheels and index caches that cannot be read now: what was
        committed from them keeps serving (the reconcile's ``unavailable``).
    :param manual: the plugins installed explicitly: the host offers them itself.
    """
    offered = {c.name for c in scan.candidates}
    refused = {p.plugin for p in scan.problems if p.plugin}  # a file of it refused now
    return frozenset(
        c.name
        for c in (r.candidate for r in records)
        if c.name not in offered
        and c.name not in manual
        and c.name not in refused
        and not (
            isinstance(c.origin, WheelOrigin) and any(c.origin.path.is_relative_to(h) for h in held)
        )
    )


def tell_removed(journal: Journal, records: Iterable[Record]) -> None:
    """A ``removed`` event, and its history entry, for each plugin a start found removed."""
    for record in records:
        journal.history.add(str(EventKind.REMOVED), record.candidate)
        journal.emit(candidate_event(EventKind.REMOVED, record.candidate))


@final
class StartUpgrades:
    """The committed records a start leaves to its first reconcile. Owned by the engine."""

    def __init__(
        self,
        passed_over: Callable[[Candidate], bool] = lambda candidate: False,
        *,
        allow_downgrade: bool = False,
    ) -> None:
        """:param passed_over: whether an offered candidate cannot replace a committed version
            (taken back by a rollback, quarantined, or its plugin pinned).
        :param allow_downgrade: whether a lower version on offer replaces a committed one.
        """
        self._passed_over = passed_over
        self._allow_downgrade = allow_downgrade
        self._records: dict[PluginName, Record] = {}
        self._state: dict[PluginName, Any] = {}
        # The upgrade (or downgrade) each plugin left out was taken to, by the reconcile.
        self._tried: dict[PluginName, CandidateKey] = {}
        # Left out for a lower version: the committed one is not offered until it failed.
        self._lower: set[PluginName] = set()
        self._removed: list[Record] = []  # removed while the host was down

    def choose(
        self,
        records: Sequence[Record],
        state: Mapping[PluginName, Any],
        look: Scan | None,
        held: Sequence[Path] = (),
        manual: Collection[PluginName] = (),
    ) -> list[Record]:
        """The records to restore now, in their order; the others wait for the reconcile.

        :param records: the committed active set, in load order (dependencies first).
        :param state: the state each committed plugin saved.
        :param look: what the start's look found (``None``: no look, every record restored).
        :param held: what the look could not read, and ``manual`` the plugins the host offers
            itself: see :func:`removed_while_down`.
        """
        # A start that failed left some.
        self._records, self._state, self._tried, self._lower = {}, {}, {}, set()
        if not records or look is None:
            self._removed = []
            return list(records)  # a first start: nothing committed, no candidate looked at
        removed = removed_while_down(records, look, held, manual)
        self._removed = [r for r in records if r.candidate.name in removed]
        # Of each plugin's distribution: another distribution giving the plugin's name is no
        # upgrade of it (a conflict, resolve/planning.py), and the committed one is restored.
        newest: dict[tuple[PluginName, str], Candidate] = {}
        for candidate in look.candidates:
            mine = (candidate.name, candidate.dist_key)
            best = newest.get(mine)
            if best is not None and candidate.version <= best.version:
                continue
            if not self._passed_over(candidate):
                newest[mine] = candidate
        # A plugin requiring one removed is left to the reconcile too, which names what it lacks.
        left: set[PluginName] = set(removed)
        for record in records:  # dependencies first: one pass finds dependents of dependents
            c = record.candidate
            other = newest.get((c.name, c.dist_key))
            if c.name in removed:
                continue
            if other is not None and other.version > c.version:
                left.add(c.name)
            elif other is not None and self._allow_downgrade and _lowers(c, other, records):
                left.add(c.name)
                self._lower.add(c.name)
            elif not left.isdisjoint(c.requires):
                left.add(c.name)
        self._records = {
            r.candidate.name: r
            for r in records
            if r.candidate.name in left and r.candidate.name not in removed
        }
        self._state = {name: state[name] for name in self._records if name in state}
        return [r for r in records if r.candidate.name not in left]

    @property
    def state(self) -> Mapping[PluginName, Any]:
        """The state the plugins left to the reconcile saved, by name, for their first load."""
        return self._state

    def returning(self, candidate: Candidate) -> bool:
        """Whether loading ``candidate`` goes back to a committed version after its upgrade
        failed: a rollback, as a failed swap at the start was (the plugin is ``rolled_back``)."""
        record = self._records.get(candidate.name)
        if record is None:
            return False
        if record.candidate.key != candidate.key:
            self._tried[candidate.name] = candidate.key
            return False
        return candidate.name in self._tried

    def fallen_back(
        self, offered: list[Candidate], failed: Callable[[CandidateKey], object]
    ) -> list[Candidate]:
        """``offered``, with each plugin whose upgrade failed at this start offered at its
        committed version alone: it goes back to the version it served, as a failed swap did
        before, not to a version between the two."""
        back = {name for name, key in self._tried.items() if failed(key) is not None}
        if not back:
            return offered
        committed = {name: self._records[name].candidate.key for name in back}
        return [c for c in offered if c.name not in back or c.key == committed[c.name]]

    def candidates(self) -> dict[PluginName, Candidate]:
        """The records left out, by plugin, and those removed: their shared dependencies stay
        until settled."""
        removed = {r.candidate.name: r.candidate for r in self._removed}
        return {**removed, **{name: r.candidate for name, r in self._records.items()}}

    def site_dirs(self) -> set[str]:
        """The site dirs of the records left out (kept while the reconcile may fall back) and
        of those removed (kept until their removal is committed)."""
        records = [*self._records.values(), *self._removed]
        return {r.site_dir for r in records if r.site_dir is not None}

    def offers(self, scan: Sequence[Candidate]) -> list[Candidate]:
        """The committed versions left out, offered beside ``scan`` (which may offer some of
        them still): each loads again from its site dir if what replaces it fails. An
        environment's distribution is not offered: its files are the upgrade's now. Nor, yet,
        one left out for a lower version (:meth:`back_due`)."""
        if not self._records:
            return []
        kept = [
            r.candidate
            for name, r in self._records.items()
            if r.site_dir is not None and name not in self._lower
        ]
        return without_keys(kept, set(map(candidate_key, scan)))

    def back_due(self, active: Collection[PluginName]) -> bool:
        """Whether a plugin left out for a lower version is not ``active`` after a plan of the
        start's reconcile (the lower version failed, or was not chosen): its committed version
        is offered from now on, and the reconcile plans again to load it."""
        if not self._lower:
            return False  # the common case, at every reconcile
        back = {name for name in self._lower if name not in active}
        self._lower -= back
        return bool(back)

    def settle(self, active: Mapping[PluginName, Candidate]) -> tuple[list[Record], list[Record]]:
        """Done with: the records replaced by another version now ``active``, to keep as
        backups (a version that came back, or a plugin that did not load, has none); and the
        records of the plugins removed while the host was down, to let go of (but one loaded
        since, by an explicit install)."""
        records, self._records, self._state = self._records, {}, {}
        removed, self._removed = self._removed, []
        self._tried.clear()
        self._lower.clear()
        replaced = [
            r
            for name, r in records.items()
            if name in active and active[name].key != r.candidate.key and r.site_dir is not None
        ]
        return replaced, [r for r in removed if r.candidate.name not in active]


def _lowers(committed: Candidate, other: Candidate, records: Sequence[Record]) -> bool:
    """Whether ``other`` may replace ``committed`` at a start: a lower version that every
    committed plugin requiring it accepts (else the reconcile's breaking-change policy decides,
    on the committed version restored)."""
    lower = other.version
    if lower >= committed.version:
        return False
    constraints = (r.candidate.requires.get(committed.name) for r in records)
    return all(c.allows(lower, prerelease=True) for c in constraints if c is not None)


def restore_records(
    changer: Changer,
    active: Mapping[PluginName, object],
    records: Sequence[Record],
    inherited: Mapping[PluginName, Any],
    revoked: Callable[[Candidate], Problem | None] | None,
) -> None:
    """Load ``records`` again, in their order, from their site dirs, each handed the state it
    saved: not a revoked version (never imported again, not even to be unloaded at once), a
    quarantined one, or one whose dependencies are not ``active``.

    :param active: the active plugins by name, as the loads go on.
    """
    kept = []
    for record in records:
        problem = revoked(record.candidate) if revoked else None
        if problem is None:
            kept.append(record)
        else:
            changer.fail(record.candidate, problem, None)
    committed = {r.candidate.name for r in kept}
    try:
        for index, record in enumerate(kept):
            c = record.candidate
            if changer.held(c):
                continue
            missing = [d for d in c.requires if d not in active]
            if missing:
                changer.fail(c, skipped_for(c, missing[0]), None)
                continue
            upcoming = (r.candidate for r in itertools.islice(kept, index, None))
            changer.import_ahead(upcoming, committed)
            changer.change([c.name], {c.name: c}, inherited=inherited, restoring=True)
    finally:
        changer.discard_ahead()
