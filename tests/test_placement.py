"""Where the host's plugins go among an adopted manager's own plugins: as the application's
own loading would have put them, checked against pluggy registering the same objects in that
order, through swaps and removals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
from conftest import greet_code

from hookspecs import greeter
from pluginhost import PluginHost, SettingsError
from pluginhost.swap.placement import Placement, registration_order
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


class Builtin:
    """An application's own plugin answering ``greet`` with its name."""

    def __init__(self, name: str, **opts: bool) -> None:
        self.name = name

        @greeter.hookimpl(**opts)
        def greet(name: str) -> str:
            return self.name

        self.greet = greet


def app_manager(*builtins: Builtin) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(greeter.PROJECT)
    pm.add_hookspecs(greeter.GreeterSpec)
    for builtin in builtins:
        pm.register(builtin, name=builtin.name)
    return pm


def order(pm: pluggy.PluginManager) -> list[str]:
    """The plugins ``greet`` calls, in the order it calls them."""
    return [str(answer) for answer in pm.hook.greet(name="x")]


def native(plugins: list[str], before: list[Builtin], after: list[Builtin]) -> list[str]:
    """What pluggy calls when the application registers ``before``, loads ``plugins``, then
    registers ``after``."""
    pm = app_manager(*before)
    for name in plugins:
        pm.register(Builtin(name), name=name)
    for builtin in after:
        pm.register(builtin, name=builtin.name)
    return order(pm)


OPTIONS: dict[str, dict[str, bool]] = {
    "plain": {},
    "tryfirst": {"tryfirst": True},
    "trylast": {"trylast": True},
}


@pytest.mark.parametrize("opts", OPTIONS, ids=list(OPTIONS))
def test_application_first_calls_the_plugins_after_every_builtin(
    opts: str, factory: WheelFactory, make_host: MakeHost
) -> None:
    """datasette, llm and tox register their built-ins after the plugins they load: with
    ``application_first`` the host's plugins take that place, through a swap too."""
    builtins = [Builtin("b1", **OPTIONS[opts]), Builtin("b2")]
    pm = app_manager(*builtins)
    factory.build("p1", code=greet_code("p1"))
    factory.build("p2", code=greet_code("p2"))
    host = make_host(manager=pm, application_first=True)
    expected = native(["p1", "p2"], [], [Builtin("b1", **OPTIONS[opts]), Builtin("b2")])
    assert order(pm) == expected
    assert order(pm)[0] in ("b1", "b2")  # a built-in answers first
    factory.build("p1", "1.1.0", code=greet_code("p1"))
    assert host.wait_idle(20)
    assert host.plugins["p1"].version == "1.1.0"
    # Swapped, p1 is registered again after p2, as a plugin pluggy registers again is.
    assert order(pm) == native(["p2", "p1"], [], [Builtin("b1", **OPTIONS[opts]), Builtin("b2")])


def test_the_host_stands_for_the_moment_it_is_made(
    factory: WheelFactory, make_host: MakeHost
) -> None:
    """By default the plugins go where an application loading them when the host is made
    would put them: above its earlier plugins, beneath its later ones (pytest's capture
    manager, registered by ``config.parse()``), and stay there when swapped."""
    pm = app_manager(Builtin("early"))
    factory.build("p", code=greet_code("p"))
    host = make_host(manager=pm, start=False)
    pm.register(Builtin("late"), name="late")
    host.start()
    assert (
        order(pm) == ["late", "p", "early"] == native(["p"], [Builtin("early")], [Builtin("late")])
    )
    factory.build("p", "1.1.0", code=greet_code("p"))
    assert host.wait_idle(20)
    assert host.plugins["p"].version == "1.1.0"
    assert order(pm) == ["late", "p", "early"]
    host.remove("p")
    assert order(pm) == ["late", "early"]


def test_a_fresh_manager_keeps_the_plugins_on_top(
    factory: WheelFactory, make_host: MakeHost
) -> None:
    """A manager the host made is the host's: a plugin the application registers in it is
    called after the host's (as before), and no placement is computed."""
    factory.build("p", code=greet_code("p"))
    host = make_host(start=False, application_first=True)
    host.plugin_manager.register(Builtin("mine"), name="mine")
    host.start()
    assert order(host.plugin_manager) == ["p", "mine"]


def test_application_first_must_be_a_boolean(make_host: MakeHost) -> None:
    with pytest.raises(SettingsError, match="application_first"):
        make_host(start=False, application_first="yes")


def test_registration_order_puts_a_list_back() -> None:
    """Registering a hook list's implementations again, in :func:`registration_order`,
    gives the same list: pluggy puts trylast ones first among them."""
    pm = app_manager(
        Builtin("a", trylast=True),
        Builtin("b"),
        Builtin("c", trylast=True),
        Builtin("d", tryfirst=True),
        Builtin("e"),
    )
    listed = pm.hook.greet.get_hookimpls()
    scratch = pluggy.HookCaller("greet", pm._hookexec)
    for impl in registration_order(listed):
        scratch._add_hookimpl(impl)
    assert scratch.get_hookimpls() == listed


def test_placement_of_names_what_the_manager_holds(tmp_path: Path) -> None:
    pm = app_manager(Builtin("x"), Builtin("y"))
    assert Placement.of(pm) == Placement(frozenset({"x", "y"}))
    assert Placement.of(pm, application_first=True).application_first
