"""What a MessagePack message takes in memory once decoded, told without decoding it.

MessagePack spends one byte on an empty list, where Python spends 56 on the list and 8 on its
place in the list that holds it: a worker that answered ``[[]] * 5_000_000`` sent 5 MB and
made the host's process grow by 354 MB (measured), and a frame may be 256 MiB. So the channel
weighs a large message before decoding it (:func:`weigh`) and refuses one that would take more
than :data:`MAX_DECODED` bytes.

The weight counts what decoding allocates for each value: a list's header and its slots, a
dict's header and its entries, a string's or a bytes' object and its data, an int's or a
float's object. ``None``, booleans and small ints are shared objects and weigh nothing
beyond their slot. The figures are CPython's on 64-bit machines, rounded up.

The walk reads each value's first byte and jumps over its data; runs of one-byte values (empty
containers, ``None``, small ints: what a message that inflates most is made of) and of numbers
of one width are measured by regular expressions and counts, in C. Values of kinds that
alternate are a step each, in Python, ten to a hundred times slower than decoding them: the
walk takes at most :data:`MOST_STEPS`, and a message that needs more is refused too.
"""

from __future__ import annotations

import re
import struct
from typing import Final

__all__ = ["MAX_DECODED", "MOST_STEPS", "WEIGH_ABOVE", "TooHeavyError", "head", "weigh"]

#: The most a decoded message may take in the host: as much as the largest frame.
MAX_DECODED: Final = 256 * 1024 * 1024
#: The most a byte of a message can weigh: an empty map in one byte weighs 64, and each value
#: inside a map adds half an entry (24) to its own weight; a string or a number weighs less
#: for its bytes.
_MOST_PER_BYTE: Final = 88
#: Messages up to this size cannot pass :data:`MAX_DECODED`, and are not weighed.
WEIGH_ABOVE: Final = MAX_DECODED // _MOST_PER_BYTE

# What decoding allocates, in bytes (CPython, 64-bit), beyond the slot that holds the value.
_LIST: Final = 56
_DICT: Final = 64
_SLOT: Final = 8
_ENTRY: Final = 48  # a dict's entry and its index, with the table's spare room
_STR: Final = 49
_BYTES: Final = 33
_NUMBER: Final = 32
_EXT: Final = 64

#: Runs of values written in one byte: fixints, fixmap and fixarray headers, the empty
#: string, nil, false and true.
_ONE_BYTE: Final = re.compile(rb"[\x00-\xa0\xc0\xc2\xc3\xe0-\xff]+")
#: The first byte of a one-byte value, as the walk meets it.
_ONE_BYTE_FIRST: Final = frozenset((*range(0x00, 0xA1), 0xC0, 0xC2, 0xC3, *range(0xE0, 0x100)))
# In such a run: a container's header -> its size class, so that one count per class sizes
# every container of the run (0x80-0x8f: maps of 0-15 entries, 0x90-0x9f: lists of 0-15).
_CLASSES: Final = bytes(1 + (b - 0x80) if 0x80 <= b <= 0x9F else 0 for b in range(256))
#: Each one-byte value's weight, by its byte.
_ONE_BYTE_WEIGHTS: Final = tuple(
    _DICT + _ENTRY * (b - 0x80)
    if 0x80 <= b <= 0x8F
    else _LIST + _SLOT * (b - 0x90)
    if 0x90 <= b <= 0x9F
    else 0
    for b in range(256)
)
#: The most steps of the walk: a step weighs one value, or a run of values of one kind.
MOST_STEPS: Final = 1_000_000
_NOT_ASCII: Final = re.compile(rb"[\x80-\xff]")
#: UTF-8's continuation bytes, and the first bytes of characters past U+00FF and U+FFFF.
_CONTINUATION: Final = bytes(range(0x80, 0xC0))
_WIDE: Final = re.compile(rb"[\xc4-\xef]")
_FOUR_BYTES: Final = re.compile(rb"[\xf0-\xf7]")
#: What a string that is not ASCII takes more than an ASCII one (its header, and a copy).
_WIDE_STR: Final = 24
#: Shorter runs are weighed byte by byte, longer ones by a count per container size.
_SHORT: Final = 64
#: The most bytes measured in one step of the walk.
_CHUNK: Final = 1024 * 1024
#: Numbers of a fixed width: header -> (bytes after it, weight).
_FIXED: Final = {
    0xCA: (4, _NUMBER),
    0xCB: (8, _NUMBER),
    0xCC: (1, 0),  # uint8: shared small ints, or an int object
    0xCD: (2, _NUMBER),
    0xCE: (4, _NUMBER),
    0xCF: (8, _NUMBER),
    0xD0: (1, _NUMBER),
    0xD1: (2, _NUMBER),
    0xD2: (4, _NUMBER),
    0xD3: (8, _NUMBER),
}
_RUNS: Final = {
    first: re.compile(b"(?:" + re.escape(bytes([first])) + rb"[\s\S]{%d})+" % size)
    for first, (size, _) in _FIXED.items()
}
# Headers followed by a length, then that many bytes: header -> (length's struct, weight).
_SIZED: Final = {
    0xC4: (struct.Struct(">B"), _BYTES),
    0xC5: (struct.Struct(">H"), _BYTES),
    0xC6: (struct.Struct(">I"), _BYTES),
    0xD9: (struct.Struct(">B"), _STR),
    0xDA: (struct.Struct(">H"), _STR),
    0xDB: (struct.Struct(">I"), _STR),
}
# Extension values: header -> (length's struct, or the fixed length).
_EXTS: Final[dict[int, struct.Struct | int]] = {
    0xC7: struct.Struct(">B"),
    0xC8: struct.Struct(">H"),
    0xC9: struct.Struct(">I"),
    0xD4: 1,
    0xD5: 2,
    0xD6: 4,
    0xD7: 8,
    0xD8: 16,
}
# Containers with a length: header -> (length's struct, weight, weight per item).
_CONTAINERS: Final = {
    0xDC: (struct.Struct(">H"), _LIST, _SLOT),
    0xDD: (struct.Struct(">I"), _LIST, _SLOT),
    0xDE: (struct.Struct(">H"), _DICT, _ENTRY),
    0xDF: (struct.Struct(">I"), _DICT, _ENTRY),
}


class TooHeavyError(ValueError):
    """A message would take more than the limit once decoded, or is made of more values than
    are weighed one by one (:data:`MOST_STEPS`)."""

    def __init__(self, weight: int, limit: int, reason: str = "") -> None:
        self.weight = weight
        self.limit = limit
        super().__init__(
            reason
            or f"it would take at least {weight:,} bytes once decoded, past the limit of {limit:,}"
        )


def weigh(payload: bytes, limit: int = MAX_DECODED) -> int:
    """The bytes ``payload`` takes once decoded, as counted above.

    A payload that is not MessagePack is weighed as far as it reads; its decoding fails
    anyway.

    :raises TooHeavyError: the weight passes ``limit`` (the walk stops there).
    """
    end = len(payload)
    pos = 0
    weight = 0
    for _ in range(MOST_STEPS):
        if pos >= end:
            return weight
        first = payload[pos]
        # Runs are measured a chunk at a time, so that the limit stops a long one early.
        chunk_end = min(end, pos + _CHUNK)
        if first in _ONE_BYTE_FIRST:
            found = _ONE_BYTE.match(payload, pos, chunk_end)
            assert found is not None  # the first byte matches
            weight += _run_weight(payload[pos : found.end()])
            pos = found.end()
        elif 0xA1 <= first <= 0xBF:  # fixstr
            size = first & 0x1F
            weight += _STR + _text(payload, pos + 1, size)
            pos += 1 + size
        elif first in _FIXED:
            found = _RUNS[first].match(payload, pos, chunk_end)
            if found is None:  # cut short (or one number across the chunk's end: read alone)
                found = _RUNS[first].match(payload, pos, pos + 9)
            if found is None:
                return weight  # cut short: decoding says so
            width, each = _FIXED[first]
            weight += each * ((found.end() - pos) // (1 + width))
            pos = found.end()
        else:
            step = _other(payload, pos)
            if step is None:
                return weight  # cut short: decoding says so
            pos, more = step
            weight += more
        if weight > limit:
            raise TooHeavyError(weight, limit)
    if pos >= end:
        return weight
    # Values that no run groups (numbers of every width in turn) are weighed at Python's pace,
    # 30 to 100 times slower than decoding: 40 MB of them took 33 s, holding the lock.
    reason = f"it holds more than {MOST_STEPS:,} values of kinds that alternate, too many to weigh"
    raise TooHeavyError(weight, limit, reason)


def _text(payload: bytes, start: int, size: int) -> int:
    """What a string's ``size`` bytes of UTF-8 at ``start`` take decoded: a byte per ASCII
    character; else each character at the width of the widest (CPython stores a string with
    one emoji in it at four bytes a character: four times its UTF-8 when the rest is ASCII)."""
    if _NOT_ASCII.search(payload, start, start + size) is None:
        return size
    data = payload[start : start + size]
    characters = len(data.translate(None, _CONTINUATION))
    width = 4 if _FOUR_BYTES.search(data) else 2 if _WIDE.search(data) else 1
    return _WIDE_STR + characters * width


def _run_weight(run: bytes) -> int:
    """The weight of a run of one-byte values: the containers' headers and slots."""
    if len(run) < _SHORT:
        return sum(map(_ONE_BYTE_WEIGHTS.__getitem__, run))
    classes = run.translate(_CLASSES)
    weight = 0
    for items in range(16):
        maps = classes.count(1 + items)
        lists = classes.count(17 + items)
        weight += maps * (_DICT + _ENTRY * items) + lists * (_LIST + _SLOT * items)
    return weight


def _other(payload: bytes, pos: int) -> tuple[int, int] | None:
    """The next position and the weight of the value at ``pos`` that has a length; ``None``
    when it is cut short or no MessagePack value starts with its byte (0xc1)."""
    first = payload[pos]
    try:
        if first in _SIZED:
            length, each = _SIZED[first]
            (size,) = length.unpack_from(payload, pos + 1)
            start = pos + 1 + length.size
            data = _text(payload, start, size) if each == _STR else size
            return start + size, each + data
        if first in _CONTAINERS:
            length, each, per_item = _CONTAINERS[first]
            (size,) = length.unpack_from(payload, pos + 1)
            return pos + 1 + length.size, each + per_item * size
        if first in _EXTS:
            fixed = _EXTS[first]
            if isinstance(fixed, int):
                return pos + 2 + fixed, _EXT + fixed
            (size,) = fixed.unpack_from(payload, pos + 1)
            return pos + 2 + fixed.size + size, _EXT + size
    except struct.error:  # the length is cut short
        return None
    return None


def head(payload: bytes) -> tuple[str, int] | None:
    """The tag and id a message starts with (``("result", 7)``): a message is an array whose
    first item is its tag and, for a reply, its second the request's id. ``None`` when the
    payload does not start so."""
    if len(payload) < 2 or not 0x92 <= payload[0] <= 0x9F:
        return None
    first = payload[1]
    if not 0xA0 <= first <= 0xBF:
        return None
    end = 2 + (first & 0x1F)
    tag = payload[2:end]
    if len(tag) != first & 0x1F or end >= len(payload):
        return None
    ident = _integer(payload, end)
    try:
        return (tag.decode("ascii"), ident) if ident is not None else None
    except UnicodeDecodeError:
        return None


_UNSIGNED: Final = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q"}


def _integer(payload: bytes, pos: int) -> int | None:
    first = payload[pos]
    if first <= 0x7F:
        return first
    if first in _UNSIGNED:
        try:
            (value,) = struct.unpack_from(_UNSIGNED[first], payload, pos + 1)
        except struct.error:
            return None
        return int(value)
    return None
