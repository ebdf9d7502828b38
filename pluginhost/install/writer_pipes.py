"""One site writer process and its two pipes, as the host sees them: a job is a frame written
to the writer's stdin, an answer a frame read from its stdout, both non-blocking on the host's
side so that a hung or dead writer is found out by a deadline (:class:`LostError`) rather than
waited for. :mod:`.writer_process` decides what to send and what an answer means.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import time
from collections.abc import Sequence
from typing import Final

import msgspec

from ..state.frames import FrameReader, write_frame
from .site_writer import SiteJob
from .writer_cpu import SendingCpu
from .writer_messages import PROTOCOL, LogMsg, ReadMsg, Reply, WriterReady, decoder, message_of

__all__ = ["LostError", "WriterPipes"]

#: Seconds a job may take in the writer before it is taken for hung.
_JOB_TIMEOUT: Final = 120.0
#: Seconds for the rest of a greeting that has begun to arrive.
_GREETING_TIMEOUT: Final = 5.0


class LostError(Exception):
    """The writer cannot be used any more (it is killed)."""


class WriterPipes:
    """One writer process and its two pipes (non-blocking on the host's side)."""

    def __init__(self, boot: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            boot,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Out of the host's process group: a Ctrl-C in its terminal is the host's.
            start_new_session=True,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.jobs = self.process.stdin.fileno()
        self.answers = self.process.stdout.fileno()
        os.set_blocking(self.jobs, False)
        os.set_blocking(self.answers, False)
        self.frames = FrameReader(self.answers, nonblocking=True)
        self.ready = False
        self.encoder = msgspec.msgpack.Encoder()
        self.decoder = decoder()
        self.cpu = SendingCpu()

    def check_ready(self) -> bool:
        """Whether the writer said it is ready; reads its greeting if it is there already.

        :raises LostError: it ended, or greeted with garbage or another protocol.
        """
        if not self.ready:
            poller = select.poll()  # not select(): a busy host's descriptors pass 1024
            poller.register(self.answers, select.POLLIN)
            if not poller.poll(0):
                return False  # still starting: nothing to read yet (an end would be readable)
            greeting = self._read(time.monotonic() + _GREETING_TIMEOUT)
            if not isinstance(greeting, WriterReady) or greeting.protocol != PROTOCOL:
                raise LostError(f"the site writer greeted with {greeting!r}")
            self.ready = True
        return True

    def send(self, job: SiteJob | ReadMsg, *, waiting: bool) -> None:
        """Send ``job``; its answer comes in the order of the jobs sent.

        :param waiting: the calling thread waits for the answer next: the writer runs the job
            on this thread's CPU (see :mod:`.writer_cpu`).
        :raises LostError: the writer cannot be reached, or passed the deadline.
        """
        message = job if isinstance(job, ReadMsg) else message_of(job)
        if waiting:
            self.cpu.place(self.process.pid)
        try:
            deadline = time.monotonic() + _JOB_TIMEOUT
            write_frame(self.jobs, self.encoder.encode(message), deadline, nonblocking=True)
        except OSError as exc:
            raise LostError(f"cannot send a job: {exc}") from exc

    def answer(self, timeout: float = _JOB_TIMEOUT, *, soon: bool = True) -> Reply:
        """Wait for the answer to the oldest job sent and not answered yet.

        :param soon: whether it may be there already (see :meth:`FrameReader.read`).
        :raises LostError: the writer ended, answered garbage, or passed the deadline.
        """
        return self._read(time.monotonic() + timeout, soon=soon)

    def _read(self, deadline: float, *, soon: bool = True) -> Reply:
        while True:
            try:
                payload = self.frames.read(deadline, soon=soon)
            except OSError as exc:
                raise LostError(str(exc)) from exc
            if payload is None:
                raise LostError(f"the site writer ended (exit code {self.process.poll()})")
            try:
                reply: Reply | LogMsg = self.decoder.decode(payload)
            except msgspec.DecodeError as exc:
                raise LostError(f"the site writer answered garbage: {exc}") from exc
            if not isinstance(reply, LogMsg):
                return reply
            _log(reply)

    def forget(self) -> None:
        """Close this process's copies of the pipes, leaving the writer to its starter."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.process.returncode = 0  # not this process's child to wait for

    def close(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()  # the writer reads the end of its stdin and ends
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _log(message: LogMsg) -> None:
    """Log what the writer logged, with this process's handlers, under the same logger (one
    of this package's: the writer's own messages come from this code)."""
    name = message.logger if message.logger.startswith("pluginhost.") else "pluginhost"
    level = min(max(message.level, logging.WARNING), logging.CRITICAL)
    logging.getLogger(name).log(level, "%s", message.message)
