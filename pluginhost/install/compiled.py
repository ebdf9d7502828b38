"""The bytecode of a plugin's entry point modules, read back by the site writer that compiled it.

The site writer compiles every module of a site dir it writes, so that the host's import writes
nothing. With its answer it also sends the host the bytecode of the modules the plugin's entry
points name: the host's first import of those modules then opens, stats and lists no file
(:mod:`pluginhost.load.compiled`). On a host whose threads call hooks without pause, each
system call of a swap waits for the interpreter lock again, a switch interval (5 ms) or more:
a package's import from a new site dir made about twenty of them.

Only a module the import system would load from that very source file is sent: not one that an
extension module of the same name shadows, nor one without a source file.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final, NamedTuple

from ..discover.candidates import is_dotted_name
from ..model.candidate import EntryPoint

__all__ = ["LIMIT", "Compiled", "entry_modules", "read_compiled"]

#: At most this many bytes of bytecode go with one answer; a plugin's other entry modules are
#: imported from their files, as any module is.
LIMIT: Final = 256 * 1024


class Compiled(NamedTuple):
    """One module's bytecode, as its ``.pyc`` file holds it.

    A named tuple rather than an attrs class: this module is imported by every host, and an
    attrs class costs its import about 0.4 ms (it compiles the class's methods).

    :param module: the module's full name.
    :param path: its source file, relative to the site dir, with ``/`` between the parts.
    :param pyc: the ``.pyc`` file's bytes: header and marshalled code.
    """

    module: str
    path: str
    pyc: bytes

    @property
    def is_package(self) -> bool:
        return self.path.endswith("/__init__.py")


def entry_modules(entry_points: Iterable[EntryPoint]) -> tuple[str, ...]:
    """The modules ``entry_points`` name, with their parent packages, parents first.

    A name that is not a dotted Python name is left out (its import fails as it would).
    """
    found: dict[str, None] = {}
    for ep in entry_points:
        module = ep.value.partition(":")[0].strip()
        if not is_dotted_name(module):
            continue
        parts = module.split(".")
        for end in range(1, len(parts) + 1):
            found[".".join(parts[:end])] = None
    return tuple(found)


def read_compiled(site: Path, modules: Iterable[str], optimize: int) -> tuple[Compiled, ...]:
    """The bytecode written in ``site`` for ``modules``, as much as :data:`LIMIT` allows.

    A module is left out when it has no source file or no bytecode there, or when another
    file of its name would be imported instead (an extension module).
    """
    level = "" if optimize == 0 else optimize
    found: list[Compiled] = []
    size = 0
    for module in modules:
        try:
            path = _source_of(site, module.split("."))
            if path is None:
                continue
            cached = importlib.util.cache_from_source(os.path.join(site, path), optimization=level)
            with open(cached, "rb") as file:
                pyc = file.read(LIMIT - size + 1)
        except OSError:
            # Not compiled (a syntax error), or unreadable: imported from its files, whose
            # import says why if it fails.
            continue
        if size + len(pyc) > LIMIT:
            break
        size += len(pyc)
        found.append(Compiled(module, path, pyc))
    return tuple(found)


def _source_of(site: Path, parts: list[str]) -> str | None:
    """The source file, relative to ``site``, that a path finder would import ``parts`` from
    (as ``FileFinder`` looks: a package first, then a module), or ``None`` when that is not a
    source file."""
    folder = site.joinpath(*parts[:-1])
    name = parts[-1]
    package = folder / name
    if package.is_dir():
        if _shadowed(package / "__init__"):
            return None
        if (package / "__init__.py").is_file():
            return "/".join([*parts, "__init__.py"])
        # A folder with no __init__.py: a namespace portion, unless a module beside it wins.
    if _shadowed(folder / name):
        return None
    if (folder / f"{name}.py").is_file():
        return "/".join([*parts[:-1], f"{name}.py"])
    return None


def _shadowed(stem: Path) -> bool:
    """Whether an extension module named ``stem`` exists: it is imported before a source."""
    return any(
        stem.with_name(stem.name + suffix).exists()
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
