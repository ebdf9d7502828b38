"""The central directory of a zip archive, counted before zipfile reads it.

zipfile makes an object of every entry of the central directory before anything can check their
number: a file of nothing but entries (46 bytes and a name each) costs it seconds and hundreds of
megabytes per million. Walking the entries' headers, and stopping past the limit, costs what the
limit allows and no more.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Final

__all__ = ["END_RECORD", "END_RECORD_SIZE", "more_entries_than"]

#: The end record of a zip archive: its signature and its size without the comment.
END_RECORD: Final = b"PK\x05\x06"
END_RECORD_SIZE: Final = 22
_DIRECTORY_HEADER: Final = b"PK\x01\x02"
_DIRECTORY_HEADER_SIZE: Final = 46
_MAX_COMMENT: Final = 0xFFFF
#: A field of the end record that says "in the zip64 end record".
_ZIP64_MARK: Final = 0xFFFFFFFF
_ZIP64_LOCATOR: Final = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE: Final = 20
_ZIP64_RECORD: Final = b"PK\x06\x06"
_ZIP64_RECORD_SIZE: Final = 56


def more_entries_than(handle: BinaryIO, limit: int) -> bool:
    """Whether the central directory of the zip archive in ``handle`` holds more than
    ``limit`` entries, counted by walking their headers up to ``limit + 1``.

    Only counts: a directory this walk cannot follow (no end record, an entry without its
    signature, a zip64 record it cannot find) is ``False`` here, left to zipfile, which
    refuses it.
    """
    span = _directory_span(handle)
    if span is None:
        return False
    position, end = span
    count = 0
    while position < end:
        handle.seek(position)
        header = handle.read(_DIRECTORY_HEADER_SIZE)
        if len(header) < _DIRECTORY_HEADER_SIZE or header[:4] != _DIRECTORY_HEADER:
            return False
        count += 1
        if count > limit:
            return True
        name, extra, comment = struct.unpack("<HHH", header[28:34])
        position += _DIRECTORY_HEADER_SIZE + name + extra + comment
    return False


def _directory_span(handle: BinaryIO) -> tuple[int, int] | None:
    """Where the central directory starts and ends, as the end record (or the zip64 end
    record it points at) gives its size; ``None`` when there is no such record."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    start = max(0, size - END_RECORD_SIZE - _MAX_COMMENT)
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < END_RECORD_SIZE:
        return None
    end = start + at
    (dir_size,) = struct.unpack("<I", tail[at + 12 : at + 16])
    if dir_size == _ZIP64_MARK:
        found = _zip64_directory(handle, end)
        if found is None:
            return None
        end, dir_size = found
    return (end - dir_size, end) if dir_size <= end else None


def _zip64_directory(handle: BinaryIO, end_record: int) -> tuple[int, int] | None:
    """The zip64 end record's position and the directory size it gives, found through the
    locator right before the end record."""
    if end_record < _ZIP64_LOCATOR_SIZE:
        return None
    handle.seek(end_record - _ZIP64_LOCATOR_SIZE)
    locator = handle.read(_ZIP64_LOCATOR_SIZE)
    if locator[:4] != _ZIP64_LOCATOR:
        return None
    (record,) = struct.unpack("<Q", locator[8:16])
    handle.seek(record)
    head = handle.read(_ZIP64_RECORD_SIZE)
    if len(head) < _ZIP64_RECORD_SIZE or head[:4] != _ZIP64_RECORD:
        return None
    (dir_size,) = struct.unpack("<Q", head[40:48])
    return record, dir_size
