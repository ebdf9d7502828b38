"""Process plugins quarantined after a crash loop: ``home/crash_loops.json``, kept across
restarts and crashes of the host.

A process plugin whose worker crashes ``restart_limit`` times within ``restart_window`` is
quarantined (:mod:`pluginhost.host.supervisor`): it gets no more restarts until an operator
brings it back. That choice is the operator's to undo, not the host's next start's, so the
version is recorded here, by its :class:`~pluginhost.model.candidate.CandidateKey`, before the
``quarantined`` event goes out. A start that loads that very version again registers its proxies
without starting a worker (from the hook implementations recorded with it: none of its code
runs) and shows it quarantined, as it was. The record goes when the plugin is brought back
(``host.restart()`` / ``pluginhost restart NAME``) or when its version leaves service (a
rollback, a new version, its removal).

Written through :class:`~pluginhost.state.store.AtomicJsonFile` (temp file, fsync, rename,
checksum, last good copy): a crash at any point leaves the record made or not. An entry that
does not parse is dropped with a warning: the plugin then starts, and a crash loop quarantines
it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..model.candidate import CandidateKey
from ..model.errors import StoreError
from ..model.frozen import frozen
from .store import AtomicJsonFile

__all__ = ["CRASH_LOOPS_FILE", "CrashLoops", "Quarantined"]

logger = logging.getLogger("pluginhost")

CRASH_LOOPS_FILE: Final = "crash_loops.json"
#: The most bytes ``crash_loops.json`` may hold: a record of a few KB per quarantined plugin.
CRASH_LOOPS_LIMIT: Final = 16 * 1024 * 1024
_FORMAT: Final = 1
#: The fields of one recorded hook implementation (as the worker described it).
_HOOK_FIELDS: Final = (
    "name",
    "specname",
    "argnames",
    "tryfirst",
    "trylast",
    "optionalhook",
    "entry_point",
)


@frozen
class Quarantined:
    """One process plugin version quarantined after a crash loop.

    :param key: the version's identity (its name, version and wheel's sha256).
    :param crashes: how many crashes quarantined it.
    :param since: when (local time, ISO 8601).
    :param hooks: its hook implementations, each a mapping of :data:`_HOOK_FIELDS`.
    """

    key: CandidateKey
    crashes: int
    since: str
    hooks: tuple[Mapping[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.to_json(),
            "crashes": self.crashes,
            "since": self.since,
            "hooks": [dict(h) for h in self.hooks],
        }

    @classmethod
    def from_json(cls, data: Any) -> Quarantined:
        """:raises ValueError: when ``data`` is not what :meth:`to_json` writes."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        crashes, since, hooks = data.get("crashes"), data.get("since"), data.get("hooks")
        if not isinstance(crashes, int) or not isinstance(since, str):
            raise ValueError("crashes or since malformed")
        if not isinstance(hooks, list) or not all(_is_hook(h) for h in hooks):
            raise ValueError("hooks malformed")
        return cls(CandidateKey.from_json(data.get("key")), crashes, since, tuple(hooks))


def _is_hook(data: object) -> bool:
    if not isinstance(data, dict) or set(data) != set(_HOOK_FIELDS):
        return False
    texts = all(isinstance(data[k], str) for k in ("name", "entry_point"))
    flags = all(isinstance(data[k], bool) for k in ("tryfirst", "trylast", "optionalhook"))
    argnames = data["argnames"]
    names = isinstance(argnames, list) and all(isinstance(a, str) for a in argnames)
    return texts and flags and names and isinstance(data["specname"], str | None)


class CrashLoops:
    """The quarantined process plugins of one home; thread-safe (the supervisor's thread
    records, the host's worker forgets).

    :param home: the host's home; the document is ``home/crash_loops.json``.
    """

    def __init__(self, home: Path) -> None:
        self._file = AtomicJsonFile(home / CRASH_LOOPS_FILE, max_size=CRASH_LOOPS_LIMIT)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._file.path

    def get(self, key: CandidateKey) -> Quarantined | None:
        """The record of this very version, if it is quarantined."""
        with self._lock:
            found = self._read().get(key.name)
        return found if found is not None and found.key == key else None

    def record(self, key: CandidateKey, crashes: int, hooks: Sequence[Mapping[str, Any]]) -> None:
        """Commit ``key`` as quarantined after ``crashes`` crashes.

        :raises StoreError: when the file system refuses the write (nothing changed).
        """
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        entry = Quarantined(key, crashes, since, tuple(hooks))
        with self._lock:
            records = self._read()
            records[key.name] = entry
            self._write(records)

    def forget(self, key: CandidateKey) -> None:
        """Lift the record of ``key``, if there is one (brought back, or out of service).

        :raises StoreError: when the file system refuses the write.
        """
        with self._lock:
            records = self._read()
            if key.name not in records or records[key.name].key != key:
                return
            del records[key.name]
            self._write(records)

    def forget_plugin(self, name: str) -> None:
        """Lift the record of any version of plugin ``name``.

        :raises StoreError: when the file system refuses the write.
        """
        with self._lock:
            records = self._read()
            if records.pop(name, None) is not None:
                self._write(records)

    def _read(self) -> dict[str, Quarantined]:
        try:
            data = self._file.read()
        except StoreError as exc:
            logger.warning("quarantined process plugins forgotten: %s", exc)
            return {}
        entries = data.get("plugins") if isinstance(data, dict) else None
        records: dict[str, Quarantined] = {}
        for name, entry in (entries or {}).items() if isinstance(entries, dict) else ():
            try:
                records[name] = Quarantined.from_json(entry)
            except ValueError as exc:
                logger.warning("quarantine record of %s in %s dropped: %s", name, self.path, exc)
        return records

    def _write(self, records: Mapping[str, Quarantined]) -> None:
        plugins = {name: records[name].to_json() for name in sorted(records)}
        self._file.write({"format": _FORMAT, "plugins": plugins})
