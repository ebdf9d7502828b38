"""Importing a plugin's entry modules from the bytecode its site writer sent back.

The site writer compiles a site dir's modules and sends the host the bytecode of the modules
the entry points name (:mod:`pluginhost.install.compiled`). The host's finder gives those
modules a spec of its own (:func:`spec_of`): the same file names, package path and loader
methods as a path finder's, but a loader whose first :meth:`~CompiledLoader.get_code` is the
bytecode in hand. So their import makes no system call: no ``stat`` of the site dir, no
listing, no search of the suffixes, no read of the ``.pyc``. Anything else (the source for a
traceback, a resource, a reload) comes from the files, as for any module.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import marshal
import os
import types
from importlib.machinery import ModuleSpec
from typing import Final

from ..install.compiled import Compiled

__all__ = ["CompiledLoader", "spec_of"]

#: A ``.pyc`` header: magic, flags, then two words that the flags say the meaning of.
_HEADER: Final = 16


class CompiledLoader(importlib.machinery.SourceFileLoader):
    """A source file loader that has its module's bytecode in hand for the first import."""

    def __init__(self, fullname: str, path: str, pyc: bytes) -> None:
        super().__init__(fullname, path)
        self._pyc: bytes | None = pyc

    def get_code(self, fullname: str) -> types.CodeType | None:
        pyc, self._pyc = self._pyc, None
        if pyc is not None and fullname == self.name:
            code = _code_of(pyc)
            # The writer compiled it under this file's name (its tracebacks name it); under
            # another spelling of the path, the files are read, and name it as they do.
            if code is not None and code.co_filename == self.path:
                return code
        return super().get_code(fullname)

    # FileLoader compares loaders by their attributes: the bytecode in hand is not one.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledLoader) and (self.name, self.path) == (
            other.name,
            other.path,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.path))


def spec_of(compiled: Compiled, root: str) -> ModuleSpec:
    """The spec a path finder would give ``compiled``'s module in the site dir ``root``, with a
    :class:`CompiledLoader`."""
    origin = os.path.join(root, *compiled.path.split("/"))
    loader = CompiledLoader(compiled.module, origin, compiled.pyc)
    locations = [os.path.dirname(origin)] if compiled.is_package else None
    spec = importlib.util.spec_from_file_location(
        compiled.module, origin, loader=loader, submodule_search_locations=locations
    )
    assert spec is not None  # a loader was given
    return spec


def _code_of(pyc: bytes) -> types.CodeType | None:
    """The code of a ``.pyc`` file's bytes written by this Python; ``None`` otherwise (the
    files are read then, as without)."""
    if len(pyc) < _HEADER or pyc[:4] != importlib.util.MAGIC_NUMBER:
        return None
    try:
        code = marshal.loads(memoryview(pyc)[_HEADER:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None
