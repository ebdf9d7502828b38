"""semver's ``Version`` class, imported without semver's command line.

semver's package ``__init__`` imports its command line (``semver.cli``, and with it
``argparse``) whatever one imports from the package, which every application importing
pluginhost would pay at each start (issue 13). The class lives in ``semver.version``, whose own
imports are the standard library and ``semver._types``; so that module is imported under a
package object that is not run, and that object is taken out again. A later ``import semver``,
by the application or a plugin, runs semver's ``__init__`` as usual, and its
``from .version import Version`` finds the module already imported: both see one class.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING

__all__ = ["SemVer"]


def _version_module() -> types.ModuleType:
    """``semver.version``, its package's ``__init__`` not run unless something else ran it."""
    loaded = sys.modules.get("semver.version")
    if loaded is not None or "semver" in sys.modules:
        return loaded or importlib.import_module("semver.version")
    spec = importlib.util.find_spec("semver")
    if spec is None or spec.submodule_search_locations is None:
        return importlib.import_module("semver.version")  # raises the usual ImportError
    # Another thread importing semver meanwhile must not take the stand-in for the package:
    # the import system's own lock of the name is held, and the stand-in is marked as being
    # initialized, so that such a thread waits for the lock. What it may still hold then
    # (CPython's import statement keeps the object it found before waiting) forwards every
    # attribute to the package imported for real.
    with _module_lock("semver"):
        if "semver" in sys.modules:
            return importlib.import_module("semver.version")
        package = importlib.util.module_from_spec(spec)
        setattr(package, "__getattr__", _forwarded)  # noqa: B010 (a module's __getattr__)
        setattr(spec, "_initializing", True)  # noqa: B010 (read by the import system only)
        sys.modules["semver"] = package
        try:
            return importlib.import_module("semver.version")
        finally:
            # The package's real import, when it comes, builds its module anew and takes
            # the submodules already loaded.
            setattr(spec, "_initializing", False)  # noqa: B010
            if sys.modules.get("semver") is package:
                del sys.modules["semver"]


def _forwarded(name: str) -> object:
    """An attribute of the stand-in package, taken from semver's package proper."""
    package = importlib.import_module("semver")
    if getattr(package, "__getattr__", None) is _forwarded:
        raise AttributeError(f"module 'semver' has no attribute {name!r} yet")
    return getattr(package, name)


def _module_lock(name: str) -> contextlib.AbstractContextManager[object]:
    manager = getattr(importlib._bootstrap, "_ModuleLockManager", None)  # CPython 3.3 and later
    return manager(name) if manager is not None else contextlib.nullcontext()


if TYPE_CHECKING:
    from semver import Version as SemVer
else:
    SemVer = _version_module().Version
