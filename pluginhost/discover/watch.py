"""Watched folders: filesystem events become "these wheel files settled, or went away".

The watcher never installs or imports anything: it tells the host's single worker that a folder
changed, once the files concerned stopped changing, and the host rescans that folder. Its contract:
every change to a wanted file eventually leads to one ``on_change`` call made after the file
stopped changing; a storm of events leads to few calls; nothing is reported while a file is
still being written (as far as its size, mtime and inode tell).

How a change travels::

    observer thread   event ──► pending[path] = (stat signature, due = now + settle)
                                    (renamed into the folder: due = now)
    watcher thread    due   ──► stat again ── same ──► settled ──► on_change(FolderChange)
                             (renamed in: └─ differs ─► due = now + settle
                              settled at once)
                      every second             ──► folder still there? down folders re-armed
                      every rescan_interval,   ──► folder snapshot compared with what was
                      on wait_quiet(), and when    handed over; differences become pending
                      the system dropped events

One thread (``pluginhost-watcher``) does every stat after the first, every rescan and every
callback but one, and no timer is started per event. The one: a wheel renamed into a folder is
complete, and the thread that reads the events hands it over itself (each hand-over between
two threads is a wait for the interpreter lock, which threads calling hooks without pause make
long). Callbacks run one at a time all the same.
The paths settling are kept in :mod:`.pending`, folders are armed by :mod:`.observers` (on
Linux, inotify read by one thread of ours, :mod:`.inotify`; elsewhere, and when polling,
watchdog's observers), and folders are read and checked by :mod:`.folder_snapshot`.

What is guaranteed:

- A change is handed over once its ``(size, mtime_ns, inode)`` stayed the same for ``settle``
  seconds (a path that went away: stayed away as long), in one call per folder per round; the
  paths due within one more settle time join the same round. A file renamed into the folder
  (``mv``, ``os.replace``; reported by inotify, not by polling) is complete when it appears:
  it is due at once, with the stat taken at its event (a later change makes an event of its
  own).
- A change that nets to nothing against what was last handed over (a wheel created and removed
  within the settle time, a late event for a file already reported) makes no call.
- :meth:`FolderWatcher.wait_quiet` is exact: it does not trust that events have arrived but has
  the watcher rescan every folder after the call, so every change made before it is handed over,
  settled, before it returns ``True``. :meth:`FolderWatcher.busy` alone only knows the events
  delivered so far: on Linux, about a millisecond after a writer's ``close()`` or a rename
  (watchdog's observers elsewhere tell a file moved out of the folder about 0.5 s late).

What is not: a writer that pauses for longer than ``settle`` mid-file is taken as done (its
next write makes another call), and a file replaced by one of the same size, mtime and inode
goes unnoticed (the host's read cache could not tell them apart either).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Literal, final

from watchdog.events import FileSystemEvent

from ..model.errors import HostStateError
from ..model.frozen import frozen
from ..model.pacing import paced_thread
from .folder_snapshot import (
    WatchedFolder,
    default_wanted,
    differences,
    read_signature,
    read_snapshot,
    remember,
    unwatchable_reason,
    watched_folders,
)
from .observers import Observers
from .pending import PendingPaths

__all__ = ["CHECK_INTERVAL", "WATCHING_AGAIN", "FolderChange", "FolderWatcher"]

logger = logging.getLogger("pluginhost")

#: Seconds between checks that each folder is still there; folders that are down are retried
#: this often.
CHECK_INTERVAL: Final = 1.0

#: The reason given to ``on_problem`` when a folder that was down can be watched again.
WATCHING_AGAIN: Final = "folder is back, watching again"


@frozen
class FolderChange:
    """Wanted files of one watched folder that appeared, changed or went away, each settled.

    :param folder: the watched folder, exactly as given to :class:`FolderWatcher`.
    :param paths: the files concerned, ``folder / name``; those that went away do not exist.
    """

    folder: Path
    paths: frozenset[Path]


@final
class FolderWatcher:
    """Watches folders of wheels and reports settled changes to ``on_change``.

    Files already in a folder at :meth:`start` are its baseline and are not reported: the host
    reads the folders itself when it starts. Only the folders themselves are watched, not their
    subfolders. ``on_change`` and ``on_problem`` run on the watcher's own thread, one call at a
    time (``on_problem`` also from :meth:`start`, for folders unusable then); an exception in
    them is logged and the watcher goes on. From there :meth:`wait_quiet` refuses (it would
    wait for itself) and :meth:`stop` does not join the watcher's thread.

    A folder missing, deleted, replaced or unreadable is reported once to ``on_problem``; it is
    retried every :data:`CHECK_INTERVAL` seconds and, once back, reported again with a reason
    containing ``"watching again"``, followed by an ``on_change`` for every file found in it and
    every file that went away meanwhile.

    :param folders: the folders to watch.
    :param on_change: called with each settled :class:`FolderChange`.
    :param wanted: which file names to watch; :func:`default_wanted` by default.
    :param on_problem: called with a folder and the reason it cannot be watched, or is again.
    :param on_polled: called with a folder that is polled instead of watched with events
        (the system's inotify instances or watches ran out), and why.
    :param settle: seconds a file's size, mtime and inode must stay the same before it is
        reported; a path that went away must stay away as long.
    :param rescan_interval: seconds between full rescans that catch events the OS lost.
    :param polling: poll the folders instead of using inotify (network filesystems).
    :param poll_interval: seconds between polls when ``polling``.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        on_change: Callable[[FolderChange], None],
        *,
        wanted: Callable[[str], bool] = default_wanted,
        on_problem: Callable[[Path, str], None] | None = None,
        on_polled: Callable[[Path, str], None] | None = None,
        settle: float = 0.3,
        rescan_interval: float = 30.0,
        polling: bool = False,
        poll_interval: float = 1.0,
    ) -> None:
        self._folders: Final = watched_folders(folders)
        self._on_change: Final = on_change
        self._wanted: Final = wanted
        self._on_problem: Final = on_problem or _log_problem
        self._on_polled: Final = on_polled or _log_problem
        self._settle: Final = settle
        self._rescan_interval: Final = rescan_interval
        # Its lock is never taken while holding _cond.
        self._observers: Final = Observers(
            self._on_event,
            wanted,
            polling=polling,
            poll_interval=poll_interval,
            on_overflow=self._events_lost,
        )
        # One lock, two conditions: the watcher's thread waits on _cond for work, wait_quiet()
        # on _quiet for the end of a hand-over. A hand-over wakes no thread that has no use
        # for it: under busy callers, a thread woken for nothing waits for the interpreter
        # lock beside the worker.
        lock = threading.RLock()
        self._cond: Final = threading.Condition(lock)
        self._quiet: Final = threading.Condition(lock)
        self._thread: Final = threading.Thread(
            target=self._run, name="pluginhost-watcher", daemon=True
        )
        self._state: Literal["new", "running", "stopped"] = "new"
        self._pending: Final = PendingPaths(settle)  # under _cond
        self._handing_over = 0  # hand-overs under way (the watcher's, the events' thread's)
        self._calling: Final = threading.Lock()  # callbacks one at a time
        self._in_callback: Final = threading.local()
        self._sync_asked = 0  # wait_quiet() tickets handed out ...
        self._sync_done = 0  # ... and covered by a full rescan
        self._next_check = self._next_rescan = 0.0

    # -- public ------------------------------------------------------------------------------

    def start(self) -> None:
        """Take each folder's baseline and start watching; returns once the baseline is taken.

        :raises HostStateError: when the watcher was started before.
        """
        with self._cond:
            if self._state != "new":
                raise HostStateError("a folder watcher can be started only once")
            self._state = "running"
        self._observers.start()
        for folder in self._folders.values():
            armed = self._observers.arm(folder.key)
            if isinstance(armed, str):
                folder.problem = armed
                self._report_problem(folder, armed)
            else:
                folder.identity, folder.known = armed.identity, armed.snapshot
                self._report_polled(folder, armed.polled)
        now = time.monotonic()
        self._next_check = now + CHECK_INTERVAL
        self._next_rescan = now + self._rescan_interval
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and join the watcher's threads; does nothing when already stopped.

        Changes not handed over yet are dropped.

        :param timeout: seconds to wait for each thread.
        """
        with self._cond:
            if self._state == "stopped":
                return
            started = self._state == "running"
            self._state = "stopped"
            self._cond.notify_all()
            self._quiet.notify_all()
        if not started:
            return
        self._observers.stop(timeout)
        # Not started when start() failed; not joinable from its own callbacks.
        if self._thread.ident is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def busy(self) -> bool:
        """Whether a change was seen and not handed over yet, or ``on_change`` is running.

        An event reaches the watcher within the inotify latency (about a millisecond), so
        right after a write this may still say ``False``: use :meth:`wait_quiet` for an exact
        answer.
        """
        with self._cond:
            return self._busy()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until every change made before this call has been handed to ``on_change``.

        Rather than trusting that events have arrived, this asks the watcher thread for a full
        rescan started after the call, and waits until it is done and nothing is pending: a
        file written (and closed) before the call is reported, settled, before this returns
        ``True``. A stopped or never started watcher is quiet.

        :param timeout: seconds to wait at most.
        :returns: ``False`` when changes were still pending at ``timeout``.
        :raises HostStateError: when called from a callback (``on_change``, ``on_problem``,
            ``on_polled``).
        """
        if getattr(self._in_callback, "on", False):
            raise HostStateError("wait_quiet() cannot be called from the watcher's callbacks")
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._state != "running":
                return True
            self._sync_asked += 1
            ticket = self._sync_asked
            self._cond.notify_all()
            while self._state == "running" and (self._sync_done < ticket or self._busy()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._quiet.wait(remaining)
            return True

    # -- the observer's thread ---------------------------------------------------------------

    def _on_event(self, event: FileSystemEvent) -> None:
        # An exception here would end the observer's thread and every later event with it.
        try:
            if event.is_directory:
                self._on_folder_event(os.fsdecode(event.src_path))
                return
            if event.src_path:
                self._note(os.fsdecode(event.src_path))
            if event.dest_path:
                # A rename is atomic: the file it brings in is complete, nothing to wait for.
                self._note(os.fsdecode(event.dest_path), at_once=True)
        except Exception:
            logger.exception("folder watcher: handling %s failed", event)

    def _events_lost(self) -> None:
        # The system dropped events: every folder is read again now, as at a periodic rescan.
        with self._cond:
            self._next_rescan = 0.0
            self._cond.notify_all()

    def _on_folder_event(self, path: str) -> None:
        folder = self._folders.get(path)
        if folder is not None:
            with self._cond:
                folder.suspect = True
                self._cond.notify_all()

    def _note(self, path: str, *, at_once: bool = False) -> None:
        parent, name = os.path.split(path)
        if parent not in self._folders or not self._wanted(name):
            return
        # The first stat here rather than on the watcher thread: settling starts at the event.
        signature = read_signature(path)
        with self._cond:
            self._pending.seen((parent, name), signature, time.monotonic(), at_once=at_once)
            if not at_once:
                # The watcher's thread waits for it to settle. One due now is handed over
                # below: a thread woken for nothing would only wait for the interpreter lock
                # beside the worker.
                self._cond.notify_all()
        if at_once:
            # Due now: handed over from here, not after a wake of the watcher's thread.
            self._hand_over(self._collect_settled())

    # -- the watcher's thread ----------------------------------------------------------------

    def _run(self) -> None:
        paced_thread()  # its rescans run while the application calls hooks
        while self._wait_for_work():
            try:
                self._check_folders()
                self._hand_over(self._collect_settled())
            except Exception:
                logger.exception("folder watcher: a round of checks failed")
                with self._cond:
                    # Not at once: the same failure would spin.
                    self._cond.wait(CHECK_INTERVAL)

    def _wait_for_work(self) -> bool:
        with self._cond:
            while self._state == "running":
                delay = self._next_work() - time.monotonic()
                if delay <= 0:
                    return True
                self._cond.wait(delay)
            return False

    def _next_work(self) -> float:
        if self._sync_asked > self._sync_done or any(f.suspect for f in self._folders.values()):
            return 0.0
        return min(self._next_check, self._next_rescan, self._pending.next_round())

    def _check_folders(self) -> None:
        now = time.monotonic()
        with self._cond:
            ticket = self._sync_asked
            full = ticket > self._sync_done or now >= self._next_rescan
            periodic = full or now >= self._next_check
            suspects = [f for f in self._folders.values() if f.suspect]
            for folder in suspects:
                folder.suspect = False
        for folder in self._folders.values():
            if periodic or folder in suspects:
                self._check_folder(folder, full=full)
        with self._cond:
            if periodic:
                self._next_check = now + CHECK_INTERVAL
            if full:
                self._next_rescan = now + self._rescan_interval
                # The differences found are pending by now, so wait_quiet() sees them as busy.
                self._sync_done = max(self._sync_done, ticket)
            self._quiet.notify_all()

    def _check_folder(self, folder: WatchedFolder, *, full: bool) -> None:
        if folder.problem is not None:
            self._rearm(folder)
            return
        lost = folder.lost()
        if lost is not None:
            self._go_down(folder, lost)
            # A folder replaced by another is watched again at once.
            self._rearm(folder)
        elif full:
            self._rescan(folder)

    def _go_down(self, folder: WatchedFolder, reason: str) -> None:
        self._observers.disarm(folder.key)
        with self._cond:
            # Its pending paths are dropped when due: the re-arm compares with ``known``.
            folder.problem = reason
        self._report_problem(folder, reason)

    def _rearm(self, folder: WatchedFolder) -> None:
        armed = self._observers.arm(folder.key)
        if isinstance(armed, str):
            return  # still down, and reported when it went down
        folder.identity = armed.identity
        self._report_polled(folder, armed.polled)
        now = time.monotonic()
        with self._cond:
            folder.problem = None
            # Whatever is there now and whatever went away meanwhile: the host reconciles.
            for name in {*armed.snapshot, *folder.known}:
                self._pending.force((folder.key, name), armed.snapshot.get(name), now)
            self._cond.notify_all()
            self._quiet.notify_all()
        self._report_problem(folder, WATCHING_AGAIN)

    def _rescan(self, folder: WatchedFolder) -> None:
        try:
            snapshot = read_snapshot(folder.key, self._wanted)
        except OSError as exc:
            self._go_down(folder, unwatchable_reason(exc))
            return
        now = time.monotonic()
        with self._cond:
            for name in differences(folder.known, snapshot):
                self._pending.missed((folder.key, name), snapshot.get(name), now)

    def _collect_settled(self) -> dict[str, set[str]]:
        """Take the due paths that stayed the same out of ``pending``: names by folder key."""
        with self._cond:
            if self._state != "running":
                return {}  # stopped: what was not handed over is dropped
            due = self._pending.due(time.monotonic())
        # No I/O under the lock. A path renamed into place keeps the signature its event took:
        # under busy callers, each stat is one more wait for the interpreter lock.
        current = {
            key: entry.signature if entry.complete else read_signature(os.path.join(*key))
            for key, entry in due.items()
        }
        settled: dict[str, set[str]] = {}
        with self._cond:
            now = time.monotonic()
            for key, entry in due.items():
                folder = self._folders[key[0]]
                if folder.problem is not None:
                    self._pending.discard(key, entry)
                elif self._pending.settled(key, entry, current[key], now) and (
                    remember(folder.known, key[1], entry.signature) or entry.forced
                ):
                    settled.setdefault(key[0], set()).add(key[1])
            # Counted in the same breath as the paths leave ``pending``: busy() never blinks.
            if settled:
                self._handing_over += 1
            self._quiet.notify_all()  # none settled may leave nothing pending
        return settled

    def _hand_over(self, settled: dict[str, set[str]]) -> None:
        if not settled:
            return
        try:
            for key, names in settled.items():
                folder = self._folders[key]
                change = FolderChange(folder.path, frozenset(folder.path / n for n in names))
                self._call(self._on_change, change, what="on_change", folder=folder.path)
        finally:
            with self._cond:
                self._handing_over -= 1
                self._quiet.notify_all()

    # -- helpers -------------------------------------------------------------------------------

    def _busy(self) -> bool:
        if self._state != "running":
            return False  # nothing more will be handed over
        return bool(self._pending or self._handing_over) or self._sync_asked > self._sync_done

    def _report_problem(self, folder: WatchedFolder, reason: str) -> None:
        self._call(self._on_problem, folder.path, reason, what="on_problem", folder=folder.path)

    def _report_polled(self, folder: WatchedFolder, reason: str | None) -> None:
        """Tell that ``folder`` is polled, not watched with events (inotify ran out)."""
        if reason is not None:
            self._call(self._on_polled, folder.path, reason, what="on_polled", folder=folder.path)

    def _call(
        self, callback: Callable[..., object], *args: object, what: str, folder: Path
    ) -> None:
        """Run one callback: one at a time, marked as such for :meth:`wait_quiet`, and logged
        when it raises (the watcher goes on)."""
        with self._calling:
            self._in_callback.on = True
            try:
                callback(*args)
            except Exception:
                logger.exception("watched folder %s: %s failed", folder, what)
            finally:
                self._in_callback.on = False


def _log_problem(folder: Path, reason: str) -> None:
    logger.warning("watched folder %s: %s", folder, reason)
