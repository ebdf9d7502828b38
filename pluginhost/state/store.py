"""Crash-safe storage under a host's home: atomic JSON documents, and the home lock
(:class:`~.home_lock.HomeLock`, kept in its own module and re-exported here).

Both survive ``kill -9`` at any instant: :class:`AtomicJsonFile` never lets a reader see a half
written document, and :class:`HomeLock` is a kernel ``flock`` that dies with its process, so a
killed host leaves neither a torn registry nor a stale lock behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Final, final

from ..model.errors import StoreError
from . import fs
from .home_lock import HomeLock
from .regular import TooLargeError

__all__ = ["DOCUMENT_LIMIT", "AtomicJsonFile", "HomeLock", "StoreError", "canonical"]

FORMAT: Final = 1
#: The most bytes a document may hold unless its owner sets less: the status document of a host
#: of 1,000 plugins, each with its history of 100 changes, is tens of MB at most (0.5 MB with one
#: change each); a larger file is damage, refused before it is read (see operations.md).
DOCUMENT_LIMIT: Final = 256 * 1024 * 1024

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
    :param max_size: the most bytes a copy may hold, set by the document's owner from what it
        really holds, with headroom. A larger copy is unusable, refused before it is read (a
        sparse GiB of zeros was held twice in memory and decoded for seconds), and a write
        that would make one is refused, so that the host never commits what it cannot read.
    """

    def __init__(self, path: Path, *, durable: bool = True, max_size: int = DOCUMENT_LIMIT) -> None:
        self.path: Final = Path(path)
        self.durable: Final = durable
        self.max_size: Final = max_size
        self.backup: Final = self.path.with_name(self.path.name + ".bak")
        self._temp_prefix: Final = f".{self.path.name}.tmp-"
        self._recovered: str | None = None
        # The identity of the main copy as this object last wrote or verified it: while the
        # file still has it, it is that good copy, and rotating it needs no read and decode
        # (a commit of a registry of 1,000 plugins spent a third of its time re-reading it).
        self._verified: tuple[int, ...] | None = None

    @property
    def recovered(self) -> str | None:
        """After :meth:`read` or :meth:`peek`: why the main copy was not used (corrupt,
        missing) and, after :meth:`read`, whether it was repaired from the backup; else
        ``None``."""
        return self._recovered

    def read(self) -> Any | None:
        """Return the newest committed document, from the backup if the main copy is unusable.

        Also removes temp files left by writers of this document that have died, and puts a
        damaged main copy right from a good backup: the caller is the document's one writer
        (it holds the home lock); other readers :meth:`peek`.

        :returns: the document's data, or ``None`` when neither copy exists.
        :raises StoreError: when a copy exists but neither is a complete, checksummed document.
        """
        self._remove_stale_temps()
        self._recovered = None
        try:
            before = _identity(self.path)
            data = _read_copy(self.path, self.max_size)
        except _UnusableCopyError as exc:
            main = exc
        else:
            self._verified = before
            return data
        try:
            content = _read_content(self.backup, self.max_size)
            data = _decode(content)
        except _UnusableCopyError as bak:
            if main.missing and bak.missing:
                return None
            raise StoreError(
                f"no usable copy: {self.path.name} {main.reason}; {self.backup.name} {bak.reason}",
                path=self.path,
            ) from None
        told = f"{self.path.name} {main.reason}; used {self.backup}"
        self._recovered = told + self._repair(content)
        return data

    def _repair(self, content: bytes) -> str:
        """Put the backup's document back as the main copy, so that the home has two good
        copies again: left damaged, it stayed so until a commit rewrote it, with one copy
        between the host and a lost registry, and a warning at every start.

        :returns: what to add to :attr:`recovered`.
        """
        if not self.durable:
            return ""
        try:
            self._put((content,), rotate=False)  # the damaged copy is no backup
            fs.fsync_dir(self.path.parent)
        except OSError as exc:
            # The document read is good: this start goes on from the backup, told.
            return f" (the main copy could not be repaired: {fs.describe(exc)})"
        return f", and repaired {self.path.name} from it"

    def peek(self) -> Any | None:
        """Like :meth:`read`, but writing nothing (no stale temp file removed): for readers
        that are not the home's host, such as ``pluginhost audit --verify``.

        :returns: the document's data, or ``None`` when neither copy exists.
        :raises StoreError: when a copy exists but neither is usable.
        """
        self._recovered = None
        try:
            return _read_copy(self.path, self.max_size)
        except _UnusableCopyError as main:
            try:
                data = _read_copy(self.backup, self.max_size)
            except _UnusableCopyError as bak:
                if main.missing and bak.missing:
                    return None
                raise StoreError(
                    f"unusable: {main.reason}; backup {bak.reason}", path=self.path
                ) from None
            self._recovered = f"{self.path.name} {main.reason}; used {self.backup}"
            return data

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
        :raises StoreError: when the file system refuses, or the document would be larger than
            ``max_size``; the committed document is unchanged. A failure of the final
            directory sync is logged, not raised: the new document is in place, and only its
            survival of a power loss is in doubt.
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
        size = len(head) + len(content) + 2
        if size > self.max_size:
            raise StoreError(
                f"cannot write: the document would be {size} bytes, over the limit of "
                f"{self.max_size}",
                path=self.path,
            )
        try:
            self._put((head.encode("ascii"), content, b"}\n"), rotate=self.durable)
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

    def _put(self, content: tuple[bytes, ...], *, rotate: bool) -> None:
        """Make ``content`` the main copy: written to a temp file (synced when durable), the
        good main copy made the backup first when ``rotate``, then renamed into place.

        :raises OSError: when a step fails; the main copy is then as it was.
        """
        temp = self._write_temp(*content)
        try:
            if rotate:
                self._rotate_backup()
            fs.replace(temp, self.path)
            self._verified = _identity(self.path)
        finally:
            _unlink_quietly(temp)

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
                content = fs.read_file(self.path, max_size=self.max_size)
                _decode(content)
        except (OSError, _UnusableCopyError):
            return
        link = self.path.with_name(f"{self._temp_prefix}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fs.link(self.path, link)
        except OSError:
            # File systems without hard links (vfat, some network mounts): copy what we verified.
            if content is None:
                content = fs.read_file(self.path, max_size=self.max_size)
            link = self._write_temp(content)
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


def _read_copy(path: Path, max_size: int) -> Any:
    return _decode(_read_content(path, max_size))


def _read_content(path: Path, max_size: int) -> bytes:
    try:
        return fs.read_file(path, max_size=max_size)
    except FileNotFoundError:
        raise _UnusableCopyError("is missing", missing=True) from None
    except TooLargeError as exc:
        raise _UnusableCopyError(str(exc)) from None
    except OSError as exc:
        raise _UnusableCopyError(f"is unreadable ({exc.strerror or exc})") from None


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
