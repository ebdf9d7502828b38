"""The host's lock: plugin code that the holder waits for is refused at once; threads that
do not hold it, or that it does not wait for, take it as usual."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
from conftest import greet_code, wait_for

from hookspecs import greeter
from pluginhost import HostStateError, PluginHost, PluginState, Timeouts
from pluginhost.host.hostlock import HostLock
from pluginhost.load.bounded import bounded
from pluginhost.model.events import Event, EventKind
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

ACTIVATE = """
@hookimpl
def pluginhost_activate(host):
    {body}
"""


def _entered(lock: HostLock) -> str:
    with lock:
        return "entered"


def test_a_step_for_the_holder_is_refused_and_others_wait() -> None:
    """A step run on a helper for the thread holding the lock is refused; the holder may take
    it again; a step handed over by a thread that does not hold it takes it."""
    lock = HostLock()
    with lock:
        with lock:  # re-entrant
            pass
        with pytest.raises(Exception, match="cannot change plugins from inside it") as caught:
            bounded(lambda: _entered(lock), 5, plugin="p", step="activate")
        assert "HostStateError" in str(caught.value)
    assert bounded(lambda: _entered(lock), 5, plugin="p", step="activate") == "entered"
    got: list[str] = []
    other = threading.Thread(
        target=lambda: got.append(bounded(lambda: _entered(lock), 5, plugin="p", step="call"))
    )
    with lock:
        other.start()  # waits for the lock: its step was handed over by a thread without it
        other.join(0.3)
        assert other.is_alive()
    other.join(5)
    assert got == ["entered"]


def test_a_lifecycle_hook_changing_plugins_fails_at_once(
    factory: WheelFactory, make_host: MakeHost, events: list[Event]
) -> None:
    """``host.remove()`` from ``pluginhost_activate`` failed the step after its timeout, and
    the abandoned thread then removed the other plugin once the change was over; it is a
    HostStateError at once now, and the other plugin stays."""
    factory.build("other", code=greet_code("other"))
    factory.build("meddler", code=greet_code("m") + ACTIVATE.format(body="host.remove('other')"))
    host = make_host(timeouts=Timeouts(activate=3))
    assert host.wait_idle(10)
    failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
    assert (failed.plugin, failed.step) == ("meddler", "activate")
    assert "HostStateError" in (failed.error or "")
    assert "cannot change plugins from inside it" in (failed.error or "")
    assert host.plugins["other"].state is PluginState.ACTIVE
    assert host.hook.greet(name="x") == ["other"]
    with pytest.raises(HostStateError, match=r"not active"):
        host.remove("meddler")


def test_a_lifecycle_hook_stopping_the_host_stops_nothing(
    factory: WheelFactory, make_host: MakeHost, events: list[Event]
) -> None:
    """``host.stop()`` from ``pluginhost_activate`` is refused before anything stops: it
    stopped the watcher first, and the host went on serving without ever seeing a wheel
    dropped into its folder again."""
    factory.build("stopper", code=greet_code("s") + ACTIVATE.format(body="host.stop()"))
    host = make_host(timeouts=Timeouts(activate=3))
    assert host.wait_idle(10)
    failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
    assert (failed.plugin, failed.step) == ("stopper", "activate")
    assert "cannot change plugins from inside it" in (failed.error or "")
    assert host.running
    factory.build("later", code=greet_code("later"))
    wait_for(lambda: host.hook.greet(name="x") == ["later"], timeout=10)


def test_a_lifecycle_hook_waiting_for_the_host_is_refused_at_once(
    factory: WheelFactory, make_host: MakeHost, events: list[Event]
) -> None:
    """``host.wait_idle()`` from ``pluginhost_activate`` waited for the change that waits for
    it, until the step's timeout (6 s here); it is a HostStateError at once now."""
    host = make_host(timeouts=Timeouts(activate=6), settle=0.05)
    begun = time.monotonic()  # dropped into a running host: its worker applies the change
    factory.build("waiter", code=greet_code("w") + ACTIVATE.format(body="host.wait_idle(60)"))
    wait_for(lambda: any(e.kind is EventKind.LOAD_FAILED for e in events), timeout=20)
    failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
    assert (failed.plugin, failed.step) == ("waiter", "activate")
    assert "HostStateError" in (failed.error or "")
    assert time.monotonic() - begun < 6
    assert host.running
    assert host.hook.greet(name="x") == []


def test_a_step_given_up_cannot_change_plugins_afterwards(
    factory: WheelFactory, make_host: MakeHost, events: list[Event]
) -> None:
    """An activate that overran its timeout was undone, and once the change was over and
    the lock free, its thread went on and removed another plugin."""
    factory.build("other", code=greet_code("other"))
    body = "import time; time.sleep(1.5); host.remove('other')"
    factory.build("late", code=greet_code("l") + ACTIVATE.format(body=body))
    host = make_host(timeouts=Timeouts(activate=0.5))
    assert host.wait_idle(10)
    failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
    assert (failed.plugin, failed.step) == ("late", "activate")
    time.sleep(2.0)  # the abandoned thread has tried by now
    assert host.plugins["other"].state is PluginState.ACTIVE
    assert host.hook.greet(name="x") == ["other"]


class HistoricSpec:
    @greeter.hookspec(historic=True)
    def greeter_configure(self, config: object) -> None:
        """Historic: replayed to each plugin that loads later."""


def test_a_historic_call_replayed_cannot_change_plugins(
    factory: WheelFactory, tmp_path: Path, events: list[Event]
) -> None:
    """A historic call replayed to a new plugin runs on the thread that holds the lock: a
    removal made from it re-entered the lock, and the change's undo then put the removed
    plugin's hooks back, answering while unloaded. It is refused, and the plugin fails at
    its register step."""
    pm = pluggy.PluginManager(greeter.PROJECT)
    pm.add_hookspecs(greeter.GreeterSpec)
    pm.add_hookspecs(HistoricSpec)
    pm.hook.greeter_configure.call_historic(kwargs={"config": None})
    factory.build("other", code=greet_code("other"))
    code = greet_code("m") + (
        "HOST = []\n@hookimpl\ndef pluginhost_activate(host):\n    HOST.append(host)\n"
        "@hookimpl\ndef greeter_configure(config):\n    HOST[0].remove('other')\n"
    )
    factory.build("zmeddler", code=code)
    host = PluginHost(
        greeter.PROJECT,
        manager=pm,
        home=tmp_path / "home",
        watch=[factory.directory],
        environment=False,
        api_version=greeter.API_VERSION,
    )
    host.subscribe(events.append)
    with host:
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert (failed.plugin, failed.step) == ("zmeddler", "register")
        assert "runs this plugin's hook as part of it" in (failed.error or "")
        assert host.plugins["other"].state is PluginState.ACTIVE
        assert pm.hook.greet(name="x") == ["other"]


def test_a_thread_started_by_a_lifecycle_hook_changes_plugins_afterwards(
    factory: WheelFactory, make_host: MakeHost, tmp_path: Path
) -> None:
    """What the error advises: a thread the hook starts makes the change once the host's
    change is over."""
    factory.build("other", code=greet_code("other"))
    body = "import threading; threading.Thread(target=host.remove, args=('other',)).start()"
    factory.build("mover", code=greet_code("m") + ACTIVATE.format(body=body))
    host = make_host()
    wait_for(
        lambda: "other" not in host.plugins or host.plugins["other"].state is not PluginState.ACTIVE
    )
    assert host.plugins["mover"].state is PluginState.ACTIVE
    assert host.hook.greet(name="x") == ["m"]
