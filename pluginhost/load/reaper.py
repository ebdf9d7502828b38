"""Watching retired versions' modules until the interpreter frees them, without pausing anyone.

A module's functions point back at its namespace (``__globals__``) and every class points at
itself (``__mro__``), so a retired version's code is freed by the cycle collector, not by
reference counting alone, unless its release breaks those cycles (:mod:`.reclaim`, when only
they hold it). Forcing a full collection on the swap path would free it at once, but a full
collection holds the interpreter lock for as long as it takes to walk every object of the
process: tens of milliseconds with a thousand plugins, during which no hook call runs.

So nothing here collects on its own. Each release is watched through weak references; the
interpreter's own collector runs when its thresholds say so, and a gc callback counts the full
collections it completes. A release still alive after a full collection that began after it was
watched is held by something real (a kept function, a thread, a stashed object): it is reported
once, as a leak. :meth:`Reaper.collect` forces the collection for whoever asks (an operator,
a test), off the swap path.
"""

from __future__ import annotations

import gc
import threading
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..model.frozen import frozen

__all__ = ["Leak", "Reaper", "Released", "full_collections"]

_counts = [0, 0]
"""Full collections begun and completed since this module was imported (any thread, automatic
or not)."""


def _count(phase: str, info: Mapping[str, Any]) -> None:
    # Runs inside the collector, in whichever thread triggered it: an int store, nothing that
    # allocates much or takes a lock.
    if info.get("generation") == 2:
        _counts[phase != "start"] += 1


gc.callbacks.append(_count)


def full_collections() -> tuple[int, int]:
    """How many full collections the interpreter began and completed since pluginhost was
    imported."""
    return _counts[0], _counts[1]


class _Marker:
    """Put in a module's namespace to learn whether the namespace outlives the module."""


def _ref(module: types.ModuleType) -> Callable[[], object]:
    """A weak reference to ``module``; a plugin may have put in ``sys.modules`` an object that
    takes none (an instance of a class with ``__slots__``): its marker alone tells then."""
    try:
        return weakref.ref(module)
    except TypeError:
        return _gone


def _gone() -> None:
    return None


def _mark(module: types.ModuleType) -> Callable[[], object]:
    # A function keeps its module's namespace alive (__globals__), not the module object: a
    # function of the plugin kept anywhere shows only through an object in its namespace.
    marker = _Marker()
    try:
        vars(module)["__pluginhost_marker__"] = marker
    except Exception:  # a module object that refuses it; its own weak reference still counts
        return _gone
    return weakref.ref(marker)


@frozen(eq=False)
class Released:
    """Modules out of ``sys.modules`` and out of the host's hands, watched through weak
    references (to each module and to a marker in its namespace).

    :param refs: by module name, a weak reference to the module and one to its marker.
    :param since: how many full collections had begun when they were let go of: one that
        completes beyond that number began after.
    """

    refs: Mapping[str, tuple[Callable[[], object], Callable[[], object]]]
    since: int

    @classmethod
    def of(cls, modules: Mapping[str, types.ModuleType]) -> Released:
        """Watch ``modules``; the caller drops its own references right after."""
        refs = {name: (_ref(module), _mark(module)) for name, module in modules.items()}
        return cls(refs, full_collections()[0])

    def alive(self) -> list[str]:
        """The modules whose object or namespace is still alive, sorted."""
        refs = self.refs.items()
        return sorted(name for name, (ref, mark) in refs if ref() is not None or mark())


@frozen
class Leak:
    """A retired version whose modules outlived a full collection.

    :param plugin: the plugin's name.
    :param version: the retired version.
    :param modules: the modules still alive.
    :param owned: the plugin's top-level names (to look for what holds them).
    """

    plugin: str
    version: str
    modules: tuple[str, ...]
    owned: tuple[str, ...]


@frozen(eq=False)
class _Watched:
    released: Released
    plugin: str
    version: str
    owned: tuple[str, ...]


class Reaper:
    """The releases of one host, watched until a full collection has had its chance."""

    def __init__(self) -> None:
        self._watched: list[_Watched] = []
        self._lock = threading.Lock()

    def watch(self, released: Released, plugin: str, version: str, owned: Sequence[str]) -> None:
        """Watch ``released`` (of ``plugin`` at ``version``); freed already, it is forgotten."""
        if released.alive():
            with self._lock:
                self._watched.append(_Watched(released, plugin, version, tuple(owned)))

    def pending(self) -> int:
        """How many releases are still watched."""
        with self._lock:
            return len(self._watched)

    def due(self) -> list[Leak]:
        """The releases that outlived a full collection begun after they were let go of; each
        is reported once. Releases freed meanwhile are forgotten."""
        done = full_collections()[1]
        with self._lock:
            ripe = [w for w in self._watched if w.released.since < done]
            self._watched = [w for w in self._watched if w.released.since >= done]
        leaks = []
        for w in ripe:
            alive = w.released.alive()
            if alive:
                leaks.append(Leak(w.plugin, w.version, tuple(alive), w.owned))
        return leaks

    def collect(self) -> list[Leak]:
        """Run a full collection now (pausing every thread for its length), then :meth:`due`."""
        gc.collect()
        return self.due()
