"""The guards around plugin code: snapshots put back, threads and holders found."""

from __future__ import annotations

import atexit
import ctypes
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginhost.load.guard import (
    ThreadRef,
    holders,
    lingering,
    restore,
    snapshot,
)
from pluginhost.load.sweep import sweep
from pluginhost.testing import WheelFactory

# Stands for a plugin's top-level name: objects defined in this test module count as its own.
OWNED = [__name__.partition(".")[0]]
# Names the tests put in sys.modules, taken out after each test.
LEFTOVERS = {
    "guard_fake",
    "guard_alias",
    "guard_library",
    "guard_shadowed",
    "guard_other",
    "guard_pkg",
    "guard_vendored",
    "_cython_0_0_guard",
    "guard_main",
    "guard_mp_main",
    "guard_selfmade",
    "guard_vendoring",
    "guard_raising",
}


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        return None


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Each test leaves the import machinery as it found it, whatever it asserted."""
    json_module = sys.modules["json"]
    meta_path, path, path_hooks = list(sys.meta_path), list(sys.path), list(sys.path_hooks)
    yield
    sys.modules["json"] = json_module
    for name in [n for n in sys.modules if n.partition(".")[0] in LEFTOVERS]:
        sys.modules.pop(name, None)
    sys.meta_path[:] = meta_path
    sys.path[:] = path
    sys.path_hooks[:] = path_hooks


class TestRestore:
    def test_nothing_changed(self) -> None:
        """No change, nothing to report."""
        assert restore(snapshot(), OWNED).undone == ()

    def test_replaced_and_removed_modules_put_back(self) -> None:
        """Another module replaced or removed in sys.modules is put back."""
        json_module, email_module = sys.modules["json"], sys.modules["email"]
        before = snapshot()
        sys.modules["json"] = types.ModuleType("json")
        del sys.modules["email"]
        assert restore(before, OWNED).undone == (
            "sys.modules['email'] removed",
            "sys.modules['json'] replaced",
        )
        assert sys.modules["json"] is json_module
        assert sys.modules["email"] is email_module

    def test_replaced_among_additions_put_back(self) -> None:
        """An entry replaced while others are added is put back, and the alias added goes."""
        json_module = sys.modules["json"]
        before = snapshot()
        sys.modules["guard_alias"] = sys.modules[__name__]
        sys.modules["json"] = types.ModuleType("json")
        assert restore(before, OWNED).undone == (
            "sys.modules['guard_alias'] added",
            "sys.modules['json'] replaced",
        )
        assert sys.modules["json"] is json_module

    def test_entry_moved_under_another_name_put_back(self) -> None:
        """The same module removed under one name and added under another (the entries keep
        their objects, in another order) counts as both."""
        json_module = sys.modules["json"]
        before = snapshot()
        del sys.modules["json"]
        sys.modules["guard_alias"] = json_module
        undone = restore(before, OWNED).undone
        assert "sys.modules['json'] removed" in undone
        assert sys.modules["json"] is json_module

    def test_own_code_under_another_name_removed_genuine_imports_kept(self) -> None:
        """An alias of the plugin's own module is removed; a module that an import made (it
        has a spec) stays, and so does an anonymous one no import could find."""
        before = snapshot()
        sys.modules["guard_fake"] = types.ModuleType("guard_fake")
        sys.modules["guard_alias"] = sys.modules[__name__]
        library = types.ModuleType("guard_library")
        library.__spec__ = importlib.machinery.ModuleSpec("guard_library", None)
        sys.modules["guard_library"] = library
        assert restore(before, OWNED).undone == ("sys.modules['guard_alias'] added",)
        assert sys.modules["guard_library"] is library
        assert "guard_fake" in sys.modules

    def test_own_finder_removed_others_kept(self) -> None:
        """The plugin's own finder is removed; a library's (not its code) stays; one removed
        from sys.meta_path is put back where it was."""
        first = sys.meta_path[0]
        foreign = importlib.machinery.PathFinder
        before = snapshot()
        sys.meta_path.insert(0, Finder())
        sys.meta_path.append(foreign)
        sys.meta_path.remove(first)
        named = first if isinstance(first, type) else type(first)
        assert restore(before, OWNED).undone == (
            f"sys.meta_path entry {__name__}.Finder added",
            f"sys.meta_path entry {named.__module__}.{named.__qualname__} removed",
        )
        assert sys.meta_path[0] is first
        assert sys.meta_path[-1] is foreign

    def test_host_finders_left_alone(self) -> None:
        """Another host's finder, taken out by its stop meanwhile, is not put back."""
        from pluginhost.load.modules import PluginFinder

        other_host = PluginFinder()
        sys.meta_path.append(other_host)
        before = snapshot()
        sys.meta_path.remove(other_host)
        assert restore(before, OWNED).undone == ()
        assert other_host not in sys.meta_path

    def test_sys_path_put_back(self, tmp_path: Path) -> None:
        """sys.path is put back, and the finder cached for the entry added is dropped."""
        before = snapshot()
        sys.path.insert(0, str(tmp_path))
        sys.path_importer_cache[str(tmp_path)] = None
        assert restore(before, OWNED).undone == (f"sys.path entry {str(tmp_path)!r} added",)
        assert str(tmp_path) not in sys.path
        assert str(tmp_path) not in sys.path_importer_cache

    def test_library_vendor_folder_appended_kept(self, tmp_path: Path) -> None:
        """A folder inside another package of the environment, appended, is kept: setuptools
        appends its ``_vendor`` folder when first imported."""
        vendor = tmp_path / "guard_vendoring" / "_vendor"
        vendor.mkdir(parents=True)
        (tmp_path / "guard_vendoring" / "__init__.py").write_text("")
        sys.path.append(str(tmp_path))
        before = snapshot()
        import guard_vendoring  # type: ignore[import-not-found]  # noqa: F401

        sys.path.append(str(vendor))
        assert restore(before, OWNED).undone == ()
        assert sys.path[-1] == str(vendor)

    def test_vendor_folder_of_a_package_not_imported_kept(self, tmp_path: Path) -> None:
        """pkg_resources appends setuptools' ``_vendor`` without importing setuptools: a
        folder inside a package of the environment counts, imported or not (devpi-findlinks,
        the first to import pkg_resources through pyramid, was refused)."""
        vendor = tmp_path / "guard_vendoring" / "_vendor"
        vendor.mkdir(parents=True)
        (tmp_path / "guard_vendoring" / "__init__.py").write_text("")
        sys.path.append(str(tmp_path))
        before = snapshot()
        sys.path.append(str(vendor))
        assert restore(before, OWNED).undone == ()
        assert sys.path[-1] == str(vendor)

    @pytest.mark.parametrize("extends", [True, False], ids=["extended", "another"])
    def test_a_package_imported_again_larger_is_kept(self, tmp_path: Path, extends: bool) -> None:
        """pkg_resources drops ``backports`` from sys.modules and imports it again, with a
        portion more in its ``__path__``: a package replaced by itself made larger is kept;
        replaced by one that drops a folder, it is put back."""
        first = types.ModuleType("guard_pkg")
        first.__path__ = [str(tmp_path / "a")]
        sys.modules["guard_pkg"] = first
        before = snapshot()
        again = types.ModuleType("guard_pkg")
        again.__path__ = (
            [str(tmp_path / "a"), str(tmp_path / "b")] if extends else [str(tmp_path / "b")]
        )
        sys.modules["guard_pkg"] = again
        undone = restore(before, OWNED).undone
        assert undone == (() if extends else ("sys.modules['guard_pkg'] replaced",))
        assert sys.modules["guard_pkg"] is (again if extends else first)

    @pytest.mark.parametrize("where", ["own package", "first", "not imported", "elsewhere"])
    def test_other_folders_added_put_back(self, tmp_path: Path, where: str) -> None:
        """The plugin's own package folder, any folder put first, one inside no imported
        package (a host's home under the application's folder), and one outside the
        environment's folders are put back."""
        environment = tmp_path / "environment"
        (environment / "guard_vendoring").mkdir(parents=True)
        (environment / "guard_vendoring" / "__init__.py").write_text("")
        top = sorted(OWNED)[0]
        folder = {
            "own package": environment / top / "_vendor",
            "first": environment / "guard_vendoring" / "_vendor",
            "not imported": environment / "home" / "site",
            "elsewhere": tmp_path / "elsewhere",
        }[where]
        folder.mkdir(parents=True)
        sys.path.append(str(environment))
        import guard_vendoring  # noqa: F401

        before = snapshot()
        sys.path.insert(0 if where == "first" else len(sys.path), str(folder))
        assert restore(before, OWNED).undone == (f"sys.path entry {str(folder)!r} added",)
        assert str(folder) not in sys.path

    def test_atexit_and_threads_counted(self) -> None:
        """atexit handlers registered and threads still running are reported, not undone."""
        stop = threading.Event()

        def handler() -> None:
            pass

        before = snapshot()
        atexit.register(handler)
        thread = threading.Thread(target=stop.wait, name="guard-worker", daemon=True)
        thread.start()
        try:
            effects = restore(before, OWNED)
        finally:
            atexit.unregister(handler)
            stop.set()
            thread.join()
        assert effects.atexit == 1
        assert effects.threads == (ThreadRef(thread.ident or 0, "guard-worker", True),)


class TestAddedOrTampered:
    """What a first import adds is kept and not blamed; what stands in an import's way is."""

    def test_module_registered_by_a_compiled_extension_kept(self) -> None:
        """A module made by ``PyImport_AddModule``, as Cython's runtime makes
        ``_cython_3_*`` and ``cython_runtime``, has no spec and is not blamed."""
        before = snapshot()
        add_module = ctypes.pythonapi["PyImport_AddModule"]
        add_module.restype = ctypes.c_void_p  # a borrowed reference: not one for ctypes to own
        assert add_module(b"_cython_0_0_guard")
        made = sys.modules["_cython_0_0_guard"]
        assert made.__spec__ is None
        assert restore(before, OWNED).undone == ()
        assert sys.modules["_cython_0_0_guard"] is made

    def test_submodule_registered_by_its_parent_kept(self, tmp_path: Path) -> None:
        """``pyexpat`` registers ``pyexpat.errors`` by hand: a module that is no package, so
        nothing under it can be imported, and its entries stand in nobody's way."""
        (tmp_path / "guard_pkg.py").write_text("import sys, types\n")
        sys.path.insert(0, str(tmp_path))
        before = snapshot()
        import guard_pkg  # type: ignore[import-not-found]

        sys.modules["guard_pkg.errors"] = types.ModuleType("guard_pkg.errors")
        assert restore(before, OWNED).undone == ()
        assert "guard_pkg.errors" in sys.modules
        del guard_pkg

    def test_alias_of_the_main_module_kept(self) -> None:
        """``multiprocessing`` registers ``__main__`` again as ``__mp_main__``; the main module
        of a script has no spec."""
        script = types.ModuleType("__main__")
        sys.modules["guard_main"] = script
        before = snapshot()
        sys.modules["guard_mp_main"] = script
        assert restore(before, OWNED).undone == ()
        assert sys.modules["guard_mp_main"] is script

    def test_fake_in_the_way_of_an_importable_module_removed(self, tmp_path: Path) -> None:
        """An entry under a name an import would find elsewhere (on sys.path here) is put
        there by hand, whatever it is: removed and blamed."""
        (tmp_path / "guard_shadowed.py").write_text("")
        sys.path.insert(0, str(tmp_path))
        before = snapshot()
        sys.modules["guard_shadowed"] = types.ModuleType("guard_shadowed")
        assert restore(before, OWNED).undone == ("sys.modules['guard_shadowed'] added",)
        assert "guard_shadowed" not in sys.modules

    def test_fake_in_the_way_of_another_finder_removed(self, tmp_path: Path) -> None:
        """A name only another finder of sys.meta_path serves (another plugin's, an editable
        install's) counts as importable too; so does a module of the standard library."""
        from pluginhost.load.modules import PluginFinder

        (tmp_path / "guard_other").mkdir()
        (tmp_path / "guard_other" / "__init__.py").write_text("")
        other = PluginFinder()
        other.map(["guard_other"], tmp_path)
        sys.meta_path.append(other)
        assert "tabnanny" not in sys.modules
        before = snapshot()
        sys.modules["guard_other"] = types.ModuleType("guard_other")
        sys.modules["tabnanny"] = types.ModuleType("tabnanny")
        assert restore(before, OWNED).undone == (
            "sys.modules['guard_other'] added",
            "sys.modules['tabnanny'] added",
        )
        assert "tabnanny" not in sys.modules

    def test_second_name_of_the_same_file_kept(self, tmp_path: Path) -> None:
        """A library that registers its module under a second name that an import would load
        from the same file (a vendored package's alias) stands in nobody's way."""
        package = tmp_path / "guard_pkg"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "vendored.py").write_text("")
        sys.path.insert(0, str(tmp_path))
        import guard_pkg  # type: ignore[import-not-found]

        before = snapshot()
        spec = importlib.util.spec_from_file_location("guard_vendored", package / "vendored.py")
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["guard_vendored"] = module
        sys.modules["guard_pkg.vendored"] = module
        assert restore(before, OWNED).undone == ()
        sys.modules["guard_pkg.vendored"] = types.ModuleType("guard_pkg.vendored")
        del guard_pkg

    def test_module_replacing_its_own_entry_kept(self, tmp_path: Path) -> None:
        """A module that puts an instance of its own class in its place,
        ``sys.modules[__name__] = Wrapper(__name__)`` (torch._VF), is what its import made."""
        (tmp_path / "guard_selfmade.py").write_text(SELF_REPLACING)
        sys.path.insert(0, str(tmp_path))
        before = snapshot()
        import guard_selfmade  # type: ignore[import-not-found]

        assert type(guard_selfmade).__name__ == "Wrapper"
        assert restore(before, OWNED).undone == ()
        assert sys.modules["guard_selfmade"] is guard_selfmade
        del guard_selfmade

    def test_object_of_another_file_in_a_modules_place_removed(self, tmp_path: Path) -> None:
        """An instance of a class whose code is elsewhere (this file: a plugin's, say) in the
        way of an importable module is removed, even a module subclass with no spec."""
        (tmp_path / "guard_shadowed.py").write_text("")
        sys.path.insert(0, str(tmp_path))

        class Impostor(types.ModuleType):
            def __getattr__(self, name: str) -> object:
                raise AttributeError(name)

        before = snapshot()
        sys.modules["guard_shadowed"] = Impostor("guard_shadowed")
        assert restore(before, OWNED).undone == ("sys.modules['guard_shadowed'] added",)
        assert "guard_shadowed" not in sys.modules

    @pytest.mark.parametrize("label", ["meta_path", "path_hooks"])
    def test_reordered_entries_put_back(self, label: str) -> None:
        """Moving an entry ahead of another (the environment's finder before the host's) is
        tampering, though nothing was added or removed."""
        entries: list[object] = getattr(sys, label)
        entries[:0] = [Finder(), Finder()]
        first, second = entries[0], entries[1]
        expected = list(entries)
        before = snapshot()
        entries[0], entries[1] = second, first
        assert restore(before, []).undone == (f"sys.{label} reordered",)
        assert entries == expected

    def test_library_finder_keeps_its_place(self) -> None:
        """A library's finder inserted first stays first when an entry the plugin removed is
        put back where it was."""
        library, removed = Finder(), sys.meta_path[1]
        expected = [library, *sys.meta_path]
        before = snapshot()
        sys.meta_path.remove(removed)
        sys.meta_path.insert(0, library)
        undone = restore(before, [])
        assert undone.undone == (f"sys.meta_path entry {_kind(removed)} removed",)
        assert sys.meta_path == expected


def _kind(entry: object) -> str:
    named = entry if isinstance(entry, type) else type(entry)
    return f"{named.__module__}.{named.__qualname__}"


class TestSweep:
    def test_removes_what_is_the_plugins(self) -> None:
        """After an unload, the plugin's module aliases and finders are removed, nothing else."""
        sys.modules["guard_alias"] = sys.modules[__name__]
        sys.modules["guard_fake"] = types.ModuleType("guard_fake")
        finder = Finder()
        sys.meta_path.append(finder)
        assert sweep(OWNED) == [
            "sys.modules['guard_alias']",
            f"sys.meta_path entry {__name__}.Finder",
        ]
        assert "guard_alias" not in sys.modules
        assert "guard_fake" in sys.modules
        assert finder not in sys.meta_path

    def test_entry_whose_attributes_raise(self) -> None:
        """An entry whose attribute lookup raises does not stop the sweep: it is taken when
        its class is the plugin's (read through ``type``'s own descriptor, not asked of the
        object), left alone otherwise."""

        def raising(self: object, name: str) -> object:
            raise RuntimeError(f"no {name} here")

        mine = type("Mine", (), {"__getattribute__": raising, "__module__": __name__})
        other = type("Other", (), {"__getattribute__": raising, "__module__": "elsewhere"})
        sys.modules["guard_raising"] = mine()
        sys.modules["guard_other"] = other()
        sys.modules["guard_alias"] = sys.modules[__name__]
        try:
            assert sorted(sweep(OWNED)) == [
                "sys.modules['guard_alias']",
                "sys.modules['guard_raising']",
            ]
            assert "guard_other" in sys.modules
        finally:
            sys.modules.pop("guard_raising", None)
            sys.modules.pop("guard_other", None)


class TestLingering:
    def test_tracked_and_running_code_found(self, tmp_path: Path) -> None:
        """A thread the plugin started, and one running code from its dir, are reported."""
        stop = threading.Event()
        started = threading.Thread(target=stop.wait, name="started", daemon=True)
        code = compile("stop.wait()", str(tmp_path / "plugin.py"), "exec")
        running = threading.Thread(
            target=exec, args=(code, {"stop": stop}), name="runner", daemon=False
        )
        started.start()
        running.start()
        try:
            ref = ThreadRef(started.ident or 0, "started", True)
            found = lingering([ref], [tmp_path], grace=0.05)
        finally:
            stop.set()
            started.join()
            running.join()
        assert set(found) == {
            "daemon thread 'started' still running",
            "non-daemon thread (it keeps the process from exiting) 'runner' still running "
            f"at {tmp_path / 'plugin.py'}:1",
        }

    def test_threads_ending_within_grace_not_reported(self) -> None:
        """A thread that ends within the grace period is no problem."""
        thread = threading.Thread(target=threading.Event().wait, args=(0.05,), daemon=True)
        thread.start()
        assert lingering([ThreadRef(thread.ident or 0, "t", True)], [], grace=2) == []


class TestHolders:
    def test_module_attributes_holding_plugin_code(self) -> None:
        """Attributes of other modules holding the plugin's functions or objects are named."""
        json_module = sys.modules["json"]
        json_module._guard_stash = Finder  # type: ignore[attr-defined]
        try:
            assert "json._guard_stash" in holders(OWNED)
        finally:
            del json_module._guard_stash  # type: ignore[attr-defined]
        assert "json._guard_stash" not in holders(OWNED)

    def test_a_class_that_raises_when_named_is_named_past_its_metaclass(self) -> None:
        """A plugin's class whose metaclass raises SystemExit when asked its ``__module__``,
        held by another module: it is found (read through ``type``'s own descriptor); asked,
        its SystemExit ended the leak report, and with it the change that made it."""

        class Meta(type):
            def __getattribute__(cls, name: str) -> object:
                if name in ("__module__", "__class__"):
                    raise SystemExit(f"no {name}")
                return super().__getattribute__(name)

        hostile = Meta("Hostile", (), {"__module__": next(iter(OWNED)) + ".inner"})
        json_module = sys.modules["json"]
        json_module._guard_hostile = hostile  # type: ignore[attr-defined]
        json_module._guard_hostile_object = hostile()  # type: ignore[attr-defined]
        try:
            found = holders(OWNED)
        finally:
            del json_module._guard_hostile  # type: ignore[attr-defined]
            del json_module._guard_hostile_object  # type: ignore[attr-defined]
        assert "json._guard_hostile" in found
        assert "json._guard_hostile_object" in found


# A module replacing its own entry in sys.modules with an instance of a class it defines, as
# torch._VF and sh do.
SELF_REPLACING = """
import sys, types


class Wrapper(types.ModuleType):
    def __getattr__(self, name):
        raise AttributeError(name)


sys.modules[__name__] = Wrapper(__name__)
"""

# Libraries of the host's environment (their files) that a plugin's import imports first.
ENVIRONMENT_LIBRARIES = {
    "selfmade-user": ({"selfmade_lib.py": SELF_REPLACING}, "import selfmade_lib"),
    "vendoring-user": (
        {
            "vendoring_lib/__init__.py": (
                "import os, sys\n"
                "sys.path.append(os.path.join(os.path.dirname(__file__), '_vendor'))\n"
            ),
            "vendoring_lib/_vendor/README": "",
        },
        "import vendoring_lib",
    ),
}

# Plugins whose import is the process's first import of a library that registers modules by
# hand: the standard library's expat (``pyexpat.errors``), multiprocessing (``__mp_main__``),
# and a compiled extension made by Cython (``_cython_3_*``, ``cython_runtime``, registered with
# ``PyImport_AddModule`` as here).
FIRST_IMPORTS = {
    "expat-user": "import xml.parsers.expat",
    "expat-user-too": "import xml.parsers.expat",
    "mp-user": "import multiprocessing",
    "cython-like": (
        "import ctypes\n"
        "add_module = ctypes.pythonapi['PyImport_AddModule']\n"
        "add_module.restype = ctypes.c_void_p\n"
        "add_module(b'_cython_0_0_guard')\n"
        "add_module(b'cython_runtime')"
    ),
}
FIRST_IMPORT_PLUGIN = """
{imports}
import pluggy

hookimpl = pluggy.HookimplMarker("greeter")


@hookimpl
def greet(name):
    return {name!r}
"""
CRASH_HOST = Path(__file__).with_name("crash_host.py")


def run_host(home: Path, folder: Path, *libraries: Path) -> dict[str, object]:
    """Start a greeter host in a fresh interpreter on ``folder``; its report.

    :param libraries: folders of the host's environment (``PYTHONPATH``), after the project.
    """
    path = [str(Path(__file__).resolve().parents[1]), *map(str, libraries)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("PLUGINHOST_CRASH_AT", None)
    proc = subprocess.run(
        [sys.executable, str(CRASH_HOST), "--home", str(home), "--watch", str(folder), "--report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    [report] = [line for line in lines if line["event"] == "report"]
    return report


@pytest.mark.slow
class TestFirstImports:
    """Whichever plugin imports such a library first is not refused for what it registers."""

    @pytest.mark.parametrize("names", [sorted(FIRST_IMPORTS), *([n] for n in FIRST_IMPORTS)])
    def test_plugins_load(self, tmp_path: Path, names: list[str]) -> None:
        """Together (imported ahead, one after another) or alone, every plugin loads."""
        factory = WheelFactory(tmp_path / "wheels")
        for name in names:
            factory.build(
                name, code=FIRST_IMPORT_PLUGIN.format(imports=FIRST_IMPORTS[name], name=name)
            )
        report = run_host(tmp_path / "home", factory.directory)
        assert report["problems"] == []
        assert sorted(report["load_order"]) == names  # type: ignore[call-overload]
        assert sorted(report["greet"]) == names  # type: ignore[call-overload]

    @pytest.mark.parametrize("name", sorted(ENVIRONMENT_LIBRARIES))
    def test_library_of_the_environment(self, tmp_path: Path, name: str) -> None:
        """A plugin whose import first imports a library of the environment that replaces its
        own ``sys.modules`` entry (torch, for llm-embed-jina) or appends its vendor folder to
        ``sys.path`` (setuptools 71 and later, which pytest-freezegun's ``import distutils``
        imports) loads."""
        environment = tmp_path / "environment"
        files, imports = ENVIRONMENT_LIBRARIES[name]
        for relative, text in files.items():
            (environment / relative).parent.mkdir(parents=True, exist_ok=True)
            (environment / relative).write_text(text)
        factory = WheelFactory(tmp_path / "wheels")
        factory.build(name, code=FIRST_IMPORT_PLUGIN.format(imports=imports, name=name))
        report = run_host(tmp_path / "home", factory.directory, environment)
        assert report["problems"] == []
        assert report["greet"] == [name]

    @pytest.mark.parametrize("variable", ["PLUGINHOST_PYYAML_WHEEL", "PLUGINHOST_LXML_WHEEL"])
    def test_real_cython_extension_as_support_wheel(self, tmp_path: Path, variable: str) -> None:
        """A plugin whose support wheel is a real compiled Cython extension (PyYAML's
        ``_yaml``, lxml's ``etree``: ``pip download pyyaml lxml``) loads."""
        given = os.environ.get(variable)
        if not given:
            pytest.skip(f"set {variable} to a wheel downloaded for this interpreter")
        wheel = Path(given)
        factory = WheelFactory(tmp_path / "wheels")
        factory.directory.mkdir()
        shutil.copy(wheel, factory.directory / wheel.name)
        library = "yaml" if "YAML" in variable else "lxml.etree"
        code = FIRST_IMPORT_PLUGIN.format(imports=f"import {library}", name=library)
        factory.build("compiled-user", code=code, requires_dist=[wheel.name.split("-")[0]])
        report = run_host(tmp_path / "home", factory.directory)
        assert report["problems"] == []
        assert report["greet"] == [library]
