"""Workers booted ahead: taken for the next start, booted again in the background, closed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procplugins import Workers, alive, wait_gone

from pluginhost.proc.spare import Spares
from pluginhost.proc.worker import Worker

GREET = """
class Plugin:
    @hookimpl
    def greet(self, name):
        return f"hello {name}"
plugin = Plugin()
"""


@pytest.fixture
def spares() -> Iterator[Spares]:
    made = Spares()
    yield made
    made.close()


def ready_pid(spares: Spares, timeout: float = 20.0) -> int:
    """The pid of the worker kept ready, once one is."""
    deadline = time.monotonic() + timeout
    while (pid := spares.ready_pid) is None:
        assert time.monotonic() < deadline, "no worker was booted ahead"
        time.sleep(0.02)
    return pid


class TestSpares:
    def test_next_start_takes_the_worker_booted_ahead(self, spares: Spares, tmp_path: Path) -> None:
        """After a start, a worker is booted in the background, and the next start is that
        very process, loading its plugin and answering calls."""
        made = Workers(tmp_path)
        try:
            first = Worker.start(made.spec(GREET), spares=spares)
            made.started.append(first)
            waiting = ready_pid(spares)
            assert waiting != first.pid
            second = Worker.start(made.spec(GREET), spares=spares)
            made.started.append(second)
            assert second.pid == waiting
            assert second.call("greet", {"name": "ada"}) == "hello ada"
            assert ready_pid(spares) not in (first.pid, second.pid)
        finally:
            made.stop_all()

    def test_dead_spare_is_not_handed_out(self, spares: Spares) -> None:
        """A worker killed while it waited is discarded, and a live one is taken instead."""
        spares.take().discard()
        dead = ready_pid(spares)
        os.kill(dead, signal.SIGKILL)
        assert wait_gone(dead, 10)
        taken = spares.take()
        try:
            assert taken.process.pid != dead
            assert alive(taken.process.pid)
        finally:
            taken.discard()

    def test_close_stops_the_waiting_worker_and_boots_no_more(self, spares: Spares) -> None:
        """Closing stops the worker kept ready; nothing is booted after."""
        spares.take().discard()
        waiting = ready_pid(spares)
        spares.close()
        assert wait_gone(waiting, 10)
        assert spares.ready_pid is None
