"""A start's restore: the committed plugins loaded again, but not a version that a newer one
offered replaces (host/restore.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import counter_code, greet_code
from test_environment import install_into

from pluginhost import EnvironmentSource, Event, EventKind, PluginHost, VersionPolicy
from pluginhost.model.problems import ProblemKind
from pluginhost.state.store import AtomicJsonFile
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


def committed_versions(home: Path) -> dict[str, str]:
    """The committed active set of ``home``'s registry, as ``{plugin: version}``."""
    data = AtomicJsonFile(home / "registry.json").read()
    assert isinstance(data, dict)
    return {r["candidate"]["name"]: r["candidate"]["version"] for r in data["active"]}


def told(events: list[Event], plugin: str) -> list[str]:
    """The kinds of the events about ``plugin``, in order."""
    return [e.kind.value for e in events if e.plugin == plugin]


class TestRemovedWhileDown:
    def test_not_loaded_and_recorded_removed(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A plugin whose wheel was deleted while the host was down is not loaded at the
        start (it was restored, then unloaded by the first reconcile: an application's
        manager kept the options it added); it is told removed, committed without, and its
        site dir deleted, as the reconcile's removal did."""
        wheel = served_then_stopped(make_host, factory)
        home = wheel.parents[1] / "home"
        wheel.unlink()
        events.clear()
        host = make_host(persist_state=True)
        assert told(events, "hello") == ["removed"]
        assert host.load_order() == ()
        assert committed_versions(home) == {}
        assert list((home / "site").iterdir()) == []
        host.stop()
        events.clear()
        make_host(persist_state=True)  # removed once: nothing more to tell
        assert told(events, "hello") == []

    def test_loads_again_when_its_wheel_is_back(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """Removed at the start, it loads again once its wheel is dropped back."""
        wheel = served_then_stopped(make_host, factory)
        content = wheel.read_bytes()
        wheel.unlink()
        host = make_host(persist_state=True)
        assert host.load_order() == ()
        wheel.write_bytes(content)
        host.refresh()
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)

    def test_uninstalled_from_the_environment(
        self,
        make_host: Callable[..., PluginHost],
        factory: WheelFactory,
        events: list[Event],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The same for a plugin installed in the environment and uninstalled while the host
        was down: not loaded (its modules are gone too), told removed."""
        wheel = factory.build("envplug", code=greet_code("from env"))
        wheel = wheel.rename(tmp_path / wheel.name)
        site = tmp_path / "site"
        install_into(wheel, site)
        monkeypatch.syspath_prepend(str(site))
        sources = [EnvironmentSource(path=(str(site),))]
        host = make_host(sources=sources)
        assert host.hook.greet(name="x") == ["from env"]
        host.stop()
        for installed in site.iterdir():  # uninstalled, as pip uninstall does
            shutil.rmtree(installed)
        events.clear()
        host = make_host(sources=[EnvironmentSource(path=(str(site),))])
        assert told(events, "envplug") == ["removed"]
        assert host.load_order() == ()

    def test_a_folder_that_cannot_be_read_holds_it(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A watched folder gone (or unreadable) tells nothing of its wheels: what was
        committed from it is restored and serves, as the reconcile holds it."""
        wheel = served_then_stopped(make_host, factory)
        shutil.rmtree(wheel.parent)
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert "removed" not in told(events, "hello")

    def test_a_wheel_that_cannot_be_trusted_now_holds_it(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """The same for the plugin's wheel, there but refused unread now (group-writable,
        under strict modes): what was loaded from it keeps serving."""
        wheel = served_then_stopped(make_host, factory)
        wheel.chmod(0o664)
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert "removed" not in told(events, "hello")

    def test_a_plugin_requiring_it_is_not_loaded_either(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A plugin that requires the removed one is not loaded either (it was, then
        unloaded); it is listed failed, naming the plugin it lacks."""
        factory.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"})
        served_then_stopped(make_host, factory).unlink()
        events.clear()
        host = make_host(persist_state=True)
        assert host.load_order() == ()
        assert told(events, "hello") == ["removed"]
        assert "loading" not in told(events, "polite")
        assert host.plugins["polite"].state.value == "failed"
        assert any("hello" in p.message for p in host.problems() if p.plugin == "polite")


DOWNGRADES = VersionPolicy(allow_downgrade=True)


def served_at(
    make_host: Callable[..., PluginHost], factory: WheelFactory, version: str, **kwargs: object
) -> Path:
    """Serve ``hello`` at ``version`` (a counter, called once) and stop; its wheel's path."""
    wheel = factory.build("hello", version, code=counter_code(version))
    host = make_host(persist_state=True, **kwargs)
    assert f"{version}:1" in host.hook.greet(name="x")
    host.stop()
    return wheel


class TestDowngradeWhileDown:
    def test_the_lower_version_is_loaded_directly(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """With downgrades allowed, a wheel replaced by a lower version while the host was
        down loads at the start at that version, with the committed one's state; the
        committed version is never imported (it was, then swapped), and is kept as a backup."""
        served_at(make_host, factory, "1.1.0", policy=DOWNGRADES).unlink()
        factory.build("hello", "1.0.0", code=counter_code("1.0.0"))
        events.clear()
        host = make_host(persist_state=True, policy=DOWNGRADES)
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert versions_loaded(events, "hello") == [("loading", "1.0.0"), ("loaded", "1.0.0")]
        assert list(host.status("hello").backups) == ["1.1.0"]

    def test_a_failing_lower_version_goes_back_to_the_committed_one(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A lower version that fails to load leaves the committed one serving, loaded then
        only, from its site dir (its wheel deleted), with its state, ``rolled_back``, as after
        a failed upgrade; the failure is a problem."""
        served_at(make_host, factory, "1.1.0", policy=DOWNGRADES).unlink()
        factory.build("hello", "1.0.0", code=UNHEALTHY)
        events.clear()
        host = make_host(persist_state=True, policy=DOWNGRADES)
        assert versions_loaded(events, "hello") == [
            ("loading", "1.0.0"),
            ("loading", "1.1.0"),
            ("loaded", "1.1.0"),
        ]
        assert host.hook.greet(name="x") == ["1.1.0:2"]
        assert host.plugins["hello"].state.value == "rolled_back"
        assert any(p.version == "1.0.0" for p in host.problems() if p.plugin == "hello")

    def test_without_downgrades_the_committed_version_serves(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """Downgrades not allowed, the committed version is restored and serves on."""
        served_at(make_host, factory, "1.1.0").unlink()
        factory.build("hello", "1.0.0", code=counter_code("1.0.0"))
        events.clear()
        host = make_host(persist_state=True)
        assert host.hook.greet(name="x") == ["1.1.0:2"]
        assert versions_loaded(events, "hello") == [("loading", "1.1.0"), ("loaded", "1.1.0")]

    def test_a_lower_version_a_dependent_refuses_is_left_to_the_reconcile(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory, events: list[Event]
    ) -> None:
        """A lower version that a committed dependent's constraint refuses does not replace
        the committed one at the start: the committed version is restored, then the reconcile
        takes the plugin to the only version left, and lets the dependent go (it served on
        beside the version it refuses, re-imported against it)."""
        factory.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.1"})
        served_at(make_host, factory, "1.1.0", policy=DOWNGRADES).unlink()
        factory.build("hello", "1.0.0", code=counter_code("1.0.0"))
        events.clear()
        host = make_host(persist_state=True, policy=DOWNGRADES)
        assert versions_loaded(events, "hello")[:2] == [("loading", "1.1.0"), ("loaded", "1.1.0")]
        assert host.hook.greet(name="x") == ["1.0.0:2"]
        assert host.plugins["polite"].state.value == "failed"
        assert any(
            p.kind is ProblemKind.DEPENDENCY_FAILED for p in host.problems() if p.plugin == "polite"
        )

    def test_a_lower_version_not_chosen_leaves_the_committed_one(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """A lower version the plan refuses (for another host API) leaves the committed
        version serving, loaded from its site dir once the plan has refused the other."""
        served_at(make_host, factory, "1.1.0", policy=DOWNGRADES).unlink()
        factory.build("hello", "1.0.0", code=counter_code("1.0.0"), host=">=99.0")
        host = make_host(persist_state=True, policy=DOWNGRADES)
        assert host.hook.greet(name="x") == ["1.1.0:2"]
