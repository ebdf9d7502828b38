"""Atomic changes to a pluggy ``PluginManager``: plugins appear, disappear or replace each other
in one step per hook, so a concurrent call sees the old set or the new set, never a mix.

pluggy registers a plugin one hook implementation at a time and has no lock, so a call made
meanwhile can see half a plugin. Here every hook's new implementation list is built aside and
then put in place with a single attribute store, which no other thread can observe half done.
A hook call copies the list it is given before iterating (``HookCaller.__call__``), so a call
that started before the switch keeps the old list to its end.

That copy is also how draining works (:mod:`pluginhost.swap.drain`): a call in flight holds a
reference to each old ``HookImpl`` through its copy of the list.

The manager may be the application's own (``PluginHost(..., manager=pm)``): hook
implementations are collected by its ``parse_hookimpl_opts`` (pytest's collects unmarked
``pytest_*`` functions), a name it blocks or its own plugins hold is refused, and what its
``register`` keeps besides hook lists is kept by :mod:`.bookkeeping`. Plugins it registered
itself are never touched.

This module, :mod:`.bookkeeping`, :mod:`.specs` and the drain are the only ones that touch
pluggy's private attributes (``_hookimpls``, ``_name2plugin``, ``_verify_hook``, ``_hookexec``,
``_plugin_distinfo``, ``_call_history``, the call loop ``_multicall``), present from pluggy 1.5
to 1.7; their tests fail loudly if a pluggy release changes them.
"""

from __future__ import annotations

import importlib.metadata
import weakref
from collections.abc import Iterable, Sequence
from itertools import compress
from operator import attrgetter, not_
from typing import Any

import attrs
import pluggy

from ..load.bounded import inline_step
from ..model.errors import ActivationError
from ..model.frozen import frozen
from .attributes import hook_candidates
from .bookkeeping import Bookkeeping, keep
from .placement import Placement, registration_order

__all__ = ["Implementations", "Switch", "implementations_of", "prepare", "switch"]

_IMPL_DEFAULTS: dict[str, Any] = {
    "wrapper": False,
    "hookwrapper": False,
    "optionalhook": False,
    "tryfirst": False,
    "trylast": False,
    "specname": None,
}


@frozen(eq=False)
class Implementations:
    """One plugin object and its hook implementations, ready to switch in or out.

    :param name: the name the plugin is registered under.
    :param plugin: the plugin object.
    :param impls: ``(hook name, HookImpl)`` pairs.
    :param dist: the distribution it comes from, for ``pm.list_plugin_distinfo()``.
    """

    name: str
    plugin: object
    impls: tuple[tuple[str, pluggy.HookImpl], ...]
    dist: importlib.metadata.Distribution | None = None


def prepare(
    pm: pluggy.PluginManager,
    plugin: object,
    name: str,
    dist: importlib.metadata.Distribution | None = None,
) -> Implementations:
    """Collect and validate ``plugin``'s hook implementations without registering anything.

    The manager's own ``parse_hookimpl_opts`` decides what is a hook implementation, as in
    its ``register`` (asked about the names :func:`~.attributes.hook_candidates` gives).

    :raises pluggy.PluginValidationError: when an implementation does not fit its spec.
    """
    impls: list[tuple[str, pluggy.HookImpl]] = []
    for attr in hook_candidates(pm, plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        full: Any = {**_IMPL_DEFAULTS, **opts}
        impl = pluggy.HookImpl(plugin, name, _hook_function(plugin, attr), full)
        hook_name = full["specname"] or attr
        caller = getattr(pm.hook, hook_name, None)
        if isinstance(caller, pluggy.HookCaller) and caller.has_spec():
            pm._verify_hook(caller, impl)
        impls.append((hook_name, impl))
    return Implementations(name, plugin, tuple(impls), dist)


#: pluggy's own lookup of a hook attribute, which binds it as its ``register`` does (1.7: a
#: ``staticmethod`` in a module is its function, a property is not run); ``getattr`` before.
_STATIC_HOOK_ATTR: Any = getattr(pluggy._manager, "_static_hook_attr", None)


def _hook_function(plugin: object, attr: str) -> Any:
    """What ``register`` would register for ``plugin``'s attribute ``attr``.

    :raises pluggy.PluginValidationError: the manager's ``parse_hookimpl_opts`` claimed an
        attribute that pluggy cannot bind (a property, say).
    """
    if _STATIC_HOOK_ATTR is None:
        return getattr(plugin, attr)
    found = _STATIC_HOOK_ATTR(plugin, attr)
    if found is None:
        raise pluggy.PluginValidationError(plugin, f"{attr!r} is not a hookable attribute")
    return found[1]


def implementations_of(pm: pluggy.PluginManager, name: str) -> Implementations:
    """The implementations of the plugin registered as ``name``, as they are now."""
    plugin = pm.get_plugin(name)
    impls = [
        (caller.name, impl)
        for caller in _callers(pm)
        for impl in caller._hookimpls
        if impl.plugin is plugin
    ]
    return Implementations(name, plugin, tuple(impls))


#: The names each manager holds the host's plugins under (switched in here): a placement
#: tells them from the application's.
_HOSTED: weakref.WeakKeyDictionary[pluggy.PluginManager, set[str]] = weakref.WeakKeyDictionary()


def _hosted(pm: pluggy.PluginManager) -> set[str]:
    return _HOSTED.setdefault(pm, set())


@frozen(eq=False)
class Switch:
    """What :func:`switch` replaced, so that :meth:`undo` can put it back exactly."""

    pm: pluggy.PluginManager
    lists: dict[str, list[pluggy.HookImpl]]
    names: dict[str, object]
    """The registered names the switch touched, with what they named before, if anything."""
    touched: frozenset[str]
    created: tuple[str, ...]
    kept: Bookkeeping | None = None
    hosted: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
    """The names of the host's plugins the switch took out and put in."""

    def undo(self) -> None:
        """Restore every hook list and name as they were before the switch, atomically per hook."""
        if self.kept is not None:
            self.kept.undo()
        hosted = _hosted(self.pm)
        hosted.difference_update(self.hosted[1])
        hosted.update(self.hosted[0])
        for hook_name, impls in self.lists.items():
            caller = getattr(self.pm.hook, hook_name)
            caller._hookimpls = impls
        for hook_name in self.created:
            if not getattr(self.pm.hook, hook_name)._hookimpls:
                delattr(self.pm.hook, hook_name)
        # Only the names this switch touched: every other plugin stays registered as it is.
        registry = self.pm._name2plugin
        for name in self.touched:
            if name in self.names:
                registry[name] = self.names[name]
            else:
                registry.pop(name, None)


def switch(
    pm: pluggy.PluginManager,
    old: Sequence[Implementations],
    new: Sequence[Implementations],
    placement: Placement | None = None,
) -> Switch:
    """Replace the plugins of ``old`` by those of ``new`` in one step per hook.

    ``new`` go on top of each hook's list, as ``register`` puts them, or beneath the
    application's plugins that ``placement`` names (:mod:`.placement`).

    The caller must hold the host's lock: two switches at once would each build on a list the
    other is about to replace.

    :returns: a :class:`Switch` whose ``undo()`` puts everything back as it was.
    :raises ActivationError: with step ``register``, nothing changed, when a new plugin's name
        is blocked in the manager or names a plugin other than the ones leaving; or, all
        undone, when a new plugin raised as a historic call was replayed to it, or the
        manager's announcement of a new plugin raised (:mod:`.bookkeeping`).
    """
    _check_names(pm, old, new)
    gone = {id(o.plugin) for o in old}
    hook_names = {h for group in (*old, *new) for h, _ in group.impls}
    created = tuple(sorted(h for h in hook_names if not hasattr(pm.hook, h)))
    for hook_name in created:
        setattr(pm.hook, hook_name, pluggy.HookCaller(hook_name, pm._hookexec))
    hosted = _hosted(pm)
    # Each hook's new implementations, in order, gathered once: looked for in every plugin's
    # list at each hook, it grew with the square of the hooks (a worker that described
    # 40,000 held the host's lock for minutes).
    adding: dict[str, list[pluggy.HookImpl]] = {}
    for group in new:
        for name, impl in group.impls:
            adding.setdefault(name, []).append(impl)
    staged = {
        h: _staged_list(pm, h, gone, adding.get(h, ()), bool(new), placement, hosted)
        for h in hook_names
    }
    names = {o.name: pm._name2plugin[o.name] for o in old if o.name in pm._name2plugin}
    names.update({n.name: pm._name2plugin[n.name] for n in new if n.name in pm._name2plugin})
    touched = frozenset(g.name for g in (*old, *new))
    lists = {h: getattr(pm.hook, h)._hookimpls for h in hook_names}
    moved = (frozenset(o.name for o in old), frozenset(n.name for n in new))
    record = Switch(pm, lists, names, touched, created, hosted=moved)
    # The switch itself: one reference store per hook.
    for hook_name, impls in staged.items():
        getattr(pm.hook, hook_name)._hookimpls = impls
    hosted.difference_update(moved[0])
    hosted.update(moved[1])
    for o in old:
        pm._name2plugin.pop(o.name, None)
    for n in new:
        pm._name2plugin[n.name] = n.plugin
    try:
        _apply_history(pm, new)
        kept = keep(pm, old, new)
    except BaseException:
        record.undo()
        raise
    return attrs.evolve(record, kept=kept)


def _check_names(
    pm: pluggy.PluginManager, old: Sequence[Implementations], new: Sequence[Implementations]
) -> None:
    """Refuse a new plugin whose name the manager blocks or gives to a plugin not leaving, or
    one object under two names (pluggy's ``register`` refuses them all): two entry points
    naming one module would have its hooks called twice.

    Only the new plugins' objects are compared, by identity: an entry point names its own
    wheel's modules, which no other plugin and not the application registers, and looking
    through every plugin registered for each new one made a start cost their square.
    """
    leaving = {id(o.plugin) for o in old}
    named: dict[int, str] = {}
    for n in new:
        first = named.setdefault(id(n.plugin), n.name)
        if first != n.name:
            reason = f"{n.name!r} names the object that {first!r} names already: {n.plugin!r}"
            raise ActivationError(reason, plugin=n.name, step="register")
        if n.name not in pm._name2plugin:
            continue
        holder = pm._name2plugin[n.name]
        if holder is None:
            reason = f"the plugin manager blocks the name {n.name!r}"
        elif id(holder) not in leaving:
            reason = f"the plugin manager already has a plugin named {n.name!r}: {holder!r}"
        else:
            continue
        raise ActivationError(reason, plugin=n.name, step="register")


_PLUGIN = attrgetter("plugin")


def _staged_list(
    pm: pluggy.PluginManager,
    hook_name: str,
    gone: set[int],
    adding: Sequence[pluggy.HookImpl],
    any_new: bool,
    placement: Placement | None,
    hosted: set[str],
) -> list[pluggy.HookImpl]:
    """The hook's next implementation list, built on a scratch caller with pluggy's ordering:
    the new implementations registered after the others, or after all but the ones that
    ``placement`` keeps above them, which are registered again after them."""
    current = getattr(pm.hook, hook_name)
    scratch = pluggy.HookCaller(hook_name, pm._hookexec)
    impls = current._hookimpls
    if gone:
        # Filtered in C: a stop unloads every plugin, each from hooks that all of them implement.
        leaving = map(gone.__contains__, map(id, map(_PLUGIN, impls)))
        impls = list(compress(impls, map(not_, leaving)))
    above = placement.above(impls, hosted) if placement is not None and any_new else []
    if above:
        lifted = set(map(id, above))
        impls = [impl for impl in impls if id(impl) not in lifted]
    # A plain load removes nothing: a copy at C speed, where the filter above, run for each of
    # hundreds of plugins loaded, grew with the square of their number.
    scratch._hookimpls.extend(impls)
    for impl in adding:
        scratch._add_hookimpl(impl)
    for impl in registration_order(above):
        scratch._add_hookimpl(impl)
    return list(scratch._hookimpls)


def _apply_history(pm: pluggy.PluginManager, new: Sequence[Implementations]) -> None:
    """Replay the historic calls made so far (pytest's ``pytest_addoption``) to the new
    plugins, as ``register`` does.

    :raises ActivationError: with step ``register`` when a new plugin's implementation raised.
    """
    for group in new:
        for hook_name, impl in group.impls:
            try:
                with inline_step():  # the plugin's code, on the thread holding the host's lock
                    getattr(pm.hook, hook_name)._maybe_apply_history(impl)
            except Exception as exc:
                raise ActivationError(
                    f"{hook_name} raised when given the calls made before it was loaded: "
                    f"{type(exc).__name__}: {exc}",
                    plugin=group.name,
                    step="register",
                ) from exc


def _callers(pm: pluggy.PluginManager) -> Iterable[pluggy.HookCaller]:
    return [c for c in vars(pm.hook).values() if isinstance(c, pluggy.HookCaller)]
