"""The finders plugin code puts in ``sys.path_importer_cache``: put back after a guarded step,
swept when a version is retired.

The cache maps a folder of the path to the finder that imports from it. A finder of the
plugin's own cached for a folder of the path (the standard library's) served every later first
import from that folder with the plugin's code, after the plugin was gone; the guard looked at
``sys.meta_path`` and ``sys.path_hooks`` only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..model.exception_text import safe_repr
from .owners import kind, owned

__all__ = ["restore_cache", "sweep_cache"]


def restore_cache(before: dict[Any, Any], tops: frozenset[str]) -> list[str]:
    """Take the plugin's own finders out of the cache and put back what was cached before.

    What imports cache there (a finder for a folder met for the first time, or made again
    after ``importlib.invalidate_caches``) stays; so does the cache's own order of business.
    A key that is not a ``str`` is no folder's: one added goes too.

    :returns: one phrase per entry put back.
    """
    cache = sys.path_importer_cache
    undone = []
    for entry, finder in list(cache.items()):
        if type(entry) is str:
            # A str key runs no code when hashed; the same finder is the common case.
            if before.get(entry, cache) is finder or not owned(finder, tops):
                continue
        elif any(key is entry and value is finder for key, value in before.items()):
            continue  # there before: not this step's
        undone.append(f"{_described(entry)} entry {kind(finder)} added")
        if type(entry) is str and entry in before:
            cache[entry] = before[entry]
        else:
            _forget(entry)
    return undone


def sweep_cache(left: Callable[[object], bool]) -> list[str]:
    """Take out the cached finders that ``left`` says a retired version left behind.

    :returns: one phrase per entry taken out.
    """
    removed = []
    for entry, finder in list(sys.path_importer_cache.items()):
        if left(finder):
            _forget(entry)
            removed.append(f"{_described(entry)} entry {kind(finder)}")
    return removed


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
