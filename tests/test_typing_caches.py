"""typing's caches and overload registry let go of a retired version (load/typing_caches.py)."""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable

import pytest
from conftest import greet_code, wait_for

from pluginhost import EventKind, PluginHost
from pluginhost.load.typing_caches import forget_in_typing
from pluginhost.testing import WheelFactory

# What pytest-socket (StashKey[Config]), hatch-requirements-txt (Type[Hook]) and pytest-mock
# (@overload) do at their import.
TYPED = """
import typing

class Hook:
    def update(self):
        return ALIAS  # a method: its globals are the module's namespace

T = typing.TypeVar("T")

class Key(typing.Generic[T]):
    def get(self):
        return KEY

ALIAS = typing.Type[Hook]
KEY = Key[Hook]

@typing.overload
def pick(x: int) -> int: ...
@typing.overload
def pick(x: str) -> str: ...
def pick(x):
    return x
"""


def test_a_swapped_version_that_typing_saw_is_freed(
    factory: WheelFactory, make_host: Callable[..., PluginHost]
) -> None:
    """Each swap of such a plugin reported the old version leaked, a restart recommended."""
    factory.build("hello", code=TYPED + greet_code("one"))
    host = make_host(settle=0.05)
    assert host.hook.greet(name="x") == ["one"]
    factory.build("hello", "2.0.0", code=TYPED + greet_code("two"))
    wait_for(lambda: host.hook.greet(name="x") == ["two"], timeout=20)
    assert host.wait_idle(20)
    leaks = host.check_leaks()
    assert [e for e in leaks if e.kind is EventKind.LEAKED] == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="typing keeps overloads from 3.11 on")
def test_the_overloads_of_released_modules_only_are_dropped() -> None:
    registry = typing._overload_registry  # type: ignore[attr-defined]
    registry["released_plugin"]["f"][1] = print
    registry["kept_module"]["g"][1] = print
    forget_in_typing(["released_plugin"])
    assert "released_plugin" not in registry
    assert "kept_module" in registry
    del registry["kept_module"]
