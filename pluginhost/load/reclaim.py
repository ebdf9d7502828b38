"""Freeing a retired version's modules by reference counting, once only their own cycles hold
them.

A module's functions point back at its namespace (``__globals__``), so a retired version is
freed by the cycle collector only, at its next full collection: until then every retired
version's data stays in memory, and a host that swapped a few dozen times held a few dozen
versions (16 MB over 1,000 swaps of a plugin of 0.7 MB). A full collection on the swap path
would pause every caller for as long as it walks every object of the process.

:func:`reclaim` does the collector's own test on the retired modules alone: it gathers the
objects their namespaces reach (not crossing into other modules, nor into classes and
functions defined elsewhere), subtracts from each object's reference count the references
coming from inside that set, and propagates reachability from any object left with an outside
reference. When no namespace is reachable, nothing outside holds the version, and clearing the
namespaces breaks its cycles: reference counting frees its functions and data at once. The
work is proportional to the size of the version, not to the process. Anything held from
outside (a kept function, a thread, an object handed over as state) makes it reachable, and the
version is left to the collector, as before. So does an object with a finalizer, which the
collector would run with the namespace still whole.
"""

from __future__ import annotations

import builtins
import gc
import sys
import types
from collections.abc import Sequence
from typing import Final

from ..model.pacing import paced

__all__ = ["reclaim"]

#: The most references examined for one version before it is left to the collector: a version
#: holding millions of objects costs the collector's pass, not two of ours (about 50 ms here).
_BUDGET: Final = 1_000_000
#: Every namespace refers to it, and it to nothing of a plugin's.
_BUILTINS: Final = vars(builtins)
#: References to each gathered object held by the test itself while it is counted: its list,
#: and the one ``map`` passes to ``sys.getrefcount``.
_OWN_REFS: Final = 2


def reclaim(modules: Sequence[types.ModuleType]) -> bool:
    """Clear the namespaces of ``modules`` (one retired version's) if nothing but their own
    cycles holds them; returns whether they were cleared.

    The caller holds ``modules`` in this one sequence only, and drops it after the call.
    """
    if not all(isinstance(module, types.ModuleType) for module in modules):
        return False  # something else put in sys.modules (an object, a class): the collector's
    namespaces = [vars(module) for module in modules]
    found = _gather([*modules, *namespaces], modules, namespaces)
    if found is None or _held(found, len(modules)):
        return False
    del found
    for namespace in namespaces:
        namespace.clear()
    return True


def _gather(
    roots: list[object], modules: Sequence[types.ModuleType], namespaces: list[dict[str, object]]
) -> list[object] | None:
    """The objects ``roots`` reach inside the version, roots first; ``None`` past the budget
    or when one has a finalizer."""
    names = {name for ns in namespaces if isinstance(name := ns.get("__name__"), str)}
    inside = {id(ns) for ns in namespaces}
    seen = {id(root) for root in roots}
    found = list(roots)
    budget = _BUDGET
    for obj in paced(found):  # a list's iterator takes in what is appended meanwhile
        refs = gc.get_referents(obj)
        budget -= len(refs)
        if budget < 0:
            return None
        for ref in refs:
            if not gc.is_tracked(ref) or id(ref) in seen or not _owned(ref, names, inside):
                continue
            if _finalized(ref):
                return None
            seen.add(id(ref))
            found.append(ref)
    return found


def _owned(obj: object, names: set[str], namespaces: set[int]) -> bool:
    """Whether ``obj`` may belong to the version: not another module, nor a class or function
    defined elsewhere (shared with the rest of the process, and reached from everywhere).

    Names are read from the objects' own dicts: a module type of a plugin's may answer
    ``__name__`` with its own ``__getattr__`` (and raise), and what cannot be told is taken
    for the version's, which can only keep it whole (the collector's then).
    """
    try:
        return _owned_by_name(obj, names, namespaces)
    except Exception:  # a plugin's object that answers nothing as expected
        return True


def _owned_by_name(obj: object, names: set[str], namespaces: set[int]) -> bool:
    if obj is _BUILTINS:
        return False
    if isinstance(obj, types.ModuleType):
        # The version's own were gathered first; another one in sys.modules is shared (an
        # instance of a module type the version made, kept in a global, is the version's).
        return not _module_namespace(vars(obj))
    if isinstance(obj, type):
        return vars(obj).get("__module__") in names
    if isinstance(obj, types.FunctionType):
        # Defined there, or a wrapper of something defined there (functools.wraps copies
        # __module__: dataclasses wraps each generated __repr__ so).
        return id(obj.__globals__) in namespaces or obj.__module__ in names
    if isinstance(obj, dict) and "__name__" in obj:
        return not _module_namespace(obj)
    return True


def _module_namespace(namespace: dict[str, object]) -> bool:
    """Whether ``namespace`` is the namespace of a module in ``sys.modules`` (another one's:
    the version's own are out of it), which a wrapper's ``__globals__`` reaches."""
    name = namespace.get("__name__")
    module = sys.modules.get(name) if isinstance(name, str) else None
    return module is not None and vars(module) is namespace


def _finalized(obj: object) -> bool:
    return hasattr(type(obj), "__del__") or isinstance(
        obj, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
    )


def _held(found: list[object], module_count: int) -> bool:
    """Whether a namespace of the version is reachable from outside ``found``.

    ``found`` starts with the modules, then their namespaces: the caller holds each of them
    once more in a list of its own, which is no outside reference.
    """
    index = {id(obj): position for position, obj in enumerate(found)}
    # Counted in one call into C (no other thread runs meanwhile), before and after the
    # references from inside are: a reference moved by another thread in between changes a
    # count, and the version is then left to the collector, which stops every thread.
    counts = list(map(sys.getrefcount, found))
    inner = _inner_references(found, index)
    if counts != list(map(sys.getrefcount, found)):
        return True
    given = 2 * module_count
    outside = [
        counts[position] - _OWN_REFS - inner[position] - (position < given)
        for position in range(len(found))
    ]
    reached = [position for position, count in enumerate(outside) if count > 0]
    marked = set(reached)
    while reached:
        for ref in gc.get_referents(found[reached.pop()]):
            position = index.get(id(ref))
            if position is not None and position not in marked:
                marked.add(position)
                reached.append(position)
    return any(position in marked for position in range(module_count, given))


def _inner_references(found: list[object], index: dict[int, int]) -> list[int]:
    """How many references to each object of ``found`` come from objects of ``found``."""
    inner = [0] * len(found)
    for obj in found:
        for ref in gc.get_referents(obj):
            position = index.get(id(ref))
            if position is not None:
                inner[position] += 1
    return inner
