"""One change of the active set (a transition, its commit, the retirement of what it replaced),
and the unload of a plugin. The :class:`Changer` works on the ledger the engine hands it and
tells what happened through the engine's journal; the engine decides what to change.
"""

from __future__ import annotations

import contextlib
import logging
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pluggy

from ..install.sites import Placed, SiteDirs
from ..load.collisions import ModuleOwners
from ..load.modules import PluginFinder
from ..load.reaper import Reaper
from ..model.candidate import Candidate, CandidateKey
from ..model.errors import InstallError, PluginHostError, ResolutionError, StoreError
from ..model.events import Event, EventKind
from ..model.names import PluginName
from ..model.pacing import pace
from ..model.problems import Problem
from ..state.faults import crash_point
from ..state.quarantine import Quarantine, Verdict
from ..state.registry import Record
from ..swap.members import Active, Member, mark_reimports
from ..swap.retirement import Retirement
from ..swap.transition import Transition
from .dependencies import SharedDependencies
from .failures import candidate_event, dependency_gone, detached, load_problem, member_event
from .journal import Journal
from .ledger import Ledger
from .manager import placement
from .settings import Settings
from .supervisor import processes_for
from .view import failed_info

__all__ = ["Changer"]

logger = logging.getLogger("pluginhost")
_REQUIRING = operator.attrgetter("candidate.requires")


class Changer:
    """Carries out the changes the engine decides.

    :param config: the host's settings.
    :param ledger: the engine's ledger, changed in place.
    :param sites: the home's site dirs.
    :param journal: where failures, history and events go.
    :param commit: writes the registry from the ledger (the engine's).
    :param publish: replaces the engine's view; given the plugins that changed.
    :param reaper: watches retired versions' modules (the host's, which reports leaks).
    :param deps: the shared third-party dependencies, swapped with the plugins using them.
    """

    def __init__(
        self,
        config: Settings,
        pm: pluggy.PluginManager,
        finder: PluginFinder,
        host: object,
        ledger: Ledger,
        sites: SiteDirs,
        journal: Journal,
        commit: Callable[[], None],
        publish: Callable[[Iterable[PluginName]], None],
        reaper: Reaper,
        deps: SharedDependencies,
    ) -> None:
        self.config, self._ledger, self._journal = config, ledger, journal
        self._commit, self._publish = commit, publish
        self._sites, self.deps = sites, deps
        self._owners = ModuleOwners(self._providers)
        self._quarantine = Quarantine.of_home(config.site_root.parent)
        self.processes = processes_for(config, pm, deps)  # the supervisor sets its on_exit
        self._transition = Transition(
            pm,
            finder,
            host,
            self.install,
            self._owners.check,
            config.timeouts,
            mark=self._quarantine.loading,
            reaper=reaper,
            owner_of=ledger.registered_by,
            refuse_unknown_hooks=config.unknown_hooks == "refuse",
            processes=self.processes,
            placement=placement(pm, application_first=config.application_first),
        )
        # Installed copies known from the registry and from rollbacks, beside the ledger's.
        self._records: dict[CandidateKey, Record] = {}
        self._draining: set[PluginName] = set()
        # Within loading(): loads that await their one commit at the end of the block.
        self._batch: list[Candidate] | None = None
        self._uncommitted = False
        self._doomed: list[Record] = []
        self._held: dict[CandidateKey, Verdict] = {}

    def remember(self, record: Record) -> None:
        """An installed copy the ledger may not name (committed before, or a rollback's)."""
        self._records[record.candidate.key] = record

    def convict_crashed(self) -> None:
        """At start: quarantine the versions whose load a dead process left unfinished."""
        self._quarantine.crashed()
        self._held = self._quarantine.held()

    def close(self) -> None:
        self._quarantine.close()  # the host stops: nothing loads, the loading marker goes

    def quarantine_changed(self) -> bool:
        """Whether the quarantine folder changed since it was last read (a release)."""
        return self._quarantine.changed()

    def hold_back(self, offered: Iterable[Candidate]) -> list[Candidate]:
        """``offered`` without the quarantined versions, as the quarantine folder says now."""
        held = self._quarantine.held()
        for key in self._held.keys() - held.keys():
            self._journal.forgive(key)  # released: it may be tried again
        self._held = held
        return [c for c in offered if not self.held(c)] if held else list(offered)

    def held(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` is quarantined; its failure is filed if so."""
        verdict = self._held.get(candidate.key)
        if verdict is None:
            return False
        if self._journal.failed_before(candidate.key) is None:
            self.fail(candidate, verdict.problem(), verdict.error())
        else:
            self._journal.file(verdict.problem())
        if self._batch is not None:
            # Restoring: the registry must stop naming it, or removing its wheel (which lifts
            # the quarantine) would have the next start restore it, and crash again.
            self._uncommitted = True
        return True

    def draining(self) -> Collection[PluginName]:
        """Plugins whose replaced version is draining now."""
        return frozenset(self._draining)

    def discard_ahead(self) -> None:
        """Forget the imports made ahead that no change used."""
        self._transition.discard_ahead()

    def _providers(self) -> Iterator[tuple[PluginName, Sequence[str]]]:
        yield from ((n, a.top_level) for n, a in self._ledger.active.items())
        yield from self.deps.owners()  # its names are its own: its users do not clash

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """Commit plugins newly loaded in this block once, at its end.

        One registry write per plugin made a start with hundreds of plugins take seconds. A
        crash before the end loses only loads, which the next start repeats from the same
        sources; updates and unloads still commit at once.
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
        """Commit the loads of a batch; if that fails, unload the plugins loaded anew (restored
        ones stay: the registry names them; as for an update, what is not committed does not
        serve, since a restart would not load it)."""
        try:
            self._commit()
        except StoreError as exc:
            logger.error("plugins loaded but not committed, unloaded again: %s", exc)
            self._journal.refused_by_disk()
            for candidate in reversed(batched):
                if self._ledger.is_active(candidate):
                    record = self._ledger.record(self._ledger.active[candidate.name])
                    self.unload(candidate.name, removed=False, commit=False)
                    self._sites.delete(record, self._ledger.sites_in_use())
                self.fail(candidate, load_problem(candidate, exc), exc)

    def import_ahead(self, upcoming: Iterable[Candidate], planned: Collection[str]) -> None:
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
            needs = (*candidate.requires, *candidate.manifest.optional)
            if (
                placed is None
                or candidate.key in self._held
                or self._journal.failed_before(candidate.key) is not None
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
        placed = self._sites.placed(candidate, self.known(candidate))
        if placed is None or not self.deps.ready(candidate):
            return None
        try:
            kept = self._owners.check(candidate, placed[1], placed[0], {candidate.name})
        except ResolutionError:
            return None  # refused in its own transition, which says why
        return placed[0], kept

    def change(
        self,
        names: Sequence[PluginName],
        targets: Mapping[PluginName, Candidate],
        *,
        inherited: Mapping[PluginName, Any] | None = None,
        rollback: bool = False,
        restoring: bool = False,
        reason: str | None = None,
    ) -> PluginHostError | None:
        """Take ``names`` (and every active plugin depending on them) to ``targets``.

        Dependents not named in ``targets`` (and the users of a shared dependency swapped for
        them) are re-imported at the same version, so that they bind to the new modules.

        :param reason: why, for the events and the audit log (a release ``yanked``).
        :returns: ``None`` once the change is committed, else its error (and everything is
            as before).
        """
        self._sites.begin()
        active = self._ledger.active
        names = [*names, *self.deps.begin(names, targets)]
        members = [
            Member(targets.get(n) or active[n].candidate, active.get(n)) for n in self._group(names)
        ]
        mark_reimports(members)
        for m in members:
            saved = (inherited or {}).get(m.name)
            if m.old is None and isinstance(saved, dict) and "value" in saved:
                m.inherited = (saved["value"], str(saved.get("version", "")))
            self._journal.emit(member_event(EventKind.LOADING, m))
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
        drained, problems = retirement.finish()
        self.deps.finish(self._ledger.candidates)  # after the drain: old versions used them
        self._draining.clear()
        why = [reason, *problems] if reason else problems
        told = self._retired(members, previous_versions, drained, why, rollback, restoring)
        # Published before it is told, so that a subscriber reading the host sees the change.
        self._publish([m.name for m in members])
        for event in told:
            self._journal.emit(event.drained_in(retirement.drain_seconds))
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
        pace()  # the new versions serve: callers go first, then the commit
        try:
            self._commit()
        except StoreError as exc:
            self._ledger.restore(before)
            del before
            self._owners.forget()
            self._doomed.clear()
            retirement.undo()
            return self._failed_change(members, exc)
        del before
        # Backups beyond keep_backups go only now: the registry no longer names them.
        in_use = self._ledger.sites_in_use() if self._doomed else set()  # O(plugins): once
        for record in self._doomed:
            self._sites.delete(record, in_use)
        self._doomed.clear()
        return None

    def _group(self, names: Sequence[PluginName]) -> list[PluginName]:
        """``names`` plus the active plugins that depend on any of them, in load order."""
        active = self._ledger.active
        if not any(n in active for n in names):
            # Only active plugins have active dependents: loading hundreds stays linear.
            return list(names)
        # Only plugins that require others can be dependents: picked out in C, as is the order.
        graph = {a.name: set(a.candidate.requires) for a in filter(_REQUIRING, active.values())}
        found = set(names)
        while extra := {n for n, deps in graph.items() if n not in found and found & deps}:
            found |= extra
        in_order = list(filter(found.__contains__, self._ledger.order))
        return in_order + [n for n in names if n not in in_order]

    def _activated(self, m: Member, *, rollback: bool) -> None:
        regs, ledger, name = m.registrations, self._ledger, m.name
        assert regs is not None
        if m.old is None:
            ledger.order.append(name)
        elif m.old.candidate.key != m.candidate.key and not rollback:
            self._doomed += ledger.push_backup(ledger.record(m.old), self.config.keep_backups)
        ledger.activate(name, Active(m.candidate, regs, m.site_dir, m.top_level, m.effects))
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
    ) -> list[Event]:
        """Each member's history entry, and the events that tell the change."""
        told = []
        if not drained:
            told.append(
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
            self._journal.history.add(str(kind), m.candidate, mine)
            told.append(
                member_event(
                    kind,
                    m,
                    previous_version=before,
                    error=mine,
                    # A start loading what was committed installs nothing: it restores.
                    step="restore" if restoring else None,
                )
            )
        return told

    def _failed_change(self, members: Sequence[Member], exc: PluginHostError) -> PluginHostError:
        """Report a change that was undone: the failure, and the rollback if something served."""
        self.deps.undo(self._ledger.candidates)
        # The blame goes to the version that changed: a dependent re-imported against it and
        # failing is a symptom, and must not be marked as broken bytes itself.
        changed = [m for m in members if m.changed]
        culprit = next(
            (m for m in changed if m.name == exc.plugin), changed[0] if changed else members[0]
        )
        failure = detached(exc, culprit.name)
        if isinstance(exc, InstallError | StoreError):
            self._journal.refused_by_disk()
        self.fail(culprit.candidate, load_problem(culprit.candidate, exc), exc)
        # The site dirs this change installed go, or every broken drop would leave one behind.
        records = [Record(m.candidate, m.site_dir.name, m.top_level) for m in changed if m.site_dir]
        self._sites.drop_fresh(records, self._ledger.sites_in_use())
        for m in members:
            if m.old is not None:
                self._journal.emit(
                    Event.failure(
                        EventKind.ROLLED_BACK,
                        m.name,
                        exc,
                        distribution=m.old.candidate.distribution,
                        version=m.old.candidate.version_text,
                        previous_version=m.candidate.version_text,
                        origin=str(m.old.candidate.origin),
                        sha256=m.old.candidate.sha256,
                        reimported_for=m.reimported_for,
                    )
                )
                self._ledger.rolled_back.add(m.name)
        return failure

    def unload(self, name: PluginName, *, removed: bool, commit: bool = True) -> None:
        """Switch a plugin (and its dependents, first) out, drain, deactivate and purge it.

        :param removed: its wheel went away (a ``removed`` event) rather than an unload asked for.
        :param commit: write the registry first; ``halt()`` does not, so that the next start
            restores what was active.
        """
        ledger = self._ledger
        while dependents := [n for n in self._group([name]) if n != name]:
            dependent = dependents[-1]
            self.unload(dependent, removed=False, commit=commit)
            self._journal.file(dependency_gone(dependent, name))
        candidate = ledger.active[name].candidate
        record = ledger.record(ledger.active[name])
        if commit:
            self._commit_unload(name)
        ledger.rolled_back.discard(name)
        self._journal.emit(candidate_event(EventKind.UNLOADING, candidate))
        # The engine keeps no reference of its own, so that the purge can see the modules go.
        problems = self._transition.unload(ledger.active, name)
        ledger.order.remove(name)
        if commit:
            # Committed without it: its site dir is named by nothing (halt() keeps it).
            self._sites.delete(record, ledger.sites_in_use())
            self.deps.retain(self._ledger.candidates)
        self._owners.forget()
        kind = EventKind.REMOVED if removed else EventKind.UNLOADED
        error = "; ".join(problems) or None
        self._journal.history.add(str(kind), candidate, error)
        if commit:
            self._publish([name])  # halt() publishes once, at its end
        self._journal.emit(candidate_event(kind, candidate, error=error))

    def _commit_unload(self, name: PluginName) -> None:
        """Commit the set without ``name`` before it is switched out (a failed write: no change)."""
        ledger = self._ledger
        version = ledger.active[name].candidate.version_text
        index = ledger.order.index(name)
        ledger.order.remove(name)
        crash_point("removal_before_persisting", version)
        try:
            self._commit()
        except StoreError as exc:
            self._journal.refused_by_disk()
            self._journal.emit(Event.failure(EventKind.UNLOAD_FAILED, name, exc, version=version))
            raise
        finally:
            ledger.order.insert(index, name)
        crash_point("removal_after_persisting", version)

    def install(self, candidate: Candidate) -> Placed:
        """Put a candidate's files in place, reusing a site dir already installed.

        A dependent re-imported with its dependency is already installed: its wheel may be
        long gone, and must not be needed.
        """
        if self.deps.attach(candidate):
            self._owners.forget()  # the dependencies' names changed: the map is made again
        placed = self._sites.placed(candidate, self.known(candidate))
        return placed if placed is not None else self._sites.install(candidate, ())

    def known(self, candidate: Candidate) -> Record | None:
        """The record of an installed copy of ``candidate``: active, restored, or a backup."""
        found = next(self._ledger.known(candidate), None)
        if found is not None:
            return found
        record = self._records.get(candidate.key)
        return record if record is not None and record.candidate.key == candidate.key else None

    def fail(self, candidate: Candidate, problem: Problem, exc: PluginHostError | None) -> None:
        """File the failure of a change to ``candidate``; the plugin is listed as failed unless
        a version of it serves on."""
        name = candidate.name
        serving = self._ledger.active.get(name)
        if serving is None:
            self._ledger.failed[name] = failed_info(name, candidate, problem)
        previous = serving.candidate.version_text if serving is not None else None
        del serving
        self._journal.failed(candidate, problem, exc, previous, self._ledger.active)
