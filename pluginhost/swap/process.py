"""Process plugins in a transition: which plugins run in a worker, and their workers' links.

A process plugin goes through the same transition as any other (:mod:`.transition`): at its
import step a worker process is started (:class:`~pluginhost.proc.Worker`) instead of an
import, and the proxies built from what the worker found (:mod:`.proxies`) are validated,
handed the old version's state, activated, switched in and health-checked like imported
objects, the calls of each lifecycle hook going to the worker. So a swap keeps the in-process
promises: the new worker is started and checked before the switch, state goes from the old
worker to the new one, the switch is one step per hook, calls in flight drain, and the old
worker is stopped (when its version is deactivated, :func:`stop_workers`); any failure stops
the new worker and leaves the old one serving.

Each version's worker is reached through its :class:`Link`, which the proxies of that version
call: a restart after a crash (:mod:`pluginhost.host.supervisor`) replaces the link's worker in
one reference store, without touching the plugin manager.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from ..model.candidate import Candidate, CandidateKey, InstalledOrigin, WheelOrigin
from ..model.errors import ActivationError, PluginCrashedError, PluginHostError, StoreError
from ..model.limits import ResourceLimits
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from ..state.crash_loops import CrashLoops, Quarantined
from .proxies import ProcessProxy, build_proxies
from .switch import Implementations

if TYPE_CHECKING:
    # Imported when a process plugin first loads: a host without any pays nothing for them.
    from ..proc.exits import ExitInfo
    from ..proc.spare import Spares
    from ..proc.worker import HookDescription, Worker, WorkerSpec
    from .members import Active, Member

__all__ = ["Link", "Processes", "link_of", "stop_workers"]

logger = logging.getLogger("pluginhost")

#: Hooks whose calls the link answers itself when the worker is gone (crashed, restarting,
#: quarantined): a version retired then still hands over the state it last exported, and its
#: deactivation has nothing left to do.
_EXPORT: Final = "pluginhost_export_state"
_IMPORT: Final = "pluginhost_import_state"
_DEACTIVATE: Final = "pluginhost_deactivate"
#: Lifecycle hooks a quarantined link answers itself: a start restoring a version quarantined
#: before (see :mod:`pluginhost.state.crash_loops`) keeps the state it is handed for the
#: restart that brings it back, which activates it then.
_DEFERRED: Final = ("pluginhost_activate", "pluginhost_health")


@attrs.define(eq=False)
class Link:
    """The worker serving one version of a process plugin, and what its supervision keeps.

    :param spec: how its worker is started (again, after a crash).
    :param version: the version it serves.
    :param worker: the worker now; ``None`` while it is restarting or quarantined.
    :param timeout: the deadline of each hook call (``call_timeout_s``), if any.
    """

    spec: WorkerSpec
    version: str
    distribution: str | None = None
    """Its distribution's name, for events."""
    worker: Worker | None = None
    timeout: float | None = None
    state: Any = None
    """The state it last exported (at a swap, or at the supervisor's intervals), or was given."""
    has_state: bool = False
    restarts: int = 0
    crashes: collections.deque[float] = attrs.field(factory=collections.deque)
    """When it crashed, most recent last (within the supervisor's window)."""
    quarantined: bool = False
    retired: bool = False
    """Its version left service: its worker was stopped on purpose, and is never restarted."""
    on_exit: Callable[[Link, ExitInfo], None] | None = None
    """Told when its serving worker dies unasked (the supervisor's)."""
    key: CandidateKey | None = None
    """The identity of the version it serves (what a quarantine is recorded under)."""
    hooks: tuple[HookDescription, ...] = ()
    """The plugin's hook implementations, as its first worker described them."""
    on_retired: Callable[[Link], None] | None = None
    """Told when its version leaves service (:func:`stop_workers`)."""
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)
    timers: list[Callable[[str, float], None]] = attrs.field(factory=list, repr=False)
    """Told how long each call took (``HostMetrics.process_call``), when any is."""

    @property
    def plugin(self) -> str:
        return self.spec.plugin

    @property
    def pid(self) -> int | None:
        worker = self.worker
        return worker.pid if worker is not None else None

    def forward(self, entry_point: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        """A proxy's call: to the worker now serving, within the call deadline.

        :raises PluginCrashedError: while the worker is restarting or quarantined.
        """
        if not self.timers:
            return self._forward(entry_point, hook, kwargs)
        started = time.perf_counter()
        try:
            return self._forward(entry_point, hook, kwargs)
        finally:
            took = time.perf_counter() - started
            for timer in self.timers:
                timer(self.plugin, took)

    def _forward(self, entry_point: str, hook: str, kwargs: Mapping[str, Any]) -> Any:
        worker = self.worker
        if worker is None:
            return self._absent(hook, entry_point, kwargs)
        value = worker.call(hook, kwargs, timeout=self.timeout, entry_point=entry_point)
        # The state crossing at a swap is kept for a restart; a plugin of several entry points
        # crosses it one part at a time, so only the supervisor's exports keep it whole.
        if hook in (_EXPORT, _IMPORT) and len(self.spec.entry_points) == 1:
            self.keep(value if hook == _EXPORT else kwargs.get("state"))
        return value

    def keep(self, state: Any) -> None:
        """Remember ``state`` for a restart."""
        self.state, self.has_state = state, True

    def _absent(self, hook: str, entry_point: str, kwargs: Mapping[str, Any]) -> Any:
        if self.quarantined and hook == _IMPORT:
            state = kwargs.get("state")
            if len(self.spec.entry_points) > 1:  # kept by entry point, as exports keep it
                state = {**(self.state if isinstance(self.state, dict) else {}), entry_point: state}
            self.keep(state)
            return None
        if self.quarantined and hook in _DEFERRED:
            return None
        if hook == _EXPORT:
            # What it saved last: a swap from a crashed worker keeps it (shaped as the worker
            # exports it: by entry point for a plugin of several).
            if len(self.spec.entry_points) == 1:
                return self.state
            return self.state.get(entry_point) if isinstance(self.state, dict) else None
        if hook == _DEACTIVATE:
            return None
        why = "is quarantined after repeated crashes" if self.quarantined else "is restarting"
        raise PluginCrashedError(f"plugin {self.plugin!r} {why}", plugin=self.plugin)

    def exited(self, worker: Worker, info: ExitInfo) -> None:
        """The worker's ``on_exit``: a death the host did not ask for goes to the supervisor."""
        with self.lock:
            unasked = not self.retired and worker is self.worker
            if unasked:
                self.worker = None
        if unasked and self.on_exit is not None:
            self.on_exit(self, info)

    def stop(self, grace: float = 2.0) -> None:
        """Retire the link: its worker is stopped and never restarted."""
        with self.lock:
            self.retired = True
            worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop(grace)


@attrs.define(eq=False)
class Processes:
    """Which plugins run in a worker process, and how their workers start.

    :param project: the host's pluggy project (the proxies' hookimpl marker).
    :param group: the host's entry-point group.
    :param isolation: ``"process"``: every plugin from a wheel runs in a worker; ``"manifest"``:
        those whose manifest says ``isolation = "process"``.
    :param ceilings: the host's limits: ceilings and defaults of every worker's.
    :param paths: the extra ``sys.path`` entries of a plugin's worker (its private
        dependencies), after its site dir.
    :param start_timeout: how long a worker may take to start and load the plugin.
    :param on_exit: told when a serving worker dies unasked (see :class:`Link`).
    """

    project: str = ""
    group: str = ""
    isolation: Literal["manifest", "process"] = "manifest"
    ceilings: ResourceLimits = ResourceLimits()
    paths: Callable[[Candidate], Sequence[str]] = lambda candidate: ()
    start_timeout: float = 30.0
    on_exit: Callable[[Link, ExitInfo], None] | None = None
    crash_loops: CrashLoops | None = None
    """Where quarantines are recorded across restarts (none: they last as long as the host)."""
    supervised: bool = attrs.field(default=False, init=False)
    """Whether the supervisor runs: a version leaving service then does so by a change (a
    rollback, a new version, a removal) and takes its quarantine record with it; at the
    host's stop the record stays."""
    timers: list[Callable[[str, float], None]] = attrs.field(factory=list, init=False)
    """Told how long each call into a worker took (shared with every link)."""
    _links: set[Link] = attrs.field(factory=set, init=False)
    # A worker booted ahead for the next start, once a process plugin was loaded: the load
    # runs under the host's lock, and booting an interpreter there held it 50-100 ms.
    _spares: Spares | None = attrs.field(default=None, init=False)
    # The transition adds links under the host's lock; the supervisor reads them without it.
    _guard: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def isolated(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` runs in a worker process: its manifest asks for it, or the host
        forces it on plugins from wheels (not on the environment's installed distributions)."""
        if candidate.manifest.isolation == "process":
            return True
        return self.isolation == "process" and isinstance(candidate.origin, WheelOrigin)

    def limits(self, candidate: Candidate) -> ResourceLimits:
        """The limits ``candidate``'s worker runs under: the host's, lowered by its manifest."""
        return self.ceilings.lowered_by(candidate.manifest.resources)

    def spec(self, candidate: Candidate, site_dir: Path | None) -> WorkerSpec:
        """How ``candidate``'s worker is started."""
        from ..proc.worker import WorkerSpec  # noqa: PLC0415  see the imports above

        origin = candidate.origin
        first = [str(site_dir)] if site_dir is not None else []
        if site_dir is None and isinstance(origin, InstalledOrigin) and origin.location:
            first = [str(origin.location)]
        return WorkerSpec(
            plugin=candidate.name,
            project_name=self.project,
            group=self.group,
            entry_points=tuple((ep.name, ep.value) for ep in candidate.entry_points),
            paths=(*first, *self.paths(candidate)),
            limits=self.limits(candidate),
        )

    def load(
        self,
        member: Member,
        prepare: Callable[[Member, object], tuple[Implementations, ...]],
    ) -> tuple[Implementations, ...]:
        """Start ``member``'s worker and prepare its proxies as the import of its entry points.

        :raises ActivationError: at ``import`` when the worker cannot start or load the plugin
            (its reason, with the worker's traceback text), or at ``register`` as ``prepare``
            raises; the worker is stopped then.
        """
        candidate = member.candidate
        spec = self.spec(candidate, member.site_dir)
        limits = spec.limits
        link = Link(
            spec, candidate.version_text, candidate.distribution, timeout=limits.call_timeout_s
        )
        link.timers = self.timers
        link.on_exit = self._exited
        link.key, link.on_retired = candidate.key, self._retired
        record = self._recorded(candidate.key)
        if record is not None:
            _restore_quarantine(link, record)  # no worker: none of its code runs
        else:
            link.worker = _start(spec, link, self.start_timeout, self.spares())
            link.hooks = link.worker.hooks
        names = [ep.name for ep in candidate.entry_points]
        try:
            proxies = build_proxies(
                candidate.name, self.project, names, link.hooks, link.forward, link
            )
            prepared = prepare(member, proxies)
        except BaseException:
            link.stop()
            raise
        with self._guard:
            self._links.add(link)
        return prepared

    def spares(self) -> Spares:
        """The workers booted ahead for the next start (a load, a swap, a restart), made when
        the first process plugin loads."""
        with self._guard:
            if self._spares is None:
                from ..proc.spare import Spares  # noqa: PLC0415  see the imports above

                self._spares = Spares()
            return self._spares

    def live(self) -> list[Link]:
        """The links whose workers serve or may be restarted (not retired)."""
        with self._guard:
            links = [link for link in self._links if not link.retired]
            self._links = set(links)
        return links

    def _exited(self, link: Link, info: ExitInfo) -> None:
        if self.on_exit is not None:
            self.on_exit(link, info)

    # -- quarantines kept across restarts (pluginhost.state.crash_loops)

    def quarantine(self, link: Link) -> None:
        """Record ``link``'s version as quarantined, so that a restart keeps it so.

        :raises StoreError: the record could not be written (the quarantine holds in memory).
        """
        if self.crash_loops is not None and link.key is not None:
            hooks = [_hook_record(h) for h in link.hooks]
            self.crash_loops.record(link.key, len(link.crashes), hooks)

    def lift(self, link: Link) -> None:
        """Lift ``link``'s quarantine record: brought back, or its version left service.

        :raises StoreError: the record could not be removed.
        """
        if self.crash_loops is not None and link.key is not None:
            self.crash_loops.forget(link.key)

    def _retired(self, link: Link) -> None:
        if self.supervised and link.quarantined:
            try:
                self.lift(link)
            except StoreError as exc:  # the change goes on; a later start may find it quarantined
                logger.warning("quarantine record of %s not lifted: %s", link.plugin, exc)

    def _recorded(self, key: CandidateKey) -> Quarantined | None:
        """The quarantine record of this very version, if any. A record of another version
        of the plugin, none of whose versions serves, is stale (that version was replaced
        while the host was stopped, or starting), and is lifted."""
        if self.crash_loops is None:
            return None
        record = self.crash_loops.get(key)
        serving = any(link.key is not None and link.key.name == key.name for link in self.live())
        if record is None and not serving:
            try:
                self.crash_loops.forget_plugin(key.name)
            except StoreError as exc:  # a stale record left: it never matches this version
                logger.warning("stale quarantine record of %s left: %s", key.name, exc)
        return record

    def problems(self, serving: Mapping[PluginName, Active]) -> list[Problem]:
        """A problem for each quarantined process plugin serving (``serving`` names the active
        versions: one left quarantined is stopped after the drain, when the view is out)."""
        return [
            Problem(
                ProblemKind.QUARANTINED,
                link.plugin,
                f"{link.plugin} {link.version} is quarantined: its worker crashed "
                f"{len(link.crashes)} times in a short while and is not restarted any more "
                f"(`pluginhost restart {link.plugin}`, a rollback or a new version brings it "
                "back)",
                version=link.version,
            )
            for link in self.live()
            if link.quarantined and _serves(link, serving)
        ]

    def stop_all(self) -> None:
        """Stop every worker left (the host stops); each gets its grace period."""
        for link in self.live():
            link.stop()
        if self._spares is not None:
            self._spares.close()


def _start(spec: WorkerSpec, link: Link, timeout: float, spares: Spares) -> Worker:
    from ..proc.worker import Worker  # noqa: PLC0415  see the imports above

    try:
        return Worker.start(spec, on_exit=link.exited, start_timeout=timeout, spares=spares)
    except ActivationError:
        raise  # PluginLoadError: the import failed in the worker, or a hook wrapper
    except PluginHostError as exc:  # crashed while starting
        raise ActivationError(
            f"its worker process failed while loading it: {exc}", plugin=spec.plugin, step="import"
        ) from exc


def _serves(link: Link, serving: Mapping[PluginName, Active]) -> bool:
    active = serving.get(PluginName(link.plugin))
    return active is not None and active.candidate.key == link.key


def _restore_quarantine(link: Link, record: Quarantined) -> None:
    """Make ``link`` quarantined as it was recorded, with the hooks recorded."""
    from ..proc.worker import HookDescription  # noqa: PLC0415  see the imports above

    link.quarantined = True
    link.crashes.extend([time.monotonic()] * record.crashes)
    link.hooks = tuple(
        HookDescription(**{**hook, "argnames": tuple(hook["argnames"])}) for hook in record.hooks
    )


def _hook_record(hook: HookDescription) -> dict[str, Any]:
    return {**attrs.asdict(hook), "argnames": list(hook.argnames)}


def link_of(registrations: Sequence[Implementations]) -> Link | None:
    """The link of a process plugin's registrations; ``None`` for an in-process plugin."""
    for r in registrations:
        if isinstance(r.plugin, ProcessProxy):
            link = r.plugin.pluginhost_link
            assert isinstance(link, Link)
            return link
    return None


def stop_workers(registrations: Sequence[Implementations]) -> None:
    """Stop the worker of a process plugin's version leaving service (nothing for others)."""
    link = link_of(registrations)
    if link is not None:
        link.stop()
        if link.on_retired is not None:
            link.on_retired(link)
