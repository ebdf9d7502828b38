"""When this host first saw each release of an index: the upload time of a release whose index
gives none (PEP 700's ``upload-time`` is optional).

Kept in the home (``home/index/<key>/sightings.json``), so that a restart does not make a
release look new again and start its rollout over.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from pathlib import Path
from typing import Final

from .fs import make_dirs
from .store import AtomicJsonFile

__all__ = ["Sightings"]


class Sightings:
    """First sightings of releases, by ``"<project> <version>"``.

    :param path: the document.
    """

    def __init__(self, path: Path) -> None:
        self._file: Final = AtomicJsonFile(path)
        self._seen: dict[str, str] | None = None

    def first_seen(self, project: str, version: str, now: datetime.datetime) -> datetime.datetime:
        """When ``project`` ``version`` was first seen; ``now`` (recorded) if never before.

        :raises StoreError: when the document is unusable or cannot be written.
        """
        seen = self._load()
        key = f"{project} {version}"
        if key not in seen:
            seen[key] = now.astimezone(datetime.timezone.utc).isoformat()
            make_dirs(self._file.path.parent)
            self._file.write(seen)
        return datetime.datetime.fromisoformat(seen[key])

    def retain(self, project: str, versions: Collection[str]) -> None:
        """Forget the releases of ``project`` other than ``versions`` (gone from the index):
        the document does not grow with every release ever seen. Written only if one went.

        :raises StoreError: when the document is unusable or cannot be written.
        """
        seen = self._load()
        prefix = f"{project} "
        gone = [k for k in seen if k.startswith(prefix) and k[len(prefix) :] not in versions]
        if gone:
            for key in gone:
                del seen[key]
            self._file.write(seen)

    def _load(self) -> dict[str, str]:
        if self._seen is None:
            data = self._file.read()
            self._seen = (
                {k: v for k, v in data.items() if isinstance(v, str)}
                if isinstance(data, dict)
                else {}
            )
        return self._seen
