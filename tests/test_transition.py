"""Transitions built directly: a real PluginManager, a real finder, real wheels installed in a
temp site dir; no PluginHost."""

from __future__ import annotations

import builtins
import gc
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pluggy
import pytest

from hookspecs import greeter
from hookspecs.lifecycle import lifecycle_specs
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.install.installer import install_wheel
from pluginhost.load.modules import PluginFinder, purge_modules
from pluginhost.model.candidate import Candidate, WheelOrigin
from pluginhost.model.errors import ActivationError
from pluginhost.model.names import PluginName
from pluginhost.swap.drain import Drained
from pluginhost.swap.members import Active, Member
from pluginhost.swap.transition import Timeouts, Transition
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"
MODULE = "transition_hello"
HOST = "the host"

PLUGIN = """
import builtins
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")
VERSION = "{version}"
LOG = builtins.__dict__.setdefault("_transition_log", [])
{top}
count = 0

@hookimpl
def greet(name):
    global count
    count += 1
    if name == "boom":
        raise RuntimeError("boom")
    return f"{{VERSION}}:{{count}}"

@hookimpl
def pluginhost_activate(host):
    LOG.append(("activate", VERSION, host))

@hookimpl
def pluginhost_deactivate(host):
    LOG.append(("deactivate", VERSION, host))

@hookimpl
def pluginhost_export_state():
    return {{"count": count}}

@hookimpl
def pluginhost_import_state(state, previous_version):
    global count
    count = state["count"]
    LOG.append(("import_state", VERSION, previous_version))

@hookimpl
def pluginhost_health():
    return {health}
"""


def plugin(version: str, *, top: str = "", health: str = "True") -> str:
    """A plugin that counts its calls, hands the count over and logs its lifecycle."""
    return PLUGIN.format(version=version, top=top, health=health)


@pytest.fixture(autouse=True)
def log() -> Iterator[list[tuple[object, ...]]]:
    """The lifecycle log the test plugins write to (shared through builtins)."""
    entries: list[tuple[object, ...]] = builtins.__dict__.setdefault("_transition_log", [])
    entries.clear()
    yield entries
    builtins.__dict__.pop("_transition_log", None)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(greeter.PROJECT)
    manager.add_hookspecs(greeter.GreeterSpec)
    manager.add_hookspecs(lifecycle_specs(greeter.PROJECT))
    return manager


@pytest.fixture
def factory(tmp_path: Path) -> WheelFactory:
    return WheelFactory(tmp_path / "wheels", group=GROUP)


@pytest.fixture
def transition(
    pm: pluggy.PluginManager, finder: PluginFinder, tmp_path: Path
) -> Iterator[Transition]:
    """A transition that installs candidates' wheels into site dirs under ``tmp_path``; the
    test plugin's modules are purged after the test."""

    def install(candidate: Candidate) -> tuple[Path | None, tuple[str, ...]]:
        origin = candidate.origin
        assert isinstance(origin, WheelOrigin)
        site = install_wheel(
            origin.path,
            site_root=tmp_path / "site",
            staging_root=tmp_path / "staging",
            name=candidate.name,
            version=candidate.version_text,
            expected_sha256=origin.sha256,
        )
        return site.path, site.top_level

    def check(
        c: Candidate, tops: Sequence[str], site: Path | None, names: set[str]
    ) -> tuple[str, ...]:
        return tuple(tops)

    timeouts = Timeouts(import_=10, activate=10, health=10, drain=5)
    yield Transition(pm, finder, HOST, install, check, timeouts)
    purge_modules([MODULE])


def candidate(factory: WheelFactory, version: str, **kwargs: str) -> Candidate:
    wheel = factory.build("hello", version, code=plugin(version, **kwargs), module=MODULE)
    found = candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
    assert found is not None
    return found


def active(member: Member) -> Active:
    """What the engine keeps of a member once its transition succeeded."""
    regs = member.registrations
    assert regs is not None
    return Active(member.candidate, regs, member.site_dir, member.top_level, member.effects)


def load(transition: Transition, factory: WheelFactory, version: str) -> Active:
    """Load ``hello`` at ``version`` as a new plugin and retire nothing."""
    member = Member(candidate(factory, version), None)
    transition.run([member]).finish()
    return active(member)


class TestRun:
    def test_new_plugin_loaded(
        self,
        transition: Transition,
        factory: WheelFactory,
        pm: pluggy.PluginManager,
        log: list[tuple[object, ...]],
    ) -> None:
        """A new plugin is installed, imported from its site dir, activated and switched in."""
        member = Member(candidate(factory, "1.0.0"), None)
        retirement = transition.run([member])
        assert pm.hook.greet(name="x") == ["1.0.0:1"]
        assert member.site_dir is not None
        assert member.site_dir.is_dir()
        assert member.top_level == (MODULE,)
        assert sys.modules[MODULE].__file__ == str(member.site_dir / MODULE / "__init__.py")
        assert log == [("activate", "1.0.0", HOST)]
        assert retirement.finish() == (True, [])
        assert retirement.outcome is Drained.DRAINED

    def test_update_switches_with_state(
        self,
        transition: Transition,
        factory: WheelFactory,
        pm: pluggy.PluginManager,
        log: list[tuple[object, ...]],
    ) -> None:
        """An update hands the old version's state over, switches, and retires the old one."""
        old = load(transition, factory, "1.0.0")
        assert pm.hook.greet(name="x") == ["1.0.0:1"]
        old_module = sys.modules[MODULE]
        member = Member(candidate(factory, "1.1.0"), old)
        retirement = transition.run([member])
        assert pm.hook.greet(name="x") == ["1.1.0:2"]
        assert sys.modules[MODULE] is not old_module
        del old, old_module
        assert retirement.finish() == (True, [])
        assert log[1:] == [
            ("import_state", "1.1.0", "1.0.0"),
            ("activate", "1.1.0", HOST),
            ("deactivate", "1.0.0", HOST),
        ]

    def test_failing_health_undoes_the_switch(
        self,
        transition: Transition,
        factory: WheelFactory,
        pm: pluggy.PluginManager,
        log: list[tuple[object, ...]],
    ) -> None:
        """A health check returning False undoes the switch: the old version serves again,
        with its modules and its state, and the new one is deactivated and purged."""
        old = load(transition, factory, "1.0.0")
        assert pm.hook.greet(name="x") == ["1.0.0:1"]
        old_module = sys.modules[MODULE]
        member = Member(candidate(factory, "1.1.0", health="False"), old)
        with pytest.raises(ActivationError, match="health check returned False") as err:
            transition.run([member])
        assert err.value.step == "health"
        assert pm.hook.greet(name="x") == ["1.0.0:2"]
        assert sys.modules[MODULE] is old_module
        assert pm.get_plugin("hello") is old.registrations[0].plugin
        assert member.registrations is None
        assert log[-1] == ("deactivate", "1.1.0", HOST)

    def test_failed_import_leaves_nothing(
        self, transition: Transition, factory: WheelFactory, pm: pluggy.PluginManager
    ) -> None:
        """A new plugin whose import raises is not registered and leaves no module behind."""
        member = Member(candidate(factory, "1.0.0", top="raise RuntimeError('broken')"), None)
        with pytest.raises(ActivationError, match="broken") as err:
            transition.run([member])
        assert err.value.step == "import"
        assert pm.get_plugin("hello") is None
        assert pm.hook.greet(name="x") == []
        assert MODULE not in sys.modules


class TestRetirement:
    def test_undo_switches_the_old_version_back(
        self, transition: Transition, factory: WheelFactory, pm: pluggy.PluginManager
    ) -> None:
        """Undone after the switch (a failed commit), the old version serves again."""
        old = load(transition, factory, "1.0.0")
        old_module = sys.modules[MODULE]
        retirement = transition.run([Member(candidate(factory, "1.1.0"), old)])
        assert pm.hook.greet(name="x") == ["1.1.0:1"]
        retirement.undo()
        assert pm.hook.greet(name="x") == ["1.0.0:1"]
        assert sys.modules[MODULE] is old_module

    def test_old_version_kept_by_an_exception(
        self, transition: Transition, factory: WheelFactory, pm: pluggy.PluginManager
    ) -> None:
        """An exception of the old version, kept, is not waited for; past the next full
        collection, the reaper reports the old version's modules as still held."""
        old = load(transition, factory, "1.0.0")
        with pytest.raises(RuntimeError) as kept:
            pm.hook.greet(name="boom")
        retirement = transition.run([Member(candidate(factory, "1.1.0"), old)])
        del old
        assert retirement.finish() == (True, [])
        assert retirement.outcome is Drained.KEPT
        assert transition.reaper.due() == []  # no full collection yet: nothing to say
        gc.collect()
        [leak] = transition.reaper.due()
        assert (leak.plugin, leak.version, leak.modules) == ("hello", "1.0.0", (MODULE,))
        assert transition.reaper.due() == []  # said once
        del kept


class TestUnload:
    def test_unload_deactivates_and_purges(
        self,
        transition: Transition,
        factory: WheelFactory,
        pm: pluggy.PluginManager,
        log: list[tuple[object, ...]],
    ) -> None:
        """An unloaded plugin leaves every hook, is deactivated, and its modules are freed."""
        actives = {PluginName("hello"): load(transition, factory, "1.0.0")}
        assert transition.unload(actives, PluginName("hello")) == []
        assert actives == {}
        assert pm.hook.greet(name="x") == []
        assert pm.get_plugin("hello") is None
        assert MODULE not in sys.modules
        assert log[-1] == ("deactivate", "1.0.0", HOST)
