"""Every thread's current frame, asked for without the deadlock of CPython before 3.12.

``sys._current_frames()`` holds the interpreter's runtime lock while it makes its dict; on
Python 3.10 and 3.11 a collection of the cyclic garbage collector may start inside it, free a
thread-local object whose deallocation takes that same lock, and the process hangs for good
(CPython gh-106883: a host hung in its guard's look at the threads around an import, once, in
this project's test suite). Python 3.12 turns the collector off during the call itself; here
it is turned off around the call on the versions before.
"""

from __future__ import annotations

import gc
import sys
import types

__all__ = ["current_frames"]


def current_frames() -> dict[int, types.FrameType]:
    """``sys._current_frames()``: each thread's id and the frame it runs."""
    if sys.version_info >= (3, 12) or not gc.isenabled():
        return sys._current_frames()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        gc.enable()
