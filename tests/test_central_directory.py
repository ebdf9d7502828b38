"""The central directory walked before zipfile reads it (pluginhost.discover.central_directory):
entries' extra fields bounded, and the directory found where zipfile finds it."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginhost import WheelError
from pluginhost.discover.central_directory import MAX_EXTRA
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.testing import WheelFactory

# Records of a private id and no data: legal, and the most records a field of its length holds.
EMPTY_RECORD = struct.pack("<HH", 0x9900, 0)
_END = struct.Struct("<4sHHHHIIH")
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")

Entry = tuple[bytearray, bytes, bytes]  # an entry's 46 fixed bytes, its name and its extra field


def split(data: bytes) -> tuple[bytes, list[Entry]]:
    """The bytes before the central directory of a plain zip, and its entries."""
    end = data.rindex(b"PK\x05\x06")
    _, _, _, _, count, _, offset, _ = _END.unpack(data[end : end + _END.size])
    entries, position = [], offset
    for _ in range(count):
        fixed = bytearray(data[position : position + 46])
        name_size, extra_size, comment_size = struct.unpack("<HHH", fixed[28:34])
        name = data[position + 46 : position + 46 + name_size]
        extra = data[position + 46 + name_size : position + 46 + name_size + extra_size]
        entries.append((fixed, name, extra))
        position += 46 + name_size + extra_size + comment_size
    return data[:offset], entries


def directory(entries: list[Entry]) -> bytes:
    """The entries again, their extra fields' (and no comments') lengths set."""
    parts = []
    for fixed, name, extra in entries:
        struct.pack_into("<HHH", fixed, 28, len(name), len(extra), 0)
        parts.append(bytes(fixed) + name + extra)
    return b"".join(parts)


def plain_end(count: int, size: int, offset: int) -> bytes:
    return _END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0)


def rewritten(
    wheel: Path,
    extra: Callable[[Entry], bytes],
    end: Callable[[int, int, int], bytes] = plain_end,
) -> Path:
    """``wheel`` rewritten in place, each directory entry's extra field as ``extra`` makes it
    and the directory closed by ``end(count, size, offset)``."""
    local, entries = split(wheel.read_bytes())
    entries = [(fixed, name, extra((fixed, name, old))) for fixed, name, old in entries]
    central = directory(entries)
    wheel.write_bytes(local + central + end(len(entries), len(central), len(local)))
    return wheel


def empty_records(size: int) -> Callable[[Entry], bytes]:
    return lambda entry: EMPTY_RECORD * (size // len(EMPTY_RECORD))


def ordinary(entry: Entry) -> bytes:
    """What Info-ZIP and zip64 writers put there: the sizes moved to a zip64 record (the
    header's marked 0xFFFFFFFF), a modification time (UT) and an owner (ux)."""
    fixed, _, _ = entry
    compressed, size = struct.unpack("<II", fixed[20:28])
    struct.pack_into("<II", fixed, 20, 0xFFFFFFFF, 0xFFFFFFFF)
    zip64 = struct.pack("<HHQQ", 0x0001, 16, size, compressed)
    timestamp = struct.pack("<HHBI", 0x5455, 5, 1, 1_700_000_000)
    owner = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000)
    return zip64 + timestamp + owner


class TestExtraFields:
    def test_long_extra_fields_refused_fast(self, factory: WheelFactory) -> None:
        """A wheel whose entries each have 64 KiB of empty extra records is refused in well
        under the time zipfile takes to decode them (16 ms an entry), naming the first."""
        files = {f"hello/m{i}.py": "" for i in range(200)}
        wheel = rewritten(factory.build("hello", files=files), empty_records(65_532))
        start = time.monotonic()
        with pytest.raises(WheelError) as caught:
            inspect_wheel(wheel)
        assert time.monotonic() - start < 2
        assert caught.value.path == str(wheel)
        assert caught.value.reason == (
            "member 'hello/__init__.py' (entry 1 of its central directory) has an extra field "
            f"of 65532 bytes, over the limit of {MAX_EXTRA} (zipfile decodes it in quadratic time)"
        )

    def test_one_long_extra_field_refused(self, factory: WheelFactory) -> None:
        """One entry over the limit is enough, and is the one named."""
        wheel = factory.build("hello", files={"hello/a.py": ""})

        def extra(entry: Entry) -> bytes:
            return EMPTY_RECORD * 65 if entry[1] == b"hello/a.py" else b""

        with pytest.raises(WheelError, match=r"member 'hello/a.py' \(entry \d+ of its"):
            inspect_wheel(rewritten(wheel, extra))

    def test_extra_fields_at_the_limit_accepted(self, factory: WheelFactory) -> None:
        """Extra fields of exactly the limit pass (a regression guard: passes before too)."""
        wheel = rewritten(factory.build("hello"), empty_records(MAX_EXTRA))
        assert inspect_wheel(wheel).distribution == "hello"

    def test_ordinary_extra_fields_accepted(self, factory: WheelFactory) -> None:
        """zip64 sizes, timestamps and owners in the extra fields pass, the sizes read from
        the zip64 record (a regression guard: passes before too)."""
        plain = factory.build("hello", code="X = 1\n")
        expected = inspect_wheel(plain).members
        assert inspect_wheel(rewritten(plain, ordinary)).members == expected


class TestSpan:
    def test_zip64_record_without_the_mark(self, factory: WheelFactory) -> None:
        """A zip64 end record that the end record does not mark, which zipfile reads anyway:
        the walk reads it too (it read the end record's size, 0 here, and checked nothing)."""

        def end(count: int, size: int, offset: int) -> bytes:
            record = _ZIP64_END.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
            locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, offset + size, 1)
            return record + locator + plain_end(count, 0, offset)

        wheel = rewritten(factory.build("hello"), empty_records(4096), end)
        with pytest.raises(WheelError, match="has an extra field of 4096 bytes"):
            inspect_wheel(wheel)

    def test_end_record_spelling_its_signature(self, factory: WheelFactory) -> None:
        """An end record whose counts spell its own signature: zipfile reads it as the file's
        last 22 bytes, and so does the walk (it took the later signature, found no record)."""

        def end(count: int, size: int, offset: int) -> bytes:
            return _END.pack(b"PK\x05\x06", 0, 0, 0x4B50, 0x0605, size, offset, 0)

        wheel = rewritten(factory.build("hello"), empty_records(4096), end)
        with pytest.raises(WheelError, match="has an extra field of 4096 bytes"):
            inspect_wheel(wheel)
