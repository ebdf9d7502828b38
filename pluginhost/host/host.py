"""The host: the one object users hold, owner of the plugin manager and of every change to it."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, get_args

import pluggy

from hookspecs.lifecycle import lifecycle_specs

from ..discover.archive import WheelLimits
from ..discover.discovery import Discovery
from ..discover.environment import EnvironmentSource
from ..discover.folder import WheelFolderSource
from ..discover.sources import Source
from ..discover.trust import TrustGate, TrustMode
from ..discover.watch import FolderChange, FolderWatcher
from ..load.bounded import retire_idle_helpers
from ..load.modules import PluginFinder
from ..model.candidate import Candidate
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
from ..model.events import Event, EventBus, EventKind, Subscriber
from ..model.names import plugin_name
from ..model.policy import VersionPolicy
from ..model.problems import Problem, ProblemKind
from ..model.status import PluginInfo, PluginStatus
from ..model.versions import parse_version
from ..state.audit import AuditLog
from ..state.fs import describe
from ..state.registry import Registry
from ..state.store import AtomicJsonFile, HomeLock
from ..swap.transition import Timeouts
from .engine import BreakingChange, Engine, EngineConfig
from .statusdoc import StatusWriter
from .worker import Worker

__all__ = ["PluginHost"]

logger = logging.getLogger("pluginhost")


class PluginHost:
    """Discovers, resolves, installs, registers and hot-swaps the plugins of one pluggy project.

    :param project: the pluggy project name; hookimpls are marked with it.
    :param specs: modules or classes of hookspecs, as ``PluginManager.add_hookspecs`` takes.
    :param home: site dirs, backups, registry and lock; default ``./.pluginhost/<project>``.
    :param watch: folders of wheels; read at start and, when ``live``, watched for changes.
    :param api_version: the host API version that plugins' ``host`` constraints are checked on.
    :param policy: the version policy.
    :param group: the entry-point group; default ``<project>.plugins``.
    :param environment: also load plugins installed in the host's environment.
    :param include: glob patterns of wheel file names to read in watched folders.
    :param exclude: glob patterns of wheel file names to skip.
    :param max_depth: how deep to look into subfolders of watched folders.
    :param follow_symlinks: follow symlinks in watched folders.
    :param limits: limits on wheel archives.
    :param trust: ``"permissions"``: read any wheel that passes validation (and strict modes);
        ``"hashes"``: only wheels whose sha256 the trust file lists.
    :param trust_file: the trust file for ``trust="hashes"``; default ``<home>/trusted.txt``.
    :param strict_modes: refuse watched folders, wheels, the home and the trust file that are
        reached through a symlink, owned by another user or writable by group or others (in
        the manner of sshd's ``StrictModes``). ``False`` relaxes these checks.
    :param sources: further :class:`~pluginhost.Source` objects to read candidates from.
    :param live: watch the folders after start (with watchdog) and apply changes as they come.
    :param polling: poll the folders instead of using inotify (for network filesystems).
    :param rescan_interval: seconds between full rescans that catch missed events.
    :param settle: seconds a new or changed wheel must stay unchanged before it is read.
    :param timeouts: how long imports, lifecycle hooks, health checks and drains may take.
    :param keep_backups: how many earlier versions of each plugin are kept for rollback.
    :param breaking_change: ``"reject"`` an update that breaks an active dependent's
        constraint, or ``"cascade"``: unload that dependent and update.
    :param persist_state: save each plugin's exported state at stop and restore it at start.
    """

    def __init__(
        self,
        project: str,
        specs: Iterable[types.ModuleType | type] = (),
        *,
        home: str | os.PathLike[str] | None = None,
        watch: Iterable[str | os.PathLike[str]] = (),
        api_version: str = "1.0.0",
        policy: VersionPolicy = VersionPolicy(),
        group: str | None = None,
        environment: bool = True,
        include: Sequence[str] = ("*.whl",),
        exclude: Sequence[str] = (),
        max_depth: int = 0,
        follow_symlinks: bool = False,
        limits: WheelLimits = WheelLimits(),
        trust: TrustMode = "permissions",
        trust_file: str | os.PathLike[str] | None = None,
        strict_modes: bool = True,
        sources: Iterable[Source] = (),
        live: bool = True,
        polling: bool = False,
        rescan_interval: float = 30.0,
        settle: float = 0.3,
        timeouts: Timeouts = Timeouts(),
        keep_backups: int = 3,
        breaking_change: BreakingChange = "reject",
        persist_state: bool = False,
    ) -> None:
        self.project: Final = project
        self.group: Final = group or f"{project}.plugins"
        self.home: Final = Path(home) if home is not None else Path(".pluginhost", project)
        self.limits: Final = limits
        self.folders: Final = tuple(
            WheelFolderSource(
                Path(folder),
                include=tuple(include),
                exclude=tuple(exclude),
                max_depth=max_depth,
                follow_symlinks=follow_symlinks,
                limits=limits,
            )
            for folder in watch
        )
        if trust not in get_args(TrustMode):
            raise ValueError(f"trust must be 'permissions' or 'hashes', not {trust!r}")
        self.trust_file: Final = (
            Path(trust_file) if trust_file is not None else self.home / "trusted.txt"
        )
        self._discovery = Discovery(
            self.group,
            self.folders,
            (*((EnvironmentSource(),) if environment else ()), *sources),
            limits,
            TrustGate(trust, strict_modes, self.trust_file.absolute()),
        )
        self._live = live
        self._watch_options = {
            "polling": polling,
            "rescan_interval": rescan_interval,
            "settle": settle,
        }
        self.plugin_manager: Final = pluggy.PluginManager(project)
        self.plugin_manager.add_hookspecs(lifecycle_specs(project))
        for spec in specs:
            self.plugin_manager.add_hookspecs(spec)
        #: pluggy's own hook relay: ``host.hook.greet(name="Ada")``. Calls take no lock. A plain
        #: attribute rather than a property, so the hot path pays no extra function call.
        self.hook: Final[pluggy.HookRelay] = self.plugin_manager.hook
        self._lock = threading.RLock()
        self._events = EventBus()
        self._finder = PluginFinder()
        self._registry = AtomicJsonFile(self.home / "registry.json")
        self._home_lock = HomeLock(self.home)
        # home/status.json, read by the CLI (list, status, graph, doctor) in other processes.
        self._status_doc = StatusWriter(self.home)
        self._events.subscribe(self._status_doc.record)
        # home/audit.log: every install, swap, rollback, unload, removal and refusal.
        self._audit = AuditLog(self.home)
        self._events.subscribe(self._audit.record)
        self._engine = Engine(
            EngineConfig(
                site_root=self.home / "site",
                staging_root=self.home / "staging",
                api_version=parse_version(api_version),
                policy=policy,
                limits=limits,
                timeouts=timeouts,
                keep_backups=keep_backups,
                breaking_change=breaking_change,
                persist_state=persist_state,
            ),
            self.plugin_manager,
            self._finder,
            self,
            self._events.emit,
            self._write_registry,
            validated=self._discovery.validated,
        )
        self._persist_state = persist_state
        self._folder_problems: dict[Path, str] = {}
        self._worker: Worker | None = None
        self._watcher: FolderWatcher | None = None
        self._started = False

    # -- life -------------------------------------------------------------------------------

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
            self._prepare_home()
            self._check_trust()
            self._home_lock.acquire()
            try:
                self._audit.open()
                self._audit.host("start")
                registry = self._read_registry()
                sys.meta_path.insert(0, self._finder)
                self._started = True
                # Watch first: a wheel dropped while the folders are read is then seen twice
                # (harmless, reads are idempotent) rather than never.
                self._start_watching()
                self._engine.restore(registry)
                for name in self._engine.prune_sites():
                    logger.info("removed site dir %s: no committed plugin uses it", name)
                self._reconcile()
            except BaseException:
                self._stop_watching()
                self._halt(commit=False)
                raise
        return self

    def stop(self) -> None:
        """Stop watching, save state if asked, and unload every plugin, dependents first.

        The registry keeps the active set, so the next start restores it.
        """
        self._stop_watching()
        with self._lock:
            if self._started:
                self._halt(commit=True)

    def _halt(self, *, commit: bool) -> None:
        engine = self._engine
        if commit and self._persist_state:
            engine.commit()
        for name in reversed(list(engine.order)):
            if name in engine.active:
                engine.unload(name, removed=False, commit=False)
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
        """Wait until every pending folder change has been applied.

        :returns: ``False`` when changes were still pending at ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            watcher, worker = self._watcher, self._worker
            quiet = watcher is None or watcher.wait_quiet(max(0.0, deadline - time.monotonic()))
            idle = worker is None or worker.wait_idle(max(0.0, deadline - time.monotonic()))
            # The worker may have run while the watcher saw more, or the other way round.
            if quiet and idle and (watcher is None or not watcher.busy()):
                return True
            if time.monotonic() >= deadline:
                return False

    # -- what users ask -----------------------------------------------------------------------

    # Read-only questions take no lock: lifecycle hooks run on helper threads while a change
    # holds the lock, and a plugin asking ``host.load_order()`` from ``pluginhost_activate``
    # must not deadlock. Each answer is built from copies taken in one step under the GIL.

    @property
    def plugins(self) -> Mapping[str, PluginInfo]:
        """A snapshot: plugin name to :class:`PluginInfo`, active plugins in load order first."""
        engine = self._engine
        infos: dict[str, PluginInfo] = {name: engine.info(name) for name in list(engine.order)}
        for name, info in sorted(dict(engine.failed).items()):
            infos.setdefault(name, info)
        return types.MappingProxyType(infos)

    def status(self, name: str) -> PluginStatus:
        """The plugin's state, its history of changes and whether a rollback is available.

        :raises HostStateError: when the host knows no plugin of that name.
        """
        return self._engine.status(plugin_name(name))

    def load_order(self) -> tuple[str, ...]:
        """The active plugins, in the order they were loaded (dependencies first)."""
        return tuple(self._engine.order)

    def dependency_graph(self) -> Mapping[str, tuple[str, ...]]:
        """Each active plugin and the active plugins it depends on."""
        engine = self._engine
        graph = engine.plan.graph if engine.plan else {}
        active = set(engine.active)
        return types.MappingProxyType(
            {n: tuple(d for d in graph.get(n, ()) if d in active) for n in list(engine.order)}
        )

    def problems(self) -> tuple[Problem, ...]:
        """Why each plugin or version that is not active was left out, and folder trouble."""
        folder = [
            Problem(ProblemKind.FOLDER_UNAVAILABLE, None, f"{path}: {reason}", path=str(path))
            for path, reason in sorted(dict(self._folder_problems).items())
        ]
        return (*list(self._engine.problems), *folder)

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
            candidate = self._admit(Path(os.path.abspath(wheel)))
            engine = self._engine
            engine.manual[candidate.name] = candidate
            engine.removed.discard(candidate.name)
            engine.rejected.discard(candidate.key)
            engine.load_failures.pop(candidate.key, None)
            self._reconcile()
            active = engine.active.get(candidate.name)
            if active is not None and active.candidate.key == candidate.key:
                return engine.info(candidate.name)
            raise self._refusal(candidate.name, str(candidate.version))

    def _admit(self, path: Path) -> Candidate:
        """The plugin a wheel given to ``install()`` offers, once trust and validation pass.

        A refusal is reported like one in a watched folder (event, audit) and raised.
        """
        try:
            return self._discovery.admit(path)
        except (TrustError, WheelError, ManifestError) as exc:
            kind = (
                EventKind.MANIFEST_INVALID if isinstance(exc, ManifestError) else EventKind.REFUSED
            )
            self._events.emit(Event.failure(kind, exc.plugin, exc, origin=exc.path or str(path)))
            raise

    def _refusal(self, name: str, version: str) -> PluginHostError:
        failure = self._engine.last_failure
        if isinstance(failure, InstallError | StoreError) and failure.plugin == name:
            # The file system refused (disk full, read-only): said as such, not as a bad plugin.
            return failure
        problems = [p for p in self._engine.problems if p.plugin == name]
        mine = [p for p in problems if p.version in (None, version)] or problems
        if not mine:
            return ResolutionError(f"{name} {version} was not chosen", plugin=name)
        problem = mine[-1]
        if problem.kind is ProblemKind.LOAD_FAILED:
            return ActivationError(problem.message, plugin=name, step="load")
        missing = problem.involved if problem.kind is ProblemKind.MISSING else ()
        return ResolutionError(problem.message, plugin=name, missing=missing)

    def remove(self, name: str) -> None:
        """Unload a plugin (and the active plugins that require it); it stays out, across
        restarts too, until it is installed again.

        :raises HostStateError: when no plugin of that name is active.
        :raises StoreError: when the registry cannot be written; the plugin was not removed.
        """
        key = plugin_name(name)
        with self._lock:
            engine = self._engine
            if key not in engine.active:
                raise HostStateError(f"plugin {key!r} is not active", plugin=key)
            engine.removed.add(key)
            manual = engine.manual.pop(key, None)
            try:
                engine.unload(key, removed=False)
            except StoreError:
                # Not committed, so not removed: it serves on, and stays wanted.
                engine.removed.discard(key)
                if manual is not None:
                    engine.manual[key] = manual
                raise
            finally:
                self._status_doc.publish(self)

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
                self._status_doc.publish(self)

    # -- discovery ----------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Bring the active set in line with what the sources offer now."""
        with self._lock:
            if self._started:
                try:
                    look = self._discovery.look()
                    self._engine.reconcile(look.scan, look.held)
                finally:
                    self._status_doc.publish(self)

    def _worth_a_look(self) -> bool:
        """Asked by the worker every rescan interval: the trust file changed, or the file
        system refused a change (disk full, read-only) that may go through now."""
        changed = self._discovery.trust_changed()
        return changed or self._engine.retry_wanted

    def _start_watching(self) -> None:
        if not self._live or not self.folders:
            return
        self._worker = Worker(
            self._reconcile,
            poll=self._worth_a_look,
            interval=self._watch_options["rescan_interval"],
        )
        self._worker.start()
        folders = {f.path: f for f in self.folders}
        self._watcher = FolderWatcher(
            list(folders),
            self._on_change,
            wanted=lambda name: any(f.wanted(name) for f in self.folders),
            on_problem=self._on_folder_problem,
            **self._watch_options,  # type: ignore[arg-type]
        )
        self._watcher.start()

    def _stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def _on_change(self, change: FolderChange) -> None:
        self._folder_problems.pop(change.folder, None)
        if self._worker is not None:
            self._worker.request()

    def _on_folder_problem(self, folder: Path, reason: str) -> None:
        logger.warning("watched folder %s: %s", folder, reason)
        if "watching again" in reason:
            self._folder_problems.pop(folder, None)
        else:
            self._folder_problems[folder] = reason

    # -- home -------------------------------------------------------------------------------

    def _prepare_home(self) -> None:
        try:
            self.site_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HostStateError(f"cannot prepare home: {describe(exc)}", path=self.home) from exc

    def _check_trust(self) -> None:
        # Code is imported from the home's site dirs: whoever may write there may run code.
        gate = self._discovery.gate
        gate.check_path(self.home, "home")
        if gate.hashes:
            gate.trusted()  # a missing or malformed trust file is a start-up error

    def _read_registry(self) -> Registry:
        # Only once the home is locked: leftovers of an interrupted install are never trusted.
        shutil.rmtree(self.staging_root, ignore_errors=True)
        self.staging_root.mkdir(parents=True, exist_ok=True)
        data = self._registry.read()
        if self._registry.recovered:
            logger.warning("registry: %s", self._registry.recovered)
        return Registry.from_json(data, self._registry.path) if data is not None else Registry()

    def _write_registry(self, registry: Registry) -> None:
        self._registry.write(registry.to_json())

    def _require_started(self) -> None:
        if not self._started:
            raise HostStateError("host is not started; call start() first")
