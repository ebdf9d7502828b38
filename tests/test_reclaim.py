"""Tests for pluginhost.load.reclaim: retired modules freed by reference counting when only
their own cycles hold them, and left to the collector when anything else does."""

from __future__ import annotations

import gc
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import PluginHost
from pluginhost.load import guard
from pluginhost.load.modules import release
from pluginhost.load.reclaim import reclaim
from pluginhost.testing import WheelFactory

SOURCE = """
class Counter:
    def __init__(self):
        self.count = 0
    def bump(self):
        self.count += 1
        return helper(self.count)

def helper(value):
    return value * FACTOR

FACTOR = 2
TABLE = [Counter() for _ in range(10)]
"""


# As pytest-mock-resources 2.15.0 has it (compat/import_.py): no super().__init__(), so no
# __name__, and a __getattr__ that raises for dunders and fails loudly for the rest.
ADAPTOR = """
from types import ModuleType

class ImportAdaptor(ModuleType):
    def __init__(self, package):
        self.package = package

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"Cannot use {attr} without {self.package}")

psycopg = ImportAdaptor("psycopg")
"""


class Big:
    """Something a module holds, watched through a weak reference."""


@pytest.fixture(autouse=True)
def no_collector() -> Iterator[None]:
    """Automatic collections off: what is freed here is freed by reference counting."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def module(name: str, source: str = SOURCE) -> tuple[types.ModuleType, weakref.ref[Big]]:
    """A module built from ``source``, holding a :class:`Big` watched by the reference returned."""
    made = types.ModuleType(name)
    exec(source, vars(made))
    big = Big()
    vars(made)["BIG"] = big
    return made, weakref.ref(big)


class TestReclaim:
    def test_cycles_alone_are_freed_at_once(self) -> None:
        """Functions, classes and instances that only point at each other are freed when the
        module is let go of, with no collection."""
        made, big = module("alone")
        held = [made]
        del made
        assert reclaim(held) is True
        del held
        assert big() is None

    @pytest.mark.parametrize(
        "source",
        [
            "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int = 1\nI = P()\n",
            "import attrs\n@attrs.frozen\nclass P:\n    x: int = 1\nI = P()\n",
            "import enum\nclass Color(enum.Enum):\n    RED = 1\n",
            "import functools\n@functools.lru_cache\ndef f(x):\n    return x\nf(1)\n",
            "import collections\nP = collections.namedtuple('P', 'a b')\nI = P(1, 2)\n",
        ],
        ids=["dataclass", "attrs", "enum", "lru_cache", "namedtuple"],
    )
    def test_common_constructs_are_freed(self, source: str) -> None:
        """What libraries generate for a module (a dataclass's wrapped __repr__, attrs' methods,
        an enum, a cache, a named tuple) is the version's too, and freed with it."""
        made = types.ModuleType("constructs")
        sys.modules["constructs"] = made  # while it runs, as an import has it
        try:
            exec(source, vars(made))
        finally:
            del sys.modules["constructs"]
        watched = Big()
        vars(made)["BIG"] = watched
        big = weakref.ref(watched)
        del watched
        held = [made]
        del made
        assert reclaim(held) is True
        del held
        assert big() is None

    def test_a_kept_function_keeps_its_namespace_whole(self) -> None:
        """A function held outside keeps working: its globals are not cleared."""
        made, big = module("kept")
        kept = made.helper
        held = [made]
        del made
        assert reclaim(held) is False
        del held
        assert kept(3) == 6
        assert big() is not None

    def test_a_kept_instance_keeps_its_class_working(self) -> None:
        """An object of the module's class held outside (state handed over, say) still runs
        its methods, which read the module's globals."""
        made, big = module("state")
        counter = made.TABLE[0]
        held = [made]
        del made
        assert reclaim(held) is False
        del held
        assert counter.bump() == 2
        assert big() is not None

    def test_a_finalizer_is_left_to_the_collector(self) -> None:
        """An object with ``__del__`` is freed by the collector, which runs it with the
        namespace whole."""
        closing = "class Closing:\n    def __del__(self):\n        FACTOR\nLAST = Closing()\n"
        source = SOURCE + closing
        made, big = module("closing", source)
        held = [made]
        del made
        assert reclaim(held) is False
        del held
        assert big() is not None
        gc.collect()
        assert big() is None

    def test_a_running_thread_keeps_its_code(self) -> None:
        """A thread still running the module's code reaches its globals: nothing is cleared."""
        source = (
            SOURCE
            + "import threading\nGO = threading.Event()\n"
            + ("def wait():\n    GO.wait(10)\n    return helper(1)\n")
        )
        made, _ = module("threaded", source)
        go, results = made.GO, []
        thread = threading.Thread(target=lambda f=made.wait: results.append(f()))
        thread.start()
        held = [made]
        del made
        assert reclaim(held) is False
        del held
        go.set()
        thread.join(10)
        assert results == [2]

    def test_a_module_type_whose_attributes_raise(self) -> None:
        """A module type of the plugin's whose instance has no ``__name__`` and whose
        ``__getattr__`` raises (pytest-mock-resources' optional-import stand-ins): nothing
        escapes, and the version is still freed at once."""
        made, big = module("adaptor", ADAPTOR)
        held = [made]
        del made
        assert reclaim(held) is True
        del held
        assert big() is None

    def test_release_of_what_is_no_module(self) -> None:
        """What a plugin put in ``sys.modules`` that is no module (an object taking no weak
        reference) is let go of without an error, and left to the collector."""
        made, big = module("slotted", SOURCE + "class Slotted:\n    __slots__ = ('x',)\n")
        modules = {"slotted": made, "slotted.object": made.Slotted()}
        del made
        released = release(modules)
        assert big() is not None
        gc.collect()
        assert big() is None
        assert released.alive() == []

    def test_release_reclaims(self) -> None:
        """``release`` frees what only its cycles hold, and the release is then not alive."""
        made, big = module("released")
        modules = {"released": made}
        del made
        released = release(modules)
        assert big() is None
        assert released.alive() == []


class TestGuardHoldsNoFrame:
    def test_lingering_keeps_no_frame_alive(self, tmp_path: Path) -> None:
        """Looking for lingering threads leaves no cycle through this thread's frames (they
        held the locals of every caller until a full collection)."""

        def caller() -> weakref.ref[Big]:
            local = Big()
            guard.lingering([], [tmp_path], grace=0.0)
            return weakref.ref(local)

        assert caller()() is None


class TestSwapFreesTheOldVersion:
    def test_old_version_freed_without_a_collection(
        self, factory: WheelFactory, make_host: Callable[..., PluginHost], tmp_path: Path
    ) -> None:
        """A swap frees the version it retired by reference counting: its module is gone as
        soon as the swap returns, with automatic collections off."""
        factory.build("hello", "1.0.0", code=greet_code("one"))
        host = make_host()
        import hello  # type: ignore[import-not-found]  # the serving version's module

        old = weakref.ref(hello)
        namespace_marker = Big()
        vars(hello)["MARKER"] = namespace_marker
        watched = weakref.ref(namespace_marker)
        del hello, namespace_marker
        outside = WheelFactory(tmp_path / "outside", group="greeter.plugins")
        host.install(outside.build("hello", "1.1.0", code=greet_code("two")))
        assert host.hook.greet(name="x") == ["two"]
        assert old() is None
        assert watched() is None
