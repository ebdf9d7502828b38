"""Hook specs a plugin declares, handed to its next version at a hot swap: real wheels in a
watched folder, real hosts, a real calling thread."""

from __future__ import annotations

import gc
import os
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from conftest import wait_for

from hookspecs import greeter
from pluginhost import Event, EventKind, PluginHost
from pluginhost.testing import WheelFactory

hookspec = pluggy.HookspecMarker(greeter.PROJECT)


class AppLater:
    """A spec the application adds while the host serves."""

    @hookspec
    def app_later(self) -> None: ...


class AddHooks:
    """The application's historic hook through which a plugin declares specs, as pytest's
    ``pytest_addhooks``."""

    @hookspec(historic=True)
    def addhooks(self, pluginmanager: pluggy.PluginManager) -> None: ...


# A plugin declaring a firstresult hook of its own through the historic hook (pytest-timeout,
# pytest-html), or at its import on the application's manager (datasette-enrichments).
PLUGIN = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
hookspec = pluggy.HookspecMarker("greeter")
VERSION = "{version}"

class Specs:
    @hookspec(firstresult=True)
    def flavour(self): ...

{declare}

@hookimpl
def flavour():
    return VERSION

@hookimpl
def greet(name):
    return VERSION

@hookimpl
def pluginhost_health():
    return {health}
"""


def declaring(*namespaces: str) -> str:
    """The plugin's ``addhooks`` implementation: adds ``namespaces`` (expressions in its module)
    as specs, in order."""
    adds = "".join(f"    pluginmanager.add_hookspecs({n})\n" for n in namespaces)
    return f"\n@hookimpl\ndef addhooks(pluginmanager):\n{adds}"


THROUGH_HOOK = declaring("Specs")

AT_IMPORT = """
from specs_app import pm
pm.add_hookspecs(Specs)
"""

# Two more hooks: one beside the taken-over spec, one in a namespace of its own.
MORE = """
Specs.aroma = hookspec(lambda self: None)

class Texture:
    @hookspec
    def texture(self): ...
""" + declaring("Specs", "Texture")

# A historic hook of the plugin's own.
HISTORIC = """
class Announcements:
    @hookspec(historic=True)
    def announce(self, what): ...
""" + declaring("Specs", "Announcements")

# Specs in a class whose metaclass raises SystemExit when asked its __module__.
HOSTILE_NAMESPACE = """
class Meta(type):
    def __getattribute__(cls, name):
        if name == "__module__":
            raise SystemExit("no __module__")
        return super().__getattribute__(name)

class Specs(metaclass=Meta):
    @hookspec(firstresult=True)
    def flavour(self): ...
""" + declaring("Specs")

# Its own spec, then a namespace that pluggy refuses part-way: a new hook ``aaa`` first (dir()
# order), then the application's ``greet`` again.
PART_WAY = """
class Mixed:
    @hookspec
    def aaa(self): ...

    @hookspec
    def greet(self, name): ...
""" + declaring("Specs", "Mixed")

# A namespace object whose class makes __module__ a property that raises.
PROPERTY_NAMESPACE = """
class Namespace:
    @property
    def __module__(self):
        raise RuntimeError("evil __module__ ran in the host")

    @hookspec
    def evil_hook(self): ...
""" + declaring("Namespace()")

# A version that declares no spec and implements no hook of its own any more.
PLAIN = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return "{version}"
"""


def plugin(version: str, *, declare: str = THROUGH_HOOK, health: str = "True") -> str:
    return PLUGIN.format(version=version, declare=declare, health=health)


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    """Builds wheels outside the watched folder, to be renamed in."""
    return WheelFactory(tmp_path / "outside", group="greeter.plugins")


@pytest.fixture
def start(tmp_path: Path, wheels: Path, events: list[Event]) -> Iterator[Callable[..., PluginHost]]:
    hosts: list[PluginHost] = []

    def make(**kwargs: Any) -> PluginHost:
        host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec, AddHooks],
            home=tmp_path / "home",
            watch=[wheels],
            environment=False,
            settle=0.05,
            api_version=greeter.API_VERSION,
            **kwargs,
        )
        host.subscribe(events.append)
        hosts.append(host)
        # As pytest calls pytest_addhooks once, at its start: replayed to every plugin after.
        pm = host.plugin_manager
        pm.hook.addhooks.call_historic(kwargs={"pluginmanager": pm})
        host.start()
        return host

    yield make
    for host in hosts:
        host.stop()


def drop(wheel: Path, folder: Path) -> None:
    os.replace(wheel, folder / wheel.name)


def namespace(host: PluginHost) -> object:
    spec = host.hook.flavour.spec
    return None if spec is None else spec.namespace


def updated(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind is EventKind.UPDATED]


class TestSwap:
    def test_a_spec_declared_through_a_historic_hook_goes_to_the_next_version(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """The new version declares the spec again and serves: pluggy refused the second
        spec, the swap failed and the old version served on."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        assert host.hook.flavour() == "1.0.0"
        old = weakref.ref(namespace(host))
        drop(outside.build("flavoured", "1.1.0", code=plugin("1.1.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.1.0"
        assert host.hook.flavour() == "1.1.0"  # firstresult still: one answer, not a list
        assert namespace(host) is sys.modules["flavoured"].Specs
        assert [(e.version, e.error) for e in updated(events)] == [("1.1.0", None)]
        assert host.check_leaks() == []
        gc.collect()
        assert old() is None  # the old version's spec let its module go

    def test_a_spec_declared_at_import_on_the_applications_manager_goes_to_the_next(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A plugin that calls ``pm.add_hookspecs`` at its import, on the application's own
        manager (``from datasette.plugins import pm``): its new version's import failed."""
        pm = pluggy.PluginManager(greeter.PROJECT)
        app = types.ModuleType("specs_app")
        app.pm = pm  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "specs_app", app)
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0", declare=AT_IMPORT))
        host = start(manager=pm)
        assert host.hook.flavour() == "1.0.0"
        drop(outside.build("flavoured", "1.1.0", code=plugin("1.1.0", declare=AT_IMPORT)), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.1.0"
        assert pm.hook.flavour() == "1.1.0"
        assert namespace(host) is sys.modules["flavoured"].Specs

    def test_calls_during_swaps_always_see_a_spec(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """A thread calling the plugin's firstresult hook without pause through five swaps gets
        one answer each time, never the list a hook without its spec gives."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        seen: set[object] = set()
        stop = threading.Event()

        def call() -> None:
            while not stop.is_set():
                answer = host.hook.flavour()
                seen.add(answer if isinstance(answer, str) else repr(answer))

        caller = threading.Thread(target=call)
        caller.start()
        try:
            for minor in range(1, 6):
                drop(
                    outside.build("flavoured", f"1.{minor}.0", code=plugin(f"1.{minor}.0")), wheels
                )
                assert host.wait_idle(20)
                assert host.plugins["flavoured"].version == f"1.{minor}.0"
        finally:
            stop.set()
            caller.join()
        assert seen <= {f"1.{minor}.0" for minor in range(6)}
        assert "1.5.0" in seen

    def test_a_failed_new_version_leaves_the_old_spec(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """A new version that fails its health check after declaring its spec is undone: the
        old version's spec is back, and the new one's is not kept."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        before = namespace(host)
        drop(outside.build("flavoured", "1.1.0", code=plugin("1.1.0", health="False")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.0.0"
        assert namespace(host) is before
        assert host.hook.flavour() == "1.0.0"
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert [(e.version, e.previous_version, e.step) for e in failed] == [
            ("1.1.0", "1.0.0", "health")
        ]
        assert host.check_leaks() == []  # the new version's spec let its module go

    def test_a_failed_new_version_takes_its_new_hooks_with_it(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """The hooks a failed new version's specs created, beside its taken-over spec and
        in a namespace of their own, are gone with it."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        more = MORE
        drop(
            outside.build("flavoured", "1.1.0", code=plugin("1.1.0", declare=more, health="False")),
            wheels,
        )
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.0.0"
        assert not hasattr(host.hook, "aroma")
        assert not hasattr(host.hook, "texture")
        assert host.check_leaks() == []

    def test_a_spec_the_next_version_no_longer_declares_is_withdrawn(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """The hook is left without a spec, as a start with the new version leaves it, and
        the old version's module is freed."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        old = weakref.ref(namespace(host))
        drop(outside.build("flavoured", "2.0.0", code=PLAIN.format(version="2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "2.0.0"
        assert host.hook.flavour.spec is None
        assert host.hook.greet(name="x") == ["2.0.0"]
        assert [(e.version, e.error) for e in updated(events)] == [("2.0.0", None)]
        assert host.check_leaks() == []
        gc.collect()
        assert old() is None

    def test_another_plugin_declaring_the_same_spec_is_still_refused(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """Only a plugin's own next version takes its spec over: another plugin declaring the
        hook again is refused, as pluggy refuses it, and the first serves on."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        drop(outside.build("rival", "1.0.0", code=plugin("9.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("flavoured",)
        assert host.hook.flavour() == "1.0.0"
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED and e.plugin == "rival"]
        assert len(failed) == 1
        assert "already registered" in str(failed[0].error)

    def test_an_unloaded_plugins_spec_is_withdrawn(
        self, factory: WheelFactory, start: Callable[..., PluginHost], events: list[Event]
    ) -> None:
        """A plugin whose wheel is deleted takes its spec with it: the spec kept its module
        alive, a leak at every removal."""
        wheel = factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        wheel.unlink()
        assert host.wait_idle(20)
        assert host.load_order() == ()
        assert host.hook.flavour.spec is None
        assert host.check_leaks() == []

    def test_a_withdrawn_historic_spec_keeps_its_calls(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """The application may go on calling a historic hook a plugin declared after the
        plugin drops its spec: its calls are kept and replayed, as before the spec went."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0", declare=HISTORIC))
        host = start()
        host.hook.announce.call_historic(kwargs={"what": "one"})
        drop(outside.build("flavoured", "2.0.0", code=PLAIN.format(version="2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.hook.announce.spec is None
        host.hook.announce.call_historic(kwargs={"what": "two"})
        assert host.hook.announce.is_historic()

    def test_a_namespace_that_raises_when_named_is_read_past_its_metaclass(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """Whose spec a hook has is read through ``type``'s own descriptor: asked of the
        namespace, a metaclass's SystemExit ended the host's worker at the next swap."""
        hostile = HOSTILE_NAMESPACE
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0", declare=hostile))
        host = start()
        drop(outside.build("flavoured", "1.1.0", code=plugin("1.1.0", declare=hostile)), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.1.0"
        assert host.hook.flavour() == "1.1.0"
        drop(outside.build("flavoured", "1.2.0", code=plugin("1.2.0")), wheels)
        assert host.wait_idle(20)
        assert host.hook.flavour() == "1.2.0"

    def test_a_refusal_part_way_through_a_namespace_is_undone_whole(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """pluggy made the new hook, then refused the application's: the hook it made stayed
        after the undo, and kept the failed version's module alive."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        drop(outside.build("flavoured", "1.1.0", code=plugin("1.1.0", declare=PART_WAY)), wheels)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.0.0"
        assert not hasattr(host.hook, "aaa")
        assert host.hook.greet.spec.namespace is greeter.GreeterSpec
        assert host.check_leaks() == []

    def test_the_applications_specs_added_during_a_failed_swap_stay(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """Specs the application adds while a swap runs are its own: recorded as the new
        version's, the failed swap's undo took them out."""
        factory.build("flavoured", "1.0.0", code=plugin("1.0.0"))
        host = start()
        pm = host.plugin_manager
        slow = plugin("1.1.0", health="__import__('time').sleep(0.5) or False")
        drop(outside.build("flavoured", "1.1.0", code=slow), wheels)
        wait_for(lambda: "add_hookspecs" in vars(pm), timeout=20)  # the swap is under way
        pm.add_hookspecs(AppLater)
        assert host.wait_idle(20)
        assert host.plugins["flavoured"].version == "1.0.0"  # the swap failed
        assert pm.hook.app_later.spec.namespace is AppLater

    def test_a_namespace_whose_module_raises_fails_nobodys_swap(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        wheels: Path,
        start: Callable[..., PluginHost],
    ) -> None:
        """One plugin's spec namespace whose ``__module__`` raises when read: asked at every
        swap and unload, it failed another plugin's update, left its removal half done and
        made ``host.stop()`` raise."""
        factory.build("evil", "1.0.0", code=plugin("1.0.0", declare=PROPERTY_NAMESPACE))
        factory.build("good", "1.0.0", code=plugin("1.0.0", declare=""))
        host = start()
        drop(outside.build("good", "1.1.0", code=plugin("1.1.0", declare="")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["good"].version == "1.1.0"
        host.remove("good")
        assert host.load_order() == ("evil",)
        host.stop()
