"""What the switch keeps besides hook lists: distributions and a manager's announcements."""

from __future__ import annotations

import gc
import importlib.metadata
import types
import weakref
from pathlib import Path

import pluggy
import pytest

from pluginhost import ActivationError
from pluginhost.swap.bookkeeping import announcer
from pluginhost.swap.switch import implementations_of, prepare, switch

hookspec = pluggy.HookspecMarker("booktest")
hookimpl = pluggy.HookimplMarker("booktest")


class Spec:
    @hookspec(historic=True)
    def booktest_plugin_registered(
        self, plugin: object, plugin_name: str, manager: pluggy.PluginManager
    ) -> None:
        """Told of every plugin registered, as pytest's ``pytest_plugin_registered``."""

    @hookspec
    def ping(self) -> str:  # type: ignore[empty-body]
        ...


class Listener:
    """A plugin of the application that records the announcements."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def booktest_plugin_registered(self, plugin: object, plugin_name: str) -> None:
        self.heard.append(plugin_name)


class Plugin:
    @hookimpl
    def ping(self) -> str:
        return "pong"


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("booktest")
    manager.add_hookspecs(Spec)
    return manager


def dist(tmp_path: Path, name: str, version: str) -> importlib.metadata.Distribution:
    """A real dist-info dir with METADATA, as a distribution."""
    folder = tmp_path / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return importlib.metadata.PathDistribution(folder)


def listed(pm: pluggy.PluginManager) -> list[tuple[object, str, str]]:
    return [(p, d.project_name, d.version) for p, d in pm.list_plugin_distinfo()]


class TestDistributions:
    def test_listed_replaced_and_removed(self, pm: pluggy.PluginManager, tmp_path: Path) -> None:
        """list_plugin_distinfo() lists the serving version, then its successor, then none."""
        a, b = Plugin(), Plugin()
        switch(pm, [], [prepare(pm, a, "p", dist(tmp_path / "1", "hello", "1.0.0"))])
        assert listed(pm) == [(a, "hello", "1.0.0")]
        new = prepare(pm, b, "p", dist(tmp_path / "2", "hello", "2.0.0"))
        switch(pm, [implementations_of(pm, "p")], [new])
        assert listed(pm) == [(b, "hello", "2.0.0")]
        switch(pm, [implementations_of(pm, "p")], [])
        assert listed(pm) == []

    def test_undo_restores_the_list(self, pm: pluggy.PluginManager, tmp_path: Path) -> None:
        """Undoing a swap lists the old version again, and keeps what the application added."""
        a, b, own = Plugin(), Plugin(), types.ModuleType("own")
        switch(pm, [], [prepare(pm, a, "p", dist(tmp_path / "1", "hello", "1.0.0"))])
        new = prepare(pm, b, "p", dist(tmp_path / "2", "hello", "2.0.0"))
        done = switch(pm, [implementations_of(pm, "p")], [new])
        pm._plugin_distinfo.append((own, dist(tmp_path / "3", "own", "0.1")))
        done.undo()
        assert [p for p, *_ in listed(pm)] == [a, own]

    def test_undone_plugin_not_kept(self, pm: pluggy.PluginManager, tmp_path: Path) -> None:
        """After undo, the switch's record holds no reference to the plugin it took out, which
        is purged next and checked for leaks."""
        listener = Listener()
        pm.register(listener, "listener")
        plugin = Plugin()
        ref = weakref.ref(plugin)
        done = switch(pm, [], [prepare(pm, plugin, "p", dist(tmp_path, "hello", "1.0.0"))])
        done.undo()
        del plugin
        gc.collect()
        assert ref() is None
        assert listener.heard == ["p"]

    def test_only_the_leaving_plugin_is_taken_out(
        self, pm: pluggy.PluginManager, tmp_path: Path
    ) -> None:
        """Among others, listed before and after it (one listed twice by the application), the
        leaving plugin's entries go and the others keep their order, in both lists."""
        listener = Listener()
        pm.register(listener, "listener")
        plugins = [Plugin() for _ in range(5)]
        for index, plugin in enumerate(plugins):
            made = prepare(pm, plugin, f"p{index}", dist(tmp_path / str(index), f"d{index}", "1"))
            switch(pm, [], [made])
        pm._plugin_distinfo.append((plugins[2], dist(tmp_path / "again", "again", "1")))
        new = Plugin()
        made = prepare(pm, new, "p2", dist(tmp_path / "new", "d2", "2"))
        switch(pm, [implementations_of(pm, "p2")], [made])
        assert listed(pm) == [
            (plugins[0], "d0", "1"),
            (plugins[1], "d1", "1"),
            (plugins[3], "d3", "1"),
            (plugins[4], "d4", "1"),
            (new, "d2", "2"),
        ]
        late = Listener()
        pm.register(late, "late")
        assert late.heard == ["p0", "p1", "p3", "p4", "p2"]

    def test_plugin_without_distribution_not_listed(self, pm: pluggy.PluginManager) -> None:
        """A plugin with no distribution registers, and list_plugin_distinfo() leaves it out."""
        switch(pm, [], [prepare(pm, Plugin(), "p")])
        assert pm.list_plugin_distinfo() == []
        assert pm.hook.ping() == ["pong"]


class TestAnnouncement:
    def test_new_plugin_announced(self, pm: pluggy.PluginManager) -> None:
        """A plugin switched in is announced through the historic hook, as register does."""
        listener = Listener()
        pm.register(listener, "listener")
        switch(pm, [], [prepare(pm, Plugin(), "p")])
        assert listener.heard == ["p"]

    def test_leaving_plugin_forgotten(self, pm: pluggy.PluginManager) -> None:
        """A plugin switched out leaves the history: a later plugin is not told of it, and
        nothing keeps the old object alive."""
        switch(pm, [], [prepare(pm, Plugin(), "p")])
        switch(pm, [implementations_of(pm, "p")], [])
        late = Listener()
        pm.register(late, "late")
        assert late.heard == []

    def test_undo_forgets_the_announcement(self, pm: pluggy.PluginManager) -> None:
        """Undoing a switch takes its announcement out of the history again."""
        switch(pm, [], [prepare(pm, Plugin(), "p")]).undo()
        late = Listener()
        pm.register(late, "late")
        assert late.heard == []

    def test_failing_announcement_undoes_the_switch(self, pm: pluggy.PluginManager) -> None:
        """An announcement that raises fails the switch with ActivationError, all undone."""

        class Angry:
            @hookimpl
            def booktest_plugin_registered(self, plugin_name: str) -> None:
                if plugin_name == "p":
                    raise RuntimeError("no thanks")

        pm.register(Angry(), "angry")
        with pytest.raises(ActivationError, match="no thanks") as caught:
            switch(pm, [], [prepare(pm, Plugin(), "p")])
        assert (caught.value.step, caught.value.plugin) == ("register", "p")
        assert pm.get_plugin("p") is None
        assert pm.hook.ping() == []
        history = pm.hook.booktest_plugin_registered._call_history
        assert history == []

    def test_only_a_historic_hook_announces(self) -> None:
        """A manager without a historic ``<project>_plugin_registered`` announces nothing."""

        class NotHistoric:
            @hookspec
            def booktest_plugin_registered(self, plugin: object) -> None: ...

        plain = pluggy.PluginManager("booktest")
        plain.add_hookspecs(NotHistoric)
        assert announcer(plain) is None
