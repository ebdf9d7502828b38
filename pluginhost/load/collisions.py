"""Collision checks: one provider per top-level module, and never one the host already has.

Plugins import through one finder that maps top-level names to site dirs, so two plugins
shipping ``utils``, or a plugin shipping ``json``, would shadow each other or the host.

Names that wheels ship by mistake (:data:`STRAY_NAMES`: a ``tests`` package beside the
plugin's own) are the exception: a plugin whose stray name another plugin or the host provides
loads without it, with a warning, where any other clash refuses it.
"""

from __future__ import annotations

import importlib.machinery
import logging
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..discover.wheel import WheelInfo
from ..model.candidate import Candidate
from ..model.errors import ResolutionError
from ..model.names import PluginName
from .guard import find_spec_anywhere
from .modules import PluginFinder

__all__ = [
    "DEPENDENCY_OWNER",
    "STRAY_NAMES",
    "ModuleOwners",
    "both_provide",
    "check_host_clash",
    "host_namespace",
    "host_provider",
    "refuse_or_leave_out",
]

logger = logging.getLogger("pluginhost")

#: Top-level names that a wheel ships by mistake, beside its own package: the test, docs,
#: examples and benchmarks folders of a project, which setuptools' automatic discovery never
#: takes for packages (so a wheel holds them only from an explicit ``find_packages()``).
#: pytest-monkeytype, pytest-tmpfs and tox-battery each ship ``tests``; pip merges such
#: folders into one. No plugin's code is expected to import one.
STRAY_NAMES: Final = frozenset(
    {
        "test",
        "tests",
        "unit_test",
        "unit_tests",
        "doc",
        "docs",
        "documentation",
        "example",
        "examples",
        "benchmark",
        "benchmarks",
    }
)

Providers = Callable[[], Iterable[tuple[PluginName, Sequence[str]]]]
"""The active plugins and the top-level names each serves."""

#: How a shared dependency is named among the owners of top-level names (its distribution's
#: name, then this): no plugin's name has a space.
DEPENDENCY_OWNER: Final = " (a shared dependency)"


class ModuleOwners:
    """Which active plugin provides each top-level module.

    :param providers: asked when the map must be built anew.
    """

    def __init__(self, providers: Providers) -> None:
        self._providers = providers
        # Kept between checks, and dropped when the active set changes in a way not told:
        # built for each plugin, it made a start with many plugins cost the square of their
        # number.
        self._owners: dict[str, PluginName] | None = None

    def forget(self) -> None:
        """Build the map anew at the next check."""
        self._owners = None

    def moved(self, name: PluginName, old: Sequence[str], new: Sequence[str]) -> None:
        """``name`` now serves ``new`` instead of ``old``."""
        if self._owners is None:
            return
        for module in old:
            self._owners.pop(module, None)
        self._owners.update(dict.fromkeys(new, name))

    def check(
        self,
        candidate: Candidate,
        top_level: Sequence[str],
        site_dir: Path | None,
        members: Collection[str],
    ) -> tuple[str, ...]:
        """Refuse top-level names that another plugin or the host already provides; a stray
        name (:data:`STRAY_NAMES`) is left out instead, with a warning.

        :param members: the plugins changing together with ``candidate``: their names are
            theirs to keep.
        :returns: the names of ``top_level`` that ``candidate`` is to serve.
        :raises ResolutionError: naming the module and who provides it.
        """
        if self._owners is None:
            self._owners = {m: n for n, names in self._providers() for m in names}
        kept = []
        for module in top_level:
            owner = self._owners.get(module)
            if owner is not None and owner not in members:
                clash = both_provide(module, owner, candidate.name)
                if site_dir is not None and _portion_in(site_dir, module):
                    clash = self._shared_namespace(module, owner, candidate.name)
                refuse_or_leave_out(candidate, module, clash)
            elif owner is None and site_dir is not None and _host_provides(module):
                clash = f"top-level module {module!r} of plugin {candidate.name!r} is already "
                clash += f"provided by the host environment ({_host_location(module)})"
                refuse_or_leave_out(candidate, module, clash)
            else:
                kept.append(module)
        return tuple(kept)

    def _shared_namespace(self, module: str, owner: str, claimant: str) -> str:
        """The words for a namespace package that a plugin ships a portion of and others
        serve already: every one of them is named (refused, a rare case: asked again)."""
        serving: set[str] = {n for n, names in self._providers() if module in names}
        others = sorted(_owner_text(n) for n in serving or {owner})
        serve = "serves" if len(others) == 1 else "serve"
        listed = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
        return (
            f"top-level module {module!r} is a namespace package that plugin {claimant!r} "
            f"ships a portion of, and {listed} {serve} it already: a plugin cannot share a "
            "namespace package with other plugins or shared dependencies"
        )


def both_provide(module: str, owner: str, claimant: str) -> str:
    """The words for a top-level name that a plugin ships and ``owner`` serves already."""
    return (
        f"top-level module {module!r} is provided both by {_owner_text(owner)} "
        f"and by plugin {claimant!r}"
    )


def _owner_text(owner: str) -> str:
    """``plugin 'hello'``, or ``shared dependency 'jaraco-text'``."""
    if owner.endswith(DEPENDENCY_OWNER):
        return f"shared dependency {owner.removesuffix(DEPENDENCY_OWNER)!r}"
    return f"plugin {owner!r}"


def _portion_in(site_dir: Path, module: str) -> bool:
    """Whether ``site_dir`` holds ``module`` as a portion of a namespace package: a folder
    with no ``__init__.py``."""
    folder = site_dir / module
    return folder.is_dir() and not (folder / "__init__.py").exists()


def refuse_or_leave_out(candidate: Candidate, module: str, clash: str) -> None:
    """Refuse ``candidate`` for its top-level name ``module``, provided elsewhere (``clash``
    says where); a stray name (:data:`STRAY_NAMES`) is left out instead, with a warning.

    :raises ResolutionError: unless ``module`` is a stray name.
    """
    if module not in STRAY_NAMES:
        raise ResolutionError(clash, plugin=candidate.name)
    logger.warning(
        "%s: plugin %r loads without its own, a name that wheels ship by mistake (from %s)",
        clash,
        candidate.name,
        candidate.origin,
    )


def host_provider(module: str) -> str | None:
    """Where the host environment provides top-level ``module`` from, ``None`` when it does not
    (what a shared dependency serving that name would shadow)."""
    return _host_location(module) if _host_provides(module) else None


def host_namespace(module: str) -> list[str]:
    """The portions of top-level ``module`` when the host environment has it as a namespace
    package (PEP 420, no ``__init__.py``), else none: one a dependency may add its portion to,
    as pip installs them side by side (zope.event beside zope.interface)."""
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return []
    loaded = sys.modules.get(module)
    try:
        if loaded is not None and getattr(loaded, "__file__", None) is not None:
            return []  # a regular module or package of that name is imported already
    except Exception:  # a module object whose attributes raise: not a namespace to share
        return []
    spec = _host_spec(module)
    if spec is None or spec.origin is not None:
        return []
    return list(spec.submodule_search_locations or ())


def _host_provides(module: str) -> bool:
    if module in sys.modules or module in sys.builtin_module_names:
        return True
    if module in sys.stdlib_module_names:
        return True
    return _host_spec(module) is not None


def _host_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """What an import of ``module`` finds through the environment's finders.

    Every finder of ``sys.meta_path`` is asked, not only ``sys.path``'s: an editable install,
    a zip importer or an application's own finder serve names that no ``sys.path`` entry has.
    Hosts' plugin finders are left out: the plugins they serve are checked by name above
    (their modules are imported, or they are this host's own active plugins).
    """
    found = find_spec_anywhere(module, skip=(PluginFinder,))
    return found[1] if found is not None else None


def _host_location(module: str) -> str:
    loaded = sys.modules.get(module)
    if loaded is not None:
        try:
            origin = getattr(loaded, "__file__", None)
        except Exception:  # a module object whose attributes raise: it is there all the same
            origin = None
        return origin if isinstance(origin, str) and origin else "already imported"
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return "the standard library"
    spec = _host_spec(module)
    if spec is None:
        return "on sys.path"
    if spec.origin:
        return str(spec.origin)
    if spec.submodule_search_locations:
        return f"a namespace package in {', '.join(spec.submodule_search_locations)}"
    return f"through {spec.loader!r}"


def check_shared_clash(
    distribution: str, wheel: WheelInfo, plugin: str, served: Mapping[str, tuple[str, Path]]
) -> set[str]:
    """The top-level names of a new shared dependency that other shared dependencies serve
    already (``served``: each name's distribution and site dir), as namespace packages both
    ship a portion of (jaraco.functools and jaraco.context both ship ``jaraco/``): shared, as
    in site-packages, whether imported already or not.

    :raises ResolutionError: naming both distributions, for a name one of them ships as a
        regular module or package: one interpreter has one module of a name, and the second
        would get the first one's code.
    """
    shared = set()
    for module in wheel.top_level:
        if module not in served:
            continue
        other, site = served[module]
        there = site / module
        portion = _portion_of(wheel.members, module)
        if portion and there.is_dir() and not (there / "__init__.py").exists():
            shared.add(module)
            continue
        raise ResolutionError(
            f"top-level module {module!r} of shared dependency {distribution} is already "
            f"served by shared dependency {other}",
            plugin=plugin,
        )
    return shared


def check_host_clash(
    distribution: str, wheel: WheelInfo, plugin: str, shared: Collection[str] = ()
) -> None:
    """Refuse a shared dependency whose top-level name the host environment already provides:
    one interpreter has one module of a name. A namespace package of the environment is not
    refused when the wheel ships a portion of it (no ``__init__.py``): both serve, as in one
    site-packages.

    :param shared: names the host's shared dependencies serve as a namespace package the
        wheel adds a portion to (:func:`check_shared_clash`): not the environment's, even once
        imported.
    :raises ResolutionError: naming the module and where the host has it from.
    """
    for module in wheel.top_level:
        if module in shared:
            continue
        where = host_provider(module)
        if where is None:
            continue
        portions = host_namespace(module) if _portion_of(wheel.members, module) else []
        if portions:
            clash = _portion_clash(wheel.members, module, portions)
            if clash is None:
                continue
            raise ResolutionError(
                f"module {clash!r} of shared dependency {distribution} is already provided by "
                f"the host environment (inside its namespace package {module!r})",
                plugin=plugin,
            )
        raise ResolutionError(
            f"top-level module {module!r} of shared dependency {distribution} is "
            f"already provided by the host environment ({where})",
            plugin=plugin,
        )


def _portion_of(members: Collection[str], package: str) -> bool:
    """Whether a wheel of ``members`` ships ``package`` (dotted) as a portion of a namespace
    package: a folder of that name, with no ``__init__.py``."""
    folder = package.replace(".", "/") + "/"
    return f"{folder}__init__.py" not in members and any(m.startswith(folder) for m in members)


def _portion_clash(members: Collection[str], package: str, portions: list[str]) -> str | None:
    """A module a wheel's portion of the environment's namespace ``package`` ships that the
    environment has too (in its ``portions``, or imported): it would shadow it for everyone.
    A namespace package inside that both have portions of is looked into in turn."""
    folder = package.replace(".", "/") + "/"
    inside = (m[len(folder) :].split("/", 1)[0] for m in members if m.startswith(folder))
    stems = {entry.split(".", 1)[0] for entry in inside}
    for stem in sorted(s for s in stems if s.isidentifier()):
        name = f"{package}.{stem}"
        regular, inner = _environment_has(name, portions)
        if regular or (not inner and name in sys.modules):
            return name
        if not inner:
            continue
        clash = _portion_clash(members, name, inner) if _portion_of(members, name) else name
        if clash is not None:
            return clash
    return None


def _environment_has(name: str, portions: list[str]) -> tuple[bool, list[str]]:
    """Whether the environment's ``portions`` of a namespace package hold module ``name`` as
    a module or regular package, and the portions they hold of it as a namespace package.

    Asked of each directory's own finder (``sys.path_hooks``): a path finder's answer for a
    namespace package needs its parent imported.
    """
    inner: list[str] = []
    for portion in portions:
        finder = _directory_finder(portion)
        try:
            spec = finder.find_spec(name) if finder is not None else None
        except (ImportError, OSError):
            continue
        if spec is None:
            continue
        if spec.loader is not None:
            return True, []
        inner += list(spec.submodule_search_locations or ())
    return False, inner


def _directory_finder(path: str) -> Any:
    for hook in sys.path_hooks:
        try:
            return hook(path)
        except ImportError:
            continue
    return None
