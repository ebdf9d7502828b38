"""The environment source: distributions installed in the host's environment that declare an
entry point in the host's group, read from their metadata directories without importing them."""

from __future__ import annotations

import csv
import importlib.machinery
import importlib.metadata
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

import attrs

from ..model.candidate import Candidate, EntryPoint, InstalledOrigin
from ..model.errors import ManifestError
from ..model.frozen import frozen
from ..model.manifest import MAX_MANIFEST_SIZE, Manifest
from ..model.problems import Problem, ProblemKind
from ..state.regular import NotRegularFileError, read_small
from .candidates import default_plugin_name, unit_entry_points, unit_manifest_member
from .core_headers import core_headers
from .sources import Scan

if TYPE_CHECKING:
    # Never imported here: importing the backport puts its finder on ``sys.meta_path`` and
    # takes the standard library's out, a change to the host application's imports that
    # discovery has no business making; and it cost 10 to 20 ms of every start (issue 13).
    import importlib_metadata

#: A distribution of the standard library's ``importlib.metadata`` or, when the application
#: imported it, of the backport's finder: the two have the same interface and no common base.
_Distribution: TypeAlias = "importlib.metadata.Distribution | importlib_metadata.Distribution"

logger = logging.getLogger("pluginhost")

__all__ = ["EnvironmentSource"]


#: Seconds within which a directory's mtime is too recent to vouch for its contents: a second
#: change in the same clock tick would leave it as it is.
_RACY: Final = 2.0


@frozen
class EnvironmentSource:
    """Distributions installed in the environment (``sys.path`` unless ``path`` is given).

    A scan is kept and reused while the list of path entries and each entry's modification
    time stay the same: installing, upgrading or removing a distribution adds or removes a
    ``.dist-info`` directory there, which changes that time. Editing a file inside an existing
    ``.dist-info`` directory does not, and is seen at the next start.
    """

    path: tuple[str, ...] | None = None
    _kept: dict[str, tuple[tuple[tuple[str, int | None], ...], Scan]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    def scan(self, group: str) -> Scan:
        """Read the entry points of ``group`` and their manifests, importing nothing."""
        # Reading the installed distributions costs 10 to 40 us each: on every folder change,
        # with hundreds installed, that would dominate the time a swap takes.
        stamp = _path_stamp(self.path if self.path is not None else tuple(sys.path))
        kept = self._kept.get(group)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        scan = self._read(group)
        if _settled(stamp):
            self._kept[group] = (stamp, scan)
        return scan

    def _read(self, group: str) -> Scan:
        found: dict[str, _Found] = {}
        unreadable: list[Problem] = []
        for installed in self._installed():
            # One distribution whose metadata cannot be read (not UTF-8, say) is a problem
            # naming it, never the end of the look: the other plugins load all the same.
            try:
                entry = _in_group(installed, group)
            except Exception as exc:
                unreadable.append(_unreadable(_where(installed), exc))
                continue
            if entry is not None:
                found.setdefault(entry[1].name, entry)
        scans = [_guarded_read(*found[key]) for key in sorted(found)]
        return Scan(
            tuple(c for scan in scans for c in scan.candidates),
            (*unreadable, *(p for scan in scans for p in scan.problems)),
        )

    def _installed(self) -> Iterator[str | _Distribution]:
        """What ``importlib.metadata.distributions()`` finds, in its order: the metadata
        directory of each distribution in a plain directory of the path, the others as
        distributions.

        A plain directory is listed here, by the rules of importlib.metadata's own finder (its
        ``*.dist-info`` and ``*.egg-info`` entries, ``EGG-INFO`` in an ``*.egg`` directory):
        that finder made a ``pathlib.Path`` for each of them, a quarter of the time a start
        with a thousand distributions took to discover its plugins. A zip archive on the path
        and other finders' distributions still come from importlib.metadata.
        """
        entries = list(self.path) if self.path is not None else list(sys.path)
        listed = False
        for finder in list(sys.meta_path):
            if getattr(finder, "find_distributions", None) is None:
                continue
            if not _lists_path(finder):
                yield from _found_by(finder, entries)
            elif not listed:  # another finder of the path would find the same directories
                listed = True
                for entry in entries:
                    yield from _listed(entry)


def _path_stamp(entries: Sequence[str]) -> tuple[tuple[str, int | None], ...]:
    """Each path entry with its modification time (``None`` when it cannot be read)."""
    stamp = []
    for entry in entries:
        try:
            mtime: int | None = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = None
        stamp.append((entry, mtime))
    return tuple(stamp)


def _settled(stamp: Sequence[tuple[str, int | None]]) -> bool:
    """Whether no entry changed so recently that a change in the same tick could hide."""
    recent = time.time_ns() - int(_RACY * 1e9)
    return all(mtime is None or mtime < recent for _, mtime in stamp)


def _lists_path(finder: object) -> bool:
    """Whether ``finder`` finds distributions by listing the directories of the path."""
    # The backport's finder can be on the path only once something imported the backport.
    backport = sys.modules.get("importlib_metadata")
    if backport is not None and isinstance(finder, backport.MetadataPathFinder):
        return True
    return finder in (
        importlib.machinery.PathFinder,
        getattr(importlib.metadata, "MetadataPathFinder", None),
    )


def _listed(entry: str) -> Iterator[str | _Distribution]:
    """The metadata directories in one path entry, grouped by name as importlib.metadata
    groups them; a path entry that is no directory is left to importlib.metadata."""
    root = entry or "."
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return  # as python3XX.zip, often: importlib.metadata finds nothing there either
    except OSError:
        yield from _found_by(importlib.metadata.MetadataPathFinder, [entry])
        return
    in_egg = os.path.basename(root).lower().endswith(".egg")
    infos: dict[str, list[str]] = {}
    eggs = []
    prefix = os.path.join(entry, "")  # + name: os.path.join(entry, name), made once
    for name in names:
        low = name.lower()
        if low.endswith((".dist-info", ".egg-info")):
            key = _NAME_RUN.sub("_", low.rpartition(".")[0].partition("-")[0])
            infos.setdefault(key, []).append(prefix + name)
        elif in_egg and low == "egg-info":
            eggs.append(prefix + name)
    for folders in infos.values():
        yield from folders
    yield from eggs


#: Runs of the characters a distribution name normalizes away (PEP 503), as importlib.metadata
#: groups the metadata directories of one path entry by name.
_NAME_RUN: Final = re.compile(r"[-_.]+")


def _found_by(finder: Any, entries: list[str]) -> Iterator[_Distribution]:
    """The distributions ``finder`` finds on ``entries``."""
    context = importlib.metadata.DistributionFinder.Context(path=entries)
    return cast(Iterator[_Distribution], finder.find_distributions(context))


def _reader(dist: _Distribution) -> Callable[[str], str | None]:
    """A function reading one file of the distribution's metadata directory, or ``None``.

    For a distribution in a plain directory the file is read directly: ``read_text`` goes
    through pathlib, which costs three times as much, paid once per installed distribution.
    """
    folder = getattr(dist, "_path", None)
    if not isinstance(folder, Path):  # a zip archive's, or another finder's
        return dist.read_text
    return _folder_reader(os.fspath(folder))


def _folder_reader(base: str) -> Callable[[str], str | None]:
    """A function reading one file of the metadata directory ``base``, or ``None``."""
    # The joins made once: a start among 5,000 installed distributions made 14,000 of them.
    prefix = os.path.join(base, "")

    def read(filename: str) -> str | None:
        path = prefix + filename
        try:
            return read_small(path, max_size=_LIMITS.get(filename, _METADATA_LIMIT)).decode()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None
        except NotRegularFileError as exc:
            # A FIFO here blocked the start for good, a link to /dev/zero read for ever.
            raise ManifestError(str(exc), path=path) from None

    return read


# Read with os.open and os.read (regular.read_small): open() builds a file object and a text
# decoder that cost twice the reading itself, and discovery reads a file of each installed
# distribution and four of each plugin. Lines are split with splitlines() afterwards, which
# knows every newline open() translates.

#: The most read of a metadata file: a wheel's, validated, may hold no more
#: (WheelLimits.max_metadata_size), and a parse of more held a start for seconds.
_METADATA_LIMIT: Final = 1024 * 1024
#: Larger for the files that grow with a distribution installed by other means than a
#: validated wheel: a long description in METADATA, a RECORD of thousands of files.
_LIMITS: Final = dict.fromkeys(("METADATA", "PKG-INFO", "RECORD"), 16 * 1024 * 1024)


def _entry_points(text: str, group: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of one section of an ``entry_points.txt``."""
    pairs, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs


@frozen
class _CoreMetadata:
    """What discovery needs of an installed distribution's metadata."""

    name: str
    version: str
    requires_dist: tuple[str, ...]

    @classmethod
    def read(cls, dist: _Distribution, read: Callable[[str], str | None]) -> _CoreMetadata:
        fields = core_headers(read("METADATA") or read("PKG-INFO") or "")
        requires = fields.get("requires-dist")
        # Only an egg-info keeps its requirements apart, in requires.txt.
        egg = not str(getattr(dist, "_path", "")).endswith(".dist-info")
        if requires is None and egg and read("requires.txt") is not None:
            requires = list(dist.requires or ())  # an egg-info's requirements
        return cls(
            name=(fields.get("name") or ["?"])[0],
            version=(fields.get("version") or [dist.version])[0],
            requires_dist=tuple(requires or ()),
        )


_Found = tuple["_Distribution", "_CoreMetadata", list[tuple[str, str]]]


def _in_group(installed: str | _Distribution, group: str) -> _Found | None:
    """An installed distribution with its metadata and entry points, if it has some in
    ``group``."""
    read = _folder_reader(installed) if isinstance(installed, str) else _reader(installed)
    text = read("entry_points.txt")
    # Most distributions declare nothing in this group: a substring test spares parsing
    # their entry points (a false positive is merely parsed for nothing).
    if not text or group not in text:
        return None
    eps = _entry_points(text, group)
    if not eps:
        return None
    dist = (
        importlib.metadata.PathDistribution(Path(installed))
        if isinstance(installed, str)
        else installed
    )
    return dist, _CoreMetadata.read(dist, read), eps


def _guarded_read(
    dist: _Distribution, core: _CoreMetadata, entries: Sequence[tuple[str, str]]
) -> Scan:
    try:
        return _read_installed(dist, core, entries)
    except Exception as exc:
        return Scan(problems=(_unreadable(_location(dist), exc),))


def _where(installed: str | _Distribution) -> str:
    if isinstance(installed, str):
        return installed
    return str(getattr(installed, "_path", None) or installed)


def _unreadable(where: str, exc: Exception) -> Problem:
    logger.warning("installed distribution at %s: cannot be read", where, exc_info=exc)
    reason = f"{type(exc).__name__}: {exc}"[:300]
    return Problem(
        ProblemKind.MANIFEST_INVALID,
        None,
        f"{where}: the installed distribution's metadata cannot be read ({reason})",
        path=where,
    )


def _read_installed(
    dist: _Distribution, core: _CoreMetadata, entries: Sequence[tuple[str, str]]
) -> Scan:
    name = core.name
    location = _location(dist)
    read = _reader(dist)
    files = _installed_files(dist, read)
    try:
        entry_points = unit_entry_points(entries, name, location)
        manifest = _installed_manifest(location, core.version, files, entry_points, name)
    except ManifestError as exc:
        return Scan(
            problems=(Problem(ProblemKind.MANIFEST_INVALID, exc.plugin, str(exc), path=exc.path),)
        )
    candidate = Candidate(
        manifest=manifest,
        origin=InstalledOrigin(name, location, _metadata_dir(dist)),
        distribution=name,
        entry_points=entry_points,
        requires_dist=core.requires_dist,
        top_level=_installed_top_level(read, files),
    )
    return Scan(candidates=(candidate,))


def _installed_files(dist: _Distribution, read: Callable[[str], str | None]) -> list[str]:
    """The paths an installed distribution's RECORD lists, relative to its location."""
    record = read("RECORD")
    if record is None:
        # An egg-info's: importlib.metadata opens its list with open(), which blocks for good
        # on a FIFO. Both files it may read (SOURCES.txt alone before Python 3.12) are read
        # here first, bounded and refused unless regular.
        read("installed-files.txt")
        read("SOURCES.txt")
        return [f.as_posix() for f in dist.files or ()]
    # Read directly rather than through ``dist.files``, which also stats every file listed.
    # Only a path with a comma or a quote in it needs the csv module.
    lines = record.splitlines()
    if any('"' in line for line in lines):
        return [row[0] for row in csv.reader(lines) if row]
    return [line.partition(",")[0] for line in lines if line]


def _metadata_dir(dist: _Distribution) -> str | None:
    """The distribution's metadata directory, when it is one (not a zip archive's)."""
    folder = getattr(dist, "_path", None)
    return os.fspath(folder) if isinstance(folder, Path) else None


def _location(dist: _Distribution) -> str:
    """The directory the distribution's files are relative to."""
    folder = _metadata_dir(dist)
    if folder is not None:
        # What locate_file("") answers, without pathlib's parsing, paid once per plugin.
        return os.path.dirname(folder)
    return str(dist.locate_file(""))


def _installed_manifest(
    location: str,
    version: str,
    files: list[str],
    entry_points: Sequence[EntryPoint],
    distribution: str,
) -> Manifest:
    ep_name = default_plugin_name(entry_points, distribution)
    member = unit_manifest_member(entry_points, frozenset(files), ep_name, location)
    if member is None:
        return Manifest.default(name=ep_name, dist_version=version)
    # A string, not a Path: made for each of hundreds of plugins at a start, for error messages.
    path = os.path.join(location, member)
    try:
        data = read_small(path, max_size=MAX_MANIFEST_SIZE)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest: {exc}", plugin=ep_name, path=path) from exc
    return Manifest.from_toml(data, path=path, default_name=ep_name, dist_version=version)


def _installed_top_level(read: Callable[[str], str | None], files: list[str]) -> tuple[str, ...]:
    text = read("top_level.txt")
    if text:
        return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))
    names = set()
    for f in files:
        first = f.partition("/")[0]
        if first.endswith((".dist-info", ".data", ".pth")) or first in {"..", "__pycache__"}:
            continue
        names.add(first[:-3] if first.endswith(".py") else first)
    return tuple(sorted(n for n in names if n.isidentifier()))
