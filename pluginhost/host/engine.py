"""The engine: turns plans into changes of the active set, one transition at a time.

It owns the :class:`~.ledger.Ledger` (what is active, in which order, what failed and why, the
backups kept for rollback) and is only ever called with the host's lock held. The host asks it
for changes through its methods and reads only its :attr:`Engine.view`, which the engine
replaces once each change is complete.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import attrs
import pluggy

from ..discover.sources import Scan
from ..install.sites import Handover, SiteDirs
from ..load.modules import PluginFinder
from ..load.reaper import Reaper
from ..model.candidate import Candidate, candidate_name, without_keys
from ..model.errors import HostStateError, StoreError
from ..model.events import Event
from ..model.names import PluginName
from ..model.pacing import pace, paced
from ..model.problems import Problem
from ..model.status import PluginInfo
from ..resolve.admission import Admission
from ..resolve.planner import Planner
from ..resolve.planning import drop_conflicts
from ..resolve.resolution import Plan
from ..state.faults import any_armed, crash_point
from ..state.registry import Registry
from ..swap.hooks import saved_state
from .changes import Changer
from .dependencies import SharedDependencies
from .failures import given, refusal, rollback_failed, skipped_for
from .hookcheck import HookCheck
from .journal import Journal, Outcome
from .ledger import Ledger, install_scan
from .published import Published
from .restore import StartUpgrades, restore_records, tell_removed
from .settings import Settings
from .view import View, failed_info, kept_out_info
from .withdrawal import drop_revoked, withdraw

__all__ = ["Engine", "Outcome"]

logger = logging.getLogger("pluginhost")

_NONE_WITHDRAWN: Mapping[str, str] = MappingProxyType({})


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
        validated: Handover = lambda path, sha256: None,
        revoked: Callable[[Candidate], Problem | None] | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        self.config = config
        # Why a version admitted before is not trusted any more (its hash left the trust file);
        # None when no version can be (trust is not by hashes).
        self._revoked = revoked
        self._persist = persist
        self._ledger = Ledger()
        self._journal = Journal(emit)
        sites = (config.site_root, config.staging_root, config.limits, validated)
        # Public: the host starts its site writer when it starts (host.py).
        self.sites = SiteDirs(*sites, config.verify_sites, offload=True, written=finder.written)
        reaper = reaper or Reaper()
        self.deps = SharedDependencies.of_home(config, validated, finder, reaper)
        self._changer = Changer(
            config,
            pm,
            finder,
            host,
            self._ledger,
            self.sites,
            self._journal,
            self.commit,
            self._publish,
            reaper,
            self.deps,
        )
        self.processes = self._changer.processes  # process plugins' workers
        self._view = View()
        self.admission = Admission(config.only, config.block)  # and what the host disabled
        self._kept_out: dict[PluginName, tuple[Candidate, Problem]] = {}
        self.hooks = HookCheck(pm, lambda: self._ledger.active, emit)
        self._plan: Plan | None = None
        # A change re-plans only the parts of the pool it touches.
        self._planner = Planner(config.api, config.policy, config.breaking_change)
        self._upgrades = StartUpgrades(self._stays, allow_downgrade=config.policy.allow_downgrade)
        # The active plugins whose version their index took back, and why (this reconcile's).
        self._withdrawn: dict[PluginName, str] = {}
        # Each active plugin's snapshot, in load order, as last published, and what from.
        self._infos: dict[PluginName, PluginInfo] = {}
        self._published = Published()

    @property
    def view(self) -> View:
        """The plugins as of the last completed change (safe to read without the host lock)."""
        return self._view

    def warm(self) -> None:
        """Plan the last reconcile's pool against the versions active now, applying nothing
        (``resolve/planner.py``): run on the worker once a start is done."""
        self._planner.warm(self._ledger.candidates())

    def wants_retry(self) -> bool:
        """Whether the file system refused a change (disk full, read-only) since the last
        reconcile: the same sources may well go through once it recovers."""
        return self._journal.wants_retry() or self._changer.quarantine_changed()

    # -- what the host asks for -----------------------------------------------------------------

    def reconcile(
        self,
        scan: Scan,
        unavailable: Sequence[Path] = (),
        withdrawn: Mapping[str, str] = _NONE_WITHDRAWN,
    ) -> Outcome:
        """Make the active set what the candidates at hand and the policy call for.

        :param unavailable: watched folders (or wheels) that cannot be read or trusted now:
            the plugins loaded from them stay offered, so they keep serving until then.
        :param withdrawn: the sha256 of each wheel its index took back, and why (``yanked``,
            ``deleted from the index``): never chosen, and an active one is rolled back to the
            highest version still offered, with its state, whatever the downgrade policy.
        :returns: the errors of the changes that failed.
        """
        scan = self.deps.offer(scan)  # refused dependency wheels are no failed plugins
        self._journal.begin(scan.problems)
        while self._plan_and_apply(scan, unavailable, withdrawn):
            self._journal.begin(scan.problems, again=True)  # falling back: Journal.passed_over
        self._publish()  # at once: the view is not to lag behind what the hooks answer
        self._journal.report_refusals(scan.problems)  # told once the view shows them
        return Outcome(self._journal.failures())

    def _plan_and_apply(
        self, scan: Scan, unavailable: Sequence[Path], withdrawn: Mapping[str, str]
    ) -> bool:
        """One plan of ``reconcile``, applied; whether to plan again, falling back."""
        ledger = self._ledger
        present = [*scan.candidates, *ledger.manual.values(), *ledger.held_in(unavailable)]
        present += self._upgrades.offers(scan.candidates)  # a start's: restore.py
        if ledger.removed:
            present = [c for c in present if c.name not in ledger.removed]
        # Each step looks at every candidate: the lock is let go between them (model/pacing.py).
        pace()
        present, self._withdrawn = (  # the active plugins are looked at only when one is
            withdraw(present, ledger.candidates(), withdrawn) if withdrawn else (present, {})
        )
        unload = self._changer.unload
        present = drop_revoked(present, ledger, self._revoked, self._journal.file, unload)
        pace()
        present, self._kept_out = self.admission.screen(present)
        for _candidate, problem in self._kept_out.values():
            self._journal.file(problem)
        offered = self._changer.hold_back(without_keys(present, ledger.rejected))
        offered = self._journal.passed_over(offered, ledger.active)
        offered = self._upgrades.fallen_back(offered, self._journal.failed_before)
        pace()
        self._journal.announce(offered)
        active = ledger.candidates()  # made again only if a plugin is unloaded below
        offered, conflicts = drop_conflicts(offered, active)
        pace()
        # Offered only with conflicting bytes, or in a version rolled back from: it stays loaded.
        if gone := ledger.active.keys() - set(map(candidate_name, present)):  # in C
            for name in reversed([n for n in ledger.order if n in gone]):
                if name in ledger.active:
                    self._changer.unload(name, removed=self.admission.allows(name))
            active = ledger.candidates()
        pool = self._ledger.pool(
            offered, allow_downgrade=self.config.policy.allow_downgrade, dropped=self._withdrawn
        )
        pace()
        outlook = self._planner.plan(pool, active, self._withdrawn, self.deps.requirements())
        for name in outlook.victims:
            if name in ledger.active:
                self._changer.unload(name, removed=False)
        self._plan = outlook.plan
        for problem in [*conflicts, *outlook.plan.problems, *outlook.problems]:
            self._journal.file(problem)
        self._ledger.mark_failed(
            outlook.plan.chosen, pool, [*outlook.plan.problems, *scan.problems, *outlook.problems]
        )
        pace()
        with self._changer.loading():
            self._apply(outlook.plan)
        return self._journal.fallback_due(offered) or self._upgrades.back_due(ledger.active)

    def install(self, candidate: Candidate, scan: Scan, unavailable: Sequence[Path]) -> PluginInfo:
        """Load ``candidate`` (installed explicitly), or update its plugin to it.

        A version older than one on offer is pinned when the policy allows downgrades: it
        serves until :meth:`unpin`, whatever newer wheels the sources offer.

        :raises PluginHostError: the error of the step that failed, or why it was not chosen.
        """
        ledger, name = self._ledger, candidate.name
        before = (ledger.manual.get(name), name in ledger.pinned)
        removed = name in ledger.removed
        scan = install_scan(scan, candidate, ledger.candidates().get(name), removed=removed)
        ledger.manual[name] = candidate
        if ledger.newer_on_offer(candidate, scan.candidates) and self.config.policy.allow_downgrade:
            ledger.pinned.add(name)
        else:
            ledger.pinned.discard(name)
        ledger.removed.discard(name)
        ledger.rejected.discard(candidate.key)
        self._journal.forgive(candidate.key)
        outcome = self.reconcile(scan, unavailable)
        if ledger.is_active(candidate):
            return self._view.plugins[name]
        ledger.set_pin(name, *before)  # what did not take is not offered again, nor pinned
        if removed:
            ledger.removed.add(name)
        # The error's traceback keeps this frame: no local for it, and only the serving candidate.
        serving = self._ledger.candidates().get(name)
        raise given(
            outcome.failures.get(candidate.key)
            or refusal(candidate, self._journal.problems(), serving, self.config.policy),
            candidate,
        )

    def unpin(self, name: PluginName, scan: Scan, unavailable: Sequence[Path]) -> None:
        """Let the sources' versions of ``name`` compete again.

        :raises HostStateError: when the plugin is not pinned.
        :raises StoreError: when the registry cannot be written; it stays pinned.
        """
        if name not in self._ledger.pinned:
            raise HostStateError(f"plugin {name!r} is not pinned", plugin=name)
        self._ledger.pinned.discard(name)
        try:
            self.commit()
        except StoreError:
            self._ledger.pinned.add(name)  # not committed: still pinned, across restarts too
            raise
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
            self._changer.unload(name, removed=False)
        except StoreError:
            # Not committed, so not removed: it serves on, and stays wanted.
            ledger.removed.discard(name)
            self._ledger.set_pin(name, manual, pinned)
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
        self._changer.remember(record)
        ledger.rejected.add(current.key)
        if manual == current:
            ledger.manual[name] = record.candidate
        failure = self._changer.change([name], {name: record.candidate}, rollback=True)
        if failure is not None:
            ledger.push_back(record)
            ledger.rejected.discard(current.key)
            if manual is not None:
                ledger.manual[name] = manual
            self._publish()
            raise rollback_failed(record.candidate, current, failure)
        # Nothing names the version rolled back from any more.
        self.sites.delete(current_record, self._ledger.sites_in_use())
        self._publish()
        return self._view.plugins[name]

    def restore(
        self, registry: Registry, look: Scan | None = None, held: Sequence[Path] = ()
    ) -> None:
        """Load exactly the committed active set, from its site dirs, without reinstalling; not
        a version whose load crashed the process (quarantined), nor one that the start's
        ``look`` shows replaced or removed (``held``: what it could not read): restore.py."""
        self._changer.convict_crashed()
        # Its explicit installs and pins taken whole: one disabled since is offered again by
        # them (kept out by the admission, which says so, until it is enabled).
        self._ledger.restored_from(registry)
        # Disabled or blocked since the commit: not imported again, not even to be unloaded.
        allowed = tuple(r for r in registry.active if self.admission.allows(r.candidate.name))
        registry = attrs.evolve(registry, active=allowed)
        for record in registry.active:
            self._changer.remember(record)
        inherited = dict(registry.state) if self.config.persist_state else {}
        # Kept in every later commit, so a crash before the next stop does not lose it.
        self._ledger.state.update(inherited)
        now = self._upgrades.choose(registry.active, inherited, look, held, self._ledger.manual)
        self.deps.restore(registry.deps)
        with self._changer.loading(), self.deps.restoring():
            restore_records(self._changer, self._ledger.active, now, inherited, self._revoked)
        self.deps.retain(lambda: {**self._upgrades.candidates(), **self._ledger.candidates()})
        self._publish()

    def _stays(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` cannot replace its plugin's committed version at a start."""
        name, key, ledger = candidate.name, candidate.key, self._ledger
        return name in ledger.pinned or key in ledger.rejected or self._changer.held(candidate)

    def prune_sites(self) -> None:
        """Delete site dirs that neither the active set nor a backup names (left by a crash
        between an install and its commit), nor a version a start's upgrade may fall back to."""
        in_use = self._ledger.sites_in_use() | self._upgrades.site_dirs()
        for name in self.sites.prune(in_use) + self.deps.prune():
            logger.info("removed site dir %s: no committed plugin uses it", name)

    def settle_start(self) -> None:
        """After a start's first reconcile: the versions its upgrades replaced are backups, and
        the plugins removed while the host was down are committed removed (restore.py)."""
        replaced, removed = self._upgrades.settle(self._ledger.candidates())
        if not (replaced or removed):
            return
        keep = self.config.keep_backups
        doomed = [d for r in replaced for d in self._ledger.push_backup(r, keep)]
        try:
            self.commit()
        except StoreError as exc:  # they serve no more, and the backups are bookkeeping
            logger.error("the start's replaced or removed versions are not committed: %s", exc)
            return
        in_use = self._ledger.sites_in_use()
        for record in [*doomed, *removed]:
            self.sites.delete(record, in_use)
        self.deps.retain(self._ledger.candidates)
        tell_removed(self._journal, removed)
        self._publish()

    def halt(self, *, save_state: bool) -> None:
        """Unload every plugin, dependents first, without committing: the next start restores
        the active set.

        :param save_state: commit each plugin's exported state first.
        """
        if save_state:
            self.commit()
        for name in reversed(list(self._ledger.order)):
            if name in self._ledger.active:
                self._changer.unload(name, removed=False, commit=False)
        self._ledger.forget_records()
        self._changer.close()
        self.deps.close()
        self.sites.close()
        self._publish()

    def commit(self) -> None:
        """Write the registry: the active set is committed once this returns.

        With ``persist_state``, each active plugin's state is exported into the same document,
        so a crash loses no more than what changed since the last commit.
        """
        # Named by every active version: a crash test arms it by the one it changes.
        versions = self._ledger.versions_text() if any_armed() else ""
        crash_point("while_persisting", versions)
        if self.config.persist_state:
            for name in self._ledger.order:
                self._save_state(name)
        self._persist(attrs.evolve(self._ledger.registry(), deps=self.deps.records()))
        pace()
        crash_point("after_persisting", versions)

    # -- applying a plan -----------------------------------------------------------------------

    def _apply(self, plan: Plan) -> None:
        """Load, update or re-import what the plan chooses, in its order."""
        ledger = self._ledger
        try:
            # Those serving before are passed over in C; a change keeps or puts back a group.
            for index in ledger.not_serving(plan.order, plan.chosen):
                name = plan.order[index]
                candidate = plan.chosen[name]
                # No local reference to the active plugin here: it would outlive the change
                # below and keep the replaced version's modules alive.
                if ledger.is_active(candidate):
                    continue
                known = self._journal.failed_before(candidate.key, ledger.active)
                if known is not None:
                    self._refile(candidate, known)
                    continue
                missing = [
                    d for d in candidate.requires if d not in ledger.active and d in plan.chosen
                ]
                if missing:
                    self._changer.fail(candidate, skipped_for(candidate, missing[0]), None)
                    continue
                upcoming = (plan.chosen[n] for n in itertools.islice(plan.order, index, None))
                self._changer.import_ahead(upcoming, plan.chosen)
                reason = self._withdrawn.get(name)
                back = bool(reason) or self._upgrades.returning(candidate)
                state = self._upgrades.state  # a start's upgrade takes the state saved
                self._changer.change(
                    [name], {name: candidate}, inherited=state, rollback=back, reason=reason
                )
        finally:
            self._changer.discard_ahead()

    def _refile(self, candidate: Candidate, known: Problem) -> None:
        """File again the failure of bytes that failed before, and keep the plugin listed."""
        self._journal.file(known)
        if candidate.name not in self._ledger.active:
            self._ledger.failed[candidate.name] = failed_info(candidate.name, candidate, known)

    # -- steps the transition delegates, and bookkeeping --------------------------------------

    def _save_state(self, name: PluginName) -> None:
        active = self._ledger.active[name]
        version, timeout = active.candidate.version_text, self.config.timeouts.activate
        saved = saved_state(active.registrations, version, plugin=name, timeout=timeout)
        if saved is not None:
            self._ledger.state[name] = saved

    # -- the view ------------------------------------------------------------------------------

    def _publish(self, changed: Iterable[PluginName] | None = None) -> None:
        """Replace the view with the ledger as it stands: one reference store.

        :param changed: the only plugins whose snapshot may have changed since the last
            publication (a start publishes once per plugin loaded: what is copied each time is
            copied at C speed); ``None`` for those found changed (``host/published.py``).
        """
        ledger = self._ledger
        draining = self._changer.draining()
        if full := changed is None:
            marked = ledger.marked(draining) | {PluginName(p.plugin) for p in self.processes.live()}
            changed = self._published.since(ledger.active, marked)
        for name in paced(changed):
            if name in ledger.active:
                self._infos[name] = ledger.info(name, draining, self._infos.get(name))
            else:
                self._infos.pop(name, None)
        if full and list(self._infos) != ledger.order:  # compared in C; made again if not
            self._infos = {name: self._infos[name] for name in ledger.order}
        plugins: dict[str, PluginInfo] = {**self._infos}  # type: ignore[dict-item]
        for name, (candidate, problem) in self._kept_out.items():
            plugins.setdefault(name, kept_out_info(candidate, problem))
        for name, info in sorted(ledger.failed.items()):
            plugins.setdefault(name, info)
        self._view = View(
            order=tuple(ledger.order),
            plugins=MappingProxyType(plugins),
            problems=(
                *self._journal.problems(),
                *self.hooks.problems(changed, settled=full),
                *self.processes.problems(ledger.active),
            ),
            history=self._journal.history.view(),
            backups=MappingProxyType({**ledger.backups}),  # type: ignore[dict-item]
            planned=self._plan.graph if self._plan else MappingProxyType({}),
        )

    def refresh(self, name: PluginName) -> None:
        """Publish ``name`` again: its worker restarted or was quarantined."""
        self._publish([name] if name in self._ledger.active else ())
