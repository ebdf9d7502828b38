"""Whose code a value is: the test the guards and the sweep share.

A value belongs to a plugin when the module it comes from is one of the plugin's top-level
names; a finder or hook is named after its class (or itself, for a class or function).
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import cast

from ..model.exception_text import exact_str, module_name, qualified_name

__all__ = ["code_files", "kind", "owned", "top"]


def top(name: str) -> str:
    """The top-level name of a dotted module name."""
    return name.partition(".")[0]


def owned(value: object, tops: frozenset[str]) -> bool:
    """Whether ``value`` is one of the plugin's modules, functions, classes or objects.

    Whatever it is, it may be a plugin's: a class is named through ``type``'s own descriptor
    (a metaclass may raise, ``SystemExit`` included, when asked its ``__module__``), and the
    name is copied out as an exact ``str`` before it is compared.
    """
    kind = type(value)  # type() and issubclass() of two types run no code of theirs
    try:
        if issubclass(kind, type):
            name = module_name(cast(type, value))
        elif issubclass(kind, types.ModuleType):
            name = value.__name__  # type: ignore[attr-defined]
        elif issubclass(kind, (types.FunctionType, types.MethodType)):
            name = value.__module__
        else:
            name = module_name(kind)
        text = exact_str(name)
    except KeyboardInterrupt:
        raise
    except BaseException:  # a module's or a method's attribute raised: no proof either way
        return False
    return text is not None and top(text) in tops


def kind(entry: object) -> str:
    """A finder or hook by the name of its class, or its own for a class or function."""
    if issubclass(type(entry), types.FunctionType):
        function = cast(types.FunctionType, entry)
        names = (exact_str(function.__module__), exact_str(function.__qualname__))
        return ".".join("?" if name is None else name for name in names)
    return qualified_name(cast(type, entry) if issubclass(type(entry), type) else type(entry))


def code_files(classes: Iterable[type]) -> set[str]:
    """The files of the functions defined in ``classes`` (class and static methods too).

    :raises Exception: whatever a class's attributes raise: the caller decides what that
        proves.
    """
    functions = [getattr(f, "__func__", f) for cls in classes for f in vars(cls).values()]
    return {f.__code__.co_filename for f in functions if isinstance(f, types.FunctionType)}
