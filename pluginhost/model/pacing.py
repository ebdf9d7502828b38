"""Yield points: long work on a host's thread gives the interpreter lock back, so that threads
calling hooks meanwhile are not paused for long.

A thread that wants Python's interpreter lock waits up to the switch interval (5 ms by default)
before it asks the holder to let go; a swap among a thousand plugins holds it for stretches of
several milliseconds of pure Python work (planning, the registry, the status document), and a
caller waited that long between two calls. :func:`pace`, called between the steps of that work
and inside its long loops, lets go of the lock once the thread has run :data:`SLICE` seconds of
CPU since it last did. Letting go is a sleep just long enough for a waiting thread to wake and
take the lock (an immediate release is taken back before any other thread wakes); on a thread
nobody waits for, it costs that sleep: 0.084 ms measured (median of 2,000), where the kernel's
default timer slack of 50 µs made it 0.136 ms. On Linux a thread's first yield takes the slack
off its sleeps. Only the threads that ask for it (:func:`paced_thread`) yield.

The price is the paced thread's share of the lock: after each yield it waits for the lock
again, up to the switch interval when the caller that took it does not wait itself. When
several threads compete for the lock, that wait is several intervals (four threads calling
without pause: 24 ms, median of 200 yields), and a caller already waits that long for the
others: yielding every slice then only makes the paced thread's work last longer (a swap of
one plugin under four such threads waited a dozen times). So after a yield that took
:data:`CROWDED` switch intervals or more, the thread yields again after a switch interval
of CPU time; after a second one in a row (one alone may be the machine not running this
process), only after :data:`CROWDED_SLICES` switch intervals of CPU time (the interpreter
hands the lock around at each interval anyway, and a yield there waited 45 ms, median of a
swap's), or once :data:`CROWDED_FOR` seconds have passed, when a yield looks again; after a
yield that did not wait that long, every :data:`SLICE` again.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Final, TypeVar

__all__ = ["CROWDED", "CROWDED_FOR", "CROWDED_SLICES", "SLICE", "pace", "paced", "paced_thread"]

T = TypeVar("T")

#: Seconds of this thread's CPU time between two yields.
SLICE: Final = 0.001
#: A yield that waited this many switch intervals for the lock found it crowded (see above).
CROWDED: Final = 3
#: Switch intervals of CPU time between two yields while the lock is crowded.
CROWDED_SLICES: Final = 20
#: Seconds a crowded lock is taken to stay so; the next slice after them yields and looks again.
CROWDED_FOR: Final = 10.0
#: How long a yield sleeps: more than a waiting thread takes to wake and take the lock (50 µs
#: handed over as often as 100 µs did, 80-90 times in 100 slices, under three CPU hogs too).
_HANDOFF: Final = 0.00005

#: prctl's option that sets the calling thread's timer slack.
_PR_SET_TIMERSLACK: Final = 29

logger = logging.getLogger(__name__)
_last = threading.local()


def paced_thread() -> None:
    """Make this thread's :func:`pace` calls yield: called by the host's own threads (the
    worker, the watcher), whose work runs while the application calls hooks. Elsewhere (a
    host's start on the application's thread, say) they cost nothing. A thread paced already
    keeps what its yields found (a thread that reads folder events and runs each swap asks at
    each: had the crowding it saw been forgotten, each swap yielded every slice again)."""
    if getattr(_last, "on", False):
        return
    _last.on = True
    _last.cpu = time.thread_time()
    _last.slice = SLICE
    _last.until = 0.0  # while crowded: when to look again
    _last.strikes = 0  # slow yields in a row


def pace() -> None:
    """Give the interpreter lock to a waiting thread if this thread has held it long."""
    if not getattr(_last, "on", False):
        return
    now = time.thread_time()
    if _last.slice > SLICE and time.perf_counter() >= _last.until:
        _last.slice = SLICE  # crowded a while ago: the next slice's yield looks again
    if now - _last.cpu >= _last.slice:
        if not getattr(_last, "fine", False):
            _last.fine = True
            _fine_sleeps()
        started = time.perf_counter()
        time.sleep(_HANDOFF)
        ended = time.perf_counter()
        interval = sys.getswitchinterval()
        if ended - started >= CROWDED * interval:
            # One slow yield may be the machine (this process was not run); two in a row are
            # the lock, which the interpreter hands around then: the thread stops yielding.
            _last.strikes += 1
            slices = CROWDED_SLICES if _last.strikes >= 2 else 1
            _last.slice = max(SLICE, slices * interval)
            _last.until = ended + CROWDED_FOR
        else:
            _last.strikes = 0
            _last.slice = SLICE
        _last.cpu = time.thread_time()


def _fine_sleeps() -> None:
    """Take the timer slack off this thread's sleeps, on Linux: done at a thread's first
    yield, so that a host that never yields never imports ``ctypes`` (2 ms)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes  # noqa: PLC0415  (see above)

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_TIMERSLACK) refused")
    except (ImportError, OSError, AttributeError) as exc:  # no ctypes, no prctl, a sandbox
        logger.debug("timer slack left as it was (yields cost more): %s", exc)


def paced(items: Iterable[T], every: int = 64) -> Iterator[T]:
    """``items``, with a :func:`pace` before each run of ``every`` of them."""
    for index, item in enumerate(items):
        if index % every == 0:
            pace()
        yield item
