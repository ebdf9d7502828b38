"""Yield points: a thread that paces its work lets a waiting thread run within about a slice of
CPU time, where it would otherwise wait the whole switch interval."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pluginhost.model.pacing import pace, paced, paced_thread

#: A long switch interval for these tests: without yields, a waiting thread waits about as long.
INTERVAL = 0.02


@pytest.fixture
def long_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(INTERVAL)
    yield
    sys.setswitchinterval(before)


def longest_wait(work: Callable[[], None]) -> float:
    """The longest gap between two steps of a thread that counts without pause while ``work``
    runs on this thread."""
    stop = threading.Event()
    gaps = [0.0]
    started = threading.Event()

    def count() -> None:
        last = time.perf_counter()
        started.set()
        while not stop.is_set():
            now = time.perf_counter()
            gaps[0] = max(gaps[0], now - last)
            last = now

    thread = threading.Thread(target=count)
    thread.start()
    started.wait()
    time.sleep(0.01)
    gaps[0] = 0.0
    work()
    stop.set()
    thread.join()
    return gaps[0]


def spin(seconds: float, step: Callable[[], None]) -> Callable[[], None]:
    def work() -> None:
        deadline = time.thread_time() + seconds
        while time.thread_time() < deadline:
            step()

    return work


@pytest.mark.usefixtures("long_interval")
def test_pace_lets_a_waiting_thread_run() -> None:
    """Pure Python work of 60 ms: without yields the other thread waits about the switch
    interval at a time; with pace() between steps, a small part of it. (The paced work takes
    far longer: after each yield it waits for the lock a switch interval.)"""
    unpaced = longest_wait(spin(0.06, lambda: None))
    not_asked = longest_wait(spin(0.06, pace))  # this thread has not asked to yield
    outcome: list[float] = []

    def paced_work() -> None:
        paced_thread()
        outcome.append(longest_wait(spin(0.06, pace)))

    thread = threading.Thread(target=paced_work)
    thread.start()
    thread.join()
    paced_wait = outcome[0]
    assert unpaced > INTERVAL * 0.6
    assert not_asked > INTERVAL * 0.6
    assert paced_wait < INTERVAL * 0.4


def test_paced_keeps_every_item_in_order() -> None:
    assert list(paced(range(1000), every=7)) == list(range(1000))
    assert list(paced([])) == []
