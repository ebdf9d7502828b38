"""The watchdog side of the folder watcher: which events are watched, the handler passing them
on, the observer (inotify where it can, polling otherwise), and :class:`Observers`, which arms
and disarms folders on it."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Final, final

import attrs
import watchdog.events
from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from .folder_snapshot import Signature, folder_identity, read_snapshot, unwatchable_reason

if sys.platform.startswith("linux"):
    from watchdog.observers.inotify import InotifyObserver

__all__ = ["EVENTS", "STOPPED", "Armed", "Handler", "Observers", "make_observer"]

logger = logging.getLogger("pluginhost")

# Opened and closed-without-writing are left out: the host reading a wheel is not a change.
# watchdog 7 reports attribute changes (a touch, a chmod) apart; earlier versions report them
# as modifications.
_ATTRIB: Final = getattr(watchdog.events, "FileAttribEvent", FileModifiedEvent)


EVENTS: Final[list[type[FileSystemEvent]]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    _ATTRIB,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
]


class Handler(FileSystemEventHandler):
    def __init__(self, sink: Callable[[FileSystemEvent], None]) -> None:
        self._sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        self._sink(event)


def make_observer(*, polling: bool, poll_interval: float) -> BaseObserver:
    """An event observer, or a polling one when asked or when inotify is unavailable."""
    if not polling:
        try:
            return event_observer()
        except OSError as exc:
            # Out of inotify instances, for one: polling still works.
            logger.warning("folder watcher: inotify unavailable (%s), polling instead", exc)
    return PollingObserver(timeout=poll_interval)


def event_observer() -> BaseObserver:
    """The platform's event observer; on Linux one that reports a file renamed in from outside
    the folder as a move (with its destination) rather than as a creation, which a writer that
    is still writing also causes."""
    if sys.platform.startswith("linux") and Observer is InotifyObserver:
        return InotifyObserver(generate_full_events=True)
    return Observer()


#: The reason :meth:`Observers.arm` gives once the observer is stopped (or before it started).
STOPPED: Final = "watcher stopped"


@attrs.frozen
class Armed:
    """A folder just armed: what it is and what it held once the watch was in place.

    :param identity: ``(st_dev, st_ino)`` of the folder now watched.
    :param snapshot: its wanted files, read after the watch was in place.
    """

    identity: tuple[int, int]
    snapshot: dict[str, Signature]


@final
class Observers:
    """One watchdog observer and the folders scheduled on it, each by its absolute path.

    Every schedule, unschedule and the stop happen under one lock, so that no watch is added to
    an observer being stopped; the folder watcher takes its own lock never while holding this
    one. Events of every armed folder go to ``sink`` on watchdog's thread::

        observers = Observers(sink, default_wanted, polling=False, poll_interval=1.0)
        observers.start()
        armed = observers.arm("/srv/wheels")  # Armed(identity, snapshot), or why not
        observers.stop(timeout=5.0)

    :param sink: called with each event, on watchdog's thread.
    :param wanted: which file names a snapshot holds.
    :param polling: poll the folders instead of using inotify.
    :param poll_interval: seconds between polls when ``polling``.
    """

    def __init__(
        self,
        sink: Callable[[FileSystemEvent], None],
        wanted: Callable[[str], bool],
        *,
        polling: bool,
        poll_interval: float,
    ) -> None:
        self._handler: Final = Handler(sink)
        self._wanted: Final = wanted
        self._polling: Final = polling
        self._poll_interval: Final = poll_interval
        self._lock: Final = threading.Lock()
        self._observer: BaseObserver | None = None
        self._stopped = False
        self._watches: dict[str, ObservedWatch] = {}

    def start(self) -> None:
        """Make the observer and start its threads."""
        self._observer = make_observer(polling=self._polling, poll_interval=self._poll_interval)
        self._observer.start()

    def stop(self, timeout: float) -> None:
        """Stop the observer and join its threads; later :meth:`arm` calls give :data:`STOPPED`.

        :param timeout: seconds to wait for each thread.
        """
        with self._lock:
            self._stopped = True
            if self._observer is not None:
                self._observer.stop()
        if self._observer is not None:
            self._observer.join(timeout)

    def arm(self, folder: str) -> Armed | str:
        """Watch ``folder`` afresh (dropping its earlier watch) and read it.

        :param folder: an absolute path: events name their paths under it.
        :returns: the folder armed, or why it cannot be watched.
        """
        with self._lock:
            self._disarm_locked(folder)
            if self._stopped or self._observer is None:
                return STOPPED
            try:
                identity = folder_identity(folder)
                self._watches[folder] = self._observer.schedule(
                    self._handler, folder, event_filter=EVENTS
                )
                # Read after the watch is in place, so that no change falls between the two.
                snapshot = read_snapshot(folder, self._wanted)
            except OSError as exc:
                self._disarm_locked(folder)
                return unwatchable_reason(exc)
        return Armed(identity, snapshot)

    def disarm(self, folder: str) -> None:
        """Stop watching ``folder``; nothing happens when it is not armed."""
        with self._lock:
            self._disarm_locked(folder)

    def armed(self) -> frozenset[str]:
        """The folders with a watch on the observer."""
        with self._lock:
            return frozenset(self._watches)

    def _disarm_locked(self, folder: str) -> None:
        watch = self._watches.pop(folder, None)
        if watch is not None and self._observer is not None:
            # Already gone when the observer was stopped.
            with contextlib.suppress(KeyError):
                self._observer.unschedule(watch)
