"""Which calls cost the host's thread a wait for the interpreter lock under busy callers.

Alone (``python benchmarks/lock_waits.py [rounds]``), not a figure of ``run.py``: four threads
call a function without pause while the main thread times single calls of each kind, in turn.
A call that lets the lock go costs the caller nothing more when no other thread is ready to
take it before the call returns; it costs a wait (a switch interval or more) when the call
wakes another thread or process first, or blocks. What figure 14's swap is made of:

- ``os.lstat`` of a cached path (three in a row), and ``select.poll`` with no wait;
- ``os.write`` of 200 bytes to a pipe nobody waits on;
- ``os.write`` of 200 bytes to a pipe a child process waits on (the site writer's case),
  and the same with :func:`pluginhost.state.held.write`, which keeps the lock;
- a round trip to that child, which echoes: the write, a wait for the answer, its read; with
  ``os`` and with :mod:`pluginhost.state.held`;
- ``time.sleep(0)``, what a yield (``model/pacing.py``) costs.

Prints the median and p90 of each, in milliseconds, and the load average before and after.
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from busy import callers

from pluginhost.state import held

_ECHO = "import os\nwhile (data := os.read(0, 65536)):\n    os.write(1, data)\n"
_MESSAGE = b"x" * 200


def timed(call: Callable[[], object]) -> Callable[[], float]:
    """``call``, made to return how long it took, in milliseconds."""

    def timing() -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    return timing


def kinds(echo: subprocess.Popen[bytes]) -> dict[str, Callable[[], float]]:
    """Each kind of call, returning how long the part it times took (milliseconds)."""
    assert echo.stdin is not None
    assert echo.stdout is not None
    to_child, from_child = echo.stdin.fileno(), echo.stdout.fileno()
    os.set_blocking(to_child, False)
    os.set_blocking(from_child, False)
    idle_read, idle_write = os.pipe()

    def round_trip(write: Callable[[int, bytes], int], read: Callable[[int, int], bytes]) -> None:
        poller = select.poll()
        poller.register(from_child, select.POLLIN)
        write(to_child, _MESSAGE)
        poller.poll(10_000)
        got = read(from_child, 65536)
        while len(got) < len(_MESSAGE):
            poller.poll(10_000)
            got += read(from_child, 65536)

    def drained_write(write: Callable[[int, bytes], int]) -> float:
        """The write alone; the echo is read after it, untimed."""
        started = time.perf_counter()
        write(to_child, _MESSAGE)
        took = (time.perf_counter() - started) * 1000
        poller = select.poll()
        poller.register(from_child, select.POLLIN)
        got = b""
        while len(got) < len(_MESSAGE):
            poller.poll(10_000)
            got += os.read(from_child, 65536)
        return took

    def lstats() -> None:
        for _ in range(3):
            os.lstat(sys.prefix)

    def poll_now() -> None:
        poller = select.poll()
        poller.register(idle_read, select.POLLIN)
        poller.poll(0)

    def idle_write_call() -> None:
        os.write(idle_write, _MESSAGE)
        os.read(idle_read, 65536)  # nobody waits on it either

    return {
        "os.lstat x3": timed(lstats),
        "poll, no wait": timed(poll_now),
        "os.write, nobody waits": timed(idle_write_call),
        "os.write, a process waits": lambda: drained_write(os.write),
        "held.write, a process waits": lambda: drained_write(held.write),
        "round trip, os": timed(lambda: round_trip(os.write, os.read)),
        "round trip, held": timed(lambda: round_trip(held.write, held.read)),
        "time.sleep(0)": timed(lambda: time.sleep(0)),
    }


def main(rounds: int) -> None:
    echo = subprocess.Popen(
        [sys.executable, "-c", _ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        calls = kinds(echo)
        times: dict[str, list[float]] = {name: [] for name in calls}
        load = os.getloadavg()[0]
        with callers(lambda: 1):  # figure 14's four threads, calling a function
            for _ in range(rounds):
                for name, call in calls.items():
                    times[name].append(call())
                    time.sleep(0.002)  # the next call starts from a wait, as a swap's steps
        print(f"load {load:.2f} -> {os.getloadavg()[0]:.2f}, {rounds} rounds, four busy threads")
        for name, values in times.items():
            values.sort()
            p90 = values[int(len(values) * 0.9) - 1]
            print(f"{name:30} p50 {statistics.median(values):7.2f} ms   p90 {p90:7.2f} ms")
    finally:
        assert echo.stdin is not None
        echo.stdin.close()
        echo.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
