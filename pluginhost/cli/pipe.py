"""Stdout that its reader may close: ``pluginhost list | head -2`` ends silently, as git does.

git dies of SIGPIPE at its first write after the reader left. A command here may have a host
running (``run``, ``demo``), which must be stopped rather than killed, and its event subscribers
print from the host's threads, where the event bus reports what a subscriber raises. So the
first failed write points stdout at ``/dev/null`` (nothing written later can fail or be seen),
the main thread gets one :class:`BrokenPipeError` to unwind the command, the log line the event
bus writes for a subscriber that met the closed pipe is dropped, and the command ends with
:data:`~pluginhost.cli.common.EXIT_PIPE`.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import Any, TextIO

__all__ = ["ClosedPipeGuard", "silence"]


class ClosedPipeGuard:
    """Wraps stdout; see the module's docstring.

    :param inner: the stream written to until its reader leaves.

    ``reader_gone`` tells whether it has left.
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.reader_gone = False
        self._main_told = False
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if self.reader_gone:
            self._tell_main()
            return len(text)
        try:
            return self.inner.write(text)
        except BrokenPipeError:
            self._close()
            raise

    def flush(self) -> None:
        if self.reader_gone:
            return
        try:
            self.inner.flush()
        except BrokenPipeError:
            self._close()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _close(self) -> None:
        with self._lock:
            if self.reader_gone:
                return
            self.reader_gone = True
            if threading.current_thread() is threading.main_thread():
                self._main_told = True
            silence(self.inner)

    def _tell_main(self) -> None:
        """The main thread learns of it once, at its next write, wherever the pipe broke."""
        if threading.current_thread() is threading.main_thread() and not self._main_told:
            self._main_told = True
            raise BrokenPipeError(errno.EPIPE, "the reader closed stdout")

    def quiet_log(self, record: logging.LogRecord) -> bool:
        """A logging filter: drop the report of a write that met the closed pipe."""
        exc = record.exc_info[1] if record.exc_info else None
        return not (self.reader_gone and isinstance(exc, BrokenPipeError))


def silence(stream: TextIO) -> None:
    """Point ``stream``'s file at /dev/null: what it still buffers, flushed at exit at the
    latest, and what is written later, go nowhere instead of failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)
