"""The engine, built directly: plans applied to a real plugin manager, a real home, real wheels."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest
from conftest import counter_code, greet_code

from hookspecs import greeter
from hookspecs.lifecycle import lifecycle_specs
from pluginhost import (
    ActivationError,
    Event,
    EventKind,
    HostStateError,
    PluginState,
    ResolutionError,
    Settings,
    VersionPolicy,
    WheelError,
)
from pluginhost.discover.folder import read_wheel
from pluginhost.discover.sources import Scan
from pluginhost.host.engine import Engine
from pluginhost.load.modules import PluginFinder
from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.model.status import PluginInfo
from pluginhost.state.registry import Registry
from pluginhost.testing import WheelFactory


class Rig:
    """An engine on a temp home, with what it emits and commits kept for the test to read."""

    def __init__(self, home: Path, **settings: object) -> None:
        self.events: list[Event] = []
        self.commits: list[Registry] = []
        self.watch: Callable[[Event], None] | None = None
        self.pm = pluggy.PluginManager(greeter.PROJECT)
        self.pm.add_hookspecs(lifecycle_specs(greeter.PROJECT))
        self.pm.add_hookspecs(greeter.GreeterSpec)
        (home / "site").mkdir(parents=True, exist_ok=True)
        self.settings = Settings(home=home, api_version=greeter.API_VERSION, **settings)  # type: ignore[arg-type]
        self.finder = PluginFinder()
        sys.meta_path.insert(0, self.finder)
        self.engine = Engine(
            self.settings, self.pm, self.finder, self, self._emit, self.commits.append
        )

    def _emit(self, event: Event) -> None:
        if self.watch is not None:
            self.watch(event)
        self.events.append(event)

    def close(self) -> None:
        self.engine.halt(save_state=False)
        sys.meta_path.remove(self.finder)

    def answers(self) -> list[str]:
        return sorted(self.pm.hook.greet(name="x"))

    def kinds(self) -> list[tuple[EventKind, str | None]]:
        return [(e.kind, e.plugin) for e in self.events]


def scan_of(*wheels: Path) -> Scan:
    """What a look at a folder holding ``wheels`` finds."""
    scan = Scan()
    for wheel in wheels:
        scan += read_wheel(wheel, "greeter.plugins")
    return scan


TYPO = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def gret(name):
    return "typo"
"""


def candidate_of(wheel: Path) -> Candidate:
    (candidate,) = scan_of(wheel).candidates
    return candidate


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path / "home")
    yield rig
    rig.close()


@pytest.fixture
def built(tmp_path: Path) -> WheelFactory:
    return WheelFactory(tmp_path / "wheels")


class TestReconcile:
    def test_loads_in_dependency_order_and_commits_once(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """A reconcile loads what the plan chooses, dependencies first, with one commit."""
        polite = built.build("polite", code=greet_code("polite"), requires={"hello": "^1"})
        hello = built.build("hello", code=greet_code("hello"))
        outcome = rig.engine.reconcile(scan_of(polite, hello))
        assert dict(outcome.failures) == {}
        assert rig.engine.view.order == ("hello", "polite")
        assert rig.answers() == ["hello", "polite"]
        assert len(rig.commits) == 1
        assert [r.candidate.name for r in rig.commits[0].active] == ["hello", "polite"]
        assert rig.engine.view.graph == {"hello": (), "polite": ("hello",)}

    def test_failure_is_in_the_outcome_and_the_view(self, rig: Rig, built: WheelFactory) -> None:
        """A plugin whose import fails is in the outcome's failures and listed as failed."""
        crash = built.build("crash", code="1/0")
        outcome = rig.engine.reconcile(scan_of(crash))
        (error,) = outcome.failures.values()
        assert isinstance(error, ActivationError)
        assert error.__traceback__ is None
        info = rig.engine.view.plugins["crash"]
        assert info.state is PluginState.FAILED
        assert "ZeroDivisionError" in (info.error or "")

    def test_failed_plugin_stays_listed_after_another_reconcile(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """Bytes that failed before are not tried again, and stay listed with their reason."""
        crash = built.build("crash", code="1/0")
        hello = built.build("hello", code=greet_code("hello"))
        rig.engine.reconcile(scan_of(crash))
        rig.engine.reconcile(scan_of(crash, hello))
        assert rig.engine.view.plugins["crash"].state is PluginState.FAILED
        assert "ZeroDivisionError" in (rig.engine.view.status("crash").info.error or "")
        assert [k for k in rig.kinds() if k[0] is EventKind.LOAD_FAILED] == [
            (EventKind.LOAD_FAILED, "crash")
        ]

    def test_wheel_gone_unloads(self, rig: Rig, built: WheelFactory) -> None:
        """A plugin no source offers any more is unloaded, and its site dir deleted."""
        hello = built.build("hello", code=greet_code("hello"))
        rig.engine.reconcile(scan_of(hello))
        assert list((rig.settings.site_root).iterdir())
        rig.engine.reconcile(Scan())
        assert rig.engine.view.order == ()
        assert rig.answers() == []
        assert list(rig.settings.site_root.iterdir()) == []
        assert (EventKind.REMOVED, "hello") in rig.kinds()


class TestInstall:
    def test_raises_the_error_of_the_step_that_failed(self, rig: Rig, built: WheelFactory) -> None:
        """A wheel changed between its reading and its install is the WheelError the install
        raised, not a guess from the problems."""
        wheel = built.build("hello", code=greet_code("hello"))
        candidate = candidate_of(wheel)
        built.build("hello", code=greet_code("other bytes"))  # same name, other contents
        with pytest.raises(WheelError, match="changed since") as info:
            rig.engine.install(candidate, Scan(), ())
        assert info.value.plugin == "hello"
        assert "plugin 'hello': hello" not in str(info.value)
        assert rig.engine.view.plugins["hello"].state is PluginState.FAILED

    def test_missing_dependency_is_named(self, rig: Rig, built: WheelFactory) -> None:
        """A plugin whose dependency no source offers raises ResolutionError naming it."""
        polite = built.build("polite", requires={"hello": "^1"})
        with pytest.raises(ResolutionError) as info:
            rig.engine.install(candidate_of(polite), Scan(), ())
        assert info.value.missing == ("hello",)

    def test_older_version_is_pinned(self, tmp_path: Path) -> None:
        """With downgrades allowed, installing a version older than the one on offer pins it:
        it serves until unpinned, whatever the sources offer."""
        rig = Rig(tmp_path / "home", policy=VersionPolicy(allow_downgrade=True))
        try:
            folder = WheelFactory(tmp_path / "folder")
            newer = scan_of(folder.build("hello", "1.1.0", code=greet_code("1.1.0")))
            outside = WheelFactory(tmp_path / "outside")
            older = outside.build("hello", "1.0.0", code=greet_code("1.0.0"))
            rig.engine.reconcile(newer)
            assert rig.answers() == ["1.1.0"]
            info = rig.engine.install(candidate_of(older), newer, ())
            assert (info.version, info.pinned) == ("1.0.0", True)
            newest = newer + scan_of(folder.build("hello", "1.2.0", code=greet_code("1.2.0")))
            rig.engine.reconcile(newest)
            assert rig.answers() == ["1.0.0"]
            assert rig.commits[-1].active[0].pinned
            rig.engine.unpin(PluginName("hello"), newest, ())
            assert rig.answers() == ["1.2.0"]
            assert not rig.engine.view.plugins["hello"].pinned
        finally:
            rig.close()

    def test_older_version_refused_without_downgrades(self, rig: Rig, tmp_path: Path) -> None:
        """Without downgrades, an older version is refused with the policy's reason, and the
        newer one serves on."""
        newer = scan_of(
            WheelFactory(tmp_path / "f").build("hello", "1.1.0", code=greet_code("1.1.0"))
        )
        older = WheelFactory(tmp_path / "o").build("hello", "1.0.0", code=greet_code("1.0.0"))
        rig.engine.reconcile(newer)
        with pytest.raises(ResolutionError, match="downgrade"):
            rig.engine.install(candidate_of(older), newer, ())
        assert rig.answers() == ["1.1.0"]
        assert not rig.engine.view.plugins["hello"].pinned


class TestRemoveAndRollback:
    def test_remove_unloads_dependents_first(self, rig: Rig, built: WheelFactory) -> None:
        """Removing a plugin unloads the plugins that need it, and keeps it out."""
        hello = built.build("hello", code=greet_code("hello"))
        polite = built.build("polite", code=greet_code("polite"), requires={"hello": "^1"})
        rig.engine.reconcile(scan_of(hello, polite))
        rig.engine.remove(PluginName("hello"))
        unloads = [k for k in rig.kinds() if k[0] is EventKind.UNLOADED]
        assert unloads == [(EventKind.UNLOADED, "polite"), (EventKind.UNLOADED, "hello")]
        assert rig.commits[-1].removed == ("hello",)
        rig.engine.reconcile(scan_of(hello, polite))
        assert "hello" not in rig.engine.view.order

    def test_remove_of_unknown_plugin(self, rig: Rig) -> None:
        """Removing a plugin that is not active names it once."""
        with pytest.raises(HostStateError) as info:
            rig.engine.remove(PluginName("ghost"))
        assert str(info.value) == "plugin 'ghost' is not active"

    def test_rollback_then_restore(self, rig: Rig, built: WheelFactory, tmp_path: Path) -> None:
        """A rollback commits the earlier version and rejects the later one; a new engine on
        the same registry restores the earlier one and keeps the later one out."""
        v1 = built.build("hello", "1.0.0", code=greet_code("1.0.0"))
        rig.engine.reconcile(scan_of(v1))
        v2 = built.build("hello", "1.1.0", code=greet_code("1.1.0"))
        rig.engine.reconcile(scan_of(v1, v2))
        assert rig.answers() == ["1.1.0"]
        info = rig.engine.rollback(PluginName("hello"))
        assert (info.version, info.state) == ("1.0.0", PluginState.ROLLED_BACK)
        registry = rig.commits[-1]
        assert [k.version for k in registry.rejected] == ["1.1.0"]
        rig.close()
        again = Rig(rig.settings.home)  # type: ignore[arg-type]
        try:
            again.engine.restore(registry)
            again.engine.reconcile(scan_of(v1, v2))
            assert again.answers() == ["1.0.0"]
            assert (EventKind.LOADED, "hello") in again.kinds()
        finally:
            again.close()
        rig.close = lambda: None  # type: ignore[method-assign]


class TestView:
    def test_unload_keeps_the_plugin_listed_until_it_stops_answering(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """While a plugin is being unloaded it is still in the view; once its hooks stop
        answering it is gone from it."""
        rig.engine.reconcile(scan_of(built.build("hello", code=greet_code("hello"))))
        seen: list[tuple[tuple[str, ...], list[str]]] = []

        def look(event: Event) -> None:
            if event.kind in (EventKind.UNLOADING, EventKind.REMOVED):
                seen.append((rig.engine.view.order, rig.answers()))

        rig.watch = look
        rig.engine.reconcile(Scan())
        assert seen == [(("hello",), ["hello"]), ((), [])]

    def test_view_is_a_snapshot(self, rig: Rig, built: WheelFactory) -> None:
        """A view read before a change does not change with it."""
        before = rig.engine.view
        rig.engine.reconcile(scan_of(built.build("hello", code=greet_code("hello"))))
        assert before.order == ()
        assert dict(before.plugins) == {}
        assert rig.engine.view.order == ("hello",)


class TestWithdrawn:
    def test_taken_back_version_rolls_back_with_its_state(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """A serving version its index took back is swapped for the highest one still offered,
        downgrade policy or not, with its state, and the event gives the index's reason."""
        v1 = built.build("hello", "1.0.0", code=counter_code("1.0.0"))
        v2 = built.build("hello", "2.0.0", code=counter_code("2.0.0"))
        rig.engine.reconcile(scan_of(v1, v2))
        assert rig.answers() == ["2.0.0:1"]
        sha = candidate_of(v2).sha256
        assert sha is not None
        rig.engine.reconcile(scan_of(v1), (), {sha: "yanked: broken"})
        assert rig.answers() == ["1.0.0:2"]  # the count handed back
        info = rig.engine.view.plugins["hello"]
        assert (info.version, info.state) == ("1.0.0", PluginState.ROLLED_BACK)
        (event,) = [e for e in rig.events if e.kind is EventKind.ROLLED_BACK]
        assert (event.previous_version, event.version, event.error) == (
            "2.0.0",
            "1.0.0",
            "yanked: broken",
        )
        assert not any(e.kind is EventKind.UNLOADED for e in rig.events)

    def test_taken_back_version_is_never_chosen(self, rig: Rig, built: WheelFactory) -> None:
        """A version its index took back is not loaded though it is the highest on offer."""
        v1 = built.build("hello", "1.0.0", code=greet_code("1.0.0"))
        v2 = built.build("hello", "2.0.0", code=greet_code("2.0.0"))
        sha = candidate_of(v2).sha256
        assert sha is not None
        rig.engine.reconcile(scan_of(v1, v2), (), {sha: "deleted from the index"})
        assert rig.answers() == ["1.0.0"]

    def test_nothing_else_on_offer_keeps_serving(self, rig: Rig, built: WheelFactory) -> None:
        """When every version on offer was taken back, the serving one keeps serving."""
        v1 = built.build("hello", "1.0.0", code=greet_code("1.0.0"))
        rig.engine.reconcile(scan_of(v1))
        sha = candidate_of(v1).sha256
        assert sha is not None
        rig.engine.reconcile(scan_of(v1), (), {sha: "yanked"})
        assert rig.answers() == ["1.0.0"]
        assert [k for k in rig.kinds() if k[0] is not EventKind.DISCOVERED][-1][0] is (
            EventKind.LOADED
        )


def fresh_infos(engine: Engine) -> dict[str, PluginInfo]:
    """Every active plugin's snapshot made anew, as a first publication makes them."""
    ledger = engine._ledger
    draining = engine._changer.draining()
    return {name: ledger.info(name, draining, None) for name in ledger.order}


class TestPublication:
    def test_a_swap_makes_again_only_the_snapshot_it_touched(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """The other plugins' snapshots are the very objects of the view before."""
        wheels = [built.build(n, code=greet_code(n)) for n in ("a", "b", "c")]
        rig.engine.reconcile(scan_of(*wheels))
        before = rig.engine.view.plugins
        b2 = built.build("b", "1.1.0", code=greet_code("b2"))
        rig.engine.reconcile(scan_of(*wheels, b2))
        after = rig.engine.view.plugins
        assert after["a"] is before["a"]
        assert after["c"] is before["c"]
        assert (after["b"].version, after["b"].state) == ("1.1.0", PluginState.ACTIVE)
        assert list(after) == list(rig.engine.view.order) == ["a", "b", "c"]

    def test_each_step_shows_what_a_fresh_publication_shows(self, tmp_path: Path) -> None:
        """Swaps, a rollback, a pin and its end, a removal and a reload: after each, the view
        holds the snapshots a publication made from nothing holds, in load order."""
        rig = Rig(tmp_path / "home", policy=VersionPolicy(allow_downgrade=True))
        folder, outside = WheelFactory(tmp_path / "f"), WheelFactory(tmp_path / "o")
        offered = [folder.build(n, "1.1.0", code=greet_code(n)) for n in ("a", "b", "c")]
        older_a = candidate_of(outside.build("a", "1.0.0", code=greet_code("a0")))

        def check() -> None:
            view = rig.engine.view
            assert {n: view.plugins[n] for n in view.order} == fresh_infos(rig.engine)
            assert list(view.plugins)[: len(view.order)] == list(view.order)

        try:
            rig.engine.reconcile(scan_of(*offered))
            check()
            offered.append(folder.build("b", "1.2.0", code=greet_code("b2")))
            rig.engine.reconcile(scan_of(*offered))
            check()
            rig.engine.rollback(PluginName("b"))
            assert rig.engine.view.plugins["b"].state is PluginState.ROLLED_BACK
            check()
            offered.append(folder.build("b", "1.3.0", code=greet_code("b3")))
            rig.engine.reconcile(scan_of(*offered))
            assert rig.engine.view.plugins["b"].state is PluginState.ACTIVE
            check()
            assert rig.engine.install(older_a, scan_of(*offered), ()).pinned
            check()
            rig.engine.unpin(PluginName("a"), scan_of(*offered), ())
            assert not rig.engine.view.plugins["a"].pinned
            check()
            assert rig.engine.install(older_a, scan_of(*offered), ()).pinned
            # Unpinned where nothing newer is offered: the same version serves on, unpinned.
            rig.engine.unpin(PluginName("a"), scan_of(*offered[1:]), ())
            assert rig.engine.view.plugins["a"].version == "1.0.0"
            assert not rig.engine.view.plugins["a"].pinned
            check()
            rig.engine.remove(PluginName("a"))
            assert "a" not in rig.engine.view.plugins
            check()
            rig.engine.install(candidate_of(offered[0]), scan_of(*offered), ())
            assert rig.engine.view.order == ("b", "c", "a")
            check()
        finally:
            rig.close()

    def test_a_spec_added_later_ends_the_warning_at_the_next_change(
        self, rig: Rig, built: WheelFactory
    ) -> None:
        """The plugin that implements the hook did not change; the next change looks at it."""
        typo = built.build("typo", code=TYPO)
        hello = built.build("hello", code=greet_code("hello"))
        rig.engine.reconcile(scan_of(typo, hello))
        assert [p.plugin for p in rig.engine.view.problems] == ["typo"]

        class Later:
            @pluggy.HookspecMarker(greeter.PROJECT)
            def gret(self, name: str) -> str: ...

        rig.pm.add_hookspecs(Later)
        hello2 = built.build("hello", "1.1.0", code=greet_code("hello2"))
        rig.engine.reconcile(scan_of(typo, hello, hello2))
        assert rig.answers() == ["hello2"]
        assert rig.engine.view.problems == ()
