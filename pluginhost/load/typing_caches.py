"""The standard library's ``typing`` caches, which keep a retired version's classes and
functions: emptied when the version's modules are released.

``typing`` remembers each subscription it made (``Type[Hook]``, ``StashKey[Config]``: pytest's
own idiom for a plugin's state) in caches of its own, and each ``@overload`` in a registry by
module. A retired version whose classes were subscribed so stayed alive, reported ``leaked``
with a restart recommended, at every swap of plugins as ordinary as pytest-mock,
pytest-socket and hatch-requirements-txt. Emptying the caches costs the application one
subscription made again, where it subscribes next; the overload registry loses only the
entries of the modules released.
"""

from __future__ import annotations

import typing
from collections.abc import Collection

__all__ = ["forget_in_typing"]


def forget_in_typing(modules: Collection[str]) -> None:
    """Drop what ``typing`` keeps of ``modules`` (released modules, by name)."""
    # Private names of CPython's typing, read defensively: another Python may lack them.
    for clear in list(getattr(typing, "_cleanups", ())):
        clear()
    registry = getattr(typing, "_overload_registry", None)  # Python 3.11 and later
    if isinstance(registry, dict):
        for name in modules:
            registry.pop(name, None)
