"""Tests for pluginhost.load.reaper: released modules watched until the collector frees them."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

from pluginhost import EventKind, PluginHost
from pluginhost.load.reaper import Reaper, Released, full_collections
from pluginhost.testing import WheelFactory


def module_with_function(name: str) -> types.ModuleType:
    """A module whose function points back at its namespace: a cycle only the collector frees."""
    module = types.ModuleType(name)
    exec("def helper():\n    return 1\n", vars(module))
    return module


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the collections that begin while the test runs (automatic ones off)."""
    begun: list[int] = []

    def seen(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            begun.append(info["generation"])

    gc.collect()
    gc.disable()
    gc.callbacks.append(seen)
    yield begun
    gc.callbacks.remove(seen)
    gc.enable()


class TestReleased:
    def test_alive_until_collected(self, collections: list[int]) -> None:
        """A module in a cycle stays alive after release until a collection frees it."""
        released = Released.of({"cyc": module_with_function("cyc")})
        assert released.alive() == ["cyc"]
        gc.collect()
        assert released.alive() == []

    def test_namespace_held_by_a_function(self, collections: list[int]) -> None:
        """A function kept elsewhere holds its module's namespace: the module counts as alive."""
        module = module_with_function("held")
        helper = module.helper
        released = Released.of({"held": module})
        del module
        gc.collect()
        assert released.alive() == ["held"]
        del helper


class TestReaper:
    def test_freed_at_once_is_not_watched(self, collections: list[int]) -> None:
        """A module that reference counting frees at once is forgotten at once."""
        reaper = Reaper()
        module = types.ModuleType("plain")
        released = Released.of({"plain": module})
        del module
        reaper.watch(released, "p", "1.0.0", ["plain"])
        assert reaper.pending() == 0

    def test_nothing_said_before_a_full_collection(self, collections: list[int]) -> None:
        """Until a full collection has run, a watched release is neither a leak nor forgotten;
        watching collects nothing."""
        reaper = Reaper()
        reaper.watch(Released.of({"m": module_with_function("m")}), "p", "1.0.0", ["m"])
        assert reaper.due() == []
        assert reaper.pending() == 1
        gc.collect(1)  # a young collection is not a full one
        assert reaper.due() == []
        assert reaper.pending() == 1
        assert collections == [1]

    def test_freed_by_the_collector_is_no_leak(self, collections: list[int]) -> None:
        """Garbage freed by the next full collection is forgotten without a word."""
        reaper = Reaper()
        reaper.watch(Released.of({"m": module_with_function("m")}), "p", "1.0.0", ["m"])
        gc.collect()
        assert reaper.due() == []
        assert reaper.pending() == 0

    def test_held_is_a_leak_told_once(self, collections: list[int]) -> None:
        """A release something still holds after a full collection is told once."""
        reaper = Reaper()
        module = module_with_function("held_mod")
        reaper.watch(Released.of({"held_mod": module}), "p", "1.0.0", ["held_mod"])
        gc.collect()
        [leak] = reaper.due()
        assert (leak.plugin, leak.version, leak.modules, leak.owned) == (
            "p",
            "1.0.0",
            ("held_mod",),
            ("held_mod",),
        )
        assert reaper.due() == []
        del module

    def test_collect_runs_a_full_collection(self, collections: list[int]) -> None:
        """``collect()`` is the one place that forces a full collection."""
        reaper = Reaper()
        module = module_with_function("forced")
        reaper.watch(Released.of({"forced": module}), "p", "2.0.0", ["forced"])
        before = full_collections()
        assert [leak.modules for leak in reaper.collect()] == [("forced",)]
        assert full_collections()[1] == before[1] + 1
        assert collections == [2]
        del module


class TestNoPauseOnSwap:
    def test_swap_and_removal_collect_nothing(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        tmp_path: Path,
        collections: list[int],
    ) -> None:
        """A swap and a removal run no garbage collection (automatic ones are off here, so
        any collection seen is one the host asked for); the old code is freed by the next
        collection the interpreter makes."""
        factory.build("hello", "1.0.0", code=greet_code("one"))
        host = make_host()
        collections.clear()
        outside = WheelFactory(tmp_path / "outside", group="greeter.plugins")
        host.install(outside.build("hello", "1.1.0", code=greet_code("two")))
        assert host.hook.greet(name="x") == ["two"]
        host.remove("hello")
        assert collections == []
        assert "hello" not in sys.modules
        assert host.check_leaks() == []  # both versions freed by the forced collection
        assert collections == [2]

    def test_leak_event_in_the_audit_log(
        self, factory: WheelFactory, make_host: Callable[..., PluginHost]
    ) -> None:
        """A leak is an event like the others: the audit log records it."""
        factory.build("hello", "1.0.0", code=greet_code("one"))
        host = make_host()
        held = sys.modules["hello"]
        host.remove("hello")
        [event] = host.check_leaks()
        assert event.kind is EventKind.LEAKED
        assert '"leaked"' in host.audit_log.read_text()
        del held
