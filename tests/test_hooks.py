"""One lifecycle hook of one plugin, called outside pluggy's broadcast."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pluggy
import pytest
from conftest import counter_code

from hookspecs.lifecycle import lifecycle_specs
from pluginhost import Event, EventKind, PluginHost
from pluginhost.model.errors import ActivationError
from pluginhost.swap.hooks import bounded_hook, call_hook, implements, lifecycle_faults
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


def _failed(events: list[Event]) -> Any:
    return next((e for e in events if e.kind is EventKind.LOAD_FAILED), None)
