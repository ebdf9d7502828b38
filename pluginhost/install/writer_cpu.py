"""Where the site writer runs a job the host waits for: on the CPU the waiting thread leaves.

The thread that sends the writer such a job waits for its answer at once, and lets go of the
interpreter lock as it starts waiting: a thread that was waiting for the lock (one calling
hooks) is woken then, and Linux queues it on the CPU it last ran on. When the writer, woken a
moment before by the job, had taken that very CPU, the caller waited behind the writer's few
milliseconds of work while the sender's CPU stood idle, until the kernel's next balancing tick
moved it: ``perf sched`` showed such a gap of 4 to 5 ms in a caller's calls in most swaps of
figure 8. So a job the sender waits for is run on the sender's CPU, which the sender is about
to leave; as the writer starts the job it takes its whole CPU mask back (:func:`whole_mask`),
so that the scheduler may move it from there.

Linux only (``sched_getcpu``, ``sched_setaffinity``). Elsewhere, or when the kernel refuses,
the writer runs wherever the scheduler puts it, as before.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

__all__ = ["SendingCpu", "whole_mask"]

logger = logging.getLogger(__name__)


class SendingCpu:
    """Places a process on the CPU of the thread that calls :meth:`place`."""

    def __init__(self) -> None:
        self._getcpu = _getcpu()

    def place(self, pid: int) -> None:
        """Let process ``pid`` run only on the calling thread's CPU (until it widens its mask
        again); nothing when that CPU cannot be told or the kernel refuses."""
        if self._getcpu is None:
            return
        cpu = self._getcpu()
        if cpu < 0:
            return
        try:
            os.sched_setaffinity(pid, (cpu,))
        except OSError as exc:
            # A sandbox that forbids it, a CPU taken offline: not asked again (the writer
            # still works, its jobs are placed by the scheduler alone).
            logger.info("the site writer is not placed on its sender's CPU: %s", exc)
            self._getcpu = None


def whole_mask() -> Callable[[], None]:
    """In the writer: a function that gives it back the CPUs it may run on now, called as it
    starts each job (the host may have narrowed them to one, see :class:`SendingCpu`)."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return lambda: None
    mask = getter(0)

    def widen() -> None:
        try:
            os.sched_setaffinity(0, mask)
        except OSError as exc:  # a CPU of the mask went offline: the scheduler places it
            logger.info("the site writer keeps the CPU it was placed on: %s", exc)

    return widen


def _getcpu() -> Callable[[], int] | None:
    """libc's ``sched_getcpu``, called with the interpreter lock held (``PyDLL``): letting
    go of it, as a ``CDLL`` call does, would be one more wait for it under busy callers."""
    if not sys.platform.startswith("linux") or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes  # noqa: PLC0415  (2 ms, and only for a host that starts a writer)

        function = ctypes.PyDLL(None).sched_getcpu
    except (ImportError, OSError, AttributeError) as exc:  # no ctypes, a libc without it
        logger.info("the site writer is not placed on its sender's CPU: %s", exc)
        return None
    function.restype = ctypes.c_int
    function.argtypes = ()
    getcpu: Callable[[], int] = function
    return getcpu
