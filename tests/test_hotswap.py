"""Hot swap: live folders, atomic replacement under load, state hand-off, rollback, restarts."""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import cli_row, greet_code

from pluginhost import (
    ActivationError,
    Event,
    EventKind,
    HostStateError,
    PluginHost,
    PluginHostError,
    PluginState,
    ProblemKind,
    Timeouts,
    VersionPolicy,
)
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

TEMPLATE = """
import builtins, time
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
VERSION = "{version}"
LOG = builtins.__dict__.setdefault("_hotswap_log", [])
{top}
count = 0

@hookimpl
def greet(name):
    global count
    count += 1
    {greet}
    return f"{{VERSION}}:{{count}}"

@hookimpl
def pluginhost_export_state():
    {export}
    return {{"count": count}}

@hookimpl
def pluginhost_import_state(state, previous_version):
    global count
    {import_}
    count = state["count"]
    LOG.append(("import", VERSION, previous_version, count))

@hookimpl
def pluginhost_health():
    {health}
    return True

@hookimpl
def pluginhost_deactivate(host):
    LOG.append(("deactivate", VERSION, time.monotonic()))
"""


def code(
    version: str,
    *,
    top: str = "",
    greet: str = "pass",
    export: str = "pass",
    import_: str = "pass",
    health: str = "pass",
) -> str:
    """A plugin that counts its calls, hands the count over, and logs its lifecycle."""
    return TEMPLATE.format(
        version=version, top=top, greet=greet, export=export, import_=import_, health=health
    )


@pytest.fixture(autouse=True)
def hotswap_log() -> Iterator[list[tuple[object, ...]]]:
    """The lifecycle log the test plugins write to (shared through builtins)."""
    log: list[tuple[object, ...]] = builtins.__dict__.setdefault("_hotswap_log", [])
    log.clear()
    yield log
    builtins.__dict__.pop("_hotswap_log", None)


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    """Builds wheels outside the watched folder, to be dropped in atomically."""
    return WheelFactory(tmp_path / "outside", group="greeter.plugins")


def drop(wheel: Path, folder: Path) -> Path:
    """Move a finished wheel into the watched folder in one rename, as operators should."""
    target = folder / wheel.name
    os.replace(wheel, target)
    return target


def live(make_host: MakeHost, **kwargs: object) -> PluginHost:
    kwargs.setdefault("settle", 0.05)
    return make_host(**kwargs)


def answers(host: PluginHost) -> list[str]:
    return sorted(host.hook.greet(name="x"))


class TestLiveFolder:
    def test_new_version_dropped_swaps_with_state(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        events: list[Event],
    ) -> None:
        """A newer wheel dropped in the folder replaces the old version and carries its state."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        assert answers(host) == ["1.0.0:1"]
        assert answers(host) == ["1.0.0:2"]
        drop(outside.build("hello", "1.1.0", code=code("1.1.0")), wheels)
        assert host.wait_idle(20)
        assert answers(host) == ["1.1.0:3"]
        updated = [e for e in events if e.kind is EventKind.UPDATED]
        assert [(e.version, e.previous_version) for e in updated] == [("1.1.0", "1.0.0")]
        # The old version's modules were freed: nothing is reported as still referenced.
        assert updated[0].error is None
        assert host.status("hello").info.state is PluginState.ACTIVE

    def test_new_plugin_dropped_loads(
        self, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A wheel of a new plugin dropped in the folder loads."""
        host = live(make_host)
        drop(outside.build("fresh", code=code("1.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("fresh",)

    def test_slow_copy_read_once_complete(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        events: list[Event],
    ) -> None:
        """A wheel written slowly in place is read only once complete: no failure on the way."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host, settle=0.15)
        data = outside.build("hello", "1.1.0", code=code("1.1.0")).read_bytes()
        with (wheels / "hello-1.1.0-py3-none-any.whl").open("wb") as out:
            for start in range(0, len(data), 128):
                out.write(data[start : start + 128])
                out.flush()
                time.sleep(0.02)
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.1.0"
        assert not [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert host.problems() == ()

    def test_removed_file_unloads(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """Deleting the only wheel of a plugin unloads it with a removed event."""
        path = factory.build("hello", code=code("1.0.0"))
        host = live(make_host)
        path.unlink()
        assert host.wait_idle(20)
        assert host.load_order() == ()
        assert events[-1].kind is EventKind.REMOVED
        assert events[-1].plugin == "hello"

    def test_removed_file_with_other_provider(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Deleting the active version's wheel keeps the plugin while another file provides it."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        newest = factory.build("hello", "1.1.0", code=code("1.1.0"))
        host = live(make_host)
        assert host.plugins["hello"].version == "1.1.0"
        newest.unlink()
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.1.0"
        assert answers(host) == ["1.1.0:1"]

    def test_rapid_drops_end_at_highest(
        self, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """v1, v2, v3 and other plugins dropped in quick succession end at the highest of each."""
        host = live(make_host)
        for version in ("1.0.0", "1.2.0", "1.1.0"):
            drop(outside.build("hello", version, code=code(version)), wheels)
            drop(outside.build(f"other{version[2]}", version, code=code(version)), wheels)
        assert host.wait_idle(30)
        assert host.plugins["hello"].version == "1.2.0"
        assert sorted(host.load_order()) == ["hello", "other0", "other1", "other2"]

    def test_temporary_names_ignored(
        self, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A wheel still named .part is not touched; the rename into place loads it."""
        host = live(make_host)
        wheel = outside.build("hello", code=code("1.0.0"))
        part = wheels / (wheel.name + ".part")
        os.replace(wheel, part)
        assert host.wait_idle(20)
        assert host.load_order() == ()
        os.replace(part, wheels / wheel.name)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)


class TestTwoDistributionsOneName:
    """Two distributions whose one entry point has the same name (pytest-tornado and
    pytest-tornasync declare ``tornado``): one plugin name, so one of them serves and the other
    is refused naming both, never taken for a version of the first."""

    def test_both_at_the_start_the_first_by_name_serves(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        factory.build("tornado", "0.8.1", distribution="pytest-tornado", module="a_tornado",
                      code=greet_code("tornado"))  # fmt: skip
        factory.build("tornado", "9.0.0", distribution="pytest-tornasync", module="b_tornasync",
                      code=greet_code("tornasync"))  # fmt: skip
        host = make_host()
        assert host.hook.greet(name="x") == ["tornado"]
        (problem,) = [p for p in host.problems() if p.kind is ProblemKind.CONFLICT]
        assert "pytest-tornasync 9.0.0" in problem.message
        assert "pytest-tornado provides" in problem.message

    def test_another_distribution_dropped_beside_the_serving_one_is_refused(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        events: list[Event],
    ) -> None:
        """It came in as an update: the higher version replaced the serving plugin, with its
        state. Once the serving distribution's wheel is deleted, the other one replaces it."""
        served = factory.build("tornado", "0.8.1", distribution="pytest-tornado",
                               module="a_tornado", code=greet_code("tornado"))  # fmt: skip
        host = live(make_host)
        drop(outside.build("tornado", "9.0.0", distribution="pytest-tornasync",
                           module="b_tornasync", code=greet_code("tornasync")), wheels)  # fmt: skip
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["tornado"]
        assert not [e for e in events if e.kind is EventKind.UPDATED]
        conflicts = [p for p in host.problems() if p.kind is ProblemKind.CONFLICT]
        assert [p.version for p in conflicts] == ["9.0.0"]
        assert "(the active one)" in conflicts[0].message
        served.unlink()
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["tornasync"]
        assert host.plugins["tornado"].distribution == "pytest-tornasync"

    def test_the_serving_distribution_keeps_the_name_across_a_restart(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
    ) -> None:
        """At the start, the committed distribution is restored: the other one's higher
        version was taken for its upgrade, and with nothing active yet, the first by name
        took the plugin over."""
        factory.build("tornado", "1.0.0", distribution="zeta-tornado", module="z_tornado",
                      code=greet_code("zeta"))  # fmt: skip
        host = live(make_host)
        drop(outside.build("tornado", "9.0.0", distribution="alpha_Tornado", module="a_tornado",
                           code=greet_code("alpha")), wheels)  # fmt: skip
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["zeta"]
        host.stop()
        again = live(make_host)
        assert again.hook.greet(name="x") == ["zeta"]
        conflicts = [p for p in again.problems() if p.kind is ProblemKind.CONFLICT]
        assert [p.version for p in conflicts] == ["9.0.0"]


class TestAtomicSwap:
    def test_calls_during_many_swaps(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """Threads calling through 15 swaps see no error, no missing result, no mixed versions."""
        factory.build("core", "1.0.0", code=code("1.0.0"), module="core")
        echo = code("1.0.0", top="import core as _core", greet="return 'echo:' + _core.VERSION")
        factory.build("echo", code=echo, requires={"core": "^1"})
        host = live(make_host)
        stop = threading.Event()
        stats = {"calls": 0, "errors": 0, "missing": 0, "mixed": 0}
        lock = threading.Lock()

        def call() -> None:
            while not stop.is_set():
                try:
                    results = host.hook.greet(name="x")
                except Exception:
                    with lock:
                        stats["errors"] += 1
                    continue
                core = [r.split(":")[0] for r in results if not r.startswith("echo:")]
                echoed = [r.split(":")[1] for r in results if r.startswith("echo:")]
                with lock:
                    stats["calls"] += 1
                    if len(core) != 1 or len(echoed) != 1:
                        stats["missing"] += 1
                    elif core != echoed:
                        stats["mixed"] += 1

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for minor in range(1, 16):
                version = f"1.{minor}.0"
                drop(outside.build("core", version, code=code(version), module="core"), wheels)
                assert host.wait_idle(30)
                assert host.plugins["core"].version == version
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert stats["calls"] > 100
        assert stats["errors"] == 0
        assert stats["missing"] == 0
        assert stats["mixed"] == 0
        assert sorted(host.hook.greet(name="x"))[0].startswith("1.15.0:")

    def test_drain_waits_for_calls_in_flight(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        hotswap_log: list[tuple[object, ...]],
    ) -> None:
        """The old version is deactivated only after a call that started before the switch ends."""
        slow = "if name == 'slow':\n        time.sleep(0.6)"
        factory.build("hello", "1.0.0", code=code("1.0.0", greet=slow))
        host = live(make_host)
        done: list[float] = []
        caller = threading.Thread(
            target=lambda: done.append((host.hook.greet(name="slow"), time.monotonic())[1])
        )
        caller.start()
        time.sleep(0.1)
        host.install(outside.build("hello", "1.1.0", code=code("1.1.0")))
        caller.join()
        deactivated = [e for e in hotswap_log if e[0] == "deactivate" and e[1] == "1.0.0"]
        assert len(deactivated) == 1
        assert float(deactivated[0][2]) >= done[0]  # type: ignore[arg-type]

    def test_drain_timeout_reported(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
    ) -> None:
        """A call outliving the graceful timeout is reported as drain_timeout."""
        slow = "if name == 'slow':\n        time.sleep(1.5)"
        factory.build("hello", "1.0.0", code=code("1.0.0", greet=slow))
        host = live(make_host, timeouts=Timeouts(drain=0.2))
        caller = threading.Thread(target=lambda: host.hook.greet(name="slow"))
        caller.start()
        time.sleep(0.1)
        host.install(outside.build("hello", "1.1.0", code=code("1.1.0")))
        caller.join()
        assert any(e.kind is EventKind.DRAIN_TIMEOUT and e.plugin == "hello" for e in events)


class TestRollbackOnFailure:
    @pytest.mark.parametrize(
        ("step", "kwargs"),
        [
            ("import", {"top": "raise RuntimeError('broken import')"}),
            ("export_state", {}),
            ("import_state", {"import_": "raise ValueError('bad state')"}),
            ("health", {"health": "return False"}),
            ("activate", {"top": "hookimpl(lambda host: 1/0)"}),
        ],
    )
    def test_failed_update_keeps_old_serving(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
        step: str,
        kwargs: dict[str, str],
    ) -> None:
        """A failure at any step rolls back: the old version serves with its state."""
        old_code = (
            code("1.0.0", export="raise KeyError('no export')")
            if step == "export_state"
            else code("1.0.0")
        )
        new_code = code("1.1.0", **kwargs)
        if step == "activate":
            new_code += (
                "\n@hookimpl\ndef pluginhost_activate(host):\n    raise OSError('cannot start')\n"
            )
        factory.build("hello", "1.0.0", code=old_code)
        host = live(make_host)
        assert answers(host) == ["1.0.0:1"]
        with pytest.raises(ActivationError) as info:
            host.install(outside.build("hello", "1.1.0", code=new_code))
        assert step in str(info.value)
        assert answers(host) == ["1.0.0:2"]
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        rolled = [e for e in events if e.kind is EventKind.ROLLED_BACK]
        assert failed[-1].step == step
        assert rolled[-1].version == "1.0.0"
        assert rolled[-1].previous_version == "1.1.0"
        assert host.status("hello").info.state is PluginState.ROLLED_BACK
        assert host.plugins["hello"].version == "1.0.0"

    def test_a_first_load_that_fails_falls_back_to_the_next_version(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """Three wheels of a plugin none serves, the newest failing its health check: the host
        loads the newest that passes, in the same start, and still tells the failure. It left
        the plugin unloaded beside working older wheels (newcomer 10: the README's
        ``demo --keep`` wheels, whose hello 1.2.0 is broken on purpose)."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        factory.build("hello", "1.1.0", code=code("1.1.0"))
        factory.build("hello", "1.2.0", code=code("1.2.0", health="raise OSError('down')"))
        host = make_host()
        assert answers(host) == ["1.1.0:1"]
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert [(e.version, e.step) for e in failed] == [("1.2.0", "health")]
        assert [p.version for p in host.problems() if p.plugin == "hello"] == ["1.2.0"]
        host.refresh()
        host.wait_idle(10)
        assert answers(host) == ["1.1.0:2"]  # not tried again, still told
        assert [p.version for p in host.problems() if p.plugin == "hello"] == ["1.2.0"]

    def test_a_serving_plugin_is_held_by_its_failed_newest_version(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin that serves, whose newest version failed and was rolled back from, stays
        at its version at the next looks, though a version between the two is on offer: the
        fallback is for a plugin none serves (the soak test found 1.1.0 loaded, unasked, at
        the next unrelated change)."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = make_host(persist_state=True)
        assert answers(host) == ["1.0.0:1"]
        for version, health in (("1.2.0", "raise OSError('down')"), ("1.1.0", "")):
            wheel = outside.build("hello", version, code=code(version, health=health))
            wheel.rename(factory.directory / wheel.name)
            assert host.wait_idle(30)
        assert host.plugins["hello"].version == "1.0.0"
        host.refresh()
        assert host.wait_idle(30)
        assert host.plugins["hello"].version == "1.0.0"

    def test_every_version_failing_leaves_the_plugin_failed(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """Falling back ends with the versions on offer: each is tried once, newest first."""
        for version in ("1.0.0", "1.1.0"):
            factory.build("hello", version, code=code(version, health="raise OSError('down')"))
        host = make_host()
        assert answers(host) == []
        failed = [e.version for e in events if e.kind is EventKind.LOAD_FAILED]
        assert failed == ["1.1.0", "1.0.0"]
        assert host.plugins["hello"].state is PluginState.FAILED

    def test_import_that_hangs_times_out(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """An import that hangs is bounded by the timeout and counts as a failure."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host, timeouts=Timeouts(import_=0.3))
        hang = code("1.1.0", top="time.sleep(5)")
        with pytest.raises(ActivationError, match=r"did not finish within 0\.3s"):
            host.install(outside.build("hello", "1.1.0", code=hang))
        assert answers(host) == ["1.0.0:1"]


class TestManualRollback:
    def test_rollback_to_previous(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        events: list[Event],
    ) -> None:
        """rollback() returns to the previous version and keeps the newer one out."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        host.install(outside.build("hello", "1.1.0", code=code("1.1.0")))
        status = host.status("hello")
        assert status.rollback_available
        assert status.backups == ("1.0.0",)
        info = host.rollback("hello")
        assert info.version == "1.0.0"
        assert answers(host)[0].startswith("1.0.0:")
        assert events[-1].kind is EventKind.ROLLED_BACK
        assert events[-1].error is None
        host._reconcile()  # a rescan must not bring 1.1.0 back
        assert host.plugins["hello"].version == "1.0.0"
        with pytest.raises(HostStateError, match="no earlier version"):
            host.rollback("hello")

    def test_rollback_sticks_across_restart(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A rollback is committed with the version rolled back from kept out: a restart does
        not bring it back, though its wheel is still in the folder; its site dir is gone."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        factory.build("hello", "1.1.0", code=code("1.1.0"))
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.1.0"
        host.rollback("hello")
        assert [p.name.split("-")[1] for p in host.site_root.iterdir()] == ["1.0.0"]
        host.stop()
        again = live(make_host)
        assert again.plugins["hello"].version == "1.0.0"
        assert answers(again)[0].startswith("1.0.0:")

    def test_rollback_to_a_version_whose_wheel_is_gone(
        self, factory: WheelFactory, outside: WheelFactory, wheels: Path, make_host: MakeHost
    ) -> None:
        """Rolled back to a version whose wheel was replaced in the folder by the newer one, the
        plugin stays: the rejected newer wheel still delivers it, and later rescans keep it."""
        old = factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        old.unlink()
        drop(outside.build("hello", "1.1.0", code=code("1.1.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.1.0"
        assert host.rollback("hello").version == "1.0.0"
        assert host.wait_idle(20)
        host._reconcile()
        assert host.plugins["hello"].version == "1.0.0"
        assert answers(host)[0].startswith("1.0.0:")

    def test_backups_limited(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """Only the last N versions are kept as backups; older site dirs are deleted."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host, keep_backups=2)
        for minor in (1, 2, 3):
            host.install(outside.build("hello", f"1.{minor}.0", code=code(f"1.{minor}.0")))
        assert host.status("hello").backups == ("1.2.0", "1.1.0")
        assert sorted(p.name.split("-")[1] for p in host.site_root.iterdir()) == [
            "1.1.0",
            "1.2.0",
            "1.3.0",
        ]


class TestPolicyOnUpdates:
    def test_downgrade_refused(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """A lower version is refused unless the policy allows downgrades."""
        factory.build("hello", "1.1.0", code=code("1.1.0"))
        host = live(make_host)
        (factory.directory / "hello-1.1.0-py3-none-any.whl").unlink()
        with pytest.raises(PluginHostError, match=r"1\.0\.0"):
            host.install(outside.build("hello", "1.0.0", code=code("1.0.0")))
        assert host.plugins["hello"].version == "1.1.0"

    def test_downgrade_allowed(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """With allow_downgrade, installing a lower version replaces the active one."""
        path = factory.build("hello", "1.1.0", code=code("1.1.0"))
        host = live(make_host, policy=VersionPolicy(allow_downgrade=True))
        path.unlink()
        drop(outside.build("hello", "1.0.0", code=code("1.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.0.0"

    def test_breaking_update_rejected(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """An update that breaks a dependent's constraint is refused, naming the dependent."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        factory.build("polite", code=code("1.0.0"), requires={"hello": "^1.0"})
        host = live(make_host)
        drop(outside.build("hello", "2.0.0", code=code("2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.0.0"
        refusal = next(p for p in host.problems() if p.plugin == "hello")
        assert refusal.kind is ProblemKind.REFUSED
        assert "would break polite" in refusal.message

    def test_breaking_update_cascades(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """With breaking_change='cascade', the dependent is unloaded and the update applied."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        factory.build("polite", code=code("1.0.0"), requires={"hello": "^1.0"})
        host = live(make_host, breaking_change="cascade")
        drop(outside.build("hello", "2.0.0", code=code("2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)
        assert host.plugins["hello"].version == "2.0.0"

    def test_same_version_other_bytes_conflict(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """The same name and version with other bytes is a conflict, never a silent replace."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        impostor = outside.build("hello", "1.0.0", code=code("1.0.0", greet="return 'evil'"))
        # A build tag gives the same version a second valid file name.
        os.replace(impostor, wheels / "hello-1.0.0-1-py3-none-any.whl")
        assert host.wait_idle(20)
        assert answers(host) == ["1.0.0:1"]
        conflict = next(p for p in host.problems() if p.kind is ProblemKind.CONFLICT)
        assert "other contents" in conflict.message


class TestRestart:
    def test_restart_restores_without_reinstalling(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A restarted host loads the committed set from its site dirs, even manual installs."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        host.install(outside.build("extra", code=code("1.0.0")))
        site = host.plugins["extra"].site_dir
        assert site is not None
        stamp = site.stat().st_mtime_ns
        host.stop()
        (outside.directory / "extra-1.0.0-py3-none-any.whl").unlink()
        again = live(make_host)
        assert sorted(again.load_order()) == ["extra", "hello"]
        assert site.stat().st_mtime_ns == stamp
        assert answers(again) == ["1.0.0:1", "1.0.0:1"]

    def test_second_host_on_same_home_refused(self, make_host: MakeHost) -> None:
        """Two hosts cannot share a home."""
        live(make_host)
        with pytest.raises(HostStateError, match="in use by process"):
            live(make_host)

    def test_state_persisted_across_restart(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """With persist_state, a plugin's state survives stop and start."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host, persist_state=True)
        answers(host)
        answers(host)
        host.stop()
        again = live(make_host, persist_state=True)
        assert answers(again) == ["1.0.0:3"]

    def test_corrupt_registry_falls_back(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """A corrupt registry falls back to its last good copy."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        host.install(outside.build("extra", code=code("1.0.0")))
        host.install(outside.build("more", code=code("1.0.0")))
        host.stop()
        registry = host.home / "registry.json"
        registry.write_text(registry.read_text()[:40])
        again = live(make_host)
        assert "extra" in again.load_order()
        assert "hello" in again.load_order()


class TestFolderTrouble:
    def test_folder_gone_and_back(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A watched folder that disappears is reported; plugins keep serving; it is re-armed."""
        factory.build("hello", code=code("1.0.0"))
        host = live(make_host)
        moved = wheels.parent / "moved-away"
        os.rename(wheels, moved)
        deadline = time.monotonic() + 10
        while not any(p.kind is ProblemKind.FOLDER_UNAVAILABLE for p in host.problems()):
            assert time.monotonic() < deadline, "folder loss never reported"
            time.sleep(0.05)
        assert answers(host) == ["1.0.0:1"]
        wheels.mkdir()
        os.replace(moved / "hello-1.0.0-py3-none-any.whl", wheels / "hello-1.0.0-py3-none-any.whl")
        drop(outside.build("hello", "1.1.0", code=code("1.1.0")), wheels)
        deadline = time.monotonic() + 10
        while host.plugins["hello"].version != "1.1.0":
            assert time.monotonic() < deadline, "folder never re-armed"
            time.sleep(0.05)
        assert host.wait_idle(20)
        assert not any(p.kind is ProblemKind.FOLDER_UNAVAILABLE for p in host.problems())

    def test_polling_mode(self, outside: WheelFactory, make_host: MakeHost, wheels: Path) -> None:
        """With polling=True (no inotify), drops are still applied."""
        host = live(make_host, polling=True)
        drop(outside.build("hello", code=code("1.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)


class TestStagingLeftovers:
    def test_cleaned_at_start(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Staging leftovers of an interrupted install are removed at start."""
        factory.build("hello", code=code("1.0.0"))
        host = live(make_host)
        host.stop()
        leftover = host.staging_root / "tmp-interrupted" / "site"
        leftover.mkdir(parents=True)
        (leftover / "half.py").write_text("x = 1\n")
        live(make_host)
        assert list(host.staging_root.iterdir()) == []


class TestHostFactoryFixture:
    def test_fixture(
        self, host_factory: Callable[..., PluginHost], wheel_factory: WheelFactory
    ) -> None:
        """The public host_factory fixture starts a host on a temp home and stops it after."""
        from hookspecs.greeter import GreeterSpec

        wheel_factory.build("hello", code=code("1.0.0"))
        host = host_factory("greeter", specs=[GreeterSpec], watch=[wheel_factory.directory])
        assert answers(host) == ["1.0.0:1"]
        assert host.home.parent == wheel_factory.directory.parent


class TestDependentsInSwap:
    def test_dependent_without_its_wheel_reimported(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A dependent whose wheel is gone since it was installed is re-imported from its site."""
        factory.build("core", "1.0.0", code=code("1.0.0"), module="core")
        host = live(make_host)
        echo = code("1.0.0", top="import core as _core", greet="return 'echo:' + _core.VERSION")
        wheel = outside.build("echo", code=echo, requires={"core": "^1"})
        host.install(wheel)
        wheel.unlink()
        drop(outside.build("core", "1.1.0", code=code("1.1.0"), module="core"), wheels)
        assert host.wait_idle(20)
        assert sorted(host.hook.greet(name="x"))[1] == "echo:1.1.0"

    def test_dependent_broken_by_update_blames_the_update(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        events: list[Event],
    ) -> None:
        """An update breaking a dependent's import rolls back; a later good update still works."""
        factory.build("core", "1.0.0", code=code("1.0.0", top="OLD_API = 1"), module="core")
        echo = code("1.0.0", top="from core import OLD_API", greet="return 'echo'")
        factory.build("echo", code=echo, requires={"core": "^1"})
        host = live(make_host)
        drop(outside.build("core", "1.1.0", code=code("1.1.0"), module="core"), wheels)
        assert host.wait_idle(20)
        assert host.plugins["core"].version == "1.0.0"
        failed = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert failed[-1].plugin == "core"
        assert "OLD_API" in (failed[-1].error or "")
        assert sorted(host.hook.greet(name="x")) == ["1.0.0:1", "echo"]
        good = code("1.2.0", top="OLD_API = 2")
        drop(outside.build("core", "1.2.0", code=good, module="core"), wheels)
        assert host.wait_idle(20)
        assert host.plugins["core"].version == "1.2.0"
        assert sorted(host.hook.greet(name="x")) == ["1.2.0:2", "echo"]

    def test_dependent_events_name_the_change(
        self,
        factory: WheelFactory,
        outside: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        events: list[Event],
    ) -> None:
        """The dependent's loading and updated events say what it was re-imported for."""
        factory.build("core", "1.0.0", code=code("1.0.0"), module="core")
        factory.build("echo", code=code("1.0.0", greet="return 'echo'"), requires={"core": "^1"})
        host = live(make_host)
        drop(outside.build("core", "1.1.0", code=code("1.1.0"), module="core"), wheels)
        assert host.wait_idle(20)
        echo = [e for e in events if e.plugin == "echo" and e.kind is not EventKind.DISCOVERED]
        assert [e.reimported_for for e in echo[-2:]] == ["core 1.1.0", "core 1.1.0"]
        core = [e for e in events if e.plugin == "core" and e.kind is EventKind.UPDATED]
        assert core[-1].reimported_for is None


class TestKeptServing:
    def test_rebuilt_active_version_conflicts_but_stays(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """The active version's wheel rewritten with other bytes is a conflict; it stays loaded."""
        path = factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        rebuilt = outside.build("hello", "1.0.0", code=code("1.0.0", greet="return 'evil'"))
        os.replace(rebuilt, path)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)
        assert answers(host) == ["1.0.0:1"]
        assert any(p.kind is ProblemKind.CONFLICT for p in host.problems())

    def test_unavailable_folder_keeps_serving_through_reconciles(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Plugins of a folder that is gone keep serving when another change is applied."""
        factory.build("hello", code=code("1.0.0"))
        host = live(make_host)
        os.rename(factory.directory, tmp_path / "gone")
        host.install(outside.build("other", code=code("2.0.0")))
        assert sorted(host.load_order()) == ["hello", "other"]

    def test_start_with_folder_missing_restores(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A restart while the watched folder is missing restores its committed plugins."""
        factory.build("hello", code=code("1.0.0"))
        live(make_host).stop()
        os.rename(factory.directory, tmp_path / "gone")
        again = live(make_host)
        assert again.load_order() == ("hello",)


def served(host: PluginHost) -> list[str]:
    """The versions answering, without their call counters."""
    return [answer.split(":")[0] for answer in answers(host)]


class TestStaysListed:
    def test_failed_import_stays_listed_after_an_unrelated_change(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """A plugin whose import failed stays in host.plugins, with its reason, after another
        wheel is dropped, and its status can be asked for."""
        factory.build("crash", code="1/0")
        host = live(make_host)
        assert host.plugins["crash"].state is PluginState.FAILED
        drop(outside.build("hello", code=code("1.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)
        assert host.plugins["crash"].state is PluginState.FAILED
        assert "ZeroDivisionError" in (host.status("crash").info.error or "")

    def test_cascaded_dependent_stays_listed(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """With breaking_change='cascade', the dependent let go stays in host.plugins and
        status() with its reason, and its dependency_failed problem is filed under it."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        factory.build("polite", code=code("1.0.0"), requires={"hello": "^1.0"})
        host = live(make_host, breaking_change="cascade")
        drop(outside.build("hello", "2.0.0", code=code("2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.load_order() == ("hello",)
        polite = host.status("polite").info
        assert polite.state is PluginState.FAILED
        assert "hello" in (polite.error or "")
        (problem,) = [p for p in host.problems() if p.kind is ProblemKind.DEPENDENCY_FAILED]
        assert (problem.plugin, problem.involved) == ("polite", ("hello",))


class TestPin:
    def test_older_version_installed_is_pinned_until_unpinned(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """install() of an older wheel, with downgrades allowed, makes it serve while a newer
        wheel sits in the folder, across restarts, until the operator unpins it."""
        factory.build("hello", "1.1.0", code=code("1.1.0"))
        policy = VersionPolicy(allow_downgrade=True)
        host = live(make_host, policy=policy)
        info = host.install(outside.build("hello", "1.0.0", code=code("1.0.0")))
        assert (info.version, info.pinned) == ("1.0.0", True)
        drop(outside.build("hello", "1.2.0", code=code("1.2.0")), wheels)
        assert host.wait_idle(20)
        assert served(host) == ["1.0.0"]
        host.stop()
        again = live(make_host, policy=policy)
        assert served(again) == ["1.0.0"]
        assert again.plugins["hello"].pinned
        # The operator sees it (list and status said nothing of it).
        assert "active (pinned)" in cli_row(again.home, "hello", "list")
        assert "newer versions wait" in cli_row(again.home, "  pinned", "status", "hello")
        again.unpin("hello")
        assert served(again) == ["1.2.0"]
        assert "(pinned)" not in cli_row(again.home, "hello", "list")
        with pytest.raises(HostStateError, match="not pinned"):
            again.unpin("hello")

    def test_older_version_refused_without_downgrades(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost
    ) -> None:
        """Without downgrades, install() of an older wheel says the policy forbids it."""
        factory.build("hello", "1.1.0", code=code("1.1.0"))
        host = live(make_host)
        with pytest.raises(PluginHostError, match="forbids a downgrade"):
            host.install(outside.build("hello", "1.0.0", code=code("1.0.0")))
        assert served(host) == ["1.1.0"]


class TestRollbackOfInstalled:
    def test_rollback_survives_a_restart(self, outside: WheelFactory, make_host: MakeHost) -> None:
        """A plugin loaded with install() and rolled back comes back rolled back after a
        restart, rather than being unloaded as removed."""
        host = live(make_host)
        host.install(outside.build("hello", "1.0.0", code=code("1.0.0")))
        host.install(outside.build("hello", "1.1.0", code=code("1.1.0")))
        assert host.rollback("hello").version == "1.0.0"
        host.stop()
        again = live(make_host)
        assert again.load_order() == ("hello",)
        assert served(again) == ["1.0.0"]


class TestConsistentReads:
    def test_unloading_plugin_is_listed_while_it_answers(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """While a removed wheel's plugin is unloaded, load_order() names it as long as its
        hooks answer, and not after."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        seen: list[tuple[tuple[str, ...], list[str]]] = []

        def look(event: Event) -> None:
            if event.kind in (EventKind.UNLOADING, EventKind.REMOVED):
                seen.append((host.load_order(), served(host)))

        host.subscribe(look)
        (wheels / "hello-1.0.0-py3-none-any.whl").unlink()
        assert host.wait_idle(20)
        assert seen == [(("hello",), ["1.0.0"]), ((), [])]


class TestModuleCollisionsInOneChange:
    def test_update_taking_a_dependents_module_is_refused(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """An update that starts shipping a top-level module its active dependent ships is a
        conflict, though the dependent is re-imported in the same change; both serve on."""
        factory.build("hello", "1.0.0", code=code("1.0.0"))
        factory.build(
            "polite",
            code=code("1.0.0"),
            requires={"hello": "^1.0"},
            files={"shared_utils/__init__.py": ""},
        )
        host = live(make_host)
        assert host.load_order() == ("hello", "polite")
        newer = outside.build(
            "hello", "1.1.0", code=code("1.1.0"), files={"shared_utils/__init__.py": ""}
        )
        drop(newer, wheels)
        assert host.wait_idle(20)
        assert host.plugins["hello"].version == "1.0.0"
        conflict = next(p for p in host.problems() if p.plugin == "hello")
        assert "'shared_utils' is provided both by plugin 'polite' and by plugin 'hello'" in (
            conflict.message
        )
        assert host.load_order() == ("hello", "polite")


class TestFirstSwap:
    def test_first_swap_after_a_start_plans_only_its_part(
        self, factory: WheelFactory, outside: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """The start planned each part with nothing active; the worker plans them again against
        the versions it made active (``resolve/planner.py``), so that the first swap plans only
        the part it touches, where it planned all of them."""
        for index in range(5):
            factory.build(f"p{index}", "1.0.0", code=code("1.0.0"))
        host = live(make_host)
        assert host.wait_idle(20)
        memo = host._engine._planner.memo  # no public count of the parts planned
        before = memo.misses
        drop(outside.build("p3", "2.0.0", code=code("2.0.0")), wheels)
        assert host.wait_idle(20)
        assert host.plugins["p3"].version == "2.0.0"
        assert memo.misses == before + 1
