"""One lifecycle hook of one plugin, called outside pluggy's broadcast."""

from __future__ import annotations

import threading

import pluggy
import pytest

from hookspecs.lifecycle import lifecycle_specs
from pluginhost.model.errors import ActivationError
from pluginhost.swap.hooks import bounded_hook, call_hook, implements
from pluginhost.swap.switch import Implementations, prepare

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
