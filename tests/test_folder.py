"""The wheel-folder source: a folder's wheels read as candidates, without importing plugin code."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

import pluginhost.discover.archive
import pluginhost.discover.candidates
from pluginhost import (
    ManifestError,
    ProblemKind,
    WheelFolderSource,
    WheelLimits,
    WheelOrigin,
)
from pluginhost.discover.candidates import (
    candidate_from_wheel,
    inspect_plugin_wheel,
    unit_entry_points,
)
from pluginhost.discover.wheel import Inspection
from pluginhost.model.candidate import EntryPoint
from pluginhost.state.regular import open_regular
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"


def drop_entry_points(site: Path, distribution: str) -> None:
    """Empty an installed distribution's entry_points.txt in place (the site dir's mtime stays)."""
    before = site.stat().st_mtime_ns
    (entry_points,) = site.glob(f"{distribution}-*.dist-info/entry_points.txt")
    entry_points.write_text("")
    assert site.stat().st_mtime_ns == before


def nest_long_names(root: Path, levels: int) -> str:
    """Nest ``levels`` folders of 200-character names in ``root`` (through descriptors: past
    about 20 levels the path is longer than the system takes); the deepest one's path."""
    name = "n" * 200
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            fd, parent = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(parent)
    finally:
        os.close(fd)
    return str(root.joinpath(*[name] * levels))


class TestWheelFolderSource:
    def test_reads_plugins_and_support(self, factory: WheelFactory, wheels: Path) -> None:
        """Plugins become candidates; wheels without an entry point in the group are support."""
        factory.build("hello", "1.2.0", code=greet_code("hi"), requires={"base": "^1"})
        factory.build("helperlib", group="other.group")
        scan = WheelFolderSource(wheels).scan(GROUP)
        assert [(c.name, str(c.version)) for c in scan.candidates] == [("hello", "1.2.0")]
        assert [str(k) for k in scan.candidates[0].manifest.requires] == ["base"]
        assert [s.distribution for s in scan.support] == ["helperlib"]
        assert "hello" not in sys.modules

    def test_include_exclude_depth(self, tmp_path: Path) -> None:
        """Include and exclude patterns, max depth and dotfiles decide which files are read."""
        root = tmp_path / "root"
        WheelFactory(root).build("top")
        WheelFactory(root / "a").build("one_down")
        WheelFactory(root / "a" / "b").build("two_down")
        WheelFactory(root).build("skipped_one")

        def names(**kw: object) -> list[str]:
            source = WheelFolderSource(root, **kw)  # type: ignore[arg-type]
            return [p.name.split("-")[0] for p in source.wheel_paths()]

        assert names() == ["skipped_one", "top"]
        assert names(max_depth=1) == ["one_down", "skipped_one", "top"]
        assert names(max_depth=2, exclude=("skipped*",)) == ["two_down", "one_down", "top"]
        assert names(include=("top-*",)) == ["top"]

    def test_sorted_as_paths_not_as_text(self, tmp_path: Path) -> None:
        """``a/b...`` comes before ``a-1...`` as paths sort (by parts), though ``/`` sorts
        after ``-`` as text."""
        root = tmp_path / "root"
        top = WheelFactory(root).build("a")
        below = WheelFactory(root / "a").build("b")
        assert str(top) < str(below)
        listed = WheelFolderSource(root, max_depth=1).wheel_paths()
        assert listed == sorted([top, below]) == [below, top]
        assert all(type(p) is type(top) for p in listed)

    def test_symlinks_not_followed_by_default(self, factory: WheelFactory, tmp_path: Path) -> None:
        """A symlinked wheel is ignored unless follow_symlinks is set."""
        real = factory.build("hello")
        linked = tmp_path / "linked"
        linked.mkdir()
        os.symlink(real, linked / real.name)
        assert WheelFolderSource(linked).wheel_paths() == []
        assert WheelFolderSource(linked, follow_symlinks=True).wheel_paths() == [linked / real.name]

    def test_links_back_up_walked_once(self, factory: WheelFactory, wheels: Path) -> None:
        """Links back to the folder, followed, list each wheel once: two of them listed it
        under 2**depth paths (30 s for a start at max_depth=12)."""
        real = factory.build("hello")
        os.symlink(".", wheels / "a")
        os.symlink(".", wheels / "b")
        os.symlink(wheels, wheels / "c")
        started = time.monotonic()
        listed = WheelFolderSource(wheels, follow_symlinks=True, max_depth=12).wheel_paths()
        assert listed == [real]
        assert time.monotonic() - started < 5

    def test_one_folder_linked_twice_walked_once(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        root = tmp_path / "root"
        inner = WheelFactory(root / "inner").build("hello")
        os.symlink(root / "inner", root / "again")
        listed = WheelFolderSource(root, follow_symlinks=True, max_depth=2).wheel_paths()
        assert [p.name for p in listed] == [inner.name]

    def test_deep_chain_of_subfolders_walked(self, factory: WheelFactory, wheels: Path) -> None:
        """A chain of 1,100 nested subfolders is walked to its end: a generator per level
        raised RecursionError (attack probe 03)."""
        top = factory.build("hello")
        chain = [str(wheels / "d")]
        for _ in range(1099):  # one by one: mkdir(parents=True) recurses as deep
            chain.append(chain[-1] + "/d")
        for folder in chain:
            os.mkdir(folder)
        try:
            bottom = WheelFactory(Path(chain[-1])).build("bottom")
            listed = WheelFolderSource(wheels, max_depth=2000).wheel_paths()
            assert sorted(listed) == sorted([top, bottom])
        finally:
            # Taken down here: pytest's removal of old temporary folders recurses as deep.
            for folder in reversed(chain):
                for entry in os.scandir(folder):
                    if not entry.is_dir():
                        os.unlink(entry.path)
                os.rmdir(folder)

    def test_subfolder_too_long_to_list_is_a_problem(
        self, factory: WheelFactory, wheels: Path
    ) -> None:
        """A subfolder whose path is longer than the system lists is a folder problem naming
        it; the folder's other wheels are read all the same."""
        factory.build("good", code=greet_code("hi"))
        deepest = nest_long_names(wheels, 30)
        scan = WheelFolderSource(wheels, max_depth=100).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["good"]
        (problem,) = scan.problems
        assert problem.kind is ProblemKind.FOLDER_UNAVAILABLE
        assert problem.path is not None
        assert deepest.startswith(problem.path)
        assert "cannot be listed: File name too long" in problem.message

    def test_host_serves_beside_a_subfolder_too_long_to_list(
        self, factory: WheelFactory, wheels: Path, make_host: Any
    ) -> None:
        """A host starts with such a subfolder in its folder: the other plugins serve, and
        the subfolder is a folder_unavailable problem."""
        factory.build("hello", code=greet_code("hi"))
        nest_long_names(wheels, 30)
        host = make_host(max_depth=100)
        assert host.hook.greet(name="x") == ["hi"]
        kinds = [p.kind for p in host.problems()]
        assert kinds == [ProblemKind.FOLDER_UNAVAILABLE]

    def test_bad_wheel_is_a_problem(self, factory: WheelFactory, wheels: Path) -> None:
        """A broken wheel is a wheel_invalid problem naming the file; others are still read."""
        bad = factory.build("evil", broken="dotdot-path")
        factory.build("good")
        scan = WheelFolderSource(wheels).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["good"]
        (problem,) = scan.problems
        assert problem.kind is ProblemKind.WHEEL_INVALID
        assert problem.path == str(bad)
        assert str(bad) in problem.message

    def test_two_entry_points_are_one_plugin(self, factory: WheelFactory) -> None:
        """A distribution declaring two entry points in the group is one plugin with both, in
        the order declared, named by its manifest."""
        wheel = factory.build("multi", more_entry_points={"multi.other": "multi.other:PLUGIN"})
        found = candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
        assert found is not None
        assert found.name == "multi"
        assert found.entry_points == (
            EntryPoint("multi", "multi"),
            EntryPoint("multi.other", "multi.other:PLUGIN"),
        )

    def test_several_entry_points_without_manifest_named_by_distribution(
        self, factory: WheelFactory
    ) -> None:
        """With no plugin.toml, a plugin of several entry points is named after its
        distribution, and shown as such."""
        wheel = factory.build(
            "xd", distribution="Pytest_XD", no_manifest=True, more_entry_points={"xd.loop": "xd"}
        )
        found = candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
        assert found is not None
        assert (found.name, found.display) == ("pytest-xd", "Pytest_XD")

    def test_entry_point_of_a_unit_naming_another_module_refused(
        self, factory: WheelFactory
    ) -> None:
        """Each entry point of a unit must name the wheel's own modules."""
        wheel = factory.build("multi", more_entry_points={"evil": "json"})
        with pytest.raises(ManifestError, match="names module 'json'") as err:
            candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
        assert err.value.key == "entry_points"

    def test_entry_points_with_two_manifests_refused(self, factory: WheelFactory) -> None:
        """Entry points beside two different plugin.toml files are refused: one distribution,
        one manifest."""
        wheel = factory.build(
            "multi",
            more_entry_points={"second": "second"},
            files={"second/__init__.py": "", "second/plugin.toml": "[plugin]\n"},
        )
        with pytest.raises(ManifestError, match="2 manifests"):
            candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)

    def test_entry_point_name_declared_twice_refused(self) -> None:
        """One name declared twice in a group is refused: both would be registered under it."""
        with pytest.raises(ManifestError, match="declares entry point 'a' twice"):
            unit_entry_points([("a", "x"), ("a", "y")], "dist", "dist.whl")

    def test_wheel_opened_once(
        self, factory: WheelFactory, wheels: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plugin wheel and its manifest are read with one opening of the file."""
        wheel = factory.build("hello", code=greet_code("hi"), requires={"base": "^1"})
        opened: list[str] = []

        def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            opened.append(str(file))
            return open_regular(file, *args, **kwargs)

        monkeypatch.setattr(pluginhost.discover.archive, "open_regular", counting_open)
        (candidate,) = WheelFolderSource(wheels).scan(GROUP).candidates
        assert [str(k) for k in candidate.manifest.requires] == ["base"]
        assert opened == [str(wheel)]

    def test_manifest_from_the_validated_bytes(
        self, factory: WheelFactory, wheels: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wheel replaced right after it was validated does not lend it its manifest."""
        wheel = factory.build("hello", code=greet_code("hi"), requires={"base": "^1"})
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        real_inspect = pluginhost.discover.candidates.inspect_members

        def inspect_then_replace(*args: Any, **kwargs: Any) -> Inspection:
            inspection = real_inspect(*args, **kwargs)
            factory.build("hello", code=greet_code("hi"), requires={"other": "^2"})
            return inspection

        monkeypatch.setattr(pluginhost.discover.candidates, "inspect_members", inspect_then_replace)
        (candidate,) = WheelFolderSource(wheels).scan(GROUP).candidates
        assert [str(k) for k in candidate.manifest.requires] == ["base"]
        assert candidate.origin == WheelOrigin(wheel, sha256)

    def test_oversized_manifest(self, factory: WheelFactory, wheels: Path) -> None:
        """A manifest over ``max_manifest_size`` is a manifest problem naming the member."""
        wheel = factory.build("hello", manifest="# padding\n" * 20)
        limits = WheelLimits(max_manifest_size=100)
        (problem,) = WheelFolderSource(wheels, limits=limits).scan(GROUP).problems
        assert problem.kind is ProblemKind.MANIFEST_INVALID
        assert problem.path == f"{wheel}!hello/plugin.toml"
        assert problem.message == (
            f"{wheel}!hello/plugin.toml: plugin 'hello': "
            "member 'hello/plugin.toml' is 200 bytes uncompressed, over the limit of 100"
        )


class TestSourceDistributions:
    def test_sdist_reported_unread(self, tmp_path: Path) -> None:
        """An sdist in a folder is a problem naming it and saying to build a wheel."""
        for name in ("hello-1.0.0.tar.gz", "legacy-0.1.zip"):
            (tmp_path / name).write_bytes(b"not even an archive")
        scan = WheelFolderSource(tmp_path).scan(GROUP)
        assert not scan.candidates
        assert not scan.support
        assert [p.kind for p in scan.problems] == [ProblemKind.SOURCE_DISTRIBUTION] * 2
        for problem in scan.problems:
            assert problem.plugin is None
            assert "source distributions are not built; build a wheel" in problem.message
            assert problem.path is not None
            assert problem.path in problem.message

    def test_sdist_excluded_is_not_reported(self, tmp_path: Path) -> None:
        """An sdist matched by an exclude pattern is not looked at."""
        (tmp_path / "hello-1.0.0.tar.gz").write_bytes(b"")
        assert WheelFolderSource(tmp_path, exclude=("*.tar.gz",)).scan(GROUP).problems == ()

    def test_fifo_named_like_an_sdist_is_never_opened(self, tmp_path: Path) -> None:
        """A FIFO named *.tar.gz is named as a FIFO, without an open that would block."""
        os.mkfifo(tmp_path / "hello-1.0.0.tar.gz", 0o600)
        (problem,) = WheelFolderSource(tmp_path).scan(GROUP).problems
        assert problem.kind is ProblemKind.SOURCE_DISTRIBUTION
        assert "is a FIFO named like a source distribution" in problem.message

    def test_host_reports_sdist_with_an_event(
        self, wheels: Path, make_host: Any, events: list[Any]
    ) -> None:
        """A host tells an sdist in its folder: a problem and a refused event, no failed plugin;
        a FIFO of that name does not block its start."""
        (wheels / "hello-1.0.0.tar.gz").write_bytes(b"")
        os.mkfifo(wheels / "other-2.0.tar.gz", 0o600)
        host = make_host()
        kinds = [p.kind for p in host.problems()]
        assert kinds.count(ProblemKind.SOURCE_DISTRIBUTION) == 2
        refused = [e for e in events if str(e.kind) == "refused"]
        assert len(refused) == 2
        assert all("tar.gz" in (e.error or "") for e in refused)
        assert dict(host.plugins) == {}
