"""When this host first saw each release of an index: the upload time of a release whose index
gives none (PEP 700's ``upload-time`` is optional).

Kept in the home (``home/index/<key>/sightings.json``), so that a restart does not make a
release look new again and start its rollout over.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Final

from ..model.errors import StoreError
from .fs import make_dirs
from .store import AtomicJsonFile

__all__ = ["Sightings"]

logger = logging.getLogger("pluginhost")

#: The most bytes the document may hold: about 70 a release, for hundreds of thousands.
SIGHTINGS_LIMIT: Final = 16 * 1024 * 1024


class Sightings:
    """First sightings of releases, by ``"<project> <version>"``.

    :param path: the document.
    """

    def __init__(self, path: Path) -> None:
        self._file: Final = AtomicJsonFile(path, max_size=SIGHTINGS_LIMIT)
        self._seen: dict[str, datetime.datetime] | None = None

    def first_seen(self, project: str, version: str, now: datetime.datetime) -> datetime.datetime:
        """When ``project`` ``version`` was first seen; ``now`` (recorded) if never before.

        :raises StoreError: when the document cannot be written (one unusable is forgotten).
        """
        seen = self._load()
        key = f"{project} {version}"
        if key not in seen:
            seen[key] = now.astimezone(datetime.timezone.utc)
            make_dirs(self._file.path.parent)
            self._write(seen)
        return seen[key]

    def retain(self, project: str, versions: Collection[str]) -> None:
        """Forget the releases of ``project`` other than ``versions`` (gone from the index):
        the document does not grow with every release ever seen. Written only if one went.

        :raises StoreError: when the document cannot be written (one unusable is forgotten).
        """
        seen = self._load()
        prefix = f"{project} "
        gone = [k for k in seen if k.startswith(prefix) and k[len(prefix) :] not in versions]
        if gone:
            for key in gone:
                del seen[key]
            self._write(seen)

    def _write(self, seen: dict[str, datetime.datetime]) -> None:
        self._file.write({key: when.isoformat() for key, when in seen.items()})

    def _load(self) -> dict[str, datetime.datetime]:
        if self._seen is None:
            try:
                data = self._file.read()
            except StoreError as exc:
                # Forgetting costs a rollout restarted from now; raising failed every poll of
                # the index, and a yank was never applied.
                logger.warning("first sightings of releases forgotten: %s", exc)
                data = None
            self._seen = self._readable(data if isinstance(data, dict) else {})
        return self._seen

    def _readable(self, data: dict[str, object]) -> dict[str, datetime.datetime]:
        """The entries whose time reads; each other one dropped, and said: a time with no
        zone could not be compared with the clock, and failed every poll."""
        seen = {}
        for key, value in data.items():
            when = _utc(value) if isinstance(value, str) else None
            if when is None:
                logger.warning(
                    "%s: the first sighting of %s is unreadable (%.80r); dropped",
                    self._file.path,
                    key,
                    value,
                )
            else:
                seen[key] = when
        return seen


def _utc(text: str) -> datetime.datetime | None:
    """``text`` as an ISO 8601 time with a zone, in UTC; ``None`` when it is not one."""
    try:
        when = datetime.datetime.fromisoformat(text)
        return None if when.utcoffset() is None else when.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):  # year 1 at +14:00 is past datetime's range in UTC
        return None
