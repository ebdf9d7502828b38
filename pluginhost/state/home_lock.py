"""The home lock: one host process per home, and what readers learn of its holder.

The lock file is a path of the home that someone else may have replaced while the host was
stopped: a FIFO there blocked ``pluginhost list`` forever on its open, and a host on it made every
other command fail with ``Illegal seek``. So it is opened only as a regular file, never blocking
and never through a link (:mod:`.regular`), and anything else is refused with its name and what it
is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Final, final

from ..model.errors import HostStateError
from . import fs
from .regular import NotRegularFileError, open_regular

__all__ = ["HomeLock"]


@final
class HomeLock:
    """An exclusive, advisory lock on a host home: one host process per home.

    An ``flock`` on ``home/lock``: the kernel drops it when the process dies, so a killed host
    never leaves a stale lock. Locks belong to an open file description, so a second
    :class:`HomeLock` on the same home is refused within one process too. The descriptor is
    close-on-exec, and closed in every child made by ``fork`` (``os.register_at_fork``), so no
    process started by the host or by its plugins keeps the home locked after the host dies.

    Only another holder of the exclusive lock refuses :meth:`acquire`: a reader's probe
    (:meth:`holder`, from ``pluginhost list``, ``status`` or ``doctor``) holds a shared lock for
    an instant, and is waited out rather than taken for a host.

    Usage::

        with HomeLock(home):
            ...  # this process alone uses home

    :param home: the host's home directory; created if missing.
    """

    def __init__(self, home: Path) -> None:
        self.home: Final = Path(home)
        self.path: Final = self.home / "lock"
        self._fd: int | None = None
        self._pid = os.getpid()

    def acquire(self) -> None:
        """Take the lock without waiting, and record this process in the lock file.

        :raises HostStateError: when another process, another :class:`HomeLock` of this
            process, or this one already holds it (naming the holder), or the lock file
            cannot be opened.
        """
        if self._fd is not None:
            raise HostStateError(f"home {self.home} is already locked by this HomeLock")
        fd = self._open()
        try:
            taken = _lock_exclusive(fd, self.path)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise HostStateError(f"home {self.home} is in use by {holder}")
        self._fd = fd
        self._pid = os.getpid()
        _HELD.add(fd)
        self._record()

    def release(self) -> None:
        """Give the lock up; does nothing when it is not held."""
        fd, self._fd = self._fd, None
        if fd is None or self._pid != os.getpid():
            return  # in a forked child, whose copy of the descriptor is closed already
        _HELD.discard(fd)
        try:
            # Emptied while still held, so that nobody reads our pid once we are gone. The file
            # itself stays: unlinking it would let two processes lock two different inodes.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    @staticmethod
    def holder(home: Path) -> int | None:
        """Return the pid recorded by the process holding the lock on ``home``, if it is held.

        Probes with a shared, non-blocking lock, which an :meth:`acquire` elsewhere waits out:
        a probe never makes a host's start fail. The lock file is opened as a regular file only,
        never blocking (a FIFO there blocked ``pluginhost list`` forever).

        :returns: the holder's pid; ``None`` when nobody holds the lock or no pid is recorded.
        :raises HostStateError: when the lock file is not a regular file (a FIFO, a directory,
            a symbolic link), or cannot be opened: no host can lock it, and whether one runs
            cannot be told. The error names the file and says what it is.
        """
        path = Path(home) / "lock"
        try:
            fd, _ = open_regular(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unusable(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse_pid(os.pread(fd, 4096, 0))
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def _open(self) -> int:
        try:
            fs.make_dirs(self.home)
            return fs.open_lock(self.path)
        except OSError as exc:
            raise _unusable(self.path, exc) from exc

    def _record(self) -> None:
        # Written only once locked, through the locked descriptor, so a refused process never
        # overwrites the holder's record. A failure here does not matter for the lock itself.
        # Not synced: only a live process's record is ever read (the kernel drops the lock of
        # one that died), through the page cache; the sync of a new file cost 1.5 to 3 ms of
        # every start.
        assert self._fd is not None
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n{started}\n".encode(), 0)


# Probes hold their shared lock for microseconds; this bounds the wait for a storm of them.
_PROBE_WAIT: Final = 5.0
# The descriptors of the locks this process holds (even a HomeLock dropped without release).
_HELD: Final[set[int]] = set()


def _lock_exclusive(fd: int, path: Path) -> bool:
    """Take the exclusive lock on ``fd``; ``False`` when another process holds it exclusively.

    A refusal while nobody holds it exclusively comes from readers' shared probes: a shared
    lock on a second descriptor then succeeds, and the exclusive one is tried again.
    """
    deadline = time.monotonic() + _PROBE_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        if not _only_probed(path) or time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _only_probed(path: Path) -> bool:
    """Whether nobody holds ``path``'s lock exclusively (readers' probes may hold it shared)."""
    try:
        fd, _ = open_regular(path)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _forget_in_child() -> None:
    """In a child made by ``fork``: drop its copy of each lock's descriptor, never unlocking
    (that would unlock the parent's lock, which is the same open file description)."""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _unusable(path: Path, exc: OSError) -> HostStateError:
    """The lock file at ``path`` refused or failed to open, said with its name and why."""
    if isinstance(exc, NotRegularFileError):
        why = f"it {exc}: no host can lock it (remove it; a start makes a new one)"
    else:
        why = fs.describe(exc)
    return HostStateError(f"cannot open the lock file: {why}", path=path)


def _parse_pid(record: bytes) -> int | None:
    first = record.split(b"\n", 1)[0].strip()
    return int(first) if first.isdigit() else None


def _describe(record: bytes) -> str:
    """Say who holds a lock from its record: ``process 1234 (started ...)``."""
    pid = _parse_pid(record)
    if pid is None:
        # The holder has locked but not yet written its record, or is not a pluginhost.
        return "another process"
    lines = record.decode("utf-8", "replace").splitlines()
    started = f" (started {lines[1]})" if len(lines) > 1 and lines[1] else ""
    return f"process {pid}{started}"
