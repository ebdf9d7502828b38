"""Supervision of process plugins: crashes told, workers restarted with their state, crash
loops quarantined, and the operator's way back."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import cli_row, greet_code, wait_for
from processhost import build, counter, kinds, serving
from procplugins import alive, wait_gone

from pluginhost import (
    Event,
    EventKind,
    HostStateError,
    PluginCrashedError,
    PluginHost,
    PluginTimeoutError,
    ProblemKind,
    Timeouts,
)
from pluginhost.host.control import ControlServer, send_request
from pluginhost.host.supervisor import BACKOFF_MAX, backoff
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


class TestExport:
    def test_a_long_call_is_not_killed_by_the_export_of_its_state(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """The periodic export of a process plugin's state waits behind the plugin's calls:
        timing out, it killed the worker in the middle of a call the plugin was allowed (no
        call_timeout_s), as if that limit had been hit, and the call failed. It keeps the last
        state now, and the call returns."""
        slow = "import time\n@hookimpl\ndef farewell(name):\n    time.sleep(2.5)\n    return 'x'\n"
        build(factory, "counter", code=counter(more=slow))
        host = make_host(state_interval=0.2, timeouts=Timeouts(activate=0.5))
        pid = host.plugins["counter"].pid
        assert host.hook.farewell(name="x") == "x"
        assert host.plugins["counter"].pid == pid
        assert EventKind.CRASHED not in kinds(events, "counter")

    def test_an_export_that_hangs_is_asked_again_less_and_less_often(
        self, factory: WheelFactory, make_host: MakeHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A worker hung in its export is left serving, not killed; each round waited the
        activate timeout for it and sent one more request, so the supervisor's thread was
        always waiting. It is asked again after the timeout, then twice as long each time."""
        stuck = "import time\n@hookimpl\ndef pluginhost_export_state():\n    time.sleep(60)\n"
        build(factory, "stuck", code=greet_code("stuck") + stuck)
        caplog.set_level(logging.INFO, logger="pluginhost")
        host = make_host(state_interval=0.1, timeouts=Timeouts(activate=0.5))
        pid = host.plugins["stuck"].pid
        time.sleep(6.0)
        tries = [r for r in caplog.records if "state of stuck not exported" in r.getMessage()]
        assert 2 <= len(tries) <= 4  # at 0, 1, 2.5 and 5 s; every 0.6 s it was ten
        assert host.plugins["stuck"].pid == pid


class TestCrash:
    @pytest.mark.parametrize(
        ("how", "told"), [("exit", "code 3"), ("segv", "SIGSEGV")], ids=["os._exit", "segfault"]
    )
    def test_crash_in_a_call(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        how: str,
        told: str,
    ) -> None:
        """A worker dying in a call: the caller gets PluginCrashedError, the host serves on,
        a crashed event says how, and a new worker serves with the state last exported."""
        build(factory, "counter", code=counter())
        factory.build("hello", code=greet_code("Hello"))
        host = make_host(state_interval=0.05)
        host.hook.greet(name="a")
        host.hook.greet(name="b")
        first = host.plugins["counter"].pid
        assert first is not None
        wait_for(lambda: _saved(host, "counter") == {"count": 2})
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name=how)
        wait_for(lambda: len([e for e in events if e.kind is EventKind.CRASHED]) == 1)
        crashed = [e for e in events if e.kind is EventKind.CRASHED]
        assert told in str(crashed[0].error)
        assert host.hook.farewell(name="x") is None  # the host serves meanwhile
        wait_for(lambda: serving(host, "counter", restarts=1))
        # The new worker is published before the restarted event is told (host/supervisor.py).
        wait_for(lambda: EventKind.RESTARTED in kinds(events, "counter"))
        info = host.plugins["counter"]
        assert info.pid != first
        assert info.restarts == 1
        assert kinds(events, "counter")[-2:] == [EventKind.CRASHED, EventKind.RESTARTED]
        assert sorted(host.hook.greet(name="c"))[1].startswith("hi c #3")

    def test_killed_worker(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A worker killed from outside (SIGKILL) is told with its signal and restarted."""
        build(factory, "counter", code=counter())
        host = make_host()
        pid = host.plugins["counter"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: host.plugins["counter"].restarts == 1)
        crashed = [e for e in events if e.kind is EventKind.CRASHED]
        assert "SIGKILL" in str(crashed[0].error)
        assert host.hook.greet(name="a")[0].startswith("hi a #1")

    def test_calls_while_restarting(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event], tmp_path: Path
    ) -> None:
        """A call while a crashed worker restarts gets PluginCrashedError saying so, at once,
        not after the restart."""
        mark = tmp_path / "imported"
        slow = (
            f"import pathlib, time\nif pathlib.Path({str(mark)!r}).exists():\n    time.sleep(2)\n"
        )
        build(factory, "counter", code=counter(more=f"{slow}pathlib.Path({str(mark)!r}).touch()\n"))
        host = make_host()
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: EventKind.CRASHED in kinds(events, "counter"))
        began = time.monotonic()
        with pytest.raises(PluginCrashedError, match="is restarting"):
            host.hook.greet(name="a")
        assert time.monotonic() - began < 1
        wait_for(lambda: serving(host, "counter", restarts=1))

    def test_restart_takes_the_worker_booted_ahead(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A restart after a crash is served by the worker booted ahead, not by an
        interpreter started then."""
        build(factory, "counter", code=counter())
        host = make_host()
        spares = host._engine.processes.spares()
        wait_for(lambda: spares.ready_pid is not None)
        ahead = spares.ready_pid
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: serving(host, "counter", restarts=1))
        assert host.plugins["counter"].pid == ahead
        wait_for(lambda: spares.ready_pid not in (None, ahead))  # the next one booted

    def test_deadline(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A call past call_timeout_s raises PluginTimeoutError at its deadline; the hung
        worker is killed and restarted."""
        spin = "@hookimpl\ndef farewell(name):\n    while True:\n        pass\n"
        build(factory, "spinner", code=counter(more=spin), resources="call_timeout_s = 0.5")
        host = make_host()
        started = time.monotonic()
        with pytest.raises(PluginTimeoutError):
            host.hook.farewell(name="x")
        assert time.monotonic() - started < 5
        wait_for(lambda: host.plugins["spinner"].restarts == 1)
        crashed = [e for e in events if e.kind is EventKind.CRASHED]
        assert crashed[0].step == "call_timeout_s"

    def test_calls_waiting_their_turn_are_not_timed(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """The worker answers one call at a time: calls sent together, each well within
        call_timeout_s, all answer, and the worker is not killed (the later ones timed out,
        counting their wait, and three such rounds quarantined a plugin that never hung)."""
        slow = "@hookimpl\ndef farewell(name):\n    time.sleep(0.4)\n    return name\n"
        build(
            factory,
            "slow",
            code="import time\n" + counter(more=slow),
            resources="call_timeout_s = 1.0",
        )
        host = make_host()
        answers: list[object] = []

        def call(name: str) -> None:
            try:
                answers.append(host.hook.farewell(name=name))
            except Exception as exc:  # the failure is what the test shows
                answers.append(exc)

        threads = [threading.Thread(target=call, args=(str(n),)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(map(str, answers)) == ["0", "1", "2", "3"]
        assert EventKind.CRASHED not in kinds(events, "slow")
        assert host.plugins["slow"].restarts == 0

    @pytest.mark.parametrize(
        ("limit", "resources", "hog"),
        [
            ("memory_mb", "memory_mb = 200", "len(bytearray(1024 * 1024 * 1024))"),
            ("open_files", "open_files = 32", "len([open(__file__) for _ in range(100)])"),
            (
                "threads",
                "threads = 4",
                "[threading.Thread(target=time.sleep, args=(5,)).start() for _ in range(10)]",
            ),
        ],
    )
    def test_limit_named(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        limit: str,
        resources: str,
        hog: str,
    ) -> None:
        """A worker passing a limit in a call stops: the caller gets PluginCrashedError naming
        the limit, and so does the crashed event; the worker is restarted."""
        code = f"@hookimpl\ndef farewell(name):\n    import threading, time\n    return {hog}\n"
        build(factory, "hog", code=counter(more=code), resources=resources)
        host = make_host()
        with pytest.raises(PluginCrashedError) as caught:
            host.hook.farewell(name="x")
        assert caught.value.limit == limit
        wait_for(lambda: any(e.kind is EventKind.CRASHED for e in events))
        crashed = [e for e in events if e.kind is EventKind.CRASHED]
        assert crashed[0].step == limit
        assert limit in str(crashed[0].error)
        wait_for(lambda: serving(host, "hog", restarts=1))


class TestQuarantine:
    def test_crash_loop_ends_in_quarantine(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """restart_limit crashes within restart_window: quarantined, a problem filed, no more
        restarts, and calls get PluginCrashedError until host.restart() brings it back."""
        build(factory, "counter", code=counter())
        host = make_host(restart_limit=3, restart_window=60)
        for n in range(3):
            wait_for(lambda n=n: serving(host, "counter", restarts=n))
            with pytest.raises(PluginCrashedError):
                host.hook.greet(name="exit")
            wait_for(lambda n=n: kinds(events, "counter").count(EventKind.CRASHED) == n + 1)
        wait_for(lambda: EventKind.QUARANTINED in kinds(events, "counter"))
        info = host.plugins["counter"]
        assert info.quarantined
        assert info.pid is None
        assert info.restarts == 2
        assert [p.kind for p in host.problems()] == [ProblemKind.QUARANTINED]
        with pytest.raises(PluginCrashedError, match="quarantined"):
            host.hook.greet(name="a")
        # The operator's list says so too (it said "active" alone).
        wait_for(lambda: "active (quarantined)" in cli_row(host.home, "counter", "list"))
        time.sleep(0.3)
        assert kinds(events, "counter").count(EventKind.RESTARTED) == 2  # no more restarts
        host.restart("counter")
        wait_for(lambda: serving(host, "counter", restarts=3))
        assert not host.plugins["counter"].quarantined
        assert host.problems() == ()
        assert host.hook.greet(name="a")[0].startswith("hi a #1")

    def test_restart_through_the_control_folder(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """pluginhost restart NAME reaches a running host: a quarantined plugin comes back."""
        build(factory, "counter", code=counter())
        host = make_host(restart_limit=1)
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: host.plugins["counter"].quarantined)
        server = ControlServer(host, interval=0.02)
        server.start()
        try:
            answer = send_request(host.home, "restart", "counter", timeout=10)
        finally:
            server.stop()
        assert answer["ok"]
        wait_for(lambda: serving(host, "counter", restarts=1))
        factory.build("hello", code=greet_code("Hello"))
        wait_for(lambda: "hello" in host.plugins)
        with pytest.raises(HostStateError, match="not a process plugin"):
            host.restart("hello")

    def test_rollback_from_quarantine(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A quarantined version rolled back from: the earlier version serves in a new worker,
        and the quarantine's record goes with the version (a restart serves the earlier one)."""
        host = _quarantined_update(factory, make_host)
        info = host.rollback("counter")
        assert info.version == "1.0.0"
        assert info.pid is not None
        assert host.hook.greet(name="a")[0].startswith("v1 a")
        assert host.problems() == ()
        # The old version's worker, and its record, go once its calls drained.
        wait_for(lambda: "1.1.0" not in (host.home / "crash_loops.json").read_text())
        host.stop()
        assert serving(make_host(restart_limit=1), "counter")

    def test_new_version_brings_it_back(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A new version dropped while a version is quarantined serves in a new worker."""
        host = _quarantined_update(factory, make_host)
        build(factory, "counter", "1.2.0", code=counter("v3"))
        wait_for(lambda: host.plugins["counter"].version == "1.2.0")
        assert serving(host, "counter")
        assert host.hook.greet(name="a")[0].startswith("v3 a")
        assert host.problems() == ()
        # The old version's worker, and its record, go once its calls drained.
        wait_for(lambda: "1.1.0" not in (host.home / "crash_loops.json").read_text())

    def test_kept_across_a_restart_of_the_host(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A host restarted after a quarantine keeps the plugin quarantined: no worker starts
        (none of its code runs), calls get PluginCrashedError, the problem is filed; restart()
        brings it back with the state the host persisted, and a later start serves it."""
        build(factory, "counter", code=counter())
        host = make_host(restart_limit=1, persist_state=True, state_interval=0.05)
        host.hook.greet(name="a")
        wait_for(lambda: _saved(host, "counter") == {"count": 1})
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: host.plugins["counter"].quarantined)
        host.stop()
        again = make_host(restart_limit=1, persist_state=True)
        info = again.plugins["counter"]
        assert (info.quarantined, info.pid) == (True, None)
        assert [p.kind for p in again.problems()] == [ProblemKind.QUARANTINED]
        with pytest.raises(PluginCrashedError, match="quarantined"):
            again.hook.greet(name="b")
        again.restart("counter")
        wait_for(lambda: serving(again, "counter", restarts=1))
        assert again.hook.greet(name="b")[0].startswith("hi b #2")
        again.stop()
        third = make_host(restart_limit=1)
        assert serving(third, "counter")

    def test_window_forgets_old_crashes(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Crashes older than restart_window do not count towards the quarantine."""
        build(factory, "counter", code=counter())
        host = make_host(restart_limit=2, restart_window=0.2)
        for n in range(3):
            wait_for(lambda n=n: serving(host, "counter", restarts=n))
            time.sleep(0.3)
            with pytest.raises(PluginCrashedError):
                host.hook.greet(name="exit")
        wait_for(lambda: host.plugins["counter"].restarts == 3)
        assert not host.plugins["counter"].quarantined


class TestHostDeath:
    @pytest.mark.parametrize("busy", [False, True], ids=["idle", "in-a-call"])
    def test_kill_9_of_the_host_leaves_no_worker(self, tmp_path: Path, busy: bool) -> None:
        """A host process killed with SIGKILL leaves none of its workers behind, the one booted
        ahead included: an idle worker reads EOF, one busy in a long call (not reading its
        socket) gets the parent-death signal."""
        wheels = tmp_path / "wheels"
        nap = "@hookimpl\ndef farewell(name):\n    import time\n    time.sleep(60)\n"
        WheelFactory(wheels).build(
            "counter",
            code=counter(more=nap),
            manifest='[plugin]\nname = "counter"\nisolation = "process"\n',
        )
        script = textwrap.dedent(
            f"""
            import sys, threading, time
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            from hookspecs import greeter
            from pluginhost import PluginHost
            host = PluginHost(greeter.PROJECT, specs=[greeter.GreeterSpec],
                              home={str(tmp_path / "home")!r}, watch=[{str(wheels)!r}],
                              api_version=greeter.API_VERSION, environment=False)
            host.start()
            spares = host._engine.processes.spares()
            while spares.ready_pid is None:
                time.sleep(0.01)
            if {busy!r}:
                call = lambda: host.hook.farewell(name="x")
                threading.Thread(target=call, daemon=True).start()
                time.sleep(0.3)
            print(host.plugins["counter"].pid, spares.ready_pid, flush=True)
            time.sleep(60)
            """
        )
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        try:
            assert process.stdout is not None
            pids = [int(pid) for pid in process.stdout.readline().split()]
            assert len(pids) == 2
            assert all(alive(pid) for pid in pids)
        finally:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        assert all(wait_gone(pid, 5) for pid in pids)


class TestBackoff:
    def test_grows_and_is_capped(self) -> None:
        """Each crash in a row doubles the delay, up to BACKOFF_MAX, jittered in its top half."""
        lows = [backoff(n, rng=lambda: 0.0) for n in range(1, 6)]
        highs = [backoff(n, rng=lambda: 1.0) for n in range(1, 6)]
        assert all(b == 2 * a for a, b in itertools.pairwise(lows))
        assert all(h == 2 * low for low, h in zip(lows, highs, strict=True))
        assert backoff(100, rng=lambda: 1.0) == BACKOFF_MAX


def _quarantined_update(factory: WheelFactory, make_host: MakeHost) -> PluginHost:
    """A host whose counter 1.1.0, an update of 1.0.0, crashed into quarantine."""
    build(factory, "counter", code=counter("v1"))
    host = make_host(restart_limit=1)
    build(factory, "counter", "1.1.0", code=counter("v2"))
    wait_for(lambda: host.plugins["counter"].version == "1.1.0")
    with pytest.raises(PluginCrashedError):
        host.hook.greet(name="exit")
    wait_for(lambda: host.plugins["counter"].quarantined)
    assert "1.1.0" in (host.home / "crash_loops.json").read_text()
    return host


def _saved(host: PluginHost, name: str) -> object:
    """The state a process plugin's link keeps for its restart."""
    for link in host._engine.processes.live():
        if link.plugin == name:
            return link.state
    return None
