"""The lines of the audit log as its readers take them, each read to a bounded length.

No line the host writes is longer than :data:`MAX_LINE`: eleven fields of at most
:data:`~pluginhost.state.bounds.FIELD_LIMIT` characters each, six bytes a character at worst
(escaped), make about 150 KB. A longer line is damage, such as a GiB of zeros after the last
line: read whole, it was held in memory by ``--verify``, ``doctor`` and a start. It comes as an
:class:`Overlong` instead, its bytes hashed as they stream by (the next line's ``prev`` and the
head are checked against that digest, as for any line) and never held.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

from . import fs

__all__ = ["GENESIS", "MAX_LINE", "Overlong", "last_link", "line_digest", "raw_lines"]

#: The ``prev`` of the first line.
GENESIS: Final = "0" * 64
#: The longest line read: past it, a line is no entry the host wrote.
MAX_LINE: Final = 1024 * 1024
_CHUNK: Final = 64 * 1024
# The end of the log read to find its last line: an overlong last line is cut there.
_TAIL: Final = 64 * 1024


class Overlong(bytes):
    """A line longer than :data:`MAX_LINE`, standing for it as empty bytes (no entry).

    :ivar digest: the sha256 of the whole line, newline included.
    :ivar length: its length in bytes.
    :ivar ended: whether it ends with a newline (the log's last line may not).
    """

    digest: str
    length: int
    ended: bool


def line_digest(raw: bytes) -> str:
    """The sha256 of a line as :func:`raw_lines` gives it, overlong ones included."""
    return raw.digest if isinstance(raw, Overlong) else hashlib.sha256(raw).hexdigest()


def raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The lines of ``path``, numbered from 1, newlines kept; no more than
    :data:`MAX_LINE` + 1 bytes held at once.

    :raises OSError: when the file cannot be opened or read.
    """
    with os.fdopen(fs.open_read(path), "rb") as stream:
        number = 0
        while line := stream.readline(MAX_LINE + 1):
            number += 1
            yield number, line if len(line) <= MAX_LINE else _overlong(stream, line)


def _overlong(stream: BinaryIO, start: bytes) -> Overlong:
    """The rest of a line that began with ``start`` read and hashed, a chunk at a time."""
    digest = hashlib.sha256(start)
    length, chunk = len(start), start
    while not chunk.endswith(b"\n") and (chunk := stream.readline(_CHUNK)):
        digest.update(chunk)
        length += len(chunk)
    line = Overlong()
    line.digest, line.length, line.ended = digest.hexdigest(), length, chunk.endswith(b"\n")
    return line


def last_link(path: Path) -> tuple[str, bool]:
    """The sha256 of the file's last line (the next entry's ``prev``), and whether that line
    is torn (a crash mid-write) and needs its newline before anything is appended.

    Only the last :data:`_TAIL` bytes are read: of a longer last line, the digest is that of
    its end, and ``--verify`` reports the break of the chain after it.

    :raises OSError: when the file cannot be read (not when it is missing).
    """
    try:
        with os.fdopen(fs.open_read(path), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _TAIL))
            tail = f.read()
    except FileNotFoundError:
        return GENESIS, False
    lines = tail.splitlines(keepends=True)
    if not lines:
        return GENESIS, False
    last = lines[-1]
    torn = not last.endswith(b"\n")
    # The torn line, once closed, is a link like any other: --verify reports the line itself.
    return hashlib.sha256(last + b"\n" if torn else last).hexdigest(), torn
