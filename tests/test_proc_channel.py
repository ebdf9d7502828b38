"""The host's end of a worker's socket (proc/channel.py), against a peer that answers with what
a hostile plugin's worker could send: a message that is not one, or one nested too deeply."""

from __future__ import annotations

import datetime
import socket
import threading
import time
from collections.abc import Iterator

import msgspec
import pytest

from pluginhost.proc.channel import SPIN, Channel, Frames, frame_bound
from pluginhost.proc.messages import Call, Failure, Result, frame
from pluginhost.state.frames import HEADER, MAX_FRAME

# A Result whose value is a list nested 100,000 deep: msgspec raises RecursionError for it.
DEEP = b"\x93" + msgspec.msgpack.encode("result") + b"\x01" + b"\x91" * 100_000 + b"\xc0"


class Peer:
    """The worker's end: answers each request with the bytes it is given."""

    def __init__(self, sock: socket.socket, answers: list[bytes]) -> None:
        self.sock, self.answers = sock, answers
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            (size,) = HEADER.unpack(self._exactly(HEADER.size))
            self._exactly(size)
            self.sock.sendall(frame(answer))

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            data += self.sock.recv(size - len(data))
        return data


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def call(ident: int) -> Call:
    return Call(ident, "hook", "greet", None, {"name": "x"})


class TestAnswers:
    def test_a_result_reaches_its_caller(self, pair: tuple[socket.socket, socket.socket]) -> None:
        ours, theirs = pair
        Peer(theirs, [msgspec.msgpack.encode(Result(1, ["hello"]))])
        channel = Channel(ours, lambda message: None, lambda: None)
        _ident, slot = channel.request(call)
        assert channel.wait(slot, timeout=10)
        assert slot.reply == Result(1, ["hello"])

    @pytest.mark.parametrize("answer", [DEEP, b"\xc1 not msgpack"], ids=["deep", "garbage"])
    def test_an_answer_that_cannot_be_decoded_ends_the_channel(
        self, pair: tuple[socket.socket, socket.socket], answer: bytes
    ) -> None:
        """Taken as the worker's end (its crash handling restarts it), never raised to the
        caller: the deep one raised RecursionError out of the hook call."""
        ours, theirs = pair
        Peer(theirs, [answer])
        end = EOFError("the worker's end")
        channels: list[Channel] = []
        channel = Channel(ours, lambda message: None, lambda: channels[0].close(end))
        channels.append(channel)
        _ident, slot = channel.request(call)
        assert channel.wait(slot, timeout=10)
        assert slot.error is end


def raw_result(ident: int, value: object) -> bytes:
    """A reply as a worker writing raw frames makes it: values its encoder never sends."""
    return msgspec.msgpack.encode(["result", ident, value])


# An array as a map key: msgspec's encoder writes none, and decodes one as a tuple.
ARRAY_KEY = b"\x93\xa6result\x01\x91\x81\x92\x01\x02\xa1x"
WHEN = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)


class TestForeignValues:
    @pytest.mark.parametrize(
        ("answer", "place", "kind"),
        [
            (raw_result(1, msgspec.msgpack.Ext(7, b"evil")), "result", "msgspec.msgpack.Ext"),
            (raw_result(1, ["ok", WHEN]), "result[1]", "datetime.datetime"),
            (raw_result(1, {"a": [{1: "int key"}]}), "result['a'][0] key 1", "int"),
            (raw_result(1, [{"a": None, b"k": 1}]), "result[0] key b'k'", "bytes"),
            (ARRAY_KEY, "result[0] key (1, 2)", "tuple"),
        ],
        ids=["ext", "timestamp", "int-key", "bytes-key", "array-key"],
    )
    def test_a_value_the_encoder_never_sends_fails_the_call(
        self, pair: tuple[socket.socket, socket.socket], answer: bytes, place: str, kind: str
    ) -> None:
        """An extension value, a timestamp, a map keyed by other than strings: the call fails
        as a result that cannot cross, naming the place and the type (the caller got an
        ``Ext``, a ``datetime``, an int or tuple key), and the channel serves on."""
        ours, theirs = pair
        plain = {"k\u00e9": [1, 2.5, "s\u00e9", b"\x80\x8f", None, True, {"n": {}}]}
        Peer(theirs, [answer, raw_result(2, plain)])
        channel = Channel(ours, lambda message: None, lambda: None)
        _ident, slot = channel.request(call)
        assert channel.wait(slot, timeout=10)
        failure = slot.reply
        assert isinstance(failure, Failure)
        assert (failure.kind, failure.argument, failure.type_name) == ("codec", place, kind)
        _ident, slot = channel.request(call)
        assert channel.wait(slot, timeout=10)
        assert slot.reply == Result(2, plain)


class TestSpin:
    """A reader asks the socket without sleeping for :data:`SPIN` before it sleeps in poll."""

    def test_what_is_there_is_taken_at_once(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        ours, theirs = pair
        theirs.sendall(b"ready")
        assert Frames(ours)._spun() == b"ready"

    def test_nothing_within_the_spin_is_none(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        ours, _theirs = pair
        began = time.perf_counter()
        assert Frames(ours)._spun() is None
        assert time.perf_counter() - began >= SPIN

    def test_the_end_is_empty(self, pair: tuple[socket.socket, socket.socket]) -> None:
        ours, theirs = pair
        theirs.shutdown(socket.SHUT_WR)
        assert Frames(ours)._spun() == b""

    def test_a_frame_after_the_spin_is_read_by_poll(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """A reply slower than the spin is still read, within the deadline, and one that does
        not come times out as before."""
        ours, theirs = pair
        frames = Frames(ours)
        timer = threading.Timer(0.05, lambda: theirs.sendall(frame(b"late")))
        timer.start()
        try:
            assert frames.next(time.monotonic() + 10) == b"late"
        finally:
            timer.join()
        with pytest.raises(TimeoutError):
            frames.next(time.monotonic() + 0.01)


class TestBound:
    def test_a_frame_past_the_bound_ends_at_its_header(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """A frame larger than the worker's bound is refused when its header is read, before
        anything of it is buffered: a worker with a small memory limit made the host buffer
        a 240 MiB frame, and copy it twice."""
        ours, theirs = pair
        frames = Frames(ours, frame_bound(1))
        theirs.sendall(HEADER.pack(2 * 2**20) + b"x" * 1024)
        assert frames.next(time.monotonic() + 10) is None
        assert len(frames.buffer) < 2**16  # the header and what came with it, no more

    def test_a_frame_within_the_bound_is_taken(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        ours, theirs = pair
        threading.Thread(target=theirs.sendall, args=(frame(b"y" * 2**20),), daemon=True).start()
        assert Frames(ours, frame_bound(2)).next(time.monotonic() + 10) == b"y" * 2**20

    def test_no_memory_limit_keeps_the_largest_frame(self) -> None:
        assert frame_bound(None) == MAX_FRAME
        assert frame_bound(10**6) == MAX_FRAME


class TestTimeout:
    def test_replies_to_no_request_do_not_put_the_deadline_off(
        self, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """A hung call times out though a thread of the worker sends replies to ids nobody
        waits for: each of them used to count as the worker answering, and the call waited for
        ever."""
        ours, theirs = pair
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.is_set():
                theirs.sendall(frame(msgspec.msgpack.encode(Result(10**9, None))))
                time.sleep(0.05)

        beats = threading.Thread(target=heartbeat, daemon=True)
        beats.start()
        try:
            channel = Channel(ours, lambda message: None, lambda: None)
            _ident, slot = channel.request(call)
            answered: list[bool] = []
            waiter = threading.Thread(
                target=lambda: answered.append(channel.wait(slot, timeout=0.5)), daemon=True
            )
            waiter.start()
            waiter.join(10)
            assert answered == [False]  # timed out, where it waited for ever
            assert not slot.done
        finally:
            stop.set()
            beats.join()
