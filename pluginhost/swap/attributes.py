"""Which attributes of a plugin object the manager is asked about, when collecting its hook
implementations.

pluggy's ``register`` asks ``parse_hookimpl_opts`` about every name ``dir(plugin)`` lists: a
plugin module lists a dozen (``__doc__``, ``__spec__``, its imports, its helpers) and one or two
are hook implementations. Each question is a static attribute lookup (``inspect.getattr_static``
in pluggy 1.7): about 4 us a name, 50 us a module, 10 ms of a start with 200 plugins that
does nothing else per plugin in so long.

For a plain module collected by pluggy's own ``parse_hookimpl_opts`` (not a subclass's, which
may take unmarked functions, as pytest's does), a name whose value in the module's dict
cannot be a hook implementation is passed over unasked: a plain function without the
project's marker in its ``__dict__``, a class, a module, data, the module's spec and loader,
pluggy's markers. pluggy would answer ``None`` for
each, in every version from 1.5 (``getattr`` and ``inspect.isroutine``) to 1.7 (static
lookups). Every other name is asked, as ``register`` asks it: a marked function, a
``staticmethod`` or ``classmethod``, a callable object, and a name the module's dict does not
hold (one a module's own ``__dir__`` adds). Reading the dict and the types runs no plugin code.
"""

from __future__ import annotations

import importlib.machinery
import types
from collections.abc import Iterable
from typing import Any, Final

import pluggy

__all__ = ["hook_candidates"]

#: Values of these types are never hook implementations (never routines, for pluggy): data,
#: and what every plugin module holds besides (its spec and loader, pluggy's markers).
_DATA: Final = frozenset(
    {
        importlib.machinery.ModuleSpec,
        importlib.machinery.SourceFileLoader,
        importlib.machinery.SourcelessFileLoader,
        importlib.machinery.ExtensionFileLoader,
        pluggy.HookimplMarker,
        pluggy.HookspecMarker,
        types.ModuleType,
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        bytearray,
        tuple,
        list,
        dict,
        set,
        frozenset,
    }
)
_ABSENT: Final = object()


def hook_candidates(pm: pluggy.PluginManager, plugin: object) -> Iterable[str]:
    """The names of ``plugin``'s attributes to ask ``pm.parse_hookimpl_opts`` about, in the
    order ``register`` asks them (``dir()``'s)."""
    names = dir(plugin)
    if (
        type(plugin) is not types.ModuleType
        or type(pm).parse_hookimpl_opts is not pluggy.PluginManager.parse_hookimpl_opts
    ):
        return names
    own: dict[str, Any] = vars(plugin)
    marker = pm.project_name + "_impl"
    return [name for name in names if _may_be_hook(own.get(name, _ABSENT), marker)]


def _may_be_hook(value: object, marker: str) -> bool:
    kind = type(value)
    if kind is types.FunctionType:
        # A function's attributes live in its __dict__ (FunctionType has no such attribute of
        # its own): what getattr would find, without running anything.
        return marker in value.__dict__
    # issubclass on the real type, not isinstance: an object may lie about its __class__.
    return kind not in _DATA and not issubclass(kind, type)
