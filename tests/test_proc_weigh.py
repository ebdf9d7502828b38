"""Weighing MessagePack messages before decoding them: the weight against what decoding
really allocates, the refusal of inflating messages, and the head of a reply."""

from __future__ import annotations

import tracemalloc

import msgspec
import pytest

from pluginhost.proc.weigh import MAX_DECODED, WEIGH_ABOVE, TooHeavyError, head, weigh

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
    assert caught.value.weight > caught.value.limit == MAX_DECODED
    assert "past the limit of 268,435,456" in str(caught.value)


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
