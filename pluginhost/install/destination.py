"""Where ``installer`` writes a wheel's files: a private site dir, in few system calls.

``installer``'s own destination checks that a file is new with a ``stat``, creates it through a
buffered file object (``fstat``, ``ioctl``, ``lseek``, ``write``, ``close``), and leaves the
umask's modes, which took a second walk of ``lstat`` and ``chmod`` to make private: about a
dozen system calls a member. A thread that holds Python's interpreter lock gives it up at
each one and waits for it again, up to the switch interval (5 ms) when other threads call
hooks without pause; so under busy callers a swap's time went by system calls, not by work.

Here a member is ``open`` (new, private, never through a symbolic link), ``write``, ``close``,
and each directory is made once, private. What ``installer`` decides (paths, RECORD, scripts)
stays its own: only the writing is done here, with its check that a member stays under its
scheme's dir made again.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from typing import BinaryIO, Final

from installer.destinations import SchemeDictionaryDestination
from installer.records import Hash, RecordEntry
from installer.utils import Scheme, get_launcher_kind

from ..state import fs

__all__ = ["PrivateDestination", "private_destination"]

_FILE: Final = 0o600
_EXECUTABLE: Final = 0o700
_DIR: Final = 0o700
_NEW: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass
class PrivateDestination(SchemeDictionaryDestination):
    """A destination of ``installer`` writing with private modes (files ``0600``, executables
    and directories ``0700``), never over an existing file nor through a symbolic link."""

    made: set[str] = dataclasses.field(default_factory=set)
    """The directories made or found so far: each is asked for once."""

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        target = _within(self.scheme_dict[scheme], path)
        _make_dir(os.path.dirname(target), self.made)
        data = stream.read()  # a member of a validated wheel: bounded, in memory already
        _write_new(target, data, _EXECUTABLE if is_executable else _FILE)
        # RECORD's form: the digest in URL-safe base64 without padding.
        digest = hashlib.new(self.hash_algorithm, data).digest()
        value = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        return RecordEntry(path, Hash(self.hash_algorithm, value), len(data))


def private_destination(scheme_dict: dict[str, str], interpreter: str) -> PrivateDestination:
    """A :class:`PrivateDestination` into ``scheme_dict``'s dirs, compiling no bytecode."""
    return PrivateDestination(
        scheme_dict,
        interpreter=interpreter,
        script_kind=get_launcher_kind(),
        bytecode_optimization_levels=(),
    )


def _within(root: str, path: str) -> str:
    """``root/path``, refusing a path that leaves ``root`` (validation refused such names
    already; this holds whatever installer hands over). Strings, not ``Path`` objects: a
    site dir's members are written in the site writer's answer to a swap, each one costing
    the parsing of a path several times over."""
    base = os.path.abspath(root)
    target = os.path.abspath(os.path.join(base, path))
    if not target.startswith(os.path.join(base, "")):
        raise ValueError(f"attempting to write {path} outside of the target directory")
    return target


def _make_dir(directory: str, made: set[str]) -> None:
    """Make ``directory`` and its missing parents, private; each is asked for once."""
    if directory in made:
        return
    try:
        os.mkdir(directory, _DIR)
    except FileExistsError:
        pass  # the staged site root's parent, or a directory of an earlier member
    except FileNotFoundError:
        # As deep as a member's path: validation bounds it.
        _make_dir(os.path.dirname(directory), made)
        os.mkdir(directory, _DIR)
    made.add(directory)


def _write_new(target: str, data: bytes, mode: int) -> None:
    try:
        fd = os.open(target, _NEW, mode)
    except FileExistsError:
        # Two wheels of one site dir shipping one file: installer's own words for it, and
        # no errno, so that it is an install that failed, not a path the disk cannot hold.
        raise FileExistsError(f"File already exists: {target}") from None
    try:
        fs.write(fd, data, target)
    finally:
        os.close(fd)
