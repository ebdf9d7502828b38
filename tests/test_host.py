"""PluginHost: discovery, resolution, installation and registration working together."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from conftest import greet_code

from pluginhost import (
    ActivationError,
    Event,
    EventKind,
    HostStateError,
    PluginHost,
    PluginState,
    ProblemKind,
    Requirement,
    ResolutionError,
    VersionPolicy,
    WheelError,
)
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


def kinds(events: list[Event], plugin: str) -> list[str]:
    return [str(e.kind) for e in events if e.plugin == plugin]


class TestStart:
    def test_loads_in_dependency_order(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A plugin is registered after the plugins it requires, whatever their names."""
        factory.build("alpha", code=greet_code("alpha"), requires={"zeta": "^1.0"})
        factory.build("zeta", code=greet_code("zeta"))
        host = make_host()
        assert host.load_order() == ("zeta", "alpha")
        assert host.dependency_graph() == {"zeta": (), "alpha": ("zeta",)}
        assert sorted(host.hook.greet(name="Ada")) == ["alpha", "zeta"]

    def test_a_relative_home_is_the_working_directorys_at_construction(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A relative home (the default, ``./.pluginhost/<project>``) is made absolute once:
        the application may change its working directory, and the site dirs and the modules
        imported from them stay named by one path (a relative one lost plugins' shared
        dependencies at restart: published probe 10, tox-extras)."""
        factory.build("hello", code=greet_code("hi"))
        monkeypatch.chdir(tmp_path)
        host = make_host(home="relhome")
        assert host.home == tmp_path / "relhome"
        assert host.settings.home == tmp_path / "relhome"
        monkeypatch.chdir(tmp_path / "wheels")
        host.stop()  # writes the registry where it was read from
        assert (tmp_path / "relhome" / "registry.json").is_file()
        assert not (tmp_path / "wheels" / "relhome").exists()
        again = make_host(home=tmp_path / "relhome")
        assert again.hook.greet(name="Ada") == ["hi"]

    def test_relative_watched_folder_is_made_absolute(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A watched folder given relative (``watch=["./wheels"]``, as the README's example)
        is watched where it was when the host was made, whatever directory the application
        or a plugin changes to later: the watch then saw nothing, and said nothing (attack
        probe 11)."""
        factory.build("hello", "1.0.0", code=greet_code("one"))
        monkeypatch.chdir(tmp_path)
        host = make_host(watch=["wheels"])
        assert [f.path for f in host.folders] == [tmp_path / "wheels"]
        assert host.hook.greet(name="Ada") == ["one"]
        monkeypatch.chdir(tmp_path / "home")
        factory.build("hello", "1.1.0", code=greet_code("two"))
        assert host.wait_idle(30)
        assert host.hook.greet(name="Ada") == ["two"]

    def test_plugin_info(self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path) -> None:
        """host.plugins reports version, state, origin, requires, site dir and sha256."""
        wheel = factory.build("hello", "1.2.0", code=greet_code("hi"), host="^1.0")
        host = make_host()
        info = host.plugins["hello"]
        assert info.version == "1.2.0"
        assert info.state is PluginState.ACTIVE
        assert info.origin == str(wheel)
        assert info.sha256 is not None
        assert len(info.sha256) == 64
        assert info.site_dir == tmp_path / "home" / "site" / f"hello-1.2.0-{info.sha256[:8]}"
        assert (info.site_dir / "hello" / "__init__.py").is_file()

    def test_highest_allowed_version_wins(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Of several wheels of one plugin, the highest allowed version loads."""
        factory.build("hello", "1.0.0", code=greet_code("one"))
        factory.build("hello", "1.1.0", code=greet_code("one-one"))
        factory.build("hello", "2.0.0rc1", code=greet_code("rc"))  # a prerelease: refused
        host = make_host()
        assert host.hook.greet(name="x") == ["one-one"]

    def test_events_in_order(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """discovered, loading and loaded are emitted in that order, with version and origin."""
        wheel = factory.build("hello", code=greet_code("hi"))
        make_host()
        assert kinds(events, "hello") == ["discovered", "loading", "loaded"]
        loaded = events[-1]
        assert loaded.version == "1.0.0"
        assert loaded.origin == str(wheel)

    def test_start_twice_refused(self, make_host: MakeHost) -> None:
        """Starting a started host is a HostStateError."""
        host = make_host()
        with pytest.raises(HostStateError, match="already started"):
            host.start()

    def test_context_manager(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """``with host:`` starts and stops it."""
        factory.build("hello", code=greet_code("hi"))
        host = make_host(start=False)
        with host:
            assert host.hook.greet(name="x") == ["hi"]
        assert host.hook.greet(name="x") == []
        assert "hello" not in sys.modules


class TestIsolation:
    def test_sys_path_does_not_grow(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Plugins import through one finder: sys.path stays as it was."""
        before = list(sys.path)
        for index in range(5):
            factory.build(f"p{index}", code=greet_code(str(index)))
        host = make_host()
        assert len(host.load_order()) == 5
        assert sys.path == before

    def test_module_served_from_site_dir(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A plugin's module is imported from its own site dir."""
        factory.build("hello", code=greet_code("hi"))
        host = make_host()
        site_dir = host.plugins["hello"].site_dir
        assert site_dir is not None
        assert Path(sys.modules["hello"].__file__ or "").is_relative_to(site_dir)

    def test_same_module_in_two_plugins(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A top-level module already provided by another plugin is refused, naming both."""
        factory.build("first", code=greet_code("first"), module="shared_mod")
        factory.build("second", code=greet_code("second"), module="shared_mod")
        host = make_host()
        assert host.load_order() == ("first",)
        problem = next(p for p in host.problems() if p.plugin == "second")
        assert problem.kind is ProblemKind.CONFLICT
        assert "'shared_mod'" in problem.message
        assert "'first'" in problem.message
        assert host.plugins["second"].state is PluginState.FAILED

    def test_module_shadowing_host(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A plugin shipping a module the host environment provides (json) is refused."""
        factory.build("sneaky", code=greet_code("x"), module="json")
        json_module = sys.modules["json"]
        host = make_host()
        assert sys.modules["json"] is json_module
        assert host.load_order() == ()
        problem = next(p for p in host.problems() if p.plugin == "sneaky")
        assert "'json'" in problem.message
        assert "host environment" in problem.message


class TestManifestProblems:
    def test_bad_manifest_skips_only_that_plugin(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """An unknown manifest key is a manifest_invalid event naming file and key; others load."""
        factory.build("good", code=greet_code("good"))
        bad = factory.build(
            "bad", manifest='[plugin]\nname = "bad"\nversoin = "1.0.0"\n', code=greet_code("bad")
        )
        host = make_host()
        assert host.load_order() == ("good",)
        event = next(e for e in events if e.kind is EventKind.MANIFEST_INVALID)
        assert event.error is not None
        assert str(bad) in event.error
        assert "plugin.verso" in event.error
        problem = next(p for p in host.problems() if p.kind is ProblemKind.MANIFEST_INVALID)
        assert str(bad) in problem.message

    def test_no_manifest(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A wheel without plugin.toml loads under its entry-point name and METADATA version."""
        factory.build("plain", "2.3", code=greet_code("plain"), no_manifest=True)
        host = make_host()
        assert host.plugins["plain"].version == "2.3.0"

    def test_host_constraint_refused(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A plugin whose host constraint excludes the api_version is refused with the reason."""
        factory.build("future", code=greet_code("x"), host="^2.0")
        host = make_host()
        assert host.load_order() == ()
        problem = next(p for p in host.problems() if p.plugin == "future")
        assert problem.kind is ProblemKind.REFUSED
        assert "^2.0" in problem.message


class TestResolutionProblems:
    def test_missing_dependency(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A missing requirement names who needs what; the dependent is skipped, others load."""
        factory.build("needy", code=greet_code("needy"), requires={"translator": "^2.0"})
        factory.build("fine", code=greet_code("fine"))
        host = make_host()
        assert host.load_order() == ("fine",)
        problem = next(p for p in host.problems() if p.plugin == "needy")
        assert problem.kind is ProblemKind.MISSING
        assert "translator" in problem.message
        assert "^2.0" in problem.message

    def test_cycle_named(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Every member of a cycle is named; plugins outside it load."""
        factory.build("a", code=greet_code("a"), requires={"b": "*"})
        factory.build("b", code=greet_code("b"), requires={"c": "*"})
        factory.build("c", code=greet_code("c"), requires={"a": "*"})
        factory.build("d", code=greet_code("d"))
        host = make_host()
        assert host.load_order() == ("d",)
        cycles = [p for p in host.problems() if p.kind is ProblemKind.CYCLE]
        assert {p.plugin for p in cycles} == {"a", "b", "c"}
        assert all({p.plugin, *p.involved} == {"a", "b", "c"} for p in cycles)
        assert all("a -> b -> c -> a" in p.message for p in cycles)

    def test_dependency_that_fails_to_import(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """When a required plugin fails to load, its dependents are skipped with that reason."""
        factory.build("base", code="raise RuntimeError('boom at import')")
        factory.build("top", code=greet_code("top"), requires={"base": "^1"})
        host = make_host()
        assert host.load_order() == ()
        top = next(p for p in host.problems() if p.plugin == "top")
        assert top.kind is ProblemKind.DEPENDENCY_FAILED
        assert "base" in top.message


class TestTransactionalRegistration:
    def test_import_error(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """An import error is a load_failed event; nothing of the plugin stays imported."""
        factory.build(
            "broken",
            code="import hook_helper\nraise ImportError('nope')",
            files={"hook_helper/__init__.py": "X = 1\n"},
        )
        factory.build("fine", code=greet_code("fine"))
        host = make_host()
        assert host.load_order() == ("fine",)
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert failed.plugin == "broken"
        assert failed.step == "import"
        assert failed.error is not None
        assert "nope" in failed.error
        assert "broken" not in sys.modules
        assert "hook_helper" not in sys.modules

    def test_invalid_hook_leaves_nothing(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """If one hook fails pluggy's validation, the plugin's valid hooks are not left behind."""
        code = greet_code("valid") + (
            "\n@hookimpl\ndef farewell(name, unknown_argument):\n    return 'bad'\n"
        )
        factory.build("halfway", code=code)
        host = make_host()
        assert host.load_order() == ()
        assert host.hook.greet(name="x") == []
        assert host.plugin_manager.get_plugin("halfway") is None
        problem = next(p for p in host.problems() if p.plugin == "halfway")
        assert "unknown_argument" in problem.message

    def test_activate_raises(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """pluginhost_activate raising undoes the registration and the import."""
        code = greet_code("x") + (
            "\n@hookimpl\ndef pluginhost_activate(host):\n    raise ValueError('not today')\n"
        )
        factory.build("moody", code=code)
        host = make_host()
        assert host.hook.greet(name="x") == []
        assert "moody" not in sys.modules
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert failed.step == "activate"
        assert "not today" in (failed.error or "")

    def test_lifecycle_hooks_called_on_one_plugin(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """activate and deactivate run once per plugin, on that plugin only."""
        log_code = (
            "import pluggy, builtins\nhookimpl = pluggy.HookimplMarker('greeter')\n"
            "LOG = builtins.__dict__.setdefault('_pluginhost_test_log', [])\n"
            "@hookimpl\ndef pluginhost_activate(host):\n    LOG.append(('activate', __name__))\n"
            "@hookimpl\ndef pluginhost_deactivate(host):\n"
            "    LOG.append(('deactivate', __name__))\n"
        )
        import builtins

        log: list[tuple[str, str]] = builtins.__dict__.setdefault("_pluginhost_test_log", [])
        log.clear()
        factory.build("one", code=log_code)
        factory.build("two", code=log_code, requires={"one": "*"})
        host = make_host()
        assert log == [("activate", "one"), ("activate", "two")]
        host.stop()
        assert log[2:] == [("deactivate", "two"), ("deactivate", "one")]
        del builtins.__dict__["_pluginhost_test_log"]


class TestRequiresDist:
    def test_met_by_support_wheel(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A Requires-Dist met by a non-plugin wheel in the folder is installed once, into a
        shared dependency site of its own, not into the plugin's site dir."""
        factory.build(
            "helperlib", "0.5.0", group="other.group", files={"helperlib/util.py": "N = 42\n"}
        )
        code = greet_code("x") + "\nfrom helperlib.util import N\n"
        factory.build("user", code=code, requires_dist=["helperlib>=0.5"])
        host = make_host()
        assert host.load_order() == ("user",)
        site_dir = host.plugins["user"].site_dir
        assert site_dir is not None
        assert not (site_dir / "helperlib").exists()
        (shared,) = (tmp_path / "home" / "deps").iterdir()
        assert shared.name.startswith("helperlib-0.5.0-")
        assert (shared / "helperlib" / "util.py").is_file()

    def test_met_by_environment(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A Requires-Dist the host environment satisfies (pluggy) needs nothing more."""
        factory.build("user", code=greet_code("x"), requires_dist=["pluggy>=1"])
        assert make_host().load_order() == ("user",)

    def test_unmet(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """An unmet Requires-Dist skips the plugin, naming the requirement."""
        factory.build("user", code=greet_code("x"), requires_dist=["no-such-dist-here>=3"])
        host = make_host()
        assert host.load_order() == ()
        problem = next(p for p in host.problems() if p.plugin == "user")
        assert problem.kind is ProblemKind.REQUIREMENT_FAILED
        assert "no-such-dist-here>=3" in problem.message


class TestInstall:
    def test_install_and_remove(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, events: list[Event]
    ) -> None:
        """install() loads a wheel from anywhere; remove() unloads it and frees its modules."""
        elsewhere = WheelFactory(tmp_path / "elsewhere", group="greeter.plugins")
        wheel = elsewhere.build("hello", code=greet_code("hi"))
        host = make_host()
        info = host.install(wheel)
        assert info.state is PluginState.ACTIVE
        assert host.hook.greet(name="x") == ["hi"]
        module_ref = weakref.ref(sys.modules["hello"])
        host.remove("hello")
        gc.collect()
        assert module_ref() is None
        assert host.hook.greet(name="x") == []
        assert kinds(events, "hello")[-2:] == ["unloading", "unloaded"]
        assert events[-1].error is None

    def test_install_refused_wheel(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """install() of a broken wheel raises WheelError naming the file; nothing changes."""
        factory.build("hello", code=greet_code("hi"))
        host = make_host()
        bad = WheelFactory(factory.directory.parent / "bad").build("evil", broken="bad-record-hash")
        with pytest.raises(WheelError) as info:
            host.install(bad)
        assert str(bad) in str(info.value)
        assert host.hook.greet(name="x") == ["hi"]

    def test_a_refused_install_leaves_the_serving_version(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """With downgrades allowed, an install that is refused leaves the version serving, and
        is not offered again: it swapped the plugin down to the folder's older version (the
        version installed before was no longer offered), and the refused one stayed offered."""
        factory.build("hello", "1.0.0", code=greet_code("1.0"))
        factory.build("polite", code=greet_code("polite"), requires={"hello": "^1.0"})
        host = make_host(policy=VersionPolicy(allow_downgrade=True))
        other = WheelFactory(tmp_path / "other")
        host.install(other.build("hello", "1.1.0", code=greet_code("1.1")))
        with pytest.raises(ResolutionError, match="would break polite"):
            host.install(other.build("hello", "2.0.0", code=greet_code("2.0")))
        assert host.plugins["hello"].version == "1.1.0"
        host.refresh()
        host.wait_idle(10)
        assert sorted(host.hook.greet(name="x")) == ["1.1", "polite"]

    def test_a_refused_install_leaves_a_removed_plugin_out(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A plugin the operator removed stays out when an install of it fails: the folder's
        version came back during the install, and served on."""
        factory.build("hello", "1.0.0", code=greet_code("1.0"))
        host = make_host()
        host.remove("hello")
        bad = WheelFactory(tmp_path / "other").build(
            "hello", "2.0.0", code="raise RuntimeError('boom')\n" + greet_code("2.0")
        )
        with pytest.raises(ActivationError, match="boom"):
            host.install(bad)
        assert "hello" not in host.load_order()  # not even for a while (no fallback to 1.0.0)
        host.refresh()
        host.wait_idle(10)
        assert host.hook.greet(name="x") == []
        assert "hello" not in host.load_order()

    def test_install_unresolvable(self, make_host: MakeHost, tmp_path: Path) -> None:
        """install() of a plugin whose requirement is missing raises ResolutionError."""
        wheel = WheelFactory(tmp_path / "w").build("needy", requires={"ghost": "^1"})
        host = make_host()
        with pytest.raises(ResolutionError, match="ghost"):
            host.install(wheel)

    def test_install_names_the_missing_dependency(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """The ResolutionError of a missing requirement names the dependency in ``.missing``."""
        wheel = WheelFactory(tmp_path / "w").build("needy", requires={"hello": "^1"})
        host = make_host()
        with pytest.raises(ResolutionError) as info:
            host.install(wheel)
        assert info.value.missing == ("hello",)

    def test_install_error_carries_the_requirement(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """The ResolutionError of an unmet requirement carries it as fields."""
        wheel = WheelFactory(tmp_path / "w").build("needy", requires={"hello": "^1"})
        host = make_host()
        with pytest.raises(ResolutionError) as info:
            host.install(wheel)
        assert info.value.requirement == Requirement("needy", "1.0.0", "hello", "^1")

    def test_install_failing_import(self, make_host: MakeHost, tmp_path: Path) -> None:
        """install() of a plugin whose import fails raises ActivationError."""
        wheel = WheelFactory(tmp_path / "w").build("crash", code="1/0")
        host = make_host()
        with pytest.raises(ActivationError, match="ZeroDivisionError"):
            host.install(wheel)

    def test_install_errors_name_the_wheel(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Every error install() raises names the wheel it was given, in ``.path`` and first in
        its text: a requirement missing, a failed import and a downgrade refused, not only a
        refused wheel."""
        factory.build("hello", "1.1.0", code=greet_code("hi"))
        given = WheelFactory(tmp_path / "w")
        refused = [
            (given.build("needy", requires={"ghost": "^1"}), ResolutionError),
            (given.build("crash", code="1/0"), ActivationError),
            (given.build("hello", "1.0.0", code=greet_code("old")), ResolutionError),
        ]
        host = make_host()
        for wheel, kind in refused:
            with pytest.raises(kind) as info:
                host.install(wheel)
            assert info.value.path == str(wheel)
            assert str(info.value).startswith(f"{wheel}: "), str(info.value)
        assert host.hook.greet(name="x") == ["hi"]

    def test_install_same_bytes_twice(self, make_host: MakeHost, tmp_path: Path) -> None:
        """Installing the same wheel twice reuses the site dir and keeps one registration."""
        wheel = WheelFactory(tmp_path / "w").build("hello", code=greet_code("hi"))
        host = make_host()
        first = host.install(wheel)
        second = host.install(wheel)
        assert first.site_dir == second.site_dir
        assert host.hook.greet(name="x") == ["hi"]
        assert len(list(host.site_root.iterdir())) == 1

    def test_install_newer_version(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Installing a newer version replaces the active one."""
        factory.build("hello", "1.0.0", code=greet_code("old"))
        host = make_host()
        newer = WheelFactory(tmp_path / "w").build("hello", "1.1.0", code=greet_code("new"))
        assert host.install(newer).version == "1.1.0"
        assert host.hook.greet(name="x") == ["new"]

    def test_not_a_plugin(self, make_host: MakeHost, tmp_path: Path) -> None:
        """A wheel with no entry point in the host's group is refused as not a plugin."""
        wheel = WheelFactory(tmp_path / "w").build("lib", group="other.group")
        host = make_host()
        with pytest.raises(WheelError, match="not a plugin"):
            host.install(wheel)

    def test_remove_unknown(self, make_host: MakeHost) -> None:
        """remove() of a plugin that is not active is a HostStateError."""
        with pytest.raises(HostStateError, match="not active"):
            make_host().remove("ghost")

    def test_remove_unloads_dependents(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Removing a plugin unloads the plugins that require it, and says why."""
        factory.build("base", code=greet_code("base"))
        factory.build("top", code=greet_code("top"), requires={"base": "^1"})
        host = make_host()
        host.remove("base")
        assert host.load_order() == ()
        problem = next(p for p in host.problems() if p.plugin == "top")
        assert problem.kind is ProblemKind.DEPENDENCY_FAILED
        assert "base" in problem.message


class TestUnloadLeaks:
    def test_held_module_reported(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """When something keeps a plugin's module alive past a full collection, a ``leaked``
        event says so; the removal itself went well."""
        factory.build("sticky", code=greet_code("x"))
        host = make_host()
        held = sys.modules["sticky"]
        host.remove("sticky")
        assert events[-1].kind is EventKind.UNLOADED
        assert events[-1].error is None
        [leaked] = host.check_leaks()
        assert leaked is events[-1]
        assert (leaked.kind, leaked.plugin, leaked.version) == (EventKind.LEAKED, "sticky", "1.0.0")
        assert "modules still referenced after unload" in (leaked.error or "")
        assert "sticky" in (leaked.error or "")
        del held

    def test_a_stopped_host_holds_no_module_of_its_plugins(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A stopped host kept alive (the application holds it, to start it again) holds no
        module of the plugins it served: the registry's records kept between two writes held
        each plugin's registrations until the next write, which a stopped host never makes
        (each stopped host kept its plugins' modules, found by the soak test)."""
        factory.build("sticky", code=greet_code("x"))
        host = make_host()
        module = weakref.ref(sys.modules["sticky"])
        host.stop()
        gc.collect()
        assert module() is None

    def test_leak_reported_after_the_interpreters_own_collection(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """The host never collects on its own: a held module is told after the next full
        collection the interpreter makes, at the host's next change."""
        factory.build("sticky", code=greet_code("x"))
        factory.build("other", code=greet_code("y"))
        host = make_host()
        held = sys.modules["sticky"]
        host.remove("sticky")
        host.remove("other")
        assert EventKind.LEAKED not in [e.kind for e in events]
        gc.collect()  # as the interpreter does when its thresholds say so
        host.install(factory.build("third", code=greet_code("z")))
        leaked = [e for e in events if e.kind is EventKind.LEAKED]
        assert [e.plugin for e in leaked] == ["sticky"]
        del held

    def test_freed_module_not_reported(
        self, factory: WheelFactory, make_host: MakeHost, events: list[Event]
    ) -> None:
        """A removed plugin that nothing holds is freed by the collection: no ``leaked`` event."""
        factory.build("loose", code=greet_code("x"))
        host = make_host()
        host.remove("loose")
        assert host.check_leaks() == []


class TestSubscribers:
    def test_raising_subscriber(
        self, factory: WheelFactory, make_host: MakeHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A subscriber that raises is logged and does not stop the host or other subscribers."""
        factory.build("hello", code=greet_code("hi"))
        host = make_host(start=False)
        seen: list[Event] = []

        def bad(event: Event) -> None:
            raise RuntimeError("subscriber bug")

        host.subscribe(bad)
        host.subscribe(seen.append)
        host.start()
        assert host.hook.greet(name="x") == ["hi"]
        assert [str(e.kind) for e in seen] == ["discovered", "loading", "loaded"]
        assert "subscriber bug" in caplog.text

    def test_events_carry_text_not_exceptions(
        self, make_host: MakeHost, factory: WheelFactory, events: list[Event]
    ) -> None:
        """Failure events hold the error's text and type, never the exception object."""
        factory.build("crash", code="1/0")
        make_host()
        failed = next(e for e in events if e.kind is EventKind.LOAD_FAILED)
        assert failed.error_type == "pluginhost.ActivationError"
        values = attrs.astuple(failed, recurse=False)
        assert not any(isinstance(v, BaseException) for v in values)
        assert isinstance(failed.error, str)
        assert "ZeroDivisionError" in failed.error


class TestStartCost:
    def test_plugins_loaded_together_committed_once(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Plugins loaded at start are committed to the registry in one write at the end,
        not one write each (with its fsyncs) while they load."""
        for name in ("alpha", "beta", "gamma"):
            factory.build(name, code=greet_code(name))
        registry = AtomicJsonFile(tmp_path / "home" / "registry.json")
        seen_while_loading: list[object] = []
        host = make_host(start=False)
        host.subscribe(
            lambda e: (
                seen_while_loading.append(registry.read()) if e.kind is EventKind.LOADED else None
            )
        )
        host.start()
        assert seen_while_loading == [None, None, None]
        document = registry.read()
        assert document is not None
        assert [r["candidate"]["name"] for r in document["active"]] == ["alpha", "beta", "gamma"]


class TestHistory:
    def test_keeps_the_latest_changes(
        self, factory: WheelFactory, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plugin's history keeps its latest changes only, so a host that swaps all day
        does not grow."""
        import pluginhost.host.view

        monkeypatch.setattr(pluginhost.host.view, "HISTORY_LIMIT", 3)
        host = make_host()
        for minor in range(5):
            host.install(factory.build("hello", f"1.{minor}.0", code=greet_code(str(minor))))
        history = host.status("hello").history
        assert [(h.version, h.outcome) for h in history] == [
            ("1.2.0", "updated"),
            ("1.3.0", "updated"),
            ("1.4.0", "updated"),
        ]


class TestMessages:
    def test_remove_of_unknown_plugin_names_it_once(self, make_host: MakeHost) -> None:
        """An error about a plugin names it once, not once as its subject and again inside."""
        host = make_host()
        with pytest.raises(HostStateError) as info:
            host.remove("ghost")
        assert str(info.value) == "plugin 'ghost' is not active"
        assert info.value.plugin == "ghost"

    def test_failed_install_names_the_plugin_once(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """install() of a plugin whose import fails raises the import's error, naming the
        plugin once."""
        wheel = WheelFactory(tmp_path / "w").build("crash", code="1/0")
        host = make_host()
        with pytest.raises(ActivationError) as info:
            host.install(wheel)
        assert info.value.plugin == "crash"
        assert str(info.value).count("plugin 'crash'") == 1, str(info.value)
