"""Reads and writes of non-blocking pipes that keep the interpreter lock.

``os.read`` and ``os.write`` let Python's interpreter lock go for the system call, as they
must for a call that may block. On a non-blocking descriptor nothing blocks: the call copies
what fits and returns (``EAGAIN`` when nothing does) within microseconds. Letting the lock go
for it anyway can cost, when other threads call hooks without pause: a write that wakes the
process reading the pipe lets one of them take the lock before the call returns, and the
host's thread waits for it again, a switch interval or more. Measured under four such threads
(``benchmarks/lock_waits.py``, 2026-12-05, load 1.1-1.9, three runs): a write of 200 bytes to
a pipe a child process waits on took p50 0.03, 2.6 and 0.3 ms, p90 33, 37 and 48 ms with
``os.write``; p90 0.11, 0.15 and 1.0 ms made here. A round trip to a child that echoes (the
write, the wait for the answer, which lets the lock go as it must, the read): p50 22.5, 24.7
and 26.0 ms with ``os``, 14.5, 17.6 and 8.9 ms here.

So the host's side of its helper processes' pipes, which it makes non-blocking, reads and
writes through the C library's ``read`` and ``write`` called by ``ctypes.PyDLL``, which keeps
the lock over the call. Where that is not available (no ``ctypes``, no C library to load),
``os.read`` and ``os.write`` serve instead: slower under busy callers, the same otherwise.
Only ever called on a descriptor known to be non-blocking: a blocking one would hold every
thread of the process for as long as the call blocks.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable
from typing import Any

__all__ = ["read", "write"]


def read(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes from the non-blocking ``fd``, as :func:`os.read` gives them.

    :raises BlockingIOError: nothing to read now.
    :raises OSError: as :func:`os.read` raises it.
    """
    calls = _calls()
    if calls is None:
        return os.read(fd, size)
    buffer = bytearray(size)
    count = _retried(lambda: calls.read(fd, calls.address(buffer), size))
    return bytes(memoryview(buffer)[:count])


def write(fd: int, data: bytes | memoryview) -> int:
    """Write what fits of ``data`` to the non-blocking ``fd``; how many bytes were written.

    :raises BlockingIOError: nothing fits now.
    :raises OSError: as :func:`os.write` raises it (``BrokenPipeError`` when the reader is
        gone: Python ignores ``SIGPIPE``).
    """
    calls = _calls()
    if calls is None:
        return os.write(fd, data)
    chunk = bytes(data)
    return _retried(lambda: calls.write(fd, chunk, len(chunk)))


class _Calls:
    """The C library's ``read`` and ``write``, called with the interpreter lock held."""

    def __init__(self, ctypes: Any) -> None:
        self._ctypes = ctypes
        libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the lock is kept over the call
        self.read = libc.read
        self.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        self.read.restype = ctypes.c_ssize_t
        self.write = libc.write
        self.write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        self.write.restype = ctypes.c_ssize_t

    def address(self, buffer: bytearray) -> int:
        return int(self._ctypes.addressof(self._ctypes.c_char.from_buffer(buffer)))

    def errno(self) -> int:
        return int(self._ctypes.get_errno())


@functools.cache
def _calls() -> _Calls | None:
    """The calls, loaded once; ``None`` where they cannot be (``os`` serves then)."""
    if os.name != "posix":
        return None
    try:
        import ctypes  # noqa: PLC0415  (imported by the first host that reads a helper's pipe)

        return _Calls(ctypes)
    except (ImportError, OSError, AttributeError):
        return None


def _retried(call: Callable[[], int]) -> int:
    """``call``'s count, its failure raised as :func:`os.read` would (``EINTR`` retried, as
    PEP 475 has it: a non-blocking call is not interrupted in practice)."""
    calls = _calls()
    assert calls is not None
    while True:
        count = call()
        if count >= 0:
            return count
        number = calls.errno()
        if number != errno.EINTR:
            raise OSError(number, os.strerror(number))  # BlockingIOError for EAGAIN, say
