"""Reads and writes of non-blocking pipes that keep the interpreter lock: what they return and
raise is what ``os.read`` and ``os.write`` would, on real pipes."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import pytest

from pluginhost.state import held


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A non-blocking pipe: its read and write ends."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):  # closed by the test
            os.close(fd)


def test_what_is_written_is_read(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    assert held.write(write_end, b"hello, world") == 12
    assert held.read(read_end, 5) == b"hello"
    assert held.read(read_end, 1024) == b", world"


def test_a_memoryview_slice_is_written(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    data = memoryview(b"0123456789")
    assert held.write(write_end, data[2:6]) == 4
    assert held.read(read_end, 100) == b"2345"


def test_nothing_to_read_is_blocking_io(pipe: tuple[int, int]) -> None:
    with pytest.raises(BlockingIOError):
        held.read(pipe[0], 10)


def test_the_end_of_the_stream_is_empty(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    held.write(write_end, b"last")
    os.close(write_end)
    assert held.read(read_end, 10) == b"last"
    assert held.read(read_end, 10) == b""


def test_a_full_pipe_takes_what_fits_then_nothing(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    data = b"x" * (4 * 1024 * 1024)
    written = held.write(write_end, data)
    assert 0 < written < len(data)
    with pytest.raises(BlockingIOError):
        held.write(write_end, data)
    got = b""
    while len(got) < written:
        got += held.read(read_end, 65536)
    assert got == data[:written]


def test_a_pipe_nobody_reads_is_broken(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    with pytest.raises(BrokenPipeError):
        held.write(write_end, b"anyone?")


def test_a_closed_descriptor_is_an_os_error(pipe: tuple[int, int]) -> None:
    read_end, _ = pipe
    os.close(read_end)
    with pytest.raises(OSError, match="Bad file descriptor") as caught:
        held.read(read_end, 10)
    assert caught.value.errno == errno.EBADF
