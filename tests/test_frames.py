"""Length-prefixed frames on a real pipe: whole frames, the end, a broken peer, a deadline."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from pluginhost.state.frames import (
    HEADER,
    MAX_FRAME,
    FrameError,
    FrameReader,
    frame,
    read_frame,
    write_frame,
)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    reader, writer = os.pipe()
    yield reader, writer
    for fd in (reader, writer):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_frames_cross_whole(pipe: tuple[int, int]) -> None:
    """Frames larger than the pipe's buffer arrive whole and in order."""
    reader, writer = pipe
    big = os.urandom(300_000)
    thread = threading.Thread(target=lambda: [write_frame(writer, p) for p in (b"a", big, b"")])
    thread.start()
    assert read_frame(reader) == b"a"
    assert read_frame(reader, time.monotonic() + 10) == big
    assert read_frame(reader) == b""
    thread.join()


def test_end_of_stream_is_none(pipe: tuple[int, int]) -> None:
    reader, writer = pipe
    os.close(writer)
    assert read_frame(reader) is None


def test_end_mid_frame_is_an_error(pipe: tuple[int, int]) -> None:
    reader, writer = pipe
    os.write(writer, HEADER.pack(10) + b"abc")
    os.close(writer)
    with pytest.raises(FrameError, match="ended in the middle"):
        read_frame(reader)


def test_a_frame_past_the_limit_is_refused_unread(pipe: tuple[int, int]) -> None:
    reader, writer = pipe
    os.write(writer, HEADER.pack(MAX_FRAME + 1))
    with pytest.raises(FrameError, match="past the limit"):
        read_frame(reader)


def test_deadline(pipe: tuple[int, int]) -> None:
    """A peer that says nothing: the read gives up at its deadline, and a deadline of now
    still looks once."""
    reader, writer = pipe
    started = time.monotonic()
    with pytest.raises(FrameError, match="did not answer in time"):
        read_frame(reader, started + 0.2)
    assert 0.2 <= time.monotonic() - started < 2
    write_frame(writer, b"there")
    assert read_frame(reader, time.monotonic()) == b"there"


def test_write_deadline_on_a_full_pipe(pipe: tuple[int, int]) -> None:
    """A peer that reads nothing: a non-blocking write gives up at its deadline."""
    _reader, writer = pipe
    os.set_blocking(writer, False)
    with pytest.raises(FrameError, match="did not answer in time"):
        write_frame(writer, b"x" * 1_000_000, time.monotonic() + 0.2)


class TestFrameReader:
    def test_frames_cross_whole(self, pipe: tuple[int, int]) -> None:
        """As read_frame: frames larger than the pipe's buffer arrive whole and in order."""
        reader, writer = pipe
        big = os.urandom(300_000)
        frames = FrameReader(reader)
        thread = threading.Thread(
            target=lambda: [write_frame(writer, p) for p in (b"a", big, b"", b"z")]
        )
        thread.start()
        assert frames.read() == b"a"
        assert frames.read(time.monotonic() + 10) == big
        assert frames.read() == b""
        assert frames.read() == b"z"
        thread.join()
        os.close(writer)
        assert frames.read() is None

    def test_frames_there_already_are_read_at_once(self, pipe: tuple[int, int]) -> None:
        """Two frames waiting in the pipe: the first read takes both (the pipe is empty after
        it), and the second frame needs no read of its own."""
        reader, writer = pipe
        os.write(writer, frame(b"first") + frame(b"second"))
        frames = FrameReader(reader)
        assert frames.read() == b"first"
        assert select.select([reader], [], [], 0)[0] == []
        assert frames.read() == b"second"

    def test_end_mid_frame_is_an_error(self, pipe: tuple[int, int]) -> None:
        reader, writer = pipe
        os.write(writer, HEADER.pack(10) + b"abc")
        os.close(writer)
        with pytest.raises(FrameError, match="ended in the middle"):
            FrameReader(reader).read()

    def test_a_frame_past_the_limit_is_refused_unread(self, pipe: tuple[int, int]) -> None:
        reader, writer = pipe
        os.write(writer, HEADER.pack(MAX_FRAME + 1) + b"x")
        with pytest.raises(FrameError, match="past the limit"):
            FrameReader(reader).read()

    def test_deadline_on_a_non_blocking_pipe(self, pipe: tuple[int, int]) -> None:
        """A peer that says nothing: the read gives up at its deadline; what comes later is
        read whole."""
        reader, writer = pipe
        os.set_blocking(reader, False)
        frames = FrameReader(reader)
        started = time.monotonic()
        with pytest.raises(FrameError, match="did not answer in time"):
            frames.read(started + 0.2)
        assert 0.2 <= time.monotonic() - started < 2
        there = frame(b"there")
        os.write(writer, there[:3])
        with pytest.raises(FrameError, match="did not answer in time"):
            frames.read(time.monotonic() + 0.1)  # most of a header: kept
        os.write(writer, there[3:] + frame(b"x")[:2])
        assert frames.read(time.monotonic() + 1) == b"there"


class TestToldNonBlocking:
    """A descriptor the caller says is non-blocking is not asked (a system call fewer)."""

    def test_an_answer_waited_for_first(self, pipe: tuple[int, int]) -> None:
        """``soon=False``: waited for, then read whole, whether it comes later or is there."""
        reader, writer = pipe
        os.set_blocking(reader, False)
        frames = FrameReader(reader, nonblocking=True)
        later = threading.Timer(0.1, lambda: os.write(writer, frame(b"later")))
        later.start()
        assert frames.read(time.monotonic() + 10, soon=False) == b"later"
        later.join()
        os.write(writer, frame(b"there"))
        assert frames.read(time.monotonic() + 10, soon=False) == b"there"
        with pytest.raises(FrameError, match="did not answer in time"):
            frames.read(time.monotonic() + 0.1, soon=False)

    def test_a_frame_larger_than_the_pipe_crosses_whole(self, pipe: tuple[int, int]) -> None:
        """Written and read a pipe's buffer at a time on both sides (keeping the interpreter
        lock), a frame of megabytes arrives whole, and the next one after it."""
        reader, writer = pipe
        os.set_blocking(reader, False)
        os.set_blocking(writer, False)
        payload = bytes(range(256)) * (3 * 4096)  # 3 MiB
        sending = threading.Thread(
            target=lambda: [
                write_frame(writer, data, time.monotonic() + 30, nonblocking=True)
                for data in (payload, b"next")
            ]
        )
        sending.start()
        frames = FrameReader(reader, nonblocking=True)
        assert frames.read(time.monotonic() + 30, soon=False) == payload
        assert frames.read(time.monotonic() + 30) == b"next"
        sending.join()

    def test_write_keeps_its_deadline(self, pipe: tuple[int, int]) -> None:
        """Written at once while the pipe takes it; on a full pipe, refused at the deadline."""
        reader, writer = pipe
        os.set_blocking(writer, False)
        write_frame(writer, b"small", time.monotonic() + 1, nonblocking=True)
        assert read_frame(reader) == b"small"
        started = time.monotonic()
        with pytest.raises(FrameError, match="did not answer in time"):
            write_frame(writer, b"x" * 1_000_000, started + 0.2, nonblocking=True)
        assert time.monotonic() - started < 2
