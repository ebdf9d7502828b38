"""What a plugin's code left in the import machinery, removed when the plugin is retired.

Hook calls are never guarded (see :mod:`.guard`): what a plugin did during one, a finder put on
``sys.meta_path``, a path hook, its module under another name in ``sys.modules``, is only found
here, once its version stops serving: at unload, and at an update, where the new version has the
same module names and only what runs from the old version's site dir is the old one's.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Collection, Sequence
from itertools import compress, repeat
from operator import itemgetter, ne
from pathlib import Path
from typing import Any

from ..model.pacing import paced
from .owners import code_files, kind, owned, top
from .path_cache import sweep_cache

__all__ = ["sweep"]


def sweep(names: Collection[str], roots: Sequence[Path] = ()) -> list[str]:
    """Remove the plugin's code from the import machinery, wherever it put it, whenever.

    Run when a version is retired, after its own modules left ``sys.modules``: what is left of
    it there (its modules under other names), in ``sys.meta_path`` or ``sys.path_hooks`` was
    put there by the plugin, possibly during a hook call, where nothing is guarded (and its
    finders cached in ``sys.path_importer_cache``).

    :param roots: when given, only entries whose code lies under one of these folders count:
        an old version's site dirs, retired by an update while the new version, with the same
        module names, serves on.
    :returns: one phrase per entry removed.
    """
    tops = frozenset(names)
    prefixes = tuple(os.path.join(str(root), "") for root in roots)

    def left(value: object) -> bool:
        return owned(value, tops) and (not prefixes or _runs_from(value, prefixes))

    removed = []
    for name, value in _aliases(tops):
        if left(value):
            sys.modules.pop(name, None)
            removed.append(f"sys.modules[{name!r}]")
    removed += _sweep_list(sys.meta_path, "sys.meta_path", left)
    removed += _sweep_list(sys.path_hooks, "sys.path_hooks", left)
    removed += sweep_cache(left, prefixes)
    return removed


def _aliases(tops: frozenset[str]) -> list[tuple[str, object]]:
    """The entries of ``sys.modules`` whose value does not bear their name, outside ``tops``.

    A module under its own name is the plugin's only if the name is, so only these are judged.
    The names are read and compared in C: a host stopping a thousand plugins sweeps once per
    plugin, and reading each entry's name in Python made the stop take a second.
    """
    entries = list(sys.modules.items())
    keys = list(map(itemgetter(0), entries))
    try:
        names = list(map(getattr, map(itemgetter(1), entries), repeat("__name__"), repeat(None)))
    except Exception:  # anything can sit in sys.modules: an entry whose attributes raise
        names = [_name_of(value) for _, value in paced(entries, every=512)]
    differ = compress(entries, map(ne, names, keys))
    return [(name, value) for name, value in differ if top(name) not in tops]


def _name_of(value: object) -> object:
    """``value.__name__``, or ``None`` when it has none or reading it raises."""
    try:
        return getattr(value, "__name__", None)
    except Exception:  # anything can sit in sys.modules
        return None


def _runs_from(value: object, prefixes: tuple[str, ...]) -> bool:
    """Whether ``value`` (a module, function, class or object) has its code in a file under
    one of ``prefixes``."""
    try:
        if isinstance(value, types.ModuleType):
            files = [getattr(value, "__file__", None)]
        else:
            if isinstance(value, types.MethodType):
                value = value.__func__
            if isinstance(value, types.FunctionType):
                files = [value.__code__.co_filename]
            else:
                cls = value if isinstance(value, type) else type(value)
                files = list(code_files(cls.__mro__))
    except Exception:  # attributes that raise: no proof either way
        return False
    return any(isinstance(f, str) and f.startswith(prefixes) for f in files)


def _sweep_list(entries: list[Any], label: str, left: Callable[[object], bool]) -> list[str]:
    removed = []
    for entry in [e for e in entries if left(e)]:
        entries.remove(entry)
        removed.append(f"{label} entry {kind(entry)}")
    return removed
