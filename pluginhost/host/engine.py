"""The engine: turns plans into changes of the active set, one transition at a time.

It owns the :class:`~.ledger.Ledger` (what is active, in which order, what failed and why, the
backups kept for rollback) and is only ever called with the host's lock held. The host asks it
for changes through its methods and reads only its :attr:`Engine.view`, which the engine
replaces once each change is complete.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pluggy

from ..discover.sources import Scan
from ..discover.wheel import WheelInfo
from ..install.sites import Placed, SiteDirs
from ..load.bounded import bounded
from ..load.collisions import ModuleOwners
from ..load.modules import PluginFinder
from ..model.candidate import Candidate, CandidateKey, WheelOrigin
from ..model.errors import (
    ActivationError,
    HostStateError,
    InstallError,
    PluginHostError,
    ResolutionError,
    StoreError,
)
from ..model.events import Event, EventKind
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from ..model.status import PluginInfo, PluginState
from ..resolve.planning import drop_conflicts, pin, plan
from ..resolve.requirements import support_wheels_for
from ..resolve.resolution import Plan
from ..state.faults import crash_point
from ..state.registry import Record, Registry
from ..swap.hooks import call_hook
from ..swap.members import Active, Member
from ..swap.retirement import Retirement
from ..swap.transition import Transition
from .failures import (
    REFUSALS,
    candidate_event,
    detached,
    load_problem,
    refusal,
    refusal_event,
    rollback_failed,
    skipped_for,
)
from .ledger import Ledger
from .settings import Settings
from .view import History, View, failed_info, plugin_info

__all__ = ["Engine", "Outcome"]

logger = logging.getLogger("pluginhost")


@attrs.frozen
class Outcome:
    """What a reconcile did that its caller may need to answer for.

    :param failures: the error of each candidate whose change failed, by its key.
    """

    failures: Mapping[CandidateKey, PluginHostError] = MappingProxyType({})


class Engine:
    """Applies plans; see the module docstring."""

    def __init__(
        self,
        config: Settings,
        pm: pluggy.PluginManager,
        finder: PluginFinder,
        host: object,
        emit: Callable[[Event], None],
        persist: Callable[[Registry], None],
    ) -> None:
        self.config = config
        self._emit = emit
        self._persist = persist
        self._ledger = Ledger()
        self._sites = SiteDirs(config.site_root, config.staging_root, config.limits)
        self._owners = ModuleOwners(self._providers)
        self._transition = Transition(
            pm, finder, host, self._install, self._owners.check, config.timeouts
        )
        self._history = History()
        self._view = View()
        self._plan: Plan | None = None
        self._problems: list[Problem] = []
        self._draining: set[PluginName] = set()
        self._support: tuple[WheelInfo, ...] = ()
        # The same bytes failed before: trying them again would fail the same way.
        self._load_failures: dict[CandidateKey, Problem] = {}
        # Installed copies known from the registry and from rollbacks, beside the ledger's.
        self._records: dict[CandidateKey, Record] = {}
        self._seen: set[CandidateKey] = set()
        self._refused: set[Problem] = set()
        self._failures: dict[CandidateKey, PluginHostError] = {}
        # Each active plugin's snapshot, in load order, as last published.
        self._infos: dict[PluginName, PluginInfo] = {}
        # Within _loading(): loads that await their one commit at the end of the block.
        self._batch: list[Candidate] | None = None
        self._uncommitted = False
        self._doomed: list[Record] = []
        self._retry = False

    @property
    def view(self) -> View:
        """The plugins as of the last completed change (safe to read without the host lock)."""
        return self._view

    def wants_retry(self) -> bool:
        """Whether the file system refused a change (disk full, read-only) since the last
        reconcile: the same sources may well go through once it recovers."""
        return self._retry

    # -- what the host asks for -----------------------------------------------------------------

    def reconcile(self, scan: Scan, unavailable: Sequence[Path] = ()) -> Outcome:
        """Make the active set what the candidates at hand and the policy call for.

        :param unavailable: watched folders (or wheels) that cannot be read or trusted now:
            the plugins loaded from them stay offered, so they keep serving until then.
        :returns: the errors of the changes that failed.
        """
        self._failures = {}
        self._support = scan.support
        self._retry = False
        ledger = self._ledger
        present = [
            c
            for c in (*scan.candidates, *ledger.manual.values(), *self._from(unavailable))
            if c.name not in ledger.removed
        ]
        offered = [c for c in present if c.key not in ledger.rejected]
        self._announce(offered)
        offered, conflicts = drop_conflicts(offered, self._active_candidates())
        # A plugin offered only with conflicting bytes, or only in a version rolled back from,
        # is still offered: it stays loaded.
        offered_names = {c.name for c in present}
        for name in reversed(list(ledger.order)):
            if name not in offered_names and name in ledger.active:
                self._unload(name, removed=True)
        pool = self._pool(offered)
        outlook = plan(
            pool,
            self._active_candidates(),
            api_version=self.config.api,
            policy=self.config.policy,
            breaking_change=self.config.breaking_change,
        )
        for name in outlook.victims:
            if name in ledger.active:
                self._unload(name, removed=False)
        self._plan = outlook.plan
        self._problems = [*scan.problems, *conflicts, *outlook.plan.problems, *outlook.problems]
        self._mark_failed(pool, [*outlook.plan.problems, *scan.problems, *outlook.problems])
        self._report_refusals(scan.problems)
        with self._loading():
            self._apply(outlook.plan)
        self._publish()
        return Outcome(MappingProxyType(dict(self._failures)))

    def install(self, candidate: Candidate, scan: Scan, unavailable: Sequence[Path]) -> PluginInfo:
        """Load ``candidate`` (installed explicitly), or update its plugin to it.

        A version older than one on offer is pinned when the policy allows downgrades: it
        serves until :meth:`unpin`, whatever newer wheels the sources offer.

        :raises PluginHostError: the error of the step that failed, or why it was not chosen.
        """
        ledger = self._ledger
        name = candidate.name
        before = (ledger.manual.get(name), name in ledger.pinned)
        ledger.manual[name] = candidate
        if self._newer_on_offer(candidate, scan) and self.config.policy.allow_downgrade:
            ledger.pinned.add(name)
        else:
            ledger.pinned.discard(name)
        ledger.removed.discard(name)
        ledger.rejected.discard(candidate.key)
        self._load_failures.pop(candidate.key, None)
        outcome = self.reconcile(scan, unavailable)
        if ledger.is_active(candidate):
            return self._view.plugins[name]
        if before[1] or name in ledger.pinned:
            # A pin that did not take leaves the plugin where it was.
            self._restore_pin(name, *before)
        raise outcome.failures.get(candidate.key) or refusal(candidate, self._problems)

    def unpin(self, name: PluginName, scan: Scan, unavailable: Sequence[Path]) -> None:
        """Let the sources' versions of ``name`` compete again.

        :raises HostStateError: when the plugin is not pinned.
        """
        if name not in self._ledger.pinned:
            raise HostStateError(f"plugin {name!r} is not pinned", plugin=name)
        self._ledger.pinned.discard(name)
        self.commit()
        self.reconcile(scan, unavailable)

    def remove(self, name: PluginName) -> None:
        """Unload ``name`` and the plugins that need it; it stays out until installed again.

        :raises HostStateError: when no plugin of that name is active.
        :raises StoreError: when the registry cannot be written; nothing was removed.
        """
        ledger = self._ledger
        if name not in ledger.active:
            raise HostStateError(f"plugin {name!r} is not active", plugin=name)
        # What is undone by hand, not by a snapshot: a copy of the ledger would hold the
        # plugin's implementations, and the purge would find its modules still referenced.
        manual, pinned = ledger.manual.pop(name, None), name in ledger.pinned
        ledger.removed.add(name)
        ledger.pinned.discard(name)
        try:
            self._unload(name, removed=False)
        except StoreError:
            # Not committed, so not removed: it serves on, and stays wanted.
            ledger.removed.discard(name)
            self._restore_pin(name, manual, pinned)
            raise
        finally:
            self._publish()

    def rollback(self, name: PluginName) -> PluginInfo:
        """Go back to the most recent backup of ``name``.

        :raises HostStateError: when the plugin is not active or has no backup.
        :raises ActivationError: when the rollback itself fails (the current version stays).
        """
        ledger = self._ledger
        if name not in ledger.active:
            raise HostStateError(f"plugin {name!r} is not active", plugin=name)
        if not ledger.backups.get(name):
            raise HostStateError(
                f"plugin {name!r} has no earlier version to roll back to", plugin=name
            )
        record = ledger.pop_backup(name)
        # Only the candidate and the record: a reference to the active plugin would keep the
        # version rolled back from alive, and the drain waiting for it.
        current = ledger.active[name].candidate
        current_record = ledger.record(ledger.active[name])
        manual = ledger.manual.get(name)
        # The version rolled back from is rejected (kept out until its bytes change or it is
        # installed again, across restarts too) before the change, so that its one commit
        # records the whole rollback. A pin moves to the version rolled back to, or a restart
        # would find the pinned version rejected and the plugin offered by nothing.
        self._records[record.candidate.key] = record
        ledger.rejected.add(current.key)
        if manual == current:
            ledger.manual[name] = record.candidate
        failure = self._change([name], {name: record.candidate}, rollback=True)
        if failure is not None:
            ledger.push_back(record)
            ledger.rejected.discard(current.key)
            if manual is not None:
                ledger.manual[name] = manual
            self._publish()
            raise rollback_failed(record.candidate, current, failure)
        # Nothing names the version rolled back from any more.
        self._sites.delete(current_record, self._ledger.sites_in_use())
        self._publish()
        return self._view.plugins[name]

    def restore(self, registry: Registry) -> None:
        """Load exactly the committed active set, from its site dirs, without reinstalling."""
        self._ledger.restored_from(registry)
        for record in registry.active:
            self._records[record.candidate.key] = record
        inherited = dict(registry.state) if self.config.persist_state else {}
        # Kept in every later commit, so a crash before the next stop does not lose it.
        self._ledger.state.update(inherited)
        with self._loading():
            self._restore_each(registry, inherited)
        self._publish()

    def prune_sites(self) -> list[str]:
        """Delete site dirs that neither the active set nor a backup names (left by a crash
        between an install and its commit); returns their names."""
        return self._sites.prune(self._ledger.sites_in_use())

    def halt(self, *, save_state: bool) -> None:
        """Unload every plugin, dependents first, without committing: the next start restores
        the active set.

        :param save_state: commit each plugin's exported state first.
        """
        if save_state:
            self.commit()
        for name in reversed(list(self._ledger.order)):
            if name in self._ledger.active:
                self._unload(name, removed=False, commit=False)
        self._publish()

    def commit(self) -> None:
        """Write the registry: the active set is committed once this returns.

        With ``persist_state``, each active plugin's state is exported into the same document,
        so a crash loses no more than what changed since the last commit.
        """
        versions = _versions_text(self._ledger)
        crash_point("while_persisting", versions)
        if self.config.persist_state:
            for name in self._ledger.order:
                self._save_state(name)
        self._persist(self._ledger.registry())
        crash_point("after_persisting", versions)

    # -- reconciling ---------------------------------------------------------------------------

    def _active_candidates(self) -> dict[PluginName, Candidate]:
        return {n: a.candidate for n, a in self._ledger.active.items()}

    def _providers(self) -> Iterator[tuple[PluginName, Sequence[str]]]:
        return ((n, a.top_level) for n, a in self._ledger.active.items())

    def _pool(self, offered: Sequence[Candidate]) -> list[Candidate]:
        """What the resolver chooses from: the offers, pins applied, and the active versions.

        While any source still offers a plugin, its active version stays a candidate unless
        downgrades are allowed: deleting the newest wheel then changes nothing rather than
        unloading a plugin whose older wheels the policy refuses.
        """
        ledger = self._ledger
        keys = {c.key for c in offered}
        kept = () if self.config.policy.allow_downgrade else ledger.active.values()
        pool = [*offered, *(a.candidate for a in kept if a.candidate.key not in keys)]
        return pin(pool, {n: ledger.manual[n] for n in ledger.pinned if n in ledger.manual})

    def _newer_on_offer(self, candidate: Candidate, scan: Scan) -> bool:
        active = self._ledger.active.get(candidate.name)
        offers = [c for c in scan.candidates if c.name == candidate.name]
        if active is not None:
            offers.append(active.candidate)
        return any(c.version > candidate.version for c in offers)

    def _restore_pin(self, name: PluginName, manual: Candidate | None, pinned: bool) -> None:
        ledger = self._ledger
        if manual is None:
            ledger.manual.pop(name, None)
        else:
            ledger.manual[name] = manual
        if pinned:
            ledger.pinned.add(name)
        else:
            ledger.pinned.discard(name)

    def _from(self, folders: Sequence[Path]) -> list[Candidate]:
        """Active plugins whose wheels lie in ``folders``."""
        return [
            a.candidate
            for a in self._ledger.active.values()
            if isinstance(a.candidate.origin, WheelOrigin)
            and any(a.candidate.origin.path.is_relative_to(f) for f in folders)
        ]

    def _announce(self, candidates: Iterable[Candidate]) -> None:
        """A ``discovered`` event for each candidate seen for the first time."""
        for c in candidates:
            if c.key not in self._seen:
                self._seen.add(c.key)
                self._emit(candidate_event(EventKind.DISCOVERED, c))

    def _report_refusals(self, problems: Sequence[Problem]) -> None:
        """An event for each file refused by a look at the sources, once while it stays there."""
        current = {p for p in problems if p.kind in REFUSALS}
        for problem in sorted(current - self._refused, key=lambda p: (p.path or "", p.message)):
            self._emit(refusal_event(problem))
        # Forgotten once gone, so that the same bad file dropped again is reported again.
        self._refused = current

    def _mark_failed(self, pool: Sequence[Candidate], problems: Iterable[Problem]) -> None:
        # A problem marks a plugin failed only when no version of it is chosen: a refused old
        # version of a plugin whose newer version loads is worth reporting, not a failed state.
        assert self._plan is not None
        chosen = self._plan.chosen
        ledger = self._ledger
        ledger.failed = {n: i for n, i in ledger.failed.items() if n not in chosen}
        for problem in problems:
            name = PluginName(problem.plugin or "")
            if not problem.plugin or name in chosen or name in ledger.active:
                continue
            same = [c for c in pool if c.name == name]
            match = [c for c in same if c.version_text == problem.version] or same
            ledger.failed[name] = failed_info(name, match[0] if match else None, problem)

    # -- applying a plan -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _loading(self) -> Iterator[None]:
        """Commit plugins newly loaded in this block once, at its end.

        One registry write (two fsyncs, the whole set encoded) per plugin made a start with
        hundreds of plugins take seconds. A crash before the end loses only loads, which the
        next start repeats from the same sources; updates and unloads still commit at once.
        """
        self._batch = []
        try:
            yield
        finally:
            batched, self._batch = self._batch, None
            if self._uncommitted:
                self._uncommitted = False
                self._commit_loads(batched)

    def _commit_loads(self, batched: Sequence[Candidate]) -> None:
        """Commit the loads of a batch; if that fails, unload the plugins loaded anew.

        Restored plugins stay: the registry already names them. The others are not what a
        restart would load, so, as for an update, what is not committed does not serve.
        """
        try:
            self.commit()
        except StoreError as exc:
            logger.error("plugins loaded but not committed, unloaded again: %s", exc)
            self._retry = True
            for candidate in reversed(batched):
                if self._ledger.is_active(candidate):
                    record = self._ledger.record(self._ledger.active[candidate.name])
                    self._unload(candidate.name, removed=False, commit=False)
                    self._sites.delete(record, self._ledger.sites_in_use())
                self._fail(candidate, load_problem(candidate, exc), exc)

    def _apply(self, plan: Plan) -> None:
        """Load, update or re-import what the plan chooses, in its order."""
        ledger = self._ledger
        try:
            for index, name in enumerate(plan.order):
                candidate = plan.chosen[name]
                # No local reference to the active plugin here: it would outlive the change
                # below and keep the replaced version's modules alive.
                if ledger.is_active(candidate):
                    continue
                known = self._load_failures.get(candidate.key)
                if known is not None:
                    self._refile(candidate, known)
                    continue
                missing = [
                    d
                    for d in candidate.manifest.requires
                    if d not in ledger.active and d in plan.chosen
                ]
                if missing:
                    self._fail(candidate, skipped_for(candidate, missing[0]), None)
                    continue
                upcoming = (plan.chosen[n] for n in itertools.islice(plan.order, index, None))
                self._import_ahead(upcoming, plan.chosen)
                self._change([name], {name: candidate})
        finally:
            self._transition.discard_ahead()

    def _refile(self, candidate: Candidate, known: Problem) -> None:
        """File again the failure of bytes that failed before, and keep the plugin listed."""
        if known not in self._problems:
            self._problems.append(known)
        if candidate.name not in self._ledger.active:
            self._ledger.failed[candidate.name] = failed_info(candidate.name, candidate, known)

    def _restore_each(self, registry: Registry, inherited: Mapping[PluginName, Any]) -> None:
        committed = {r.candidate.name for r in registry.active}
        try:
            for index, record in enumerate(registry.active):
                c = record.candidate
                missing = [d for d in c.manifest.requires if d not in self._ledger.active]
                if missing:
                    self._fail(c, skipped_for(c, missing[0]), None)
                    continue
                upcoming = (r.candidate for r in itertools.islice(registry.active, index, None))
                self._import_ahead(upcoming, committed)
                self._change([c.name], {c.name: c}, inherited=inherited, restoring=True)
        finally:
            self._transition.discard_ahead()

    def _import_ahead(self, upcoming: Iterable[Candidate], planned: Collection[str]) -> None:
        """Import the run of new plugins about to load, at once (see :mod:`..load.ahead`).

        The run starts with the next plugin and ends before the first that is not new, not
        installed yet, needs a plugin of the run or still to load (``planned`` and not
        active), or shares a top-level name with one of the run. Nothing happens when the next
        plugin was imported ahead already, or when the run is a single plugin.
        """
        run: list[Member] = []
        taken: set[str] = set()
        active = self._ledger.active
        for candidate in upcoming:
            if self._transition.is_ahead(candidate):
                break
            placed = self._placed_new(candidate)
            needs = (*candidate.manifest.requires, *candidate.manifest.optional)
            if (
                placed is None
                or candidate.key in self._load_failures
                or any(d in planned and d not in active for d in needs)
                or not taken.isdisjoint(placed[1])
            ):
                break
            taken.update(placed[1])
            run.append(Member(candidate, None, site_dir=placed[0], top_level=placed[1]))
        if len(run) > 1:
            self._transition.import_ahead(run)

    def _placed_new(self, candidate: Candidate) -> Placed | None:
        """Where a new plugin imports from, if it needs no install and passes the checks."""
        # A wheel still to install is installed in its own transition, which may fail.
        if candidate.name in self._ledger.active:
            return None
        placed = self._sites.placed(candidate, self._known(candidate))
        if placed is None:
            return None
        try:
            self._owners.check(candidate, placed[1], placed[0], {candidate.name})
        except ResolutionError:
            return None  # refused in its own transition, which says why
        return placed

    # -- one change --------------------------------------------------------------------------

    def _change(
        self,
        names: Sequence[PluginName],
        targets: Mapping[PluginName, Candidate],
        *,
        inherited: Mapping[PluginName, Any] | None = None,
        rollback: bool = False,
        restoring: bool = False,
    ) -> PluginHostError | None:
        """Take ``names`` (and every active plugin depending on them) to ``targets``.

        Dependents not named in ``targets`` are re-imported at the same version, so that they
        bind to the new modules of what they depend on.

        :returns: ``None`` once the change is committed, else its error (and everything is
            as before).
        """
        self._sites.begin()
        active = self._ledger.active
        members = [
            Member(targets.get(n) or active[n].candidate, active.get(n)) for n in self._group(names)
        ]
        for m in members:
            saved = (inherited or {}).get(m.name)
            if m.old is None and isinstance(saved, dict) and "value" in saved:
                m.inherited = (saved["value"], str(saved.get("version", "")))
            previous = m.old.candidate.version_text if m.old else None
            self._emit(candidate_event(EventKind.LOADING, m.candidate, previous_version=previous))
        try:
            retirement = self._transition.run(members)
        except PluginHostError as exc:
            return self._failed_change(members, exc)
        failure = self._commit_switch(members, retirement, rollback=rollback, restoring=restoring)
        if failure is not None:
            return failure
        previous_versions = {m.name: m.old.candidate.version_text for m in members if m.old}
        self._draining.update(previous_versions)
        if previous_versions:
            self._publish(previous_versions)  # the new versions serve, the old ones drain
        crash_point("during_drain", members[0].candidate.version_text)
        drained, errors, leaked = retirement.finish()
        self._draining.clear()
        problems = [*errors, *_leak_text(leaked)]
        self._retired(members, previous_versions, drained, problems, rollback, restoring)
        self._publish([m.name for m in members])
        return None

    def _commit_switch(
        self, members: Sequence[Member], retirement: Retirement, *, rollback: bool, restoring: bool
    ) -> PluginHostError | None:
        """Record the switched-in members and commit; if the commit fails, switch back.

        Until the registry says so, the new versions are not what a restart would load: a
        change whose commit fails is undone like one whose health check fails.
        """
        before = self._ledger.snapshot()
        for m in members:
            self._activated(m, rollback=rollback)
        if self._batch is not None and all(m.old is None for m in members):
            self._uncommitted = True  # committed with the others at the end of _loading()
            if not restoring:
                self._batch += [m.candidate for m in members]
            return None
        try:
            self.commit()
        except StoreError as exc:
            self._ledger.restore(before)
            del before
            self._owners.forget()
            self._doomed.clear()
            retirement.undo()
            return self._failed_change(members, exc)
        del before
        # Backups beyond keep_backups go only now: the registry no longer names them.
        for record in self._doomed:
            self._sites.delete(record, self._ledger.sites_in_use())
        self._doomed.clear()
        return None

    def _group(self, names: Sequence[PluginName]) -> list[PluginName]:
        """``names`` plus the active plugins that depend on any of them, in load order."""
        active = self._ledger.active
        if not any(n in active for n in names):
            # Only active plugins have active dependents; skipping the graph keeps loading
            # hundreds of plugins from costing the square of their number.
            return list(names)
        graph = {n: tuple(a.candidate.manifest.requires) for n, a in active.items()}
        found = set(names)
        grew = True
        while grew:
            extra = {n for n, deps in graph.items() if n not in found and found & set(deps)}
            found |= extra
            grew = bool(extra)
        in_order = [n for n in self._ledger.order if n in found]
        return in_order + [n for n in names if n not in in_order]

    def _activated(self, m: Member, *, rollback: bool) -> None:
        assert m.impls is not None
        ledger = self._ledger
        name = m.name
        if m.old is None:
            ledger.order.append(name)
        elif m.old.candidate.key != m.candidate.key and not rollback:
            self._doomed += ledger.push_backup(ledger.record(m.old), self.config.keep_backups)
        ledger.active[name] = Active(m.candidate, m.impls, m.site_dir, m.top_level, m.effects)
        self._owners.moved(name, m.old.top_level if m.old else (), m.top_level)
        ledger.failed.pop(name, None)
        if rollback:
            ledger.rolled_back.add(name)
        else:
            ledger.rolled_back.discard(name)

    def _retired(
        self,
        members: Sequence[Member],
        previous: Mapping[PluginName, str],
        drained: bool,
        problems: Sequence[str],
        rollback: bool,
        restoring: bool,
    ) -> None:
        if not drained:
            self._emit(
                Event(
                    EventKind.DRAIN_TIMEOUT,
                    members[0].name,
                    version=previous.get(members[0].name),
                    error="calls were still running the old version after "
                    f"{self.config.timeouts.drain:g}s; it was deactivated anyway",
                )
            )
        error = "; ".join(problems) or None
        for m in members:
            before = previous.get(m.name)
            kind = EventKind.LOADED
            if before is not None:
                kind = EventKind.ROLLED_BACK if rollback else EventKind.UPDATED
            mine = error if before is not None else None
            self._history.add(str(kind), m.candidate, mine)
            self._emit(
                candidate_event(
                    kind,
                    m.candidate,
                    previous_version=before,
                    error=mine,
                    # A start loading what was committed installs nothing: it restores.
                    step="restore" if restoring else None,
                )
            )

    def _failed_change(self, members: Sequence[Member], exc: PluginHostError) -> PluginHostError:
        """Report a change that was undone: the failure, and the rollback if something served."""
        # The blame goes to the version that changed: a dependent re-imported against it and
        # failing is a symptom, and must not be marked as broken bytes itself.
        changed = [m for m in members if m.old is None or m.old.candidate.key != m.candidate.key]
        culprit = next(
            (m for m in changed if m.name == exc.plugin), changed[0] if changed else members[0]
        )
        failure = detached(exc, culprit.name)
        if isinstance(exc, InstallError | StoreError):
            self._retry = True
        self._fail(culprit.candidate, load_problem(culprit.candidate, exc), exc)
        # The site dirs this change installed go, or every broken drop would leave one behind.
        records = [Record(m.candidate, m.site_dir.name, m.top_level) for m in changed if m.site_dir]
        self._sites.drop_fresh(records, self._ledger.sites_in_use())
        for m in members:
            if m.old is not None:
                self._emit(
                    Event.failure(
                        EventKind.ROLLED_BACK,
                        m.name,
                        exc,
                        version=m.old.candidate.version_text,
                        previous_version=m.candidate.version_text,
                        origin=str(m.old.candidate.origin),
                        sha256=m.old.candidate.sha256,
                    )
                )
                self._ledger.rolled_back.add(m.name)
        return failure

    # -- unloading -----------------------------------------------------------------------------

    def _unload(self, name: PluginName, *, removed: bool, commit: bool = True) -> None:
        """Switch a plugin (and its dependents, first) out, drain, deactivate and purge it.

        :param removed: its wheel went away (a ``removed`` event) rather than an unload asked for.
        :param commit: write the registry first; ``halt()`` does not, so that the next start
            restores what was active.
        """
        ledger = self._ledger
        while dependents := [n for n in self._group([name]) if n != name]:
            dependent = dependents[-1]
            self._unload(dependent, removed=False, commit=commit)
            self._problems.append(
                Problem(
                    ProblemKind.DEPENDENCY_FAILED,
                    dependent,
                    f"{dependent} was unloaded because {name}, which it requires, went away",
                    involved=(name,),
                )
            )
        candidate = ledger.active[name].candidate
        record = ledger.record(ledger.active[name])
        if commit:
            self._commit_unload(name)
        ledger.rolled_back.discard(name)
        self._emit(candidate_event(EventKind.UNLOADING, candidate))
        # The engine keeps no reference of its own, so that the purge can see the modules go.
        problems = self._transition.unload(ledger.active, name)
        ledger.order.remove(name)
        self._owners.forget()
        if commit:
            # Committed without it: its site dir is named by nothing (halt() keeps it).
            self._sites.delete(record, ledger.sites_in_use())
        kind = EventKind.REMOVED if removed else EventKind.UNLOADED
        error = "; ".join(problems) or None
        self._history.add(str(kind), candidate, error)
        self._emit(candidate_event(kind, candidate, error=error))
        if commit:
            self._publish([name])  # halt() publishes once, at its end

    def _commit_unload(self, name: PluginName) -> None:
        """Commit the active set without ``name``, before it is switched out: when the registry
        cannot be written, nothing has changed yet and the plugin keeps serving."""
        ledger = self._ledger
        version = ledger.active[name].candidate.version_text
        index = ledger.order.index(name)
        ledger.order.remove(name)
        crash_point("removal_before_persisting", version)
        try:
            self.commit()
        except StoreError as exc:
            self._retry = True
            self._emit(Event.failure(EventKind.UNLOAD_FAILED, name, exc, version=version))
            raise
        finally:
            ledger.order.insert(index, name)
        crash_point("removal_after_persisting", version)

    # -- steps the transition delegates, and bookkeeping --------------------------------------

    def _install(self, candidate: Candidate) -> Placed:
        """Put a candidate's files in place, reusing a site dir already installed.

        A dependent re-imported with its dependency is already installed: its wheel may be
        long gone, and must not be needed.
        """
        placed = self._sites.placed(candidate, self._known(candidate))
        if placed is not None:
            return placed
        support = support_wheels_for(candidate.name, candidate.requires_dist, self._support)
        return self._sites.install(candidate, support)

    def _known(self, candidate: Candidate) -> Record | None:
        """The record of an installed copy of ``candidate``: active, restored, or a backup."""
        found = next(self._ledger.known(candidate), None)
        if found is not None:
            return found
        record = self._records.get(candidate.key)
        return record if record is not None and record.candidate.key == candidate.key else None

    def _save_state(self, name: PluginName) -> None:
        active = self._ledger.active[name]
        try:
            # Bounded like every other run of plugin code: a state export that hangs or raises
            # SystemExit must not take the commit, and the host's lock, with it.
            value = bounded(
                functools.partial(_json_state, active),
                self.config.timeouts.activate,
                plugin=name,
                step="export_state",
            )
        except ActivationError as exc:
            logger.warning("plugin %s: state not saved: %s", name, exc.reason)
            return
        if value is not None:
            self._ledger.state[name] = {"version": active.candidate.version_text, "value": value}

    def _fail(self, candidate: Candidate, problem: Problem, exc: PluginHostError | None) -> None:
        if problem not in self._problems:
            self._problems.append(problem)
        name = candidate.name
        ledger = self._ledger
        if name not in ledger.active:
            ledger.failed[name] = failed_info(name, candidate, problem)
        if exc is not None:
            self._failures[candidate.key] = detached(exc, name)
        # A full or read-only disk is no fault of the bytes: they are tried again at the next
        # change in the folders, or by install().
        if problem.kind in {
            ProblemKind.LOAD_FAILED,
            ProblemKind.WHEEL_INVALID,
            ProblemKind.CONFLICT,
        } and not isinstance(exc, InstallError | StoreError):
            self._load_failures[candidate.key] = problem
        self._history.add("failed", candidate, problem.message)
        serving = ledger.active.get(name)
        previous = serving.candidate.version_text if serving is not None else None
        if exc is not None:
            self._emit(
                Event.failure(
                    EventKind.LOAD_FAILED,
                    name,
                    exc,
                    version=candidate.version_text,
                    previous_version=previous,
                    origin=str(candidate.origin),
                    sha256=candidate.sha256,
                )
            )
        else:
            self._emit(
                candidate_event(
                    EventKind.LOAD_FAILED,
                    candidate,
                    previous_version=previous,
                    error=problem.message,
                )
            )

    # -- the view ------------------------------------------------------------------------------

    def _publish(self, changed: Iterable[PluginName] | None = None) -> None:
        """Replace the view with the ledger as it stands: one reference store.

        :param changed: the only plugins whose snapshot may have changed since the last
            publication; ``None`` to look at every one. A start publishes once per plugin
            loaded (a plugin's activate may ask whether its dependencies are), so what is
            copied each time is copied at C speed.
        """
        ledger = self._ledger
        if changed is None:
            self._infos = {name: self._info(name) for name in ledger.order}
        else:
            for name in changed:
                if name in ledger.active:
                    self._infos[name] = self._info(name)
                else:
                    self._infos.pop(name, None)
        plugins: dict[str, PluginInfo] = {**self._infos}  # type: ignore[dict-item]
        for name, info in sorted(ledger.failed.items()):
            plugins.setdefault(name, info)
        self._view = View(
            order=tuple(ledger.order),
            plugins=MappingProxyType(plugins),
            problems=tuple(self._problems),
            history=self._history.view(),
            backups=MappingProxyType({**ledger.backups}),  # type: ignore[dict-item]
            planned=self._plan.graph if self._plan else MappingProxyType({}),
        )

    def _info(self, name: PluginName) -> PluginInfo:
        ledger = self._ledger
        active = ledger.active[name]
        state = PluginState.ACTIVE
        if name in self._draining:
            state = PluginState.DRAINING
        elif name in ledger.rolled_back:
            state = PluginState.ROLLED_BACK
        pinned = name in ledger.pinned and ledger.manual.get(name) == active.candidate
        info = self._infos.get(name)
        if (
            info is None
            or info.sha256 != active.candidate.sha256
            or info.version != active.candidate.version_text
            or (info.state, info.pinned, info.site_dir) != (state, pinned, active.site_dir)
        ):
            info = plugin_info(active.candidate, state, active.site_dir, None, pinned=pinned)
        return info


def _json_state(active: Active) -> object:
    """A plugin's exported state, checked here so that one plugin's odd state never fails the
    whole commit."""
    value = call_hook(active.impls, "pluginhost_export_state")
    json.dumps(value, allow_nan=False)
    return value


def _leak_text(leaked: Sequence[str]) -> list[str]:
    if not leaked:
        return []
    return [
        "modules still referenced after unload (restart recommended to free them): "
        + ", ".join(leaked)
    ]


def _versions_text(ledger: Ledger) -> str:
    return ",".join(a.candidate.version_text for a in ledger.active.values())
