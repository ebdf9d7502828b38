"""host.disable() and host.enable(), and the only/block settings, on a real host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code
from processhost import build, counter

from pluginhost import Event, PluginHost, PluginState, ProblemKind
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.state.disabled import DisabledList
from pluginhost.testing import WheelFactory


def kinds(events: list[Event], plugin: str) -> list[str]:
    return [str(e.kind) for e in events if e.plugin == plugin]


@pytest.fixture
def two(factory: WheelFactory) -> None:
    """hello, and polite, which requires it."""
    factory.build("hello", "1.0.0", code=greet_code("hello"))
    factory.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"})


@pytest.mark.usefixtures("two")
class TestDisable:
    def test_disable_unloads_and_keeps_the_wheel(
        self, make_host: Callable[..., PluginHost], wheels: Path, events: list[Event]
    ) -> None:
        """Disabled: unloaded with its dependents, shown disabled, its wheel untouched."""
        host = make_host()
        assert host.disable("Hello") is True
        assert host.load_order() == ()
        assert host.plugins["hello"].state is PluginState.DISABLED
        assert host.plugins["polite"].state is PluginState.FAILED
        assert (wheels / "hello-1.0.0-py3-none-any.whl").exists()
        assert kinds(events, "hello")[-3:] == ["disabled", "unloading", "unloaded"]
        problems = {p.plugin: p.kind for p in host.problems()}
        assert problems["hello"] is ProblemKind.DISABLED
        assert host.hook.greet(name="x") == []
        assert host.disable("hello") is False

    def test_enable_brings_it_back(
        self, make_host: Callable[..., PluginHost], events: list[Event]
    ) -> None:
        """Enabled: loaded again from its wheel, dependents too."""
        host = make_host()
        host.disable("hello")
        assert host.enable("hello") is True
        assert host.load_order() == ("hello", "polite")
        assert "enabled" in kinds(events, "hello")
        assert host.enable("hello") is False

    def test_persists_across_restarts(self, make_host: Callable[..., PluginHost]) -> None:
        """The choice is in home/disabled.json: the next start keeps the plugin out."""
        host = make_host()
        host.disable("polite")
        host.stop()
        again = make_host()
        assert again.load_order() == ("hello",)
        assert again.plugins["polite"].state is PluginState.DISABLED
        assert again.disabled() == {"polite"}

    def test_committed_before_a_crash_keeps_it_out(
        self, make_host: Callable[..., PluginHost], tmp_path: Path, events: list[Event]
    ) -> None:
        """A choice on disk whose unload never happened (a crash between) holds at start:
        the registry still names the plugin, yet it is not imported."""
        host = make_host()
        host.stop()
        DisabledList(tmp_path / "home").write(["polite"])
        events.clear()
        again = make_host()
        assert again.load_order() == ("hello",)
        assert "loading" not in kinds(events, "polite")

    def test_stopped_host_records_only(
        self, make_host: Callable[..., PluginHost], tmp_path: Path
    ) -> None:
        """On a host that is not started, disable is recorded for its start."""
        host = make_host(start=False)
        assert host.disable("hello") is True
        assert DisabledList(tmp_path / "home").read() == {"hello"}
        host.start()
        assert host.load_order() == ()

    def test_audited(self, make_host: Callable[..., PluginHost], tmp_path: Path) -> None:
        """disable and enable are entries of the audit log."""
        host = make_host()
        host.disable("hello")
        host.enable("hello")
        entries = read_audit(host.audit_log)
        actions = [(e.action, e.plugin) for e in entries if isinstance(e, AuditEntry)]
        assert ("disable", "hello") in actions
        assert actions.index(("enable", "hello")) > actions.index(("disable", "hello"))


class TestInstalledAndKeptOut:
    """A plugin installed with host.install() from a folder no host watches: only the home
    remembers it, so being kept out must not make the home forget it."""

    @pytest.fixture
    def outside(self, tmp_path: Path) -> Path:
        return WheelFactory(tmp_path / "outside", group="greeter.plugins").build(
            "hello", "1.0.0", code=greet_code("hello")
        )

    @pytest.fixture
    def installed(self, make_host: Callable[..., PluginHost], outside: Path) -> None:
        """hello installed from ``outside``, committed, and the host stopped."""
        host = make_host()
        host.install(outside)
        host.stop()

    def test_disabled_while_running_comes_back_after_a_restart(
        self, make_host: Callable[..., PluginHost], outside: Path
    ) -> None:
        host = make_host()
        host.install(outside)
        host.disable("hello")
        host.stop()
        again = make_host()
        assert again.plugins["hello"].state is PluginState.DISABLED
        assert {p.plugin: p.kind for p in again.problems()} == {"hello": ProblemKind.DISABLED}
        assert again.enable("hello") is True
        assert again.load_order() == ("hello",)
        assert again.hook.greet(name="x") == ["hello"]

    @pytest.mark.usefixtures("installed")
    def test_disabled_while_stopped_is_shown_disabled_and_enabled_again(
        self, make_host: Callable[..., PluginHost]
    ) -> None:
        stopped = make_host(start=False)
        assert stopped.disable("hello") is True
        stopped.start()
        assert stopped.load_order() == ()
        assert stopped.plugins["hello"].state is PluginState.DISABLED
        assert stopped.enable("hello") is True
        assert stopped.load_order() == ("hello",)

    @pytest.mark.usefixtures("installed")
    def test_blocked_for_a_run_loads_again_after_it(
        self, make_host: Callable[..., PluginHost], outside: Path
    ) -> None:
        blocked = make_host(block=["hello"])
        assert blocked.load_order() == ()
        assert {p.plugin: p.kind for p in blocked.problems()} == {"hello": ProblemKind.BLOCKED}
        blocked.install(
            WheelFactory(outside.parent, group="greeter.plugins").build(
                "other", "1.0.0", code=greet_code("other")
            )
        )  # a commit while hello is kept out
        blocked.stop()
        assert sorted(make_host().load_order()) == ["hello", "other"]


@pytest.mark.usefixtures("two")
class TestOnlyAndBlock:
    def test_block(self, make_host: Callable[..., PluginHost]) -> None:
        """A blocked plugin is not loaded; its reason is a problem and its error."""
        host = make_host(block=["polite"])
        assert host.load_order() == ("hello",)
        polite = host.plugins["polite"]
        assert (polite.state, polite.error) == (
            PluginState.FAILED,
            "polite is blocked by the host's settings (block)",
        )

    def test_only(self, make_host: Callable[..., PluginHost]) -> None:
        """Outside the allow-list: not loaded, and its dependents miss it."""
        host = make_host(only=["polite"])
        assert host.load_order() == ()
        problems = {p.plugin: p.kind for p in host.problems()}
        assert problems["hello"] is ProblemKind.BLOCKED
        assert problems["polite"] is ProblemKind.MISSING


def test_time_process_calls_until_stopped(
    make_host: Callable[..., PluginHost], factory: WheelFactory
) -> None:
    """A timer given to the host hears of each call into a process plugin, with its plugin and
    a duration, until the function it got back stops it; in-process calls are not timed."""
    build(factory, "counter", code=counter())
    factory.build("hello", code=greet_code("one"))
    host = make_host(start=False)
    heard: list[tuple[str, float]] = []
    stop = host.time_process_calls(lambda plugin, seconds: heard.append((plugin, seconds)))
    host.start()
    host.hook.greet(name="a")
    host.hook.greet(name="b")
    assert [plugin for plugin, _ in heard] == ["counter", "counter"]
    assert all(seconds > 0 for _, seconds in heard)
    stop()
    stop()  # a second stop changes nothing
    host.hook.greet(name="c")
    assert len(heard) == 2
