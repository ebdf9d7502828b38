"""The lifecycle contract: optional hooks a plugin implements to take part in its own life.

pluginhost calls each of them on the one plugin concerned, never as a broadcast. pluggy marks
belong to a project, so the specifications are made for each host's project name by
:func:`lifecycle_specs`; plugins implement them with the host project's own ``HookimplMarker``::

    hookimpl = pluggy.HookimplMarker("greeter")

    @hookimpl
    def pluginhost_export_state():
        return {"count": COUNTER.value}
"""

from __future__ import annotations

import functools
import types
from typing import Any

import pluggy

__all__ = ["HOOK_NAMES", "LifecycleSpec", "lifecycle_specs"]


class LifecycleSpec:
    """The lifecycle hooks, unmarked; :func:`lifecycle_specs` marks them for one project."""

    def pluginhost_activate(self, host: Any) -> None:
        """Called once the plugin is imported and validated, just before it starts answering
        hook calls; raising here fails the load (or the update) and undoes it.

        Lifecycle hooks run on a helper thread, bounded by the host's timeouts, while the host
        applies the change: they may read the host (``host.load_order()``, ``host.plugins``)
        but must not change it (``install``, ``remove``, ``rollback`` would wait for the change
        under way and time out).

        :param host: the :class:`pluginhost.PluginHost` that loads the plugin.
        """

    def pluginhost_deactivate(self, host: Any) -> None:
        """Called once the plugin no longer answers hook calls and calls still running on it
        have finished: release what ``activate`` took."""

    def pluginhost_export_state(self) -> Any:
        """Return the state to hand to the next version of this plugin.

        Called on the version being replaced while it still serves, so it must not change its
        state: if the update fails, this version goes on with it. With ``persist_state`` the
        state is also saved as JSON at stop, so return JSON-compatible values then.
        """

    def pluginhost_import_state(self, state: Any, previous_version: str) -> None:
        """Receive the state exported by ``previous_version`` of this plugin: ``None`` when that
        version exported nothing (it implements no ``pluginhost_export_state``)."""

    def pluginhost_health(self) -> Any:
        """Called right after an update switched to this version; return ``True`` or ``None`` if
        it is healthy, raise or return ``False`` if not, and the update is rolled back. Any
        other value counts as a broken check, and fails it too."""


HOOK_NAMES = tuple(name for name in vars(LifecycleSpec) if name.startswith("pluginhost_"))


@functools.cache
def lifecycle_specs(project_name: str) -> type:
    """A class of the lifecycle hookspecs marked for ``project_name``, for ``add_hookspecs``."""
    mark = pluggy.HookspecMarker(project_name)
    namespace: dict[str, Any] = {"__doc__": LifecycleSpec.__doc__}
    for name in HOOK_NAMES:
        original = vars(LifecycleSpec)[name]
        # A fresh function per project: marking the shared one would mark it for every project.
        copy = types.FunctionType(
            original.__code__, original.__globals__, name, original.__defaults__
        )
        copy.__doc__ = original.__doc__
        # pluggy drops ``self`` only from a function whose qualified name names its class; a
        # copy takes its name from the code object on 3.11+, and from ``name`` alone on 3.10.
        copy.__qualname__ = original.__qualname__
        namespace[name] = mark(copy)
    return type(f"LifecycleSpec_{project_name}", (), namespace)
