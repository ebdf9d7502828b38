"""Text the command line prints that its stream's encoding cannot hold is escaped, not fatal.

A file name that is not UTF-8 reaches Python as text with lone surrogates (``\\udcff`` for
the byte 0xff). Under a UTF-8 locale (``en_US.UTF-8``) or ``PYTHONIOENCODING=utf-8`` stdout
refuses them, and ``list``, ``status``, ``audit`` and ``inspect`` of a home holding such a wheel
ended in an internal error (``UnicodeEncodeError``). The streams write such characters as
Python escapes instead (``\\udcff``), as the commands already escape control characters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TextIO

__all__ = ["escaped_output"]


@contextlib.contextmanager
def escaped_output(*streams: TextIO) -> Iterator[None]:
    """Within the block, ``streams`` escape what their encoding cannot write."""
    restore = []
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if reconfigure is None or errors in (None, "backslashreplace", "surrogateescape"):
            continue  # not a text file, or one that writes every text already
        reconfigure(errors="backslashreplace")
        restore.append((reconfigure, errors))
    try:
        yield
    finally:
        for reconfigure, errors in restore:
            # reconfigure() flushes first: a reader that left (`| head -1`) fails that flush,
            # and the closed-pipe guard that met it already ends the command with 141 (pipe.py).
            with contextlib.suppress(BrokenPipeError):
                reconfigure(errors=errors)
