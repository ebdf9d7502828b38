"""The plugins an operator disabled: ``home/disabled.json``, kept across restarts and crashes.

Written through :class:`~pluginhost.state.store.AtomicJsonFile` (temp file, fsync, rename,
checksum, last good copy) before the host acts on it, so a crash at any point leaves the choice
either made or not, and the next start acts on what the file says. A host that is not running
is changed by :func:`record_choice`, which takes the home's lock for the write, so that no host
starts on the home meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from ..model.errors import StoreError
from ..model.names import PluginName, plugin_name
from .store import AtomicJsonFile, HomeLock

__all__ = ["DISABLED_FILE", "DisabledList", "record_choice"]

DISABLED_FILE: Final = "disabled.json"
#: The most bytes ``disabled.json`` may hold: names, tens of thousands of them.
DISABLED_LIMIT: Final = 4 * 1024 * 1024
_FORMAT: Final = 1


class DisabledList:
    """The disabled plugins of one home.

    :param home: the host's home; the document is ``home/disabled.json``.
    """

    def __init__(self, home: Path) -> None:
        self.home: Final = home
        self._file = AtomicJsonFile(home / DISABLED_FILE, max_size=DISABLED_LIMIT)

    @property
    def path(self) -> Path:
        return self._file.path

    def read(self) -> frozenset[PluginName]:
        """The disabled plugins; none when the document was never written.

        :raises StoreError: when the document (and its last good copy) is unusable.
        """
        return self._names(self._file.read())

    def peek(self) -> frozenset[PluginName]:
        """Like :meth:`read`, writing nothing: for ``pluginhost doctor``.

        :raises StoreError: when the document is unusable, as :meth:`read` raises it at start.
        """
        return self._names(self._file.peek())

    def _names(self, data: object) -> frozenset[PluginName]:
        if data is None:
            return frozenset()
        names = data.get("disabled") if isinstance(data, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise StoreError("malformed: 'disabled' must be a list of names", path=self.path)
        return frozenset(plugin_name(n) for n in names)

    def write(self, names: Iterable[str]) -> None:
        """Commit ``names`` as the disabled plugins.

        :raises StoreError: when the file system refuses the write (nothing changed).
        """
        self._file.write({"format": _FORMAT, "disabled": sorted({plugin_name(n) for n in names})})


def record_choice(home: Path, name: str, *, disabled: bool) -> bool:
    """Disable or enable ``name`` in the home of a host that is not running.

    :returns: whether the choice changed anything (``False``: it was already so).
    :raises HostStateError: when a host runs on ``home`` (ask it instead).
    :raises StoreError: when the document cannot be read or written.
    """
    lock = HomeLock(home)
    lock.acquire()
    try:
        listed = DisabledList(home)
        before = listed.read()
        after = before | {plugin_name(name)} if disabled else before - {plugin_name(name)}
        if after != before:
            listed.write(after)
        return after != before
    finally:
        lock.release()
