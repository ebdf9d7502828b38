"""The names a plugin module's hook implementations are collected from
(``swap/attributes.py``): the same implementations as pluggy's own ``register`` finds, with
the names that cannot be one passed over."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from pluginhost.swap.attributes import hook_candidates
from pluginhost.swap.switch import prepare

hookspec = pluggy.HookspecMarker("attrtest")

_SOURCE = """
import os
import pluggy
from os import path as os_path

hookimpl = pluggy.HookimplMarker("attrtest")
other_marker = pluggy.HookimplMarker("someoneelse")
COUNT = 3
NAMES = ["a", "b"]
TABLE = {"k": 1}
NOTHING = None


@hookimpl
def ping():
    return "ping"


@hookimpl(tryfirst=True, specname="ping")
def ping_first():
    return "first"


@other_marker
def pong():
    return "not ours"


def helper():
    return 1


class Plugin:
    @hookimpl
    def ping(self):
        return "class"


class Callable:
    attrtest_impl = {}

    def __call__(self):
        return "callable"


called = Callable()
static = staticmethod(hookimpl(lambda: "static"))


def _made():
    @hookimpl
    def pang():
        return "pang"
    return pang


def __getattr__(name):
    if name == "dynamic":
        return _made()
    raise AttributeError(name)


def __dir__():
    return [*globals(), "dynamic"]
"""


class Spec:
    @hookspec
    def ping(self) -> str:  # type: ignore[empty-body]
        ...

    @hookspec
    def pang(self) -> str:  # type: ignore[empty-body]
        ...


class CollectsUnmarked(pluggy.PluginManager):
    """Like pytest's manager: unmarked functions named for a hook are implementations too."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in ("helper", "pong"):
            return {}
        return opts


@pytest.fixture
def module(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "attrtest_plugin.py"
    path.write_text(_SOURCE)
    spec = importlib.util.spec_from_file_location("attrtest_plugin", path)
    assert spec is not None
    assert spec.loader is not None
    made = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = made
    try:
        spec.loader.exec_module(made)
        yield made
    finally:
        del sys.modules[spec.name]


def _manager(kind: type[pluggy.PluginManager] = pluggy.PluginManager) -> pluggy.PluginManager:
    pm = kind("attrtest")
    pm.add_hookspecs(Spec)
    return pm


def _registered(pm: pluggy.PluginManager, plugin: object) -> set[tuple[str, object]]:
    return {
        (caller.name, impl.function)
        for caller in pm.get_hookcallers(plugin) or ()
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin
    }


@pytest.mark.parametrize("kind", [pluggy.PluginManager, CollectsUnmarked])
def test_the_same_implementations_as_pluggys_register(
    module: ModuleType, kind: type[pluggy.PluginManager]
) -> None:
    prepared = prepare(_manager(kind), module, "plugin")
    theirs = _manager(kind)
    theirs.register(module, name="plugin")
    assert {(hook, impl.function) for hook, impl in prepared.impls} == _registered(theirs, module)
    assert prepared.impls  # the module has implementations: the comparison compares something


def test_names_that_cannot_be_implementations_are_not_asked(module: ModuleType) -> None:
    asked = list(hook_candidates(_manager(), module))
    # Marked functions, the callable object and the staticmethod (pluggy decides those), and
    # the name only the module's __dir__ lists.
    assert asked == ["called", "dynamic", "ping", "ping_first", "static"]


def test_a_managers_own_parse_hookimpl_opts_is_asked_about_every_name(
    module: ModuleType,
) -> None:
    assert list(hook_candidates(_manager(CollectsUnmarked), module)) == dir(module)


def test_an_object_that_is_not_a_plain_module_is_asked_about_every_name() -> None:
    class Holder:
        def helper(self) -> None: ...

    holder = Holder()
    assert list(hook_candidates(_manager(), holder)) == dir(holder)
