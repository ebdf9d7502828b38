"""The messages between host and worker, and what can cross."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from pluginhost.proc.messages import HEADER, Call, Result, decoder, encoder, frame, uncarried

LOOPED: list[object] = []
LOOPED.append(LOOPED)  # it raised RecursionError out of uncarried


class TestCodec:
    def test_a_call_round_trips(self) -> None:
        """A call encodes and decodes to an equal message."""
        call = Call(7, "hook", "greet", None, {"name": "ann", "n": [1, 2.0]})
        assert decoder().decode(encoder().encode(call)) == call

    def test_a_frame_is_the_length_then_the_payload(self) -> None:
        """A frame starts with the payload's length, big-endian."""
        payload = encoder().encode(Result(1, None))
        assert frame(payload) == HEADER.pack(len(payload)) + payload

    def test_pickle_is_not_a_message(self) -> None:
        """A pickled value is refused by the decoder: nothing is ever unpickled."""
        with pytest.raises(msgspec.DecodeError):
            decoder().decode(pickle.dumps(Result(1, 2)))


class TestUncarried:
    @pytest.mark.parametrize(
        "value", [None, True, 1, -(2**63), 2**64 - 1, 1.5, "s", b"b", [1, (2, 3)], {"a": {"b": []}}]
    )
    def test_plain_values_cross(self, value: object) -> None:
        """None, booleans, 64-bit ints, floats, strings, bytes, lists, tuples and dicts cross."""
        assert uncarried(value, "x") is None

    @pytest.mark.parametrize(
        ("value", "found"),
        [
            (object(), ("x", "object")),
            ([1, {2}], ("x[1]", "set")),
            ({"a": {1: 2}}, ("x['a'] key 1", "int")),
            (2**64, ("x", "int (past 64 bits)")),
            (pytest, ("x", "module")),
            (LOOPED, ("x", "list nested too deeply or holding itself")),
        ],
    )
    def test_the_first_part_that_cannot_cross_is_named(
        self, value: object, found: tuple[str, str]
    ) -> None:
        """The place and the type of the first part that cannot cross are named."""
        assert uncarried(value, "x") == found
