"""The ledger: everything the engine knows of the plugins, in one value it snapshots and restores.

A change that fails after it touched the ledger (a commit the disk refused, say) puts back the
copy taken before it, so no field can be forgotten by the undo.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from itertools import compress
from pathlib import Path
from typing import Any

import attrs

from ..discover.sources import Scan
from ..model.candidate import (
    ONE_BY_ONE,
    Candidate,
    CandidateKey,
    WheelOrigin,
    candidate_key,
    not_among,
    outside_mask,
    without_keys,
)
from ..model.names import PluginName
from ..model.problems import Problem
from ..model.status import PluginInfo, PluginState
from ..resolve.planning import pin
from ..state.kept import Kept
from ..state.registry import Record, Registry
from ..swap.members import Active
from .view import active_info, failed_info

__all__ = ["Ledger", "install_scan"]

_CANDIDATE = operator.attrgetter("candidate")


@attrs.define
class Ledger:
    """The engine's bookkeeping; only the engine holds one.

    :param active: each active plugin.
    :param order: the active plugins in load order.
    :param failed: plugins that are not active, and why.
    :param backups: earlier versions of each plugin, most recent first.
    :param rolled_back: active plugins serving a version rolled back to.
    :param state: state saved for each plugin, as the registry keeps it.
    :param manual: versions installed with ``host.install()``: offered even without a wheel in
        a watched folder.
    :param pinned: plugins held at their ``manual`` version: other versions on offer are not
        chosen until the plugin is unpinned.
    :param removed: plugins removed with ``host.remove()``, kept out until installed again.
    :param rejected: versions rolled back from, kept out until their bytes change.
    """

    active: dict[PluginName, Active] = attrs.Factory(dict)
    order: list[PluginName] = attrs.Factory(list)
    failed: dict[PluginName, PluginInfo] = attrs.Factory(dict)
    backups: dict[PluginName, tuple[Record, ...]] = attrs.Factory(dict)
    rolled_back: set[PluginName] = attrs.Factory(set)
    state: dict[PluginName, Any] = attrs.Factory(dict)
    manual: dict[PluginName, Candidate] = attrs.Factory(dict)
    pinned: set[PluginName] = attrs.Factory(set)
    removed: set[PluginName] = attrs.Factory(set)
    rejected: set[CandidateKey] = attrs.Factory(set)
    # The records of the last registry(), each kept while it says the same (see _record_of):
    # a commit among a thousand plugins made a thousand records to change one.
    _records: Kept[PluginName, Active, Record] = attrs.field(
        factory=Kept, init=False, repr=False, eq=False
    )
    # The explicit installs and pins the kept records were made with.
    _recorded_pins: tuple[dict[PluginName, Candidate], frozenset[PluginName]] = attrs.field(
        factory=lambda: ({}, frozenset()), init=False, repr=False, eq=False
    )

    def snapshot(self) -> Ledger:
        """A copy that later changes to this ledger leave as it is."""
        return Ledger(
            active=dict(self.active),
            order=list(self.order),
            failed=dict(self.failed),
            backups=dict(self.backups),
            rolled_back=set(self.rolled_back),
            state=dict(self.state),
            manual=dict(self.manual),
            pinned=set(self.pinned),
            removed=set(self.removed),
            rejected=set(self.rejected),
        )

    def restore(self, snapshot: Ledger) -> None:
        """Put back what :meth:`snapshot` took; the snapshot is not to be used again."""
        for field in attrs.fields(Ledger):
            setattr(self, field.name, getattr(snapshot, field.name))

    def set_pin(self, name: PluginName, manual: Candidate | None, pinned: bool) -> None:
        """Put ``name``'s explicit install and pin as they were (``None``: no install)."""
        if manual is None:
            self.manual.pop(name, None)
        else:
            self.manual[name] = manual
        if pinned:
            self.pinned.add(name)
        else:
            self.pinned.discard(name)

    def is_active(self, candidate: Candidate) -> bool:
        """Whether exactly these bytes of ``candidate`` serve now."""
        active = self.active.get(candidate.name)
        return active is not None and active.candidate.key == candidate.key

    def not_serving(
        self, order: Sequence[PluginName], chosen: Mapping[PluginName, Candidate]
    ) -> list[int]:
        """The indexes in ``order`` of the plugins whose ``chosen`` bytes do not serve now.

        Sifted in C: a plan orders every plugin, a thousand at each swap, of which few change.
        """
        serving = list(map(_CANDIDATE, self.active.values()))
        plan = list(map(chosen.__getitem__, order))
        # The very objects that serve are passed over by identity; the rest, mostly what
        # changes, compared by key: one by one when few, else in C.
        rest = list(compress(range(len(plan)), outside_mask(plan, serving)))
        if len(rest) > ONE_BY_ONE:
            keys = set(map(candidate_key, serving))
            return [i for i in rest if plan[i].key not in keys]
        return [i for i in rest if not self.is_active(plan[i])]

    def record(self, active: Active) -> Record:
        """The registry record of an active plugin."""
        site_dir, manual, pinned = self._bookkeeping(active)
        return Record(active.candidate, site_dir, active.top_level, manual, pinned)

    def _bookkeeping(self, active: Active) -> tuple[str | None, bool, bool]:
        """What a record says of ``active`` beside its candidate and names: its site dir's
        name, whether it was installed explicitly, and whether it is pinned."""
        site = active.site_dir
        manual = self.manual.get(active.name) == active.candidate
        return (
            (site.name if site is not None else None),
            manual,
            manual and active.name in self.pinned,
        )

    def push_backup(self, record: Record, keep: int) -> list[Record]:
        """Keep ``record`` as the most recent backup of its plugin.

        :returns: the backups beyond ``keep``, dropped (their site dirs go after the commit).
        """
        name = record.candidate.name
        others = [r for r in self.backups.get(name, ()) if r.candidate.key != record.candidate.key]
        kept = [record, *others]
        self.backups[name] = tuple(kept[:keep])
        return kept[keep:]

    def pop_backup(self, name: PluginName) -> Record:
        """Take the most recent backup of ``name`` off its list."""
        first, *rest = self.backups[name]
        self.backups[name] = tuple(rest)
        return first

    def activate(self, name: PluginName, active: Active) -> None:
        """``active`` serves as ``name`` now, and is none of its backups. (A rollback by
        withdrawal, a release yanked or deleted on the index, made the backup it went back to
        serve and left it listed: ``rollback()`` then went back to the version serving.)"""
        self.active[name] = active
        key = active.candidate.key
        if name in self.backups:
            self.backups[name] = tuple(r for r in self.backups[name] if r.candidate.key != key)

    def push_back(self, record: Record) -> None:
        """Put a backup taken off by :meth:`pop_backup` back in first place."""
        name = record.candidate.name
        self.backups[name] = (record, *self.backups.get(name, ()))

    def registered_by(self, name: str) -> str | None:
        """The active plugin with an entry point registered as ``name``, for people."""
        for active in self.active.values():
            if any(ep.name == name for ep in active.candidate.entry_points):
                return active.candidate.display
        return None

    def candidates(self) -> dict[PluginName, Candidate]:
        """The candidate of each active plugin."""
        return dict(zip(self.active.keys(), map(_CANDIDATE, self.active.values()), strict=True))

    def pool(
        self,
        offered: Sequence[Candidate],
        *,
        allow_downgrade: bool,
        dropped: Collection[PluginName] = (),
    ) -> list[Candidate]:
        """What the resolver chooses from: the offers, pins applied, and the active versions.

        While any source still offers a plugin, its active version stays a candidate unless
        downgrades are allowed: deleting the newest wheel then changes nothing rather than
        unloading a plugin whose older wheels the policy refuses.

        :param dropped: plugins whose active version is not kept (its index took it back).
        """
        # Sifted in C: a thousand candidates at each change. An active version offered is
        # mostly the very object offered, passed over by identity; one read from the registry
        # is compared by its key.
        kept = [] if allow_downgrade else not_among(map(_CANDIDATE, self.active.values()), offered)
        if dropped:
            kept = [c for c in kept if c.name not in dropped]
        if kept:
            kept = without_keys(kept, set(map(candidate_key, offered)))
        pool = [*offered, *kept]
        return pin(pool, {n: self.manual[n] for n in self.pinned if n in self.manual})

    def held_in(self, folders: Sequence[Path]) -> list[Candidate]:
        """Active plugins whose wheels lie in ``folders``."""
        if not folders:
            return []  # every folder readable: nothing held, and no look at each plugin
        return [
            a.candidate
            for a in self.active.values()
            if isinstance(a.candidate.origin, WheelOrigin)
            and any(a.candidate.origin.path.is_relative_to(f) for f in folders)
        ]

    def newer_on_offer(self, candidate: Candidate, offers: Iterable[Candidate]) -> bool:
        """Whether a version newer than ``candidate`` serves or is on offer."""
        active = self.active.get(candidate.name)
        same = [c for c in offers if c.name == candidate.name]
        if active is not None:
            same.append(active.candidate)
        return any(c.version > candidate.version for c in same)

    def mark_failed(
        self,
        chosen: Mapping[PluginName, Candidate],
        pool: Sequence[Candidate],
        problems: Iterable[Problem],
    ) -> None:
        """List as failed each plugin a problem is about and no version of which is chosen.

        A refused old version of a plugin whose newer version loads is worth reporting, not a
        failed state.
        """
        self.failed = {n: i for n, i in self.failed.items() if n not in chosen}
        for problem in problems:
            name = PluginName(problem.plugin or "")
            if not problem.plugin or name in chosen or name in self.active:
                continue
            same = [c for c in pool if c.name == name]
            match = [c for c in same if c.version_text == problem.version] or same
            self.failed[name] = failed_info(name, match[0] if match else None, problem)

    def sites_in_use(self) -> set[str]:
        """The site dirs that the active plugins and the backups name."""
        active = {a.site_dir.name for a in self.active.values() if a.site_dir is not None}
        return active | {r.site_dir for rs in self.backups.values() for r in rs if r.site_dir}

    def known(self, candidate: Candidate) -> Iterator[Record]:
        """Records of installed copies of ``candidate``'s bytes: active, or a backup."""
        active = self.active.get(candidate.name)
        if active is not None and active.candidate.key == candidate.key:
            yield self.record(active)
        for record in self.backups.get(candidate.name, ()):
            if record.candidate.key == candidate.key:
                yield record

    def registry(self) -> Registry:
        """The registry document for this ledger, with the state saved so far."""
        order = list(self.order)
        actives = list(map(self.active.__getitem__, order))
        # A record says what its Active says (a frozen value: the same object, the same
        # record) and whether the plugin was installed explicitly and pinned: the plugins whose
        # install or pin changed are recorded again.
        manual, pinned = dict(self.manual), frozenset(self.pinned)
        last_manual, last_pinned = self._recorded_pins
        again = set(last_pinned ^ pinned)
        if manual != last_manual:
            again.update(name for name, _ in manual.items() ^ last_manual.items())
        self._recorded_pins = (manual, pinned)
        records = self._records.results(order, actives, self._record_of, again)
        return Registry(
            active=tuple(records),
            history=dict(filter(operator.itemgetter(1), self.backups.items())),
            state=dict(self.state),
            removed=tuple(sorted(self.removed)),
            rejected=tuple(sorted(self.rejected)),
            held=_held_records(manual, pinned, set(order)),
        )

    def info(
        self, name: PluginName, draining: Collection[PluginName], last: PluginInfo | None
    ) -> PluginInfo:
        """The snapshot of active plugin ``name`` (``last``: its previous one, reused if equal)."""
        active = self.active[name]
        state = PluginState.ACTIVE
        if name in draining:
            state = PluginState.DRAINING
        elif name in self.rolled_back:
            state = PluginState.ROLLED_BACK
        pinned = name in self.pinned and self.manual.get(name) == active.candidate
        return active_info(active, state, pinned, last)

    def marked(self, draining: Collection[PluginName]) -> frozenset[PluginName]:
        """The plugins whose :meth:`info` depends on more than their ``Active``."""
        return frozenset(draining) | self.rolled_back | self.pinned

    def versions_text(self) -> str:
        """Every active version, as the crash points of a commit name them."""
        return ",".join(a.candidate.version_text for a in self.active.values())

    def _record_of(self, _name: PluginName, active: Active) -> Record:
        return self.record(active)

    def forget_records(self) -> None:
        """Let go of the records kept between two registry writes: they hold each plugin's
        :class:`Active`, and so its modules, until the next write, which a stopped host never
        makes (each stopped host kept its plugins' modules alive for as long as it was)."""
        self._records.forget()

    def restored_from(self, registry: Registry) -> None:
        """Take the committed bookkeeping of ``registry``, before its plugins load again."""
        for name, records in registry.history.items():
            self.backups[name] = tuple(records)
        self.removed.update(registry.removed)
        self.rejected.update(registry.rejected)
        for record in (*registry.active, *registry.held):
            if record.manual:
                self.manual[record.candidate.name] = record.candidate
                if record.pinned:
                    self.pinned.add(record.candidate.name)


def _held_records(
    manual: dict[PluginName, Candidate], pinned: frozenset[PluginName], active: set[PluginName]
) -> tuple[Record, ...]:
    """The explicit installs of plugins not ``active`` in the registry written (an operator
    disabled one, say): a restart would forget them, and ``enable`` find nothing to load."""
    return tuple(
        Record(candidate, None, (), manual=True, pinned=name in pinned)
        for name, candidate in sorted(manual.items())
        if name not in active
    )


def install_scan(
    scan: Scan, candidate: Candidate, serving: Candidate | None, *, removed: bool
) -> Scan:
    """What ``install(candidate)`` chooses from, so that a refused install leaves its plugin as
    it was: the version serving stays offered (with downgrades allowed it would not be, and
    the sources' older version took its place), and a plugin an operator removed stays out
    (only ``candidate``, offered by the install itself, may bring it back)."""
    if removed:
        kept = tuple(c for c in scan.candidates if c.name != candidate.name)
        return attrs.evolve(scan, candidates=kept)
    if serving is not None and serving.key != candidate.key:
        return scan + Scan(candidates=(serving,))
    return scan
