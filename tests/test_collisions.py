"""Collision checks built directly: who provides each top-level module, and what the host has."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from conftest import greet_code, wait_for
from strategies import candidate

from pluginhost import PluginHost
from pluginhost.load import collisions
from pluginhost.load.collisions import ModuleOwners
from pluginhost.model.errors import ResolutionError
from pluginhost.model.names import PluginName, plugin_name
from pluginhost.testing import WheelFactory

N = plugin_name
SITE = Path("/home/site/x")
HELLO, POLITE = candidate("hello", "1.0.0"), candidate("polite", "1.0.0")


class Active:
    """The active plugins and their names, as the engine's ledger would give them; counts how
    often the map is built."""

    def __init__(self, **serving: Sequence[str]) -> None:
        self.serving = {N(k): tuple(v) for k, v in serving.items()}
        self.asked = 0

    def __call__(self) -> Iterator[tuple[PluginName, Sequence[str]]]:
        self.asked += 1
        return iter(self.serving.items())


class TestCheck:
    def test_name_of_another_plugin_refused(self) -> None:
        """A top-level name another active plugin provides is refused, naming both."""
        owners = ModuleOwners(Active(hello=["utils", "hello"]))
        with pytest.raises(ResolutionError) as err:
            owners.check(POLITE, ["polite", "utils"], SITE, {"polite"})
        assert err.value.plugin == "polite"
        assert err.value.reason == (
            "top-level module 'utils' is provided both by plugin 'hello' and by plugin 'polite'"
        )

    def test_own_names_and_fellow_members_allowed(self) -> None:
        """A plugin keeps its own names, and those of the plugins changing with it."""
        owners = ModuleOwners(Active(hello=["hello"], polite=["polite_utils"]))
        owners.check(HELLO, ["hello"], SITE, {"hello"})
        owners.check(HELLO, ["hello", "polite_utils"], SITE, {"hello", "polite"})

    def test_host_module_refused(self) -> None:
        """A plugin shipping a module the host environment has (``json``) is refused."""
        owners = ModuleOwners(Active())
        with pytest.raises(ResolutionError, match="already provided by the host") as err:
            owners.check(HELLO, ["hello", "json"], SITE, {"hello"})
        assert "'json' of plugin 'hello'" in err.value.reason
        assert err.value.plugin == "hello"

    def test_host_module_on_sys_path_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A module the host could import from its sys.path, not imported yet, is refused,
        naming the file."""
        (tmp_path / "host_only_mod.py").write_text("X = 1\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        owners = ModuleOwners(Active())
        with pytest.raises(ResolutionError, match="already provided by the host") as err:
            owners.check(HELLO, ["host_only_mod"], SITE, {"hello"})
        assert str(tmp_path / "host_only_mod.py") in err.value.reason
        assert "host_only_mod" not in sys.modules

    def test_host_module_whose_attributes_raise(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A module in ``sys.modules`` that raises when asked its ``__file__`` is named as
        already imported: the refusal is typed, whatever the module does."""

        class Raising(types.ModuleType):
            def __getattr__(self, name: str) -> object:
                raise RuntimeError(f"no {name}")

        monkeypatch.setitem(sys.modules, "raising_mod", Raising("raising_mod"))
        owners = ModuleOwners(Active())
        with pytest.raises(ResolutionError, match="already provided by the host") as err:
            owners.check(HELLO, ["hello", "raising_mod"], SITE, {"hello"})
        assert "(already imported)" in err.value.reason

    def test_stdlib_module_not_imported_refused(self) -> None:
        """A standard library module nobody imported yet is refused as the standard library's."""
        assert "tabnanny" not in sys.modules
        owners = ModuleOwners(Active())
        with pytest.raises(ResolutionError, match=r"\(the standard library\)"):
            owners.check(HELLO, ["tabnanny"], SITE, {"hello"})

    def test_plugin_in_the_environment_is_the_host_module(self) -> None:
        """A plugin installed in the environment (no site dir) imports its own module from
        there: that is no collision."""
        owners = ModuleOwners(Active())
        owners.check(HELLO, ["json"], None, {"hello"})

    def test_new_name_allowed(self) -> None:
        """A name nobody provides is allowed."""
        ModuleOwners(Active(hello=["hello"])).check(POLITE, ["polite_xyz"], SITE, {"polite"})


class TestStrayNames:
    def test_stray_name_of_another_plugin_left_out(self, caplog: pytest.LogCaptureFixture) -> None:
        """A ``tests`` package another plugin provides is left out of the plugin's names, with
        a warning naming both plugins; its other names are its own."""
        owners = ModuleOwners(Active(hello=["hello", "tests"]))
        assert owners.check(POLITE, ["polite", "tests"], SITE, {"polite"}) == ("polite",)
        [record] = caplog.records
        assert record.levelname == "WARNING"
        assert "'tests' is provided both by plugin 'hello' and by plugin 'polite'" in (
            record.getMessage()
        )
        assert "plugin 'polite' loads without its own" in record.getMessage()

    def test_stray_name_of_the_host_left_out(self, caplog: pytest.LogCaptureFixture) -> None:
        """``test`` is the standard library's: a plugin shipping one loads without it."""
        owners = ModuleOwners(Active())
        assert owners.check(HELLO, ["hello", "test"], SITE, {"hello"}) == ("hello",)
        assert "provided by the host environment" in caplog.records[0].getMessage()

    def test_stray_name_nobody_has_is_kept(self, caplog: pytest.LogCaptureFixture) -> None:
        owners = ModuleOwners(Active(hello=["hello"]))
        kept = owners.check(POLITE, ["polite", "unit_tests"], SITE, {"polite"})
        assert kept == ("polite", "unit_tests")
        assert caplog.records == []

    def test_other_names_still_refused(self) -> None:
        """Only the stray names: ``utils`` is code a plugin imports, and is refused."""
        owners = ModuleOwners(Active(hello=["tests", "utils"]))
        with pytest.raises(ResolutionError, match="'utils' is provided both"):
            owners.check(POLITE, ["tests", "utils"], SITE, {"polite"})


class TestMap:
    def test_map_built_once(self) -> None:
        """The map is built once and kept between checks."""
        active = Active(hello=["hello"])
        owners = ModuleOwners(active)
        owners.check(POLITE, ["polite_a"], SITE, {"polite"})
        owners.check(POLITE, ["polite_b"], SITE, {"polite"})
        assert active.asked == 1

    def test_moved_updates_the_map(self) -> None:
        """After ``moved``, the plugin's old names are free and its new names are its own."""
        active = Active(hello=["hello_v1"])
        owners = ModuleOwners(active)
        owners.check(POLITE, ["polite_a"], SITE, {"polite"})
        owners.moved(N("hello"), ["hello_v1"], ["hello_v2"])
        owners.check(POLITE, ["hello_v1"], SITE, {"polite"})
        with pytest.raises(ResolutionError, match="'hello_v2' is provided both"):
            owners.check(POLITE, ["hello_v2"], SITE, {"polite"})
        assert active.asked == 1

    def test_moved_before_any_check_is_left_to_the_build(self) -> None:
        """Before the map is built, ``moved`` records nothing: the build will ask."""
        active = Active(hello=["hello_v2"])
        owners = ModuleOwners(active)
        owners.moved(N("hello"), ["hello_v1"], ["hello_v2"])
        with pytest.raises(ResolutionError, match="'hello_v2' is provided both"):
            owners.check(POLITE, ["hello_v2"], SITE, {"polite"})
        assert active.asked == 1

    def test_forget_builds_anew(self) -> None:
        """After ``forget`` the next check asks for the active plugins again."""
        active = Active(hello=["hello_mod"])
        owners = ModuleOwners(active)
        owners.check(POLITE, ["polite_a"], SITE, {"polite"})
        del active.serving[N("hello")]
        owners.forget()
        owners.check(POLITE, ["hello_mod"], SITE, {"polite"})
        assert active.asked == 2


@pytest.fixture
def no_tests_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sys.path without this project's folder: its ``tests`` folder is a namespace package
    there, which the host would provide (as it does for an application run from a checkout)."""
    kept = [p for p in sys.path if not Path(p or ".", "tests").is_dir()]
    monkeypatch.setattr(sys, "path", kept)
    monkeypatch.delitem(sys.modules, "tests", raising=False)


@pytest.mark.usefixtures("no_tests_on_path")
class TestStrayNamesInAHost:
    """Real wheels that ship a stray ``tests`` package, as pytest-monkeytype, pytest-tmpfs and
    tox-battery do, loaded by a host from its watched folder."""

    def test_two_plugins_shipping_tests_both_load(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        for name in ("hello", "polite"):
            factory.build(
                name,
                code=greet_code(name),
                files={"tests/__init__.py": f"OWNER = {name!r}\n", "tests/test_it.py": ""},
            )
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["hello", "polite"]
        assert host.problems() == ()
        import tests  # the first plugin's: the second loaded without its own

        assert tests.OWNER == "hello"
        assert "plugin 'polite' loads without its own" in caplog.text
        assert "'tests' is provided both by plugin 'hello' and by plugin 'polite'" in caplog.text

    def test_a_stray_name_the_host_has_is_left_out(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An application run from a checkout has its ``tests`` folder on sys.path: a plugin
        shipping ``tests`` loads without it, and the warning says where the host's is."""
        checkout = tmp_path / "checkout"
        (checkout / "tests").mkdir(parents=True)
        monkeypatch.syspath_prepend(str(checkout))
        factory.build("hello", code=greet_code("hi"), files={"tests/__init__.py": "MINE = 1\n"})
        host = make_host()
        assert host.hook.greet(name="x") == ["hi"]
        assert host.problems() == ()
        assert f"a namespace package in {checkout / 'tests'}" in caplog.text

    def test_a_swap_keeps_the_owners_stray_name(
        self, factory: WheelFactory, make_host: Callable[..., PluginHost], wheels: Path
    ) -> None:
        """The plugin serving ``tests`` keeps it across a swap; the other one still has none."""
        files = {"tests/__init__.py": "OWNER = 'hello 1'\n"}
        factory.build("hello", code=greet_code("hello 1"), files=files)
        factory.build("polite", code=greet_code("polite"), files={"tests/__init__.py": ""})
        host = make_host(settle=0.05)
        files = {"tests/__init__.py": "OWNER = 'hello 2'\n"}
        newer = factory.build("hello", "2.0.0", code=greet_code("hello 2"), files=files)
        (wheels / "hello-1.0.0-py3-none-any.whl").unlink()
        assert newer.parent == wheels
        assert host.wait_idle(20)
        assert sorted(host.hook.greet(name="x")) == ["hello 2", "polite"]
        assert host.problems() == ()
        import tests

        assert tests.OWNER == "hello 2"

    def test_a_plugin_shipping_the_standard_librarys_test_loads(
        self, factory: WheelFactory, make_host: Callable[..., PluginHost]
    ) -> None:
        """``test`` is CPython's own test package: a plugin shipping one loads without it."""
        factory.build("hello", code=greet_code("hi"), files={"test/__init__.py": "MINE = 1\n"})
        host = make_host()
        assert host.hook.greet(name="x") == ["hi"]
        assert host.problems() == ()
        import test

        assert not hasattr(test, "MINE")


class TestNamespacePortions:
    def test_a_module_inside_the_environments_namespace_clashes_nested_too(
        self, tmp_path: Path
    ) -> None:
        """A wheel's portion clashes where it ships a module the environment's portions have,
        looked for inside a namespace package both have portions of (``google.cloud``); a
        module only the wheel has does not."""
        env = tmp_path / "env"
        (env / "nsclash" / "deep").mkdir(parents=True)
        (env / "nsclash" / "deep" / "envmod.py").write_text("")
        (env / "nsclash" / "top.py").write_text("")
        portions = [str(env / "nsclash")]
        clash = collisions._portion_clash
        assert clash({"nsclash/deep/envmod.py"}, "nsclash", portions) == "nsclash.deep.envmod"
        assert clash({"nsclash/top/__init__.py"}, "nsclash", portions) == "nsclash.top"
        assert clash({"nsclash/deep/mine.py", "nsclash/other.py"}, "nsclash", portions) is None
        assert clash({"nsclash/deep/__init__.py"}, "nsclash", portions) == "nsclash.deep"


class TestAConflictGone:
    """A plugin refused because another one has its top-level module loads once that one is
    gone: it stayed refused until a restart (published: datasette-render-binary 0.3.1, whose
    renamed entry point made it another plugin of the same module as 0.3)."""

    @pytest.mark.parametrize("renamed", [False, True], ids=["two-distributions", "renamed"])
    def test_loads_when_the_other_plugin_is_removed(
        self,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
        wheels: Path,
        renamed: bool,
    ) -> None:
        factory.build("hello", module="greetings", code=greet_code("hello"))
        host = make_host(settle=0.05)
        other = {"distribution": "hello"} if renamed else {}
        factory.build("polite", "1.1.0", module="greetings", code=greet_code("polite"), **other)
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["hello"]
        (problem,) = [p for p in host.problems() if p.plugin == "polite"]
        assert "top-level module 'greetings' is provided both by plugin" in problem.message
        next(wheels.glob("hello-1.0.0-*.whl")).unlink()
        assert host.wait_idle(20)
        wait_for(lambda: host.hook.greet(name="x") == ["polite"], timeout=10)
        assert "hello" not in host.plugins
        assert [p for p in host.problems() if p.plugin == "polite"] == []
