"""The host's lock: plugin code that the holder waits for is refused at once; threads that
do not hold it, or that it does not wait for, take it as usual."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code, wait_for

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
