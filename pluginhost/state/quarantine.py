"""The quarantine: plugin versions that crashed the process while loading, kept out until an
operator lets them back.

Before a plugin's code first runs (its import, the state handed to it, its activate), the host
records the version in its loading marker, ``<home>/quarantine/loading/<pid>``, one file per
process listing the versions loading now; it takes the version off once the step returns,
however it ended. A marker found at the next start (the home
lock held: no other host is loading) means the process died during that load: ``os.abort()``,
``os._exit()``, a segfault in an extension, or a kill from outside. :meth:`Quarantine.crashed`
turns it into a verdict, ``<home>/quarantine/<digest>.json``, by one rename, and that version is
not loaded again while the verdict stays.

A verdict goes when its file goes: when the wheel it names is removed (:meth:`Quarantine.held`
lifts it), or when an operator runs ``pluginhost release NAME`` (:func:`release`), with or without
a host running; a running host reads the folder at each reconcile.

The marker is written, not fsynced: it must outlive the process, not the machine. It is a
file mapped into memory (``mmap``, shared): the bytes stored there are the kernel's page cache,
which keeps them whatever happens to the process, as it keeps a ``write()``'s; a marker lost
to a power cut only means the crash happens once more. Marking a load is then a copy in
memory, no system call: a swap waited for the interpreter lock after each of the two it made
(a write and a truncate) while threads called hooks, and a start paid them for every plugin.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import mmap
import os
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from ..model.candidate import Candidate, CandidateKey, WheelOrigin
from ..model.errors import ActivationError, StoreError
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from . import fs
from .fs import make_dirs
from .regular import kind_of

__all__ = ["Loading", "Marker", "Quarantine", "Verdict", "home_faults", "release", "unmarked"]

logger = logging.getLogger("pluginhost")

FOLDER: Final = "quarantine"
"""The quarantine's folder in the home."""
_LOADING: Final = "loading"
_SUFFIX: Final = ".json"
#: The most bytes a marker or a verdict is read to: about 200 a load, thousands at a start.
_LIMIT: Final = 16 * 1024 * 1024


@frozen
class Loading:
    """One plugin version about to run code: what its marker, and a verdict, record.

    :param wheel: the wheel it comes from, when it comes from one (removing it lifts a verdict).
    """

    key: CandidateKey
    origin: str
    wheel: str | None = None

    @classmethod
    def of(cls, candidate: Candidate) -> Loading:
        origin = candidate.origin
        wheel = str(origin.path) if isinstance(origin, WheelOrigin) else None
        return cls(candidate.key, str(origin), wheel)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key.to_json(), "origin": self.origin, "wheel": self.wheel}

    @classmethod
    def from_json(cls, data: Any) -> Loading:
        """:raises ValueError: when ``data`` is not what :meth:`to_json` writes."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        origin, wheel = data.get("origin"), data.get("wheel")
        if not isinstance(origin, str) or not isinstance(wheel, str | None):
            raise ValueError("origin or wheel is not text")
        if wheel is not None and "\0" in wheel:
            # No path holds one: os.stat() of it raised a bare ValueError out of start().
            raise ValueError("the wheel's path holds a NUL character")
        return cls(CandidateKey.from_json(data.get("key")), origin, wheel)


@frozen
class Verdict:
    """A version that crashed the process during its load, and when that was found."""

    loading: Loading
    since: str
    path: Path

    @property
    def key(self) -> CandidateKey:
        return self.loading.key

    @property
    def reason(self) -> str:
        name = self.key.name
        return (
            f"crashed during load: the process died while {name} {self.key.version} was "
            f"loading (found at the start at {self.since}); it stays out until its wheel is "
            f"removed or `pluginhost release {name}` is run"
        )

    def problem(self) -> Problem:
        """The problem filed for the version while it is held back."""
        return Problem(
            ProblemKind.LOAD_FAILED,
            self.key.name,
            f"{self.key.name} {self.key.version}: {self.reason}",
            version=self.key.version,
            path=self.loading.origin,
        )

    def error(self) -> ActivationError:
        """The error ``install()`` raises for the version."""
        return ActivationError(
            self.reason, plugin=self.key.name, path=self.loading.origin, step="load"
        )


class Marker:
    """A loading marker on disk (or none): taken off on leaving the ``with`` block, or by
    :meth:`clear` (which a thread that gave up on a hung import calls), whichever is first."""

    def __init__(self, done: Callable[[], None] | None = None) -> None:
        self._done = done

    def __enter__(self) -> Marker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.clear()

    def clear(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()


def unmarked(plugins: Sequence[Loading]) -> Marker:
    """No marker: for transitions and imports run without a home (tests of the parts)."""
    return Marker()


class Quarantine:
    """The quarantine folder of one home.

    :param folder: ``<home>/quarantine``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._markers = folder / _LOADING
        # The loads under way in this process, and its marker file (see _rewrite).
        self._lock = threading.Lock()
        self._live: dict[int, list[dict[str, Any]]] = {}
        self._next = 0
        self._fd: int | None = None
        self._map: mmap.mmap | None = None  # the marker file, mapped
        self._length = 0  # of the JSON the marker holds (spaces after it)
        self._seen: frozenset[str] | None = None
        self._told: set[str] = set()  # the unreadable verdicts warned about already
        _QUARANTINES.add(self)

    @classmethod
    def of_home(cls, home: Path) -> Quarantine:
        return cls(home / FOLDER)

    def loading(self, plugins: Sequence[Loading]) -> Marker:
        """Mark ``plugins`` as loading until the marker returned is left or cleared.

        A marker that cannot be written (a full disk) is logged, and the load goes on without:
        refusing to load for want of a marker would make every full disk an outage.
        """
        if not plugins:
            return Marker()
        with self._lock:
            ident = self._next
            self._next += 1
            self._live[ident] = [p.to_json() for p in plugins]
            if not self._rewrite():
                del self._live[ident]
                return Marker()
        return Marker(functools.partial(self._done, ident))

    def close(self) -> None:
        """Take this process's marker file away (no load is under way: the host stops)."""
        with self._lock:
            if self._fd is None:
                return
            self._let_go()
            with contextlib.suppress(OSError):
                os.unlink(self._markers / str(os.getpid()))

    def forget(self) -> None:
        """In a child made by ``fork``: let go of the parent's marker without touching it (the
        child's loads are marked in a file of its own pid)."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        self._live.clear()
        if self._fd is not None:
            self._let_go()

    def _let_go(self) -> None:
        assert self._fd is not None
        if self._map is not None:
            self._map.close()  # this process's mapping only: the file keeps its bytes
        try:
            os.close(self._fd)
        except OSError as exc:
            # Closed by someone else (plugin code calling os.closerange()): the host stops
            # all the same; the marker file is read and emptied at the next start.
            logger.warning("cannot close the loading marker %s: %s", self._markers, exc)
        self._fd, self._map, self._length = None, None, 0

    def _done(self, ident: int) -> None:
        with self._lock:
            if self._live.pop(ident, None) is not None:
                self._rewrite()

    def _rewrite(self) -> bool:
        """Store what loads now in this process's marker file, mapped in memory.

        One file per process, written over in place: a start loading hundreds of plugins paid
        a file created and removed (two folder changes) for each. The JSON is followed by
        spaces to the end of the file, which JSON reads the same, so that a shorter one needs
        no truncate. A store cut short does not parse, and is dropped at the next start with a
        warning: that crash then happens once more.
        """
        live = [p for plugins in self._live.values() for p in plugins]
        data = json.dumps(live).encode() if live else b""
        try:
            if self._map is None or len(data) > len(self._map):
                self._map_marker(len(data))
        except OSError as exc:
            logger.warning("cannot write loading marker in %s: %s", self._markers, exc)
            return False
        assert self._map is not None
        self._map[: max(len(data), self._length)] = data.ljust(self._length)
        self._length = len(data)
        return True

    def _map_marker(self, needed: int) -> None:
        """Open (the first time) and map the marker file, at least ``needed`` bytes long,
        spaces throughout: written once, and again when it grows."""
        if self._fd is None:
            self._fd = self._open_marker()
        size = max(_CAPACITY, 1 << needed.bit_length())
        # Written, not only sized: a store into a page the file system has no room for kills
        # the process (SIGBUS), where a write fails with ENOSPC.
        if os.pwrite(self._fd, b" " * size, 0) < size:
            raise OSError(errno.ENOSPC, "the marker file was written short")
        mapped = mmap.mmap(self._fd, size)
        if self._map is not None:
            self._map.close()
        self._map, self._length = mapped, 0

    def _open_marker(self) -> int:
        path = self._markers / str(os.getpid())
        # Emptied: a marker of a dead process with this pid was read at the start already.
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # the first marker of this home: its folder is made
            make_dirs(self._markers)
            fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
        return fd

    def crashed(self) -> list[Verdict]:
        """Turn the markers a dead process left into verdicts; the new verdicts.

        Only at start, with the home lock held: no marker then belongs to a load under way.

        :raises StoreError: when the quarantine folder, or its ``loading`` folder, is there but
            is not a directory: no crash could be quarantined (refused like other damage to
            the home, not only logged).
        """
        for folder in (self.folder, self._markers):
            _require_folder(folder)
        found = []
        for marker in _entries(self._markers):
            if marker.name.startswith("."):
                _drop(marker)  # a marker half written when the process died
                continue
            try:
                # Spaces (and zeros, if the process died as the file grew) around the JSON.
                data = fs.read_file(marker, max_size=_LIMIT).strip(b" \0")
                plugins = [Loading.from_json(p) for p in json.loads(data)] if data else []
            except (OSError, ValueError, TypeError, RecursionError) as exc:
                logger.warning("unreadable loading marker %s dropped: %s", marker, exc)
                _drop(marker)
                continue
            found += [self._convict(p) for p in plugins]
            self._seen = None  # new verdicts: read the folder again
            _drop(marker)
        return found

    def _convict(self, plugin: Loading) -> Verdict:
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        path = self.folder / f"{_digest([plugin.key])}{_SUFFIX}"
        _write_private(path, json.dumps({**plugin.to_json(), "since": since}).encode())
        logger.error("plugin %s %s %s", plugin.key.name, plugin.key.version, "crashed during load")
        return Verdict(plugin, since, path)

    def held(self) -> dict[CandidateKey, Verdict]:
        """The versions held back now, by key; a verdict whose wheel is gone is lifted.

        Verdicts are only ever written by :meth:`crashed` (at start) and only removed
        otherwise (``pluginhost release``, a wheel gone): once a read found none, none can
        appear, and the folder is not listed again (a swap waited for the lock after each of
        those system calls while threads called hooks).
        """
        if self._seen == frozenset():
            return {}
        # Every name listed, unreadable ones too (told once each): with the readable ones
        # only, changed() saw a change at every look, and each look reconciled again.
        self._seen = self._listed()
        verdicts = read_verdicts(self.folder, told=self._told)
        held = {}
        for verdict in verdicts:
            if verdict.loading.wheel is not None and _gone(verdict.loading.wheel):
                logger.info("quarantine of %s lifted: its wheel is gone", verdict.key.name)
                verdict.path.unlink(missing_ok=True)
            else:
                held[verdict.key] = verdict
        return held

    def changed(self) -> bool:
        """Whether verdicts came or went since :meth:`held` last looked."""
        return self._seen is not None and self._listed() != self._seen

    def _listed(self) -> frozenset[str]:
        return frozenset(p.name for p in _entries(self.folder) if _is_verdict(p))


#: A marker file's size at first: about 300 loads at once (a start marks each plugin apart).
_CAPACITY: Final = 64 * 1024

#: The quarantines of this process, for a child made by ``fork`` to let go of.
_QUARANTINES: Final[weakref.WeakSet[Quarantine]] = weakref.WeakSet()


def _forget_in_child() -> None:
    for quarantine in list(_QUARANTINES):
        quarantine.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def release(home: Path, name: PluginName) -> list[Verdict]:
    """Lift the verdicts on every version of plugin ``name`` in ``home``; those lifted.

    Safe with a host running: each verdict is one file, removed in one step, and the host reads
    the folder again at its next reconcile.
    """
    lifted = [v for v in read_verdicts(home / FOLDER) if v.key.name == name]
    for verdict in lifted:
        verdict.path.unlink(missing_ok=True)
    return lifted


def read_verdicts(folder: Path, *, told: set[str] | None = None) -> list[Verdict]:
    """The verdicts in a quarantine folder; unreadable files are logged and skipped.

    :param told: the names of the unreadable files logged already, not logged again (a
        running host reads the folder at each reconcile); those logged now are added.
    """
    verdicts = []
    for path in _entries(folder):
        if not _is_verdict(path):
            continue
        try:
            verdicts.append(_read_verdict(path))
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            if told is None or path.name not in told:
                logger.warning("unreadable quarantine entry %s skipped: %s", path, exc)
            if told is not None:
                told.add(path.name)
    return verdicts


def home_faults(home: Path) -> list[str]:
    """What is wrong with a home's quarantine, for ``pluginhost doctor``: a folder that is not
    one (``start()`` refuses it), a verdict that cannot be read (not honoured), a loading
    marker that is not a regular file (left at each start)."""
    folder = home / FOLDER
    faults = []
    for path in (folder, folder / _LOADING):
        try:
            _require_folder(path)
        except StoreError as exc:
            faults.append(str(exc))
    for path in filter(_is_verdict, _entries(folder)):
        try:
            _read_verdict(path)
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            faults.append(f"{path}: unreadable, not honoured: {exc}")
    for path in _entries(folder / _LOADING):
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(mode := os.lstat(path).st_mode):
                faults.append(f"{path}: loading marker is {kind_of(mode)}, not a regular file")
    return faults


def _read_verdict(path: Path) -> Verdict:
    data = json.loads(fs.read_file(path, max_size=_LIMIT))
    since = data.get("since") if isinstance(data, dict) else None
    return Verdict(Loading.from_json(data), str(since), path)


def _is_verdict(path: Path) -> bool:
    return path.name.endswith(_SUFFIX) and not path.name.startswith(".")


def _require_folder(folder: Path) -> None:
    """:raises StoreError: when ``folder`` is there and is not a directory (a link included)."""
    try:
        st = os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return  # made when first needed; or its parent is the fault
    except OSError as exc:
        raise StoreError(f"cannot be read: {fs.describe(exc)}", path=folder) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(
            f"is {kind_of(st.st_mode)}, not a directory: a plugin crashing the host while it "
            "loads could not be quarantined (remove it; the host makes the folder)",
            path=folder,
        )


def _drop(marker: Path) -> None:
    """Remove a loading marker read (or refused); one that cannot be removed (a directory put
    there) is left with a warning: the start goes on."""
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("loading marker %s not removed: %s", marker, fs.describe(exc))


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temp file renamed), readable by the owner only."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temp, path)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _digest(keys: Iterable[CandidateKey]) -> str:
    text = json.dumps([k.to_json() for k in keys])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _gone(wheel: str) -> bool:
    try:
        os.stat(wheel)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False  # unreadable now (a folder unmounted, say) is not removed
    return False
