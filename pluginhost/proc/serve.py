"""The plugin as its worker holds it: entry points imported into a pluggy manager of their own,
the hook implementations they declare, and calls to one of them.

The worker's manager has no hook specs (those are the host's): it only parses the hookimpl
markers of the plugin's project, as the host's manager would, so that the host can build proxy
implementations with the same names, argument names and ordering options.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import pluggy

from .messages import Call, LimitsMsg

__all__ = ["BadCallError", "HookRow", "Plugin"]

#: One hook implementation as the host learns of it: name, specname, argnames, tryfirst,
#: trylast, optionalhook, entry point (the fields of messages.HookMsg).
HookRow = tuple[str, "str | None", list[str], bool, bool, bool, str]

_EXPORT = "pluginhost_export_state"
_IMPORT = "pluginhost_import_state"


class BadCallError(Exception):
    """The host asked for a hook the plugin does not implement, or left out an argument."""


class Plugin:
    """A loaded plugin: its entry points' objects and their hook implementations by hook name."""

    def __init__(self) -> None:
        self.pm: pluggy.PluginManager | None = None
        self.impls: dict[str, list[tuple[str, pluggy.HookImpl]]] = {}
        self.hooks: list[HookRow] = []
        self.wrappers: list[str] = []
        self.entry_points = 0
        self.limits = LimitsMsg()

    @classmethod
    def load(cls, project_name: str, entry_points: Sequence[Sequence[str]]) -> Plugin:
        """Import each ``(name, "module:attr")`` and register it with a new manager.

        :raises Exception: whatever the plugin's import raises.
        """
        plugin = cls()
        pm = pluggy.PluginManager(project_name)
        plugin.pm = pm
        plugin.entry_points = len(entry_points)
        for name, value in entry_points:
            obj = _resolve(value)
            pm.register(obj, name=name)
            plugin._describe(pm, obj, name)
        return plugin

    def _describe(self, pm: pluggy.PluginManager, obj: object, entry_point: str) -> None:
        for attr in dir(obj):
            opts = pm.parse_hookimpl_opts(obj, attr)
            if opts is None:
                continue
            hook = opts.get("specname") or attr
            impl = _registered(pm, hook, obj, attr)
            if impl is None:
                continue
            if impl.hookwrapper or impl.wrapper:
                self.wrappers.append(f"{entry_point}.{attr}")
            self.impls.setdefault(hook, []).append((entry_point, impl))
            self.hooks.append(
                (
                    attr,
                    opts.get("specname"),
                    list(impl.argnames),
                    impl.tryfirst,
                    impl.trylast,
                    impl.optionalhook,
                    entry_point,
                )
            )

    def run(self, call: Call) -> Any:
        """What the host asked for: a hook call, a ping, or the state going out or in.

        :raises BadCallError: no such hook, or an argument missing.
        :raises Exception: whatever the plugin's code raises.
        """
        if call.op == "hook":
            return self.call(call.name, call.kwargs, call.entry_point)
        if call.op == "ping":
            return None
        if call.op == "export_state":
            return self.export_state()
        if call.op == "import_state":
            self.import_state(call.kwargs["state"], call.kwargs["previous_version"])
            return None
        raise BadCallError(f"unknown operation {call.op!r}")

    def call(self, hook: str, kwargs: dict[str, Any], entry_point: str | None = None) -> Any:
        """Call the implementation of ``hook`` (of ``entry_point``, or the first one)."""
        impl = self._impl(hook, entry_point)
        try:
            args = [kwargs[name] for name in impl.argnames]
        except KeyError as e:
            raise BadCallError(f"hook {hook!r} needs the argument {e.args[0]!r}") from None
        return impl.function(*args)

    def _impl(self, hook: str, entry_point: str | None) -> pluggy.HookImpl:
        for name, impl in self.impls.get(hook, ()):
            if entry_point is None or name == entry_point:
                return impl
        where = f" in entry point {entry_point!r}" if entry_point else ""
        raise BadCallError(f"the plugin implements no hook {hook!r}{where}")

    def export_state(self) -> Any:
        """The plugin's state, as :func:`pluginhost.swap.hooks.unit_state` shapes it in process:
        one entry point's state as it is; several as ``{entry point: state}`` (None if none)."""
        states = {name: impl.function() for name, impl in self.impls.get(_EXPORT, ())}
        if self.entry_points == 1:
            return next(iter(states.values()), None)
        return states or None

    def import_state(self, state: Any, previous_version: str | None) -> None:
        """Hand ``state`` (shaped as :meth:`export_state` shapes it) to each entry point."""
        for name, impl in self.impls.get(_IMPORT, ()):
            part = state
            if self.entry_points != 1:
                part = state.get(name) if isinstance(state, dict) else None
            values = {"state": part, "previous_version": previous_version}
            impl.function(*[values[arg] for arg in impl.argnames])


def _resolve(value: str) -> object:
    module_name, _, attrs = value.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj


def _registered(
    pm: pluggy.PluginManager, hook: str, obj: object, attr: str
) -> pluggy.HookImpl | None:
    """The implementation pluggy registered for ``obj.attr`` (one object may implement a hook
    twice, through ``specname``)."""
    caller = getattr(pm.hook, hook, None)
    if caller is None:
        return None
    function = getattr(obj, attr)
    found: list[pluggy.HookImpl] = [
        i for i in caller.get_hookimpls() if i.plugin is obj and i.function == function
    ]
    return found[0] if found else None
