"""What a plugin manager's ``register`` keeps besides hook lists, kept by the switch too.

:func:`pluginhost.swap.switch.switch` never calls ``register``, which is not atomic; so what
``register`` (pluggy's and its subclasses') records about a plugin is recorded here:

- the distribution each plugin came from, which ``pm.list_plugin_distinfo()`` lists (datasette's
  ``/-/plugins`` and ``llm plugins`` read their versions there); pluggy fills it only in
  ``load_setuptools_entrypoints``;
- the announcement of a new plugin, for managers whose project has a historic hook
  ``<project>_plugin_registered`` (pytest's ``PytestPluginManager.register`` calls
  ``pytest_plugin_registered`` this way: its fixture manager collects a plugin's fixtures from
  it). A historic call is remembered and replayed to plugins registered later, so its entry is
  dropped when the plugin leaves: it would keep the old version's module alive.

Like :mod:`.switch`, the only other module that touches pluggy's private attributes
(``_plugin_distinfo``, ``HookCaller._call_history``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pluggy
import pluggy._manager

from ..load.bounded import inline_step
from ..model.errors import ActivationError
from ..model.frozen import frozen

if TYPE_CHECKING:
    from .switch import Implementations

__all__ = ["Bookkeeping", "announcer", "keep"]

#: The arguments an announcement may take, as pytest's ``pytest_plugin_registered`` does.
_ANNOUNCED = frozenset({"plugin", "plugin_name", "manager"})

_FIRST = itemgetter(0)

#: The ids of the plugins a list's entries are about, in its order.
Owners = Callable[[list[Any]], list[int]]


def _distinfo_owners(entries: list[Any]) -> list[int]:
    return list(map(id, map(_FIRST, entries)))  # (plugin, distribution), in C


def _history_owners(entries: list[Any]) -> list[int]:
    return [id(entry[0].get("plugin")) for entry in entries]  # (kwargs, result callback)


@frozen(eq=False)
class Bookkeeping:
    """The manager's lists as they were before a switch, to put back on undo.

    Entries the application appended meanwhile (it registers without the host's lock) stay.
    """

    lists: tuple[tuple[list[Any], list[Any], list[Any]], ...]
    """``(the live list, its entries before, the entries the switch added)``, per list."""

    def undo(self) -> None:
        for live, before, added in self.lists:
            kept = {id(e) for e in before} | {id(e) for e in added}
            live[:] = before + [e for e in live if id(e) not in kept]
            # The undone plugins are purged next, and checked for references left: none here.
            added.clear()


def keep(
    pm: pluggy.PluginManager,
    old: Sequence[Implementations],
    new: Sequence[Implementations],
) -> Bookkeeping:
    """Drop the leaving plugins' distributions and announcements, add the new plugins'
    distributions, and announce the new plugins (see the module docstring).

    Call it once the hook lists are switched: an announcement reaches the new plugins too.

    :raises ActivationError: with step ``register`` when an announcement raised; everything
        this function did is undone then (what the called hooks did is theirs).
    """
    gone = {id(o.plugin) for o in old}
    added = [_distinfo(pm, n) for n in new if n.dist]
    distinfo = _replace(pm._plugin_distinfo, gone, added, _distinfo_owners)
    announce = announcer(pm)
    if announce is None:
        return Bookkeeping((distinfo,))
    history = announce._call_history
    assert history is not None  # announcer() checked that the hook is historic
    live, before, _ = _replace(history, gone, [], _history_owners)
    start = len(history)
    for n in new:
        try:
            with inline_step():  # plugins' code, on the thread holding the host's lock
                announce.call_historic(kwargs=_announcement(announce, n, pm))
        except Exception as exc:
            Bookkeeping((distinfo, (live, before, history[start:]))).undo()
            raise ActivationError(
                f"{announce.name} raised when told of it: {type(exc).__name__}: {exc}",
                plugin=n.name,
                step="register",
            ) from exc
    return Bookkeeping((distinfo, (live, before, history[start:])))


def announcer(pm: pluggy.PluginManager) -> pluggy.HookCaller | None:
    """The manager's historic ``<project>_plugin_registered`` hook, if it has one that takes
    only ``plugin``, ``plugin_name`` and ``manager``."""
    caller = getattr(pm.hook, f"{pm.project_name}_plugin_registered", None)
    if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
        return None
    if not caller.is_historic() or not set(caller.spec.argnames) <= _ANNOUNCED:
        return None
    return caller


def _announcement(
    caller: pluggy.HookCaller, plugin: Implementations, pm: pluggy.PluginManager
) -> dict[str, object]:
    assert caller.spec is not None
    values = {"plugin": plugin.plugin, "plugin_name": plugin.name, "manager": pm}
    return {name: values[name] for name in caller.spec.argnames}


def _distinfo(pm: pluggy.PluginManager, plugin: Implementations) -> tuple[object, object]:
    """The ``_plugin_distinfo`` entry of ``plugin``, as this pluggy keeps them."""
    if hasattr(pm, "list_plugin_distributions"):
        # pluggy 1.7 keeps the distribution itself and wraps it when listing.
        return (plugin.plugin, plugin.dist)
    # Earlier versions keep it wrapped in their pkg_resources look-alike.
    facade = vars(pluggy._manager)["DistFacade"]
    return (plugin.plugin, facade(plugin.dist))


def _replace(
    live: list[Any], gone: set[int], added: list[Any], owners: Owners
) -> tuple[list[Any], list[Any], list[Any]]:
    """Take the entries of the ``gone`` plugins out of ``live`` and append ``added``, in one
    store."""
    before = list(live)
    if not gone:  # a first load, as at a start: nothing to look for
        live.extend(added)
        return (live, before, added)
    # One comprehension, then C scans: a function call per entry cost 0.3 ms of a swap among
    # a thousand plugins, with the callers waiting for the switch.
    ids = owners(before)
    kept = list(before)
    for index in reversed(_positions(ids, gone)):
        del kept[index]
    live[:] = kept + added
    return (live, before, added)


def _positions(values: list[int], wanted: set[int]) -> list[int]:
    """Where the ``wanted`` values are in ``values``, in order."""
    found = []
    for value in wanted:
        index = -1
        while True:
            try:
                index = values.index(value, index + 1)
            except ValueError:
                break
            found.append(index)
    return sorted(found)
