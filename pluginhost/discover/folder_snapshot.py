"""A watched folder as the watcher sees it: which files it wants, each wanted file's signature
``(size, mtime_ns, inode)``, snapshots of a folder, the folder's own identity, why a folder
cannot be watched, and :class:`WatchedFolder`, what the watcher keeps of each folder."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from ..model.pacing import paced
from ..state import held_stat

__all__ = [
    "Signature",
    "WatchedFolder",
    "default_wanted",
    "differences",
    "folder_identity",
    "read_signature",
    "read_snapshot",
    "remember",
    "unwatchable_reason",
    "watched_folders",
]

#: ``(size, mtime_ns, inode)``: the host caches what it read under the same key.
Signature = tuple[int, int, int]


def default_wanted(filename: str) -> bool:
    """Whether a file of this name is a wheel to watch: ``*.whl``, not a dotfile.

    Names of files still being written (``x.whl.part``, ``.tmp``, ``~``, ``.crdownload``) do not
    end in ``.whl`` and are therefore ignored; renaming them into place is what reports them::

        >>> default_wanted("a-1.0-py3-none-any.whl"), default_wanted("a.whl.part")
        (True, False)
    """
    return filename.endswith(".whl") and not filename.startswith(".")


def read_signature(path: str) -> Signature | None:
    """``(size, mtime_ns, inode)`` of a file (symlinks followed); ``None`` when there is none.

    Anything else named like a wheel (a FIFO, a device, a socket, a folder) has the size -1: it
    is reported like a file, so that the host refuses it by name (it never opens one in a way
    that blocks), rather than it going unseen until a full look.
    """
    try:
        # Made by the thread that reads the folder's events, as a renamed wheel's swap starts.
        st = held_stat.lstat(path, os.path.dirname(path), follow=True)
    except OSError:
        return None
    return (st.st_size if stat.S_ISREG(st.st_mode) else -1, st.st_mtime_ns, st.st_ino)


def read_snapshot(folder: str, wanted: Callable[[str], bool]) -> dict[str, Signature]:
    """The wanted files of ``folder`` by name (see :func:`read_signature`).

    :raises OSError: when the folder cannot be listed.
    """
    found: dict[str, Signature] = {}
    with os.scandir(folder) as entries:
        # An lstat each: 64 of them held the lock for 2-9 ms on a slow disk (the listing of a
        # thousand wheels at each rescan), pausing a caller a switch interval or more.
        for entry in paced(entries, every=8):
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


@attrs.define(eq=False)
class WatchedFolder:
    """One watched folder. Only the watcher thread (or ``start()``, before it runs) changes
    ``identity`` and ``known``; ``problem`` and ``suspect`` change under the watcher's lock."""

    path: Path  # as given: the host keys its folders by it
    key: str  # absolute: watchdog reports event paths under it
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the folder being watched
    known: dict[str, Signature] = attrs.Factory(dict)  # the files as last handed over
    problem: str | None = None  # why the folder is down; None while it is watched
    suspect: bool = False  # an event said the folder itself went away: check it now

    def lost(self) -> str | None:
        """Why the folder being watched can no longer be watched, if it cannot."""
        try:
            identity = folder_identity(self.key)
        except OSError as exc:
            return unwatchable_reason(exc)
        return None if identity == self.identity else "folder was replaced"


def watched_folders(folders: Iterable[Path]) -> dict[str, WatchedFolder]:
    """A :class:`WatchedFolder` for each folder by its absolute path, the first of duplicates."""
    by_key: dict[str, WatchedFolder] = {}
    for folder in folders:
        key = os.path.abspath(folder)
        by_key.setdefault(key, WatchedFolder(Path(folder), key))
    return by_key
