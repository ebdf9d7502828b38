"""The engine: turns a plan into changes of the active set, one transition at a time.

It owns the host's mutable state (what is active, in which order, what failed and why, the
backups kept for rollback) and is only ever called with the host's lock held.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import attrs
import pluggy

from ._activate import PluginFinder
from ._candidate import Candidate, WheelOrigin
from ._errors import ActivationError, HostStateError, PluginHostError, ResolutionError, WheelError
from ._events import Event, EventKind
from ._faults import crash_point
from ._install import install_wheel
from ._names import PluginName
from ._policy import VersionPolicy
from ._problems import Problem, ProblemKind
from ._registry import Record, Registry
from ._requirements import support_wheels_for
from ._resolve import Plan, resolve
from ._sources import Scan
from ._status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from ._transition import Active, Member, Timeouts, Transition, call_hook
from ._versions import Version
from ._wheel import WheelInfo, WheelLimits

__all__ = ["Engine", "EngineConfig"]

logger = logging.getLogger("pluginhost")

BreakingChange = Literal["reject", "cascade"]

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


Key = tuple[str, str, str]


def key_of(candidate: Candidate) -> Key:
    """Identity of a candidate's bytes: name, version and hash (or origin)."""
    return (candidate.name, str(candidate.version), candidate.sha256 or str(candidate.origin))


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
    ) -> None:
        self.config = config
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
        self.load_failures: dict[Key, Problem] = {}
        self.removed: set[PluginName] = set()
        self.rejected: set[Key] = set()
        self.manual: dict[PluginName, Candidate] = {}
        self.backups: dict[PluginName, list[Record]] = {}
        self.history: dict[PluginName, list[HistoryEntry]] = {}
        self.rolled_back: set[PluginName] = set()
        self.draining: set[PluginName] = set()
        self.state: dict[PluginName, Any] = {}
        self.support: tuple[WheelInfo, ...] = ()
        self._records: dict[Key, Record] = {}
        self._seen: set[Key] = set()
        # Which active plugin provides each top-level module; None when to be worked out.
        self._owners: dict[str, PluginName] | None = None
        # Within _loading(): whether plugins were loaded and await their commit.
        self._batching = False
        self._uncommitted = False

    # -- reconciling with what the sources offer --------------------------------------------

    def reconcile(self, scan: Scan, unavailable: Sequence[Path] = ()) -> None:
        """Make the active set what the candidates at hand and the policy call for.

        :param unavailable: watched folders that cannot be read now: the plugins loaded from
            them stay offered, so they keep serving until the folder is back.
        """
        self.support = scan.support
        offered = [
            c
            for c in (*scan.candidates, *self.manual.values(), *self._from(unavailable))
            if c.name not in self.removed and key_of(c) not in self.rejected
        ]
        self._announce(offered)
        # A plugin offered only with conflicting bytes is still offered: it stays loaded.
        offered_names = {c.name for c in offered}
        offered, conflicts = self._drop_conflicts(offered)
        for name in reversed(list(self.order)):
            if name not in offered_names:
                self.unload(name, removed=True)
        # While any source still offers a plugin, its active version stays a candidate unless
        # downgrades are allowed: deleting the newest wheel then changes nothing rather than
        # unloading a plugin whose older wheels the policy refuses.
        keep = not self.config.policy.allow_downgrade
        offered_keys = {key_of(c) for c in offered}
        pool = [
            *offered,
            *(
                a.candidate
                for a in self.active.values()
                if keep and key_of(a.candidate) not in offered_keys
            ),
        ]
        plan, breaking = self._plan(pool)
        self.plan = plan
        self.problems = [*scan.problems, *conflicts, *plan.problems, *breaking]
        self._mark_failed(plan, pool, scan.problems)
        for problem in scan.problems:
            if problem.kind is ProblemKind.MANIFEST_INVALID:
                self.emit(
                    Event(
                        EventKind.MANIFEST_INVALID,
                        problem.plugin,
                        origin=problem.path,
                        error=problem.message,
                    )
                )
        self._apply(plan)

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
            if key_of(c) not in self._seen:
                self._seen.add(key_of(c))
                self.emit(_event(EventKind.DISCOVERED, c))

    def _drop_conflicts(
        self, offered: Sequence[Candidate]
    ) -> tuple[list[Candidate], list[Problem]]:
        """Set aside candidates that claim an active version with other bytes: never a replace."""
        active = {(n, str(a.candidate.version)): a.candidate for n, a in self.active.items()}
        kept, problems = [], []
        for c in offered:
            current = active.get((c.name, str(c.version)))
            if current is None or key_of(current) == key_of(c):
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
                    version=str(c.version),
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
            match = [c for c in same if str(c.version) == problem.version] or same
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
            if self._uncommitted:
                self._uncommitted = False
                self.commit()

    def _apply_each(self, plan: Plan) -> None:
        for name in plan.order:
            candidate = plan.chosen[name]
            # No local reference to the active plugin here: it would outlive the change below
            # and keep the replaced version's modules alive.
            if self._is_active(candidate):
                continue
            known = self.load_failures.get(key_of(candidate))
            if known is not None:
                # The same bytes failed before; trying again would fail the same way.
                self._record_problem(known)
                continue
            missing = [
                d for d in candidate.manifest.requires if d not in self.active and d in plan.chosen
            ]
            if missing:
                self._fail(candidate, _dependency_problem(candidate, missing[0]), None)
                continue
            self.change([name], {name: candidate})

    def _is_active(self, candidate: Candidate) -> bool:
        active = self.active.get(candidate.name)
        return active is not None and key_of(active.candidate) == key_of(candidate)

    # -- transitions -------------------------------------------------------------------------

    def change(
        self,
        names: Sequence[PluginName],
        targets: Mapping[PluginName, Candidate],
        *,
        inherited: Mapping[PluginName, Any] | None = None,
        rollback: bool = False,
    ) -> bool:
        """Take ``names`` (and every active plugin depending on them) to ``targets``.

        Dependents not named in ``targets`` are re-imported at the same version, so that they
        bind to the new modules of what they depend on.

        :returns: whether the change was committed (on failure everything is as before).
        """
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
                Event(
                    EventKind.LOADING,
                    m.name,
                    version=str(m.candidate.version),
                    previous_version=str(m.old.candidate.version) if m.old else None,
                    origin=str(m.candidate.origin),
                )
            )
        try:
            retirement = self.transition.run(members)
        except PluginHostError as exc:
            self._failed_change(members, exc)
            return False
        for m in members:
            self._activated(m, rollback=rollback)
        if self._batching and all(m.old is None for m in members):
            self._uncommitted = True
        else:
            self.commit()
        for m in members:
            if m.old is not None:
                self.draining.add(m.name)
        previous = {m.name: str(m.old.candidate.version) for m in members if m.old}
        crash_point("during_drain", str(members[0].candidate.version))
        drained, errors, leaked = retirement.finish()
        self.draining.clear()
        self._retired(members, previous, drained, [*errors, *_leak_text(leaked)], rollback)
        return True

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
        active = Active(m.candidate, m.impls, m.site_dir, m.top_level)
        name = m.name
        if m.old is None:
            self.order.append(name)
        elif key_of(m.old.candidate) != key_of(m.candidate) and not rollback:
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
            self._history(m.name, str(kind), m.candidate)
            self.emit(
                Event(
                    kind,
                    m.name,
                    version=str(m.candidate.version),
                    previous_version=before,
                    origin=str(m.candidate.origin),
                    error=error if before is not None else None,
                )
            )

    def _failed_change(self, members: Sequence[Member], exc: PluginHostError) -> None:
        """Report a change that was undone: the failure, and the rollback if something served."""
        # The blame goes to the version that changed: a dependent re-imported against it and
        # failing is a symptom, and must not be marked as broken bytes itself.
        changed = [
            m for m in members if m.old is None or key_of(m.old.candidate) != key_of(m.candidate)
        ]
        culprit = next(
            (m for m in changed if m.name == exc.plugin), changed[0] if changed else members[0]
        )
        problem = load_problem(culprit.candidate, exc)
        self._fail(culprit.candidate, problem, exc)
        for m in members:
            if m.old is not None:
                self.emit(
                    Event.failure(
                        EventKind.ROLLED_BACK,
                        m.name,
                        exc,
                        version=str(m.old.candidate.version),
                        previous_version=str(m.candidate.version),
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
        self.order.remove(name)
        self.rolled_back.discard(name)
        self.emit(_event(EventKind.UNLOADING, candidate))
        # The engine keeps no reference of its own, so that the purge can see the modules go.
        problems = self.transition.unload(self.active, name)
        self._owners = None
        if commit:
            self.commit()
        kind = EventKind.REMOVED if removed else EventKind.UNLOADED
        self._history(name, str(kind), candidate)
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
        record = backups[0]
        current = self.active[name].candidate
        if not self.change([name], {name: record.candidate}, rollback=True):
            raise ActivationError(
                f"rollback to {record.candidate.version} failed; {current.version} stays active",
                plugin=name,
                step="rollback",
            )
        # The version rolled back from stays out until its bytes change or it is installed again.
        self.rejected.add(key_of(current))
        backups.pop(0)
        self.commit()
        return self.info(name)

    def restore(self, registry: Registry) -> None:
        """Load exactly the committed active set, from its site dirs, without reinstalling."""
        for name, records in registry.history.items():
            self.backups[name] = list(records)
        self.removed.update(registry.removed)
        for record in registry.active:
            self._records[key_of(record.candidate)] = record
            if record.manual:
                self.manual[record.candidate.name] = record.candidate
        inherited = dict(registry.state) if self.config.persist_state else {}
        # Kept in every later commit, so a crash before the next stop does not lose it.
        self.state.update(inherited)
        with self._loading():
            self._restore_each(registry, inherited)

    def _restore_each(self, registry: Registry, inherited: Mapping[PluginName, Any]) -> None:
        for record in registry.active:
            name = record.candidate.name
            missing = [d for d in record.candidate.manifest.requires if d not in self.active]
            if missing:
                self._fail(
                    record.candidate, _dependency_problem(record.candidate, missing[0]), None
                )
                continue
            self.change([name], {name: record.candidate}, inherited=inherited)

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
        )

    def _save_state(self, name: PluginName) -> None:
        active = self.active[name]
        try:
            value = call_hook(active.impls, "pluginhost_export_state")
            # Checked here so that one plugin's odd state never fails the whole commit.
            json.dumps(value, allow_nan=False)
        except Exception as exc:
            logger.warning("plugin %s: state not saved: %s: %s", name, type(exc).__name__, exc)
            return
        if value is not None:
            self.state[name] = {"version": str(active.candidate.version), "value": value}

    def _record(self, active: Active) -> Record:
        site = active.site_dir
        return Record(
            candidate=active.candidate,
            site_dir=site.name if site is not None else None,
            top_level=active.top_level,
            manual=self.manual.get(active.name) == active.candidate,
        )

    def _push_backup(self, name: PluginName, record: Record) -> None:
        kept = [
            r for r in self.backups.get(name, []) if key_of(r.candidate) != key_of(record.candidate)
        ]
        kept.insert(0, record)
        self.backups[name] = kept[: self.config.keep_backups]
        for dropped in kept[self.config.keep_backups :]:
            self._delete_site(dropped)

    def _delete_site(self, record: Record) -> None:
        if record.site_dir is None:
            return
        in_use = {a.site_dir.name for a in self.active.values() if a.site_dir is not None}
        kept = {r.site_dir for rs in self.backups.values() for r in rs}
        if record.site_dir in in_use or record.site_dir in kept:
            return
        # Only ever a direct child of site_root, named by us: never a path from a document.
        target = self.config.site_root / Path(record.site_dir).name
        shutil.rmtree(target, ignore_errors=True)

    # -- the steps the transition delegates ---------------------------------------------------

    def _install(self, candidate: Candidate) -> tuple[Path | None, tuple[str, ...]]:
        """Put a candidate's files in place, reusing a site dir already installed.

        A dependent re-imported with its dependency is already installed: its wheel may be
        long gone, and must not be needed.
        """
        record = self._known(candidate)
        if record is not None and record.site_dir is not None:
            site = self.config.site_root / Path(record.site_dir).name
            if site.is_dir():
                return site, record.top_level
        origin = candidate.origin
        if not isinstance(origin, WheelOrigin):
            return None, candidate.top_level
        extras = support_wheels_for(candidate.name, candidate.requires_dist, self.support)
        site_info = install_wheel(
            origin.path,
            site_root=self.config.site_root,
            staging_root=self.config.staging_root,
            name=candidate.name,
            version=str(candidate.version),
            expected_sha256=origin.sha256,
            extra_wheels=[w.path for w in extras],
            limits=self.config.limits,
        )
        crash_point("after_install", str(candidate.version))
        return site_info.path, site_info.top_level

    def _known(self, candidate: Candidate) -> Record | None:
        """The record of an installed copy of ``candidate``: active, restored, or a backup."""
        active = self.active.get(candidate.name)
        if active is not None and key_of(active.candidate) == key_of(candidate):
            return self._record(active)
        for record in [self._records.get(key_of(candidate)), *self.backups.get(candidate.name, [])]:
            if record is not None and key_of(record.candidate) == key_of(candidate):
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
        if problem.kind in {
            ProblemKind.LOAD_FAILED,
            ProblemKind.WHEEL_INVALID,
            ProblemKind.CONFLICT,
        }:
            self.load_failures[key_of(candidate)] = problem
        self._history(name, "failed", candidate, problem.message)
        if exc is not None:
            self.emit(
                Event.failure(
                    EventKind.LOAD_FAILED,
                    name,
                    exc,
                    version=str(candidate.version),
                    origin=str(candidate.origin),
                )
            )
        else:
            self.emit(attrs.evolve(_event(EventKind.LOAD_FAILED, candidate), error=problem.message))

    def _record_problem(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def _history(
        self, name: PluginName, outcome: str, c: Candidate, error: str | None = None
    ) -> None:
        entry = HistoryEntry(str(c.version), outcome, time.time(), c.sha256, error)
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
        version=str(candidate.version),
    )


def _event(kind: EventKind, c: Candidate) -> Event:
    return Event(kind, c.name, version=str(c.version), origin=str(c.origin))


def _leak_text(leaked: Sequence[str]) -> list[str]:
    if not leaked:
        return []
    return [
        "modules still referenced after unload (restart recommended to free them): "
        + ", ".join(leaked)
    ]


def _versions_text(actives: Iterable[Active]) -> str:
    return ",".join(str(a.candidate.version) for a in actives)


def plugin_info(
    candidate: Candidate, state: PluginState, site_dir: Path | None, error: str | None
) -> PluginInfo:
    """A :class:`PluginInfo` for ``candidate``."""
    manifest = candidate.manifest
    return PluginInfo(
        name=candidate.name,
        version=str(candidate.version),
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
        version=str(candidate.version),
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
