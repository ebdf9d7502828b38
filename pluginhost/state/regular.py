"""Opening only regular files: what pluginhost reads from a path it was given or found.

A wheel, a trust file or a control request is a path someone else may have made. Opened the
ordinary way, a FIFO blocks until a writer comes (forever, while the host holds its lock), a
device such as ``/dev/zero`` never ends, and a symbolic link leads anywhere. So every such file
is opened by :func:`open_regular`:

- ``lstat`` first, so that a device is never even opened (opening some has side effects);
- ``O_NOFOLLOW`` (a link swapped in meanwhile is refused), ``O_NONBLOCK`` (a FIFO swapped in
  meanwhile does not block the open) and ``O_NOCTTY``;
- ``fstat`` of what was opened: a regular file, the very one ``lstat`` saw.

Callers that accept a symbolic link resolve it first, and check the target.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

__all__ = [
    "NotRegularFileError",
    "TooLargeError",
    "kind_of",
    "open_regular",
    "read_open",
    "read_regular",
    "read_small",
    "require_regular",
]

_FLAGS: Final = (
    os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
)
_CHUNK: Final = 1024 * 1024
_KINDS: Final = (
    (stat.S_ISLNK, "a symbolic link (not followed)"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegularFileError(OSError):
    """A path that is not a regular file (or not one that may be read), refused unread.

    Its text is the reason alone, e.g. ``is a FIFO, not a regular file``: callers put the path
    in front.
    """

    def __str__(self) -> str:
        return str(self.strerror)


class TooLargeError(NotRegularFileError):
    """A regular file larger than its reader's limit, refused before more than the limit is read.

    :ivar size: its size as ``fstat`` gave it, or ``None`` when it grew past the limit while it
        was read.
    :ivar limit: the most bytes its reader takes.
    """

    def __init__(self, path: str | os.PathLike[str], limit: int, size: int | None = None) -> None:
        if size is None:
            reason = f"holds over {limit} bytes, the limit"
        else:
            reason = f"is {size} bytes, over the limit of {limit}"
        super().__init__(errno.EINVAL, reason, os.fspath(path))
        self.size = size
        self.limit = limit


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words (``a FIFO``, ``a regular file``)."""
    return next((kind for test, kind in _KINDS if test(mode)), "a regular file")


def open_regular(
    path: str | os.PathLike[str],
    *,
    dir_fd: int | None = None,
    owner: int | None = None,
    before: os.stat_result | None = None,
) -> tuple[int, os.stat_result]:
    """Open a regular file for reading, never blocking and never following a final link.

    :param path: the file; relative to ``dir_fd`` when that is given.
    :param dir_fd: a directory opened already: ``path`` is found there, whatever its name
        leads to now.
    :param owner: the uid the file must belong to, if any.
    :param before: the ``lstat`` of ``path`` that the caller made just now, if it did: not
        made again (a system call, and so a wait for the interpreter lock when threads call
        hooks without pause). The file opened must be that very file.
    :returns: the descriptor (the caller closes it) and its ``fstat``.
    :raises NotRegularFileError: when ``path`` is not a regular file, not the owner's, or was
        replaced between the look and the open.
    :raises OSError: when it cannot be found or opened.
    """
    if before is None:
        before = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    _check(path, before, owner)
    try:
        fd = os.open(path, _FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # swapped for a link or a socket meanwhile
            raise _refusal(path, "was replaced while it was opened") from exc
        raise
    try:
        after = os.fstat(fd)
        _check(path, after, owner)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise _refusal(path, "was replaced while it was opened")
    except BaseException:
        os.close(fd)
        raise
    return fd, after


def read_regular(
    path: str | os.PathLike[str],
    *,
    max_size: int,
    dir_fd: int | None = None,
    owner: int | None = None,
) -> bytes:
    """The whole of a regular file of at most ``max_size`` bytes, opened by :func:`open_regular`.

    :raises NotRegularFileError: as :func:`open_regular` does, and when the file holds more
        than ``max_size`` bytes (checked on what is read, not only on its declared size).
    :raises OSError: when it cannot be opened or read.
    """
    fd, st = open_regular(path, dir_fd=dir_fd, owner=owner)
    with open(fd, "rb", buffering=0, closefd=True) as handle:
        if st.st_size > max_size:
            raise TooLargeError(path, max_size, st.st_size)
        data = handle.read(max_size + 1)
    if len(data) > max_size:
        raise TooLargeError(path, max_size)
    return data


def read_small(path: str, *, max_size: int) -> bytes:
    """The whole of a regular file of at most ``max_size`` bytes, opened without a look first.

    For the files read by the thousand (each installed distribution's ``entry_points.txt``):
    the ``lstat`` before :func:`open_regular`'s open was one more system call each. The open
    neither blocks (a FIFO) nor follows a final link, and its ``fstat`` refuses anything but a
    regular file, so a FIFO or a link to ``/dev/zero`` is refused unread; a device node in
    place of the file itself is opened before it is refused. The size from ``fstat`` sizes
    the read: a file read whole in one ``read``, as many calls as a read to the end took.

    :raises NotRegularFileError: when ``path`` is a link, not a regular file, or holds more
        than ``max_size`` bytes.
    :raises OSError: when it cannot be opened or read.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refusal(path, f"is {kind_of(stat.S_IFLNK)}") from exc
        if exc.errno == errno.ENXIO:
            raise _refusal(path, f"is {kind_of(stat.S_IFSOCK)}, not a regular file") from exc
        raise
    try:
        st = os.fstat(fd)
        _check(path, st, None)
        return read_open(fd, path, st, max_size=max_size)
    finally:
        os.close(fd)


def read_open(fd: int, path: str | os.PathLike[str], st: os.stat_result, *, max_size: int) -> bytes:
    """The whole of the regular file open as ``fd`` (``st`` its ``fstat``), read from where it
    is, when it holds at most ``max_size`` bytes.

    Judged by ``st`` before anything is read, and by what is read, since the file may grow
    meanwhile: never more than ``max_size + 1`` bytes are held.

    :raises TooLargeError: when it holds more than ``max_size`` bytes.
    :raises OSError: when it cannot be read.
    """
    if st.st_size > max_size:
        raise TooLargeError(path, max_size, st.st_size)
    return _read_to_end(fd, path, st.st_size, max_size)


def _read_to_end(fd: int, path: str | os.PathLike[str], size: int, max_size: int) -> bytes:
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data  # all that fstat said, and the end: the one read a file read whole takes
    chunks, total = [data], len(data)
    # A file that grew since its fstat: read by the MiB, not by a buffer of the whole limit.
    while total <= max_size and (chunk := os.read(fd, min(max_size + 1 - total, _CHUNK))):
        chunks.append(chunk)
        total += len(chunk)
    if total > max_size:
        raise TooLargeError(path, max_size)
    return b"".join(chunks)


def require_regular(path: str | os.PathLike[str], st: os.stat_result) -> None:
    """Refuse ``path`` unless ``st`` (its ``lstat`` or ``fstat``) is a regular file's.

    :raises NotRegularFileError: saying what it is instead (``is a FIFO, not a regular file``).
    """
    if not stat.S_ISREG(st.st_mode):
        raise _refusal(path, f"is {kind_of(st.st_mode)}, not a regular file")


def _check(path: str | os.PathLike[str], st: os.stat_result, owner: int | None) -> None:
    require_regular(path, st)
    if owner is not None and st.st_uid != owner:
        raise _refusal(path, f"is owned by uid {st.st_uid}, not by uid {owner}")


def _refusal(path: str | os.PathLike[str], reason: str) -> NotRegularFileError:
    return NotRegularFileError(errno.EINVAL, reason, os.fspath(path))
