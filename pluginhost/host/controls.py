"""The operator's switches on a host: disable and enable a plugin, and ask each implementation
of a hook for its answer. A base of :class:`~pluginhost.PluginHost`, kept apart so that each
file stays one job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..model.answers import HookAnswer
from ..model.errors import HostStateError
from ..model.events import Event, EventBus, EventKind
from ..model.names import plugin_name
from ..model.status import PluginInfo, PluginState
from ..state.disabled import DisabledList, record_choice
from .calls import call_each
from .engine import Engine
from .hostlock import HostLock
from .supervisor import Supervisor

__all__ = ["Controls"]


class Controls:
    """:meth:`disable`, :meth:`enable`, :meth:`disabled`, :meth:`restart`, :meth:`call_each`
    and :meth:`time_process_calls`."""

    # Set by PluginHost.__init__.
    _lock: HostLock
    _engine: Engine
    _events: EventBus
    _disabled: DisabledList
    _started: bool
    _supervisor: Supervisor

    # Defined by PluginHost.
    @property
    def plugins(self) -> Mapping[str, PluginInfo]:
        raise NotImplementedError

    def _reconcile(self) -> None:
        raise NotImplementedError

    def time_process_calls(self, timer: Callable[[str, float], None]) -> Callable[[], None]:
        """Have ``timer(plugin, seconds)`` called after each call into a process plugin, from
        the calling thread (``HostMetrics`` times them so).

        :returns: the function that stops it.
        """
        timers = self._engine.processes.timers
        timers.append(timer)

        def stop() -> None:
            if timer in timers:
                timers.remove(timer)

        return stop

    def restart(self, name: str) -> PluginInfo:
        """Start a process plugin's worker again now: one quarantined after repeated crashes
        (the operator's way back, besides a rollback or a new version), or one waiting for its
        restart. The worker gets the state its plugin last exported. It starts on the
        supervisor's thread: watch for the ``restarted`` event, or :meth:`status`.

        :returns: the plugin's :class:`PluginInfo` as it was when asked (still quarantined,
            say, with the old worker's pid): the restart has not happened yet.

        :raises HostStateError: when the plugin is not active, or not a process plugin.
        """
        key = plugin_name(name)
        with self._lock:
            if not self._started:
                raise HostStateError("host is not started; call start() first")
            info = self._engine.view.plugins.get(key)
            if info is None or info.state is PluginState.FAILED:
                raise HostStateError(f"plugin {key!r} is not active", plugin=key)
            links = [
                link
                for link in self._engine.processes.live()
                if (link.plugin, link.version) == (key, info.version)
            ]
            if not links:
                raise HostStateError(f"plugin {key!r} is not a process plugin", plugin=key)
            self._supervisor.restart(links[-1])
            return info

    def disabled(self) -> frozenset[str]:
        """The plugins disabled with :meth:`disable` (or ``pluginhost disable``), as the home
        records them.

        :raises StoreError: when the record is unusable.
        """
        return frozenset(self._disabled.read())

    def disable(self, name: str) -> bool:
        """Unload a plugin (and the plugins that need it) and keep it out, without touching its
        wheel, across restarts too, until :meth:`enable`. A plugin not loaded yet, or not known
        yet, is kept out from now on. The choice is committed to ``home/disabled.json`` before
        anything is unloaded, so a crash in between leaves it disabled.

        On a host that is not started, the choice is only recorded (the next start acts on it).

        :returns: whether anything changed (``False``: it was disabled already).
        :raises HostStateError: when the host is not started and another process uses its home.
        :raises StoreError: when the choice cannot be recorded; nothing changed.
        """
        return self._choose(name, disabled=True)

    def enable(self, name: str) -> bool:
        """Let a plugin disabled with :meth:`disable` load again (its wheel, or what the sources
        offer, is read as usual).

        :returns: whether anything changed (``False``: it was not disabled).
        :raises HostStateError: when the host is not started and another process uses its home.
        :raises StoreError: when the choice cannot be recorded; nothing changed.
        """
        return self._choose(name, disabled=False)

    def _choose(self, name: str, *, disabled: bool) -> bool:
        name = plugin_name(name)
        with self._lock:
            if not self._started:
                return record_choice(self._disabled.home, name, disabled=disabled)
            admission = self._engine.admission
            now = admission.disabled | {name} if disabled else admission.disabled - {name}
            if now == admission.disabled:
                return False
            self._disabled.write(now)  # committed first: crash-safe
            self._engine.admission = attrs.evolve(admission, disabled=now)
            info = self.plugins.get(name)
            kind = EventKind.DISABLED if disabled else EventKind.ENABLED
            self._events.emit(Event(kind, name, version=info.version if info else None))
            self._reconcile()
        return True

    def call_each(self, hook: str, /, **kwargs: Any) -> tuple[HookAnswer, ...]:
        """Call each implementation of ``hook`` on its own and collect every answer, with the
        plugin and version that gave it: ``host.call_each("greet", name="Ada")``.

        Read-only for the host: it takes no lock and changes nothing (what the plugins do is
        theirs). The implementations are called in pluggy's order, in this thread; one that
        raises gives an answer with ``error`` set, and the others are still called. Wrappers
        are not called; lifecycle hooks are refused.

        :returns: one :class:`~pluginhost.HookAnswer` per implementation.
        :raises CallError: when the host has no such hook, it is a lifecycle or historic
            hook, or ``kwargs`` are not the arguments its spec names.
        """
        return call_each(self._engine.hooks.pm, self.plugins, hook, kwargs)
