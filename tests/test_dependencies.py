"""Shared third-party dependencies of plugins (pluginhost/host/dependencies.py), with real wheels
and real hosts."""

from __future__ import annotations

import builtins
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

from pluginhost import (
    Candidate,
    DependencyConflictError,
    Event,
    EventKind,
    PluginHost,
    PluginState,
    ProblemKind,
    WheelLimits,
)
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.host.dependencies import environment_version
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory
from pluginhost.testkit.archive import Draft, Member, write_archive

MakeHost = Callable[..., PluginHost]


def _lib(factory: WheelFactory, version: str, **kwargs: Any) -> Path:
    """A dependency wheel ``sharedlib`` (no plugin): ``sharedlib.VALUE`` names its version."""
    return factory.build(
        "sharedlib",
        version,
        group="other.group",
        code=f"VALUE = {version!r}\n",
        **kwargs,
    )


def _user(factory: WheelFactory, name: str, requirement: str, version: str = "1.0.0") -> Path:
    """A plugin whose ``greet`` answers the version of ``sharedlib`` it imported."""
    code = greet_code("x").replace('return "x"', "return sharedlib.VALUE") + "\nimport sharedlib\n"
    return factory.build(name, version, code=code, requires_dist=[requirement])


def _portion(
    factory: WheelFactory, distribution: str, module: str, namespace: str = "nsjar"
) -> Path:
    """A dependency wheel shipping one portion, ``nsjar/<module>.py``, of the namespace package
    ``nsjar`` (no ``__init__.py``), as jaraco.functools and jaraco.context ship ``jaraco/``."""
    return _dependency(factory, distribution, f"{namespace}/{module}.py", f"VALUE = {module!r}\n")


def _dependency(factory: WheelFactory, distribution: str, member: str, code: str) -> Path:
    """A dependency wheel (no plugin) of one member, written as it is."""
    draft = Draft(distribution, "1.0.0", "py3-none-any", "", [Member(member, code.encode())], {})
    path = factory.directory / draft.filename
    path.write_bytes(write_archive(draft, {}))
    return path


def _nsjar_user(factory: WheelFactory, name: str, modules: list[str]) -> Path:
    """A plugin whose ``greet`` answers the values of the ``nsjar`` portions it imports."""
    imports = "".join(f"import nsjar.{m}\n" for m in modules)
    values = " + ".join(f"nsjar.{m}.VALUE" for m in modules)
    code = greet_code("x").replace('return "x"', f"return {values}") + imports
    return factory.build(name, code=code, requires_dist=[f"nsjar.{m}" for m in modules])


def _deps(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "deps").iterdir()) if (home / "deps").is_dir() else []


@pytest.fixture
def host_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A namespace package ``nsenv`` of the host environment (a dir on ``sys.path`` holding
    ``nsenv/hostpart.py``, no ``__init__.py``), as zope.interface ships ``zope/``."""
    root = tmp_path / "environment"
    (root / "nsenv").mkdir(parents=True)
    (root / "nsenv" / "hostpart.py").write_text("VALUE = 'host'\n")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [n for n in sys.modules if n == "nsenv" or n.startswith("nsenv.")]:
        del sys.modules[name]


def _nsenv_user(factory: WheelFactory) -> Path:
    """A plugin that imports the environment's portion of ``nsenv`` and its dependency's."""
    code = greet_code("x").replace('return "x"', "return hostpart.VALUE + deppart.VALUE")
    code += "\nfrom nsenv import deppart, hostpart\n"
    return factory.build("nsuser", code=code, requires_dist=["nsenv.deppart"])


class TestShared:
    def test_two_plugins_share_one_dependency(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Two plugins needing one library load both, from one shared site, not as a clash."""
        _lib(factory, "1.2.0")
        _user(factory, "anthropic", "sharedlib>=1.0")
        _user(factory, "mistral", "sharedlib>=1.1")
        host = make_host()
        assert sorted(host.load_order()) == ["anthropic", "mistral"]
        assert host.hook.greet(name="x") == ["1.2.0", "1.2.0"]
        (site,) = _deps(tmp_path / "home")
        assert site.startswith("sharedlib-1.2.0-")
        assert not [p for p in host.problems() if p.kind is ProblemKind.CONFLICT]
        dist_info = host._engine.deps.dist_info_dirs()["sharedlib"]
        assert (dist_info / "METADATA").is_file()

    def test_a_dependency_finds_its_executable_beside_its_package(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A dependency that ships an executable (a ``.data/scripts`` member) finds it in
        ``bin/`` beside its package, where ``pip install --target`` puts it and where uv's
        ``find_uv_bin`` and ruff's ``find_ruff_bin`` look: it was in ``.pluginhost/scripts``,
        and tox-uv failed with "uv not found", pytest-ruff with RuffNotFound."""
        finder = (
            "import os, subprocess\n"
            "def run():\n"
            "    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n"
            "    exe = os.path.join(root, 'bin', 'toolexe')\n"
            "    return subprocess.run([exe], capture_output=True, text=True).stdout.strip()\n"
        )
        factory.build(
            "toollib",
            group="other.group",
            code=finder,
            files={"toollib-1.0.0.data/scripts/toolexe": "#!/bin/sh\necho ran\n"},
        )
        code = greet_code("x").replace('return "x"', "return toollib.run()") + "\nimport toollib\n"
        factory.build("runner", code=code, requires_dist=["toollib"])
        host = make_host()
        assert host.hook.greet(name="x") == ["ran"]

    def test_a_meta_package_brings_the_plugin_its_dependencies(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A dependency wheel that requires a plugin and a library (a meta-package, as tox-uv
        is of tox-uv-bare and uv) has the library served to the plugin, as ``pip install``
        of the meta-package would: nothing required the meta-package, and tox-uv-bare ran
        without uv ("uv not found")."""
        _lib(factory, "1.2.0")
        code = greet_code("x").replace('return "x"', "import sharedlib; return sharedlib.VALUE")
        factory.build("bare", "1.0.0", code=code)
        factory.build(
            "meta", "1.0.0", group="other.group", requires_dist=["bare==1.0.0", "sharedlib>=1.0"]
        )
        host = make_host()
        assert host.load_order() == ("bare",)
        assert host.hook.greet(name="x") == ["1.2.0"]
        assert _deps(tmp_path / "home")[0].startswith("sharedlib-1.2.0-")

    def test_a_need_a_meta_package_adds_names_it(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A requirement of the meta-package that nothing meets is the plugin's failure,
        naming the meta-package as the one that needs it."""
        _lib(factory, "1.2.0")
        _user(factory, "other", "sharedlib>=1.0")
        factory.build("bare", "1.0.0", code=greet_code("x"), requires_dist=["sharedlib<1.5"])
        factory.build(
            "meta", "1.0.0", group="other.group", requires_dist=["bare==1.0.0", "sharedlib>=2"]
        )
        host = make_host()
        assert "bare" not in host.load_order()
        (problem,) = [p for p in host.problems() if p.plugin == "bare"]
        assert "meta 1.0.0 needs sharedlib>=2" in problem.message, problem.message

    def test_two_versions_of_a_meta_package_serve_the_newest(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """meta 1.0 (``sharedlib==1.0.0``) and meta 2.0 (``sharedlib==2.0.0``) side by side
        serve the plugin with what meta 2.0 requires, as ``pip install`` would: both added
        their pins and the plugin was refused (attack probe 12's F3). Dropping meta 2.0 beside
        meta 1.0 while the plugin serves swaps it to sharedlib 2.0.0."""
        _lib(factory, "1.0.0")
        _lib(factory, "2.0.0")
        code = greet_code("x").replace('return "x"', "import sharedlib; return sharedlib.VALUE")
        factory.build("bare", "1.0.0", code=code)
        for version in ("1.0", "2.0"):
            factory.build(
                "meta",
                version,
                group="other.group",
                requires_dist=["bare", f"sharedlib=={version}.0"],
            )
        host = make_host()
        assert host.load_order() == ("bare",), host.problems()
        assert host.hook.greet(name="x") == ["2.0.0"]
        assert host.problems() == ()

    def test_a_meta_package_upgrade_dropped_beside_the_old_one(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """meta 2.0 dropped beside meta 1.0 while the plugin serves: no problem, the plugin
        serves on, and its next version takes meta 2.0's requirements."""
        _lib(factory, "1.0.0")
        _lib(factory, "2.0.0")
        code = greet_code("x").replace('return "x"', "import sharedlib; return sharedlib.VALUE")
        factory.build("bare", "1.0.0", code=code)
        meta = ["bare", "sharedlib==1.0.0"]
        factory.build("meta", "1.0", group="other.group", requires_dist=meta)
        host = make_host()
        assert host.hook.greet(name="x") == ["1.0.0"]
        meta = ["bare", "sharedlib==2.0.0"]
        factory.build("meta", "2.0", group="other.group", requires_dist=meta)
        factory.build("bare", "1.0.1", code=code)
        host.refresh()
        assert host.wait_idle(20)
        assert host.plugins["bare"].version == "1.0.1", host.problems()
        assert host.hook.greet(name="x") == ["2.0.0"]
        assert host.problems() == ()

    def test_too_many_lines_from_meta_packages_refuse_the_swap(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Past WheelLimits.max_requirements, the lines the meta-packages of a plugin add
        together refuse its new version, naming the plugin and them; the serving version
        serves on (40 metas of 1,000 lines each made a swap take 21 s: attack probe 12's M4)."""
        lines = [f"pluggy>=0.{j}" for j in range(20)]  # met by the environment's pluggy
        factory.build("bare", "1.0.0", code=greet_code("one"))
        factory.build("meta0", "1.0", group="other.group", requires_dist=["bare", *lines])
        host = make_host(limits=WheelLimits(max_requirements=50))
        assert host.hook.greet(name="x") == ["one"]
        for i in (1, 2):
            factory.build(f"meta{i}", "1.0", group="other.group", requires_dist=["bare", *lines])
        factory.build("bare", "1.0.1", code=greet_code("two"))
        host.refresh()
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == ["one"]
        assert host.plugins["bare"].version == "1.0.0"
        (problem,) = [p for p in host.problems() if p.plugin == "bare"]
        assert "meta0 1.0, meta1 1.0, meta2 1.0" in problem.message, problem.message
        assert "more than 50 requirement lines" in problem.message, problem.message

    def test_a_meta_package_of_another_version_adds_nothing(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A meta-package requiring another version of the plugin than the one at hand adds
        nothing to it."""
        _lib(factory, "1.2.0")
        factory.build("bare", "1.0.0", code=greet_code("x"))
        factory.build(
            "meta", "1.0.0", group="other.group", requires_dist=["bare==2.0", "sharedlib>=1.0"]
        )
        host = make_host()
        assert host.hook.greet(name="x") == ["x"]
        assert _deps(tmp_path / "home") == []

    def test_a_meta_package_whose_plugin_is_not_at_hand_says_so(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A meta-package dropped without its plugin (llm-claude-3 0.11 alone, a shim that
        requires llm-anthropic) is a ``missing`` problem naming the wheel and the requirement
        nothing meets, and no plugin: it did nothing and said nothing. The other plugins load
        as before."""
        meta = factory.build(
            "llm-claude-3", "0.11", group="other.group", requires_dist=["llm-anthropic>=0.11"]
        )
        factory.build("hello", "1.0.0", code=greet_code("hi"))
        host = make_host()
        assert host.load_order() == ("hello",)
        (problem,) = host.problems()
        assert (problem.kind, problem.plugin, problem.path) == (
            ProblemKind.MISSING,
            None,
            str(meta),
        )
        assert problem.involved == ("llm-anthropic",)
        assert "llm-claude-3 0.11" in problem.message
        assert "llm-anthropic>=0.11" in problem.message
        assert set(host.plugins) == {"hello"}

    def test_a_meta_package_is_quiet_once_its_plugin_is_there(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Its plugin dropped beside it, the problem goes."""
        factory.build(
            "llm-claude-3", "0.11", group="other.group", requires_dist=["llm-anthropic>=0.11"]
        )
        host = make_host()
        assert [p.kind for p in host.problems()] == [ProblemKind.MISSING]
        factory.build("llm-anthropic", "0.11", code=greet_code("claude"))
        host.refresh()
        assert host.wait_idle(20)
        assert host.load_order() == ("llm-anthropic",)
        assert host.problems() == ()

    def test_a_requirement_on_itself_is_met_by_the_plugin(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin whose Requires-Dist names its own distribution, directly or through a
        library that requires it back, loads, as pip installs it: it was refused as missing a
        requirement that "no wheel in the watched folders" met, beside its own wheel (attack
        probe 11)."""
        factory.build("selfish", "1.0.0", code=greet_code("s"), requires_dist=["selfish>=1"])
        member, needs = Member("backlib.py", b"X = 1\n"), {"Requires-Dist": ["looped"]}
        draft = Draft("backlib", "1.0.0", "py3-none-any", "", [member], needs)
        (factory.directory / draft.filename).write_bytes(write_archive(draft, {}))
        factory.build("looped", "1.0.0", code=greet_code("l"), requires_dist=["backlib"])
        host = make_host()
        assert sorted(host.load_order()) == ["looped", "selfish"]

    def test_a_requirement_on_itself_at_another_version_is_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """One its own version does not meet is refused, saying so."""
        factory.build("selfish", "1.0.0", code=greet_code("s"), requires_dist=["selfish>=2"])
        host = make_host()
        assert host.load_order() == ()
        (problem,) = [p for p in host.problems() if p.plugin == "selfish"]
        assert "needs selfish>=2, the plugin's own distribution at 1.0.0" in problem.message

    @pytest.mark.parametrize("kept", [True, False], ids=["wheels-at-hand", "wheels-gone"])
    def test_a_new_version_keeps_the_dependencies_of_a_serving_dependency(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, kept: bool
    ) -> None:
        """A new version of a plugin using a serving dependency uses that dependency's own
        dependencies too: they were left to the old version alone, retired with it, and the
        plugin failed at the next start (pytest-html 4.1.1 -> 4.2.0, whose jinja2 needs
        markupsafe: "No module named 'markupsafe'"; found by the verification probe). With
        the dependency wheels gone from the folder, the installed METADATA says what the
        serving copy needs."""
        outer = Member("outerlib.py", b"import innerlib\nVALUE = innerlib.VALUE\n")
        draft = Draft(
            "outerlib", "1.0.0", "py3-none-any", "", [outer], {"Requires-Dist": ["innerlib"]}
        )
        (factory.directory / draft.filename).write_bytes(write_archive(draft, {}))
        _dependency(factory, "innerlib", "innerlib.py", "VALUE = 'inner'\n")
        code = greet_code("x").replace('return "x"', "import outerlib; return outerlib.VALUE")
        factory.build("htmlish", "1.0.0", code=code, requires_dist=["outerlib"])
        host = make_host()
        assert host.hook.greet(name="x") == ["inner"]
        if not kept:
            for lib in factory.directory.glob("*lib-*.whl"):
                lib.unlink()
            assert host.wait_idle(30)
        new = WheelFactory(tmp_path / "new", group="greeter.plugins")
        wheel = new.build("htmlish", "1.1.0", code=code, requires_dist=["outerlib"])
        wheel.rename(factory.directory / wheel.name)
        assert host.wait_idle(30)
        assert host.plugins["htmlish"].version == "1.1.0"
        assert [d.split("-")[0] for d in _deps(tmp_path / "home")] == ["innerlib", "outerlib"]
        host.stop()
        again = make_host()
        assert again.hook.greet(name="x") == ["inner"]

    def test_registry_records_the_serving_dependency(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """The registry names the dependency, its dir and its users."""
        _lib(factory, "1.2.0")
        _user(factory, "anthropic", "sharedlib>=1.0")
        make_host().stop()
        doc = AtomicJsonFile(tmp_path / "home" / "registry.json").read()
        (dep,) = doc["deps"]
        assert dep["distribution"] == "sharedlib"
        assert dep["version"] == "1.2.0"
        assert [u[0] for u in dep["users"]] == ["anthropic"]

    def test_restart_restores_without_reinstall(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """After a restart the same dependency dir serves, even with its wheel gone."""
        wheel = _lib(factory, "1.2.0")
        _user(factory, "anthropic", "sharedlib>=1.0")
        make_host().stop()
        before = _deps(tmp_path / "home")
        stamp = (tmp_path / "home" / "deps" / before[0]).stat().st_ino
        wheel.unlink()
        host = make_host()
        assert host.hook.greet(name="x") == ["1.2.0"]
        assert _deps(tmp_path / "home") == before
        assert (tmp_path / "home" / "deps" / before[0]).stat().st_ino == stamp

    def test_restart_keeps_the_dependencies_of_plugins_restored_later(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, events: list[Event]
    ) -> None:
        """A plugin restored before one that needs a dependency did not retire it: the second
        was refused as missing it ("met neither by the host environment nor by a wheel"), then
        loaded again from the folder with the dependency installed anew (tox-extras beside
        tox-docker, published probe 10)."""
        factory.build("aaa", code=greet_code("a"))
        _lib(factory, "1.2.0")
        _user(factory, "zzz", "sharedlib>=1.0")
        make_host().stop()
        (dep,) = _deps(tmp_path / "home")
        stamp = (tmp_path / "home" / "deps" / dep).stat().st_ino
        events.clear()
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["1.2.0", "a"]
        assert [e for e in events if e.kind is EventKind.LOAD_FAILED] == []
        assert (tmp_path / "home" / "deps" / dep).stat().st_ino == stamp

    def test_lost_dependency_dir_is_installed_again(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A recorded dependency dir gone at restart is installed again from its wheel, and
        its users serve."""
        _lib(factory, "1.2.0")
        _user(factory, "anthropic", "sharedlib>=1.0")
        _user(factory, "mistral", "sharedlib>=1.0")
        make_host().stop()
        (site,) = _deps(tmp_path / "home")
        shutil.rmtree(tmp_path / "home" / "deps" / site)
        host = make_host()
        assert host.hook.greet(name="x") == ["1.2.0", "1.2.0"]
        assert _deps(tmp_path / "home") == [site]

    def test_ready_only_when_served(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A plugin is ready to import (ahead of its transition) only once every dependency it
        needs serves at a version that meets it."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        elsewhere = WheelFactory(tmp_path / "elsewhere", group=factory.group)
        newer = _user(elsewhere, "mistral", "sharedlib>=2")
        same = _user(elsewhere, "gemini", "sharedlib>=1")
        deps = host._engine.deps

        def read(path: Path) -> Candidate:
            found = candidate_from_wheel(inspect_plugin_wheel(path), factory.group)
            assert found is not None
            return found

        assert deps.ready(read(same))
        assert not deps.ready(read(newer))

    def test_orphaned_dependency_dir_is_pruned(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A dependency dir nothing records (a crash before the commit) goes at the next start."""
        (tmp_path / "home" / "deps" / "ghost-1.0-0123abcd").mkdir(parents=True)
        make_host()
        assert _deps(tmp_path / "home") == []

    def test_last_user_gone_retires_the_dependency(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Once no plugin uses a dependency, its modules and its dir go."""
        _lib(factory, "1.2.0")
        wheel = _user(factory, "anthropic", "sharedlib>=1.0")
        host = make_host()
        assert "sharedlib" in sys.modules
        wheel.unlink()
        host.wait_idle(10)
        assert host.load_order() == ()
        assert "sharedlib" not in sys.modules
        assert _deps(tmp_path / "home") == []

    def test_namespace_package_shared_by_two_dependencies(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Two dependencies shipping portions of one namespace package serve both portions,
        as site-packages does (pytest-enabler 3.4.0 needs jaraco.functools and jaraco.context,
        and failed with "No module named 'jaraco.functools'"); and again after a restart."""
        _portion(factory, "nsjar.functools", "functools")
        _portion(factory, "nsjar.context", "context")
        _nsjar_user(factory, "enabler", ["functools", "context"])
        host = make_host()
        assert host.hook.greet(name="x") == ["functoolscontext"]
        host.stop()
        for name in ("nsjar", "nsjar.functools", "nsjar.context"):
            assert name not in sys.modules
        host.start()
        assert host.hook.greet(name="x") == ["functoolscontext"]

    def test_a_portion_added_after_the_namespace_package_was_imported(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A second plugin's dependency shipping another portion of a namespace package that
        the first plugin's dependency serves, imported already, is shared: llm-mistral 0.16
        (opentelemetry-semantic-conventions) beside llm-anthropic 0.30 (opentelemetry-api)
        was refused, 'opentelemetry' taken as the host environment's, since it was imported."""
        _portion(factory, "nsjar.functools", "functools")
        _nsjar_user(factory, "first", ["functools"])
        host = make_host()
        assert "nsjar" in sys.modules
        _portion(factory, "nsjar.context", "context")
        _nsjar_user(factory, "second", ["context"])
        host.wait_idle(10)
        assert host.problems() == ()
        assert sorted(host.hook.greet(name="x")) == ["context", "functools"]

    def test_a_second_dependency_shipping_the_same_package_is_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Two dependencies shipping one regular package: the second is refused, naming the
        first; it would have run the first one's code under its own name."""
        _dependency(factory, "regpkg-a", "regpkg/__init__.py", "VALUE = 'a'\n")
        code = greet_code("x").replace('return "x"', "return regpkg.VALUE") + "\nimport regpkg\n"
        factory.build("first", code=code, requires_dist=["regpkg-a"])
        host = make_host()
        assert host.hook.greet(name="x") == ["a"]
        _dependency(factory, "regpkg-b", "regpkg/__init__.py", "VALUE = 'b'\n")
        factory.build("second", code=code, requires_dist=["regpkg-b"])
        host.wait_idle(10)
        assert host.hook.greet(name="x") == ["a"]
        (problem,) = [p for p in host.problems() if p.plugin == "second"]
        assert "'regpkg' of shared dependency regpkg-b is already served by shared dependency" in (
            problem.message
        )

    @pytest.mark.parametrize("imported", [False, True])
    def test_a_namespace_package_of_the_environment_gets_the_dependencys_portion(
        self,
        imported: bool,
        host_namespace: Path,
        factory: WheelFactory,
        make_host: MakeHost,
        tmp_path: Path,
    ) -> None:
        """A dependency shipping a portion of a namespace package the environment has (as
        zope.event ships ``zope/`` beside zope.interface) serves beside it, whether the host
        imported the namespace package first or not; the environment keeps its modules when
        the dependency goes."""
        if imported:
            import nsenv.hostpart  # noqa: F401
        _portion(factory, "nsenv.deppart", "deppart", namespace="nsenv")
        wheel = _nsenv_user(factory)
        host = make_host()
        assert host.hook.greet(name="x") == ["hostdeppart"]
        namespace, hostpart = sys.modules["nsenv"], sys.modules["nsenv.hostpart"]
        assert list(namespace.__path__) == [str(host_namespace / "nsenv")]  # the environment's
        (site,) = _deps(tmp_path / "home")
        assert site.startswith("nsenv.deppart-1.0.0-")
        wheel.unlink()
        host.wait_idle(10)
        assert host.load_order() == ()
        assert "nsenv.deppart" not in sys.modules
        assert sys.modules["nsenv"] is namespace
        assert sys.modules["nsenv.hostpart"] is hostpart
        assert _deps(tmp_path / "home") == []

    def test_a_regular_package_in_an_environments_namespace_is_refused(
        self, host_namespace: Path, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A dependency shipping ``nsenv/__init__.py`` would replace the environment's
        namespace package: refused, naming it."""
        _dependency(factory, "nsenv-owner", "nsenv/__init__.py", "VALUE = 'mine'\n")
        code = greet_code("x") + "\nimport nsenv\n"
        factory.build("owner", code=code, requires_dist=["nsenv-owner"])
        host = make_host()
        assert host.load_order() == ()
        error = host.plugins["owner"].error or ""
        assert "top-level module 'nsenv' of shared dependency nsenv-owner" in error
        assert "a namespace package in" in error

    def test_a_portion_shadowing_a_module_of_the_environments_namespace_is_refused(
        self, host_namespace: Path, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A dependency's portion that ships a module the environment's namespace package
        has too (an older zope.event beside the environment's, say) would shadow it for
        everyone: refused, naming the module."""
        _portion(factory, "nsenv-hostpart", "hostpart", namespace="nsenv")
        code = greet_code("x") + "\nimport nsenv.hostpart\n"
        factory.build("shadower", code=code, requires_dist=["nsenv-hostpart"])
        host = make_host()
        assert host.load_order() == ()
        error = host.plugins["shadower"].error or ""
        assert "module 'nsenv.hostpart' of shared dependency nsenv-hostpart" in error
        assert "inside its namespace package 'nsenv'" in error

    def test_namespace_portion_retired_alone(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """When the last user of one portion goes, that portion goes; the other portion keeps
        serving its own user, from its own dir."""
        _portion(factory, "nsjar.functools", "functools")
        _portion(factory, "nsjar.context", "context")
        both = _nsjar_user(factory, "enabler", ["functools", "context"])
        _nsjar_user(factory, "other", ["context"])
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["context", "functoolscontext"]
        both.unlink()
        host.wait_idle(10)
        assert host.load_order() == ("other",)
        assert "nsjar.functools" not in sys.modules
        assert host.hook.greet(name="x") == ["context"]
        (site,) = _deps(tmp_path / "home")
        assert site.startswith("nsjar.context-1.0.0-")

    def test_dependency_clashing_with_a_plugin_module_is_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin shipping a top-level module a serving dependency owns is refused."""
        _lib(factory, "1.2.0")
        _user(factory, "anthropic", "sharedlib>=1.0")
        factory.build(
            "squatter", code=greet_code("s"), files={"sharedlib/__init__.py": "VALUE = 'evil'\n"}
        )
        host = make_host()
        assert host.load_order() == ("anthropic",)
        assert host.plugins["squatter"].state is PluginState.FAILED
        assert "by shared dependency 'sharedlib' and by plugin 'squatter'" in (
            host.plugins["squatter"].error or ""
        )

    def test_a_dependency_needing_a_plugin_links_to_it(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin needing a dependency that needs a plugin needs that plugin (pytest-
        factoryboy needs factory_boy, which needs Faker, a pytest plugin; tox-extra needs
        tox-uv, which needs tox-uv-bare): it loads after it, and the dependency imports it.
        The requirement was refused as met by no wheel, Faker's in the folder."""
        factory.build("zzfaker", "1.2.0", code=greet_code("faker") + "VALUE = 'faked'\n")
        factory.build(
            "midlib",
            group="other.group",
            code="import zzfaker\nVALUE = zzfaker.VALUE\n",
            requires_dist=["zzfaker>=1.0"],
        )
        code = greet_code("x").replace('return "x"', "return midlib.VALUE") + "\nimport midlib\n"
        factory.build("aaauser", code=code, requires_dist=["midlib>=1"])
        host = make_host()
        assert host.problems() == ()
        assert host.load_order() == ("zzfaker", "aaauser")
        assert sorted(host.hook.greet(name="x")) == ["faked", "faker"]
        assert host.plugins["aaauser"].requires == {"zzfaker": ">=1.0"}

    def test_a_dependency_needing_a_plugin_too_old_is_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """The link constrains the plugin's version as the dependency's line says."""
        factory.build("zzfaker", "0.5.0", code=greet_code("faker"))
        factory.build(
            "midlib", group="other.group", code="VALUE = 1\n", requires_dist=["zzfaker>=1.0"]
        )
        factory.build("aaauser", code=greet_code("user"), requires_dist=["midlib>=1"])
        host = make_host()
        assert host.hook.greet(name="x") == ["faker"]
        assert host.plugins["aaauser"].state is PluginState.FAILED
        assert "zzfaker" in (host.plugins["aaauser"].error or "")

    def test_a_missing_requirement_names_the_plugins_distribution(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin named by its entry point (``memray``) unlike its distribution
        (``pytest-memray``) is shown as both where it needs a dependency of the entry point's
        name: ``memray 1.11.0 needs memray>=1.19.1`` read as if it needed itself."""
        factory.build(
            "memray",
            "1.11.0",
            distribution="pytest-memray",
            code=greet_code("m"),
            requires_dist=["memray>=1.19.1"],
        )
        host = make_host()
        assert host.load_order() == ()
        (problem,) = host.problems()
        assert problem.message.endswith(
            "requirement 'memray>=1.19.1' is met neither by the host environment nor by a "
            "wheel in the watched folders (pytest-memray (memray) 1.11.0 needs memray>=1.19.1)"
        )

    def test_plugin_sharing_a_namespace_with_dependencies_is_refused_saying_so(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin that ships a portion of a namespace package that dependency wheels serve
        portions of (jaraco.test's ``jaraco/test/`` beside jaraco.functools and
        jaraco.context) is refused: the message says it is a namespace package and names
        every dependency serving it (see docs/limits.md)."""
        _portion(factory, "nsjar.functools", "functools")
        _portion(factory, "nsjar.context", "context")
        _nsjar_user(factory, "enabler", ["functools", "context"])
        code = greet_code("t") + "\nimport nsjar.functools\n"
        factory.build(
            "nsjar-test",
            module="nsjar/test",
            entry_point="nsjar.test",
            code=code,
            requires_dist=["nsjar.functools"],
        )
        host = make_host()
        assert host.load_order() == ("enabler",)
        assert host.plugins["nsjar-test"].state is PluginState.FAILED
        assert (host.plugins["nsjar-test"].error or "").endswith(
            "top-level module 'nsjar' is a namespace package that plugin 'nsjar-test' ships a "
            "portion of, and shared dependency 'nsjar-context' and shared dependency "
            "'nsjar-functools' serve it already: a plugin cannot share a namespace package "
            "with other plugins or shared dependencies"
        )

    def test_dependency_shadowing_the_host_is_refused(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A dependency wheel shipping a module the host has (json) is refused, naming it."""
        factory.build("hostlib", group="other.group", module="json")
        factory.build("user", code=greet_code("x"), requires_dist=["hostlib>=1"])
        host = make_host()
        assert host.load_order() == ()
        error = host.plugins["user"].error or ""
        assert "top-level module 'json' of shared dependency hostlib" in error
        assert "host environment" in error

    def test_an_older_copy_of_an_environments_distribution_says_the_version_conflict(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin needing a version of a distribution the environment has at another
        version, whose wheel is in the folder, is refused saying both: it said only "already
        provided by the host environment" (pytest-httpx 0.36.2 with httpx 0.28.1 dropped beside
        the environment's 0.29.0, published probe 10)."""
        installed = environment_version("pluggy")
        factory.build("pluggy", "0.1.0", group="other.group", module="pluggy")
        factory.build("user", code=greet_code("x"), requires_dist=["pluggy==0.1.0"])
        host = make_host()
        assert host.load_order() == ()
        error = host.plugins["user"].error or ""
        assert (
            f"user 1.0.0 needs pluggy==0.1.0, which the host environment's pluggy {installed}"
            in error
        )
        assert "does not meet" in error
        assert "top-level module 'pluggy' of shared dependency pluggy" in error


class TestChoice:
    def test_environment_copy_preferred(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A requirement the environment meets (pluggy) is not served from a folder wheel."""
        factory.build("pluggy", "99.0.0", group="other.group", files={"pluggy/x.py": ""})
        factory.build("user", code=greet_code("x"), requires_dist=["pluggy>=1"])
        host = make_host()
        assert host.load_order() == ("user",)
        assert "pluggy" not in host._engine.deps.serving()

    def test_environment_version_reads_sys_path_only(self) -> None:
        """The environment's version of a distribution comes from sys.path."""
        assert environment_version("pluggy") is not None
        assert environment_version("no-such-dist-here") is None

    def test_unsatisfiable_pair_named(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Two plugins whose requirements no one version meets: the second is refused, naming
        who needs what and the versions at hand."""
        _lib(factory, "1.0.0")
        _lib(factory, "2.0.0")
        _user(factory, "anthropic", "sharedlib>=2")
        _user(factory, "mistral", "sharedlib<2")
        host = make_host()
        assert host.load_order() == ("anthropic",)
        error = host.plugins["mistral"].error or ""
        assert "mistral 1.0.0 needs sharedlib<2" in error
        assert "anthropic 1.0.0 needs sharedlib>=2" in error
        assert "at hand: 2.0.0" in error

    def test_unsatisfiable_install_raises_typed_error(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """install() of a plugin whose requirement nothing meets raises DependencyConflictError
        naming the requirement, the plugin, and the versions at hand."""
        _lib(factory, "1.0.0")
        elsewhere = WheelFactory(tmp_path / "elsewhere", group="greeter.plugins")
        wheel = _user(elsewhere, "mistral", "sharedlib>=3")
        host = make_host()
        with pytest.raises(DependencyConflictError) as caught:
            host.install(wheel)
        assert caught.value.needs == (("mistral 1.0.0", "sharedlib>=3"),)
        assert caught.value.available[0][0] == "1.0.0"
        # One requirement is not said to conflict with others.
        assert "no version of sharedlib at hand meets the requirement (mistral 1.0.0 needs" in (
            caught.value.reason
        )


class TestSwap:
    def test_newer_dependency_swapped_with_its_users(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A plugin needing a newer version swaps the dependency, and its users move to it in
        the same transition; the old version's dir goes."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        assert host.hook.greet(name="x") == ["1.0.0"]
        _lib(factory, "2.0.0")
        _user(factory, "mistral", "sharedlib>=2")
        host.wait_idle(10)
        assert sorted(host.load_order()) == ["anthropic", "mistral"]
        assert host.hook.greet(name="x") == ["2.0.0", "2.0.0"]
        (site,) = _deps(tmp_path / "home")
        assert site.startswith("sharedlib-2.0.0-")
        assert sys.modules["sharedlib"].VALUE == "2.0.0"

    def test_user_staying_blocks_the_swap(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A user whose requirement the newer version does not meet keeps it: the newcomer is
        refused, naming both requirements."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib<2")
        host = make_host()
        _lib(factory, "2.0.0")
        _user(factory, "mistral", "sharedlib>=2")
        host.wait_idle(10)
        assert host.load_order() == ("anthropic",)
        assert host.hook.greet(name="x") == ["1.0.0"]
        error = host.plugins["mistral"].error or ""
        assert "anthropic 1.0.0 needs sharedlib<2" in error
        assert "mistral 1.0.0 needs sharedlib>=2" in error

    def test_failed_swap_puts_both_back(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A newcomer failing its health check undoes the swap: the users serve on with the
        old version's modules, and the new version's dir goes."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        before = sys.modules["sharedlib"]
        _lib(factory, "2.0.0")
        code = greet_code("m") + "\nimport sharedlib\n\n@hookimpl\ndef pluginhost_health():\n"
        code += "    return False\n"
        factory.build("mistral", code=code, requires_dist=["sharedlib>=2"])
        host.wait_idle(10)
        assert host.load_order() == ("anthropic",)
        assert host.hook.greet(name="x") == ["1.0.0"]
        assert sys.modules["sharedlib"] is before
        (site,) = _deps(tmp_path / "home")
        assert site.startswith("sharedlib-1.0.0-")
        assert "health" in (host.plugins["mistral"].error or "")

    def test_rollback_puts_the_dependency_back(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """Rolling back a plugin whose update swapped the dependency swaps it back, with its
        users, when the older wheel is at hand."""
        _lib(factory, "1.0.0")
        _lib(factory, "2.0.0")
        _user(factory, "anthropic", "sharedlib<2")
        _user(factory, "mistral", "sharedlib>=1")
        host = make_host()
        assert host.hook.greet(name="x") == ["1.0.0", "1.0.0"]
        _user(factory, "anthropic", "sharedlib>=2", version="2.0.0")
        host.wait_idle(10)
        assert host.plugins["anthropic"].version == "2.0.0"
        assert host.hook.greet(name="x") == ["2.0.0", "2.0.0"]
        host.rollback("anthropic")
        assert host.plugins["anthropic"].version == "1.0.0"
        assert host.hook.greet(name="x") == ["1.0.0", "1.0.0"]
        # Re-imported by the rollback, like a dependent: it serves, at its own version.
        assert host.plugins["mistral"].version == "1.0.0"
        assert "mistral" in host.load_order()

    def test_restart_after_swap_serves_the_new_version(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """The registry records the swapped-in version: a restart serves it without wheels."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        new = _lib(factory, "2.0.0")
        _user(factory, "mistral", "sharedlib>=2")
        host.wait_idle(10)
        host.stop()
        new.unlink()
        assert make_host().hook.greet(name="x") == ["2.0.0", "2.0.0"]

    def test_swap_under_calling_threads(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Threads calling through a swap of the dependency and its users never fail, and each
        answer is a whole version."""
        _lib(factory, "1.0.0")
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        stop = threading.Event()
        errors: list[BaseException] = []
        answers: set[str] = set()

        def call() -> None:
            while not stop.is_set():
                try:
                    answers.update(host.hook.greet(name="x"))
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            _lib(factory, "2.0.0")
            _user(factory, "mistral", "sharedlib>=2")
            host.wait_idle(10)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert errors == []
        assert answers <= {"1.0.0", "2.0.0"}
        assert host.hook.greet(name="x") == ["2.0.0", "2.0.0"]


class TestRefusedDependency:
    def test_refusal_quoted_whole(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """The refusal the plugin names is the validation's whole reason, colons included."""
        _lib(factory, "7.1.0", broken="weak-hash")
        _user(factory, "anthropic", "sharedlib>=7")
        host = make_host()
        error = host.plugins["anthropic"].error or ""
        assert "sharedlib 7.1.0 is in the folder but was refused: RECORD" in error
        assert "with 'md5': a weak or unknown hash algorithm" in error

    def test_refused_dependency_is_no_failed_plugin(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A dependency wheel refused by validation is reported, not listed as a failed plugin;
        the plugin needing it names the refusal."""
        _lib(factory, "7.1.0", broken="bad-record-hash")
        _user(factory, "anthropic", "sharedlib>=7")
        host = make_host()
        assert "sharedlib" not in host.plugins
        error = host.plugins["anthropic"].error or ""
        assert "sharedlib 7.1.0 is in the folder but was refused" in error
        assert "RECORD" in error
        refusal = next(p for p in host.problems() if p.kind is ProblemKind.WHEEL_INVALID)
        assert refusal.plugin is None

    def test_pth_member_accepted_in_dependency_wheel(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """A dependency wheel with a .pth member installs, and the .pth is inert."""
        factory.build(
            "sharedlib",
            "1.0.0",
            group="other.group",
            code="VALUE = '1.0.0'\n",
            files={"sharedlib-hook.pth": "import builtins; builtins.PTH_RAN = True\n"},
        )
        _user(factory, "anthropic", "sharedlib>=1")
        host = make_host()
        assert host.hook.greet(name="x") == ["1.0.0"]
        (site,) = _deps(tmp_path / "home")
        assert (tmp_path / "home" / "deps" / site / "sharedlib-hook.pth").is_file()
        assert not hasattr(builtins, "PTH_RAN")

    def test_pth_member_inert_in_plugin_wheel(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """A plugin wheel with a .pth member (pytest-cov before 7) loads, the .pth inert."""
        pth = "import builtins; builtins.PLUGIN_PTH_RAN = True\n"
        factory.build("user", code=greet_code("x"), files={"user-hook.pth": pth})
        host = make_host()
        assert host.load_order() == ("user",)
        assert not hasattr(builtins, "PLUGIN_PTH_RAN")
