"""``lstat`` that keeps the interpreter lock, for the few made on a swap's path.

``os.lstat`` lets Python's interpreter lock go for the system call. Alone, that costs nothing;
while threads of the application call hooks without pause, the thread that let it go waits
for it again, a switch interval (5 ms) or more, behind each of them in turn. A wheel renamed
into a watched folder was stat-ed three times before its swap could start (by the thread that
reads the folder's events, then by the worker: the folder, then the wheel), each a wait.

So those three calls go through :func:`lstat`: Linux's ``statx`` called by ``ctypes.PyDLL``,
which keeps the lock over the call. A stat of a name on a local disk file system (the kernel
finds it in its cache, or reads one block) takes microseconds; on a network or FUSE file system
it may block for as long as the server takes, every thread of the process with it. So the lock
is kept only under a folder whose file system is one of :data:`LOCAL` (asked once per folder
with ``statfs``, and again after :func:`forget`, which each full trust check calls: a file
system mounted over a folder meanwhile is seen then), and a symbolic link is followed the usual
way. Elsewhere (another system, no ``statx``, no ``ctypes``), ``os.lstat`` and ``os.stat``
serve: slower under busy callers, the same otherwise.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
from typing import Any, ClassVar, Final

__all__ = ["LOCAL", "forget", "keeps_lock", "lstat"]

#: Local disk and memory file systems, by ``statfs``'s ``f_type`` (``<linux/magic.h>``):
#: ext2/3/4, XFS, Btrfs, tmpfs, ramfs, overlayfs, F2FS, ZFS, bcachefs.
LOCAL: Final = frozenset(
    {
        0xEF53,
        0x58465342,
        0x9123683E,
        0x01021994,
        0x858458F6,
        0x794C7630,
        0xF2F52010,
        0x2FC12FC1,
        0xCA451A4E,
    }
)

_AT_FDCWD: Final = -100
_AT_SYMLINK_NOFOLLOW: Final = 0x100
_STATX_BASIC_STATS: Final = 0x7FF

# Whether each folder's file system is local, by folder (see forget()).
_local: dict[str, bool] = {}


def lstat(path: str | os.PathLike[str], folder: str, *, follow: bool = False) -> os.stat_result:
    """``os.lstat(path)`` (``os.stat`` with ``follow``), keeping the interpreter lock when
    ``folder``, the watched folder ``path`` is in or is, lies on a local file system.

    :raises OSError: as ``os.lstat`` raises it, naming ``path``.
    """
    calls = _loaded()
    if calls is None or not _is_local(calls, folder):
        return os.stat(path) if follow else os.lstat(path)
    try:
        found = calls.lstat(os.fsencode(path))
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EPERM):
            raise
        # A kernel without statx, or a sandbox that forbids it: the usual call answers.
        return os.stat(path) if follow else os.lstat(path)
    if follow and stat.S_ISLNK(found.st_mode):
        return os.stat(path)  # the target may be anywhere: the usual way
    return found


def keeps_lock(folder: str) -> bool:
    """Whether :func:`lstat` keeps the interpreter lock under ``folder``."""
    calls = _loaded()
    return calls is not None and _is_local(calls, folder)


def forget() -> None:
    """Ask each folder's file system again at its next :func:`lstat`."""
    _local.clear()


def _is_local(calls: _Calls, folder: str) -> bool:
    local = _local.get(folder)
    if local is None:
        local = _local[folder] = calls.fs_type(folder) in LOCAL
    return local


@functools.cache
def _loaded() -> _Calls | None:
    """The calls, loaded once; ``None`` where they cannot be (``os`` serves then)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # noqa: PLC0415  (imported by the first look told of a change)

        return _Calls(ctypes)
    except (ImportError, OSError, AttributeError):
        return None  # no ctypes, no C library, or one without statx (glibc before 2.28)


class _Calls:
    """``statx`` with the lock kept, and ``statfs`` without."""

    def __init__(self, ctypes: Any) -> None:
        self._ctypes = ctypes
        held = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the lock is kept over the call
        self._statx = held.statx
        self._statx.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_void_p,
        ]
        self._statx.restype = ctypes.c_int
        released = ctypes.CDLL(None, use_errno=True)
        self._statfs = released.statfs
        self._statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        self._statfs.restype = ctypes.c_int
        self._buffer = _statx_buffer(ctypes)

    def fs_type(self, folder: str) -> int | None:
        """``statfs``'s ``f_type`` of ``folder``; ``None`` when it cannot be asked."""
        ctypes = self._ctypes
        # f_type comes first, a long, on every Linux but s390x (whose mismatch reads as
        # "not local": the safe side).
        buffer = ctypes.create_string_buffer(512)
        if self._statfs(os.fsencode(folder), buffer) != 0:
            return None
        return int(ctypes.c_long.from_buffer(buffer).value)

    def lstat(self, path: bytes) -> os.stat_result:
        if b"\0" in path:
            raise ValueError("lstat: embedded null byte")  # as os.lstat says
        ctypes = self._ctypes
        found = self._buffer()
        flags = _AT_SYMLINK_NOFOLLOW
        if self._statx(_AT_FDCWD, path, flags, _STATX_BASIC_STATS, ctypes.byref(found)) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), os.fsdecode(path))
        return _result(found)


def _statx_buffer(ctypes: Any) -> Any:
    """``struct statx`` (``<linux/stat.h>``: the same layout on every architecture)."""

    class Time(ctypes.Structure):  # type: ignore[misc]
        _fields_: ClassVar = [
            ("sec", ctypes.c_int64),
            ("nsec", ctypes.c_uint32),
            ("pad", ctypes.c_int32),
        ]

    class Statx(ctypes.Structure):  # type: ignore[misc]
        u16, u32, u64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64
        _fields_: ClassVar = [
            *(("mask", u32), ("blksize", u32), ("attributes", u64), ("nlink", u32)),
            *(("uid", u32), ("gid", u32), ("mode", u16), ("pad", u16), ("ino", u64)),
            *(("size", u64), ("blocks", u64), ("attributes_mask", u64)),
            *(("atime", Time), ("btime", Time), ("ctime", Time), ("mtime", Time)),
            *(("rdev_major", u32), ("rdev_minor", u32), ("dev_major", u32), ("dev_minor", u32)),
            ("spare", u64 * 14),
        ]

    return Statx


def _result(found: Any) -> os.stat_result:
    """The ``os.stat_result`` ``os.lstat`` would have made of the same ``statx``."""
    times = (found.atime, found.mtime, found.ctime)
    return os.stat_result(
        (
            *(found.mode, found.ino, os.makedev(found.dev_major, found.dev_minor), found.nlink),
            *(found.uid, found.gid, found.size, *(t.sec for t in times)),
            *(t.sec + t.nsec * 1e-9 for t in times),  # as os makes them, to the last bit
            *(t.sec * 10**9 + t.nsec for t in times),
            *(found.blksize, found.blocks, os.makedev(found.rdev_major, found.rdev_minor)),
        )
    )
