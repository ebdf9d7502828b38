"""A start's restore: the committed plugins loaded again, but not a version that a newer one
offered replaces (host/restore.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import counter_code, greet_code

from pluginhost import Event, EventKind, PluginHost, VersionPolicy
from pluginhost.testing import WheelFactory

UNHEALTHY = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return "broken"

@hookimpl
def pluginhost_health():
    return False
"""


def versions_loaded(events: list[Event], plugin: str) -> list[tuple[str, str | None]]:
    """The ``(kind, version)`` of each load or update of ``plugin`` that ``events`` tell."""
    kinds = {EventKind.LOADED, EventKind.UPDATED, EventKind.LOADING}
    return [(e.kind.value, e.version) for e in events if e.plugin == plugin and e.kind in kinds]


def served_then_stopped(
    make_host: Callable[..., PluginHost], factory: WheelFactory, **kwargs: object
) -> Path:
    """Serve ``hello`` 1.0.0 (a counter, called once) and stop; its wheel's path."""
    wheel = factory.build("hello", "1.0.0", code=counter_code("1.0.0"))
    host = make_host(persist_state=True, **kwargs)
    assert "1.0.0:1" in host.hook.greet(name="x")
    host.stop()
    return wheel


class TestUpgradeWhileDown:
    def test_the_new_version_is_loaded_directly(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A wheel upgraded while the host was down is loaded at the start, handed the state
        the committed version saved; the committed version is never imported (it was, then
        swapped out: an application's manager such as pytest's refuses that, and the old
        version served on at every start). It is kept as a backup, for a rollback."""
        served_then_stopped(make_host, factory).unlink()
        factory.build("hello", "1.1.0", code=counter_code("1.1.0"))
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.1.0:2"]
        assert versions_loaded(events, "hello") == [("loading", "1.1.0"), ("loaded", "1.1.0")]
        assert list(host.status("hello").backups) == ["1.0.0"]
        assert host.rollback("hello").version == "1.0.0"  # from its site dir: no wheel left
        assert host.hook.greet(name="x") == ["1.0.0:3"]

    def test_the_old_wheel_still_there(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """With the committed version's wheel still in the folder, the same."""
        served_then_stopped(make_host, factory)
        factory.build("hello", "1.1.0", code=counter_code("1.1.0"))
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.1.0:2"]
        assert versions_loaded(events, "hello") == [("loading", "1.1.0"), ("loaded", "1.1.0")]

    def test_a_failing_upgrade_falls_back_to_the_committed_version(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """A newer version that fails to load leaves the committed one serving, from its site
        dir (its wheel deleted), with its state; the failure is a problem."""
        served_then_stopped(make_host, factory).unlink()
        factory.build("hello", "1.1.0", code=UNHEALTHY)
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert (host.plugins["hello"].version, host.plugins["hello"].state.value) == (
            "1.0.0",
            "rolled_back",
        )
        assert any(p.version == "1.1.0" for p in host.problems() if p.plugin == "hello")

    def test_a_failing_upgrade_goes_back_to_the_committed_version_not_between(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """The newest version failing at the start, the committed one serves again, not a
        version between the two on offer: as the failed swap of a restore did (the soak test
        found 1.1.0 loaded)."""
        served_then_stopped(make_host, factory)
        factory.build("hello", "1.1.0", code=counter_code("1.1.0"))
        factory.build("hello", "1.2.0", code=UNHEALTHY)
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert host.plugins["hello"].state.value == "rolled_back"

    def test_dependents_load_after_it(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A plugin requiring the upgraded one loads after its new version, once, with no
        problem (restored first, it found its dependency missing)."""
        factory.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"})
        served_then_stopped(make_host, factory).unlink()
        factory.build("hello", "1.1.0", code=counter_code("1.1.0"))
        events.clear()
        host = make_host(persist_state=True)
        assert host.load_order() == ("hello", "polite")
        assert host.plugins["hello"].version == "1.1.0"
        assert versions_loaded(events, "polite") == [("loading", "1.0.0"), ("loaded", "1.0.0")]
        assert host.problems() == ()

    def test_a_pinned_version_is_restored(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A plugin pinned at an older version (installed below the one on offer) stays
        pinned across a restart: the newer wheel does not replace it."""
        older = WheelFactory(tmp_path / "elsewhere", group="greeter.plugins")
        pinned = older.build("hello", "1.0.0", code=counter_code("1.0.0"))
        factory.build("hello", "1.1.0", code=counter_code("1.1.0"))
        host = make_host(persist_state=True, policy=VersionPolicy(allow_downgrade=True))
        host.install(pinned)
        assert host.plugins["hello"].pinned
        host.stop()
        host = make_host(persist_state=True, policy=VersionPolicy(allow_downgrade=True))
        assert host.plugins["hello"].version == "1.0.0"
        assert host.plugins["hello"].pinned

    def test_nothing_changed_restores_as_before(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """With no upgrade, the committed version is restored and nothing is kept aside."""
        served_then_stopped(make_host, factory)
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert versions_loaded(events, "hello") == [("loading", "1.0.0"), ("loaded", "1.0.0")]
        assert list(host.status("hello").backups) == []
