"""Guards around plugin code: what it did to the process, put back or reported.

Plugins share the interpreter (see ``docs/limits.md``). Around each import and lifecycle hook the
host takes a cheap :class:`Snapshot` of the import machinery (``sys.modules`` identities,
``sys.meta_path``, ``sys.path_hooks``, ``sys.path``), of the ``atexit`` handler count and of the
running threads. Afterwards :func:`restore` puts back what the plugin changed in the import
machinery and returns what cannot be undone from outside (handlers, threads) as :class:`Effects`,
so that the unload can report it. Once a plugin is gone, :func:`lingering` finds its threads still
running and :func:`holders` the process-wide places that still hold its code.

Hook calls are never guarded: the hot path stays pluggy's. What a plugin does during a hook call
is only seen by :func:`~.sweep.sweep` and :func:`lingering` when it is retired.
"""

from __future__ import annotations

import atexit
import itertools
import operator
import os
import sys
import threading
import time
import types
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..model import exception_text
from ..model.frozen import frozen
from .owners import code_files
from .owners import kind as _kind
from .owners import owned as _owned
from .owners import top as _top
from .path_cache import only_added, restore_cache
from .stacks import current_frames

__all__ = [
    "Effects",
    "Snapshot",
    "ThreadRef",
    "failure",
    "holders",
    "lingering",
    "restore",
    "snapshot",
    "type_name",
]

_MISSING = object()
_HELPER_PREFIX = "pluginhost-"
"""The host's own helper threads (see ``_helpers.bounded``): never counted as the plugin's."""


@frozen
class ThreadRef:
    """A thread started by plugin code: its id and name, never the thread object (which would
    keep the plugin's function, and so its modules, alive)."""

    ident: int
    name: str
    daemon: bool


@frozen
class Effects:
    """What plugin code did during guarded steps that outlives them.

    :param undone: changes to the import machinery that were put back, one phrase each.
    :param atexit: ``atexit`` handlers registered (negative when some were unregistered).
    :param threads: threads started and still running when the step ended.
    """

    undone: tuple[str, ...] = ()
    atexit: int = 0
    threads: tuple[ThreadRef, ...] = ()

    def __add__(self, other: Effects) -> Effects:
        return Effects(
            self.undone + other.undone,
            self.atexit + other.atexit,
            self.threads + other.threads,
        )


@frozen(eq=False)
class Snapshot:
    """The process-wide state plugin code may change, as it was before the code ran."""

    modules: dict[str, types.ModuleType]
    meta_path: list[Any]
    path_hooks: list[Any]
    path_cache: dict[Any, Any]
    path: list[str]
    atexit: int
    threads: frozenset[int]


def snapshot() -> Snapshot:
    """Take a snapshot (a few tens of microseconds: one copy of ``sys.modules``)."""
    return Snapshot(
        modules=sys.modules.copy(),
        meta_path=list(sys.meta_path),
        path_hooks=list(sys.path_hooks),
        path_cache=sys.path_importer_cache.copy(),
        path=list(sys.path),
        atexit=atexit._ncallbacks(),
        threads=frozenset(current_frames()),
    )


def restore(before: Snapshot, owned: Collection[str]) -> Effects:
    """Put back what changed in the import machinery since ``before``; report the rest.

    Entries of the plugin's own top-level names (``owned``) are its business. Elsewhere, the
    guard tells tampering from adding. Tampering is put back and reported: an entry of
    ``sys.modules`` replaced or removed; one added that stands where an import would find
    another module (:func:`_shadows`), or that is the plugin's own code under another name; a
    finder or path hook of the plugin's own code added, any entry removed, or the entries
    reordered; a finder of its own code cached in ``sys.path_importer_cache``, or any key there
    that is not a ``str``; any change to ``sys.path`` (and the finders cached for entries it
    lost) but a library's vendor folder appended (:func:`_vendored`).

    What a first import adds is kept and not blamed: modules, finders and hooks of a library
    imported for the first time, and the entries the interpreter or a compiled extension
    registers by name, with no spec and nowhere an import could find them (``pyexpat.errors``,
    Cython's ``_cython_3_*`` and ``cython_runtime``, ``__mp_main__`` for ``multiprocessing``).
    So whichever plugin imports such a library first is never the one refused.
    """
    tops = frozenset(owned)
    undone = [
        *_restore_modules(before.modules, tops),
        *_restore_list(sys.meta_path, before.meta_path, "sys.meta_path", tops),
        *_restore_list(sys.path_hooks, before.path_hooks, "sys.path_hooks", tops),
        *restore_cache(before.path_cache, tops),
        *_restore_path(before.path, tops),
    ]
    return Effects(
        undone=tuple(undone),
        atexit=atexit._ncallbacks() - before.atexit,
        threads=tuple(_new_threads(before.threads)),
    )


def lingering(threads: Iterable[ThreadRef], roots: Sequence[Path], grace: float) -> list[str]:
    """Threads still running after a plugin was deactivated, one sentence each.

    A thread counts when the plugin started it during a guarded step, or when it is running code
    from one of ``roots`` (the plugin's site dirs), whoever started it. Threads that end within
    ``grace`` seconds (a deactivate that signalled its thread without joining it) do not count.
    """
    tracked = {t.ident: t for t in threads}
    prefixes = tuple(str(root) for root in roots)
    deadline = time.monotonic() + grace
    found = _running(tracked, prefixes)
    while found and time.monotonic() < deadline:
        time.sleep(0.01)
        found = _running(tracked, prefixes)
    return [_thread_text(ident, where, tracked) for ident, where in sorted(found.items())]


def holders(owned: Collection[str]) -> list[str]:
    """Module attributes outside the plugin that hold its functions, classes or objects.

    Only called when a purge found the plugin's modules still alive, to say where from: one pass
    over every module's namespace (milliseconds).
    """
    tops = frozenset(owned)
    found = []
    for module_name, module in list(sys.modules.items()):
        if module_name.partition(".")[0] in tops or not isinstance(module, types.ModuleType):
            continue
        for attr, value in list(vars(module).items()):
            if _owned(value, tops):
                found.append(f"{module_name}.{attr}")
    return sorted(found)


def failure(step: str, reason: str | None, undone: Sequence[str]) -> str:
    """Why a guarded step failed: its own ``reason`` (when it raised or overran), and what it
    changed in the import machinery that was put back (``undone``, a failure by itself)."""
    put_back = (
        f"{step} changed the interpreter's import machinery, which a plugin must not do; "
        f"put back: {', '.join(undone)}"
    )
    if not undone:
        return reason or ""
    return f"{reason}; {put_back}" if reason else put_back


def type_name(value: object) -> str:
    """The name of ``value``'s type for people: ``set``, or ``module.Class`` beyond builtins
    (:func:`~pluginhost.model.exception_text.type_name`: a plugin's class cannot make it
    raise)."""
    return exception_text.type_name(type(value))


# -- the parts ---------------------------------------------------------------------------------


def _restore_modules(before: dict[str, types.ModuleType], tops: frozenset[str]) -> list[str]:
    now = sys.modules
    if only_added(before, now):
        changed: list[str] = []
        added: Iterable[str] = list(itertools.islice(now, len(before), None))
    else:
        changed = [
            n
            for n, m in before.items()
            if now.get(n, _MISSING) is not m
            and _top(n) not in tops
            and not _extended(m, now.get(n), tops)
        ]
        added = now.keys() - before.keys()
    undone = []
    for name in changed:
        verb = "removed" if name not in now else "replaced"
        now[name] = before[name]
        undone.append(f"sys.modules[{name!r}] {verb}")
    for name in added:
        value = now.get(name, _MISSING)
        if _top(name) not in tops and value is not _MISSING and _planted(name, value, tops):
            now.pop(name, None)
            undone.append(f"sys.modules[{name!r}] added")
    return sorted(undone)


def _extended(old: types.ModuleType, new: object, tops: frozenset[str]) -> bool:
    """Whether ``new`` replaces the package ``old`` with itself made larger: a package of the
    same name whose ``__path__`` holds every folder of ``old``'s, not the plugin's own code.
    pkg_resources does it when first imported (it drops ``backports`` and imports it again with
    setuptools' vendored portion): whichever plugin imported it first was refused."""
    if not isinstance(new, types.ModuleType) or _owned(new, tops) or new.__name__ != old.__name__:
        return False
    before, after = getattr(old, "__path__", None), getattr(new, "__path__", None)
    if before is None or after is None:
        return False
    try:
        return set(map(str, before)) <= set(map(str, after))
    except TypeError:  # a __path__ that cannot be iterated
        return False


def _planted(name: str, value: object, tops: frozenset[str]) -> bool:
    """Whether a new ``sys.modules`` entry is tampering rather than what an import added.

    Judged by what the entry does, not by how it looks: an entry without a spec is what
    CPython and compiled extensions register by name (``pyexpat.errors``, ``cython_runtime``),
    and a library may register its module under a second name; both are harmless unless an
    import of that name would have found another module.
    """
    if _owned(value, tops):
        return True
    if _imported_as(value, name):
        return False
    found = _found(name)
    return found is not None and found != _origin(value) and not _made_in(value, found)


def _imported_as(value: object, name: str) -> bool:
    """Whether ``value`` is the module an import of ``name`` made (its spec says so)."""
    try:
        spec = value.__spec__ if isinstance(value, types.ModuleType) else None
        return spec is not None and spec.name == name
    except Exception:  # a module whose attributes raise was not made by the import system
        return False


def _made_in(value: object, origin: str) -> bool:
    """Whether ``value`` is an instance of a class whose code is in ``origin``: the module an
    import of its name loads replaced its own entry, ``sys.modules[__name__] = Wrapper()``, an
    idiom the import system honours (``torch._VF``, ``sh``). A plugin planting an object of its
    own class there is not let through: that class's code is in the plugin's files."""
    try:
        return origin in code_files([type(value)])  # its own class only, not its bases
    except Exception:  # a class whose attributes raise is no proof either way
        return False


def _found(name: str) -> str | None:
    """Where an import of ``name`` would load it from (a file, or the name of a finder that
    would), ``None`` when no import would find it."""
    parent, _, _ = name.rpartition(".")
    path = None
    if not parent:
        if name in sys.builtin_module_names:
            return "built-in"
    else:
        try:
            path = getattr(sys.modules.get(parent), "__path__", None)
        except Exception:
            return None
        if path is None:
            return None  # not a package: no import finds anything under it
    found = find_spec_anywhere(name, path)
    if found is None:
        return None
    finder, spec = found
    return str(getattr(spec, "origin", None) or _kind(finder))


def find_spec_anywhere(
    name: str, path: Sequence[str] | None = None, *, skip: tuple[type, ...] = ()
) -> tuple[object, Any] | None:
    """The first finder of ``sys.meta_path`` that finds ``name``, and its spec.

    :param path: the parent package's ``__path__`` for a dotted name.
    :param skip: finder types not to ask.
    """
    for finder in list(sys.meta_path):
        if isinstance(finder, skip):
            continue
        try:
            spec = finder.find_spec(name, path)
        except Exception:  # a finder without find_spec, or that fails to look, finds nothing
            continue
        if spec is not None:
            return finder, spec
    return None


def _origin(value: object) -> str | None:
    try:
        spec = value.__spec__ if isinstance(value, types.ModuleType) else None
        origin = getattr(spec, "origin", None) or getattr(value, "__file__", None)
    except Exception:
        return None
    return origin if isinstance(origin, str) else None


def _restore_list(
    current: list[Any], before: list[Any], label: str, tops: frozenset[str]
) -> list[str]:
    """Put ``current`` back in the order of ``before``: the plugin's own entries added go,
    entries removed come back, and a library's entries added stay after the entry they
    followed."""
    if len(current) == len(before) and all(map(operator.is_, current, before)):
        return []
    undone = []
    for entry in [e for e in current if _owned(e, tops) and not _contains(before, e)]:
        current.remove(entry)
        undone.append(f"{label} entry {_kind(entry)} added")
    # Another host of the process, stopping meanwhile, takes its own finder out.
    kept = [e for e in before if _contains(current, e) or not _kind(e).startswith("pluginhost.")]
    undone += [f"{label} entry {_kind(e)} removed" for e in kept if not _contains(current, e)]
    merged, in_order = _merged(current, kept)
    if not undone and not in_order:
        undone.append(f"{label} reordered")
    current[:] = merged
    return undone


def _merged(current: list[Any], kept: list[Any]) -> tuple[list[Any], bool]:
    """``kept`` in its order, with each other entry of ``current`` placed after the entry of
    ``kept`` it followed in ``current`` (or first, when none did); and whether ``current``
    had the entries of ``kept`` in that order already."""
    position = {id(e): i for i, e in enumerate(kept)}
    after: dict[int, list[Any]] = {}
    anchor, seen = -1, []
    for entry in current:
        index = position.get(id(entry))
        if index is not None and index not in seen:
            anchor = index
            seen.append(index)
        else:  # a library's entry, or a second reference to one of kept
            after.setdefault(anchor, []).append(entry)
    merged = list(after.get(-1, ()))
    for index, entry in enumerate(kept):
        merged.append(entry)
        merged += after.get(index, ())
    return merged, seen == sorted(seen)


def _contains(entries: Iterable[object], entry: object) -> bool:
    return any(e is entry for e in entries)


def _restore_path(before: list[str], tops: frozenset[str]) -> list[str]:
    if sys.path == before:
        return []
    if sys.path[: len(before)] == before and all(
        _vendored(entry, before, tops) for entry in sys.path[len(before) :]
    ):
        return []
    known = set(before)
    added = [entry for entry in sys.path if entry not in known]
    sys.path[:] = before
    for entry in added:
        # Otherwise the finder cached for it would keep serving imports from it.
        sys.path_importer_cache.pop(entry, None)
    return [f"sys.path entry {e!r} added" for e in added] or ["sys.path reordered or shortened"]


def _vendored(entry: str, before: list[str], tops: frozenset[str]) -> bool:
    """Whether ``entry``, appended to ``sys.path``, is a folder inside the package of a library
    imported from the environment, not the plugin's: where a library keeps what it vendors, as
    setuptools (71 and later) appends its ``_vendor`` folder when first imported, ``import
    distutils`` included (its ``_distutils_hack`` serves that name), and pkg_resources appends
    setuptools' without importing it. Appended, it can shadow no module an earlier entry
    provides; a folder in no package (a host's home under the application's folder, say) does
    not count."""
    if not isinstance(entry, str) or not os.path.isabs(entry) or not os.path.isdir(entry):
        return False
    for root in before:
        if not isinstance(root, str) or not os.path.isabs(root):
            continue
        try:
            package = os.path.relpath(entry, root).split(os.sep)[0]
        except ValueError:  # another drive
            continue
        folder = os.path.join(root, package)
        if package in {".", "..", *tops}:
            continue
        # pkg_resources appends setuptools' _vendor without importing setuptools: a package of
        # the environment counts, imported or not.
        if _imported_from(package, folder) or os.path.isfile(os.path.join(folder, "__init__.py")):
            return True
    return False


def _imported_from(name: str, folder: str) -> bool:
    """Whether top-level package ``name`` is imported, from ``folder``."""
    location = _origin(sys.modules.get(name))
    return location is not None and os.path.dirname(location) == folder


def _new_threads(before: frozenset[int]) -> list[ThreadRef]:
    new = current_frames().keys() - before
    if not new:
        return []  # the usual case, after each import of a start with hundreds of plugins
    by_ident = {t.ident: t for t in threading.enumerate()}
    started = []
    for ident in new:
        thread = by_ident.get(ident)
        if thread is None:
            started.append(ThreadRef(ident, f"<thread {ident}>", True))
        elif not thread.name.startswith(_HELPER_PREFIX):
            started.append(ThreadRef(ident, thread.name, thread.daemon))
    return started


def _running(tracked: dict[int, ThreadRef], prefixes: tuple[str, ...]) -> dict[int, str | None]:
    """Live threads that are tracked or inside code under ``prefixes``: ident to where."""
    frames = current_frames()
    # This thread's own frame, bound to a local here, would hold itself in a cycle, and with
    # it its callers' frames and everything they hold (the versions just retired, until the
    # next full collection).
    frames.pop(threading.get_ident())
    found: dict[int, str | None] = {}
    for ident, frame in frames.items():
        where = _plugin_frame(frame, prefixes) if prefixes else None
        if where is not None or ident in tracked:
            found[ident] = where
    return found


def _plugin_frame(frame: types.FrameType | None, prefixes: tuple[str, ...]) -> str | None:
    """``file:line`` of the innermost frame running code under ``prefixes``."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(prefixes):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _thread_text(ident: int, where: str | None, tracked: dict[int, ThreadRef]) -> str:
    ref = tracked.get(ident)
    if ref is None:
        thread = next((t for t in threading.enumerate() if t.ident == ident), None)
        name = thread.name if thread is not None else f"<thread {ident}>"
        daemon = thread.daemon if thread is not None else True
    else:
        name, daemon = ref.name, ref.daemon
    kind = "daemon thread" if daemon else "non-daemon thread (it keeps the process from exiting)"
    at = f" at {where}" if where else ""
    return f"{kind} {name!r} still running{at}"
