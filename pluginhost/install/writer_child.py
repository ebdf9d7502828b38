"""The site writer's own process: it writes the site dirs the host gives it, one at a time,
and reads and validates the wheels of the host's looks that the host asks it to.

The host (:mod:`.writer_process`) starts it with ``python -I``, writes each job as a frame to
its stdin and reads each answer from its stdout. A site dir's wheel was validated already: it
only writes (:func:`~.site_writer.write_site`). A wheel to read is read and validated by the
functions the host would run (:func:`~pluginhost.discover.reading.read_and_inspect`); when the
host asks, the site dir of the plugin it offers is written right after the read's answer, while
the host plans the change that installs it (see :func:`_ahead_job`). It ends at the end of its
stdin, or when the host that started it is gone.
"""

from __future__ import annotations

import logging
import os
import select
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs
import msgspec

from ..discover.archive import WheelLimits
from ..discover.candidates import candidate_from_wheel
from ..discover.handover import ValidatedWheel
from ..discover.reading import WheelRead, prepare_reading, read_and_inspect
from ..model.errors import InstallError, WheelError
from ..state.frames import read_frame, write_frame
from .compiled import read_compiled
from .installer import candidate_job
from .site_writer import SiteJob, load_installer, write_site
from .writer_cpu import whole_mask
from .writer_messages import (
    PROTOCOL,
    AheadMsg,
    JobMsg,
    LogMsg,
    ReadFailed,
    ReadHere,
    ReadMsg,
    Reply,
    WriteDone,
    WriteFailed,
    WriterReady,
    decoder,
    job_of,
    read_done,
    read_of,
)

__all__ = ["main", "prepare"]

#: How often an idle writer looks whether its host is still there.
_LOOK: Final = 5.0


def main() -> None:
    """Serve jobs from stdin until it ends or the host is gone."""
    # The channel keeps fd 1; anything printed goes to stderr instead of into the channel.
    channel = os.dup(1)
    os.dup2(2, 1)
    host = os.getppid()
    encoder = msgspec.msgpack.Encoder()
    _forward_warnings(channel, encoder)
    prepare()
    messages = decoder()
    widen = whole_mask()
    try:
        write_frame(channel, encoder.encode(WriterReady(PROTOCOL, os.getpid())))
        while (payload := _next_job(0, host)) is not None:
            widen()  # the host may have placed this job on its own CPU (see writer_cpu)
            for reply in _serve(payload, messages):
                write_frame(channel, encoder.encode(reply))
    except BrokenPipeError:
        return  # the host closed the channel (it stopped, or gave this writer up): done


class _Forward(logging.Handler):
    """Sends each warning of this package's loggers to the host as it is logged (a
    :class:`LogMsg`, before the answer to the job that logged it)."""

    def __init__(self, channel: int, encoder: msgspec.msgpack.Encoder) -> None:
        super().__init__(logging.WARNING)
        self._channel = channel
        self._encoder = encoder

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = LogMsg(record.name, record.levelno, record.getMessage())
            write_frame(self._channel, self._encoder.encode(message))
        except Exception:
            self.handleError(record)


def _forward_warnings(channel: int, encoder: msgspec.msgpack.Encoder) -> None:
    # In place of logging's last resort, which printed them to the host's stderr, unseen by
    # the host's handlers.
    package = logging.getLogger("pluginhost")
    package.addHandler(_Forward(channel, encoder))
    package.propagate = False


def prepare() -> None:
    """Import now what a read and a write import when first needed: run before the greeting,
    so that the host's first read and write (a swap waits for them) wait for no import."""
    load_installer()
    prepare_reading()


def _next_job(fd: int, host: int) -> bytes | None:
    """The next job's frame; ``None`` when there is none to wait for any more."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(_LOOK * 1000):
        if os.getppid() != host:
            return None
    return read_frame(fd)


def _serve(payload: bytes, messages: msgspec.msgpack.Decoder[object]) -> Iterator[Reply]:
    """The answers to one job, each sent as soon as it is made: one, or two for a read whose
    site dir is written after it."""
    try:
        message = messages.decode(payload)
    except msgspec.DecodeError as exc:
        yield WriteFailed("install", f"the site writer cannot read its job: {exc}", None, None)
        return
    if isinstance(message, ReadMsg):
        yield from _read(message)
    elif isinstance(message, JobMsg):
        yield _write(job_of(message))
    else:
        yield WriteFailed("install", f"the site writer got no job: {message!r}", None, None)


def _write(job: SiteJob) -> WriteDone | WriteFailed:
    """Write a site dir; a refusal or a failure is the answer."""
    try:
        return _done(job, write_site(job))
    except WheelError as exc:
        return WriteFailed("wheel", exc.reason, exc.plugin, exc.path)
    except InstallError as exc:
        return WriteFailed("install", exc.reason, exc.plugin, exc.path)
    except Exception as exc:  # the host must have an answer, and a typed one
        reason = f"the site writer failed: {type(exc).__name__}: {exc}"
        return WriteFailed("install", reason, job.plugin, str(job.wheels[0].original))


def _done(job: SiteJob, reused: bool) -> WriteDone:
    """The answer to a job done: with the bytecode it asked for, of a site dir written now
    (one found there already was compiled by another process, as it saw fit)."""
    if reused or not job.compile or not job.preload:
        return WriteDone.of(reused, ())
    return WriteDone.of(reused, read_compiled(job.target, job.preload, job.optimize))


def _read(message: ReadMsg) -> Iterator[Reply]:
    """Read and validate a look's wheel; a refusal of the wheel is part of the answer. When
    the read's :class:`AheadMsg` asks, the site dir is written after the answer, which names
    it: the host plans meanwhile, and the write's answer follows."""
    try:
        path, lstat, limits = read_of(message)
    except (ValueError, TypeError) as exc:
        yield ReadFailed(f"the site writer cannot read its job: {exc}", message.path)
        return
    try:
        done = read_and_inspect(path, lstat, limits)
    except WheelError as exc:
        yield ReadFailed(exc.reason, message.path)
        return
    except Exception as exc:  # the host must have an answer, and a typed one
        yield ReadFailed(f"the site writer failed: {type(exc).__name__}: {exc}", message.path)
        return
    if done is None:
        yield ReadHere(message.path)
        return
    reply = read_done(done)
    job = _ahead_job(done, limits, message.ahead) if message.ahead is not None else None
    if job is not None:
        reply.target = str(job.target)
    yield reply
    if job is not None:
        yield _write(job)


def _ahead_job(done: WheelRead, limits: WheelLimits, ahead: AheadMsg) -> SiteJob | None:
    """The site dir job of the plugin a validated wheel offers, as the host's install would
    make it; ``None`` for a refused wheel, a wheel that offers no plugin, or one whose
    candidate the host will refuse (it says why then; nothing is written for it here).

    Written before the host planned the change: a site dir no install takes (the plan chose
    another version, say) is deleted by the host when the change ends.
    """
    inspected = done.inspected
    if isinstance(inspected, WheelError):
        return None
    try:
        candidate = candidate_from_wheel(inspected, ahead.group, limits)
    except Exception:  # the host validates it again, and reports the refusal
        return None
    if candidate is None:
        return None
    wheel = ValidatedWheel(inspected.info, done.data.data)
    job = candidate_job(
        candidate, wheel, site_root=Path(ahead.site_root), staging_root=Path(ahead.staging_root)
    )
    if job is None:
        return None
    return attrs.evolve(job, compile=ahead.compile, optimize=ahead.optimize)
