"""Imports ahead of their transitions: a run of new plugins imported on one helper thread.

Every import runs on a helper thread so that a hung one times out
(:func:`pluginhost.load.bounded.bounded`).
At a start with hundreds of plugins, handing each import over and back cost more than the
import itself: two thread switches, and the interpreter's working set moved between cores. So
the engine hands over a run of new plugins that do not depend on each other at once: the helper
imports them one after another, each guarded as a single import is (a snapshot of the import
machinery before, what changed put back after) and each bounded by the import timeout, which
the waiting thread enforces. The transitions that follow take each plugin's object, or its
failure, from here instead of importing it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs

from ..model.candidate import CandidateKey, EntryPoint
from ..model.frozen import frozen
from ..model.names import PluginName
from ..state.quarantine import Loading, Marker, unmarked
from . import guard
from .bounded import Helper, failed, outcome, overran
from .guard import Effects
from .modules import import_entry_points

__all__ = ["Ahead", "Imported", "import_ahead"]


@frozen
class Ahead:
    """A plugin to import ahead: what :func:`~pluginhost.load.modules.import_entry_points` needs.

    :param key: the candidate's identity, so that the transition takes the import it meant.
    :param loading: what the loading marker records while it is imported (none when ``None``).
    """

    name: PluginName
    key: CandidateKey
    entry_points: tuple[EntryPoint, ...]
    top_level: tuple[str, ...]
    site_dir: Path | None
    loading: Loading | None = None


@attrs.define(eq=False)
class Imported:
    """One import done ahead: the entry points' objects (a tuple, in their order), or why the
    import failed.

    :param error: the failure as a guarded import would report it (raised, overran, or changed
        the import machinery), ``None`` when the import succeeded.
    :param effects: what the import did that outlives it (threads, ``atexit`` handlers).
    """

    plugin: Ahead
    value: object = None
    error: str | None = None
    effects: Effects = Effects()


def import_ahead(
    plugins: Sequence[Ahead],
    timeout: float,
    mark: Callable[[Sequence[Loading]], Marker] = unmarked,
    *,
    then: Callable[[Ahead, tuple[object, ...]], object] | None = None,
) -> list[Imported]:
    """Import ``plugins`` in order on one helper thread; their results, in the same order.

    Each plugin's top-level names must be importable already (mapped by the host's finder, or on
    ``sys.path``). When an import overruns ``timeout``, its result is that failure, the helper is
    abandoned in the plugin's code, and the plugins after it are not imported: the list is then
    shorter than ``plugins``.

    :param mark: puts a loading marker on disk for the plugin whose import runs (see
        :mod:`pluginhost.state.quarantine`), one plugin at a time.
    :param then: run on the helper with each plugin and its entry points' objects, within the
        import's step and bound: what it returns is the result's value (the transition
        collects the hooks there, :mod:`pluginhost.swap.collect`).
    """
    return _Run(plugins, timeout, mark, then).wait()


_NAP: Final = 0.001
"""The shortest wait for the helper (seconds): between two of its imports, the deadline just
passed belongs to an import that finished in time, and the next one has not started yet."""


class _Run:
    """The helper's loop over the plugins and the waiting thread's watch over it.

    The lock decides, for the import under way, who puts the import machinery back: the helper
    once the import returns, or the waiting thread once it gives up on it. Never both.
    """

    def __init__(
        self,
        plugins: Sequence[Ahead],
        timeout: float,
        mark: Callable[[Sequence[Loading]], Marker],
        then: Callable[[Ahead, tuple[object, ...]], object] | None,
    ) -> None:
        self._plugins = plugins
        self._then = then
        self._timeout = timeout
        self._mark = mark
        self._marker = Marker()
        self._lock = threading.Lock()
        self._results: list[Imported] = []
        self._started = time.monotonic()
        self._before: guard.Snapshot | None = None
        self._abandoned = False

    def wait(self) -> list[Imported]:
        if not self._plugins:
            return []
        helper, done = Helper.submit(_thread_name(self._plugins[0]), self._work)
        # Woken only when the helper is done, or when the import under way may have overrun:
        # waking after each import would cost the thread switches this module exists to save.
        while not done.acquire(timeout=max(_NAP, self._started + self._timeout - time.monotonic())):
            with self._lock:
                if self._before is None or time.monotonic() < self._started + self._timeout:
                    # Between two imports (the last one finished in time), or another import
                    # started meanwhile.
                    continue
                self._abandoned = helper.abandoned = True
                self._give_up()
                # The stuck helper keeps this object: it must not keep the plugins too.
                results, self._results = self._results, []
                return results
        Helper.give_back(helper)
        return self._results

    def _give_up(self) -> None:
        """Report the import under way as overrun, and put back what it changed so far."""
        plugin = self._plugins[len(self._results)]
        before, self._before = self._before, None
        assert before is not None
        # The import failed, by timeout: whatever its thread does later is not a crash of its load.
        self._marker.clear()
        effects = guard.restore(before, plugin.top_level)
        reason = overran("import", self._timeout, _thread_name(plugin))
        error = guard.failure("import", reason, effects.undone)
        self._results.append(Imported(plugin, error=error, effects=effects))

    def _given_up(self) -> bool:
        # A method, not the attribute: the waiting thread sets it while the import runs.
        return self._abandoned

    def _work(self) -> None:
        """On the helper: each import in turn, guarded.

        The snapshot lives on this object, not in a local: a frame stuck in a plugin's import
        would keep it, and with it every module imported before.
        """
        for plugin in self._plugins:
            marker = self._mark([plugin.loading] if plugin.loading else [])
            with self._lock:
                if self._abandoned:
                    marker.clear()
                    return
                self._started = time.monotonic()
                self._before = guard.snapshot()
                self._marker = marker
            # Named as the helper of a single import is, so that reports read the same.
            threading.current_thread().name = _thread_name(plugin)
            ok, value = outcome(functools.partial(self._import, plugin))
            marker.clear()
            with self._lock:
                if self._given_up():
                    return  # the waiting thread put the machinery back
                before, self._before = self._before, None
                assert before is not None
                effects = guard.restore(before, plugin.top_level)
                del before
                self._results.append(_imported(plugin, ok, value, effects))
            del value  # this helper thread goes on to other work: it must not keep the plugin

    def _import(self, plugin: Ahead) -> object:
        objects = import_entry_points(
            plugin.entry_points,
            plugin=plugin.name,
            top_level=plugin.top_level,
            root=plugin.site_dir,
        )
        return objects if self._then is None else self._then(plugin, objects)


def _thread_name(plugin: Ahead) -> str:
    return f"pluginhost-import-{plugin.name}"


def _imported(plugin: Ahead, ok: bool, value: object, effects: Effects) -> Imported:
    reason = None if ok else failed("import", value)
    if reason is None and not effects.undone:
        return Imported(plugin, value=value, effects=effects)
    return Imported(plugin, error=guard.failure("import", reason, effects.undone), effects=effects)
