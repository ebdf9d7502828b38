"""The event side of the folder watcher: which events are watched, the handler passing them
on, the observer (Linux's inotify read by one thread of ours, :mod:`.inotify`; watchdog's
observer on other systems; watchdog's polling when asked or when inotify ran out), and
:class:`Observers`, which arms and disarms folders on it."""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import threading
from collections.abc import Callable
from typing import Final, final

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
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from ..model.frozen import frozen
from .folder_snapshot import Signature, folder_identity, read_snapshot, unwatchable_reason
from .inotify import ATTRIB_EVENT, InotifyObserver, InotifyWatch

__all__ = ["EVENTS", "STOPPED", "Armed", "Handler", "Observers", "make_observer"]

logger = logging.getLogger("pluginhost")

# Opened and closed-without-writing are left out: the host reading a wheel is not a change.
EVENTS: Final[list[type[FileSystemEvent]]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    ATTRIB_EVENT,
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


#: An observer of folder events: ours on Linux, watchdog's elsewhere or when polling.
AnyObserver = BaseObserver | InotifyObserver


def make_observer(
    *, polling: bool, poll_interval: float, on_overflow: Callable[[], None]
) -> tuple[AnyObserver, str | None]:
    """An event observer, or a polling one when asked or when inotify is unavailable.

    :param on_overflow: called when the system dropped events (inotify's queue overflowed).
    :returns: the observer, and why it polls when it was not asked to.
    """
    if not polling:
        try:
            return event_observer(on_overflow), None
        except OSError as exc:
            # Out of inotify instances, for one: polling still works.
            reason = f"{_unavailable(exc)}: polling it every {poll_interval:g}s"
            logger.warning("folder watcher: %s", reason)
            return PollingObserver(timeout=poll_interval), reason
    return PollingObserver(timeout=poll_interval), None


def _unavailable(exc: OSError) -> str:
    return _EXHAUSTED.get(exc.errno or 0, f"inotify is unavailable ({exc})")


def event_observer(on_overflow: Callable[[], None]) -> AnyObserver:
    """The platform's event observer. On Linux, ours: one thread reads inotify and delivers
    (watchdog's passes each event through three), and a file renamed in from outside the
    folder is a move with its destination, not a creation, which a writer that is still
    writing also causes."""
    if not sys.platform.startswith("linux"):
        from watchdog.observers import Observer  # noqa: PLC0415 (on Linux, its inotify's not ours)

        return Observer()
    return InotifyObserver(on_overflow)


# What inotify says when the system's limits ran out, said for people.
_EXHAUSTED: Final = {
    errno.EMFILE: "the system's inotify instances ran out (fs.inotify.max_user_instances)",
    errno.ENOSPC: "the system's inotify watches ran out (fs.inotify.max_user_watches)",
}

#: The reason :meth:`Observers.arm` gives once the observer is stopped (or before it started).
STOPPED: Final = "watcher stopped"


@frozen
class Armed:
    """A folder just armed: what it is and what it held once the watch was in place.

    :param identity: ``(st_dev, st_ino)`` of the folder now watched.
    :param snapshot: its wanted files, read after the watch was in place.
    """

    identity: tuple[int, int]
    snapshot: dict[str, Signature]
    polled: str | None = None
    """Why the folder is polled rather than watched with events (the system's inotify
    instances or watches ran out), or ``None``."""


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

    :param sink: called with each event, on the observer's thread.
    :param wanted: which file names a snapshot holds.
    :param polling: poll the folders instead of using inotify.
    :param poll_interval: seconds between polls when ``polling``.
    :param on_overflow: called when the system dropped events: every folder is to be read
        again.
    """

    def __init__(
        self,
        sink: Callable[[FileSystemEvent], None],
        wanted: Callable[[str], bool],
        *,
        polling: bool,
        poll_interval: float,
        on_overflow: Callable[[], None] = lambda: None,
    ) -> None:
        self._handler: Final = Handler(sink)
        self._on_overflow: Final = on_overflow
        self._wanted: Final = wanted
        self._polling: Final = polling
        self._poll_interval: Final = poll_interval
        self._lock: Final = threading.Lock()
        self._observer: AnyObserver | None = None
        # Why the observer polls though it was not asked to (inotify unavailable at start).
        self._polls: str | None = None
        # Made when an event observer runs out of inotify instances or watches for a folder.
        self._fallback: BaseObserver | None = None
        self._stopped = False
        self._watches: dict[str, tuple[AnyObserver, ObservedWatch | InotifyWatch]] = {}

    def start(self) -> None:
        """Make the observer and start its threads."""
        self._observer, self._polls = make_observer(
            polling=self._polling, poll_interval=self._poll_interval, on_overflow=self._on_overflow
        )
        self._observer.start()

    def stop(self, timeout: float) -> None:
        """Stop the observer and join its threads; later :meth:`arm` calls give :data:`STOPPED`.

        :param timeout: seconds to wait for each thread.
        """
        with self._lock:
            self._stopped = True
            running = [o for o in (self._observer, self._fallback) if o is not None]
            for observer in running:
                observer.stop()
        for observer in running:
            # Not from its own thread: a callback it runs (a wheel renamed in) may stop us.
            if observer is not threading.current_thread():
                observer.join(timeout)

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
                polled = self._schedule(folder)
                # Read after the watch is in place, so that no change falls between the two.
                snapshot = read_snapshot(folder, self._wanted)
            except OSError as exc:
                self._disarm_locked(folder)
                return unwatchable_reason(exc)
        return Armed(identity, snapshot, polled)

    def _schedule(self, folder: str) -> str | None:
        """Watch ``folder`` with events, or, when the system's inotify instances or watches
        ran out, with a polling observer; returns why it is polled, if it is."""
        assert self._observer is not None
        try:
            watch = _schedule(self._observer, self._handler, folder)
        except OSError as exc:
            if exc.errno not in _EXHAUSTED or isinstance(self._observer, PollingObserver):
                raise
            reason = f"{_unavailable(exc)}: polling it every {self._poll_interval:g}s"
            logger.warning("watched folder %s: %s", folder, reason)
            if self._fallback is None:
                self._fallback = PollingObserver(timeout=self._poll_interval)
                self._fallback.start()
            watch = self._fallback.schedule(self._handler, folder, event_filter=EVENTS)
            self._watches[folder] = (self._fallback, watch)
            return reason
        self._watches[folder] = (self._observer, watch)
        return self._polls

    def disarm(self, folder: str) -> None:
        """Stop watching ``folder``; nothing happens when it is not armed."""
        with self._lock:
            self._disarm_locked(folder)

    def armed(self) -> frozenset[str]:
        """The folders with a watch on the observer."""
        with self._lock:
            return frozenset(self._watches)

    def _disarm_locked(self, folder: str) -> None:
        scheduled = self._watches.pop(folder, None)
        if scheduled is not None:
            observer, watch = scheduled
            # Already gone when the observer was stopped.
            with contextlib.suppress(KeyError):
                _unschedule(observer, watch)


def _schedule(observer: AnyObserver, handler: Handler, folder: str) -> ObservedWatch | InotifyWatch:
    if isinstance(observer, InotifyObserver):
        return observer.schedule(handler, folder)
    return observer.schedule(handler, folder, event_filter=EVENTS)


def _unschedule(observer: AnyObserver, watch: ObservedWatch | InotifyWatch) -> None:
    if isinstance(observer, InotifyObserver):
        assert isinstance(watch, InotifyWatch)
        observer.unschedule(watch)
    else:
        assert isinstance(watch, ObservedWatch)
        observer.unschedule(watch)
