"""Crash-safe storage under a host's home: atomic JSON documents and the home lock.

Both survive ``kill -9`` at any instant: :class:`AtomicJsonFile` never lets a reader see a half
written document, and :class:`HomeLock` is a kernel ``flock`` that dies with its process, so a
killed host leaves neither a torn registry nor a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Final, final

from ..model.errors import HostStateError, StoreError
from . import fs

__all__ = ["AtomicJsonFile", "HomeLock", "StoreError", "canonical"]

FORMAT: Final = 1

logger = logging.getLogger("pluginhost")


class _UnusableCopyError(Exception):
    """Why one copy of a document cannot be used; internal to :meth:`AtomicJsonFile.read`."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


@final
class AtomicJsonFile:
    """One JSON document on disk, replaced atomically, with a checksum and a last good copy.

    The file holds ``{"format": 1, "sha256": <hex>, "data": <data>}``, the digest taken over the
    canonical JSON of ``data`` (sorted keys, no spaces), so a torn or edited file is detected
    instead of being parsed into something plausible. ``<name>.bak`` keeps the previous good
    document for when the main copy is damaged by something outside this protocol.

    One writer at a time (the :class:`HomeLock` guarantees it across processes); readers may run
    concurrently with it. A stored ``None`` reads back as ``None``, like a missing document.

    Usage::

        doc = AtomicJsonFile(home / "registry.json")
        doc.write({"active": ["hello"]})
        assert doc.read() == {"active": ["hello"]}

    :param path: the document's main file; its directory must exist.
    :param durable: sync each write to disk and keep the last good copy. A document that is
        only a view, rewritten after every change (the status document), can do without
        both: a reader still sees the old document or the new one, never a torn one, except
        after a power loss.
    """

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path: Final = Path(path)
        self.durable: Final = durable
        self.backup: Final = self.path.with_name(self.path.name + ".bak")
        self._temp_prefix: Final = f".{self.path.name}.tmp-"
        self._recovered: str | None = None
        # The identity of the main copy as this object last wrote or verified it: while the
        # file still has it, it is that good copy, and rotating it needs no read and decode
        # (a commit of a registry of 1,000 plugins spent a third of its time re-reading it).
        self._verified: tuple[int, ...] | None = None

    @property
    def recovered(self) -> str | None:
        """After :meth:`read`: why the main copy was not used (corrupt, missing), else ``None``."""
        return self._recovered

    def read(self) -> Any | None:
        """Return the newest committed document, from the backup if the main copy is unusable.

        Also removes temp files left by writers of this document that have died.

        :returns: the document's data, or ``None`` when neither copy exists.
        :raises StoreError: when a copy exists but neither is a complete, checksummed document.
        """
        self._remove_stale_temps()
        self._recovered = None
        try:
            before = _identity(self.path)
            data = _read_copy(self.path)
        except _UnusableCopyError as exc:
            main = exc
        else:
            self._verified = before
            return data
        try:
            data = _read_copy(self.backup)
        except _UnusableCopyError as bak:
            if main.missing and bak.missing:
                return None
            raise StoreError(
                f"no usable copy: {self.path.name} {main.reason}; {self.backup.name} {bak.reason}",
                path=self.path,
            ) from None
        self._recovered = f"{self.path.name} {main.reason}; used {self.backup}"
        return data

    def peek(self) -> Any | None:
        """Like :meth:`read`, but writing nothing (no stale temp file removed): for readers
        that are not the home's host, such as ``pluginhost audit --verify``.

        :returns: the document's data, or ``None`` when neither copy exists.
        :raises StoreError: when a copy exists but neither is usable.
        """
        try:
            return _read_copy(self.path)
        except _UnusableCopyError as main:
            try:
                return _read_copy(self.backup)
            except _UnusableCopyError as bak:
                if main.missing and bak.missing:
                    return None
                raise StoreError(
                    f"unusable: {main.reason}; backup {bak.reason}", path=self.path
                ) from None

    def write(self, data: Any) -> None:
        """Commit ``data`` as the new document, durably, keeping the previous one as backup.

        What a reader finds after a crash at each step (``kill -9``; after a power loss too, on
        a file system whose rename is atomic, as ext4 and xfs):

        1. Before the temp file is complete and synced: the old document; a partial
           ``.<name>.tmp-<pid>-<random>`` that the next :meth:`read` removes.
        2. After that, until the backup is rotated: the old document, in both copies once
           ``<name>.bak`` has been replaced by a hard link to it.
        3. After the rename, before the directory is synced: the new document (the write is
           committed though ``write`` has not returned); after a power loss in this window,
           the old or the new one, each complete.
        4. After the directory sync: the new document, durably.

        :param data: JSON-able data (no NaN or infinity: they are not JSON).
        :raises TypeError, ValueError: when ``data`` cannot be serialized; nothing is written.
        :raises StoreError: when the file system refuses; the committed document is unchanged.
            A failure of the final directory sync is logged, not raised: the new document is
            in place, and only its survival of a power loss is in doubt.
        """
        self.write_canonical(canonical(data))

    def write_canonical(self, data: str) -> None:
        """Like :meth:`write`, given the data already encoded by :func:`canonical` (a caller
        that keeps the encoded parts of a large document re-encodes only what changed)."""
        # The data as its canonical JSON, already at hand (encoding it again, indented, took
        # longer than the rest of a commit), encoded once and written around without a copy:
        # a status document of a thousand plugins is most of a megabyte.
        content = data.encode("ascii")
        head = f'{{"format": {FORMAT}, "sha256": "{hashlib.sha256(content).hexdigest()}", "data": '
        try:
            temp = self._write_temp(head.encode("ascii"), content, b"}\n")
            try:
                if self.durable:
                    self._rotate_backup()
                fs.replace(temp, self.path)
                self._verified = _identity(self.path)
            finally:
                _unlink_quietly(temp)
        except OSError as exc:
            raise StoreError(f"cannot write: {fs.describe(exc)}", path=self.path) from exc
        if not self.durable:
            return
        try:
            fs.fsync_dir(self.path.parent)
        except OSError as exc:
            # Every reader, and a restart after this process is killed, already sees the new
            # document: failing here would make the caller undo what is committed.
            logger.warning("%s: written, but its directory sync failed: %s", self.path, exc)

    def _write_temp(self, *content: bytes) -> Path:
        # Same directory as the target so that os.replace is one atomic rename, never a copy.
        temp = self.path.with_name(f"{self._temp_prefix}{os.getpid()}-{secrets.token_hex(4)}")
        fd = fs.open_new(temp)
        try:
            fs.write(fd, content, temp)
            if self.durable:
                fs.fsync(fd, temp)
        except BaseException:
            _unlink_quietly(temp)
            raise
        finally:
            os.close(fd)
        return temp

    def _rotate_backup(self) -> None:
        """Make ``<name>.bak`` the current main copy, if that copy is good.

        A hard link rather than a copy: no bytes are rewritten, so there is no partial backup
        to sync, and the linked inode was synced when it was committed. The link shares the
        main copy's inode only until the rename that follows, since documents are never
        modified in place. A damaged main copy is not rotated, so a good backup survives it.
        """
        content: bytes | None = None
        try:
            if self._verified is None or _identity(self.path) != self._verified:
                content = fs.read_file(self.path)
                _decode(content)
        except (OSError, _UnusableCopyError):
            return
        link = self.path.with_name(f"{self._temp_prefix}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fs.link(self.path, link)
        except OSError:
            # File systems without hard links (vfat, some network mounts): copy what we verified.
            link = self._write_temp(fs.read_file(self.path) if content is None else content)
        try:
            fs.replace(link, self.backup)
        finally:
            # rename(2) does nothing when both names already link the same inode (left so by
            # a crash between this step and the next), which would leave the link behind.
            _unlink_quietly(link)

    def _remove_stale_temps(self) -> None:
        # Only temps of dead writers: another process may be between its write and its rename.
        with contextlib.suppress(OSError), os.scandir(self.path.parent) as entries:
            for entry in entries:
                if entry.name.startswith(self._temp_prefix) and _is_stale(
                    entry.name[len(self._temp_prefix) :]
                ):
                    _unlink_quietly(Path(entry.path))


def _identity(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is replaced or written to: inode, size, times (``None`` when it
    cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def canonical(data: Any) -> str:
    """``data`` as the canonical JSON the documents hold and their checksum covers.

    :raises TypeError, ValueError: when ``data`` is not JSON (NaN and infinity included).
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_copy(path: Path) -> Any:
    try:
        content = fs.read_file(path)
    except FileNotFoundError:
        raise _UnusableCopyError("is missing", missing=True) from None
    except OSError as exc:
        raise _UnusableCopyError(f"is unreadable ({exc.strerror or exc})") from None
    return _decode(content)


def _decode(content: bytes) -> Any:
    """Return the data of a stored document, or raise :class:`_UnusableCopyError` saying why not."""
    if not content:
        raise _UnusableCopyError("is empty")
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise _UnusableCopyError(f"is truncated or not JSON ({exc})") from None
    if not isinstance(document, dict) or document.keys() != {"format", "sha256", "data"}:
        raise _UnusableCopyError("is not a stored document")
    if document["format"] != FORMAT:
        raise _UnusableCopyError(f"has unknown format {document['format']!r}")
    try:
        digest = _digest(canonical(document["data"]))
    except ValueError:  # NaN or infinity smuggled in by hand: never written by us
        raise _UnusableCopyError("holds values that are not JSON") from None
    if digest != document["sha256"]:
        raise _UnusableCopyError("fails its checksum")
    return document["data"]


def _is_stale(suffix: str) -> bool:
    """Whether a temp file named ``<prefix><pid>-<random>`` belongs to a dead process."""
    pid_text = suffix.partition("-")[0]
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # maybe another thread of ours is writing; ours are removed on failure
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


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
        a probe never makes a host's start fail.

        :returns: the holder's pid; ``None`` when nobody holds the lock or no pid is recorded
            (or the lock file is a symbolic link, which no host locks).
        """
        try:
            fd = os.open(Path(home) / "lock", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
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
            raise HostStateError(
                f"cannot open the lock file: {fs.describe(exc)}", path=self.path
            ) from exc

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
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
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
