"""One lifecycle hook of one plugin, called outside pluggy's broadcast."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pluggy
import pytest
from conftest import counter_code

from hookspecs.lifecycle import lifecycle_specs
from pluginhost import Event, EventKind, PluginHost, Timeouts
from pluginhost.model.errors import ActivationError
from pluginhost.swap.hooks import (
    bounded_hook,
    call_hook,
    implements,
    json_state,
    lifecycle_faults,
)
from pluginhost.swap.switch import Implementations, prepare
from pluginhost.testing import WheelFactory

hookspec = pluggy.HookspecMarker("hookstest")
hookimpl = pluggy.HookimplMarker("hookstest")


class Spec:
    @hookspec
    def ping(self, x: int) -> str:  # type: ignore[empty-body]
        ...


class Plugin:
    def __init__(self) -> None:
        self.gate = threading.Event()

    @hookimpl
    def ping(self, x: int) -> str:
        return "ping"

    @hookimpl
    def pluginhost_health(self) -> str:
        return "healthy"

    @hookimpl
    def pluginhost_deactivate(self, host: object) -> None:
        self.gate.wait(10)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("hookstest")
    manager.add_hookspecs(Spec)
    manager.add_hookspecs(lifecycle_specs("hookstest"))
    return manager


class TestCallHook:
    def test_calls_one_plugin_unregistered(self, pm: pluggy.PluginManager) -> None:
        """call_hook runs one plugin's lifecycle hook, registered or not; None if absent."""
        impls = prepare(pm, Plugin(), "solo")
        assert implements(impls, "pluginhost_health")
        assert not implements(impls, "pluginhost_activate")
        assert call_hook(impls, "pluginhost_health") == "healthy"
        assert call_hook(impls, "pluginhost_activate", host=None) is None
        assert pm.hook.ping(x=1) == []


class TestBoundedHook:
    def test_hook_not_implemented_needs_no_helper(self) -> None:
        """A lifecycle hook the plugin lacks answers None at once: no helper, no timeout."""
        plain = Implementations("plain", object(), ())
        assert bounded_hook(plain, "pluginhost_health", 0.0, "health") is None

    def test_overrun_fails_its_step(self, pm: pluggy.PluginManager) -> None:
        """A hook that outlives its timeout fails with an ActivationError naming the step."""
        plugin = Plugin()
        impls = prepare(pm, plugin, "slow")
        try:
            with pytest.raises(ActivationError, match="did not finish") as err:
                bounded_hook(impls, "pluginhost_deactivate", 0.05, "deactivate", host=None)
        finally:
            plugin.gate.set()
        assert err.value.step == "deactivate"


class Wrapper:
    @hookimpl(wrapper=True)
    def pluginhost_activate(self, host: object) -> Iterator[None]:
        return (yield)


class Async:
    @hookimpl
    async def pluginhost_import_state(self, state: object, previous_version: str) -> None:
        pass


class Generator:
    @hookimpl
    def pluginhost_export_state(self) -> Iterator[int]:
        yield 1


class Twice:
    @hookimpl(specname="pluginhost_health")
    def first(self) -> bool:
        return True

    @hookimpl(specname="pluginhost_health")
    def second(self) -> bool:
        return True


class TestLifecycleFaults:
    @pytest.mark.parametrize(
        ("plugin", "fault"),
        [
            (Wrapper, "pluginhost_activate is a hook wrapper: a lifecycle hook is called alone"),
            (Async, "pluginhost_import_state is async: a lifecycle hook is called, never awaited"),
            (Generator, "pluginhost_export_state is a generator function"),
            (Twice, "implements pluginhost_health twice (first and second)"),
        ],
    )
    def test_each_fault_named(
        self, pm: pluggy.PluginManager, plugin: Callable[[], object], fault: str
    ) -> None:
        """Lifecycle hooks that a call would skip (they were, without a word) are named."""
        [found] = lifecycle_faults(prepare(pm, plugin(), "bad"))
        assert found.startswith(fault)

    def test_plain_hooks_pass(self, pm: pluggy.PluginManager) -> None:
        assert lifecycle_faults(prepare(pm, Plugin(), "good")) == []

    def test_update_refused_and_old_version_serves(
        self, factory: WheelFactory, make_host: Callable[..., PluginHost], events: list[Event]
    ) -> None:
        """An update whose import_state is async is refused at register: the version serving
        keeps serving, with its state (its state would have gone nowhere)."""
        factory.build("hello", "1.0.0", code=counter_code("1.0.0"))
        host = make_host(settle=0.05)
        assert host.hook.greet(name="a") == ["1.0.0:1"]
        code = counter_code("1.1.0").replace(
            "def pluginhost_import_state", "async def pluginhost_import_state"
        )
        factory.build("hello", "1.1.0", code=code)
        assert host.wait_idle(20)
        failed = _failed(events)
        assert failed is not None, [e.kind for e in events]
        assert failed.version == "1.1.0"
        assert "pluginhost_import_state is async" in str(failed.error)
        assert host.plugins["hello"].version == "1.0.0"
        assert host.hook.greet(name="a") == ["1.0.0:2"]


class Exporting:
    """A plugin whose exported state is whatever the test puts in ``state``."""

    def __init__(self, state: object) -> None:
        self.state = state

    @hookimpl
    def pluginhost_export_state(self) -> object:
        return self.state


def shared(times: int) -> list[Any]:
    """``times`` lists, each holding the one before twice: 2**times of them written out."""
    value: list[Any] = []
    for _ in range(times):
        value = [value, value]
    return value


SHARED_STATE = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return "hi " + name

@hookimpl
def pluginhost_export_state():
    value = []
    for _ in range(40):
        value = [value, value]  # 40 small lists; as JSON, 2**41 of them
    return {"cache": value}
"""


class TestJsonState:
    def test_ordinary_state_is_the_registrys_copy(self, pm: pluggy.PluginManager) -> None:
        """An ordinary state comes back as the registry decodes it: tuples as lists."""
        impls = prepare(pm, Exporting({"n": (1, 2), "s": "x"}), "solo")
        assert json_state([impls]) == {"n": [1, 2], "s": "x"}

    @pytest.mark.parametrize(
        ("state", "reason"),
        [
            (shared(40), "it holds more than 1,000,000 values once written out"),
            (["x" * 1_000_000] * 40, "it takes more than 33,554,432 characters once written"),
            (shared(20), "it holds more than 1,000,000 values"),  # 2**21 lists written out
        ],
    )
    def test_too_large_once_written_out(
        self, pm: pluggy.PluginManager, state: object, reason: str
    ) -> None:
        """A state that would be too large once written out is refused, measured in a blink."""
        impls = prepare(pm, Exporting(state), "solo")
        started = time.monotonic()
        with pytest.raises(ValueError, match=f"^the state cannot be saved: {reason}"):
            json_state([impls])
        assert time.monotonic() - started < 2

    def test_state_that_contains_itself(self, pm: pluggy.PluginManager) -> None:
        """A state that contains itself is refused: JSON cannot write it."""
        loop: list[Any] = []
        loop.append({"again": loop})
        impls = prepare(pm, Exporting(loop), "solo")
        with pytest.raises(ValueError, match=r"^the state cannot be saved: it contains itself$"):
            json_state([impls])

    def test_start_returns_and_plugin_serves(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """With persist_state, a state sharing its parts (2**41 lists as JSON) no longer hangs
        start and every commit: it is logged as not saved, and the plugin serves."""
        factory.build("dag", code=SHARED_STATE)
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            started = time.monotonic()
            host = make_host(persist_state=True, timeouts=Timeouts(activate=5))
            assert time.monotonic() - started < 5
            assert host.hook.greet(name="a") == ["hi a"]
            host.stop()
        reason = (
            "plugin dag: state not saved: export_state failed: ValueError: the state cannot be "
            "saved: it holds more than 1,000,000 values once written out"
        )
        assert caplog.text.count(reason) == 2, caplog.text  # the commit at start, and at stop
        registry = json.loads((host.home / "registry.json").read_text())
        assert [r["candidate"]["name"] for r in registry["data"]["active"]] == ["dag"]
        assert "dag" not in registry["data"].get("state", {})


def _failed(events: list[Event]) -> Any:
    return next((e for e in events if e.kind is EventKind.LOAD_FAILED), None)
