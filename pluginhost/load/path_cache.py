"""The finders plugin code puts in ``sys.path_importer_cache``: put back after a guarded step,
swept when a version is retired.

The cache maps a folder of the path to the finder that imports from it. A finder of the
plugin's own cached for a folder of the path (the standard library's) served every later first
import from that folder with the plugin's code, after the plugin was gone; the guard looked at
``sys.meta_path`` and ``sys.path_hooks`` only.
"""

from __future__ import annotations

import importlib.machinery
import itertools
import operator
import os
import sys
from collections.abc import Callable
from typing import Any

from ..model.exception_text import safe_repr
from .owners import kind, owned

__all__ = ["only_added", "restore_cache", "sweep_cache"]


def restore_cache(before: dict[Any, Any], tops: frozenset[str]) -> list[str]:
    """Take the plugin's own finders out of the cache and put back what was cached before.

    What imports cache there (a finder for a folder met for the first time, or made again
    after ``importlib.invalidate_caches``) stays; the standard library's finder cached for
    another folder than its own goes.
    A key that is not a ``str`` is no folder's: one added goes too.

    :returns: one phrase per entry put back.
    """
    cache = sys.path_importer_cache
    undone = []
    # Mostly what an import cached for folders met for the first time: only those are looked at.
    start = len(before) if only_added(before, cache) else 0
    for entry, finder in list(itertools.islice(cache.items(), start, None)):
        if type(entry) is str:
            # A str key runs no code when hashed; the same finder is the common case.
            if before.get(entry, cache) is finder:
                continue
            if not owned(finder, tops) and not _elsewhere(entry, finder):
                continue
        elif any(key is entry and value is finder for key, value in before.items()):
            continue  # there before: not this step's
        undone.append(f"{_described(entry)} entry {kind(finder)} added")
        if type(entry) is str and entry in before:
            cache[entry] = before[entry]
        else:
            _forget(entry)
    return undone


def only_added(before: dict[Any, Any], now: dict[Any, Any]) -> bool:
    """Whether ``now`` begins with every entry of ``before``, the same objects in the same order.

    Dicts keep insertion order, so an entry removed or replaced (even put back) breaks the
    match. Compared by identity in C: a start with hundreds of plugins looks at sys.modules
    and at this cache, which grow with each of them, once per plugin.
    """
    return (
        len(now) >= len(before)
        and not any(map(operator.is_not, before, now))
        and not any(map(operator.is_not, before.values(), now.values()))
    )


def sweep_cache(left: Callable[[object], bool], roots: tuple[str, ...] = ()) -> list[str]:
    """Take out the cached finders that ``left`` says a retired version left behind, and the
    standard library's finders cached for another folder than their own (pointing under
    ``roots``, when given: a retired version's site dirs).

    :returns: one phrase per entry taken out.
    """
    removed = []
    for entry, finder in list(sys.path_importer_cache.items()):
        if left(finder) or (
            type(entry) is str and _elsewhere(entry, finder) and _points_into(finder, roots)
        ):
            _forget(entry)
            removed.append(f"{_described(entry)} entry {kind(finder)}")
    return removed


def _elsewhere(entry: str, finder: object) -> bool:
    """Whether ``finder`` is the standard library's finder of a folder, cached for another
    folder: it imports from where it points, whatever the entry (a plugin serving its own
    modules for the standard library's this way used no class of its own)."""
    if type(finder) is not importlib.machinery.FileFinder:
        return False
    where = vars(finder).get("path")  # the instance's own: no property of a subclass runs
    if type(where) is not str:
        return True
    return os.path.abspath(where) != os.path.abspath(entry or ".")


def _points_into(finder: object, roots: tuple[str, ...]) -> bool:
    where = vars(finder).get("path")
    return not roots or (type(where) is str and os.path.join(where, "").startswith(roots))


def _described(entry: object) -> str:
    return f"sys.path_importer_cache[{safe_repr(entry)}]"


def _forget(entry: Any) -> None:
    """Take ``entry`` out of the cache, whatever its key's hash does."""
    cache = sys.path_importer_cache
    try:
        del cache[entry]
    except KeyboardInterrupt:
        raise
    except BaseException:
        # A key whose hash or equality raises cannot be looked up: the cache is rebuilt
        # without it, in place (the import system holds this very dict).
        kept = [(key, value) for key, value in cache.items() if type(key) is str]
        cache.clear()
        cache.update(kept)
