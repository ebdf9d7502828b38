"""The host's end of a worker's socket: requests out, replies routed by the caller that reads.

Each request carries an id. There is no reader thread: a caller waiting for its reply becomes
the *leader* when no other thread reads, and reads frames, handing each reply to its caller,
until its own comes; the others wait on a condition and one of them takes over when the leader
leaves. A lone caller so reads its own reply without any thread hand-over (the cost of a call
is then the round trip). The worker's death is seen by a thread that waits for the process
(:class:`~pluginhost.proc.worker.Worker`'s watcher): it hangs up (:meth:`Channel.hang_up`),
reads what is left (:meth:`Channel.drain`) and wakes every caller still waiting with the error
it gives :meth:`Channel.close`, at once.

Frames are read with a buffer of our own (not a socket file), so that a read that passes its
deadline leaves the channel whole: a ping that times out does not break the next call.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import msgspec

from .messages import (
    HEADER,
    MAX_FRAME,
    Failure,
    FrameTooLargeError,
    Result,
    UnencodableError,
    decoder,
    encoded,
    encoder,
    frame,
    only_values,
    uncarried,
)
from .weigh import WEIGH_ABOVE, TooHeavyError, head, weigh

__all__ = ["Channel", "FrameTooLargeError", "Slot", "UnencodableError", "frame_bound"]


def _too_heavy(payload: bytes, error: TooHeavyError) -> Failure:
    """The failure of the call a reply too heavy to decode answers (its worker goes on
    serving: it answered)."""
    started = head(payload)
    if started is None or started[0] != "result":
        raise msgspec.DecodeError(f"a message of {len(payload):,} bytes: {error}")
    sent = f"{len(payload):,} bytes sent: {error}"
    return Failure(started[1], "heavy", "result", sent, "", argument="result")


def _foreign(reply: Result) -> Failure:
    """The failure of the call a reply answers with a value the worker's encoder never sends
    (see :func:`~pluginhost.proc.messages.only_values`), naming its place and type: the caller
    gets a ``CodecError``, as for a result that cannot cross, and the worker goes on serving."""
    place, kind = uncarried(reply.value, "result") or ("result", "a value of another type")
    sent = f"the worker sent {place} of type {kind}, which its encoder never sends"
    return Failure(reply.id, "codec", kind, sent, "", argument=place)


class Slot:
    """One request waiting for its reply (or for the channel's end)."""

    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = False
        self.reply: Result | Failure | None = None
        self.error: BaseException | None = None


#: How long a reader asks the socket for bytes without sleeping before it sleeps in ``poll``.
#: A worker answers a short call within a round trip (30 us on a slow machine), and a thread
#: put to sleep takes 8 to 9 us more to wake than one that keeps asking: round trips of 22
#: against 30 us (p50 of 10,000, a socketpair to an echoing process). Longer waits cost this
#: much CPU more, once per frame.
SPIN: Final = 50e-6
#: ``recv``'s flag that answers at once, where the platform has it.
_DONTWAIT: Final = getattr(socket, "MSG_DONTWAIT", 0)


def _spins() -> bool:
    """Whether spinning can pay: with one core for this process, the worker could not answer
    while the reader spins on it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores > 1 and _DONTWAIT != 0


def frame_bound(memory_mb: int | None) -> int:
    """The largest message the host takes from a worker: one it could have encoded in its
    memory (``memory_mb``), at most :data:`MAX_FRAME`. A worker streaming a frame a bit at a
    time made the host buffer (and copy) up to 256 MiB, whatever its own limit."""
    return MAX_FRAME if memory_mb is None else min(MAX_FRAME, memory_mb * 2**20)


class Frames:
    """Whole frames from a blocking socket, each read within an optional deadline.

    :param most: the largest frame taken; a larger one ends the channel as soon as its
        header is read, before any of it is buffered.
    """

    def __init__(self, sock: socket.socket, most: int = MAX_FRAME) -> None:
        self.sock = sock
        self.most = most
        self.refused: int | None = None
        """The size a frame announced past :attr:`most`, once one did."""
        self.buffer = bytearray()
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)
        self.spin = _spins()

    def next(self, deadline: float | None) -> bytes | None:
        """The next frame's payload; None at EOF (or a frame past :attr:`most`).

        :raises TimeoutError: ``deadline`` (a ``time.monotonic()`` value) passed first.
        """
        buffer = self.buffer
        while True:
            if len(buffer) >= 4:
                (size,) = HEADER.unpack_from(buffer)
                if size > self.most:
                    self.refused = size
                    return None
                if len(buffer) >= 4 + size:
                    with memoryview(buffer) as view:  # one copy of a large frame, not two
                        payload = bytes(view[4 : 4 + size])
                    del buffer[: 4 + size]
                    return payload
            chunk = self._spun() if self.spin else None
            if chunk is None:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.poller.poll(left * 1000):
                        raise TimeoutError
                chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            buffer += chunk

    def _spun(self) -> bytes | None:
        """What the socket gives within :data:`SPIN` (``b""`` at its end), asked without
        sleeping; None when nothing came. Each ask lets go of the interpreter lock."""
        end = time.perf_counter() + SPIN
        while True:
            try:
                return self.sock.recv(1 << 16, _DONTWAIT)
            except BlockingIOError:
                if time.perf_counter() >= end:
                    return None


class Channel:
    """Frames to and from one worker; thread-safe.

    :param sock: the host's end of the socketpair, blocking.
    :param on_other: called with each message that answers no request, and with each failure
        that says a limit was hit (before its caller wakes).
    :param on_eof: called once, by the reader that meets the end of the socket.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_other: Callable[[object], None],
        on_eof: Callable[[], None],
        *,
        most: int = MAX_FRAME,
    ) -> None:
        self.sock = sock
        self.frames = Frames(sock, most)
        self._encode = encoder().encode
        self._decode = decoder().decode
        self._send_lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._pending: dict[int, Slot] = {}
        self._ids = itertools.count(1)
        self._closed: BaseException | None = None
        self._leading = False
        self._eof = False
        self._broken: str | None = None
        self._waiting = 0
        self._answered = 0.0
        """When the last reply came (``time.monotonic()``): the worker was answering then."""
        self._on_other = on_other
        self._on_eof = on_eof

    def send(self, message: object) -> None:
        """Send one message.

        :raises UnencodableError: the encoder refused it (a value changed since it was checked).
        :raises FrameTooLargeError: the message encodes past :data:`MAX_FRAME`.
        :raises OSError: the worker is gone.
        """
        data = frame(encoded(self._encode, message))
        with self._send_lock:
            self.sock.sendall(data)

    def receive(self, deadline: float | None, most: int | None = None) -> Any:
        """The next message, for the handshake (before any request); None at EOF, or when it
        is larger than ``most`` bytes (then :meth:`broken` says so, and the channel is done).

        :raises msgspec.DecodeError: the peer sent something that is not a message.
        :raises TimeoutError: ``deadline`` passed.
        """
        frames = self.frames
        bound = frames.most
        frames.most = bound if most is None else min(bound, most)
        try:
            payload = frames.next(deadline)
        finally:
            frames.most = bound
        return None if payload is None else self._message(payload)

    def _message(self, payload: bytes) -> Any:
        """The message ``payload`` encodes.

        :raises msgspec.DecodeError: it is not a message, or one nested past what msgspec
            decodes (a ``RecursionError``, which escaped to the caller of a hook: a worker
            answered a call with a value nested 100,000 deep), or one that is not a reply and
            would take more than :data:`~pluginhost.proc.weigh.MAX_DECODED` bytes decoded.
            A reply whose value is not made only of what crosses is decoded as the failure of
            its call (:func:`_foreign`).
        """
        if len(payload) > WEIGH_ABOVE:
            try:
                weigh(payload)
            except TooHeavyError as e:
                return _too_heavy(payload, e)
        try:
            message = self._decode(payload)
        except RecursionError:
            raise msgspec.DecodeError("the message nests too deeply to decode") from None
        if type(message) is Result and not only_values(message.value, payload):
            return _foreign(message)
        return message

    def broken(self) -> str | None:
        """Why the channel ended before the worker did, when the worker broke it: a frame past
        the bound, or one that does not decode (the worker is killed then, and its end says
        why, not only the signal)."""
        if self.frames.refused is not None:
            return (
                f"it sent a message of {self.frames.refused:,} bytes, past the "
                f"{self.frames.most:,} the host takes from it"
            )
        return self._broken

    # -- requests
    def request(self, make: Callable[[int], object]) -> tuple[int, Slot]:
        """Send the message ``make(id)`` and return the slot its reply will fill.

        :raises BaseException: the error the channel was closed with, when it is closed.
        :raises UnencodableError: the encoder refused the message.
        :raises FrameTooLargeError: the message is too large to send.
        :raises OSError: the socket broke before the worker's end was seen.
        """
        slot = Slot()
        with self._cond:
            if self._closed is not None:
                raise self._closed
            ident = next(self._ids)
            self._pending[ident] = slot
        try:
            self.send(make(ident))
        except (OSError, FrameTooLargeError, UnencodableError):
            self.forget(ident)  # no reply will come: the slot must not wait for the end
            raise
        return ident, slot

    def wait(self, slot: Slot, timeout: float | None) -> bool:
        """Wait for ``slot``'s reply, reading the socket when no other thread does.

        The worker answers one request at a time, in turn: ``timeout`` counts from the request,
        or from the last reply of any request if that came later. A request waiting behind
        others that the worker goes on answering is not timed while they run (two calls of
        2 s each, sent at once with a limit of 3 s, had the second time out, and the worker
        killed as hung).

        :returns: whether the reply (or the channel's end) came in time.
        """
        sent = time.monotonic()
        while True:
            deadline = None if timeout is None else max(sent, self._answered) + timeout
            if deadline is not None and deadline <= time.monotonic():
                return slot.done  # no reply of any request for ``timeout`` seconds
            if not self._lead_or_wait(slot, deadline):
                if slot.done:
                    return True
                continue  # past the deadline: unless a reply came meanwhile, that is all
            try:
                eof = self._read_until(slot, deadline)
            except TimeoutError:
                continue
            finally:
                self._step_down()
            if eof:
                self._on_eof()
            if slot.done:
                return True

    def _lead_or_wait(self, slot: Slot, deadline: float | None) -> bool:
        """Become the reader (True), or wait until ``slot`` is done, the reader leaves, or the
        deadline passes (False when done or past the deadline)."""
        with self._cond:
            while not slot.done:
                if self._closed is not None:
                    slot.error, slot.done = self._closed, True
                    return False
                if not self._leading and not self._eof:
                    self._leading = True
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._waiting += 1
                try:
                    self._cond.wait(left)
                finally:
                    self._waiting -= 1
            return False

    def _step_down(self) -> None:
        with self._cond:
            self._leading = False
            if self._waiting:
                self._cond.notify_all()

    def _read_until(self, slot: Slot | None, deadline: float | None) -> bool:
        """Read and route frames until ``slot`` is done or EOF (``slot`` None: until EOF).

        :returns: whether this read met EOF first (the others wait for :meth:`close`).
        :raises TimeoutError: ``deadline`` passed.
        """
        while slot is None or not slot.done:
            try:
                payload = self.frames.next(deadline)
                message = None if payload is None else self._message(payload)
            except TimeoutError:
                # An OSError too: caught below, it was taken for the worker's end, and a call
                # waiting its turn behind a slow one could never be answered.
                raise
            except OSError:
                message = None
            except msgspec.DecodeError as exc:
                message, self._broken = None, f"it sent a message that does not decode: {exc}"
            if message is None:
                with self._cond:
                    first, self._eof = not self._eof, True
                return first
            self._route(message)
        return False

    def _route(self, message: object) -> None:
        if not isinstance(message, (Result, Failure)):
            self._on_other(message)
            return
        if isinstance(message, Failure) and message.kind == "limit":
            # Told before the caller wakes: the worker exits right after, and its exit must
            # name the limit.
            self._on_other(message)
        with self._cond:
            slot = self._pending.pop(message.id, None)
            if slot is not None:
                # Only a reply to a request waiting here shows the worker answering: replies
                # to ids nobody waits for, sent by a thread of the plugin every second, kept a
                # hung call from ever timing out.
                self._answered = time.monotonic()
                slot.reply = message
                slot.done = True
                if self._waiting:
                    self._cond.notify_all()

    def forget(self, ident: int) -> None:
        """Stop waiting for the reply to ``ident`` (its caller gave up)."""
        with self._cond:
            self._pending.pop(ident, None)

    # -- the end
    def drain(self, timeout: float) -> None:
        """After the worker exited: read and route what it sent last (a reply, a limit hit),
        unless a reader already met the end.

        :param timeout: how long to wait for the reader to leave and for the last frames.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            # Counted as a waiter: a leader stepping down wakes only counted waiters, and an
            # uncounted wait here lasted the whole timeout (a crashed worker's callers got
            # their error 2 s late, one crash in five).
            self._waiting += 1
            try:
                while self._leading and time.monotonic() < deadline:
                    self._cond.wait(max(deadline - time.monotonic(), 0.0))
            finally:
                self._waiting -= 1
            if self._leading or self._eof:
                return
            self._leading = True
        try:
            with contextlib.suppress(TimeoutError):
                self._read_until(None, deadline)
        finally:
            self._step_down()

    def close(self, error: BaseException) -> None:
        """Close the channel with ``error``: every caller still waiting gets it at once."""
        with self._cond:
            if self._closed is None:
                self._closed = error
            for slot in self._pending.values():
                slot.error, slot.done = self._closed, True
            self._pending.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> BaseException | None:
        return self._closed

    def shutdown(self) -> None:
        """Close the write side: the worker reads EOF and exits."""
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_WR)

    def hang_up(self) -> None:
        """Close both sides, once the worker exited: what it sent is still read, then EOF.

        The worker's exit closes its end, unless a process it forked still holds it: the
        reader would then wait for that process, not for the worker. Shutting our end down
        wakes a reader blocked on it, and the frames already received stay readable.
        """
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_RDWR)

    def dispose(self) -> None:
        """Close the socket, once the channel is finished (or its handshake failed)."""
        self.sock.close()
