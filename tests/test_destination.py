"""The destination installer writes through: private modes, new files only, few system calls."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginhost.install.destination import private_destination
from pluginhost.install.installer import install_wheel
from pluginhost.install.site_record import site_fault
from pluginhost.testing import WheelFactory


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets group and others read, as on most machines."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


class TestPrivateDestination:
    @pytest.mark.usefixtures("open_umask")
    def test_installed_tree_is_private_and_matches_record(
        self, tmp_path: Path, wheel_factory: WheelFactory
    ) -> None:
        """Every file and directory of a site dir is private whatever the umask, a script is
        executable by its owner only, and the RECORD written hashes what is on disk."""
        wheel = wheel_factory.build(
            "hello",
            code="X = 1\n",
            files={
                "hello/sub/deep/mod.py": "Y = 2\n",
                "hello-1.0.0.data/scripts/hello-tool": "#!python\nprint('hi')\n",
                "hello-1.0.0.data/data/share/hello.txt": "data\n",
            },
        )
        site = install_wheel(
            wheel,
            site_root=tmp_path / "site",
            staging_root=tmp_path / "staging",
            name="hello",
            version="1.0.0",
        ).path
        modes = {
            p.relative_to(site).as_posix(): stat.S_IMODE(p.lstat().st_mode)
            for p in [site, *site.rglob("*")]
        }
        assert {path: mode for path, mode in modes.items() if mode & 0o077} == {}
        assert modes["hello/sub/deep/mod.py"] == 0o600
        assert modes["bin/hello-tool"] == 0o700  # where pip install --target puts scripts
        assert modes["hello/sub/deep"] == 0o700
        assert site_fault(site, "hash") is None

    @pytest.mark.usefixtures("open_umask")
    def test_executable_member_is_the_owners_alone(self, tmp_path: Path) -> None:
        """A member installer marks executable is ``0700``, its new directories ``0700``."""
        destination = private_destination({"scripts": str(tmp_path / "bin")}, "python3")
        stream = io.BytesIO(b"#!/bin/sh\n")
        destination.write_to_fs("scripts", "a/tool", stream, True)  # type: ignore[arg-type]
        assert stat.S_IMODE((tmp_path / "bin" / "a" / "tool").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "bin" / "a").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "bin").stat().st_mode) == 0o700

    def test_existing_file_is_never_overwritten(self, tmp_path: Path) -> None:
        """A member that would replace a file (two wheels of one site dir shipping it) fails
        as installer's own destination does, and the file keeps its contents."""
        destination = private_destination({"purelib": str(tmp_path)}, "python3")
        (tmp_path / "common.py").write_text("first\n")
        with pytest.raises(FileExistsError, match="already exists"):
            destination.write_to_fs("purelib", "common.py", io.BytesIO(b"second\n"), False)  # type: ignore[arg-type]
        assert (tmp_path / "common.py").read_text() == "first\n"

    def test_symbolic_link_is_not_followed(self, tmp_path: Path) -> None:
        """A link where a member goes is refused, and what it points to is left alone."""
        destination = private_destination({"purelib": str(tmp_path / "site")}, "python3")
        (tmp_path / "site").mkdir()
        (tmp_path / "victim").write_text("keep\n")
        (tmp_path / "site" / "mod.py").symlink_to(tmp_path / "victim")
        with pytest.raises(FileExistsError):
            destination.write_to_fs("purelib", "mod.py", io.BytesIO(b"evil\n"), False)  # type: ignore[arg-type]
        assert (tmp_path / "victim").read_text() == "keep\n"

    def test_path_leaving_its_scheme_is_refused(self, tmp_path: Path) -> None:
        """A member path that climbs out of its scheme's dir is refused before anything is
        written."""
        destination = private_destination({"purelib": str(tmp_path / "site")}, "python3")
        with pytest.raises(ValueError, match="outside of the target directory"):
            destination.write_to_fs("purelib", "../escape.py", io.BytesIO(b"x"), False)  # type: ignore[arg-type]
        assert not (tmp_path / "escape.py").exists()
        assert not (tmp_path / "site").exists()

    @pytest.mark.parametrize("path", ["../site2/escape.py", "/abs/escape.py", "a/../../x.py"])
    def test_path_into_a_sibling_or_elsewhere_is_refused(self, tmp_path: Path, path: str) -> None:
        """A path that lands in a sibling whose name starts like the scheme's dir (``site2``
        beside ``site``), an absolute path, or one that climbs out halfway is refused."""
        destination = private_destination({"purelib": str(tmp_path / "site")}, "python3")
        with pytest.raises(ValueError, match="outside of the target directory"):
            destination.write_to_fs("purelib", path, io.BytesIO(b"x"), False)  # type: ignore[arg-type]
        assert sorted(p.name for p in tmp_path.iterdir()) == []

    def test_member_in_new_folders_is_written_private(self, tmp_path: Path) -> None:
        """A member deep in folders not made yet gets them, each private."""
        destination = private_destination({"purelib": str(tmp_path / "site")}, "python3")
        destination.write_to_fs("purelib", "pkg/sub/mod.py", io.BytesIO(b"x = 1\n"), False)  # type: ignore[arg-type]
        written = tmp_path / "site" / "pkg" / "sub" / "mod.py"
        assert written.read_bytes() == b"x = 1\n"
        for folder in (tmp_path / "site", written.parent.parent, written.parent):
            assert folder.stat().st_mode & 0o777 == 0o700
