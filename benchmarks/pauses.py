"""Figure 8: how long a caller is paused by a swap.

One thread calls ``host.hook.version()`` without pause and notes the longest gap between two of
its calls while a swap runs (from ``os.replace`` of the new wheel until the host is idle again:
switch, drain, purge, commit and status document included). The baseline is the longest gap of
the same thread over a window of the same length with no swap. The target is absolute: a caller
never waits more than 2 ms.

Python's switch interval (5 ms by default) bounds what any other thread doing pure Python work
can take from a caller; a gap far beyond it is a pause that holds the interpreter lock (a full
garbage collection, a long C call).

Each row also says what the worst gap was made of: the calling thread's own CPU time in it (a
slow call of its own, a collection it ran), and, on Linux, how long the thread waited for a
core over that swap's window (the kernel's run-queue delay, from ``schedstat``). The rest of
the gap the thread waited for the interpreter lock. For that, the row names where each other
thread was when the worst gap ended (``worst_gap_ended_in``: its innermost frame, taken by the
calling thread as soon as it ran again): the thread that held the lock through the gap was then
at the point where it let go (a yield in ``pace``, a system call), one that took it from the
caller in passing was back at a wait.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

from _common import Row, row
from swap import rig


class Caller:
    """A thread that calls the hook without pause and keeps the longest gap of each window."""

    def __init__(self, hook: object) -> None:
        self._hook = hook
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._longest = 0.0
        self._longest_cpu = 0.0
        self._ended_in: dict[str, str] = {}
        self.calls = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._schedstat: Path | None = None

    def __enter__(self) -> Caller:
        self._thread.start()
        self._started.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self) -> None:
        """Start a new window: the longest gap counts from now."""
        with self._lock:
            self._longest = 0.0
            self._longest_cpu = 0.0
            self._ended_in = {}

    def longest(self) -> float:
        """The longest gap between two calls since :meth:`window`, in seconds."""
        with self._lock:
            return self._longest

    def longest_cpu(self) -> float:
        """The calling thread's CPU time within that gap, in seconds."""
        with self._lock:
            return self._longest_cpu

    def ended_in(self) -> dict[str, str]:
        """Where each other thread was when the longest gap ended: ``file:line function``."""
        with self._lock:
            return dict(self._ended_in)

    def runqueue(self) -> float | None:
        """Seconds the calling thread has waited for a core since it started (Linux)."""
        if self._schedstat is None:
            return None
        try:
            return int(self._schedstat.read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return None

    def _run(self) -> None:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self._schedstat = stat if stat.exists() else None
        self._started.set()
        call = self._hook.version  # type: ignore[attr-defined]
        cpu = time.thread_time
        last, last_cpu = time.perf_counter(), cpu()
        while not self._stop.is_set():
            call()
            now, now_cpu = time.perf_counter(), cpu()
            gap = now - last
            if gap > self._longest:
                with self._lock:
                    if gap > self._longest:
                        self._longest, self._longest_cpu = gap, now_cpu - last_cpu
                        self._ended_in = _innermost_frames()
            last, last_cpu = now, now_cpu
            self.calls += 1


def _innermost_frames() -> dict[str, str]:
    """Each other thread's innermost frame, by thread name."""
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    return {
        names.get(ident, str(ident)): (
            f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
        )
        for ident, frame in sys._current_frames().items()
        if ident != me
    }


def longest_gap(others: int, swaps: int) -> Row:
    """The longest gap of one calling thread during each of ``swaps`` swaps, with ``others``
    more plugins loaded, against quiet windows of the same length."""
    during: list[float] = []
    quiet: list[float] = []
    # Per swap: its longest gap, the caller's CPU time in it, its run-queue wait over the swap.
    made_of: list[tuple[float, float, float | None, dict[str, str]]] = []
    with rig(others) as r, Caller(r.host.hook) as caller:
        for _ in range(swaps):
            wheel = r.build()
            r.host.wait_idle(60)
            caller.window()
            queued = caller.runqueue()
            started = time.perf_counter()
            r.swap(wheel)
            r.host.wait_idle(60)
            length = time.perf_counter() - started
            after = caller.runqueue()
            waited = None if queued is None or after is None else after - queued
            made_of.append((caller.longest(), caller.longest_cpu(), waited, caller.ended_in()))
            during.append(caller.longest())
            caller.window()
            time.sleep(length)
            quiet.append(caller.longest())
            if len(r.old) >= 10:
                r.clean_up()
    _, worst_cpu, worst_waited, ended_in = max(made_of, key=lambda m: m[0])
    return row(
        "8 longest call gap during a swap",
        others + 1,
        during,
        unit="ms",
        baseline=quiet,
        baseline_name="same thread, no swap",
        ratio=statistics.median(during) / statistics.median(quiet),
        target="max <= 2 ms",
        met=max(during) <= 0.002,
        switch_interval_ms=1000 * sys.getswitchinterval(),
        worst_gap_caller_cpu_ms=1000 * worst_cpu,
        worst_window_runqueue_ms=None if worst_waited is None else 1000 * worst_waited,
        worst_gap_ended_in=ended_in,
    )


def figures(quick: bool) -> list[Row]:
    sizes = (1, 4) if quick else (1, 1000)
    swaps = 3 if quick else 20
    return [longest_gap(size - 1, swaps) for size in sizes]
