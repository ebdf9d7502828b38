"""The host's end of a worker's socket: requests out, one reader thread routing replies.

Each request carries an id; the caller waits on a lock of its own (the cheapest wake-up Python
has), which the reader releases when the reply with that id arrives. When the socket reaches
EOF (the worker died), every caller still waiting is woken at once with the error
:meth:`Channel.close` was given, without waiting for its deadline.
"""

from __future__ import annotations

import _thread
import contextlib
import itertools
import socket
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

import msgspec

from .messages import HEADER, MAX_FRAME, Failure, Result, decoder, encoder, frame

__all__ = ["Channel", "Slot"]


class Slot:
    """One request waiting for its reply."""

    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.reply: Result | Failure | None = None
        self.error: BaseException | None = None

    def wait(self, timeout: float | None) -> bool:
        """Whether the reply (or the channel's end) came within ``timeout`` seconds."""
        return self.done.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class Channel:
    """Frames to and from one worker; thread-safe.

    :param sock: the host's end of the socketpair, blocking.
    :param on_other: called in the reader thread with each message that answers no request,
        and with each failure that says a limit was hit.
    :param on_eof: called in the reader thread once, after the waiting callers are woken.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_other: Callable[[object], None],
        on_eof: Callable[[], None],
    ) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb", buffering=1 << 16)  # type: ignore[assignment]
        self._encode = encoder().encode
        self._decode = decoder().decode
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[int, Slot] = {}
        self._ids = itertools.count(1)
        self._closed: BaseException | None = None
        self._on_other = on_other
        self._on_eof = on_eof
        self._thread: threading.Thread | None = None

    # -- before the reader runs: the handshake, in the starting thread
    def send(self, message: object) -> None:
        """Send one message.

        :raises OSError: the worker is gone.
        """
        data = frame(self._encode(message))
        with self._send_lock:
            self.sock.sendall(data)

    def receive(self) -> Any:
        """The next message, read in the calling thread (the handshake's); None at EOF.

        :raises msgspec.DecodeError: the peer sent something that is not a message.
        :raises OSError: the socket's timeout passed.
        """
        header = self.reader.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise msgspec.DecodeError(f"a frame of {size} bytes")
        payload = self.reader.read(size)
        return self._decode(payload) if len(payload) == size else None

    def start_reader(self, name: str) -> None:
        """Start routing replies; from now on only the reader reads."""
        self.sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    # -- requests
    def request(self, make: Callable[[int], object]) -> tuple[int, Slot]:
        """Send the message ``make(id)`` and return the slot its reply will fill.

        :raises BaseException: the error the channel was closed with, when it is closed.
        """
        slot = Slot()
        with self._lock:
            if self._closed is not None:
                raise self._closed
            ident = next(self._ids)
            self._pending[ident] = slot
        try:
            self.send(make(ident))
        except OSError:
            self._pending.pop(ident, None)
            self.wait_closed(1.0)
            raise self._closed or ConnectionError("the worker's channel broke") from None
        return ident, slot

    def forget(self, ident: int) -> None:
        """Stop waiting for the reply to ``ident`` (its caller gave up)."""
        with self._lock:
            self._pending.pop(ident, None)

    def close(self, error: BaseException) -> None:
        """Mark the channel closed with ``error`` and wake every waiting caller with it."""
        with self._lock:
            if self._closed is None:
                self._closed = error
            waiting = list(self._pending.values())
            self._pending.clear()
        for slot in waiting:
            slot.error = self._closed
            slot.done.release()

    @property
    def closed(self) -> BaseException | None:
        return self._closed

    def shutdown(self) -> None:
        """Close the write side: the worker reads EOF and exits."""
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_WR)

    def wait_closed(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the reader thread
    def dispose(self) -> None:
        """Close the socket (the reader thread's end, or a channel whose handshake failed)."""
        self.reader.close()
        self.sock.close()

    def _read(self) -> None:
        try:
            self._route()
        finally:
            self._on_eof()
            self.dispose()

    def _route(self) -> None:
        read = self.reader.read
        decode = self._decode
        pending = self._pending
        while True:
            try:
                header = read(4)
                if len(header) < 4:
                    return
                (size,) = HEADER.unpack(header)
                if size > MAX_FRAME:
                    return
                message = decode(read(size))
            except (OSError, ValueError, msgspec.DecodeError):
                return
            if isinstance(message, (Result, Failure)):
                if isinstance(message, Failure) and message.kind == "limit":
                    # Told before the caller wakes: the worker exits right after, and its
                    # exit must name the limit whichever thread gets there first.
                    self._on_other(message)
                with self._lock:
                    slot = pending.pop(message.id, None)
                if slot is not None:
                    slot.reply = message
                    slot.done.release()
            else:
                self._on_other(message)
