"""The drain: calls in flight on switched-out hook implementations, told from references kept
by something that is not a running call."""

from __future__ import annotations

import builtins
import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from pluginhost import Event, EventKind, PluginHost, Timeouts
from pluginhost.swap.drain import _CALL_LOOP, Drained, drain, in_flight, running
from pluginhost.swap.switch import Implementations, implementations_of, prepare, switch
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

hookspec = pluggy.HookspecMarker("draintest")
hookimpl = pluggy.HookimplMarker("draintest")


class Spec:
    @hookspec
    def ping(self, x: int) -> str:  # type: ignore[empty-body]
        ...

    @hookspec
    def other(self) -> str:  # type: ignore[empty-body]
        ...


class Plugin:
    """Answers ``ping``; raises for ``x < 0``; blocks on ``gate`` for ``x == 0``."""

    def __init__(self, tag: str, gate: threading.Event | None = None) -> None:
        self.tag = tag
        self.gate = gate or threading.Event()

    @hookimpl
    def ping(self, x: int) -> str:
        if x < 0:
            raise RuntimeError("boom")
        if x == 0:
            self.gate.wait(30)
        return f"ping-{self.tag}"


class Blocker:
    """Blocks in ``other`` until its gate opens: a call that runs no swapped plugin."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    @hookimpl
    def other(self) -> str:
        self.gate.wait(30)
        return "other"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("draintest")
    manager.add_hookspecs(Spec)
    return manager


def add(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    switch(pm, [], [prepare(pm, plugin, name)])


def switch_out(pm: pluggy.PluginManager, name: str) -> Implementations:
    old = implementations_of(pm, name)
    switch(pm, [old], [])
    return old


def started(target: Callable[[], object]) -> threading.Thread:
    """A thread running ``target``, given time to get into its hook call."""
    thread = threading.Thread(target=target)
    thread.start()
    time.sleep(0.1)
    return thread


def raised(call: Callable[[], object]) -> BaseException:
    with pytest.raises(RuntimeError) as info:
        call()
    return info.value


class TestDrain:
    def test_waits_for_call_in_flight(self, pm: pluggy.PluginManager) -> None:
        """drain() returns only once a call that started before the switch has returned."""
        plugin = Plugin("slow")
        add(pm, plugin, "p")
        finished: list[float] = []
        caller = started(lambda: finished.append((pm.hook.ping(x=0), time.monotonic())[1]))
        old = implementations_of(pm, "p")
        switch(pm, [old], [prepare(pm, Plugin("fast"), "p")])
        assert in_flight([old]) > 0
        threading.Timer(0.3, plugin.gate.set).start()
        assert drain([old], timeout=5) is Drained.DRAINED
        drained_at = time.monotonic()
        caller.join()
        assert finished[0] <= drained_at
        assert in_flight([old]) == 0
        assert pm.hook.ping(x=1) == ["ping-fast"]

    def test_times_out(self, pm: pluggy.PluginManager) -> None:
        """drain() gives up at its timeout while a call is still running, then drains."""
        plugin = Plugin("slow")
        add(pm, plugin, "p")
        caller = started(lambda: pm.hook.ping(x=0))
        old = switch_out(pm, "p")
        assert drain([old], timeout=0.1) is Drained.TIMED_OUT
        plugin.gate.set()
        caller.join()
        assert drain([old], timeout=1) is Drained.DRAINED

    def test_idle_plugin_drains_at_once(self, pm: pluggy.PluginManager) -> None:
        """With no call in flight, a switched-out plugin is drained immediately."""
        add(pm, Plugin("a"), "p")
        old = switch_out(pm, "p")
        assert in_flight([old]) == 0
        assert drain([old], timeout=0) is Drained.DRAINED

    def test_kept_exception_is_not_waited_for(self, pm: pluggy.PluginManager) -> None:
        """An exception raised by the old version and kept is no call in flight: the drain
        ends at once and says the old version is kept."""
        add(pm, Plugin("a"), "p")
        kept = raised(lambda: pm.hook.ping(x=-1))
        old = switch_out(pm, "p")
        assert in_flight([old]) > 0
        start = time.monotonic()
        assert drain([old], timeout=5) is Drained.KEPT
        assert time.monotonic() - start < 2
        del kept
        gc.collect()
        assert drain([old], timeout=5) is Drained.DRAINED

    def test_garbage_traceback_is_not_collected(self, pm: pluggy.PluginManager) -> None:
        """A traceback cycle left by a raising hook, garbage not yet collected, does not make
        the drain wait, and the drain does not collect it: a full collection would pause
        every caller. The drain ends at once; the collector frees the cycle later."""
        add(pm, Plugin("a"), "p")
        collections: list[str] = []

        def seen(phase: str, info: dict[str, int]) -> None:
            collections.append(phase)

        gc.disable()
        gc.callbacks.append(seen)
        try:
            raised(lambda: pm.hook.ping(x=-1))
            old = switch_out(pm, "p")
            assert in_flight([old]) > 0
            start = time.monotonic()
            assert drain([old], timeout=5) is Drained.KEPT
            assert time.monotonic() - start < 2
            assert collections == []
            gc.collect()
            assert in_flight([old]) == 0
        finally:
            gc.callbacks.remove(seen)
            gc.enable()

    def test_running_call_with_kept_exception_waits(self, pm: pluggy.PluginManager) -> None:
        """A call in flight makes the drain wait even when a kept exception also holds the old
        version; once the call returns, the drain reports what still keeps it."""
        plugin = Plugin("a")
        add(pm, plugin, "p")
        kept = raised(lambda: pm.hook.ping(x=-1))
        caller = started(lambda: pm.hook.ping(x=0))
        old = switch_out(pm, "p")
        assert drain([old], timeout=0.3) is Drained.TIMED_OUT
        plugin.gate.set()
        caller.join()
        assert drain([old], timeout=5) is Drained.KEPT
        del kept

    def test_unrelated_call_is_not_waited_for(self, pm: pluggy.PluginManager) -> None:
        """A hook call running only other plugins does not count as a call in flight."""
        blocker = Blocker()
        add(pm, blocker, "blocker")
        add(pm, Plugin("a"), "p")
        kept = raised(lambda: pm.hook.ping(x=-1))
        caller = started(pm.hook.other)
        try:
            old = switch_out(pm, "p")
            assert not running([old])
            start = time.monotonic()
            assert drain([old], timeout=5) is Drained.KEPT
            assert time.monotonic() - start < 2
        finally:
            blocker.gate.set()
            caller.join()
        del kept

    def test_running_sees_call_in_flight(self, pm: pluggy.PluginManager) -> None:
        """running() finds a call blocked in the old version on another thread."""
        plugin = Plugin("a")
        add(pm, plugin, "p")
        caller = started(lambda: pm.hook.ping(x=0))
        old = switch_out(pm, "p")
        try:
            assert running([old])
        finally:
            plugin.gate.set()
            caller.join()
        assert not running([old])

    def test_pluggy_call_loop_names_its_list(self) -> None:
        """pluggy's call loop still takes the implementation list the drain reads."""
        assert "hook_impls" in _CALL_LOOP.co_varnames[: _CALL_LOOP.co_argcount]


PLUGIN = """
import builtins
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    if name == "boom":
        raise RuntimeError("boom")
    if name == "block":
        builtins._drain_gate.wait(30)
    return "{version}"
"""


def plugin(version: str) -> str:
    return PLUGIN.format(version=version)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """The event the test plugins block on (shared through builtins), opened at the end."""
    event = threading.Event()
    builtins._drain_gate = event  # type: ignore[attr-defined]
    yield event
    event.set()
    del builtins._drain_gate  # type: ignore[attr-defined]


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    """Builds wheels outside the watched folder."""
    return WheelFactory(tmp_path / "outside", group="greeter.plugins")


def timed_install(host: PluginHost, wheel: Path) -> float:
    start = time.monotonic()
    host.install(wheel)
    return time.monotonic() - start


def kinds(events: list[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind is kind]


class TestDrainThroughHost:
    def test_kept_exception_is_not_a_call_in_flight(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
    ) -> None:
        """An exception raised by the old version and kept by the application does not make
        the drain wait: the update finishes at once, and the leak check says the old version
        is still held."""
        factory.build("hello", "1.0.0", code=plugin("1.0.0"))
        host = make_host(timeouts=Timeouts(drain=5))
        kept = raised(lambda: host.hook.greet(name="boom"))
        took = timed_install(host, outside.build("hello", "1.1.0", code=plugin("1.1.0")))
        assert host.hook.greet(name="x") == ["1.1.0"]
        assert took < 2
        assert kinds(events, EventKind.DRAIN_TIMEOUT) == []
        [updated] = kinds(events, EventKind.UPDATED)
        assert updated.error is None
        [leaked] = host.check_leaks()
        assert (leaked.kind, leaked.plugin, leaked.version) == (EventKind.LEAKED, "hello", "1.0.0")
        assert "modules still referenced after unload" in (leaked.error or "")
        assert kinds(events, EventKind.LEAKED) == [leaked]
        del kept

    def test_raised_and_forgotten_is_drained(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
    ) -> None:
        """A hook that raised, its exception dropped but its traceback cycle not collected
        yet, does not make the drain wait, and the update reports nothing wrong."""
        factory.build("hello", "1.0.0", code=plugin("1.0.0"))
        host = make_host(timeouts=Timeouts(drain=5))
        gc.disable()
        try:
            raised(lambda: host.hook.greet(name="boom"))
            took = timed_install(host, outside.build("hello", "1.1.0", code=plugin("1.1.0")))
        finally:
            gc.enable()
        assert took < 2
        assert kinds(events, EventKind.DRAIN_TIMEOUT) == []
        [updated] = kinds(events, EventKind.UPDATED)
        assert updated.error is None
        assert host.check_leaks() == []  # garbage, freed by the collection: nothing held it

    def test_call_in_flight_is_waited_for(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        gate: threading.Event,
    ) -> None:
        """A call blocked in the old version makes the drain wait its timeout and report
        drain_timeout; released, the call finishes on the old version."""
        factory.build("hello", "1.0.0", code=plugin("1.0.0"))
        host = make_host(timeouts=Timeouts(drain=0.5))
        answers: list[list[str]] = []
        caller = started(lambda: answers.append(host.hook.greet(name="block")))
        took = timed_install(host, outside.build("hello", "1.1.0", code=plugin("1.1.0")))
        assert took >= 0.5
        assert [e.plugin for e in kinds(events, EventKind.DRAIN_TIMEOUT)] == ["hello"]
        assert host.hook.greet(name="x") == ["1.1.0"]
        assert caller.is_alive()
        gate.set()
        caller.join(5)
        assert answers == [["1.0.0"]]
