"""The folder watcher's paths waiting to settle: when each is due to be looked at again, and
whether it stayed the same since it was last looked at (its debounce and stability checks)."""

from __future__ import annotations

from typing import Final, final

from ..model.frozen import frozen
from .folder_snapshot import Signature

__all__ = ["Key", "Pending", "PendingPaths"]

#: ``(folder key, file name)``.
Key = tuple[str, str]


@frozen(eq=False)
class Pending:
    """A path seen changing: its signature when last looked at, and when to look again.

    Compared by identity: a new entry for the same path means an event restarted its settling.
    """

    signature: Signature | None  # None: the path is gone (or is no regular file)
    due: float
    forced: bool = False  # hand over even if it matches what was handed over before
    # Renamed into place, so complete: its signature, taken at the event, is not taken again
    # (a later change makes an event of its own).
    complete: bool = False


@final
class PendingPaths:
    """Paths seen changing and not handed over yet, each with the time to look at it again.

    No locking and no I/O here: the folder watcher calls every method holding its own lock, and
    reads the signatures before and after. Times are ``time.monotonic()`` values.

        pending = PendingPaths(settle=0.3)
        pending.seen(("/srv/wheels", "a.whl"), (5, 17, 42), now)
        for key, entry in pending.due(now + 0.3).items():
            if pending.settled(key, entry, read_signature(...), now + 0.3):
                ...  # hand it over

    :param settle: seconds a path's signature must stay the same.
    """

    def __init__(self, settle: float) -> None:
        self._settle: Final = settle
        self._paths: dict[Key, Pending] = {}

    def __bool__(self) -> bool:
        return bool(self._paths)

    def seen(self, key: Key, signature: Signature | None, now: float, *, at_once: bool) -> None:
        """An event for ``key``: settle it afresh (or look at once), keeping it forced if it was.

        :param at_once: the path was renamed into place, so it is complete: due at ``now``.
        """
        before = self._paths.get(key)
        forced = before is not None and before.forced
        due = now + (0.0 if at_once else self._settle)
        self._paths[key] = Pending(signature, due, forced, complete=at_once)

    def force(self, key: Key, signature: Signature | None, now: float) -> None:
        """Settle ``key`` and hand it over even if it matches what was handed over before."""
        self._paths[key] = Pending(signature, now + self._settle, forced=True)

    def missed(self, key: Key, signature: Signature | None, now: float) -> None:
        """A difference a rescan found; a path already pending keeps its fresher entry."""
        self._paths.setdefault(key, Pending(signature, now + self._settle))

    def next_round(self) -> float:
        """When to look at pending paths: the earliest due time, stretched to take in the paths
        due within one more settle time, so that files dropped together make one call."""
        dues = [p.due for p in self._paths.values()]
        if not dues:
            return float("inf")
        first = min(dues)
        return max(d for d in dues if d <= first + self._settle)

    def due(self, now: float) -> dict[Key, Pending]:
        """The entries due at ``now``; they stay pending until :meth:`settled` or
        :meth:`discard`."""
        return {key: p for key, p in self._paths.items() if p.due <= now}

    def settled(self, key: Key, entry: Pending, signature: Signature | None, now: float) -> bool:
        """Whether the due ``entry`` stayed the same, looked at again with ``signature``.

        A settled entry leaves; a changed one settles afresh from ``now``; one replaced by an
        event since :meth:`due` is left alone.
        """
        if self._paths.get(key) is not entry:
            return False
        if signature != entry.signature:
            self._paths[key] = Pending(signature, now + self._settle, entry.forced)
            return False
        del self._paths[key]
        return True

    def discard(self, key: Key, entry: Pending) -> None:
        """Drop the due ``entry`` unless an event replaced it since :meth:`due`."""
        if self._paths.get(key) is entry:
            del self._paths[key]
