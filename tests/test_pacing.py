"""Yield points: a thread that paces its work lets a waiting thread run after about each slice
of CPU time, where it would otherwise run only at each switch interval."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from pluginhost.model import pacing
from pluginhost.model.pacing import CROWDED_SLICES, pace, paced, paced_thread

T = TypeVar("T")

#: A long switch interval for these tests: without yields, a waiting thread runs at most once
#: per interval while the work runs.
INTERVAL = 0.02
#: CPU seconds of work: five intervals, or a hundred slices.
WORK = 0.1
#: CPU seconds between two yields of a paced thread that finds the lock free.
SLICE_CPU = pacing.SLICE


@pytest.fixture
def long_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(INTERVAL)
    yield
    sys.setswitchinterval(before)


def turns_while(work: Callable[[Callable[[], None]], Callable[[], None]], others: int = 1) -> int:
    """How many times the interpreter lock went to ``others`` threads that count without pause
    and back, while the work ``work(note)`` makes runs on the calling thread (it calls ``note``
    at each step).

    Counted by the work itself, as the times the others' count moved between two of its
    steps: a machine busy with other processes may stop either thread for a while, but only a
    hand-over of the lock lets the other thread count in between.
    """
    stop = threading.Event()
    count = [0]
    started = threading.Event()

    def run() -> None:
        started.set()
        while not stop.is_set():
            count[0] += 1

    threads = [threading.Thread(target=run) for _ in range(others)]
    for thread in threads:
        thread.start()
    started.wait()
    turns = [0]
    seen = [count[0]]

    def note() -> None:
        if count[0] != seen[0]:
            turns[0] += 1
            seen[0] = count[0]

    work(note)()
    stop.set()
    for thread in threads:
        thread.join()
    return turns[0]


def spin(
    step: Callable[[], None], work: float = 0.0
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Work of ``work`` CPU seconds (:data:`WORK` by default) calling ``step`` between steps."""
    seconds = work or WORK

    def make(note: Callable[[], None]) -> Callable[[], None]:
        def work() -> None:
            deadline = time.thread_time() + seconds
            while time.thread_time() < deadline:
                note()
                step()

        return work

    return make


def in_a_paced_thread(work: Callable[[], T]) -> T:
    outcome: list[T] = []

    def run() -> None:
        paced_thread()
        outcome.append(work())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome[0]


def at_best(count: Callable[[], int], tries: int = 3) -> int:
    """The highest of ``tries`` counts of turns. A loaded machine lowers such a count (a thread
    not run for a while, a yield that waits long enough to look crowded), never raises it, so
    the best of a few shows what the pacing allows; a pacing that did not yield fails them all
    (a count over WORK is about five turns without yields, a hundred with)."""
    return max(count() for _ in range(tries))


@pytest.mark.usefixtures("long_interval")
def test_pace_lets_a_waiting_thread_run() -> None:
    """Pure Python work of 100 ms of CPU: without yields the lock goes to the other thread
    about once per switch interval (five times, a few more on a loaded machine); with pace()
    between steps, about once per slice (a hundred times, fewer on a loaded machine). A thread
    that did not ask to be paced does not yield."""
    unpaced = turns_while(spin(lambda: None))
    not_asked = turns_while(spin(pace))
    yielding = at_best(lambda: in_a_paced_thread(lambda: turns_while(spin(pace))))
    assert unpaced <= 20
    assert not_asked <= 20
    assert yielding >= 40


def test_paced_keeps_every_item_in_order() -> None:
    assert list(paced(range(1000), every=7)) == list(range(1000))
    assert list(paced([])) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timer slack is Linux's")
def test_a_paced_thread_sleeps_without_timer_slack_after_its_first_yield() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def slack() -> int:  # the calling thread's, in ns, as the kernel tells it
        return int(libc.prctl(30, 0, 0, 0, 0))  # PR_GET_TIMERSLACK

    seen: dict[str, int] = {}

    def run() -> None:
        seen["before"] = slack()
        paced_thread()
        seen["paced"] = slack()
        deadline = time.thread_time() + 0.005
        while time.thread_time() < deadline:
            pace()
        seen["after"] = slack()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if seen["before"] <= 1:  # a thread inherits its creator's slack
        pytest.skip("this process runs without timer slack already")
    assert seen["before"] == seen["paced"]  # only a yield takes it off
    assert seen["after"] == 1


@pytest.mark.usefixtures("long_interval")
def test_a_crowded_lock_is_not_yielded_at_every_slice() -> None:
    """Among four threads that count without pause, a yield waits for the lock several
    intervals: the paced thread then leaves the hand-overs to the interpreter (one per switch
    interval), not yielding at every slice. Alone with one such thread, it yields at every
    slice again."""
    crowded = in_a_paced_thread(lambda: turns_while(spin(pace), others=4))
    alone = at_best(lambda: in_a_paced_thread(lambda: turns_while(spin(pace))))
    assert crowded <= 30
    assert alone >= 40


@pytest.mark.usefixtures("long_interval")
def test_one_slow_yield_alone_does_not_stop_the_yields() -> None:
    """One yield that waited long (here: the only one made among four busy threads) may be
    the machine: alone with one busy thread afterwards, the thread yields at every slice
    again, after one switch interval."""

    def once_crowded_then_alone() -> int:
        turns_while(spin(pace, work=2 * SLICE_CPU), others=4)
        return turns_while(spin(pace))

    assert at_best(lambda: in_a_paced_thread(once_crowded_then_alone)) >= 40


@pytest.mark.usefixtures("long_interval")
def test_a_crowded_lock_is_looked_at_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the lock is no longer crowded, the same thread yields at every slice again after
    CROWDED_FOR seconds."""
    monkeypatch.setattr(pacing, "CROWDED_FOR", 0.2)

    def crowded_then_alone() -> tuple[int, int]:
        crowded = turns_while(spin(pace), others=4)
        time.sleep(0.3)
        return crowded, turns_while(spin(pace))

    runs = [in_a_paced_thread(crowded_then_alone) for _ in range(3)]
    assert all(crowded <= 30 for crowded, _ in runs)
    assert max(alone for _, alone in runs) >= 40  # at best, as at_best() says why


def test_a_thread_paced_again_keeps_what_its_yields_found() -> None:
    """paced_thread() on a thread paced already changes nothing: the thread that reads folder
    events asks at each swap it runs, and forgetting that the lock was crowded made every
    swap yield each slice again (each yield a wait behind every busy caller)."""

    def run() -> tuple[float, float]:
        paced_thread()
        pacing._last.slice = CROWDED_SLICES * sys.getswitchinterval()  # as a crowded yield sets
        paced_thread()
        return pacing._last.slice, CROWDED_SLICES * sys.getswitchinterval()

    kept, crowded = in_a_paced_thread(run)
    assert kept == crowded
