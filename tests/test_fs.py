"""The file operations every write goes through, and the words their failures are told in."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginhost.state import fs as _fs
from pluginhost.state.regular import NotRegularFileError


class TestDescribe:
    @pytest.mark.parametrize(
        ("code", "text"),
        [
            (errno.ENOSPC, "disk full (ENOSPC)"),
            (errno.EDQUOT, "disk quota exceeded (EDQUOT)"),
            (errno.EROFS, "read-only file system (EROFS)"),
            (errno.EACCES, "permission denied (EACCES)"),
            (errno.EPERM, "permission denied (EPERM)"),
            (errno.EXDEV, "cross-device rename (EXDEV)"),
            (errno.ENOENT, "No such file or directory (ENOENT)"),
        ],
    )
    def test_names_the_reason_and_the_path(self, code: int, text: str) -> None:
        """Each errno is told in words, with its symbol and the path concerned."""
        exc = OSError(code, os.strerror(code), "/srv/home/registry.json")
        assert _fs.describe(exc) == f"{text}: /srv/home/registry.json"

    def test_both_paths_of_a_rename(self) -> None:
        """A failed rename names where from and where to."""
        exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a/staging/x", None, "/b/site/x")
        assert _fs.describe(exc) == "cross-device rename (EXDEV): /a/staging/x -> /b/site/x"

    def test_without_errno_or_path(self) -> None:
        """An OSError made from a message alone is told by that message."""
        assert _fs.describe(OSError("something odd")) == "something odd"


class TestOperations:
    def test_descriptor_errors_name_the_file(self, tmp_path: Path) -> None:
        """write() and fsync() on a descriptor say which file it was."""
        path = tmp_path / "doc"
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError, match="doc") as info:
                _fs.write(fd, b"data", path)
            assert info.value.errno == errno.EBADF
            assert info.value.filename == str(path)
        finally:
            os.close(fd)

    def test_open_new_refuses_an_existing_file(self, tmp_path: Path) -> None:
        """open_new() never truncates what is there."""
        (tmp_path / "doc").write_text("kept")
        with pytest.raises(FileExistsError):
            _fs.open_new(tmp_path / "doc")
        assert (tmp_path / "doc").read_text() == "kept"

    def test_copy_tree_copies_everything(self, tmp_path: Path) -> None:
        """copy_tree() copies nested files and keeps their modes."""
        source = tmp_path / "src"
        (source / "pkg" / "sub").mkdir(parents=True)
        (source / "pkg" / "__init__.py").write_text("x = 1\n")
        (source / "pkg" / "sub" / "tool").write_text("#!/bin/sh\n")
        (source / "pkg" / "sub" / "tool").chmod(0o755)
        _fs.copy_tree(source, tmp_path / "dst")
        assert (tmp_path / "dst" / "pkg" / "__init__.py").read_text() == "x = 1\n"
        assert (tmp_path / "dst" / "pkg" / "sub" / "tool").stat().st_mode & 0o777 == 0o755

    def test_copy_tree_keeps_the_errno(self, tmp_path: Path) -> None:
        """A target that exists fails with its own errno, not a gathered shutil.Error."""
        (tmp_path / "src").mkdir()
        (tmp_path / "dst").mkdir()
        with pytest.raises(FileExistsError):
            _fs.copy_tree(tmp_path / "src", tmp_path / "dst")


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Runs the test under the umask given as its parameter, and puts the old one back."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022, 0o777], indirect=True)
class TestPrivateModes:
    def test_made_dirs_are_private(self, tmp_path: Path, umask: int) -> None:
        """Every directory make_dirs creates is 0o700; one that existed keeps its mode."""
        tmp_path.chmod(0o755)
        _fs.make_dirs(tmp_path / "a" / "b" / "c")
        assert [_mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
        assert _mode(tmp_path) == 0o755

    def test_temp_dirs_are_private(self, tmp_path: Path, umask: int) -> None:
        """A temp dir is 0o700 whatever the umask."""
        assert _mode(_fs.make_temp_dir(tmp_path, "x-")) == 0o700

    def test_new_files_are_private(self, tmp_path: Path, umask: int) -> None:
        """open_new, create and open_lock make files 0o600: never wider, never unreadable."""
        os.close(_fs.open_new(tmp_path / "new"))
        with _fs.create(tmp_path / "created") as f:
            f.write(b"x")
        os.close(_fs.open_lock(tmp_path / "lock"))
        assert [_mode(tmp_path / n) for n in ("new", "created", "lock")] == [0o600] * 3

    def test_copied_trees_are_private(self, tmp_path: Path, umask: int) -> None:
        """copy_tree's folders are 0o700."""
        (tmp_path / "src").mkdir()
        (tmp_path / "src").chmod(0o755)  # readable by us under any umask, root or not
        (tmp_path / "src" / "sub").mkdir()
        (tmp_path / "src" / "sub").chmod(0o755)
        _fs.copy_tree(tmp_path / "src", tmp_path / "dst")
        assert _mode(tmp_path / "dst") == _mode(tmp_path / "dst" / "sub") == 0o700


class TestOpenLock:
    def test_open_lock_refuses_a_symlink(self, tmp_path: Path) -> None:
        """A lock file that is a symbolic link is not opened (nor its target created)."""
        (tmp_path / "lock").symlink_to(tmp_path / "elsewhere")
        with pytest.raises(OSError, match="Too many levels of symbolic links") as caught:
            _fs.open_lock(tmp_path / "lock")
        assert caught.value.errno == errno.ELOOP
        assert not (tmp_path / "elsewhere").exists()

    def test_open_lock_refuses_what_is_not_a_regular_file(self, tmp_path: Path) -> None:
        """A FIFO or a directory in the lock's place is refused, saying what it is; the FIFO's
        open does not wait for a writer."""
        os.mkfifo(tmp_path / "fifo", 0o600)
        (tmp_path / "dir").mkdir()
        for name, kind in (("fifo", "a FIFO"), ("dir", "a directory")):
            with pytest.raises(NotRegularFileError, match=f"is {kind}, not a regular file"):
                _fs.open_lock(tmp_path / name)


class TestRemoveTree:
    def test_a_tree_goes_whole(self, tmp_path: Path) -> None:
        tree = tmp_path / "site"
        (tree / "pkg" / "__pycache__").mkdir(parents=True)
        (tree / "pkg" / "__init__.py").write_text("")
        (tree / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
        (tree / "top.py").write_text("")
        assert _fs.remove_tree(tree) == 0
        assert not tree.exists()
        assert _fs.remove_tree(tree) == 0  # gone already: nothing left

    def test_symbolic_links_are_removed_not_followed(self, tmp_path: Path) -> None:
        """A link to a folder outside, inside the tree or as the tree itself: the link goes,
        what it points at stays."""
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("mine")
        tree = tmp_path / "site"
        tree.mkdir()
        (tree / "dir_link").symlink_to(outside)
        (tree / "file_link").symlink_to(outside / "keep.txt")
        assert _fs.remove_tree(tree) == 0
        assert not tree.exists()
        top = tmp_path / "top_link"
        top.symlink_to(outside)
        assert _fs.remove_tree(top) == 0
        assert not top.is_symlink()
        assert (outside / "keep.txt").read_text() == "mine"

    def test_what_cannot_go_is_counted(self, tmp_path: Path) -> None:
        """An entry that cannot be deleted (immutable, which binds root too) is left, with the
        folders holding it; the rest goes."""
        tree = tmp_path / "site"
        (tree / "pkg").mkdir(parents=True)
        stuck = tree / "pkg" / "stuck.py"
        stuck.write_text("")
        (tree / "pkg" / "a.py").write_text("")
        (tree / "b.py").write_text("")
        if shutil.which("chattr") is None:
            pytest.skip("no chattr here to make a file immutable")
        made = subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot make a file immutable here: {made.stderr!r}")
        try:
            assert _fs.remove_tree(tree) == 3  # stuck.py, then pkg (not empty), then site
            assert sorted(p.name for p in tree.rglob("*")) == ["pkg", "stuck.py"]
        finally:
            subprocess.run(["chattr", "-i", str(stuck)], check=True)

    def test_it_paces(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """One pace after each entry: a thousand unlinks do not hold the interpreter lock."""
        paces: list[None] = []
        monkeypatch.setattr(_fs, "pace", lambda: paces.append(None))
        tree = tmp_path / "site"
        tree.mkdir()
        for index in range(20):
            (tree / f"m{index}.py").write_text("")
        assert _fs.remove_tree(tree) == 0
        assert len(paces) == 21
