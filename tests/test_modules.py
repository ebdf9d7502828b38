"""Activation primitives: the finder, importing entry points, purging."""

from __future__ import annotations

import gc
import sys
import types
import weakref
from pathlib import Path
from typing import Any

import pluggy
import pytest

from hookspecs.lifecycle import lifecycle_specs
from pluginhost import ActivationError
from pluginhost.load.modules import (
    PluginFinder,
    import_entry_point,
    owned_modules,
    purge_modules,
)

hookspec = pluggy.HookspecMarker("acttest")
hookimpl = pluggy.HookimplMarker("acttest")


class Spec:
    @hookspec
    def ping(self, x: int) -> int:  # type: ignore[empty-body]
        ...

    @hookspec
    def pong(self, y: int) -> int:  # type: ignore[empty-body]
        ...


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("acttest")
    manager.add_hookspecs(Spec)
    manager.add_hookspecs(lifecycle_specs("acttest"))
    return manager


def write_module(root: Path, name: str, body: str) -> None:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)


class TestPluginFinder:
    def test_maps_top_level_to_site_dir(self, finder: PluginFinder, tmp_path: Path) -> None:
        """A mapped name imports from its root, submodules included, without sys.path."""
        write_module(tmp_path / "site", "mapped_pkg", "VALUE = 1\n")
        (tmp_path / "site" / "mapped_pkg" / "sub.py").write_text("OTHER = 2\n")
        finder.map(["mapped_pkg"], tmp_path / "site")
        from mapped_pkg import sub  # type: ignore[import-not-found]

        assert sub.OTHER == 2
        ref = weakref.ref(sub)
        # The test's own name still holds the submodule: past a collection, exactly that one.
        released = purge_modules(["mapped_pkg"], [tmp_path / "site"])
        gc.collect()
        assert released.alive() == ["mapped_pkg.sub"]
        assert str(tmp_path / "site") not in sys.path_importer_cache
        del sub
        gc.collect()
        assert ref() is None
        finder.unmap(["mapped_pkg"])
        with pytest.raises(ModuleNotFoundError):
            import mapped_pkg  # type: ignore[import-not-found]  # noqa: F401

    def test_portions_extend_a_namespace_package_of_the_environment(
        self, finder: PluginFinder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Portions added to an environment's namespace package serve the modules inside it,
        nested namespaces too (``google.cloud``), beside the environment's; the package itself
        stays the environment's; unmapping one portion leaves the other."""
        env = tmp_path / "env"
        (env / "nsext" / "deep").mkdir(parents=True)
        (env / "nsext" / "deep" / "envmod.py").write_text("WHERE = 'env'\n")
        (env / "nsext" / "envtop.py").write_text("WHERE = 'env'\n")
        one, two = tmp_path / "one", tmp_path / "two"
        (one / "nsext" / "deep").mkdir(parents=True)
        (one / "nsext" / "deep" / "onemod.py").write_text("WHERE = 'one'\n")
        (two / "nsext").mkdir(parents=True)
        (two / "nsext" / "twomod.py").write_text("WHERE = 'two'\n")
        monkeypatch.syspath_prepend(str(env))
        try:
            finder.extend(["nsext"], one)
            finder.extend(["nsext"], two)
            assert finder.find_spec("nsext") is None  # the environment's own
            from nsext import envtop, twomod  # type: ignore[import-not-found]
            from nsext.deep import envmod, onemod  # type: ignore[import-not-found]

            assert (envtop.WHERE, twomod.WHERE, envmod.WHERE, onemod.WHERE) == (
                "env",
                "two",
                "env",
                "one",
            )
            assert list(sys.modules["nsext"].__path__) == [str(env / "nsext")]
            finder.unmap(["nsext"], two)
            assert finder.find_spec("nsext.onemod_absent") is None
            spec = finder.find_spec("nsext.deep.onemod", sys.modules["nsext.deep"].__path__)
            assert spec is not None
            assert spec.origin == str(one / "nsext" / "deep" / "onemod.py")
            assert finder.find_spec("nsext.twomod", sys.modules["nsext"].__path__) is None
        finally:
            for name in [n for n in sys.modules if n.partition(".")[0] == "nsext"]:
                del sys.modules[name]

    def test_unmapped_names_ignored(self, finder: PluginFinder) -> None:
        """The finder answers None for names it does not map."""
        assert finder.find_spec("json") is None


class TestImportEntryPoint:
    def test_attribute_path(self, finder: PluginFinder, tmp_path: Path) -> None:
        """``module:attr.attr`` resolves attributes after the import."""
        write_module(tmp_path, "ep_attr", "class A:\n    class B:\n        pass\n")
        finder.map(["ep_attr"], tmp_path)
        obj = import_entry_point("ep_attr:A.B", plugin="p", top_level=["ep_attr"])
        assert getattr(obj, "__qualname__", None) == "A.B"
        purge_modules(["ep_attr"])

    def test_failure_purges_fresh_modules(self, finder: PluginFinder, tmp_path: Path) -> None:
        """A failed import leaves none of the modules it imported in sys.modules."""
        write_module(tmp_path, "ep_helper", "X = 1\n")
        write_module(tmp_path, "ep_fail", "import ep_helper\nraise RuntimeError('no')\n")
        finder.map(["ep_fail", "ep_helper"], tmp_path)
        with pytest.raises(ActivationError, match="RuntimeError: no") as info:
            import_entry_point("ep_fail", plugin="p", top_level=["ep_fail", "ep_helper"])
        assert info.value.step == "import"
        assert "ep_fail" not in sys.modules
        assert "ep_helper" not in sys.modules

    def test_failure_purges_only_what_root_loaded(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        """With ``root``, a failed import leaves modules loaded from elsewhere under the same
        names (a serving version's, put back while a hung import went on)."""
        body = (
            "import sys, types\n"
            "kept = types.ModuleType('ep_late.kept')\n"
            "kept.__file__ = '/elsewhere/ep_late/kept.py'\n"
            "sys.modules['ep_late.kept'] = kept\n"
            "raise RuntimeError('late')\n"
        )
        write_module(tmp_path, "ep_late", body)
        finder.map(["ep_late"], tmp_path)
        with pytest.raises(ActivationError, match="late"):
            import_entry_point("ep_late", plugin="p", top_level=["ep_late"], root=tmp_path)
        assert "ep_late" not in sys.modules
        assert sys.modules.pop("ep_late.kept").__file__ == "/elsewhere/ep_late/kept.py"

    def test_sys_exit_contained(self, finder: PluginFinder, tmp_path: Path) -> None:
        """A plugin calling sys.exit() at import is an ActivationError, not an exit."""
        write_module(tmp_path, "ep_exit", "import sys\nsys.exit(3)\n")
        finder.map(["ep_exit"], tmp_path)
        with pytest.raises(ActivationError, match="SystemExit"):
            import_entry_point("ep_exit", plugin="p", top_level=["ep_exit"])


class TestRelease:
    def test_namespace_kept_by_a_function_reported(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        """A function kept elsewhere keeps its module's namespace, not the module object: the
        module is still reported as referenced."""
        write_module(tmp_path, "kept_fn", "def helper():\n    return 1\n")
        finder.map(["kept_fn"], tmp_path)
        import_entry_point("kept_fn", plugin="p", top_level=["kept_fn"])
        helper = sys.modules["kept_fn"].helper
        released = purge_modules(["kept_fn"], [tmp_path])
        gc.collect()
        assert released.alive() == ["kept_fn"]
        assert helper() == 1
        del helper
        finder.unmap(["kept_fn"])

    def test_nothing_kept_nothing_reported(self, finder: PluginFinder, tmp_path: Path) -> None:
        """A module nothing holds any more is freed at its release, by reference counting: its
        function and namespace form a cycle that the release breaks, and no collection runs."""
        write_module(tmp_path, "free_fn", "def helper():\n    return 1\n")
        finder.map(["free_fn"], tmp_path)
        import_entry_point("free_fn", plugin="p", top_level=["free_fn"])
        begun: list[int] = []

        def seen(phase: str, info: dict[str, Any]) -> None:
            begun.append(info["generation"])

        gc.disable()
        gc.callbacks.append(seen)
        try:
            released = purge_modules(["free_fn"], [tmp_path])
            assert released.alive() == []
            assert begun == []
        finally:
            gc.callbacks.remove(seen)
            gc.enable()
        finder.unmap(["free_fn"])


class TestOwnedModules:
    def test_the_names_then_their_submodules_and_nothing_else(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plugin owns its top-level names and what is under them, not a module whose name
        only begins the same (``pkg2``, ``pkg_extra``) nor one it merely contains."""
        for name in (
            "pkg.sub",
            "pkg2",
            "pkg",
            "pkg_extra.pkg",
            "pkg.sub.deeper",
            "mod",
            "other.pkg",
        ):
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        assert list(owned_modules(["pkg", "mod", "pkg", "absent"])) == [
            "pkg",
            "mod",
            "pkg.sub",
            "pkg.sub.deeper",
        ]
        assert list(owned_modules([])) == []
