"""The helper threads that bound each step of a change."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

import pytest

from pluginhost.load.bounded import _IDLE, bounded, retire_idle_helpers
from pluginhost.model.errors import ActivationError


class TestBounded:
    def test_steps_reuse_a_helper(self) -> None:
        """Steps one after another run on the same helper thread, not one thread each."""
        first = bounded(threading.current_thread, 10, plugin="p", step="import")
        second = bounded(threading.current_thread, 10, plugin="p", step="health")
        assert first is second
        assert first is not threading.current_thread()

    def test_overrun_helper_not_reused(self) -> None:
        """A helper stuck past its timeout is left behind; the next step gets another."""
        release = threading.Event()

        def stuck() -> threading.Thread:
            release.wait(10)
            return threading.current_thread()

        with pytest.raises(ActivationError, match="did not finish"):
            bounded(stuck, 0.05, plugin="p", step="import")
        try:
            # Were the stuck helper taken again, this would time out too.
            other = bounded(threading.current_thread, 10, plugin="p", step="health")
            assert other.name == "pluginhost-health-p"
        finally:
            release.set()

    def test_overrun_helper_ends_when_its_step_returns(self) -> None:
        """Abandoned, a helper must not wait for jobs forever once its plugin code returns."""
        release = threading.Event()
        with pytest.raises(ActivationError, match="did not finish"):
            bounded(lambda: release.wait(10), 0.05, plugin="p", step="stuck")
        [helper] = [t for t in threading.enumerate() if t.name == "pluginhost-stuck-p"]
        release.set()
        helper.join(_IDLE + 3)
        assert not helper.is_alive()

    def test_idle_helpers_retire_at_once(self) -> None:
        """A stopped host leaves no idle helper waiting out its idle time."""
        helper = bounded(threading.current_thread, 10, plugin="p", step="idle")
        retire_idle_helpers()
        helper.join(_IDLE / 2)
        assert not helper.is_alive()

    def test_last_idle_helper_waits_for_the_next_step(self) -> None:
        """Of two helpers left idle, one ends after the idle time and the other waits for the
        next step, which runs on it (no thread started for it)."""
        retire_idle_helpers()
        together = threading.Barrier(2)

        def step() -> threading.Thread:
            together.wait(10)  # both steps under way at once: on two helpers
            return threading.current_thread()

        results: list[threading.Thread] = []
        other = threading.Thread(
            target=lambda: results.append(bounded(step, 10, plugin="p", step="a"))
        )
        other.start()
        results.append(bounded(step, 10, plugin="q", step="b"))
        other.join(10)
        helpers = set(results)
        assert len(helpers) == 2
        deadline = time.monotonic() + _IDLE + 5
        while all(h.is_alive() for h in helpers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(_IDLE / 2)  # the kept one stays past its idle time
        [kept] = [h for h in helpers if h.is_alive()]
        assert bounded(threading.current_thread, 10, plugin="p", step="next") is kept
        retire_idle_helpers()
        kept.join(_IDLE / 2)
        assert not kept.is_alive()

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
    # Python 3.12 warns about forking a process with threads: that is the case under test.
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")
    def test_forked_child_gets_its_own_helper(self) -> None:
        """A child forked after a step runs its own steps: its parent's idle helper is no thread
        of the child's."""
        bounded(threading.current_thread, 10, plugin="p", step="import")
        pid = os.fork()
        if pid == 0:  # the child: a step that never runs would time out
            try:
                bounded(threading.current_thread, 5, plugin="p", step="health")
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0

    @pytest.mark.parametrize("setter", [sys.settrace, sys.setprofile])
    def test_a_tracer_a_step_set_does_not_run_in_the_next(self, setter: Any) -> None:
        """A trace or profile function set on the helper thread by one plugin's step (its
        import called sys.settrace) is taken off as the step ends: the next step, another
        plugin's on the same helper, does not fail for it."""

        def tracer(frame: Any, event: str, arg: Any) -> None:
            raise RuntimeError("the tracer of the first plugin")

        # A profile function sees the first step's own return, and fails it: its own fault.
        with contextlib.suppress(ActivationError):
            bounded(lambda: setter(tracer), 10, plugin="first", step="import")
        assert bounded(lambda: "second", 10, plugin="second", step="import") == "second"

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking with threads: the case
    def test_child_forked_by_a_step_ends_when_the_step_returns_there(self) -> None:
        """A step that forks (plugin code calling os.fork() while it is imported) returns in
        both processes; in the child, the helper ends the process rather than wait for steps
        that never come, holding the host's files and pipes: the child exits at once, 0."""
        children: list[int] = []

        def forks() -> None:
            pid = os.fork()
            if pid:
                children.append(pid)

        bounded(forks, 10, plugin="p", step="import")
        (child,) = children
        deadline = time.monotonic() + 30
        while (ended := os.waitpid(child, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                pytest.fail("the forked child was still waiting for steps after 30 s")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(ended[1]) == 0
