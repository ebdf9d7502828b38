"""Activation: import a plugin from its site dir, and purge it again.

Each function undoes its own partial work when it fails, so the host never keeps a
half-imported plugin. Registration with pluggy lives in :mod:`pluginhost.swap.switch`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import sys
import threading
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from itertools import compress, repeat
from pathlib import Path
from typing import TYPE_CHECKING

from ..install.compiled import Compiled
from ..model.candidate import EntryPoint
from ..model.errors import ActivationError
from ..model.exception_text import describe_exception
from .compiled import spec_of
from .distributions import find_distributions, site_written
from .reaper import Released
from .reclaim import reclaim
from .typing_caches import forget_in_typing

if TYPE_CHECKING:
    import importlib_metadata

    from .distributions import Context

__all__ = [
    "PluginFinder",
    "Rewrite",
    "import_entry_point",
    "import_entry_points",
    "owned_modules",
    "pop_modules",
    "purge_modules",
    "release",
]


Rewrite = Callable[[str, list[str]], ModuleSpec | None]
"""Finds a plugin's module (its full name, the folders to look in) when it rewrites its code."""


class PluginFinder(importlib.abc.MetaPathFinder):
    """Finds each plugin's top-level modules in that plugin's site dir.

    One finder serves every plugin of a host, so ``sys.path`` does not grow by an entry per
    plugin and a lookup of any other module costs one dictionary miss. It also answers
    ``importlib.metadata`` with the distributions of the site dirs it maps
    (:mod:`pluginhost.load.distributions`), and imports the modules whose bytecode the site
    writer sent back from that bytecode (:mod:`pluginhost.load.compiled`).
    """

    #: The bytecode of at most this many site dirs is kept.
    KEPT = 8

    def __init__(self) -> None:
        # Top-level name -> the dirs it is found in: one, or several for a namespace package
        # that several dependencies share (see :meth:`share`).
        self._roots: dict[str, tuple[str, ...]] = {}
        # Namespace packages of the host environment -> the dirs that add portions to them
        # (see :meth:`extend`).
        self._portions: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        # Site dir -> module name -> its bytecode, as the site writer sent it back.
        self._compiled: dict[str, dict[str, Compiled]] = {}
        self._rewrite: Rewrite | None = None
        # The plugins' own top-level names: only those are handed to the rewrite, as pytest
        # rewrites its installed plugins' modules, not their dependencies'.
        self._rewritable: set[str] = set()

    def rewrite_with(self, rewrite: Rewrite | None) -> None:
        """Have the plugins' modules found by ``rewrite`` first, when it finds them: the
        application's import hook that rewrites code (pytest's assertion rewriting, see
        :func:`pluginhost.host.manager.rewriting`)."""
        self._rewrite = rewrite

    def written(self, root: Path, modules: Iterable[Compiled], dist_infos: Iterable[str]) -> None:
        """Told what the site dir ``root``, written just now, holds: the bytecode of some of
        its modules, for their import from there, and its ``.dist-info`` dirs.

        The bytecode is kept for the last :attr:`KEPT` site dirs told, until their names are
        unmapped.
        """
        site_written(root, dist_infos)
        held = {c.module: c for c in modules}
        if not held:
            return
        with self._lock:
            while len(self._compiled) >= self.KEPT:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[str(root)] = held

    def map(self, names: Iterable[str], root: Path, *, plugin: bool = False) -> None:
        """Make the top-level ``names`` importable from ``root`` (and from nowhere else).

        :param plugin: the names are a plugin's own (see :meth:`rewrite_with`), not a shared
            dependency's.
        """
        with self._lock:
            for name in names:
                self._roots[name] = (str(root),)
                if plugin:
                    self._rewritable.add(name)
                else:
                    self._rewritable.discard(name)

    def share(self, names: Iterable[str], root: Path) -> None:
        """Make the top-level ``names`` importable from ``root`` too, after the dirs they are
        mapped to: namespace packages that several distributions provide portions of
        (jaraco.functools and jaraco.context both ship ``jaraco/``), as in site-packages.

        A namespace package imported already gets the portion in its ``__path__``: its
        submodules are looked for there, not through this finder.
        """
        names = list(names)
        with self._lock:
            for name in names:
                kept = tuple(r for r in self._roots.get(name, ()) if r != str(root))
                self._roots[name] = (*kept, str(root))
        for name in names:
            _add_portion(sys.modules.get(name), os.path.join(root, name))

    def extend(self, names: Iterable[str], root: Path) -> None:
        """Make the modules under the top-level ``names``, namespace packages of the host
        environment, importable from their portions in ``root`` too (zope.event's ``zope/``
        beside the environment's zope.interface). The names themselves stay the environment's:
        what is in ``root`` is looked for when a module inside them is imported, whether the
        namespace package was imported before or not.
        """
        with self._lock:
            for name in names:
                kept = tuple(r for r in self._portions.get(name, ()) if r != str(root))
                self._portions[name] = (*kept, str(root))

    def unmap(self, names: Iterable[str], root: Path | None = None) -> None:
        """Forget ``names``, or only their mapping to ``root`` when it is given: a namespace
        package stays importable from the other dirs that share it."""
        with self._lock:
            for name in names:
                portions = self._portions.pop(name, ())
                rest = () if root is None else tuple(r for r in portions if r != str(root))
                if rest:
                    self._portions[name] = rest
                roots = self._roots.pop(name, ())
                self._rewritable.discard(name)
                gone = roots if root is None else tuple(r for r in roots if r == str(root))
                if len(gone) < len(roots):
                    self._roots[name] = tuple(r for r in roots if r not in gone)
                for dropped in gone:
                    self._compiled.pop(dropped, None)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        top, dot, _ = fullname.partition(".")
        roots = self._roots.get(top)
        if roots is None:
            portions = self._portions.get(top)
            return _in_portions(fullname, portions, path) if portions and dot else None
        if self._rewrite is not None and top in self._rewritable:
            spec = self._rewrite(fullname, list(path) if dot and path is not None else list(roots))
            if spec is not None:
                return spec
        for root in roots:
            compiled = self._compiled.get(root, {}).get(fullname)
            if compiled is not None and _found_there(compiled, root, path):
                return spec_of(compiled, root)
        if dot:
            # Found through its package's __path__, which points into the right site dir(s).
            return None
        # Several roots only for a namespace package: PathFinder joins their portions.
        return importlib.machinery.PathFinder.find_spec(fullname, list(roots))

    def find_distributions(
        self, context: Context | None = None
    ) -> Iterator[importlib.metadata.Distribution | importlib_metadata.Distribution]:
        """The distributions installed in the site dirs mapped now, for ``importlib.metadata``
        and ``importlib_metadata``, which ask every finder on ``sys.meta_path``."""
        with self._lock:
            roots = {root for shared in self._roots.values() for root in shared}
            roots.update(root for added in self._portions.values() for root in added)
        return find_distributions(roots, context or importlib.metadata.DistributionFinder.Context())


def _add_portion(module: types.ModuleType | None, portion: str) -> None:
    """Add ``portion`` to the ``__path__`` of ``module`` when it is an imported namespace
    package (PEP 420: no ``__file__``) that lacks it."""
    if module is None or getattr(module, "__file__", None) is not None:
        return
    path = getattr(module, "__path__", None)
    if path is None or not os.path.isdir(portion) or portion in list(path):
        return
    # A namespace package's _NamespacePath keeps an entry added so; a list would too.
    path.append(portion)


def _in_portions(
    fullname: str, portions: Sequence[str], path: Sequence[str] | None
) -> ModuleSpec | None:
    """``fullname``, inside a namespace package of the environment, as found in the portions
    dependencies add to it; ``None`` to leave it to the environment's finders.

    A namespace package inside it that the environment has too (``google.cloud``) is left to
    them, with the environment's portions: the modules inside are looked for here again.
    """
    parent = fullname.rpartition(".")[0].split(".")
    spec = importlib.machinery.PathFinder.find_spec(
        fullname, [os.path.join(root, *parent) for root in portions]
    )
    if spec is None or spec.origin is not None or path is None:
        return spec
    there = importlib.machinery.PathFinder.find_spec(fullname, list(path))
    return None if there is not None else spec


def _found_there(compiled: Compiled, root: str, path: Sequence[str] | None) -> bool:
    """Whether a path finder would look for ``compiled``'s module in ``root`` first: always
    for a top-level module, and for a submodule when its package's ``__path__`` starts with
    the package's own folder there (a package may change its ``__path__``)."""
    if path is None:
        return True
    parent = compiled.module.rpartition(".")[0].split(".")
    # Iterated, not indexed: a package may set any iterable as its __path__.
    return next(iter(path), None) == os.path.join(root, *parent)


def owned_modules(top_level: Iterable[str]) -> Iterator[str]:
    """Names in ``sys.modules`` that belong to the given top-level names: the names
    themselves, then their submodules in ``sys.modules``' order."""
    tops = list(dict.fromkeys(top_level))
    names = list(sys.modules)
    yield from (name for name in tops if name in sys.modules)
    # Sifted in C, by a prefix test that makes no new objects: with a thousand plugins
    # loaded, sys.modules holds thousands of names, and a swap looks through them before its
    # import and at its purge (splitting each name at its first dot took three times as long).
    inside = tuple(f"{name}." for name in tops)
    yield from compress(names, map(str.startswith, names, repeat(inside)))


def import_entry_point(
    value: str, *, plugin: str, top_level: Sequence[str], root: Path | None = None
) -> object:
    """Import the object an entry point names (``module`` or ``module:attr.attr``).

    On failure every module imported under ``top_level`` is purged again before the error is
    raised, so a failed import leaves nothing behind.

    :param root: the site dir imported from; when given, only modules loaded from it are
        purged on failure. An import that hung fails long after the host gave up on it, when
        the version that serves may have put its own modules back under the same names.
    :raises ActivationError: with step ``import``.
    """
    module_name, _, attrs_path = value.partition(":")
    # Usually none of its names is imported yet; looking through all of sys.modules for each
    # plugin would make loading hundreds of plugins cost the square of their number. When
    # one is (a swap), the names are copied with their hashes, at C speed: sifting thousands
    # of names for the plugin's own cost a tenth of a millisecond before each swap's import.
    already = any(name in sys.modules for name in top_level)
    before = set(sys.modules) if already else set()
    try:
        obj: object = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs_path.strip().split(".")):
            obj = getattr(obj, attr)
    except BaseException as exc:
        fresh = [
            name
            for name in owned_modules(top_level)
            if name not in before and (root is None or _loaded_from(name, root))
        ]
        _drop_modules(fresh)
        # A plugin that calls sys.exit() at import must not stop the host; Ctrl-C still does.
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ActivationError(
            f"import of {value!r} failed: {describe_exception(exc)}", plugin=plugin, step="import"
        ) from exc
    return obj


def import_entry_points(
    entry_points: Sequence[EntryPoint],
    *,
    plugin: str,
    top_level: Sequence[str],
    root: Path | None = None,
) -> tuple[object, ...]:
    """Import the objects of a plugin's entry points, in order: one plugin, one import step.

    A failure leaves the modules of the entry points imported before it in place: the caller
    purges the plugin's names, as after any failed step.

    :raises ActivationError: with step ``import``, from :func:`import_entry_point`.
    """
    return tuple(
        import_entry_point(ep.value, plugin=plugin, top_level=top_level, root=root)
        for ep in entry_points
    )


def pop_modules(
    top_level: Iterable[str], within: Path | None = None, shared: Collection[str] = ()
) -> dict[str, types.ModuleType]:
    """Take a plugin's modules out of ``sys.modules``, returning them by name.

    :param within: only the modules loaded from under this dir (and those of no file, such as
        a namespace package): the others are another distribution's portions of a namespace
        package they share (see :meth:`PluginFinder.share`).
    :param shared: top-level names that are namespace packages of the host environment (see
        :meth:`PluginFinder.extend`): a namespace package under them stays, unless all its
        portions are under ``within``.
    """
    names = [
        n
        for n in owned_modules(top_level)
        if within is None or _loaded_from(n, within, n.partition(".")[0] in shared)
    ]
    return {name: sys.modules.pop(name) for name in names}


def purge_modules(
    top_level: Iterable[str],
    roots: Iterable[Path] = (),
    within: Path | None = None,
    shared: Collection[str] = (),
) -> Released:
    """Remove a plugin's modules from ``sys.modules`` and its dirs from the import caches.

    :param within: :param shared: as :func:`pop_modules` takes them.
    :returns: see :func:`release`.
    """
    return release(pop_modules(top_level, within, shared), roots)


def release(modules: dict[str, types.ModuleType], roots: Iterable[Path] = ()) -> Released:
    """Let go of modules already out of ``sys.modules`` and of their dirs' import caches.

    ``modules`` is emptied here, so that the caller's dict holds nothing once they are watched.
    No full collection runs here (see :mod:`pluginhost.load.reaper`): a full collection on the
    swap path would pause every caller. Modules that only their own cycles hold are freed at
    once instead, by reference counting (:func:`~.reclaim.reclaim`).

    :returns: the modules, watched through weak references: what is still alive after the
        interpreter's next full collection is held by something outside the plugin (a
        reference kept by the host or another plugin, a thread, a function stashed in another
        module).
    """
    released = Released.of(modules)
    held = list(modules.values())
    forget_in_typing(list(modules))
    modules.clear()
    _drop_path_caches(roots)
    reclaim(held)
    del held  # the last references to the modules, if reclaim cleared their namespaces
    return released


def _loaded_from(name: str, root: Path, environments: bool = False) -> bool:
    """Whether module ``name`` was loaded from under ``root`` (or cannot tell: no file).

    :param environments: ``name`` is inside a namespace package of the host environment: one
        of no file is a namespace package, the environment's unless its portions are all here.
    """
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None)
    if isinstance(origin, str):
        return origin.startswith(str(root))
    if not environments:
        return True
    portions = [str(p) for p in getattr(module, "__path__", ())]
    return bool(portions) and all(p.startswith(str(root)) for p in portions)


def _drop_modules(names: Iterable[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)


def _drop_path_caches(roots: Iterable[Path]) -> None:
    # PathFinder caches one FileFinder per directory it was asked about; without this the cache
    # grows with every version ever loaded and invalidate_caches() slows down.
    prefixes = tuple(str(root) for root in roots)
    if not prefixes:
        return
    for key in list(sys.path_importer_cache):
        if isinstance(key, str) and key.startswith(prefixes):
            sys.path_importer_cache.pop(key, None)
