"""Supervision of process plugins: a worker that dies is told, restarted, or quarantined.

When a process plugin's worker dies unasked (a segfault, ``os._exit``, a kill, a resource limit
hit; calls in flight already got :class:`~pluginhost.PluginCrashedError` from the worker), its
:class:`~pluginhost.swap.process.Link` tells the supervisor, which runs on a thread of its own:

1. a ``crashed`` event names the exit code or signal, and the limit hit if any;
2. after ``restart_limit`` crashes within ``restart_window`` seconds, the plugin is quarantined:
   a ``quarantined`` event and problem, and no more restarts until an operator brings it back
   (``host.rollback()``, a new version, ``host.restart()`` / ``pluginhost restart NAME``),
   also across the host's restarts (:mod:`pluginhost.state.crash_loops`);
3. otherwise, after a jittered exponential backoff, a new worker is started from the same
   spec (the one booted ahead, :mod:`pluginhost.proc.spare`, when it is ready), handed the
   state last exported (at the last swap, or at the last of the exports made every
   ``state_interval`` seconds), activated and pinged, all without the host's lock; then,
   under the lock, the link's worker is replaced in one reference store and a ``restarted``
   event goes out. A failed restart counts as another crash.

The supervisor never holds the host's lock while it waits for a worker.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import pluggy

from ..model.errors import PluginHostError, PluginTimeoutError, StoreError
from ..model.events import Event, EventKind
from ..state.crash_loops import CrashLoops
from ..swap.process import Link, Processes
from .dependencies import SharedDependencies
from .private import PrivateDependencies
from .settings import Settings

if TYPE_CHECKING:
    # Imported when a worker first restarts (see pluginhost.swap.process).
    from ..proc.exits import ExitInfo
    from ..proc.worker import Worker

__all__ = ["Supervisor", "processes_for"]

logger = logging.getLogger("pluginhost")

_EXPORT: Final = "pluginhost_export_state"
#: The longest wait before a worker whose exports go unanswered is asked again (doubled from
#: the activate timeout at each one).
_EXPORT_WAIT: Final = 600.0
#: The first restart's delay, and the most any restart waits (seconds).
BACKOFF_BASE: Final = 0.05
BACKOFF_MAX: Final = 30.0


def processes_for(
    config: Settings, pm: pluggy.PluginManager, deps: SharedDependencies
) -> Processes:
    """The process plugins of a host with these settings (its supervisor sets ``on_exit``);
    their third-party dependencies are their own, not ``deps``' (see :mod:`.private`)."""
    private = PrivateDependencies(config, deps.validated, deps.wheels)
    processes = Processes(
        project=pm.project_name,
        group=config.group or f"{pm.project_name}.plugins",
        isolation=config.isolation,
        ceilings=config.resources,
        paths=private.paths,
        start_timeout=config.timeouts.import_,
        crash_loops=CrashLoops(config.site_root.parent),
    )
    deps.private = processes.isolated
    return processes


def backoff(crashes: int, rng: Callable[[], float] = random.random) -> float:
    """The delay before the restart that follows ``crashes`` crashes in a row (seconds):
    exponential, with full jitter in its upper half, so that workers crashing together do
    not restart together."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** max(crashes - 1, 0))
    return ceiling / 2 + rng() * ceiling / 2


class Supervisor:
    """Restarts process plugins' workers; see the module docstring.

    :param config: the host's settings (restart limit and window, state interval).
    :param processes: the host's process plugins.
    :param locked: runs a function under the host's lock, if the host still runs.
    :param emit: delivers an event (called under the host's lock).
    :param refresh: publishes a plugin's snapshot again (called under the host's lock).
    """

    def __init__(
        self,
        config: Settings,
        processes: Processes,
        locked: Callable[[Callable[[], None]], None],
        emit: Callable[[Event], None],
        refresh: Callable[[str], None],
    ) -> None:
        self.config = config
        self._processes = processes
        self._locked = locked
        self._emit = emit
        self._refresh = refresh
        self._wake = threading.Condition()
        self._crashed: list[tuple[Link, ExitInfo]] = []
        self._due: list[tuple[float, int, Link]] = []  # restarts, soonest first
        self._count = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_export = 0.0
        # Workers whose export did not answer in time: when to ask again, and the wait after.
        self._unanswered: weakref.WeakKeyDictionary[Worker, tuple[float, float]] = (
            weakref.WeakKeyDictionary()
        )
        processes.on_exit = self.crashed

    def start(self) -> None:
        """Start the supervisor's thread."""
        self._stopping = False
        self._processes.supervised = True
        self._next_export = time.monotonic() + self.config.state_interval
        self._thread = threading.Thread(target=self._run, name="pluginhost-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; no restart starts after this returns."""
        with self._wake:
            self._stopping = True
            self._processes.supervised = False  # the host stops: quarantine records stay
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def crashed(self, link: Link, info: ExitInfo) -> None:
        """A worker died unasked (called on the worker's own thread: it only queues)."""
        with self._wake:
            self._crashed.append((link, info))
            self._wake.notify_all()

    def restart(self, link: Link) -> None:
        """Let a quarantined plugin be restarted at once (the operator's word)."""
        with self._wake:
            if link.worker is not None:
                return  # serving: nothing to bring back
            link.quarantined = False
            link.crashes.clear()
            self._schedule(link, 0.0)
        self._keep(self._processes.lift, link)

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._crashed and not self._ready():
                    self._wake.wait(self._wait())
                if self._stopping:
                    return
                crashed, self._crashed = self._crashed, []
                ready = self._pop_ready()
            try:
                for link, info in crashed:
                    self._handle_crash(link, info.reason, info.limit)
                for link in ready:
                    self._restart(link)
                self._export_due()
            except Exception:
                # A bug here must not end supervision of every other plugin.
                logger.exception("process plugin supervisor failed; it goes on")

    def _wait(self) -> float:
        deadline = self._next_export
        if self._due:
            deadline = min(deadline, self._due[0][0])
        return max(0.0, deadline - time.monotonic())

    def _ready(self) -> bool:
        now = time.monotonic()
        return bool(self._due and self._due[0][0] <= now) or now >= self._next_export

    def _pop_ready(self) -> list[Link]:
        now, ready = time.monotonic(), []
        while self._due and self._due[0][0] <= now:
            ready.append(heapq.heappop(self._due)[2])
        return ready

    def _schedule(self, link: Link, delay: float) -> None:
        self._count += 1
        heapq.heappush(self._due, (time.monotonic() + delay, self._count, link))
        self._wake.notify_all()

    # -- crashes and restarts ----------------------------------------------------------------

    def _handle_crash(self, link: Link, reason: str, limit: str | None) -> None:
        now = time.monotonic()
        link.crashes.append(now)
        while link.crashes and link.crashes[0] < now - self.config.restart_window:
            link.crashes.popleft()
        quarantine = len(link.crashes) >= self.config.restart_limit
        text = reason if limit is None or limit in reason else f"{reason} (limit {limit})"
        self._tell(link, EventKind.CRASHED, text, limit)
        if link.retired:
            return
        if quarantine:
            link.quarantined = True
            self._keep(self._processes.quarantine, link)  # before it is told: crash-safe
            why = f"{len(link.crashes)} crashes within {self.config.restart_window:g}s"
            self._tell(link, EventKind.QUARANTINED, why, None)
            return
        with self._wake:
            self._schedule(link, backoff(len(link.crashes)))

    def _restart(self, link: Link) -> None:
        if link.retired or link.quarantined:
            return
        started = time.monotonic()
        try:
            worker = self._started(link)
        except PluginHostError as exc:
            self._handle_crash(link, f"restart failed: {exc}", getattr(exc, "limit", None))
            return
        outcome = self._place(link, worker)
        if outcome == "stale":
            worker.stop()
        elif outcome == "died":  # before it was in place: its link did not tell
            info = worker.exit_info
            assert info is not None
            self._handle_crash(link, info.reason, info.limit)
        else:
            took = time.monotonic() - started
            logger.info("restarted process plugin %s in %.3fs", link.plugin, took)

    def _started(self, link: Link) -> Worker:
        """A new worker for ``link``, with its state and activated (no lock held).

        :raises PluginHostError: when it does not come up.
        """
        from ..proc.worker import Worker  # noqa: PLC0415  see the imports above

        timeouts = self.config.timeouts
        worker = Worker.start(
            link.spec,
            on_exit=link.exited,
            start_timeout=timeouts.import_,
            spares=self._processes.spares(),
        )
        several = len(link.spec.entry_points) > 1
        try:
            for entry_point in _implementing(worker, "pluginhost_import_state"):
                part = link.state
                if several:
                    part = part.get(entry_point) if isinstance(part, dict) else None
                kwargs = {"state": part, "previous_version": link.version}
                # Bounded like every lifecycle hook: a hung one is killed, and counts as a crash.
                _call(worker, "pluginhost_import_state", kwargs, entry_point, timeouts.activate)
            for entry_point in _implementing(worker, "pluginhost_activate"):
                _call(worker, "pluginhost_activate", {"host": None}, entry_point, timeouts.activate)
            worker.ping(timeout=10.0)  # a busy machine is no crash
        except BaseException:
            worker.stop()
            raise
        return worker

    def _place(self, link: Link, worker: Worker) -> str:
        """Put ``worker`` in ``link``'s place under the host's lock, and tell it.

        :returns: ``"placed"``; ``"stale"`` when the link was retired, quarantined or given
            another worker meanwhile; ``"died"`` when the worker is gone already. A worker
            dying once in place is told by the link (its exit is seen under the same lock).
        """
        outcome: list[str] = ["stale"]

        def place() -> None:
            with link.lock:
                if link.retired or link.quarantined or link.worker is not None:
                    return
                if worker.exit_info is not None:
                    outcome[0] = "died"
                    return
                link.worker = worker
                link.restarts += 1
            outcome[0] = "placed"
            # Published before it is told: a subscriber reading the host sees the new worker.
            self._refresh(link.plugin)
            self._emit(
                Event(
                    EventKind.RESTARTED,
                    link.plugin,
                    version=link.version,
                    distribution=link.distribution,
                )
            )

        self._locked(place)
        return outcome[0]

    def _keep(self, change: Callable[[Link], None], link: Link) -> None:
        """Record a quarantine, or lift it; a refused write leaves it to this run alone."""
        try:
            change(link)
        except StoreError as exc:
            logger.warning("quarantine of %s not kept for the next start: %s", link.plugin, exc)

    def _tell(self, link: Link, kind: EventKind, error: str, limit: str | None) -> None:
        def tell() -> None:
            self._refresh(link.plugin)
            self._emit(
                Event(
                    kind,
                    link.plugin,
                    version=link.version,
                    distribution=link.distribution,
                    error=error,
                    step=limit,
                )
            )

        self._locked(tell)

    def _export_due(self) -> None:
        """Every ``state_interval``: each serving worker's state, kept for its restart."""
        if time.monotonic() < self._next_export:
            return
        self._next_export = time.monotonic() + self.config.state_interval
        for link in self._processes.live():
            worker = link.worker
            if worker is None or not _implementing(worker, _EXPORT):
                continue
            timeout = self.config.timeouts.activate
            again, wait = self._unanswered.get(worker, (0.0, timeout))
            if time.monotonic() < again:
                continue  # its last export is unanswered: asked again later, and less often
            try:
                # A worker that does not answer in time is left serving: it answers one call at
                # a time, and the plugin's own calls, each under its call_timeout_s if it has
                # one, may hold it longer (a 45 s call was killed after 40 s by this export).
                states = {
                    entry_point: _call(worker, _EXPORT, {}, entry_point, timeout, kill=False)
                    for entry_point in _implementing(worker, _EXPORT)
                }
                # Shaped as the worker's own export (and the in-process hand-over) shape it.
                several = len(link.spec.entry_points) > 1
                link.keep((states or None) if several else next(iter(states.values())))
                self._unanswered.pop(worker, None)
            except PluginTimeoutError as exc:
                # Each round waited for it and sent one more request: the worker hung in its
                # export, the supervisor's thread was always waiting (30 s a round, every
                # 10 s), and crashed workers were restarted seconds late.
                self._unanswered[worker] = (time.monotonic() + wait, min(2 * wait, _EXPORT_WAIT))
                logger.info("state of %s not exported: %s", link.plugin, exc)
            except PluginHostError as exc:
                # A crash meanwhile is told by the link; anything else keeps the last state.
                logger.info("state of %s not exported: %s", link.plugin, exc)


def _call(
    worker: Worker,
    hook: str,
    kwargs: dict[str, Any],
    entry_point: str,
    timeout: float,
    *,
    kill: bool = True,
) -> Any:
    """One lifecycle hook of one entry point in ``worker``, within ``timeout`` seconds; past
    it, the worker is killed if ``kill``."""
    return worker.call(hook, kwargs, entry_point=entry_point, timeout=timeout, kill=kill)


def _implementing(worker: Worker, hook: str) -> Sequence[str]:
    """The entry points of ``worker``'s plugin that implement ``hook``."""
    return [h.entry_point for h in worker.hooks if (h.specname or h.name) == hook]
