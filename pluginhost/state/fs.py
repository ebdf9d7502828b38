"""The file operations behind every write pluginhost makes, and how their failures are told.

Installs (:mod:`pluginhost.install.installer`), stored documents and the home lock
(:mod:`pluginhost.state.store`) write through these functions and nothing else of their own (the
``installer`` library's writes into a staged site dir are the one exception; its errors are the
same ``OSError`` and are told the same way). That gives one place where a failing file system (disk
full, read-only, permission denied, another device) is turned into words, and one seam where tests
make the operating system fail on purpose.

Everything they create is private, whatever the umask: directories ``0o700``, files ``0o600``
(see :data:`DIR_MODE`, :data:`FILE_MODE`), set with an explicit ``chmod`` after creation, since a
umask can take bits away from a mode given to ``open`` or ``mkdir`` (a umask of ``0o777`` leaves
the owner unable to read its own file) but a umask of ``0`` would leave a file writable by all.
Whoever may write into the home may run code as the host.

Every function raises the ``OSError`` of the call that failed, with the path it concerns.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Final

from ..model.pacing import pace
from .regular import open_regular, read_open, require_regular

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "copy_tree",
    "create",
    "describe",
    "fsync",
    "fsync_dir",
    "link",
    "make_dirs",
    "make_temp_dir",
    "open_lock",
    "open_new",
    "open_read",
    "read_file",
    "remove_tree",
    "rename",
    "replace",
    "write",
]

#: The mode of every directory pluginhost creates in a home.
DIR_MODE: Final = 0o700
#: The mode of every file pluginhost creates in a home (an executable one keeps ``0o700``).
FILE_MODE: Final = 0o600

# What an operator should read for the errors a file system gives when it is full, read-only,
# not ours, or not the one we thought.
_MEANING: Final = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EXDEV: "cross-device rename",
    errno.EIO: "input/output error",
}


def describe(exc: OSError) -> str:
    """Say what went wrong and where: ``disk full (ENOSPC): /home/site/x``.

    >>> describe(OSError(errno.EROFS, "Read-only file system", "/srv/home/registry.json"))
    'read-only file system (EROFS): /srv/home/registry.json'
    """
    code = errno.errorcode.get(exc.errno or 0, "")
    meaning = _MEANING.get(exc.errno or 0) or exc.strerror or str(exc)
    text = f"{meaning} ({code})" if code else meaning
    where = [os.fspath(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{text}: {' -> '.join(where)}" if where else text


def make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, private; an existing directory is fine.

    Only the directories this call creates are made private: one that exists is left as it
    is (the home's parents are the operator's; the strict-modes check judges them).
    """
    missing = []
    current = Path(path)
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made meanwhile by another thread or process: theirs to set
        _make_private(directory)


def make_temp_dir(root: Path, prefix: str) -> Path:
    """Create a new, private directory in ``root``."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    _make_private(path)
    return path


def _make_private(directory: Path) -> None:
    """Set the mode of the directory this process just made, through a descriptor of it.

    Not ``chmod`` by path, which follows a symbolic link: whoever owns the folder above could
    put one in its place meanwhile, and root's start then made any file of theirs choosing
    0700 (/etc/passwd). A link there now is ``ELOOP``, a file ``ENOTDIR``: an ``OSError``.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


def create(path: Path) -> BinaryIO:
    """Open a new, private file for writing; fails if it exists."""
    return os.fdopen(open_new(path), "wb")


def open_new(path: Path) -> int:
    """Open a new, private file for writing, as a descriptor closed on exec; fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    return _private(fd, path)


def open_read(path: Path) -> int:
    """Open a file of the home for reading: never through a symbolic link, never blocking (a
    FIFO put in a document's place hung the start and the CLI that read it), and only a
    regular file (:func:`~.regular.open_regular`).

    :raises OSError: when it cannot be opened, naming ``path``; one that is not a regular file
        is refused with ``EINVAL`` (:class:`~.regular.NotRegularFileError`) and says what it is.
    """
    return _open_read(path)[0]


def _open_read(path: Path) -> tuple[int, os.stat_result]:
    fd, st = open_regular(path)
    try:
        os.set_blocking(fd, True)  # a regular file never blocks; reads are whole again
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_file(path: Path, *, max_size: int) -> bytes:
    """The content of a file of the home, opened by :func:`open_read`, when it holds at most
    ``max_size`` bytes: a document grown huge (a sparse GiB of zeros) was held twice in memory
    and decoded for seconds before it was refused.

    :raises TooLargeError: when it is larger, judged by its ``fstat`` before it is read and by
        what is read (see :func:`~.regular.read_open`).
    """
    fd, st = _open_read(path)
    try:
        return read_open(fd, path, st, max_size=max_size)
    finally:
        os.close(fd)


def open_lock(path: Path) -> int:
    """Open (or create, private) a lock file for reading and writing, as a descriptor closed on
    exec; a symbolic link is refused (``ELOOP``), and so is anything but a regular file.

    A FIFO put there was opened and locked: the host started, and every reader of the lock
    failed on it. The open never blocks, a device is judged by ``lstat`` before it is opened,
    and what was opened is checked again by ``fstat``.

    :raises NotRegularFileError: when ``path`` is a FIFO, a directory, a socket or a device,
        saying which.
    """
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):  # refused by the open below, with ELOOP
            require_regular(path, st)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    fd = os.open(path, flags, FILE_MODE)
    try:
        require_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return _private(fd, path)


def _private(fd: int, path: Path) -> int:
    """``fd`` with the mode :data:`FILE_MODE`, whatever the umask left of it."""
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError as exc:
        os.close(fd)
        raise _naming(exc, path) from exc
    return fd


def write(fd: int, data: bytes | Sequence[bytes], path: str | Path) -> None:
    """Write all of ``data`` to ``fd``, the open file ``path``: one bytes, or parts written one
    after the other without joining them first, in one system call where the kernel takes them
    all (a call that waits costs a turn of the interpreter lock when other threads want it)."""
    parts = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
    try:
        done = os.writev(fd, parts)
        if done < sum(map(len, parts)):
            view = memoryview(b"".join(parts))[done:]  # a short write: rare, and copied then
            while view:
                view = view[os.write(fd, view) :]
    except OSError as exc:
        raise _naming(exc, path) from exc


def fsync(fd: int, path: Path) -> None:
    """Flush ``fd``, the open file ``path``, to disk."""
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _naming(exc, path) from exc


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries to disk, which makes a rename in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd, directory)
    finally:
        os.close(fd)


def link(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source``."""
    os.link(source, target)


def rename(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, which must not be a non-empty directory."""
    os.rename(source, target)


def replace(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target`` in one step."""
    os.replace(source, target)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a directory tree to ``target``, which must not exist.

    Not :func:`shutil.copytree`: it gathers the errors of each file into one ``shutil.Error``,
    which loses their ``errno``.
    """
    target.mkdir(mode=DIR_MODE)
    os.chmod(target, DIR_MODE)
    for entry in source.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            copy_tree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name, follow_symlinks=False)


def remove_tree(path: Path) -> int:
    """Delete the tree at ``path``, never through a symbolic link, going on past what cannot be
    deleted, with a :func:`~pluginhost.model.pacing.pace` after each entry.

    Why not ``shutil.rmtree``: each ``unlink`` lets the interpreter lock go for a moment that a
    waiting thread rarely catches (and a thread that catches none waits a whole switch
    interval again), so the few dozen of a site dir held the lock for milliseconds while
    callers waited. The walk is ``os.fwalk``'s, by directory descriptors, as rmtree's own.

    Unlike the other functions here, it raises nothing.

    :returns: how many entries are left (none when the tree is gone, or was not there).
    """
    if os.path.islink(path):
        return _removed(os.unlink, str(path))
    if not os.path.lexists(path):
        return 0
    left = 0
    # A folder that cannot be listed (or was not a folder) is left, and counted below.
    for _, dirs, files, fd in os.fwalk(path, topdown=False, onerror=lambda _: None):
        for name in files:
            left += _removed(os.unlink, name, fd)
        for name in dirs:  # a symbolic link to a directory is listed here: unlinked
            left += _removed(os.rmdir, name, fd) and _removed(os.unlink, name, fd)
    if os.path.lexists(path):
        left += _removed(os.rmdir, str(path))
    return left


def _removed(remove: Callable[..., None], name: str, dir_fd: int | None = None) -> int:
    """0 once ``name`` is removed, 1 when it could not be."""
    try:
        remove(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        return 1
    finally:
        pace()
    return 0


def _naming(exc: OSError, path: str | Path) -> OSError:
    """``exc`` with ``path`` in it: calls on descriptors do not name the file."""
    if exc.filename is not None:
        return exc
    return OSError(exc.errno, exc.strerror, os.fspath(path))
