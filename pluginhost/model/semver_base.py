"""semver's ``Version`` class, imported without semver's command line.

semver's package ``__init__`` imports its command line (``semver.cli``, and with it
``argparse``) whatever one imports from the package, which every application importing
pluginhost would pay at each start (issue 13). The class lives in ``semver.version``, whose own
imports are the standard library and ``semver._types``.

So the package's module is made from its spec and put in ``sys.modules`` without running its
``__init__``, and ``semver.version`` is imported under it. The ``__init__`` runs, in that same
module, the first time anyone asks the package for a name it does not have yet
(``semver.Version``, ``from semver import main``): the application, a plugin or another thread
then gets semver whole, with one ``Version`` class shared with pluginhost, and
``semver.version`` is the submodule it always was. Until then only ``vars(semver)`` shows
the difference.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for a signature: the module imports importlib.resources, tempfile and random (7 ms
    # of a start here).
    import importlib.abc

__all__ = ["SemVer"]


class _Completion:
    """A package's ``__getattr__`` that runs the package's ``__init__`` at the first name asked
    for, then gives that name."""

    def __init__(self, package: types.ModuleType, loader: importlib.abc.Loader) -> None:
        self._package = package
        self._loader = loader
        self._lock = threading.RLock()
        self._running = False

    def __call__(self, name: str) -> object:
        namespace = vars(self._package)
        with self._lock:  # another thread waits until the package is whole
            if self._running:
                # The __init__ itself asks (`from . import cli` looks for the name before it
                # imports the submodule): not there yet, as in any package being imported.
                raise AttributeError(name)
            if namespace.get("__getattr__") is self:
                self._running = True
                try:
                    self._loader.exec_module(self._package)
                finally:
                    self._running = False
                if namespace.get("__getattr__") is self:
                    del namespace["__getattr__"]
        try:
            return namespace[name]
        except KeyError:
            raise AttributeError(f"module 'semver' has no attribute {name!r}") from None


def _version_module() -> types.ModuleType:
    """``semver.version``, its package's ``__init__`` not run unless something else ran it."""
    if "semver" not in sys.modules:
        spec = importlib.util.find_spec("semver")
        if spec is not None and spec.loader is not None and spec.submodule_search_locations:
            package = importlib.util.module_from_spec(spec)
            setattr(package, "__getattr__", _Completion(package, spec.loader))  # noqa: B010
            # Another thread may have imported semver meanwhile: its module is kept.
            sys.modules.setdefault("semver", package)
    return importlib.import_module("semver.version")


if TYPE_CHECKING:
    from semver import Version as SemVer
else:
    SemVer = _version_module().Version
