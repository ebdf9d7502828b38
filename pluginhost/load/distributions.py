"""The distributions of the site dirs that serve: what ``importlib.metadata`` sees of them.

A site dir is never on ``sys.path``, so ``importlib.metadata`` (and its backport
``importlib_metadata``) would not find the distributions installed in it. The host's
:class:`~pluginhost.load.modules.PluginFinder` answers their ``find_distributions`` with the
dist-info dirs of the site dirs it maps, which are those of the serving versions: after a swap,
a removal or a rollback, ``version("hello")`` is the serving version's. It sits first on
``sys.meta_path``, so a plugin served from a folder shadows an older copy installed in the
environment, as it does for imports.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeAlias

from ..model.candidate import Candidate, InstalledOrigin
from ..model.names import canonicalize_name

if TYPE_CHECKING:
    # Imported by whoever asks through it, never here: importing the backport changes
    # ``sys.meta_path`` and cost 10 ms of a start (discover/environment.py does without it too).
    import importlib_metadata

__all__ = ["Context", "dist_infos", "distribution_of", "find_distributions"]

#: Either library's context object (``name``, ``path``); the two share no base class.
Context: TypeAlias = (
    "importlib.metadata.DistributionFinder.Context | importlib_metadata.DistributionFinder.Context"
)


def find_distributions(
    roots: Iterable[str], context: Context
) -> Iterator[importlib.metadata.Distribution | importlib_metadata.Distribution]:
    """The distributions in ``roots`` that ``context`` asks for, as the asking library's
    ``PathDistribution``: stdlib objects for ``importlib.metadata``, the backport's for
    ``importlib_metadata``.

    :param roots: site dirs.
    :param context: its ``name`` (``None`` for all) and, when the caller gave one, ``path``,
        which only the site dirs it lists then match.
    """
    make = _path_distribution(context)
    wanted = None if context.name is None else canonicalize_name(context.name)
    searched = set(context.path) if "path" in vars(context) else None
    for root in sorted(roots):
        if searched is not None and root not in searched:
            continue
        for name, path in _site_dist_infos(root):
            if wanted is None or name == wanted:
                yield make(Path(path))


def _path_distribution(
    context: Context,
) -> type[importlib.metadata.PathDistribution | importlib_metadata.PathDistribution]:
    """The asking library's ``PathDistribution``: the backport's only when it is the one
    asking, which it can only be once something imported it."""
    backport = sys.modules.get("importlib_metadata")
    if backport is not None and isinstance(context, backport.DistributionFinder.Context):
        made: type[importlib_metadata.PathDistribution] = backport.PathDistribution
        return made
    return importlib.metadata.PathDistribution


def dist_infos(root: str) -> tuple[tuple[str, str], ...]:
    """The ``(canonical name, path)`` of each ``*.dist-info`` dir in ``root``."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return ()
    return tuple(_dist_info(root, entry) for entry in entries if entry.endswith(".dist-info"))


def _dist_info(root: str, entry: str) -> tuple[str, str]:
    """The canonical name and path of the dist-info dir ``entry`` of ``root``."""
    # ``name-version``: a wheel's name part is escaped, so it has no ``-`` of its own.
    stem = entry.removesuffix(".dist-info")
    return canonicalize_name(stem.rpartition("-")[0] or stem), os.path.join(root, entry)


def _installed_dist_infos(location: str) -> dict[str, str]:
    # Hundreds of plugins installed in one site-packages would each list it: listed again only
    # when an entry was added or removed there (the folder's mtime).
    try:
        stamp = os.stat(location).st_mtime_ns
    except OSError:
        return {}
    return _listing(location, stamp)


@functools.lru_cache(maxsize=64)
def _listing(location: str, stamp: int) -> dict[str, str]:
    # A dict: each of those plugins looks its own name up in it.
    return dict(reversed(dist_infos(location)))


#: For site dirs only: a site dir's name carries its content's hash, and it is never changed
#: once renamed into place. Asked at every ``importlib.metadata`` look-up.
_SITES: dict[str, tuple[tuple[str, str], ...]] = {}
#: How many site dirs' listings are kept.
_SITES_KEPT: Final = 4096


def _site_dist_infos(root: str) -> tuple[tuple[str, str], ...]:
    found = _SITES.get(root)
    if found is None:
        found = dist_infos(root)
        _keep(root, found)
    return found


def site_written(root: Path, dist_info_dirs: Iterable[str]) -> None:
    """Tell the ``*.dist-info`` dirs of the site dir ``root``, written just now, so that it
    is not listed: under threads that call hooks without pause, a listing is three waits for
    the interpreter lock (open, read, close) in a swap."""
    entries = sorted(dist_info_dirs)
    _keep(str(root), tuple(_dist_info(str(root), entry) for entry in entries))


def _keep(root: str, found: tuple[tuple[str, str], ...]) -> None:
    while len(_SITES) >= _SITES_KEPT:
        _SITES.pop(next(iter(_SITES), ""), None)
    _SITES[root] = found


def distribution_of(
    candidate: Candidate, site_dir: Path | None
) -> importlib.metadata.Distribution | None:
    """The distribution a plugin comes from: its dist-info in its site dir, or, installed in
    the environment, where it is installed; ``None`` when none carries its name."""
    wanted = canonicalize_name(candidate.distribution)
    if site_dir is not None:
        found = dict(reversed(_site_dist_infos(str(site_dir)))).get(wanted)
    elif isinstance(candidate.origin, InstalledOrigin):
        found = candidate.origin.metadata_dir or _installed_dist_infos(
            candidate.origin.location
        ).get(wanted)
    else:
        return None
    return None if found is None else importlib.metadata.PathDistribution(Path(found))
