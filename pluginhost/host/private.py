"""Private dependencies: a process plugin's third-party requirements, installed for it alone.

A process plugin imports nothing into the host, so it needs no shared dependency
(:mod:`.dependencies`) and no clash check. Each requirement of its ``Requires-Dist`` that names
no other plugin is met, in order:

1. by the best dependency wheel in the watched folders that meets it (and the wheels that one
   requires), installed into ``home/private/<plugin>/<distribution>-<version>-<sha8>/`` with the
   validation, staging and RECORD checks of every site dir (:class:`~..install.deps.DepSites`);
2. otherwise by the host environment's copy, when it meets the requirement.

The dirs go first on the worker's ``sys.path`` (after the plugin's own site dir), so two process
plugins needing conflicting versions of one library both serve, and either may differ from the
host's own version.

Each plugin's folder keeps a record (``uses.json``) of the dirs its last versions used, the
version a worker was last started for first; a dir that none of the last ``keep_backups + 1``
versions (two at least: the version serving while its successor starts) uses is deleted, so a
host that swaps a process plugin for months does not grow without bound. A version rolled back
to after its dirs went installs them again from the wheels at hand.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from ..discover.wheel import WheelInfo
from ..install.deps import DepSites
from ..install.sites import Handover, delete_dir
from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import StoreError
from ..model.names import canonicalize_name
from ..resolve.links import third_party
from ..resolve.shared import choose_dependencies
from ..state.fs import make_dirs
from ..state.store import AtomicJsonFile
from .dependencies import environment_version
from .settings import Settings

__all__ = ["USES", "PrivateDependencies"]

logger = logging.getLogger("pluginhost")

#: The record, in each plugin's folder, of the dirs its last versions used.
USES: Final = "uses.json"


class PrivateDependencies:
    """The private dependency dirs of the process plugins of one home.

    :param config: the host's settings (home, staging, limits, how site dirs are checked).
    :param validated: hands over the bytes discovery validated.
    :param wheels: the dependency wheels at hand in the watched folders now.
    :param installed: the version of a distribution in the host environment.
    """

    def __init__(
        self,
        config: Settings,
        validated: Handover,
        wheels: Callable[[], Sequence[WheelInfo]],
        installed: Callable[[str], str | None] = environment_version,
    ) -> None:
        self._root = config.site_root.parent / "private"
        self._config = config
        self._validated = validated
        self._wheels = wheels
        self._installed = installed
        self._lock = threading.Lock()

    def paths(self, candidate: Candidate) -> tuple[str, ...]:
        """Install what ``candidate`` needs for itself; its dirs, first wins.

        :raises DependencyConflictError: when a requirement is met by neither a wheel at hand
            nor the environment.
        :raises WheelError, InstallError, TrustError: when a dependency cannot be installed.
        """
        if not isinstance(candidate.origin, WheelOrigin):
            return ()  # installed in the environment, with what it requires, by its installer
        wheels = self._wheels()
        offered = {canonicalize_name(w.distribution) for w in wheels}

        def installed(name: str) -> str | None:
            # A wheel at hand is the plugin's own choice over the host's copy.
            return None if name in offered else self._installed(name)

        choices = choose_dependencies(
            candidate.name,
            f"{candidate.display} {candidate.version_text}",
            third_party(candidate),
            wheels,
            {},
            installed,
        )
        sites = self._sites(candidate)
        with self._lock:  # a restart (the supervisor's thread) and a swap may overlap
            dirs = tuple(
                sites.install(c.wheel, candidate.name)[0] for c in choices if c.wheel is not None
            )
            self._prune(candidate, dirs)
        return tuple(str(d) for d in dirs)

    def _prune(self, candidate: Candidate, dirs: Sequence[Path]) -> None:
        """Record that ``candidate`` uses ``dirs``, then delete the dirs of its plugin that
        none of its last versions uses (recorded first: a crash between the two leaves dirs
        that the next start of a worker deletes)."""
        folder = self._root / candidate.name
        if not dirs and not folder.is_dir():
            return  # nothing installed for it, nothing to prune
        record = AtomicJsonFile(folder / USES, durable=False)
        key = f"{candidate.version_text} {candidate.sha256 or ''}"
        try:
            known = _uses(record.read())
            kept = [[key, [d.name for d in dirs]], *(use for use in known if use[0] != key)]
            kept = kept[: max(self._config.keep_backups, 1) + 1]
            make_dirs(folder)
            record.write(kept)
        except (StoreError, OSError) as exc:
            # Bookkeeping must not stop the worker: nothing is pruned until it can be kept.
            logger.warning("private dependencies of %s not pruned: %s", candidate.name, exc)
            return
        needed = {name for _, names in kept for name in names}
        for entry in list(os.scandir(folder)):
            if entry.is_dir(follow_symlinks=False) and entry.name not in needed:
                delete_dir(Path(entry.path), entry.name)
                logger.info("removed %s: no version of %s kept uses it", entry.path, candidate.name)

    def _sites(self, candidate: Candidate) -> DepSites:
        config = self._config
        root: Path = self._root / candidate.name
        return DepSites(
            root, config.staging_root, config.limits, self._validated, config.verify_sites
        )


def _uses(data: object) -> list[list[Any]]:
    """The records of ``uses.json``: ``[key, [dir names]]`` pairs, newest first (a document
    of another shape is taken as empty: its dirs are pruned, and installed again if needed)."""
    if not isinstance(data, list):
        return []
    return [
        use
        for use in data
        if isinstance(use, list)
        and len(use) == 2
        and isinstance(use[0], str)
        and isinstance(use[1], list)
        and all(isinstance(name, str) for name in use[1])
    ]
