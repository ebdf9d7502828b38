"""What a watched folder holds, as the watcher compares it: each wanted file's signature
``(size, mtime_ns, inode)``, snapshots of a folder, the folder's own identity, and why a folder
cannot be watched."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

__all__ = [
    "Signature",
    "differences",
    "folder_identity",
    "read_signature",
    "read_snapshot",
    "remember",
    "unwatchable_reason",
]

#: ``(size, mtime_ns, inode)``: the host caches what it read under the same key.
Signature = tuple[int, int, int]


def read_signature(path: str) -> Signature | None:
    """``(size, mtime_ns, inode)`` of a regular file (symlinks followed); ``None`` otherwise."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def read_snapshot(folder: str, wanted: Callable[[str], bool]) -> dict[str, Signature]:
    """The wanted regular files of ``folder`` by name.

    :raises OSError: when the folder cannot be listed.
    """
    found: dict[str, Signature] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if wanted(entry.name):
                signature = read_signature(entry.path)
                if signature is not None:
                    found[entry.name] = signature
    return found


def folder_identity(folder: str) -> tuple[int, int]:
    """:raises OSError: when ``folder`` is missing or is not a folder."""
    st = os.stat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
    return (st.st_dev, st.st_ino)


def differences(before: dict[str, Signature], after: dict[str, Signature]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def remember(known: dict[str, Signature], name: str, signature: Signature | None) -> bool:
    """Record a handed-over file in ``known``; whether that changed anything."""
    if known.get(name) == signature:
        return False
    if signature is None:
        del known[name]
    else:
        known[name] = signature
    return True


def unwatchable_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "folder is missing"
    if isinstance(exc, NotADirectoryError):
        return "not a folder"
    if isinstance(exc, PermissionError):
        return f"folder is unreadable: {exc.strerror}"
    return f"cannot watch the folder: {exc.strerror or exc}"
