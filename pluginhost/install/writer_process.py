"""The site writer: a helper process the host keeps, which writes site dirs for it.

Why a process: writing a site dir takes dozens of system calls (``mkdir``, ``open``, ``write``,
``close``, ``rename``), and the thread that makes them gives up Python's interpreter lock at
each slow one. When other threads call hooks without pause, it waits for the lock again each
time, up to the switch interval (5 ms) or more, so a swap of a small plugin took over a second
under four busy callers. Here the host hands the validated bytes over and waits once for the
answer; the writer also writes the modules' bytecode, so that the host's import only reads,
and sends back that of the plugin's entry modules (:mod:`.compiled`), which it need not read.

The writer starts with a host that watches folders or follows an index, or else at the first
install (which is written in the host's process, as is every install until the writer said it
is ready), and ends when :meth:`WriterProcess.close` is called or the host's process ends. A
writer that dies, answers garbage or passes its deadline is killed and the install is written
in the host's process instead, with a warning; after :data:`_GIVE_UP` such losses in a row, no
writer is started again.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Final

import attrs

from ..discover.archive import WheelLimits
from ..discover.reading import WheelRead
from ..model.errors import InstallError, WheelError
from ..model.interpreter import fresh_interpreter
from ..model.problems import WRITER_LOST
from ..state.faults import any_armed, armed
from .compiled import Compiled
from .site_writer import SiteJob, WriteAhead, write_site
from .writer_messages import (
    AheadMsg,
    ReadDone,
    ReadFailed,
    ReadHere,
    Reply,
    WriteDone,
    WriteFailed,
    read_message,
    sendable,
    utf8_paths,
    wheel_read,
)
from .writer_pipes import LostError, WriterPipes

__all__ = ["WriterProcess"]

logger = logging.getLogger(__name__)

#: Seconds a wheel may take to be read and validated in the writer: the limits bound that to
#: a few seconds, and the host's lock is held meanwhile.
_READ_TIMEOUT: Final = 30.0
#: The most jobs sent ahead of their install and not answered yet.
_AHEAD: Final = 4
#: Writers lost in a row after which every install is written in the host's process.
_GIVE_UP: Final = 3
#: The bytecode of at most this many site dirs is kept for the host to take.
_KEPT: Final = 8
#: What the writer runs (a module attribute: the tests give it a misbehaving program).
_BOOT: Final = fresh_interpreter("pluginhost.install.writer_child")


class WriterProcess:
    """Writes site dirs in a helper process (a :data:`~.site_writer.SiteWrite`).

    >>> writer = WriterProcess()
    >>> reused = writer(job)  # in the host's process until the writer is ready
    >>> writer.close()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: WriterPipes | None = None
        self._lost = 0
        # The site dirs of the jobs sent ahead and not answered yet, oldest first.
        self._ahead: collections.deque[Path] = collections.deque()
        # The bytecode sent back with the last answers, until the host takes it.
        self._compiled: dict[Path, tuple[Compiled, ...]] = {}
        # The site dirs written for jobs sent ahead whose answers no collect took (see settle).
        self._uncollected: list[Path] = []
        # The site dirs written with a read (see read_wheel) whose answers came, and those
        # whose answers are still to come (also in _ahead, in their order).
        self._with_reads: dict[Path, Reply] = {}
        self._read_ahead: set[Path] = set()
        _WRITERS.add(self)

    @property
    def pid(self) -> int | None:
        """The writer's process id, once it is ready."""
        child = self._child
        return child.process.pid if child is not None and child.ready else None

    def __call__(self, job: SiteJob) -> bool:
        """Write ``job``'s site dir: in the writer when it is ready, else in this process.

        :raises WheelError: when installer refuses a wheel.
        :raises InstallError: when the file system fails the install.
        """
        if self._lost >= _GIVE_UP or armed("before_publish", job.version) or not sendable(job):
            # Given up on; paths the messages cannot carry; or the host is the process that is
            # to crash before the publish.
            return write_site(job)
        with self._lock:
            child = self._usable()
            if child is not None:
                try:
                    self._settle(child)
                    child.send(_full(job), waiting=True)
                    reply = child.answer(soon=False)
                except LostError as exc:
                    self._lose(child, exc)
                else:
                    self._lost = 0
                    return self._outcome(reply, job)
        return write_site(job)

    def read_wheel(
        self,
        path: Path,
        lstat: os.stat_result,
        limits: WheelLimits,
        ahead: WriteAhead | None = None,
    ) -> WheelRead | None:
        """Have the writer read and validate a look's wheel file (see
        :mod:`~pluginhost.discover.reading`), and wait for its answer.

        :param ahead: also write the site dir of the plugin the wheel offers, right after the
            read's answer, while the host plans: the host's :meth:`send_ahead` of that job then
            sends nothing (a send is a wait for the interpreter lock under busy callers), and
            its :meth:`collect` takes the write's answer.
        :returns: ``None`` when the writer is not ready, the path is not UTF-8 (the messages'
            text is) or the file grew too large for the writer: the host reads it itself.
        :raises WheelError: when the file cannot be read, or the writer was lost meanwhile (it
            died, answered garbage or passed :data:`_READ_TIMEOUT`: the file is not handed
            back to the host, it is refused now and read again at the next full look).
        """
        if self._lost >= _GIVE_UP or not utf8_paths(path):
            return None
        with self._lock:
            child = self._usable(start=False)
            if child is None:
                return None
            try:
                self._settle(child)
            except LostError as exc:  # lost before the read was sent: the host reads
                self._lose(child, exc)
                return None
            try:
                sent = self._ahead_of(ahead)
                child.send(read_message(path, lstat, limits, sent), waiting=True)
                reply = child.answer(_READ_TIMEOUT, soon=False)
                if not isinstance(reply, ReadDone | ReadFailed | ReadHere):
                    raise LostError(f"the site writer answered {reply!r} to a read")
                _check_target(reply, sent)
            except LostError as exc:
                self._lose(child, exc)
                reason = f"{WRITER_LOST} while it read the file: {exc}"
                raise WheelError(reason, path=path) from None
            self._lost = 0
            if isinstance(reply, ReadDone) and reply.target:
                target = Path(reply.target)
                self._ahead.append(target)
                self._read_ahead.add(target)
        if isinstance(reply, ReadFailed):
            raise WheelError(reply.reason, path=path)
        return wheel_read(reply) if isinstance(reply, ReadDone) else None

    def _ahead_of(self, ahead: WriteAhead | None) -> AheadMsg | None:
        """``ahead`` with this process's bytecode settings; none while a crash point is armed
        (the host must be the process that writes, and crashes: see :meth:`send_ahead`)."""
        if ahead is None or any_armed() or len(self._with_reads) + len(self._read_ahead) >= _KEPT:
            return None
        if not utf8_paths(ahead.site_root, ahead.staging_root):
            return None  # the messages' text is UTF-8: such a home's installs are the host's
        site_root, staging_root = str(ahead.site_root), str(ahead.staging_root)
        return AheadMsg(ahead.group, site_root, staging_root, _compiles(), sys.flags.optimize)

    def send_ahead(self, job: SiteJob) -> bool:
        """Send ``job`` to a ready writer and return at once, so that it is written while the
        host goes on; :meth:`collect` waits for its answer.

        :returns: whether it was sent (not when the writer is not ready, or was given up).
        """
        if self._lost >= _GIVE_UP or armed("before_publish", job.version) or not sendable(job):
            return False
        with self._lock:
            if job.target in self._with_reads or job.target in self._read_ahead:
                return True  # written with its read: collect takes that answer
            child = self._child
            if child is None or len(self._ahead) >= _AHEAD:
                return False
            try:
                if not child.check_ready():
                    return False
                child.send(_full(job), waiting=False)
            except LostError as exc:
                self._lose(child, exc)
                return False
            self._ahead.append(job.target)
            return True

    def collect(self, job: SiteJob) -> bool | None:
        """The outcome of ``job``, sent ahead: whether its site dir was there already.

        :returns: ``None`` when it was not sent ahead, or the writer was lost meanwhile (the
            job is then to be written again).
        :raises WheelError: when installer refused the wheel.
        :raises InstallError: when the file system failed the install.
        """
        with self._lock:
            written = self._with_reads.pop(job.target, None)
            if written is not None:
                return self._outcome(written, job)
            child = self._child
            if child is None or job.target not in self._ahead:
                return None
            try:
                while (target := self._ahead.popleft()) != job.target:
                    self._arrived(target, child.answer())  # not this install's
                self._read_ahead.discard(job.target)
                reply = child.answer()
            except LostError as exc:
                self._lose(child, exc)
                return None
            self._lost = 0
            return self._outcome(reply, job)

    def take_compiled(self, target: Path) -> tuple[Compiled, ...]:
        """The bytecode the writer sent back for the site dir ``target`` (see
        :mod:`.compiled`), handed over once; nothing when it sent none."""
        with self._lock:
            return self._compiled.pop(target, ())

    def _outcome(self, reply: Reply, job: SiteJob) -> bool:
        reused = _outcome(reply, job)
        if isinstance(reply, WriteDone) and reply.compiled:
            if len(self._compiled) >= _KEPT:
                self._compiled.pop(next(iter(self._compiled)))  # never taken: not wanted
            self._compiled[job.target] = reply.modules()
        return reused

    def written_ahead(self) -> frozenset[Path]:
        """The site dirs this writer wrote ahead of an install that has not taken them yet,
        once every job sent ahead is answered: a prune must leave them, for that install takes
        them as they are. Not one it found there already: an install finds that one gone, if
        pruned, and writes it again (a start's prune left a removed plugin's dir so, which
        its look had read again)."""
        with self._lock:
            child = self._child
            if child is not None:
                try:
                    self._settle(child)  # the answers wait with their reads, for the collects
                except LostError as exc:
                    self._lose(child, exc)
            fresh = [
                target
                for target, reply in self._with_reads.items()
                if isinstance(reply, WriteDone) and not reply.reused
            ]
            return frozenset((*fresh, *self._uncollected))

    def settle(self) -> list[Path]:
        """Wait for the answers to every job sent ahead and not collected; the site dirs the
        writer wrote for them, and with reads, since the last call and that no collect took
        (not those it found there already, nor those of a writer lost before it answered: a
        start's prune takes those).
        """
        with self._lock:
            child = self._child
            if child is not None:
                try:
                    self._settle(child)
                except LostError as exc:
                    self._lose(child, exc)
            for target, reply in self._with_reads.items():
                self._keep(target, reply)
            self._with_reads.clear()
            written, self._uncollected = self._uncollected, []
            return written

    def _settle(self, child: WriterPipes) -> None:
        while self._ahead:
            target = self._ahead.popleft()
            self._arrived(target, child.answer())

    def _arrived(self, target: Path, reply: Reply) -> None:
        """Note an answer no collect waits for now: a write that came with a read waits for
        its install's collect, any other is for :meth:`_keep`."""
        if target in self._read_ahead:
            self._read_ahead.discard(target)
            self._with_reads[target] = reply
        else:
            self._keep(target, reply)

    def _keep(self, target: Path, reply: Reply) -> None:
        """Note an answer nobody collects: a site dir written now is for :meth:`settle`."""
        if isinstance(reply, WriteDone) and not reply.reused:
            self._uncollected.append(target)

    def start(self) -> None:
        """Start the writer now, ahead of the first install, unless it runs or was given up."""
        with self._lock:
            if self._child is None and self._lost < _GIVE_UP:
                self._start()

    def close(self) -> None:
        """End the writer (it is started again by the next install)."""
        with self._lock:
            child, self._child = self._child, None
            self._ahead.clear()
            self._uncollected.clear()
            self._with_reads.clear()
            self._read_ahead.clear()
        if child is not None:
            child.close()

    def forget(self) -> None:
        """In a child made by ``fork``: let go of the parent's writer without a word to it (its
        pipes are the parent's), so that this process starts its own at its next install."""
        child, self._child = self._child, None
        self._lock = threading.Lock()  # another thread of the parent may have held it
        self._ahead.clear()
        self._uncollected.clear()
        self._with_reads.clear()
        self._read_ahead.clear()
        if child is not None:
            child.forget()

    def _usable(self, *, start: bool = True) -> WriterPipes | None:
        """The writer if it is ready; with ``start``, starts one when there is none (this job
        is then written here: the writer takes longer to start than a small site dir to
        write)."""
        child = self._child
        if child is None:
            if start:
                self._start()
            return None
        try:
            return child if child.check_ready() else None
        except LostError as exc:
            self._lose(child, exc)
            return None

    def _start(self) -> None:
        try:
            self._child = WriterPipes(_BOOT)
        except OSError as exc:
            self._lost += 1
            logger.warning("cannot start the site writer (%s): installing in this process", exc)

    def _lose(self, child: WriterPipes, exc: LostError) -> None:
        self._child = None
        self._ahead.clear()
        self._read_ahead.clear()
        self._lost += 1
        child.close(kill=True)
        give_up = " (no more after this)" if self._lost >= _GIVE_UP else ""
        logger.warning(
            "site writer (pid %d) lost: %s; installing in this process%s",
            child.process.pid,
            exc,
            give_up,
        )


#: The writers of this process, for a child made by ``fork`` to let go of.
_WRITERS: Final[weakref.WeakSet[WriterProcess]] = weakref.WeakSet()


def _forget_in_child() -> None:
    # A parent's writer answers the parent: a child sharing its pipes would read answers to
    # jobs it never sent, and keep the writer's stdin open after the parent closed it.
    for writer in list(_WRITERS):
        writer.forget()


os.register_at_fork(after_in_child=_forget_in_child)


def _full(job: SiteJob) -> SiteJob:
    """``job`` with the bytecode settings of this process, for the writer to follow."""
    return attrs.evolve(job, compile=_compiles(), optimize=sys.flags.optimize)


def _compiles() -> bool:
    """Whether the host's imports write bytecode where the writer would (its own cache)."""
    return not sys.dont_write_bytecode and sys.pycache_prefix is None


def _check_target(reply: Reply, sent: AheadMsg | None) -> None:
    """A site dir written with a read is a direct child of the site root the host gave (the
    host deletes it unless an install takes it). :raises LostError: when it is not."""
    if not isinstance(reply, ReadDone) or reply.target is None:
        return
    target = Path(reply.target)
    if sent is None or target.parent != Path(sent.site_root) or target.name in ("", ".", ".."):
        raise LostError(f"the site writer answered a read with the site dir {reply.target!r}")


def _outcome(reply: Reply, job: SiteJob) -> bool:
    if isinstance(reply, WriteDone):
        return reply.reused
    if isinstance(reply, WriteFailed):
        error = WheelError if reply.kind == "wheel" else InstallError
        raise error(reply.reason, plugin=reply.plugin, path=reply.path)
    raise InstallError(f"the site writer answered {reply!r}", plugin=job.plugin)
