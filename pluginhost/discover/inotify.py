"""Linux's inotify read by one thread, which hands each event to the folder watcher itself.

watchdog's inotify observer passes an event through three threads (the one reading inotify,
the emitter, the dispatcher) before the watcher sees it. Each hand-over is a wait for the
interpreter lock: nothing when the host is idle, a switch interval (5 ms) or more when threads
of the application call hooks without pause. With four such threads, a wheel renamed into a
folder reached the watcher about 140 ms later, where one thread that reads and delivers takes
one wait.

:class:`InotifyObserver` keeps the part of watchdog's observer interface that
:mod:`.observers` uses (start, schedule, unschedule, stop, join) and delivers the events
:data:`~.observers.EVENTS` names, as watchdog's ``FileSystemEvent`` objects, to the handler
of the folder they happened in:

- a file created, written, closed after writing, its attributes changed, or deleted;
- renamed into the folder: a move with only a destination (the file is complete); renamed out
  of it: a move with only a source. The two halves of a rename within the folder come apart;
- the folder itself deleted or moved away: a directory deletion of the folder.

When the kernel's queue overflowed (events were lost), ``on_overflow`` is called: the watcher
then reads every folder again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import struct
import threading
from collections.abc import Callable
from typing import Final, final

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

from ..state import held

__all__ = ["ATTRIB_EVENT", "InotifyObserver", "InotifyWatch"]

logger = logging.getLogger("pluginhost")

# From <sys/inotify.h>.
_MODIFY: Final = 0x2
_ATTRIB: Final = 0x4
_CLOSE_WRITE: Final = 0x8
_MOVED_FROM: Final = 0x40
_MOVED_TO: Final = 0x80
_CREATE: Final = 0x100
_DELETE: Final = 0x200
_DELETE_SELF: Final = 0x400
_MOVE_SELF: Final = 0x800
_OVERFLOW: Final = 0x4000
_IGNORED: Final = 0x8000
_DONT_FOLLOW: Final = 0x02000000
_ONLY_DIR: Final = 0x01000000
_IS_DIR: Final = 0x40000000
# Linux's values, as inotify_init1 and pipe2 take them (this module is used on Linux only).
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0o4000)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0o2000000)

#: What a folder's watch asks the kernel for. Not opened, accessed or closed without writing:
#: the host reading a wheel is no change.
MASK: Final = (
    _MODIFY
    | _ATTRIB
    | _CLOSE_WRITE
    | _MOVED_FROM
    | _MOVED_TO
    | _CREATE
    | _DELETE
    | _DELETE_SELF
    | _MOVE_SELF
    | _DONT_FOLLOW
    | _ONLY_DIR
)

_HEADER: Final = struct.Struct("iIII")  # wd, mask, cookie, length of the name
_BUFFER: Final = 64 * 1024

#: The event of an attribute change (a touch, a chmod): watchdog 7 has one of its own; earlier
#: versions report it as a modification.
ATTRIB_EVENT: Final[type[FileSystemEvent]] = getattr(
    watchdog.events, "FileAttribEvent", FileModifiedEvent
)


class _Libc:
    """The three inotify calls of the C library, failing with :class:`OSError`."""

    def __init__(self) -> None:
        # Imported here: a host that watches no folder does not pay for ctypes (2 ms). The
        # process's own symbols hold the C library's (no find_library, which runs ldconfig).
        import ctypes  # noqa: PLC0415

        self._ctypes: Final = ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        self._init = libc.inotify_init1
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._remove = libc.inotify_rm_watch
        self._remove.argtypes = [ctypes.c_int, ctypes.c_int]

    def init(self) -> int:
        return self._checked(self._init(_NONBLOCK | _CLOEXEC), "inotify_init1")

    def add_watch(self, fd: int, path: str) -> int:
        return self._checked(self._add(fd, os.fsencode(path), MASK), path)

    def _checked(self, result: int, what: str) -> int:
        if result < 0:
            number = self._ctypes.get_errno()
            raise OSError(number, os.strerror(number), what)
        return int(result)

    def remove_watch(self, fd: int, wd: int) -> None:
        if self._remove(fd, wd) < 0:
            number = self._ctypes.get_errno()
            if number != errno.EINVAL:  # EINVAL: the kernel removed it (the folder went)
                logger.debug("inotify_rm_watch(%d): %s", wd, os.strerror(number))


@final
class InotifyWatch:
    """One folder scheduled on an :class:`InotifyObserver`."""

    def __init__(self, path: str, wd: int, handler: FileSystemEventHandler) -> None:
        self.path: Final = path
        self.wd: Final = wd
        self.handler: Final = handler


@final
class InotifyObserver:
    """Watches folders with one inotify instance, read by one thread that delivers each event.

    >>> observer = InotifyObserver(on_overflow=rescan)  # OSError: no inotify instance left
    >>> observer.start()
    >>> watch = observer.schedule(handler, "/srv/wheels")  # OSError: ENOSPC, ENOENT, ...
    >>> observer.unschedule(watch)
    >>> observer.stop(); observer.join(5.0)

    :param on_overflow: called on the reading thread when the kernel dropped events.
    """

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        self._libc: Final = _Libc()
        self._fd: Final = self._libc.init()
        try:
            self._wake_read, self._wake_write = os.pipe2(_CLOEXEC | _NONBLOCK)
        except OSError:
            os.close(self._fd)
            raise
        self._on_overflow: Final = on_overflow
        self._lock: Final = threading.Lock()
        # Several paths can name one folder (one watch descriptor): each is told.
        self._watches: dict[int, list[InotifyWatch]] = {}  # under _lock
        self._stopping = False
        # Once closed, the descriptors' numbers may be another file's: never used again.
        self._closed = False  # under _lock
        self._thread: Final = threading.Thread(
            target=self._run, name="pluginhost-inotify", daemon=True
        )

    def start(self) -> None:
        """Start the reading thread."""
        self._thread.start()

    def schedule(self, handler: FileSystemEventHandler, path: str) -> InotifyWatch:
        """Watch the folder ``path``; its events go to ``handler``.

        :raises OSError: when it cannot be watched (``ENOSPC``: the system's watches ran out).
        """
        with self._lock:
            if self._closed:
                raise OSError(errno.EBADF, "the folder watcher's inotify instance is closed", path)
            wd = self._libc.add_watch(self._fd, path)
            watch = InotifyWatch(path, wd, handler)
            self._watches.setdefault(wd, []).append(watch)
        return watch

    def unschedule(self, watch: InotifyWatch) -> None:
        """Stop watching ``watch``'s folder; its events still queued are dropped.

        :raises KeyError: when it is not scheduled (as watchdog's observers do).
        """
        with self._lock:
            scheduled = self._watches.get(watch.wd, [])
            if watch not in scheduled:
                raise KeyError(watch.path)
            scheduled.remove(watch)
            if not scheduled:
                del self._watches[watch.wd]
                if not self._closed:
                    self._libc.remove_watch(self._fd, watch.wd)

    def stop(self) -> None:
        """Ask the reading thread to end (it closes the inotify instance)."""
        with self._lock:
            self._stopping = True
            if self._closed:
                return
            # BlockingIOError: a byte is there already, and the thread wakes anyway.
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_write, b"x")

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reading thread to end; the instance is closed once it did."""
        if self._thread.ident is None:
            self._close()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def folders(self) -> frozenset[str]:
        """The paths scheduled."""
        with self._lock:
            return frozenset(w.path for ws in self._watches.values() for w in ws)

    # -- the reading thread --------------------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()  # not select(): a busy host's descriptors pass 1024
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        try:
            while True:
                poller.poll()
                if self._stopping:
                    break
                self._read()
        finally:
            self._close()

    def _read(self) -> None:
        try:
            # Non-blocking: read keeping the interpreter lock (one wait for it fewer, under
            # threads that call hooks without pause).
            data = held.read(self._fd, _BUFFER)
        except BlockingIOError:
            return
        except OSError:
            # Not expected of an open instance; the watcher's rescans still find changes.
            logger.exception("folder watcher: reading inotify failed; its events stop")
            self._stopping = True
            return
        for wd, mask, name in _events(data):
            try:
                self._deliver(wd, mask, name)
            except Exception:
                # The thread goes on: the next events, and the watcher's rescans, still count.
                logger.exception("folder watcher: handling an inotify event failed")

    def _deliver(self, wd: int, mask: int, name: str) -> None:
        if mask & _OVERFLOW:
            logger.warning("folder watcher: the kernel dropped events; reading the folders again")
            self._on_overflow()
            return
        with self._lock:
            watches = list(self._watches.get(wd, ()))
            if mask & _IGNORED:
                # The kernel ended the watch (the folder went): nothing more comes for it.
                self._watches.pop(wd, None)
        for watch in watches:
            event = _event(watch.path, mask, name)
            if event is not None:
                watch.handler.dispatch(event)

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._watches.clear()
            for fd in (self._fd, self._wake_read, self._wake_write):
                try:
                    os.close(fd)
                except OSError as exc:
                    # Closed by someone else (plugin code calling os.closerange()): the thread
                    # still ends as it should, and the rescans go on finding changes.
                    logger.warning("folder watcher: closing descriptor %d failed: %s", fd, exc)


def _events(data: bytes) -> list[tuple[int, int, str]]:
    """The ``(wd, mask, name)`` of each event in what one read returned."""
    found = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        name = data[offset : offset + length].rstrip(b"\0")
        offset += length
        found.append((wd, mask, os.fsdecode(name)))
    return found


def _event(folder: str, mask: int, name: str) -> FileSystemEvent | None:
    """The watchdog event that one inotify event in ``folder`` is, or ``None``."""
    if not name:
        # The folder itself: deleted or moved away (the watcher checks it at once).
        return DirDeletedEvent(folder) if mask & (_DELETE_SELF | _MOVE_SELF) else None
    if mask & _IS_DIR:
        return None  # a subfolder: never watched
    path = os.path.join(folder, name)
    if mask & _MOVED_TO:
        return FileMovedEvent("", path)  # renamed in: complete when it appears
    if mask & _MOVED_FROM:
        return FileMovedEvent(path, "")
    kind = next((k for bit, k in _KINDS if mask & bit), None)
    return None if kind is None else kind(path)


# The event of each other change of a file, the first bit set deciding.
_KINDS: Final[tuple[tuple[int, type[FileSystemEvent]], ...]] = (
    (_DELETE, FileDeletedEvent),
    (_CLOSE_WRITE, FileClosedEvent),
    (_CREATE, FileCreatedEvent),
    (_MODIFY, FileModifiedEvent),
    (_ATTRIB, ATTRIB_EVENT),
)
