"""The host: the one object users hold, owner of the plugin manager and of every change to it."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import pluggy

from ..discover.discovery import Discovery, Look
from ..discover.environment import EnvironmentSource
from ..discover.home_check import check_start, prepare_home
from ..discover.revocation import revoker
from ..discover.sources import Source
from ..discover.trust import TrustGate
from ..load.bounded import retire_idle_helpers
from ..load.modules import PluginFinder
from ..load.reaper import Leak, Reaper
from ..model.candidate import Candidate
from ..model.errors import HostStateError, ManifestError, StoreError, TrustError, WheelError
from ..model.events import Event, EventBus, EventKind, Subscriber
from ..model.names import plugin_name
from ..model.pacing import pace
from ..model.problems import Problem
from ..model.status import PluginInfo, PluginStatus
from ..state.audit import AuditLog
from ..state.disabled import DisabledList
from ..state.fs import make_dirs
from ..state.registry import Registry, RegistryFile
from ..state.store import HomeLock
from .controls import Controls
from .engine import Engine
from .failures import leak_event
from .hostlock import HostLock
from .indexes import Indexes
from .manager import plugin_manager, rewriting, start_at_load
from .settings import Settings, watched_folders
from .statusdoc import StatusWriter
from .supervisor import Supervisor
from .watching import Watching

__all__ = ["PluginHost"]

logger = logging.getLogger("pluginhost")

#: How long ``start()`` waits for each followed index's first poll (it serves meanwhile).
_FIRST_POLL_WAIT: Final = 60.0


class PluginHost(Controls):
    """Discovers, resolves, installs, registers and hot-swaps the plugins of one pluggy project.

    Every keyword argument but ``settings``, ``sources`` and ``manager`` is a field of
    :class:`~pluginhost.Settings`, documented there, with the same name and default:
    ``PluginHost("greeter", specs, home="./home", watch=["./wheels"])``. They are checked when
    the host is built, not by a type checker: ``**options`` cannot name them without listing
    them a second time. For static checking, build a :class:`~pluginhost.Settings` (its
    parameters are typed) and pass it as ``settings=``; keyword arguments given beside it
    override its values.

    :param project: the pluggy project name; hookimpls are marked with it.
    :param specs: modules or classes of hookspecs, as ``PluginManager.add_hookspecs`` takes.
    :param settings: the settings as one value; default ``Settings()``.
    :param sources: further :class:`~pluginhost.Source` objects to read candidates from (live
        objects, which is why they are not settings a file could hold).
    :param manager: the application's own ``pluggy.PluginManager`` (or subclass) for
        ``project``, to register the plugins in instead of a new one; its specs and the
        plugins it registered itself stay as they are. Also a live object, not a setting.
    :param options: any :class:`~pluginhost.Settings` field, by name.
    :raises TypeError: naming an option that is not a setting.
    :raises SettingsError: naming an option whose value is wrong, or ``manager`` when it is
        not a plugin manager of ``project``.
    :raises VersionError: when ``api_version`` is not a version.
    """

    def __init__(
        self,
        project: str,
        specs: Iterable[types.ModuleType | type] = (),
        *,
        settings: Settings | None = None,
        sources: Iterable[Source] = (),
        manager: pluggy.PluginManager | None = None,
        **options: Any,
    ) -> None:
        given = (settings if settings is not None else Settings()).replace(**options)
        self.project: Final = project
        self.group: Final = given.group or f"{project}.plugins"
        # Absolute: a relative one, changing with the working directory, lost dependencies.
        self.home: Final = (given.home or Path(".pluginhost", project)).absolute()
        self.trust_file: Final = (
            given.trust_file if given.trust_file is not None else self.home / "trusted.txt"
        )
        # The defaults that depend on the project, filled in: the settings this host runs with.
        self._settings: Final = given.replace(
            group=self.group, home=self.home, trust_file=self.trust_file
        )
        self.limits: Final = given.limits
        self.folders: Final = watched_folders(given)
        # Followed package indexes: each one's cache folder is read like a watched folder.
        self._indexes = Indexes(sources, self._settings, lambda: self._engine.view)
        self._discovery = Discovery(
            self.group,
            (*self.folders, *self._indexes.folders),
            (*((EnvironmentSource(),) if given.environment else ()), *self._indexes.others),
            given.limits,
            TrustGate(given.trust, given.strict_modes, self.trust_file.absolute()),
        )
        self.plugin_manager: Final = plugin_manager(project, specs, manager)
        #: pluggy's own hook relay: ``host.hook.greet(name="Ada")``. Calls take no lock. A plain
        #: attribute rather than a property, so the hot path pays no extra function call.
        self.hook: Final[pluggy.HookRelay] = self.plugin_manager.hook
        self._lock = HostLock()
        self._events = EventBus()
        self._finder = PluginFinder()
        self._finder.rewrite_with(rewriting(self.plugin_manager))  # pytest's assert rewriting
        self._registry = RegistryFile(self.home / "registry.json")
        self._home_lock = HomeLock(self.home)
        # home/status.json, read by the CLI (list, status, graph, doctor) in other processes.
        self._status_doc = StatusWriter(self.home)
        self._events.subscribe(self._status_doc.record)
        # home/audit.log: every install, swap, rollback, unload, removal and refusal.
        self._audit = AuditLog(self.home)
        self._events.subscribe(self._audit.record)
        # Watches replaced versions' modules; their leaks are told after a full collection.
        self._reaper = Reaper()
        self._engine = Engine(
            self._settings,
            self.plugin_manager,
            self._finder,
            self,
            self._events.emit,
            self._registry.write,
            validated=self._discovery.validated,
            revoked=revoker(self._discovery.gate),
            reaper=self._reaper,
        )
        self._events.subscribe(self._engine.hooks.after)  # names hooks no spec knows
        self._discovery.read_elsewhere(self._engine.sites.read_wheel)
        # Process plugins' workers: a crash is told, restarted or quarantined from its thread.
        self._supervisor = Supervisor(
            self._settings,
            self._engine.processes,
            self._supervised,
            self._events.emit,
            lambda name: self._engine.refresh(plugin_name(name)),
        )
        self._disabled = DisabledList(self.home)  # host.disable(): home/disabled.json
        self._persist_state = given.persist_state
        self._watching = Watching(
            self.folders,
            given,
            self._reconcile,
            self._worth_a_look,
            self._events.emit,
            told=bool(self._indexes.sources),
        )
        self._started = False

    @property
    def settings(self) -> Settings:
        """The settings this host runs with (``group``, ``home``, ``trust_file`` always set)."""
        return self._settings

    @property
    def site_root(self) -> Path:
        """Where each plugin's isolated site dir lives."""
        return self.home / "site"

    @property
    def audit_log(self) -> Path:
        """The append-only audit log (JSON lines), read by ``pluginhost audit``."""
        return self._audit.path

    @property
    def staging_root(self) -> Path:
        """Where wheels are copied and installed before they are renamed into place."""
        return self.home / "staging"

    def start(self) -> PluginHost:
        """Restore the last committed plugins, then discover, resolve, install and register the
        rest in dependency order, and start watching the folders.

        :raises HostStateError: when the host is started, or another process uses its home.
        """
        with self._lock:
            if self._started:
                raise HostStateError("host is already started")
            strict = self._discovery.gate.strict_modes
            prepare_home(self.home, (self.site_root, self.staging_root), strict_modes=strict)
            check_start(self.home, self._discovery.gate)
            self._home_lock.acquire()
            try:
                if self._discovery.folders or self._indexes.sources:
                    # Such a host installs sooner or later: its writer boots meanwhile.
                    self._engine.sites.start_writer()
                self._audit.open()
                self._audit.host("start")
                registry = self._read_registry()
                self._engine.admission = self._engine.admission.with_disabled(self._disabled.read())
                sys.meta_path.insert(0, self._finder)
                self._started = True
                # Watch first: a wheel dropped while the folders are read is seen twice, not never.
                self._watching.start()
                # Polled on their own threads; until an index first answers, what was
                # committed from it is held, so the restore below is not undone.
                live = self._settings.live
                self._indexes.start(self._watching.changed, self._events.emit, live=live)
                # The trust file read once for the whole restore (revoked versions stay out).
                with self._discovery.gate.pinned():
                    look = self._discovery.look(self._watching.take_changes())
                    self._engine.restore(registry, look.scan, (*look.held, *self._indexes.held()))
                self._engine.prune_sites()
                self._supervised(functools.partial(self._look_and_reconcile, look))
                self._engine.settle_start()
                self._supervisor.start()
            except BaseException:
                self._indexes.stop()
                self._watching.stop()
                self._halt(commit=False)
                raise
        if self._indexes.sources:
            # Outside the lock: the first polls download, and the host serves meanwhile.
            self._indexes.wait_polled(_FIRST_POLL_WAIT)
            self._reconcile()
        # The worker plans the start's parts again, against the versions now active (planner.py).
        self._watching.once(self._warm)
        return self

    def start_with_application(self) -> None:
        """Start right after the application next loads its installed plugins of this host's
        group (``load_setuptools_entrypoints`` on the adopted manager: docs/hosting.md).
        :raises HostStateError: when the host made its own manager, or is started already."""
        if self._started:
            raise HostStateError("host is started already")
        start_at_load(self.plugin_manager, self.group, self.start, lambda: self._started)

    @property
    def running(self) -> bool:
        """Whether the host is started (and not stopped since)."""
        return self._started

    def stop(self) -> None:
        """Stop watching, save state if asked, and unload every plugin, dependents first.
        The registry keeps the active set, so the next start restores it.

        :raises HostStateError: from plugin code the host runs during a change, at once."""
        self._lock.check()  # before anything stops: refused at the lock, it left the host deaf
        self._indexes.stop()
        self._watching.stop()
        self._supervisor.stop()  # before the lock: its thread may be waiting for it
        with self._lock:
            if self._started:
                self._halt(commit=True)

    def _halt(self, *, commit: bool) -> None:
        self._engine.halt(save_state=commit and self._persist_state)
        self._engine.processes.stop_all()  # what unloading left (none, unless it failed)
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        retire_idle_helpers()
        try:
            self._audit.host("stop")
        finally:
            self._audit.close()
            self._home_lock.release()
        self._started = False

    def __enter__(self) -> PluginHost:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every later :class:`~pluginhost.Event`, in order.

        :returns: a function that unsubscribes it.
        """
        return self._events.subscribe(callback)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every pending folder change has been applied (``math.inf``: however long).

        :returns: ``False`` when changes were still pending at ``timeout``.
        :raises ValueError: when ``timeout`` is NaN.
        :raises HostStateError: from plugin code the change it would wait for runs."""
        self._lock.check()  # it waited for itself until the step's timeout
        return self._watching.wait_idle(timeout)

    # -- what users ask -----------------------------------------------------------------------

    # Read-only questions take no lock: lifecycle hooks run on helper threads while a change
    # holds the lock, and a plugin asking ``host.load_order()`` from ``pluginhost_activate``
    # must not deadlock. Each answer comes from the engine's view, which is replaced whole
    # once a change is complete: it never shows half of one.

    @property
    def plugins(self) -> Mapping[str, PluginInfo]:
        """A snapshot: plugin name to :class:`PluginInfo`, active plugins in load order first."""
        return self._engine.view.plugins

    def status(self, name: str) -> PluginStatus:
        """The plugin's state, its history of changes and whether a rollback is available.

        :raises HostStateError: when the host knows no plugin of that name.
        """
        return self._engine.view.status(plugin_name(name))

    def load_order(self) -> tuple[str, ...]:
        """The active plugins, in the order they were loaded (dependencies first)."""
        return self._engine.view.order

    def dependency_graph(self) -> Mapping[str, tuple[str, ...]]:
        """Each active plugin and the active plugins it depends on."""
        return self._engine.view.graph

    def problems(self) -> tuple[Problem, ...]:
        """Why each plugin or version that is not active was left out, and folder trouble."""
        view, watching, indexes = self._engine.view, self._watching, self._indexes
        return (*view.problems, *watching.problems(), *indexes.problems())

    def refresh(self) -> None:
        """Ask every source to look again now: indexes polled at once, folders read in full."""
        self._indexes.refresh()
        if self._settings.live:
            self._watching.refresh()
        else:
            self._reconcile()

    def install(self, wheel: str | os.PathLike[str]) -> PluginInfo:
        """Install a plugin wheel and load it, or update the active version to it.

        :returns: the plugin's info once it is active.
        :raises WheelError: when the wheel is refused by validation.
        :raises TrustError: when the trust policy refuses it (its folder or file's owner or
            mode under ``strict_modes``, its hash under ``trust="hashes"``).
        :raises ManifestError: when its manifest is unusable.
        :raises ResolutionError: when its requirements, the host constraint, the policy or a
            conflict keep it out.
        :raises ActivationError: when importing, activating or checking it failed
            (the version that was serving, if any, still serves).
        :raises InstallError: when the file system refused the install (disk full, read-only,
            permission denied); the version that was serving, if any, still serves.
        :raises StoreError: when the registry could not be committed; likewise.
        """
        with self._lock:
            self._require_started()
            try:
                candidate = self._admit(Path(os.path.abspath(wheel)))
                look = self._discovery.look()
                held = (*look.held, *self._indexes.held())
                with self._discovery.gate.pinned():
                    return self._engine.install(candidate, look.scan, held)
            finally:
                self._after_change()

    def unpin(self, name: str) -> None:
        """Let the sources' versions of a plugin pinned by :meth:`install` compete again.

        A plugin is pinned when ``install()`` was given a version older than one on offer
        (which takes ``VersionPolicy(allow_downgrade=True)``); the newest version the sources
        offer then loads as usual.

        :raises HostStateError: when the plugin is not pinned.
        :raises StoreError: when the registry cannot be written; it stays pinned.
        """
        with self._lock:
            self._require_started()
            look = self._discovery.look()
            try:
                with self._discovery.gate.pinned():
                    held = (*look.held, *self._indexes.held())
                    self._engine.unpin(plugin_name(name), look.scan, held)
            finally:
                self._after_change()

    def check_leaks(self) -> list[Event]:
        """Run a full garbage collection now, and report the replaced, rolled back or unloaded
        versions whose modules something still holds (a ``leaked`` event each, returned).

        The host never collects on its own, since a full collection pauses every thread: it
        reports leaks after the interpreter's own next full collection."""
        with self._lock:
            return self._tell_leaks(self._reaper.collect())

    def _tell_leaks(self, leaks: list[Leak]) -> list[Event]:
        events = [leak_event(leak) for leak in leaks]
        for event in events:
            self._events.emit(event)
        return events

    def _admit(self, path: Path) -> Candidate:
        """The plugin a wheel given to ``install()`` offers, once trust and validation pass; a
        refusal is reported like one in a watched folder (event, audit) and raised."""
        try:
            return self._discovery.admit(path)
        except (TrustError, WheelError, ManifestError) as exc:
            invalid = isinstance(exc, ManifestError)
            kind = EventKind.MANIFEST_INVALID if invalid else EventKind.REFUSED
            self._events.emit(Event.failure(kind, exc.plugin, exc, origin=exc.path or str(path)))
            raise

    def remove(self, name: str) -> None:
        """Unload a plugin (and the active plugins that require it); it stays out, across
        restarts too, until it is installed again.

        :raises HostStateError: when no plugin of that name is active.
        :raises StoreError: when the registry cannot be written; the plugin was not removed.
        """
        with self._lock:
            try:
                self._engine.remove(plugin_name(name))
            finally:
                self._after_change()

    def rollback(self, name: str) -> PluginInfo:
        """Go back to the previous version of a plugin, from the backups kept in the home.

        The version rolled back from is not loaded again until its wheel changes or it is
        installed explicitly.

        :raises HostStateError: when the plugin is not active or has no earlier version kept.
        :raises ActivationError: when the earlier version fails to load (the current one stays).
        :raises StoreError: when the registry cannot be written (the current one stays).
        """
        with self._lock:
            self._require_started()
            try:
                return self._engine.rollback(plugin_name(name))
            finally:
                self._after_change()

    # -- discovery ----------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Bring the active set in line with what the sources offer now (the worker's job:
        reading only the files the watcher reported, when it reported some)."""
        self._supervised(self._look_and_reconcile)

    def _look_and_reconcile(self, look: Look | None = None) -> None:
        try:
            look = look or self._discovery.look(self._watching.take_changes())
            self._engine.sites.write_ahead(look.fresh)  # written while this plans
            pace()
            held = (*look.held, *self._indexes.held())
            with self._discovery.gate.pinned():
                self._engine.reconcile(look.scan, held, self._indexes.withdrawn())
        finally:
            self._engine.sites.end_ahead()

    def _warm(self) -> None:
        with self._lock:
            if self._started:
                self._engine.warm()

    def _worth_a_look(self) -> bool:
        """Asked by the worker every rescan interval: the trust file changed, a change the file
        system refused may go through now, or a full look is due (what no event announces)."""
        changed = self._discovery.trust_changed()
        return changed or self._engine.wants_retry() or self._watching.full_look_due()

    # -- home -------------------------------------------------------------------------------

    def _read_registry(self) -> Registry:
        # Only once the home is locked: leftovers of an interrupted install are never trusted.
        shutil.rmtree(self.staging_root, ignore_errors=True)
        make_dirs(self.staging_root)
        return self._registry.read()

    def _supervised(self, change: Callable[[], None]) -> None:
        """Run one change (the worker's, the supervisor's) under the lock, while the host runs."""
        with self._lock:
            if self._started:
                try:
                    change()
                finally:
                    self._after_change()

    def _after_change(self) -> None:
        """Once a change is complete: leaks told, the audit log anchored, the status document
        written (neither fails the change, which has happened)."""
        self._tell_leaks(self._reaper.due())
        try:
            self._audit.anchor()
        except StoreError as exc:
            logger.error("audit log head not anchored: %s", exc)
        self._status_doc.publish(self, self._engine.view)

    def _require_started(self) -> None:
        if not self._started:
            raise HostStateError("host is not started; call start() first")
