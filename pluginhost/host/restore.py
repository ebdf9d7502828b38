"""A start's restore of the committed plugins, and the versions it leaves out: those a newer
version offered replaces.

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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, final

from ..model.candidate import Candidate, CandidateKey, candidate_key, without_keys
from ..model.names import PluginName
from ..model.problems import Problem
from ..model.versions import Version
from ..state.registry import Record
from .failures import skipped_for

if TYPE_CHECKING:
    from .changes import Changer

__all__ = ["StartUpgrades", "restore_records"]


@final
class StartUpgrades:
    """The committed records a start leaves to its first reconcile. Owned by the engine."""

    def __init__(self) -> None:
        self._records: dict[PluginName, Record] = {}
        self._state: dict[PluginName, Any] = {}
        # The upgrade each plugin left out was taken to, by the reconcile.
        self._tried: dict[PluginName, CandidateKey] = {}

    def choose(
        self,
        records: Sequence[Record],
        offered: Iterable[Candidate],
        state: Mapping[PluginName, Any],
        *,
        passed_over: Callable[[Candidate], bool],
    ) -> list[Record]:
        """The records to restore now, in their order; the others wait for the reconcile.

        :param records: the committed active set, in load order (dependencies first).
        :param offered: what the start's look found.
        :param state: the state each committed plugin saved.
        :param passed_over: whether an offered candidate cannot replace a committed version
            (taken back by a rollback, quarantined, or its plugin pinned).
        """
        self._records, self._state, self._tried = {}, {}, {}  # a start that failed left some
        if not records:
            return []  # a first start: nothing committed, no candidate looked at
        newest: dict[PluginName, Version] = {}
        for candidate in offered:
            best = newest.get(candidate.name)
            if (best is None or candidate.version > best) and not passed_over(candidate):
                newest[candidate.name] = candidate.version
        left: set[PluginName] = set()
        for record in records:  # dependencies first: one pass finds dependents of dependents
            c = record.candidate
            if (c.name in newest and newest[c.name] > c.version) or not left.isdisjoint(c.requires):
                left.add(c.name)
        self._records = {r.candidate.name: r for r in records if r.candidate.name in left}
        self._state = {name: state[name] for name in left if name in state}
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
        """The records left out, by plugin: their shared dependencies stay until settled."""
        return {name: r.candidate for name, r in self._records.items()}

    def site_dirs(self) -> set[str]:
        """The site dirs of the records left out: kept while the reconcile may fall back."""
        return {r.site_dir for r in self._records.values() if r.site_dir is not None}

    def offers(self, scan: Sequence[Candidate]) -> list[Candidate]:
        """The committed versions left out, offered beside ``scan`` (which may offer some of
        them still): each loads again from its site dir if what replaces it fails. An
        environment's distribution is not offered: its files are the upgrade's now."""
        if not self._records:
            return []
        kept = [r.candidate for r in self._records.values() if r.site_dir is not None]
        return without_keys(kept, set(map(candidate_key, scan)))

    def settle(self, active: Mapping[PluginName, Candidate]) -> list[Record]:
        """Done with: the records replaced by another version now ``active``, to keep as
        backups (a version that came back, or a plugin that did not load, has none)."""
        records, self._records, self._state = self._records, {}, {}
        self._tried.clear()
        return [
            r
            for name, r in records.items()
            if name in active and active[name].key != r.candidate.key and r.site_dir is not None
        ]


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
