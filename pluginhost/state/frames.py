"""Length-prefixed frames: how the host and its helper processes cut a byte stream into messages.

A frame is a 4-byte big-endian length and that many bytes. A length past :data:`MAX_FRAME` is a
broken or hostile peer's. The readers and writers here work on a pipe's file descriptor within
a deadline, so that a peer that stops answering never holds the host's thread for good.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Final

from . import held

__all__ = ["HEADER", "MAX_FRAME", "FrameError", "FrameReader", "frame", "read_frame", "write_frame"]

HEADER: Final = struct.Struct(">I")
#: No frame is larger: a length past it means a broken or hostile peer.
MAX_FRAME: Final = 256 * 1024 * 1024
_CHUNK: Final = 1024 * 1024
#: What a FrameReader asks for at least: a pipe's buffer.
_PIPE: Final = 64 * 1024


class FrameError(OSError):
    """The peer sent a frame past :data:`MAX_FRAME`, ended mid-frame, or did not answer in time."""


def frame(payload: bytes) -> bytes:
    """``payload`` with its length in front, as it goes on the wire."""
    return HEADER.pack(len(payload)) + payload


def write_frame(
    fd: int, payload: bytes, deadline: float | None = None, *, nonblocking: bool = False
) -> None:
    """Write ``payload`` as one frame to ``fd`` (a non-blocking fd when ``deadline`` is given).

    :param deadline: a :func:`time.monotonic` time past which the write gives up.
    :param nonblocking: the caller knows ``fd`` is non-blocking: it is not asked, and it is
        written keeping the interpreter lock (:mod:`.held`).
    :raises FrameError: the deadline passed.
    :raises OSError: the peer is gone (``BrokenPipeError``).
    """
    data = memoryview(frame(payload))
    first = nonblocking or _tried_first(fd, deadline)
    while data:
        if not first:
            _wait(fd, select.POLLOUT, deadline)
        try:
            # Held: a pipe's buffer at a time (the call copies what it is given).
            written = held.write(fd, data[:_PIPE]) if nonblocking else os.write(fd, data[:_CHUNK])
        except BlockingIOError:
            first = False
            continue
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None) -> bytes | None:
    """The next frame's payload from ``fd``; ``None`` at the end of the stream.

    :raises FrameError: a frame past :data:`MAX_FRAME`, a stream ending mid-frame, or the
        deadline passed.
    """
    first = _tried_first(fd, deadline)  # asked once a frame: each asking is a system call
    header = _read_exactly(fd, HEADER.size, deadline, first=first, start=True)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes is past the limit of {MAX_FRAME}")
    payload = _read_exactly(fd, size, deadline, first=first, start=False)
    assert payload is not None
    return payload


class FrameReader:
    """Reads the frames of one descriptor, keeping what a read brought past a frame's end.

    Each read asks for what is there, so a frame that arrived whole costs one system call, not
    two (its header, then its payload): the host's thread waits for the interpreter lock again
    after each one while threads call hooks. Nothing else may read the descriptor.

    :param nonblocking: the caller knows ``fd`` is non-blocking: it is not asked at each read
        (another system call), and it is read keeping the interpreter lock (:mod:`.held`), a
        pipe's buffer at a time.
    """

    def __init__(self, fd: int, *, nonblocking: bool = False) -> None:
        self.fd = fd
        self._nonblocking = nonblocking
        self._held = bytearray()
        self._ended = False

    def read(self, deadline: float | None = None, *, soon: bool = True) -> bytes | None:
        """As :func:`read_frame`: the next frame's payload; ``None`` at the end of the stream.

        :param soon: whether the frame may have come already, so that a read is tried before
            waiting; not for an answer asked for just now (the try would find nothing).
        :raises FrameError: as :func:`read_frame` does.
        """
        first = soon and (self._nonblocking or _tried_first(self.fd, deadline))
        while True:
            missing = self._missing()
            if missing == 0:
                return self._take()
            if self._ended:
                if not self._held:
                    return None
                raise FrameError("the stream ended in the middle of a frame")
            if not first:
                _wait(self.fd, select.POLLIN, deadline)
            try:
                chunk = self._read(missing)
            except BlockingIOError:
                first = False
                continue
            if chunk:
                self._held += chunk
            else:
                self._ended = True

    def _read(self, missing: int) -> bytes:
        if self._nonblocking:
            return held.read(self.fd, _PIPE)
        return os.read(self.fd, min(max(missing, _PIPE), _CHUNK))

    def _missing(self) -> int:
        """How many bytes the next frame still lacks (at least its header's)."""
        if len(self._held) < HEADER.size:
            return HEADER.size - len(self._held)
        size = int(HEADER.unpack_from(self._held)[0])
        if size > MAX_FRAME:
            raise FrameError(f"a frame of {size} bytes is past the limit of {MAX_FRAME}")
        return max(0, HEADER.size + size - len(self._held))

    def _take(self) -> bytes:
        end = HEADER.size + int(HEADER.unpack_from(self._held)[0])
        payload = bytes(self._held[HEADER.size : end])
        del self._held[:end]
        return payload


def _read_exactly(
    fd: int, size: int, deadline: float | None, *, first: bool, start: bool
) -> bytes | None:
    parts: list[bytes] = []
    left = size
    while left:
        if not first:
            _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(left, _CHUNK))
        except BlockingIOError:
            first = False
            continue
        if not chunk:
            if start and left == size:
                return None
            raise FrameError("the stream ended in the middle of a frame")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _tried_first(fd: int, deadline: float | None) -> bool:
    """Whether a read or write is tried before waiting for ``fd``: it is when ``fd`` is
    non-blocking (a try that finds nothing costs one refused system call) or there is no
    deadline to keep. The host's thread waits for the interpreter lock again after each system
    call while other threads call hooks: a wait when the data is there is one call too many."""
    return deadline is None or not os.get_blocking(fd)


def _wait(fd: int, event: int, deadline: float | None) -> None:
    poller = select.poll()
    poller.register(fd, event)
    while True:
        if deadline is None:
            poller.poll()
            return
        left = deadline - time.monotonic()
        # Polled once even when the deadline has passed: a deadline of now asks "is it there?".
        # POLLHUP and POLLERR come back too: the read or write that follows tells them.
        if poller.poll(max(0.0, left) * 1000):
            return
        if left <= 0:
            raise FrameError("the peer did not answer in time")
