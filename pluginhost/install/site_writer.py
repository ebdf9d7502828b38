"""Writing a site dir from wheel bytes validated already: staged, stamped, renamed into place.

This is the part of an install that only writes. It runs in the host's process, or in the
helper process the host keeps (:mod:`.writer_process`), which is given a :class:`SiteJob` and
nothing else: the wheels were read, hashed and validated by the host before.

A site dir appears whole, by one rename, or not at all: it is written as a work dir under
``staging_root``, renamed into place, and removed whatever happens when it was not.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import io
import logging
import os
import py_compile
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs

from ..model.errors import InstallError, PluginHostError, WheelError
from ..model.frozen import frozen
from ..state import fs
from ..state.faults import crash_point

__all__ = [
    "COMPILE_MAX_SOURCE",
    "COMPILE_SECONDS",
    "STAMP",
    "SiteJob",
    "SiteWrite",
    "StagedWheel",
    "WriteAhead",
    "compile_site",
    "disk_errors",
    "load_installer",
    "write_site",
]

logger = logging.getLogger(__name__)

#: Where a site dir holds the full sha256 of its plugin's wheel.
STAMP: Final = ".pluginhost/wheel.sha256"
#: Seconds of compiling a site dir's modules at most; those left are compiled by their import.
#: Far under the host's deadline for the writer's answer (two minutes), with the largest file
#: compiled below: about 2 s per MB for the worst source, lines of ``x = 1``.
COMPILE_SECONDS: Final = 10.0
#: A module's source larger than this is left to its import: compiling it alone could take
#: most of :data:`COMPILE_SECONDS`.
COMPILE_MAX_SOURCE: Final = 4 * 1024 * 1024
# Failures of a fresh, private site dir that come from the member names, not from the disk:
# validation refuses such names; a path that outgrows PATH_MAX under a deep home is the rest.
_CANNOT_HOLD: Final = frozenset({errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST})


@frozen
class StagedWheel:
    """One validated wheel to write.

    :param original: the wheel file the caller named, named in errors (installer also reads
        the distribution's name and version from it).
    :param contents: the validated bytes, or for a wheel too large to hold, its private copy.
    """

    original: Path
    contents: bytes | Path = attrs.field(repr=False)


@frozen
class WriteAhead:
    """With a read of a wheel: write the site dir of the plugin it offers to ``group``, as its
    install would, under ``site_root`` (staged under ``staging_root``)."""

    group: str
    site_root: Path
    staging_root: Path


@frozen
class SiteJob:
    """What to write: the plugin's wheel first, then the wheels installed beside it.

    :param wheels: the wheels, validated already.
    :param staging_root: where the work dir is made (and always removed again).
    :param target: the site dir to publish; its name is the plugin's, version's and hash's.
    :param plugin: the plugin, named in errors.
    :param version: the plugin's version, for the ``before_publish`` crash point.
    :param sha256: the plugin wheel's digest, stamped inside the site dir.
    :param compile: also write each module's bytecode, as the host's import would (its
        optimization level), so that the host's first import writes nothing.
    :param preload: modules whose bytecode the site writer sends back with its answer
        (:mod:`.compiled`): those the plugin's entry points name.
    """

    wheels: tuple[StagedWheel, ...]
    staging_root: Path
    target: Path
    plugin: str
    version: str
    sha256: str
    compile: bool = False
    optimize: int = 0
    preload: tuple[str, ...] = ()


#: Writes a job's site dir; ``True`` when an identical one got there first.
SiteWrite = Callable[[SiteJob], bool]


def load_installer() -> None:
    """Import what writing a site dir needs, ahead of the first job (the site writer does so
    before it says it is ready: its first job then waits for no import)."""
    import installer.sources  # noqa: F401

    from . import destination  # noqa: F401


def write_site(job: SiteJob) -> bool:
    """Write ``job``'s site dir; ``True`` when an identical one got there first.

    :raises WheelError: when installer refuses a wheel (whatever it raised), or a member
        cannot be held here: the same bytes would fail the same way at every install.
    :raises InstallError: when the file system fails the install.
    """
    first = job.wheels[0].original
    with disk_errors("cannot make a staging dir", job.plugin, first):
        fs.make_dirs(job.staging_root)
        # The work dir is the site dir itself, published by one rename: a work dir holding
        # it cost a directory made and removed at each install (0.2-0.6 ms on a slow disk).
        site = fs.make_temp_dir(job.staging_root, "install-")
    try:
        for wheel in job.wheels:
            _install(wheel, site, job.plugin, alone=wheel is job.wheels[0])
        with disk_errors("cannot stamp the site dir", job.plugin, first):
            # Private already: every file and directory was made so (install/destination.py).
            _write_stamp(site, job.sha256, job.plugin, first)
        if job.compile:
            failed = compile_site(site, job.optimize, job.target)
            if failed:
                logger.debug(
                    "%d modules of %s not compiled (a syntax error, or past the compile budget):"
                    " their import compiles them",
                    failed,
                    job.plugin,
                )
        crash_point("before_publish", job.version)
        # One rename makes the site dir appear whole; a concurrent install may have won.
        with disk_errors("cannot move the site dir into place", job.plugin, first):
            return _publish(site, job.target)
    finally:
        # Any half-written site goes, whatever happened (after its rename, nothing is left).
        _remove_staging(site)


def compile_site(site: Path, optimize: int, shown: Path | None = None) -> int:
    """Write the bytecode of the modules under ``site`` (not under ``.pluginhost``), the
    smallest first, within :data:`COMPILE_SECONDS` and up to :data:`COMPILE_MAX_SOURCE` bytes
    of source each: the rest is compiled by its import, if it is ever imported.

    Compiling is the one step of a write whose cost the wheel's size does not bound: a wheel
    of 9 kB held 7 MB of ``x = 1`` lines, which took 8.7 s to compile; a wheel of about a
    megabyte holding a hundred such modules would take minutes (an estimate), past the host's
    deadline for the writer's answer.

    :param shown: where ``site`` is imported from, when it is renamed there after: the code's
        file names (in tracebacks) name it, so that its bytecode can be used as it is.

    :returns: how many modules were not compiled. Such a module is left to its import, which
        raises its ``SyntaxError`` where the plugin is loaded (a wheel may ship modules for
        other Pythons that are never imported, as pip's own compile step allows).
    """
    failed = 0
    level = "" if optimize == 0 else optimize
    until = time.monotonic() + COMPILE_SECONDS
    for size, source in sorted(_sources(site)):
        if size > COMPILE_MAX_SOURCE or time.monotonic() > until:
            failed += 1
            continue
        target = importlib.util.cache_from_source(source, optimization=level)
        dfile = None if shown is None else os.path.join(shown, os.path.relpath(source, site))
        try:
            py_compile.compile(
                source,
                cfile=target,
                dfile=dfile,
                doraise=True,
                optimize=optimize,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        except (py_compile.PyCompileError, OSError, ValueError):
            failed += 1
    return failed


def _sources(site: Path) -> Iterator[tuple[int, str]]:
    """Each module's source file under ``site`` (not under ``.pluginhost``), with its size."""
    for folder, dirs, files in os.walk(site):
        if folder == str(site):
            dirs[:] = [d for d in dirs if d != ".pluginhost"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):  # gone: nothing to compile
                    yield os.lstat(path).st_size, path


@contextlib.contextmanager
def disk_errors(action: str, plugin: str, original: Path) -> Iterator[None]:
    """Tell a file system's refusal during ``action`` as an :class:`InstallError`."""
    try:
        yield
    except PluginHostError:
        raise
    except OSError as exc:
        raise InstallError(f"{action}: {fs.describe(exc)}", plugin=plugin, path=original) from exc


def _install(wheel: StagedWheel, site: Path, plugin: str, *, alone: bool) -> None:
    """Install one validated wheel into ``site`` with installer, from the bytes validated.

    :param alone: ``site`` holds nothing of another wheel yet: a file there is this one's.
    """
    # Imported here: a host that restores its plugins from their site dirs never needs it.
    from installer import install
    from installer.exceptions import InstallerError
    from installer.sources import WheelFile

    from .destination import private_destination

    destination = private_destination(_scheme_dict(site), sys.executable)
    try:
        with _open_archive(wheel) as archive:
            source = WheelFile(archive)
            # Validation hashed every member of these very bytes against RECORD, with a strong
            # hash: installer hashing them again (by writing each to /dev/null, six system calls
            # a member, 120 us for a small wheel) would prove nothing more. Its checks of names
            # and rows stay: they refuse a few rows our validation lets through.
            source.validate_record(validate_contents=False)
            install(source, destination, {"INSTALLER": b"pluginhost\n"})
    except FileExistsError as exc:
        if not alone:
            # Another wheel's file, maybe: a new version of that one may not clash.
            raise InstallError(
                f"installing failed: {fs.describe(exc)}", plugin=plugin, path=wheel.original
            ) from exc
        # The work dir is fresh and private: a file there already is one of the wheel's own
        # (a script named like a member), whatever errno installer gave it (none).
        raise WheelError(
            f"two of its files install to one path: {fs.describe(exc)}",
            plugin=plugin,
            path=wheel.original,
        ) from exc
    except OSError as exc:
        if exc.errno in _CANNOT_HOLD:
            # No retry makes room for this path here: refused for good, like at validation.
            raise WheelError(
                f"the file system cannot hold a member here: {fs.describe(exc)}",
                plugin=plugin,
                path=wheel.original,
            ) from exc
        raise InstallError(
            f"installing failed: {fs.describe(exc)}", plugin=plugin, path=wheel.original
        ) from exc
    except (InstallerError, ValueError, zipfile.BadZipFile) as exc:
        raise WheelError(
            f"refused by installer: {exc}", plugin=plugin, path=wheel.original
        ) from exc
    except Exception as exc:
        # What validation let through and installer cannot take (its asserts, configparser's
        # errors): the same bytes fail the same way, so it is the wheel's refusal, typed.
        raise WheelError(
            f"refused by installer: {type(exc).__name__}: {exc}",
            plugin=plugin,
            path=wheel.original,
        ) from exc


def _open_archive(wheel: StagedWheel) -> zipfile.ZipFile:
    """The validated wheel as a zip, named as the original (installer parses the file name)."""
    contents = wheel.contents
    archive = zipfile.ZipFile(io.BytesIO(contents) if isinstance(contents, bytes) else contents)
    archive.filename = str(wheel.original)
    return archive


def _scheme_dict(site: Path) -> dict[str, str]:
    # Only the import root is importable: ".pluginhost" is not a valid module name, so data
    # and headers under it cannot shadow or be imported as modules. Scripts go to bin/, where
    # `pip install --target` puts them and where the packages that ship an executable look for
    # it beside their package (uv's find_uv_bin, ruff's find_ruff_bin); no site dir serves a
    # top-level name a wheel does not declare (discover/metadata.py: find_top_level), so bin/
    # is not importable.
    hidden = site / ".pluginhost"
    return {
        "purelib": str(site),
        "platlib": str(site),
        "scripts": str(site / "bin"),
        "data": str(hidden / "data"),
        "headers": str(hidden / "headers"),
    }


def _write_stamp(site: Path, sha256: str, plugin: str, original: Path) -> None:
    stamp = site / STAMP
    try:
        fs.make_dirs(stamp.parent)
        fd = fs.open_new(stamp)
    except (FileExistsError, NotADirectoryError) as exc:
        # Only a member of the wheel put it there: every install of these bytes would fail.
        raise WheelError(
            f"a member of it is where the site dir's stamp goes ({STAMP})",
            plugin=plugin,
            path=original,
        ) from exc
    try:
        fs.write(fd, sha256.encode("ascii") + b"\n", stamp)
    finally:
        os.close(fd)


def _remove_staging(site: Path) -> None:
    """Remove what is left of a work dir; after a published install nothing is, which one
    ``lstat`` tells (a tree walk is a dozen system calls, each a wait for the interpreter
    lock under busy callers, when the host writes a site itself)."""
    if os.path.lexists(site):
        shutil.rmtree(site, ignore_errors=True)


def _publish(site: Path, target: Path) -> bool:
    """Rename the staged site into place; ``True`` when an identical one got there first.

    When ``site/`` is another file system than ``staging/`` (a mount of its own), the staged
    site is copied next to ``target`` first, so that the rename that publishes it stays one
    atomic step on one file system. A crash mid-copy leaves a dot-dir in ``site/`` that the
    next start prunes, as it prunes every site dir nothing names.
    """
    fs.make_dirs(target.parent)
    try:
        fs.rename(site, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV or target.is_dir():
            return _lost_race(target, exc)
        near = fs.make_temp_dir(target.parent, f".{target.name}.incoming-")
        try:
            fs.copy_tree(site, near / "site")
            fs.rename(near / "site", target)
        except OSError as again:
            return _lost_race(target, again)
        finally:
            shutil.rmtree(near, ignore_errors=True)
    return False


def _lost_race(target: Path, exc: OSError) -> bool:
    # Same name means same bytes: a concurrent install's dir is as good as ours.
    if target.is_dir():
        return True
    raise exc
