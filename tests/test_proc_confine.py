"""A worker's resource limits, set before the plugin's code runs and reported when hit."""

from __future__ import annotations

import errno
import os
import time

import pytest
from procplugins import Workers, wait_gone, workers

from pluginhost.model.errors import PluginCrashedError
from pluginhost.model.limits import ResourceLimits
from pluginhost.proc import cgroup, confine
from pluginhost.proc.child import EXIT_LIMIT
from pluginhost.proc.messages import LimitsMsg

__all__ = ["workers"]

HOGS = """
import os, threading

class Plugin:
    files = []
    threads = []

    @hookimpl
    def allocate(self, mb):
        Plugin.block = bytearray(mb * 1024 * 1024)
        return len(Plugin.block)

    @hookimpl
    def open_files(self, count):
        for _ in range(count):
            Plugin.files.append(open(os.devnull))
        return len(Plugin.files)

    @hookimpl
    def start_threads(self, count, catch):
        stop = threading.Event()
        try:
            for _ in range(count):
                thread = threading.Thread(target=stop.wait, daemon=True)
                thread.start()
                Plugin.threads.append(thread)
        except RuntimeError:
            if not catch:
                raise
        return len(Plugin.threads)

    @hookimpl
    def cpus(self):
        return sorted(os.sched_getaffinity(0))

plugin = Plugin()
"""


def exit_of(workers: Workers, timeout: float = 5.0) -> tuple[int | None, str | None]:
    """The (returncode, limit) of the first worker that ended."""
    deadline = time.monotonic() + timeout
    while not workers.exits and time.monotonic() < deadline:
        time.sleep(0.01)
    info = workers.exits[0][1]
    return info.returncode, info.limit


class TestMemory:
    def test_allocating_past_memory_mb_stops_the_worker(self, workers: Workers) -> None:
        """Allocating past memory_mb stops the worker, and the error and ExitInfo name the
        limit."""
        worker = workers.start(HOGS, limits=ResourceLimits(memory_mb=200))
        assert worker.call("allocate", {"mb": 20}) == 20 * 1024 * 1024
        with pytest.raises(PluginCrashedError) as caught:
            worker.call("allocate", {"mb": 400})
        assert caught.value.limit == "memory_mb"
        assert wait_gone(worker.pid, 5)
        assert exit_of(workers) == (EXIT_LIMIT, "memory_mb")

    def test_a_limit_below_what_the_worker_needs_fails_the_start(self, workers: Workers) -> None:
        """A memory_mb too small for the worker to start is a PluginCrashedError naming it."""
        with pytest.raises(PluginCrashedError, match="memory_mb") as caught:
            workers.start(HOGS, limits=ResourceLimits(memory_mb=5))
        assert caught.value.limit == "memory_mb"

    def test_the_mechanism_is_reported(self, workers: Workers) -> None:
        """The worker says how memory is limited: a cgroup where the host can make one, else
        RLIMIT_AS."""
        worker = workers.start(HOGS, limits=ResourceLimits(memory_mb=200))
        usable, _ = cgroup.available()
        expected = "cgroup v2 memory.max" if usable else "RLIMIT_AS"
        assert worker.enforced == (f"memory_mb: {expected}",)


class TestOpenFiles:
    def test_opening_past_open_files_stops_the_worker(self, workers: Workers) -> None:
        """Opening files past open_files stops the worker, naming the limit."""
        worker = workers.start(HOGS, limits=ResourceLimits(open_files=32))
        assert worker.call("open_files", {"count": 5}) == 5
        with pytest.raises(PluginCrashedError) as caught:
            worker.call("open_files", {"count": 100})
        assert caught.value.limit == "open_files"
        assert exit_of(workers) == (EXIT_LIMIT, "open_files")


class TestThreads:
    def test_starting_threads_past_the_limit_stops_the_worker(self, workers: Workers) -> None:
        """Starting threads past ``threads`` is refused and stops the worker, naming the limit."""
        worker = workers.start(HOGS, limits=ResourceLimits(threads=4))
        assert worker.call("start_threads", {"count": 2, "catch": False}) == 2
        with pytest.raises(PluginCrashedError) as caught:
            worker.call("start_threads", {"count": 10, "catch": False})
        assert caught.value.limit == "threads"
        assert exit_of(workers) == (EXIT_LIMIT, "threads")

    def test_a_refusal_the_plugin_catches_still_stops_the_worker(self, workers: Workers) -> None:
        """A plugin that catches the refusal gets its answer back, and the worker stops after
        the call all the same."""
        worker = workers.start(HOGS, limits=ResourceLimits(threads=3))
        assert worker.call("start_threads", {"count": 10, "catch": True}) == 2
        assert wait_gone(worker.pid, 5)
        assert exit_of(workers) == (EXIT_LIMIT, "threads")


class TestCpu:
    @pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
    def test_cpu_cores_pins_the_first_allowed_cpus(self, workers: Workers) -> None:
        """cpu_cores=1 pins the worker to the first CPU the host may use."""
        worker = workers.start(HOGS, limits=ResourceLimits(cpu_cores=1))
        assert worker.call("cpus", {}) == sorted(os.sched_getaffinity(0))[:1]


class DisguisedError(OSError):
    """An error whose ``__class__`` (``isinstance`` asks it) and ``errno`` raise."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("no class")

    @property
    def errno(self) -> int:  # type: ignore[override]
        raise RuntimeError("no errno")


class TestLimitOf:
    def test_an_error_of_the_plugins_is_read_without_its_code(self) -> None:
        """The limit an error says was hit is read from its type and its errno slot, never
        by its properties: they raised out of the worker's reply."""
        limits = LimitsMsg(open_files=64, memory_mb=512)
        assert confine.limit_of(DisguisedError(errno.EMFILE, "too many"), limits) == "open_files"
        assert confine.limit_of(DisguisedError("plain"), limits) is None
        assert confine.limit_of(MemoryError(), limits) == "memory_mb"
