"""Weighing MessagePack messages before decoding them: the weight against what decoding
really allocates, the refusal of inflating messages, and the head of a reply."""

from __future__ import annotations

import tracemalloc

import msgspec
import pytest

from pluginhost.proc.weigh import (
    MAX_DECODED,
    MOST_STEPS,
    WEIGH_ABOVE,
    TooHeavyError,
    head,
    weigh,
)

VALUES = {
    "empty lists": [[]] * 20_000,
    "empty dicts": [{}] * 20_000,
    "short lists": [[1, 2, 3]] * 20_000,
    "floats": [1.5] * 20_000,
    "small ints": list(range(256)) * 80,
    "large ints": [10**12 + i for i in range(20_000)],
    "short strings": [f"s{i}" for i in range(20_000)],
    "long strings": ["x" * 300 + str(i) for i in range(2_000)],
    "bytes": [b"y" * 40] * 20_000,
    "dicts": [{"a": i, "b": "t", "c": [None, True]} for i in range(10_000)],
    "mixed": [[None, False, 2.5, "x", b"y", {"k": [1, -7, 70_000]}]] * 5_000,
    "one blob": b"z" * 500_000,
    "non-ascii strings": ["é" * 50 + str(i) for i in range(2_000)],
    "an emoji among ascii": ["x" * 300 + "\U0001f600" + str(i) for i in range(2_000)],
    "cjk strings": ["中" * 20 + str(i) for i in range(5_000)],
    "one long emoji string": "\U0001f600" + "y" * 400_000,
    "wide containers": [list(range(100))] * 500 + [{str(i): i for i in range(100)}] * 200,
}


def _allocated(payload: bytes) -> int:
    """What decoding ``payload`` allocates, as tracemalloc counts it."""
    decoder = msgspec.msgpack.Decoder()
    tracemalloc.start()
    try:
        value = decoder.decode(payload)
        allocated = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del value
    return allocated


@pytest.mark.parametrize("name", VALUES)
def test_weight_bounds_what_decoding_allocates(name: str) -> None:
    """The weight is about what decoding allocates (a tenth under it at most: a list's
    spare room) and not far above it, so that a limit on it refuses what it should, and no
    more than twice as early."""
    payload = msgspec.msgpack.encode(VALUES[name])
    allocated = _allocated(payload)
    assert allocated * 0.9 <= weigh(payload) <= allocated * 2 + 1024


@pytest.mark.parametrize(
    "payload",
    [
        b"\x90" * 5_000_000,  # empty lists: 56 bytes and a slot each
        b"\xdd\x00\x4c\x4b\x40" + b"\x91\x01" * 5_000_000,  # [[1]] * 5M
        b"\xdd\x00\x4c\x4b\x40" + b"\xa1a\x80" * 5_000_000,  # strings and empty maps
        b"\xdd\xff\xff\xff\xff",  # a list that claims four billion items
    ],
    ids=["empty lists", "short lists", "strings and maps", "claimed length"],
)
def test_an_inflating_message_is_too_heavy(payload: bytes) -> None:
    with pytest.raises(TooHeavyError) as caught:
        weigh(payload)
    assert caught.value.limit == MAX_DECODED
    heavy = caught.value.weight > MAX_DECODED and "past the limit of 268,435,456" in str(
        caught.value
    )
    assert heavy or "too many to weigh" in str(caught.value)  # strings and maps alternate


def test_values_of_alternating_kinds_are_weighed_a_bounded_number_of_steps() -> None:
    """Numbers of every width in turn make no run: each is a step in Python, 30 to 100 times
    slower than decoding (40 MB took 33 s). Past MOST_STEPS values of that kind the message
    is refused as too many to weigh."""
    payload = b"\xdd" + (3 * MOST_STEPS).to_bytes(4, "big") + b"\xcc\x05\x00" * MOST_STEPS
    with pytest.raises(TooHeavyError, match="more than 1,000,000 values of kinds that alternate"):
        weigh(payload)
    assert weigh(payload[: 3 * 1000]) > 0  # fewer: weighed


def test_the_smallest_message_weighed_cannot_pass_the_limit_unweighed() -> None:
    """A message of :data:`WEIGH_ABOVE` bytes made of what weighs most per byte (empty maps,
    in a map) stays under the limit: smaller ones need not be weighed."""
    worst = b"\xdf" + (WEIGH_ABOVE // 2).to_bytes(4, "big") + b"\x80" * (WEIGH_ABOVE - 5)
    assert weigh(worst, limit=10 * MAX_DECODED) <= MAX_DECODED


@pytest.mark.parametrize(
    "payload", [b"", b"\xc1", b"\xcb\x00", b"\xdc\x00", b"\xd9\x05ab", b"\xc7"]
)
def test_broken_messages_are_weighed_as_far_as_they_read(payload: bytes) -> None:
    """Cut short, or a byte no value starts with: weighed without an error (decoding them
    fails, and says so)."""
    assert weigh(payload) >= 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["result", 7, [1, 2]], ("result", 7)),
        (["result", 70_000, None], ("result", 70_000)),
        (["failure", 2**40, "remote"], ("failure", 2**40)),
        (["hello"], None),
        ([7, 7], None),
        ({"result": 7}, None),
        (["result", -1, None], None),
    ],
)
def test_head_reads_the_tag_and_id_of_a_reply(
    value: object, expected: tuple[str, int] | None
) -> None:
    assert head(msgspec.msgpack.encode(value)) == expected


@pytest.mark.parametrize("payload", [b"", b"\x93", b"\x93\xa6resu", b"\x93\xa6result"])
def test_head_of_a_cut_message_is_none(payload: bytes) -> None:
    assert head(payload) is None
