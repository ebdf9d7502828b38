"""The guards around plugin code: snapshots put back, threads and holders found."""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginhost.load.guard import (
    ThreadRef,
    describe_exception,
    holders,
    lingering,
    restore,
    snapshot,
    sweep,
)

# Stands for a plugin's top-level name: objects defined in this test module count as its own.
OWNED = [__name__.partition(".")[0]]


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        return None


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Each test leaves the import machinery as it found it, whatever it asserted."""
    json_module = sys.modules["json"]
    meta_path, path = list(sys.meta_path), list(sys.path)
    yield
    sys.modules["json"] = json_module
    for name in ("guard_fake", "guard_alias", "guard_library"):
        sys.modules.pop(name, None)
    sys.meta_path[:] = meta_path
    sys.path[:] = path


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
        """An entry replaced while others are added is put back, and the fake addition goes."""
        json_module = sys.modules["json"]
        before = snapshot()
        sys.modules["guard_fake"] = types.ModuleType("guard_fake")
        sys.modules["json"] = types.ModuleType("json")
        assert restore(before, OWNED).undone == (
            "sys.modules['guard_fake'] added",
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

    def test_hand_made_entries_removed_genuine_imports_kept(self) -> None:
        """A module without a spec, or an alias of the plugin's own, is removed; a module that
        an import made (it has a spec) stays."""
        before = snapshot()
        sys.modules["guard_fake"] = types.ModuleType("guard_fake")
        sys.modules["guard_alias"] = sys.modules[__name__]
        library = types.ModuleType("guard_library")
        library.__spec__ = importlib.machinery.ModuleSpec("guard_library", None)
        sys.modules["guard_library"] = library
        assert restore(before, OWNED).undone == (
            "sys.modules['guard_alias'] added",
            "sys.modules['guard_fake'] added",
        )
        assert sys.modules["guard_library"] is library

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


class TestDescribeException:
    def test_plain(self) -> None:
        """Type and text; the type alone when there is no text."""
        assert describe_exception(ValueError("bad")) == "ValueError: bad"
        assert describe_exception(KeyboardInterrupt()) == "KeyboardInterrupt"

    def test_str_raises(self) -> None:
        """An exception whose str() raises is still described."""

        class UnprintableError(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no")

        assert describe_exception(UnprintableError()) == (
            "UnprintableError: <str() of the exception raised RuntimeError>"
        )
