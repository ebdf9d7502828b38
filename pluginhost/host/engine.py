"""The engine: turns a plan into changes of the active set, one transition at a time.

It owns the host's mutable state (what is active, in which order, what failed and why, the
backups kept for rollback) and is only ever called with the host's lock held.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.machinery
import itertools
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import pluggy

from ..discover.archive import WheelLimits
from ..discover.handover import ValidatedWheel
from ..discover.sources import Scan
from ..discover.wheel import WheelInfo
from ..install.installer import install_wheel
from ..load.bounded import bounded
from ..load.modules import PluginFinder
from ..model.candidate import Candidate, CandidateKey, WheelOrigin
from ..model.errors import (
    ActivationError,
    HostStateError,
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
from ..model.problems import Problem, ProblemKind
from ..model.status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from ..model.versions import Version
from ..resolve.requirements import support_wheels_for
from ..resolve.resolver import Plan, resolve
from ..state.faults import crash_point
from ..state.registry import Record, Registry
from ..swap.switch import Implementations
from ..swap.transition import (
    Active,
    Member,
    Retirement,
    Timeouts,
    Transition,
    call_hook,
)

__all__ = ["Engine", "EngineConfig"]

logger = logging.getLogger("pluginhost")

BreakingChange = Literal["reject", "cascade"]

# What a file refused at discovery is reported as, and the error it was refused with.
_REFUSALS = {
    ProblemKind.MANIFEST_INVALID: EventKind.MANIFEST_INVALID,
    ProblemKind.WHEEL_INVALID: EventKind.REFUSED,
    ProblemKind.UNTRUSTED: EventKind.REFUSED,
}
_REFUSAL_ERRORS: dict[ProblemKind, type[PluginHostError]] = {
    ProblemKind.MANIFEST_INVALID: ManifestError,
    ProblemKind.WHEEL_INVALID: WheelError,
    ProblemKind.UNTRUSTED: TrustError,
}

#: How many changes of each plugin ``host.status(name).history`` keeps, the latest.
HISTORY_LIMIT: Final = 100


@attrs.frozen
class EngineConfig:
    """The host settings the engine works with."""

    site_root: Path
    staging_root: Path
    api_version: Version
    policy: VersionPolicy
    limits: WheelLimits
    timeouts: Timeouts
    keep_backups: int = 3
    breaking_change: BreakingChange = "reject"
    persist_state: bool = False


class Engine:
    """Applies plans; see the module docstring."""

    def __init__(
        self,
        config: EngineConfig,
        pm: pluggy.PluginManager,
        finder: PluginFinder,
        host: object,
        emit: Callable[[Event], None],
        persist: Callable[[Registry], None],
        validated: Callable[[Path, str], ValidatedWheel | None] = lambda path, sha256: None,
    ) -> None:
        self.config = config
        # The bytes discovery validated, handed over so that installing reads nothing again.
        self._validated = validated
        self.pm = pm
        self.emit = emit
        self._persist = persist
        self.transition = Transition(pm, finder, host, self._install, self._check, config.timeouts)
        self.finder = finder
        self.active: dict[PluginName, Active] = {}
        self.order: list[PluginName] = []
        self.plan: Plan | None = None
        self.problems: list[Problem] = []
        self.failed: dict[PluginName, PluginInfo] = {}
        self.load_failures: dict[CandidateKey, Problem] = {}
        self.removed: set[PluginName] = set()
        self.rejected: set[CandidateKey] = set()
        self.manual: dict[PluginName, Candidate] = {}
        self.backups: dict[PluginName, list[Record]] = {}
        self.history: dict[PluginName, list[HistoryEntry]] = {}
        self.rolled_back: set[PluginName] = set()
        self.draining: set[PluginName] = set()
        self.state: dict[PluginName, Any] = {}
        self.support: tuple[WheelInfo, ...] = ()
        self._records: dict[CandidateKey, Record] = {}
        self._seen: set[CandidateKey] = set()
        self._refused: set[Problem] = set()
        # Which active plugin provides each top-level module; None when to be worked out.
        self._owners: dict[str, PluginName] | None = None
        # Within _loading(): whether plugins were loaded and await their commit.
        self._batching = False
        self._uncommitted = False
        # Within _loading(): plugins loaded anew (not restored) that await their commit.
        self._batched: list[Candidate] = []
        self._doomed: list[Record] = []
        self._fresh: set[Path] = set()
        """Site dirs installed by the change under way (not reused)."""
        self.last_failure: PluginHostError | None = None
        """The error of the last change that failed, without its traceback."""
        self.retry_wanted = False
        """Whether the file system refused a change (disk full, read-only) since the last
        reconcile: the same sources may well go through once it recovers."""

    # -- reconciling with what the sources offer --------------------------------------------

    def reconcile(self, scan: Scan, unavailable: Sequence[Path] = ()) -> None:
        """Make the active set what the candidates at hand and the policy call for.

        :param unavailable: watched folders (or wheels) that cannot be read or trusted now:
            the plugins loaded from them stay offered, so they keep serving until then.
        """
        self.support = scan.support
        self.retry_wanted = False
        present = [
            c
            for c in (*scan.candidates, *self.manual.values(), *self._from(unavailable))
            if c.name not in self.removed
        ]
        offered = [c for c in present if c.key not in self.rejected]
        self._announce(offered)
        # A plugin offered only with conflicting bytes is still offered: it stays loaded. So is
        # one offered only in a version rolled back from: the rollback is what serves it.
        offered_names = {c.name for c in present}
        offered, conflicts = self._drop_conflicts(offered)
        for name in reversed(list(self.order)):
            if name not in offered_names:
                self.unload(name, removed=True)
        # While any source still offers a plugin, its active version stays a candidate unless
        # downgrades are allowed: deleting the newest wheel then changes nothing rather than
        # unloading a plugin whose older wheels the policy refuses.
        keep = not self.config.policy.allow_downgrade
        offered_keys = {c.key for c in offered}
        pool = [
            *offered,
            *(
                a.candidate
                for a in self.active.values()
                if keep and a.candidate.key not in offered_keys
            ),
        ]
        plan, breaking = self._plan(pool)
        self.plan = plan
        self.problems = [*scan.problems, *conflicts, *plan.problems, *breaking]
        self._mark_failed(plan, pool, scan.problems)
        self._report_refusals(scan.problems)
        self._apply(plan)

    def _report_refusals(self, problems: Sequence[Problem]) -> None:
        """An event for each file refused by a look at the sources, once while it stays there."""
        current = {p for p in problems if p.kind in _REFUSALS}
        for problem in sorted(current - self._refused, key=lambda p: (p.path or "", p.message)):
            self.emit(
                Event(
                    _REFUSALS[problem.kind],
                    problem.plugin,
                    version=problem.version,
                    origin=problem.path,
                    error=problem.message,
                    error_type=_qualified(_REFUSAL_ERRORS[problem.kind]),
                    step=str(problem.kind),
                )
            )
        # Forgotten once gone, so that the same bad file dropped again is reported again.
        self._refused = current

    def _from(self, folders: Sequence[Path]) -> list[Candidate]:
        """Active plugins whose wheels lie in ``folders``."""
        return [
            a.candidate
            for a in self.active.values()
            if isinstance(a.candidate.origin, WheelOrigin)
            and any(a.candidate.origin.path.is_relative_to(f) for f in folders)
        ]

    def _announce(self, candidates: Iterable[Candidate]) -> None:
        """A ``discovered`` event for each candidate seen for the first time."""
        for c in candidates:
            if c.key not in self._seen:
                self._seen.add(c.key)
                self.emit(_event(EventKind.DISCOVERED, c))

    def _drop_conflicts(
        self, offered: Sequence[Candidate]
    ) -> tuple[list[Candidate], list[Problem]]:
        """Set aside candidates that claim an active version with other bytes: never a replace."""
        active = {(n, a.candidate.version_text): a.candidate for n, a in self.active.items()}
        kept, problems = [], []
        for c in offered:
            current = active.get((c.name, c.version_text))
            if current is None or current.key == c.key:
                kept.append(c)
                continue
            problems.append(
                Problem(
                    ProblemKind.CONFLICT,
                    c.name,
                    f"{c.name} {c.version} from {c.origin} has other contents "
                    f"(sha256 {c.sha256 or '-'}) than the active {c.name} {c.version} "
                    f"(sha256 {current.sha256 or '-'}); refused: a new version needs a new "
                    "version number",
                    version=c.version_text,
                    path=str(c.origin),
                )
            )
        return kept, problems

    def _plan(self, pool: Sequence[Candidate]) -> tuple[Plan, list[Problem]]:
        plan = self._resolve(pool)
        breaking = self._breaking(plan, pool)
        if breaking and self.config.breaking_change == "cascade":
            # The dependents that stand in the way are let go, and the update goes ahead.
            victims = {PluginName(p.involved[0]) for p in breaking}
            plan = self._resolve([c for c in pool if c.name not in victims])
            for name in victims:
                if name in self.active:
                    self.unload(name, removed=False)
            return plan, [attrs.evolve(p, kind=ProblemKind.DEPENDENCY_FAILED) for p in breaking]
        return plan, breaking

    def _resolve(self, pool: Sequence[Candidate]) -> Plan:
        return resolve(
            pool,
            api_version=self.config.api_version,
            policy=self.config.policy,
            active={name: a.candidate.version for name, a in self.active.items()},
        )

    def _breaking(self, plan: Plan, pool: Sequence[Candidate]) -> list[Problem]:
        """Newer versions held back only because an active dependent's constraint excludes them."""
        problems = []
        allow_pre = self.config.policy.allow_prerelease
        # Grouped once: looking through the whole pool for each plugin grew with its square.
        by_name: dict[PluginName, list[Candidate]] = {}
        for c in pool:
            by_name.setdefault(c.name, []).append(c)
        for name, chosen in plan.chosen.items():
            newer = [
                c
                for c in by_name.get(name, ())
                if c.version > chosen.version
                and c.manifest.host.allows(self.config.api_version, prerelease=True)
                and (allow_pre or c.version.prerelease is None)
            ]
            if not newer:
                continue
            best = max(newer, key=lambda c: c.version)
            for dep_name, dep in self.active.items():
                constraint = dep.candidate.manifest.requires.get(name)
                if constraint is not None and not constraint.allows(
                    best.version, prerelease=allow_pre
                ):
                    problems.append(
                        Problem(
                            ProblemKind.REFUSED,
                            name,
                            f"{name} {best.version} would break {dep_name} "
                            f"{dep.candidate.version}, which requires {name} {constraint}",
                            involved=(dep_name,),
                            version=str(best.version),
                        )
                    )
        return problems

    def _mark_failed(
        self, plan: Plan, pool: Sequence[Candidate], scan_problems: Iterable[Problem]
    ) -> None:
        # A problem marks a plugin failed only when no version of it is chosen: a refused old
        # version of a plugin whose newer version loads is worth reporting, not a failed state.
        self.failed = {n: i for n, i in self.failed.items() if n not in plan.chosen}
        for problem in [*plan.problems, *scan_problems]:
            name = PluginName(problem.plugin or "")
            if not problem.plugin or name in plan.chosen or name in self.active:
                continue
            same = [c for c in pool if c.name == name]
            match = [c for c in same if c.version_text == problem.version] or same
            self.failed[name] = failed_info(name, match[0] if match else None, problem)

    def _apply(self, plan: Plan) -> None:
        """Load, update or re-import what the plan chooses, in its order."""
        with self._loading():
            self._apply_each(plan)

    @contextlib.contextmanager
    def _loading(self) -> Iterator[None]:
        """Commit plugins newly loaded in this block once, at its end.

        One registry write (two fsyncs, the whole set encoded) per plugin made a start with
        hundreds of plugins take seconds. A crash before the end loses only loads, which the
        next start repeats from the same sources; updates and unloads still commit at once.
        """
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            batched, self._batched = self._batched, []
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
            self.retry_wanted = True
            for candidate in reversed(batched):
                if self._is_active(candidate):
                    record = self._record(self.active[candidate.name])
                    self.unload(candidate.name, removed=False, commit=False)
                    self._delete_site(record)
                self.last_failure = _detached(exc, candidate.name)
                self._fail(candidate, load_problem(candidate, exc), exc)

    def _apply_each(self, plan: Plan) -> None:
        try:
            for index, name in enumerate(plan.order):
                candidate = plan.chosen[name]
                # No local reference to the active plugin here: it would outlive the change
                # below and keep the replaced version's modules alive.
                if self._is_active(candidate):
                    continue
                known = self.load_failures.get(candidate.key)
                if known is not None:
                    # The same bytes failed before; trying again would fail the same way.
                    self._record_problem(known)
                    continue
                missing = [
                    d
                    for d in candidate.manifest.requires
                    if d not in self.active and d in plan.chosen
                ]
                if missing:
                    self._fail(candidate, _dependency_problem(candidate, missing[0]), None)
                    continue
                upcoming = (plan.chosen[n] for n in itertools.islice(plan.order, index, None))
                self._import_ahead(upcoming, plan.chosen)
                self.change([name], {name: candidate})
        finally:
            self.transition.discard_ahead()

    def _is_active(self, candidate: Candidate) -> bool:
        active = self.active.get(candidate.name)
        return active is not None and active.candidate.key == candidate.key

    # -- transitions -------------------------------------------------------------------------

    def change(
        self,
        names: Sequence[PluginName],
        targets: Mapping[PluginName, Candidate],
        *,
        inherited: Mapping[PluginName, Any] | None = None,
        rollback: bool = False,
        restoring: bool = False,
    ) -> bool:
        """Take ``names`` (and every active plugin depending on them) to ``targets``.

        Dependents not named in ``targets`` are re-imported at the same version, so that they
        bind to the new modules of what they depend on.

        :returns: whether the change was committed (on failure everything is as before).
        """
        self.last_failure = None
        self._fresh.clear()
        group = self._group(names)
        members = [
            Member(targets.get(n) or self.active[n].candidate, self.active.get(n)) for n in group
        ]
        if inherited:
            for m in members:
                saved = inherited.get(m.name)
                if m.old is None and isinstance(saved, dict) and "value" in saved:
                    m.inherited = (saved["value"], str(saved.get("version", "")))
        for m in members:
            self.emit(
                _event(
                    EventKind.LOADING,
                    m.candidate,
                    previous_version=m.old.candidate.version_text if m.old else None,
                )
            )
        try:
            retirement = self.transition.run(members)
        except PluginHostError as exc:
            self._failed_change(members, exc)
            return False
        if not self._commit_switch(members, retirement, rollback=rollback, restoring=restoring):
            return False
        for m in members:
            if m.old is not None:
                self.draining.add(m.name)
        previous = {m.name: m.old.candidate.version_text for m in members if m.old}
        crash_point("during_drain", members[0].candidate.version_text)
        drained, errors, leaked = retirement.finish()
        self.draining.clear()
        problems = [*errors, *_leak_text(leaked)]
        self._retired(members, previous, drained, problems, rollback, restoring)
        return True

    def _commit_switch(
        self, members: Sequence[Member], retirement: Retirement, *, rollback: bool, restoring: bool
    ) -> bool:
        """Record the switched-in members and commit; if the commit fails, switch back.

        Until the registry says so, the new versions are not what a restart would load: a
        change whose commit fails is undone like one whose health check fails.
        """
        before = self._bookkeeping()
        for m in members:
            self._activated(m, rollback=rollback)
        if self._batching and all(m.old is None for m in members):
            self._uncommitted = True  # committed with the others at the end of _loading()
            if not restoring:
                self._batched += [m.candidate for m in members]
            return True
        try:
            self.commit()
        except StoreError as exc:
            self._restore_bookkeeping(before)
            del before
            self._doomed.clear()
            retirement.undo()
            self._failed_change(members, exc)
            return False
        del before
        # Backups beyond keep_backups go only now: the registry no longer names them.
        for record in self._doomed:
            self._delete_site(record)
        self._doomed.clear()
        return True

    def _bookkeeping(self) -> tuple[Any, ...]:
        return (
            list(self.order),
            dict(self.active),
            {n: list(rs) for n, rs in self.backups.items()},
            set(self.rolled_back),
            dict(self.failed),
            dict(self.state),
        )

    def _restore_bookkeeping(self, saved: tuple[Any, ...]) -> None:
        order, active, backups, rolled_back, failed, state = saved
        self.order[:] = order
        self.active.clear()
        self.active.update(active)
        self.backups = backups
        self.rolled_back = rolled_back
        self.failed = failed
        self.state = state

    def _group(self, names: Sequence[PluginName]) -> list[PluginName]:
        """``names`` plus the active plugins that depend on any of them, in load order."""
        if not any(n in self.active for n in names):
            # Only active plugins have active dependents; skipping the graph keeps loading
            # hundreds of plugins from costing the square of their number.
            return list(names)
        graph = {n: tuple(a.candidate.manifest.requires) for n, a in self.active.items()}
        found = set(names)
        grew = True
        while grew:
            extra = {n for n, deps in graph.items() if n not in found and found & set(deps)}
            found |= extra
            grew = bool(extra)
        in_order = [n for n in self.order if n in found]
        return in_order + [n for n in names if n not in in_order]

    def _activated(self, m: Member, *, rollback: bool) -> None:
        assert m.impls is not None
        active = Active(m.candidate, m.impls, m.site_dir, m.top_level, m.effects)
        name = m.name
        if m.old is None:
            self.order.append(name)
        elif m.old.candidate.key != m.candidate.key and not rollback:
            self._push_backup(name, self._record(m.old))
        self.active[name] = active
        if self._owners is not None:
            for module in m.old.top_level if m.old is not None else ():
                self._owners.pop(module, None)
            self._owners.update(dict.fromkeys(active.top_level, name))
        self.failed.pop(name, None)
        if rollback:
            self.rolled_back.add(name)
        else:
            self.rolled_back.discard(name)

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
            self.emit(
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
            if before is None:
                kind = EventKind.LOADED
            else:
                kind = EventKind.ROLLED_BACK if rollback else EventKind.UPDATED
            self._history(m.name, str(kind), m.candidate, error if before is not None else None)
            self.emit(
                _event(
                    kind,
                    m.candidate,
                    previous_version=before,
                    error=error if before is not None else None,
                    # A start loading what was committed installs nothing: it restores.
                    step="restore" if restoring else None,
                )
            )

    def _failed_change(self, members: Sequence[Member], exc: PluginHostError) -> None:
        """Report a change that was undone: the failure, and the rollback if something served."""
        # The blame goes to the version that changed: a dependent re-imported against it and
        # failing is a symptom, and must not be marked as broken bytes itself.
        changed = [m for m in members if m.old is None or m.old.candidate.key != m.candidate.key]
        culprit = next(
            (m for m in changed if m.name == exc.plugin), changed[0] if changed else members[0]
        )
        problem = load_problem(culprit.candidate, exc)
        self.last_failure = _detached(exc, culprit.name)
        if isinstance(exc, InstallError | StoreError):
            self.retry_wanted = True
        self._fail(culprit.candidate, problem, exc)
        # The site dirs this change installed go, or every broken drop would leave one behind.
        for m in changed:
            if m.site_dir is not None and m.site_dir in self._fresh:
                self._delete_site(Record(m.candidate, m.site_dir.name, m.top_level))
        self._fresh.clear()
        for m in members:
            if m.old is not None:
                self.emit(
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
                self.rolled_back.add(m.name)

    # -- unloading, rollback, restore ----------------------------------------------------------

    def unload(self, name: PluginName, *, removed: bool, commit: bool = True) -> None:
        """Switch a plugin (and its dependents, first) out, drain, deactivate and purge it.

        :param removed: its wheel went away (a ``removed`` event) rather than an unload asked for.
        :param commit: write the registry afterwards; ``stop()`` does not, so that the next
            start restores what was active.
        """
        while dependents := self._dependents(name):
            dependent = dependents[-1]
            self.unload(dependent, removed=False, commit=commit)
            self._record_problem(
                Problem(
                    ProblemKind.DEPENDENCY_FAILED,
                    dependent,
                    f"{dependent} was unloaded because {name}, which it requires, went away",
                    involved=(name,),
                )
            )
        candidate = self.active[name].candidate
        record = self._record(self.active[name])
        version = candidate.version_text
        index = self.order.index(name)
        self.order.remove(name)
        if commit:
            # Committed before the plugin is switched out: when the registry cannot be written,
            # nothing has changed yet and the plugin keeps serving.
            crash_point("removal_before_persisting", version)
            try:
                self.commit()
            except StoreError as exc:
                self.order.insert(index, name)
                self.retry_wanted = True
                self.emit(Event.failure(EventKind.UNLOAD_FAILED, name, exc, version=version))
                raise
            crash_point("removal_after_persisting", version)
        self.rolled_back.discard(name)
        self.emit(_event(EventKind.UNLOADING, candidate))
        # The engine keeps no reference of its own, so that the purge can see the modules go.
        problems = self.transition.unload(self.active, name)
        self._owners = None
        if commit:
            # Committed without it: its site dir is named by nothing (stop() keeps it).
            self._delete_site(record)
        kind = EventKind.REMOVED if removed else EventKind.UNLOADED
        self._history(name, str(kind), candidate, "; ".join(problems) or None)
        self.emit(attrs.evolve(_event(kind, candidate), error="; ".join(problems) or None))

    def _dependents(self, name: PluginName) -> list[PluginName]:
        """Active plugins that depend on ``name``, directly or not, in load order."""
        return [n for n in self._group([name]) if n != name]

    def rollback(self, name: PluginName) -> PluginInfo:
        """Go back to the most recent backup of ``name``.

        :raises HostStateError: when the plugin is not active or has no backup.
        :raises ActivationError: when the rollback itself fails (the current version stays).
        """
        if name not in self.active:
            raise HostStateError(f"plugin {name!r} is not active", plugin=name)
        backups = self.backups.get(name) or []
        if not backups:
            raise HostStateError(
                f"plugin {name!r} has no earlier version to roll back to", plugin=name
            )
        record = backups.pop(0)
        current = self.active[name].candidate
        current_record = self._record(self.active[name])
        # Off the backups, and the version rolled back from rejected (kept out until its bytes
        # change or it is installed again, across restarts too), before the change, so that its
        # one commit records the whole rollback. The transition finds the backup's site dir
        # among the known records.
        self._records[record.candidate.key] = record
        self.rejected.add(current.key)
        if not self.change([name], {name: record.candidate}, rollback=True):
            self.backups.setdefault(name, []).insert(0, record)
            self.rejected.discard(current.key)
            raise _rollback_failed(record.candidate, current, self.last_failure)
        # Nothing names the version rolled back from any more.
        self._delete_site(current_record)
        return self.info(name)

    def restore(self, registry: Registry) -> None:
        """Load exactly the committed active set, from its site dirs, without reinstalling."""
        for name, records in registry.history.items():
            self.backups[name] = list(records)
        self.removed.update(registry.removed)
        self.rejected.update(registry.rejected)
        for record in registry.active:
            self._records[record.candidate.key] = record
            if record.manual:
                self.manual[record.candidate.name] = record.candidate
        inherited = dict(registry.state) if self.config.persist_state else {}
        # Kept in every later commit, so a crash before the next stop does not lose it.
        self.state.update(inherited)
        with self._loading():
            self._restore_each(registry, inherited)

    def _restore_each(self, registry: Registry, inherited: Mapping[PluginName, Any]) -> None:
        committed = {r.candidate.name for r in registry.active}
        try:
            for index, record in enumerate(registry.active):
                name = record.candidate.name
                missing = [d for d in record.candidate.manifest.requires if d not in self.active]
                if missing:
                    self._fail(
                        record.candidate, _dependency_problem(record.candidate, missing[0]), None
                    )
                    continue
                upcoming = (r.candidate for r in itertools.islice(registry.active, index, None))
                self._import_ahead(upcoming, committed)
                self.change([name], {name: record.candidate}, inherited=inherited, restoring=True)
        finally:
            self.transition.discard_ahead()

    def _import_ahead(self, upcoming: Iterable[Candidate], planned: Collection[str]) -> None:
        """Import the run of new plugins about to load, at once (see :mod:`pluginhost.load.ahead`).

        The run starts with the next plugin and ends before the first that is not new, not
        installed yet, needs a plugin of the run or still to load (``planned`` and not
        active), or shares a top-level name with one of the run. Nothing happens when the next
        plugin was imported ahead already, or when the run is a single plugin.
        """
        run: list[Member] = []
        taken: set[str] = set()
        for candidate in upcoming:
            if self.transition.is_ahead(candidate):
                break
            placed = self._placed(candidate)
            needs = (*candidate.manifest.requires, *candidate.manifest.optional)
            if (
                placed is None
                or candidate.key in self.load_failures
                or any(d in planned and d not in self.active for d in needs)
                or not taken.isdisjoint(placed[1])
            ):
                break
            taken.update(placed[1])
            run.append(Member(candidate, None, site_dir=placed[0], top_level=placed[1]))
        if len(run) > 1:
            self.transition.import_ahead(run)

    def _placed(self, candidate: Candidate) -> tuple[Path | None, tuple[str, ...]] | None:
        """Where a new plugin imports from, if it needs no install and passes the checks."""
        # A wheel still to install is installed in its own transition, which may fail.
        placed = None if candidate.name in self.active else self._in_place(candidate)
        if placed is None:
            return None
        try:
            self._check(candidate, placed[1], placed[0], {candidate.name})
        except ResolutionError:
            return None  # refused in its own transition, which says why
        return placed

    def prune_sites(self) -> list[str]:
        """Delete site dirs that neither the active set nor a backup names (left by a crash
        between an install and its commit); returns their names."""
        keep = {a.site_dir.name for a in self.active.values() if a.site_dir is not None}
        keep |= {r.site_dir for rs in self.backups.values() for r in rs if r.site_dir}
        pruned = []
        for entry in sorted(self.config.site_root.iterdir()):
            if entry.is_dir() and not entry.is_symlink() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                pruned.append(entry.name)
        return pruned

    # -- persistence ------------------------------------------------------------------------

    def commit(self) -> None:
        """Write the registry: the active set is committed once this returns.

        With ``persist_state``, each active plugin's state is exported into the same document,
        so a crash loses no more than what changed since the last commit.
        """
        crash_point("while_persisting", _versions_text(self.active.values()))
        self._persist(self.snapshot(with_state=self.config.persist_state))
        crash_point("after_persisting", _versions_text(self.active.values()))

    def snapshot(self, *, with_state: bool = False) -> Registry:
        """The registry document for the present state.

        :param with_state: export each active plugin's state now; otherwise the state saved
            before is kept. Each saved state names the version that exported it.
        """
        if with_state:
            for name in self.order:
                self._save_state(name)
        return Registry(
            active=tuple(self._record(self.active[n]) for n in self.order),
            history={n: tuple(r) for n, r in self.backups.items() if r},
            state=dict(self.state),
            removed=tuple(sorted(self.removed)),
            rejected=tuple(sorted(self.rejected)),
        )

    def _save_state(self, name: PluginName) -> None:
        active = self.active[name]
        try:
            # Bounded like every other run of plugin code: a state export that hangs or raises
            # SystemExit must not take the commit, and the host's lock, with it.
            value = bounded(
                functools.partial(_json_state, active.impls),
                self.config.timeouts.activate,
                plugin=name,
                step="export_state",
            )
        except ActivationError as exc:
            logger.warning("plugin %s: state not saved: %s", name, exc.reason)
            return
        if value is not None:
            self.state[name] = {"version": active.candidate.version_text, "value": value}

    def _record(self, active: Active) -> Record:
        site = active.site_dir
        return Record(
            candidate=active.candidate,
            site_dir=site.name if site is not None else None,
            top_level=active.top_level,
            manual=self.manual.get(active.name) == active.candidate,
        )

    def _push_backup(self, name: PluginName, record: Record) -> None:
        kept = [r for r in self.backups.get(name, []) if r.candidate.key != record.candidate.key]
        kept.insert(0, record)
        self.backups[name] = kept[: self.config.keep_backups]
        # Deleted once the commit that drops them from the registry is done.
        self._doomed += kept[self.config.keep_backups :]

    def _delete_site(self, record: Record) -> None:
        if record.site_dir is None:
            return
        in_use = {a.site_dir.name for a in self.active.values() if a.site_dir is not None}
        kept = {r.site_dir for rs in self.backups.values() for r in rs}
        if record.site_dir in in_use or record.site_dir in kept:
            return
        # Only ever a direct child of site_root, named by us: never a path from a document.
        target = self.config.site_root / Path(record.site_dir).name
        # Renamed aside first, so that a crash midway never leaves a partial dir under the name
        # of a version; the next start prunes the dot-dir, which nothing names.
        doomed = target.with_name(f".{target.name}.deleting")
        try:
            target.rename(doomed)
        except OSError:
            doomed = target
        crash_point("while_deleting_site", record.candidate.version_text)
        shutil.rmtree(doomed, ignore_errors=True)

    # -- the steps the transition delegates ---------------------------------------------------

    def _install(self, candidate: Candidate) -> tuple[Path | None, tuple[str, ...]]:
        """Put a candidate's files in place, reusing a site dir already installed.

        A dependent re-imported with its dependency is already installed: its wheel may be
        long gone, and must not be needed.
        """
        placed = self._in_place(candidate)
        if placed is not None:
            return placed
        origin = candidate.origin
        assert isinstance(origin, WheelOrigin)  # anything else is in place
        extras = support_wheels_for(candidate.name, candidate.requires_dist, self.support)
        site_info = install_wheel(
            origin.path,
            site_root=self.config.site_root,
            staging_root=self.config.staging_root,
            name=candidate.name,
            version=candidate.version_text,
            expected_sha256=origin.sha256,
            extra_wheels=[self._validated(w.path, w.sha256) or w.path for w in extras],
            limits=self.config.limits,
            validated=self._validated(origin.path, origin.sha256),
        )
        if not site_info.reused:
            self._fresh.add(site_info.path)
        crash_point("after_install", candidate.version_text)
        return site_info.path, site_info.top_level

    def _in_place(self, candidate: Candidate) -> tuple[Path | None, tuple[str, ...]] | None:
        """Where a candidate imports from without installing anything, or ``None`` when its
        wheel must be installed: a site dir installed before, or the environment."""
        record = self._known(candidate)
        if record is not None and record.site_dir is not None:
            site = self.config.site_root / Path(record.site_dir).name
            if site.is_dir():
                return site, record.top_level
        if isinstance(candidate.origin, WheelOrigin):
            return None
        return None, candidate.top_level

    def _known(self, candidate: Candidate) -> Record | None:
        """The record of an installed copy of ``candidate``: active, restored, or a backup."""
        active = self.active.get(candidate.name)
        if active is not None and active.candidate.key == candidate.key:
            return self._record(active)
        for record in [self._records.get(candidate.key), *self.backups.get(candidate.name, [])]:
            if record is not None and record.candidate.key == candidate.key:
                return record
        return None

    def _check(
        self,
        candidate: Candidate,
        top_level: Sequence[str],
        site_dir: Path | None,
        members: set[str],
    ) -> None:
        """Refuse top-level names that another plugin or the host already provides."""
        if self._owners is None:
            # Kept between checks (and dropped when the active set changes): built for each
            # plugin, it made a start with many plugins cost the square of their number.
            self._owners = {m: n for n, a in self.active.items() for m in a.top_level}
        owners = self._owners
        for module in top_level:
            owner = owners.get(module)
            if owner is not None and owner not in members:
                raise ResolutionError(
                    f"top-level module {module!r} is provided both by plugin {owner!r} "
                    f"and by plugin {candidate.name!r}",
                    plugin=candidate.name,
                )
            if owner is None and site_dir is not None and _host_provides(module):
                raise ResolutionError(
                    f"top-level module {module!r} of plugin {candidate.name!r} is already "
                    f"provided by the host environment ({_host_location(module)})",
                    plugin=candidate.name,
                )

    # -- bookkeeping ---------------------------------------------------------------------------

    def _fail(self, candidate: Candidate, problem: Problem, exc: PluginHostError | None) -> None:
        self._record_problem(problem)
        name = candidate.name
        if name not in self.active:
            self.failed[name] = failed_info(name, candidate, problem)
        # A full or read-only disk is no fault of the bytes: they are tried again at the next
        # change in the folders, or by install().
        if problem.kind in {
            ProblemKind.LOAD_FAILED,
            ProblemKind.WHEEL_INVALID,
            ProblemKind.CONFLICT,
        } and not isinstance(exc, InstallError | StoreError):
            self.load_failures[candidate.key] = problem
        self._history(name, "failed", candidate, problem.message)
        serving = self.active.get(name)
        previous = str(serving.candidate.version) if serving is not None else None
        if exc is not None:
            self.emit(
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
            failure = _event(EventKind.LOAD_FAILED, candidate, previous_version=previous)
            self.emit(attrs.evolve(failure, error=problem.message))

    def _record_problem(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def _history(
        self, name: PluginName, outcome: str, c: Candidate, error: str | None = None
    ) -> None:
        entry = HistoryEntry(c.version_text, outcome, time.time(), c.sha256, error)
        entries = self.history.setdefault(name, [])
        entries.append(entry)
        # Bounded: a host swapping all day must not grow, nor its status document with it.
        del entries[:-HISTORY_LIMIT]

    def info(self, name: PluginName) -> PluginInfo:
        """The snapshot of one plugin, active or failed (safe without the host lock)."""
        active = self.active.get(name)
        if active is None:
            failed = self.failed.get(name)
            if failed is None:
                raise HostStateError(f"no plugin named {name!r}", plugin=name)
            return failed
        state = PluginState.ACTIVE
        if name in self.draining:
            state = PluginState.DRAINING
        elif name in self.rolled_back:
            state = PluginState.ROLLED_BACK
        return plugin_info(active.candidate, state, active.site_dir, None)

    def status(self, name: PluginName) -> PluginStatus:
        """``host.status(name)``."""
        return PluginStatus(
            info=self.info(name),
            history=tuple(self.history.get(name, ())),
            backups=tuple(str(r.candidate.version) for r in self.backups.get(name, ())),
        )


def _dependency_problem(candidate: Candidate, dep: str) -> Problem:
    return Problem(
        ProblemKind.DEPENDENCY_FAILED,
        candidate.name,
        f"{candidate.name} {candidate.version} was skipped because {dep}, "
        "which it requires, is not active",
        involved=(dep,),
        version=candidate.version_text,
    )


def _event(kind: EventKind, c: Candidate, **fields: Any) -> Event:
    return Event(
        kind, c.name, version=c.version_text, origin=str(c.origin), sha256=c.sha256, **fields
    )


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _detached(exc: PluginHostError, plugin: str) -> PluginHostError:
    """A copy of ``exc`` naming ``plugin``, without the traceback that would pin the frames (and
    so the modules) of the version that failed."""
    clone = copy.copy(exc)
    if clone.plugin is None:
        clone.plugin = plugin
        clone.args = (clone._message(),)
    return clone


def _rollback_failed(
    target: Candidate, current: Candidate, failure: PluginHostError | None
) -> PluginHostError:
    """The error of a rollback that was undone: the file system's own kind when it refused."""
    reason = f"rollback to {target.version} failed; {current.version} stays active"
    if failure is not None:
        reason = f"{reason}: {failure.reason}"
    if isinstance(failure, InstallError | StoreError):
        return type(failure)(reason, plugin=current.name, path=failure.path)
    return ActivationError(reason, plugin=current.name, step="rollback")


def _json_state(impls: Implementations) -> object:
    """A plugin's exported state, checked here so that one plugin's odd state never fails the
    whole commit."""
    value = call_hook(impls, "pluginhost_export_state")
    json.dumps(value, allow_nan=False)
    return value


def _leak_text(leaked: Sequence[str]) -> list[str]:
    if not leaked:
        return []
    return [
        "modules still referenced after unload (restart recommended to free them): "
        + ", ".join(leaked)
    ]


def _versions_text(actives: Iterable[Active]) -> str:
    return ",".join(a.candidate.version_text for a in actives)


def plugin_info(
    candidate: Candidate, state: PluginState, site_dir: Path | None, error: str | None
) -> PluginInfo:
    """A :class:`PluginInfo` for ``candidate``."""
    manifest = candidate.manifest
    return PluginInfo(
        name=candidate.name,
        version=candidate.version_text,
        state=state,
        origin=str(candidate.origin),
        distribution=candidate.distribution,
        requires={k: str(v) for k, v in manifest.requires.items()},
        optional={k: str(v) for k, v in manifest.optional.items()},
        site_dir=site_dir,
        sha256=candidate.sha256,
        error=error,
    )


def failed_info(name: str, candidate: Candidate | None, problem: Problem) -> PluginInfo:
    """The snapshot of a plugin that is not active because of ``problem``."""
    if candidate is not None:
        return plugin_info(candidate, PluginState.FAILED, None, problem.message)
    return PluginInfo(
        name=name,
        version=problem.version or "",
        state=PluginState.FAILED,
        origin=problem.path or "",
        distribution="",
        error=problem.message,
    )


def load_problem(candidate: Candidate, exc: PluginHostError) -> Problem:
    """The problem a failed load of ``candidate`` is reported as."""
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
    )


def _host_provides(module: str) -> bool:
    if module in sys.modules or module in sys.builtin_module_names:
        return True
    if module in sys.stdlib_module_names:
        return True
    return importlib.machinery.PathFinder.find_spec(module) is not None


def _host_location(module: str) -> str:
    loaded = sys.modules.get(module)
    if loaded is not None:
        return getattr(loaded, "__file__", None) or "already imported"
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return "the standard library"
    spec = importlib.machinery.PathFinder.find_spec(module)
    return str(spec.origin) if spec and spec.origin else "on sys.path"
