"""Hooks that no spec knows: unknown_hooks="warn" and "refuse" (pluginhost.host.hookcheck,
pluginhost.swap.hooks.unknown_hooks)."""

from __future__ import annotations

from collections.abc import Callable

import pluggy
import pytest
from conftest import greet_code

from pluginhost import Event, EventKind, PluginHost, PluginState, ProblemKind
from pluginhost.swap.hooks import unknown_hooks
from pluginhost.swap.switch import prepare
from pluginhost.testing import WheelFactory

TYPO = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def gret(name):
    return "typo"
"""

OPTIONAL = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl(optionalhook=True)
def later(name):
    return "later"
"""


class Plain:
    pass


def spec_pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("greeter")

    class Spec:
        @pluggy.HookspecMarker("greeter")
        def greet(self, name: str) -> str: ...

    pm.add_hookspecs(Spec)
    return pm


class TestUnknownHooks:
    def test_check_pending_semantics(self) -> None:
        """Unknown names are found, optionalhook is exempt, a spec added later counts."""
        hookimpl = pluggy.HookimplMarker("greeter")

        class Plugin:
            @hookimpl
            def greet(self, name: str) -> str:
                return name

            @hookimpl
            def gret(self, name: str) -> str:
                return name

            @hookimpl(optionalhook=True)
            def maybe(self) -> None: ...

        pm = spec_pm()
        impls = prepare(pm, Plugin(), "p")
        assert unknown_hooks(pm, [impls]) == ("gret",)

        class Later:
            @pluggy.HookspecMarker("greeter")
            def gret(self, name: str) -> str: ...

        pm.add_hookspecs(Later)
        assert unknown_hooks(pm, [impls]) == ()

    def test_no_hooks_at_all(self) -> None:
        """A plugin with no implementation at all is told as such."""
        assert unknown_hooks(spec_pm(), [prepare(spec_pm(), Plain(), "p")]) == ("(none)",)

    def test_no_hooks_on_a_manager_announcing_plugins(self) -> None:
        """A manager with a historic ``<project>_plugin_registered`` hook (pytest's) tells
        its listeners of each plugin, which use more of it than its hooks (pytest's fixtures):
        no hook at all is then nothing to tell. An announcement hook that is not historic
        announces nothing (the switch tells only a historic one), so it is still told."""
        for historic, told in ((True, ()), (False, ("(none)",))):
            pm = spec_pm()

            class Announce:
                @pluggy.HookspecMarker("greeter")(historic=historic)
                def greeter_plugin_registered(self, plugin: object) -> None: ...

            pm.add_hookspecs(Announce)
            assert unknown_hooks(pm, [prepare(pm, Plain(), "p")]) == told


class TestWarn:
    def test_typo_loads_with_an_event_and_a_problem(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """warn (the default): it loads; an event and a problem name the hook."""
        factory.build("typo", code=TYPO)
        host = make_host()
        assert host.load_order() == ("typo",)
        warnings = [e for e in events if e.kind is EventKind.UNKNOWN_HOOKS]
        assert [(e.plugin, e.error) for e in warnings] == [
            ("typo", "implements hooks that no spec of the host knows: gret")
        ]
        kinds = [e.kind for e in events if e.plugin == "typo"]
        assert kinds.index(EventKind.UNKNOWN_HOOKS) == kinds.index(EventKind.LOADED) + 1
        (problem,) = host.problems()
        assert problem.kind is ProblemKind.UNKNOWN_HOOKS
        assert "gret" in problem.message

    def test_no_hooks_at_all(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A plugin with no hook at all loads, with a warning saying so."""
        factory.build("empty", code="")
        host = make_host()
        assert host.load_order() == ("empty",)
        assert [e.error for e in events if e.kind is EventKind.UNKNOWN_HOOKS] == [
            "implements no hook at all"
        ]

    def test_optionalhook_is_exempt(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """An optionalhook is no warning."""
        factory.build("later", code=OPTIONAL)
        host = make_host()
        assert host.load_order() == ("later",)
        assert host.problems() == ()
        assert EventKind.UNKNOWN_HOOKS not in {e.kind for e in events}

    def test_a_good_plugin_says_nothing(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """A plugin whose hooks all have specs has no problem."""
        factory.build("hello", code=greet_code("hi"))
        assert make_host().problems() == ()

    def test_the_problem_goes_with_the_plugin(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """Once the plugin is disabled, its warning is no longer a problem."""
        factory.build("typo", code=TYPO)
        host = make_host()
        host.disable("typo")
        assert {p.kind for p in host.problems()} == {ProblemKind.DISABLED}


class TestRefuse:
    @pytest.mark.parametrize(
        ("code", "reason"),
        [
            (TYPO, "implements hooks that no spec of the host knows: gret"),
            ("", "implements no hook at all"),
        ],
    )
    def test_refused(
        self,
        make_host: Callable[..., PluginHost],
        factory: WheelFactory,
        code: str,
        reason: str,
    ) -> None:
        """refuse: not loaded, failed at register with the reason."""
        factory.build("typo", code=code)
        host = make_host(unknown_hooks="refuse")
        assert host.load_order() == ()
        info = host.plugins["typo"]
        assert info.state is PluginState.FAILED
        assert info.error is not None
        assert reason in info.error
        assert "unknown_hooks='refuse'" in info.error

    def test_good_plugins_load(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """refuse does not touch plugins whose hooks are known, optional ones included."""
        factory.build("hello", code=greet_code("hi"))
        factory.build("later", code=OPTIONAL)
        assert make_host(unknown_hooks="refuse").load_order() == ("hello", "later")
