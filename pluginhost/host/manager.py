"""The host's plugin manager: a new one, or the application's own, adopted.

An application that already has a ``pluggy.PluginManager`` (pytest's ``PytestPluginManager``,
``llm.plugins.pm``, ``datasette.plugins.pm`` with its built-in plugins registered) hands it to
``PluginHost(project, specs, manager=pm)``. The host then registers its plugins there, through
that manager's own hook parsing, and leaves the plugins the application registered itself alone
(:mod:`pluginhost.swap.switch`).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable, Iterable
from importlib.machinery import ModuleSpec

import pluggy

from hookspecs.lifecycle import lifecycle_specs

from ..load.modules import Rewrite
from ..model.errors import HostStateError, SettingsError
from ..swap.placement import Placement

__all__ = ["placement", "plugin_manager", "rewriting", "start_at_load"]

#: The managers made here, not adopted from an application.
_MADE: weakref.WeakSet[pluggy.PluginManager] = weakref.WeakSet()


def placement(manager: pluggy.PluginManager, *, application_first: bool) -> Placement | None:
    """Where the plugins go among the application's in ``manager``, from now on (see
    :mod:`pluginhost.swap.placement`); ``None`` for a manager made here: its plugins are the
    host's, added on top (placing them among the application's plugins costs a look at every
    implementation of each hook a change touches)."""
    if manager in _MADE:
        return None
    return Placement.of(manager, application_first=application_first)


def start_at_load(
    manager: pluggy.PluginManager,
    wanted: str,
    start: Callable[[], object],
    started: Callable[[], bool],
) -> None:
    """Call ``start`` right after the application next loads all its installed plugins of
    the group ``wanted`` through ``manager.load_setuptools_entrypoints`` (see
    :meth:`~pluginhost.PluginHost.start_with_application`).

    The manager's method is wrapped on the instance, and unwrapped at that call: an application
    that loads again starts nothing more. A load of one plugin by its name (pytest's ``-p
    NAME``, ``PYTEST_PLUGINS``, a conftest's ``pytest_plugins``) is not that moment; nor is a
    load once the host was ``started`` otherwise (then the wrapper only goes). ``start`` runs
    inside the application's call, so what it raises is raised there.

    :raises HostStateError: for a manager made by the host (no application loads through it),
        or one that waits already.
    """
    if manager in _MADE:
        raise HostStateError("start_with_application() needs the application's own manager")
    if "load_setuptools_entrypoints" in vars(manager):
        raise HostStateError("the manager's load_setuptools_entrypoints is wrapped already")
    load = manager.load_setuptools_entrypoints

    # pluggy's own parameter names: an application may pass them as keywords.
    def load_then_start(group: str, name: str | None = None) -> int:
        loaded = load(group, name)
        if group == wanted and (name is None or started()):
            vars(manager).pop("load_setuptools_entrypoints", None)
            if not started():
                start()
        return loaded

    setattr(manager, "load_setuptools_entrypoints", load_then_start)  # noqa: B010  (a method)


def rewriting(manager: pluggy.PluginManager) -> Rewrite | None:
    """The application's code-rewriting import hook, for the plugins' modules: pytest's
    assertion rewriting, which pytest applies to its installed plugins' modules (its manager's
    ``rewrite_hook``, installed inside ``config.parse()``). ``None`` for other managers.

    A plugin's top-level name is marked for rewriting as it is imported, as pytest marks the
    modules of its installed plugins; the hook then reads the source from the site dir.
    """
    if manager in _MADE or not hasattr(manager, "rewrite_hook"):
        return None

    def rewrite(fullname: str, path: list[str]) -> ModuleSpec | None:
        hook = getattr(manager, "rewrite_hook", None)
        find = getattr(hook, "find_spec", None)  # none until pytest installs its hook
        if find is None:
            return None
        if "." not in fullname:
            hook.mark_rewrite(fullname)  # type: ignore[union-attr]
        spec = find(fullname, path)
        return spec if isinstance(spec, ModuleSpec) else None

    return rewrite


Specs = types.ModuleType | type


def plugin_manager(
    project: str, specs: Iterable[Specs], manager: pluggy.PluginManager | None = None
) -> pluggy.PluginManager:
    """``manager`` (or a new manager for ``project``) with the lifecycle specs and ``specs``.

    A spec object the manager already has (the application added its hookspecs itself) is not
    added twice. The lifecycle hooks (``pluginhost_*``) are added to an adopted manager too:
    pluginhost calls them on one plugin at a time, never as a broadcast, so the application's
    plugins are never asked.

    :raises SettingsError: with key ``manager``, when ``manager`` is not a
        ``pluggy.PluginManager`` or is for another project; with key ``specs``, when a spec
        names a hook the manager already has from another spec object (nothing is added then).
    """
    if manager is None:
        manager = pluggy.PluginManager(project)
        _MADE.add(manager)
    elif not isinstance(manager, pluggy.PluginManager):
        raise SettingsError(
            f"must be a pluggy.PluginManager, not {type(manager).__name__}", key="manager"
        )
    elif manager.project_name != project:
        raise SettingsError(
            f"is the plugin manager of project {manager.project_name!r}, not of {project!r}: "
            "its plugins' hooks are marked for the other project",
            key="manager",
        )
    wanted = [lifecycle_specs(project), *specs]
    fresh = [spec for spec in wanted if not _added(manager, spec)]
    for spec in fresh:
        _check_clash(manager, spec)
    for spec in fresh:
        manager.add_hookspecs(spec)
    return manager


def _hook_names(manager: pluggy.PluginManager, spec: Specs) -> list[str]:
    return [name for name in dir(spec) if manager.parse_hookspec_opts(spec, name) is not None]


def _added(manager: pluggy.PluginManager, spec: Specs) -> bool:
    """Whether every hook ``spec`` declares is already specified by ``spec`` itself."""
    names = _hook_names(manager, spec)
    return bool(names) and all(_spec_source(manager, name) is spec for name in names)


def _spec_source(manager: pluggy.PluginManager, name: str) -> object:
    caller = getattr(manager.hook, name, None)
    if isinstance(caller, pluggy.HookCaller) and caller.spec is not None:
        return caller.spec.namespace
    return None


def _check_clash(manager: pluggy.PluginManager, spec: Specs) -> None:
    for name in _hook_names(manager, spec):
        source = _spec_source(manager, name)
        if source is not None and source is not spec:
            raise SettingsError(
                f"declare hook {name!r}, which the plugin manager already has from "
                f"{getattr(source, '__name__', source)!r}",
                key="specs",
            )
