"""The cache folder of a followed index (``home/index/<key>/``): its wheels by project, their
sha256 (hashed again only when a file changes), and pruning what nothing needs.

The source's download threads write it (a temporary file each, renamed in once its sha256
matches) and its poller thread prunes it (never a temporary file while a download is under
way); the host's discovery reads it like a watched folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

from packaging.utils import parse_wheel_filename

from .releases import file_sha256

__all__ = ["IndexCache"]

logger = logging.getLogger("pluginhost")


class IndexCache:
    """The wheels of one index's cache folder.

    :param folder: the folder (made private by the source).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._hashes: dict[Path, tuple[tuple[int, int], str]] = {}

    def wheels(self) -> dict[str, dict[str, Path]]:
        """The wheels of the cache, by project and file name."""
        found: dict[str, dict[str, Path]] = {}
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return found
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".whl"):
                continue
            try:
                name = parse_wheel_filename(entry.name)[0]
            except ValueError:  # InvalidWheelFilename, or a version int() refuses
                continue
            found.setdefault(name, {})[entry.name] = Path(entry.path)
        return found

    def sha(self, path: Path) -> str:
        """The sha256 of a cached wheel, hashed again only when its size or mtime changed
        (``""`` for a file gone meanwhile, or one that cannot be read: a folder in its place
        failed every poll)."""
        try:
            st = path.stat()
            stamp = (st.st_size, st.st_mtime_ns)
            known = self._hashes.get(path)
            if known is None or known[0] != stamp:
                known = (stamp, file_sha256(path))
                self._hashes[path] = known
        except OSError:
            return ""
        return known[1]

    def prune(self, mine: dict[str, Path], wanted: Collection[str], keep: Collection[str]) -> None:
        """Delete the cached wheels of a project that are neither ``wanted`` (by file name:
        what the poll's decision offers or fetches) nor named by the host (``keep``, by
        sha256: serving, failed, a backup for a rollback); ``mine`` loses them. A release
        needed again is downloaded again.

        Crash-safe: each is one unlink, and what a crash leaves is pruned at the next poll.
        """
        for filename, path in list(mine.items()):
            if filename in wanted or self.sha(path) in keep:
                continue
            path.unlink(missing_ok=True)
            self._hashes.pop(path, None)
            del mine[filename]
            logger.info("index cache: removed %s (nothing serving or kept for a rollback)", path)

    def prune_partials(self) -> None:
        """Delete downloads a crash cut short (called while no download is under way)."""
        for partial in self.folder.glob(".partial-*"):
            partial.unlink(missing_ok=True)
