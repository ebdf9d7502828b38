"""Figure 8: how long a caller is paused by a swap.

One thread calls ``host.hook.version()`` without pause and notes the longest gap between two of
its calls while a swap runs (from ``os.replace`` of the new wheel until the host is idle again:
switch, drain, purge, commit and status document included). The baseline is the longest gap of
the same thread over a window of the same length with no swap. The target is absolute: a caller
never waits more than 2 ms.

Python's switch interval (5 ms by default) bounds what any other thread doing pure Python work
can take from a caller; a gap far beyond it is a pause that holds the interpreter lock (a full
garbage collection, a long C call).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from _common import Row, row
from swap import rig


class Caller:
    """A thread that calls the hook without pause and keeps the longest gap of each window."""

    def __init__(self, hook: object) -> None:
        self._hook = hook
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._longest = 0.0
        self.calls = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Caller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self) -> None:
        """Start a new window: the longest gap counts from now."""
        with self._lock:
            self._longest = 0.0

    def longest(self) -> float:
        """The longest gap between two calls since :meth:`window`, in seconds."""
        with self._lock:
            return self._longest

    def _run(self) -> None:
        call = self._hook.version  # type: ignore[attr-defined]
        last = time.perf_counter()
        while not self._stop.is_set():
            call()
            now = time.perf_counter()
            gap = now - last
            last = now
            self.calls += 1
            if gap > self._longest:
                with self._lock:
                    self._longest = max(self._longest, gap)


def longest_gap(others: int, swaps: int) -> Row:
    """The longest gap of one calling thread during each of ``swaps`` swaps, with ``others``
    more plugins loaded, against quiet windows of the same length."""
    during: list[float] = []
    quiet: list[float] = []
    with rig(others) as r, Caller(r.host.hook) as caller:
        for _ in range(swaps):
            wheel = r.build()
            r.host.wait_idle(60)
            caller.window()
            started = time.perf_counter()
            r.swap(wheel)
            r.host.wait_idle(60)
            length = time.perf_counter() - started
            during.append(caller.longest())
            caller.window()
            time.sleep(length)
            quiet.append(caller.longest())
            if len(r.old) >= 10:
                r.clean_up()
    worst = max(during)
    return row(
        "8 longest call gap during a swap",
        others + 1,
        during,
        unit="ms",
        baseline=quiet,
        baseline_name="same thread, no swap",
        ratio=statistics.median(during) / statistics.median(quiet),
        target="max <= 2 ms",
        met=worst <= 0.002,
        switch_interval_ms=1000 * sys.getswitchinterval(),
    )


def figures(quick: bool) -> list[Row]:
    sizes = (1, 4) if quick else (1, 1000)
    swaps = 3 if quick else 20
    return [longest_gap(size - 1, swaps) for size in sizes]
