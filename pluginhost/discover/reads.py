"""What a wheel file of a watched folder yielded, kept for as long as its identity stays the same.

A look reads a wheel again only when its identity changed: its size, modification time and
inode, from the one ``lstat`` the look makes of it (``stat`` for a symlink that a folder
follows).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..model.candidate import Candidate
from ..model.errors import ManifestError, WheelError
from ..model.frozen import frozen
from .wheel import WheelInfo

__all__ = ["Outcome", "Read", "StatKey", "identity", "key_of", "stat_key"]

StatKey = tuple[int, int, int]
"""A file's ``(size, mtime_ns, inode)``."""

Outcome = Candidate | WheelInfo | WheelError | ManifestError
"""What validation made of a wheel's bytes."""


@frozen
class Read:
    """What one wheel file yielded.

    :param key: the file's identity when it was read.
    :param sha256: the digest of the bytes read.
    :param outcome: what validation made of them; ``None`` while refused unread.
    """

    key: StatKey
    sha256: str
    outcome: Outcome | None = None


def stat_key(path: Path) -> StatKey:
    """The identity of the file ``path`` leads to."""
    return key_of(path.stat())


def key_of(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def identity(path: Path, st: os.stat_result | None = None) -> tuple[os.stat_result, StatKey]:
    """The ``lstat`` of a folder's wheel, and the wheel's identity (its target's, for a
    symlink): one system call for a file, none when ``st`` is its ``lstat`` made just now.
    Each is a wait for the interpreter lock when threads call hooks without pause."""
    if st is None:
        st = os.lstat(path)
    return st, stat_key(path) if stat.S_ISLNK(st.st_mode) else key_of(st)
