"""The central directory of a zip archive, walked before zipfile reads it.

zipfile makes an object of every entry of the central directory before anything can check their
number: a file of nothing but entries (46 bytes and a name each) costs it seconds and hundreds of
megabytes per million. It also decodes every entry's extra field in time quadratic in the field's
length (it slices the rest of the field once per record): 65,532 bytes of empty records cost it
22 ms an entry. Walking the entries' headers once, and stopping at the first over a limit, costs
what the limits allow and no more.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Final

__all__ = ["END_RECORD", "END_RECORD_SIZE", "MAX_EXTRA", "directory_refusal"]

#: The end record of a zip archive: its signature and its size without the comment.
END_RECORD: Final = b"PK\x05\x06"
END_RECORD_SIZE: Final = 22
#: The longest extra field a central directory entry may have, in bytes. The standard ones are
#: tens of bytes (zip64 28, Info-ZIP's timestamps and owner 24, NTFS times 36); the published
#: wheels we read (numpy, cryptography, pillow, setuptools, pip, coverage, 60 plugins) have none.
#: Within it zipfile decodes an entry in about 15 microseconds: 0.15 s for 10,000 entries.
MAX_EXTRA: Final = 256
_DIRECTORY_HEADER: Final = b"PK\x01\x02"
_DIRECTORY_HEADER_SIZE: Final = 46
_UTF8_NAME: Final = 0x800
# zipfile looks this far back for an end record (the comment after it is at most 0xFFFF bytes).
_END_SEARCH: Final = 1 << 16
_ZIP64_LOCATOR: Final = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE: Final = 20
_ZIP64_RECORD: Final = b"PK\x06\x06"
_ZIP64_RECORD_SIZE: Final = 56


def directory_refusal(handle: BinaryIO, max_entries: int | None) -> str | None:
    """Why the central directory of the zip archive in ``handle`` is refused, its entries'
    headers walked once: more than ``max_entries`` entries (if bounded), or an entry whose
    extra field is over :data:`MAX_EXTRA` bytes; ``None`` when neither.

    A directory this walk cannot follow (no end record, an entry without its signature) is
    ``None`` here, left to zipfile, which refuses it.
    """
    span = _directory_span(handle)
    if span is None:
        return None
    position, end = span
    index = 0
    while position < end:
        handle.seek(position)
        header = handle.read(_DIRECTORY_HEADER_SIZE)
        if len(header) < _DIRECTORY_HEADER_SIZE or header[:4] != _DIRECTORY_HEADER:
            return None
        if max_entries is not None and index >= max_entries:
            return f"has more than the limit of {max_entries} members in its central directory"
        name, extra, comment = struct.unpack("<HHH", header[28:34])
        if extra > MAX_EXTRA:
            return _extra_refusal(handle, header, index)
        index += 1
        position += _DIRECTORY_HEADER_SIZE + name + extra + comment
    return None


def _extra_refusal(handle: BinaryIO, header: bytes, index: int) -> str:
    """The refusal of the entry whose ``header`` was just read, named as zipfile names it."""
    (flags,) = struct.unpack("<H", header[8:10])
    name_size, extra = struct.unpack("<HH", header[28:32])
    raw = handle.read(name_size)
    name = raw.decode("utf-8" if flags & _UTF8_NAME else "cp437", errors="replace")
    return (
        f"member {name!r} (entry {index + 1} of its central directory) has an extra field of "
        f"{extra} bytes, over the limit of {MAX_EXTRA} (zipfile decodes it in quadratic time)"
    )


def _directory_span(handle: BinaryIO) -> tuple[int, int] | None:
    """Where the central directory starts and ends, found as zipfile finds them
    (``zipfile._EndRecData``): a walk of another span would check other entries than zipfile
    reads. ``None`` when there is no end record."""
    found = _end_record(handle)
    if found is None:
        return None
    end, record = found
    (dir_size,) = struct.unpack("<I", record[12:16])
    zip64 = _zip64_size(handle, end)
    if zip64 is not None:
        # zipfile takes the zip64 end record whenever it finds one before the locator, marked
        # in the end record or not, and the directory as ending where that record starts.
        end, dir_size = end - _ZIP64_LOCATOR_SIZE - _ZIP64_RECORD_SIZE, zip64
    return (end - dir_size, end) if dir_size <= end else None


def _end_record(handle: BinaryIO) -> tuple[int, bytes] | None:
    """The end record zipfile reads, and where it is: the file's last 22 bytes when they are
    one without a comment, or else the last signature in the 64 KiB before them."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size >= END_RECORD_SIZE:
        handle.seek(size - END_RECORD_SIZE)
        last = handle.read()
        if last[:4] == END_RECORD and last[-2:] == b"\0\0":
            return size - END_RECORD_SIZE, last
    start = max(0, size - _END_SEARCH - END_RECORD_SIZE)
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < END_RECORD_SIZE:
        return None
    return start + at, tail[at : at + END_RECORD_SIZE]


def _zip64_size(handle: BinaryIO, end_record: int) -> int | None:
    """The directory size in the zip64 end record right before the locator right before the
    end record (where zipfile looks, whatever the locator says), if both are there."""
    record = end_record - _ZIP64_LOCATOR_SIZE - _ZIP64_RECORD_SIZE
    if record < 0:
        return None
    handle.seek(record)
    both = handle.read(_ZIP64_RECORD_SIZE + _ZIP64_LOCATOR_SIZE)
    if both[:4] != _ZIP64_RECORD or both[_ZIP64_RECORD_SIZE:][:4] != _ZIP64_LOCATOR:
        return None
    (dir_size,) = struct.unpack("<Q", both[40:48])
    return int(dir_size)
