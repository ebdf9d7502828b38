"""Whose code a value is: the test the guards and the sweep share.

A value belongs to a plugin when the module it comes from is one of the plugin's top-level
names; a finder or hook is named after its class (or itself, for a class or function).
"""

from __future__ import annotations

import types
from collections.abc import Iterable

__all__ = ["code_files", "kind", "owned", "top"]


def top(name: str) -> str:
    """The top-level name of a dotted module name."""
    return name.partition(".")[0]


def owned(value: object, tops: frozenset[str]) -> bool:
    """Whether ``value`` is one of the plugin's modules, functions, classes or objects."""
    try:
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, (type, types.FunctionType, types.MethodType)):
            name = value.__module__
        else:
            name = type(value).__module__
    except Exception:  # a module or class whose attributes raise is no proof either way
        return False
    return isinstance(name, str) and top(name) in tops


def kind(entry: object) -> str:
    """A finder or hook by the name of its class, or its own for a class or function."""
    named = entry if isinstance(entry, (type, types.FunctionType)) else type(entry)
    return f"{named.__module__}.{named.__qualname__}"


def code_files(classes: Iterable[type]) -> set[str]:
    """The files of the functions defined in ``classes`` (class and static methods too).

    :raises Exception: whatever a class's attributes raise: the caller decides what that
        proves.
    """
    functions = [getattr(f, "__func__", f) for cls in classes for f in vars(cls).values()]
    return {f.__code__.co_filename for f in functions if isinstance(f, types.FunctionType)}
