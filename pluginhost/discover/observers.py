"""The watchdog side of the folder watcher: which events are watched, the handler passing them
on, and the observer (inotify where it can, polling otherwise)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Final

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
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

if sys.platform.startswith("linux"):
    from watchdog.observers.inotify import InotifyObserver

__all__ = ["EVENTS", "Handler", "make_observer"]

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
