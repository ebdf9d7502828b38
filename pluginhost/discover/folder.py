"""The wheel-folder source: the ``*.whl`` files of a folder, each read as one candidate, one
dependency wheel or one problem naming the file."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import operator
import os
import stat
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs

from ..model.errors import ManifestError, PluginHostError, WheelError
from ..model.frozen import frozen
from ..model.pacing import paced
from ..model.problems import READ_FAILED, Problem, ProblemKind
from ..state import held_stat
from ..state.regular import kind_of
from .archive import WheelLimits
from .candidates import candidate_from_wheel, inspect_plugin_wheel
from .sources import Scan

__all__ = [
    "SDIST_SUFFIXES",
    "WheelFolderSource",
    "is_sdist",
    "problem_from",
    "read_wheel",
    "sdist_problem",
    "unexpected",
    "unlisted_problem",
]

#: The file names of source distributions (PEP 625's ``.tar.gz``, and the older ``.zip``).
SDIST_SUFFIXES: Final = (".tar.gz", ".zip")
#: A path's text split as ``PurePosixPath`` compares paths: by their parts.
_PARTS: Final = operator.methodcaller("split", os.sep)

logger = logging.getLogger("pluginhost")

#: Told each subfolder a walk could not list, and why.
Unlisted = Callable[[str, OSError], None]


@frozen
class WheelFolderSource:
    """The wheels in one folder (and its subfolders, down to ``max_depth``).

    :param path: the folder.
    :param include: glob patterns a file name must match.
    :param exclude: glob patterns that exclude a file name.
    :param max_depth: how many levels of subfolders to enter (0: the folder only).
    :param follow_symlinks: enter symlinked folders and read symlinked wheels.
    :param limits: the archive limits applied while reading.
    :param offers: which of the folder's wheels are offered (a package index's cache: see
        :class:`~pluginhost.IndexSource`); ``None``: every one.
    """

    path: Path = attrs.field(converter=Path)
    include: tuple[str, ...] = ("*.whl",)
    exclude: tuple[str, ...] = ()
    max_depth: int = 0
    follow_symlinks: bool = False
    limits: WheelLimits = WheelLimits()
    offers: Callable[[Path], bool] | None = attrs.field(default=None, eq=False, repr=False)

    def wheel_paths(self, unlisted: Unlisted | None = None) -> list[Path]:
        """The wheel files this source would read (and the source distributions it reports),
        sorted.

        :param unlisted: called with each subfolder that could not be listed (its path too
            long for the system, its permissions taken back) and the error; without it, the
            error is raised.
        """
        return list(self.each_wheel_path(unlisted))

    def each_wheel_path(self, unlisted: Unlisted | None = None) -> Iterator[Path]:
        """:meth:`wheel_paths`, each made a ``Path`` as it is asked for: a full look among a
        thousand wheels made and sorted a thousand ``Path`` objects in one go, holding the
        interpreter lock for milliseconds. The listing paces itself (model/pacing.py), the
        text is sorted as paths sort (by their parts, in C), and the reader paces itself
        between wheels."""
        walked = _Walked(str(self.path)) if self.follow_symlinks else None
        walk = self._walk(walked, unlisted)
        paths = map(Path, sorted(paced(walk), key=_PARTS))
        return paths if self.offers is None else filter(self.offers, paths)

    def _walk(self, walked: _Walked | None, unlisted: Unlisted | None) -> Iterator[str]:
        # A stack of folders to list, not a generator per level: a chain of a thousand nested
        # subfolders (with a max_depth as high) raised RecursionError out of a host's start
        # and of every rescan. The order does not matter: the paths are sorted.
        stack = [(str(self.path), 0)]
        while stack:
            folder, depth = stack.pop()
            for entry in self._entries(folder, unlisted):
                if entry.is_symlink() and not self.follow_symlinks:
                    continue
                if entry.is_dir() and depth < self.max_depth:
                    if walked is None or walked.first(entry):
                        stack.append((entry.path, depth + 1))
                elif self.wanted(entry.name):
                    # Whatever it is: a FIFO, a device or a folder named like a wheel is
                    # refused when read (opened without blocking), not skipped without a word.
                    yield entry.path

    def _entries(self, folder: str, unlisted: Unlisted | None) -> list[os.DirEntry[str]]:
        try:
            return list(os.scandir(folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            # The watched folder's own access is checked before a look; a subfolder that
            # cannot be listed (a path longer than the system takes) hides its wheels, not
            # the folder's others.
            if unlisted is None or folder == str(self.path):
                raise
            unlisted(folder, exc)
            return []

    def listed(self, path: Path) -> os.stat_result | None:
        """The ``lstat`` of ``path``, a direct child of the folder, if :meth:`wheel_paths`
        lists it (used when an event names it); ``None`` if it does not."""
        if path.parent != self.path or not self.wanted(path.name):
            return None
        if self.offers is not None and not self.offers(path):
            return None
        try:
            st = held_stat.lstat(path, str(self.path))
        except OSError:
            return None
        return st if self.follow_symlinks or not stat.S_ISLNK(st.st_mode) else None

    def wanted(self, filename: str) -> bool:
        """Whether a file of this name is a wheel this source reads, or a source distribution
        it reports (see :func:`sdist_problem`)."""
        if filename.startswith("."):
            return False
        if is_sdist(filename):
            return not any(fnmatch.fnmatch(filename, pattern) for pattern in self.exclude)
        if not filename.endswith(".whl"):
            return False
        if not any(fnmatch.fnmatch(filename, pattern) for pattern in self.include):
            return False
        return not any(fnmatch.fnmatch(filename, pattern) for pattern in self.exclude)

    def scan(self, group: str) -> Scan:
        """Read every wheel; bad ones become problems, non-plugins dependency wheels."""
        unlisted: list[Problem] = []
        paths = self.wheel_paths(lambda folder, exc: unlisted.append(unlisted_problem(folder, exc)))
        scans = [read_wheel(path, group, self.limits) for path in paths]
        return Scan.joined([*scans, Scan(problems=tuple(unlisted))])


def unlisted_problem(folder: str, exc: OSError) -> Problem:
    """The report of a subfolder of a watched folder that could not be listed."""
    reason = f"cannot be listed: {exc.strerror or exc}"
    return Problem(ProblemKind.FOLDER_UNAVAILABLE, None, f"{folder}: {reason}", path=folder)


def is_sdist(filename: str) -> bool:
    """Whether a file of this name is a source distribution (``.tar.gz``, ``.zip``)."""
    return filename.endswith(SDIST_SUFFIXES)


def sdist_problem(path: Path) -> Problem:
    """The report of a source distribution in a watched folder, made from its name alone.

    It is never opened: building it would run its build backend's code, and a FIFO or a
    device under such a name would block or never end (its kind is named instead).
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        reason = f"cannot be looked at: {exc.strerror}"
    else:
        reason = (
            "source distributions are not built; build a wheel (python -m build --wheel, or "
            "pip wheel --no-deps) and put the wheel here"
            if stat.S_ISREG(mode)
            else f"is {kind_of(mode)} named like a source distribution; it is not read"
        )
    return Problem(
        ProblemKind.SOURCE_DISTRIBUTION, None, f"{path}: {reason}", version=None, path=str(path)
    )


def read_wheel(path: Path, group: str, limits: WheelLimits = WheelLimits()) -> Scan:
    """Read one wheel file as a :class:`Scan` of at most one candidate (a source distribution:
    its problem, unread)."""
    if is_sdist(path.name):
        return Scan(problems=(sdist_problem(path),))
    try:
        inspection = inspect_plugin_wheel(path, limits)
        candidate = candidate_from_wheel(inspection, group, limits)
    except (WheelError, ManifestError) as exc:
        return Scan(problems=(problem_from(exc, path),))
    except Exception as exc:
        return Scan(problems=(problem_from(unexpected(exc, path), path),))
    if candidate is None:
        return Scan(support=(inspection.info,))
    return Scan(candidates=(candidate,))


def problem_from(exc: PluginHostError, path: Path) -> Problem:
    kind = (
        ProblemKind.MANIFEST_INVALID
        if isinstance(exc, ManifestError)
        else ProblemKind.WHEEL_INVALID
    )
    return Problem(kind, exc.plugin, str(exc), path=exc.path or str(path))


def unexpected(exc: Exception, path: Path) -> WheelError:
    """The refusal of a wheel whose reading failed with an error no check expected.

    One file must never stop a look at the others, nor a host's start: the file is refused
    like an invalid one, naming it, and the error is logged with its traceback, since it is a
    bug of pluginhost (or of a library it uses) to report.
    """
    # As text: a kept exception would keep the validation's frames and the bytes they read.
    trace = "".join(traceback.format_exception(exc))
    logger.error("reading %s failed unexpectedly, refused:\n%s", path, trace)
    text = str(exc)
    text = text if len(text) <= 200 else text[:200] + "..."
    reason = f"{READ_FAILED} ({type(exc).__name__}: {text})"
    return WheelError(reason, path=path)


class _Walked:
    """The folders a walk that follows links went into, by identity: a link back up the tree
    (``a -> .``) is a loop, and two such links listed every wheel under 2**depth paths (30 s
    for a start at ``max_depth=12``). A folder reached twice is walked once."""

    def __init__(self, root: str) -> None:
        self._seen: set[tuple[int, int]] = set()
        with contextlib.suppress(OSError):  # gone: the walk finds nothing either
            st = os.stat(root)
            self._seen.add((st.st_dev, st.st_ino))

    def first(self, entry: os.DirEntry[str]) -> bool:
        """Whether ``entry``'s folder (its link followed) was not walked yet; it counts as
        walked from now on."""
        try:
            st = entry.stat()
        except OSError:
            return False  # gone, or a link that leads nowhere now: nothing to walk
        key = (st.st_dev, st.st_ino)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True
