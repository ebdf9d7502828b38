"""Atomic switches on a pluggy PluginManager, and their undo."""

from __future__ import annotations

import threading
import time

import pluggy
import pytest

from hookspecs.lifecycle import lifecycle_specs
from pluginhost import ActivationError
from pluginhost.swap.switch import implementations_of, prepare, switch

hookspec = pluggy.HookspecMarker("swaptest")
hookimpl = pluggy.HookimplMarker("swaptest")


class Spec:
    @hookspec
    def ping(self, x: int) -> str:  # type: ignore[empty-body]
        ...

    @hookspec
    def pong(self, y: int) -> str:  # type: ignore[empty-body]
        ...

    @hookspec(historic=True)
    def configure(self, value: int) -> None: ...


class Plugin:
    def __init__(self, tag: str, delay: float = 0.0) -> None:
        self.tag = tag
        self.delay = delay
        self.configured: list[int] = []

    @hookimpl
    def ping(self, x: int) -> str:
        time.sleep(self.delay)
        return f"ping-{self.tag}"

    @hookimpl
    def pong(self, y: int) -> str:
        return f"pong-{self.tag}"

    @hookimpl
    def configure(self, value: int) -> None:
        self.configured.append(value)

    @hookimpl
    def pluginhost_health(self) -> str:
        return f"healthy-{self.tag}"


class HalfBad:
    @hookimpl
    def ping(self, x: int) -> str:
        return "fine"

    @hookimpl
    def pong(self, y: int, extra: int) -> str:
        return "bad"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("swaptest")
    manager.add_hookspecs(Spec)
    manager.add_hookspecs(lifecycle_specs("swaptest"))
    return manager


def add(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    switch(pm, [], [prepare(pm, plugin, name)])


class TestPrepare:
    def test_validation_changes_nothing(self, pm: pluggy.PluginManager) -> None:
        """A plugin with one invalid hook fails validation before anything is registered."""
        add(pm, Plugin("a"), "a")
        with pytest.raises(pluggy.PluginValidationError, match="extra"):
            prepare(pm, HalfBad(), "half")
        assert pm.hook.ping(x=1) == ["ping-a"]
        assert pm.get_plugin("half") is None

    def test_collects_every_hook(self) -> None:
        """prepare() finds every hookimpl of the plugin, lifecycle hooks included."""
        manager = pluggy.PluginManager("swaptest")
        found = prepare(manager, Plugin("a"), "a")
        assert sorted(name for name, _ in found.impls) == [
            "configure",
            "ping",
            "pluginhost_health",
            "pong",
        ]


class TestSwitch:
    def test_register_replace_unregister(self, pm: pluggy.PluginManager) -> None:
        """A switch adds, replaces or removes a plugin in every hook, and its name."""
        add(pm, Plugin("a"), "p")
        add(pm, Plugin("other"), "o")
        b = Plugin("b")
        switch(pm, [implementations_of(pm, "p")], [prepare(pm, b, "p")])
        assert sorted(pm.hook.ping(x=1)) == ["ping-b", "ping-other"]
        assert sorted(pm.hook.pong(y=1)) == ["pong-b", "pong-other"]
        assert pm.get_plugin("p") is b
        switch(pm, [implementations_of(pm, "p")], [])
        assert pm.hook.ping(x=1) == ["ping-other"]
        assert pm.get_plugin("p") is None

    def test_undo_restores_exactly(self, pm: pluggy.PluginManager) -> None:
        """undo() puts back the same implementation lists, in the same order, and the names."""
        a = Plugin("a")
        add(pm, a, "p")
        add(pm, Plugin("other"), "o")
        before = {h: list(getattr(pm.hook, h).get_hookimpls()) for h in ("ping", "pong")}
        done = switch(pm, [implementations_of(pm, "p")], [prepare(pm, Plugin("b"), "p")])
        done.undo()
        after = {h: list(getattr(pm.hook, h).get_hookimpls()) for h in ("ping", "pong")}
        assert after == before
        assert pm.get_plugin("p") is a

    def test_undo_keeps_other_plugins_registered(self, pm: pluggy.PluginManager) -> None:
        """undo() of a switch of one plugin leaves every other plugin's name registered."""
        other = Plugin("other")
        add(pm, other, "o")
        add(pm, Plugin("a"), "p")
        switch(pm, [implementations_of(pm, "p")], [prepare(pm, Plugin("b"), "p")]).undo()
        assert pm.get_plugin("o") is other
        assert sorted(name for name, _ in pm.list_name_plugin()) == ["o", "p"]
        switch(pm, [], [prepare(pm, Plugin("new"), "n")]).undo()
        assert sorted(name for name, _ in pm.list_name_plugin()) == ["o", "p"]

    def test_historic_replayed_for_new(self, pm: pluggy.PluginManager) -> None:
        """A new plugin receives earlier calls of historic hooks, as pluggy's register does."""
        pm.hook.configure.call_historic(kwargs={"value": 7})
        late = Plugin("late")
        add(pm, late, "late")
        assert late.configured == [7]

    def test_failing_history_undoes_the_switch(self, pm: pluggy.PluginManager) -> None:
        """A new plugin raising when given an earlier historic call fails the switch, undone."""

        class Fussy(Plugin):
            @hookimpl
            def configure(self, value: int) -> None:
                raise ValueError("not that value")

        add(pm, Plugin("a"), "p")
        pm.hook.configure.call_historic(kwargs={"value": 7})
        with pytest.raises(ActivationError, match="not that value") as caught:
            switch(pm, [implementations_of(pm, "p")], [prepare(pm, Fussy("b"), "p")])
        assert caught.value.step == "register"
        assert pm.hook.ping(x=1) == ["ping-a"]

    def test_name_of_the_application_refused(self, pm: pluggy.PluginManager) -> None:
        """A new plugin named like a plugin the application registered is refused, and the
        application's plugin keeps its name and its hooks."""
        own = Plugin("own")
        pm.register(own, "p")
        with pytest.raises(ActivationError, match="already has a plugin named 'p'"):
            add(pm, Plugin("a"), "p")
        assert pm.get_plugin("p") is own
        assert pm.hook.ping(x=1) == ["ping-own"]

    def test_one_object_under_two_names_refused(self, pm: pluggy.PluginManager) -> None:
        """Two entry points naming one object (a plugin's module): refused, as pluggy's
        register refuses the second; its hooks would be called twice."""
        one = Plugin("a")
        with pytest.raises(ActivationError, match="'q' names the object that 'p' names already"):
            switch(pm, [], [prepare(pm, one, "p"), prepare(pm, one, "q")])
        assert pm.hook.ping(x=1) == []

    def test_blocked_name_refused(self, pm: pluggy.PluginManager) -> None:
        """A new plugin whose name the application blocked (``-p no:NAME``) is refused."""
        pm.set_blocked("p")
        with pytest.raises(ActivationError, match="blocks the name 'p'"):
            add(pm, Plugin("a"), "p")
        assert pm.is_blocked("p")
        assert pm.hook.ping(x=1) == []

    def test_concurrent_calls_never_see_a_mix(self, pm: pluggy.PluginManager) -> None:
        """Calls racing 300 switches always see exactly one version of the swapped plugin."""
        add(pm, Plugin("v0"), "p")
        add(pm, Plugin("other"), "o")
        bad: list[list[str]] = []
        stop = threading.Event()

        def call() -> None:
            while not stop.is_set():
                result = pm.hook.ping(x=1)
                if len(result) != 2 or "ping-other" not in result:
                    bad.append(result)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        for index in range(1, 301):
            switch(pm, [implementations_of(pm, "p")], [prepare(pm, Plugin(f"v{index}"), "p")])
        stop.set()
        for t in threads:
            t.join()
        assert bad == []
        assert sorted(pm.hook.ping(x=1)) == ["ping-other", "ping-v300"]
