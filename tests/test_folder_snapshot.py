"""What the folder watcher keeps of each folder: its identity, and when it is lost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pluginhost.discover.folder_snapshot import (
    WatchedFolder,
    folder_identity,
    read_snapshot,
    watched_folders,
)
from pluginhost.model import pacing


@pytest.fixture
def watched(tmp_path: Path) -> WatchedFolder:
    """A folder being watched, its identity taken."""
    path = tmp_path / "wheels"
    path.mkdir()
    folder = WatchedFolder(path, str(path))
    folder.identity = folder_identity(folder.key)
    return folder


class TestWatchedFolder:
    def test_still_there(self, watched: WatchedFolder) -> None:
        """The folder being watched is not lost."""
        assert watched.lost() is None

    def test_deleted(self, watched: WatchedFolder) -> None:
        """A deleted folder is lost as missing."""
        shutil.rmtree(watched.path)
        assert watched.lost() == "folder is missing"

    def test_replaced(self, watched: WatchedFolder, tmp_path: Path) -> None:
        """A folder moved away and made again under its name is lost as replaced."""
        watched.path.rename(tmp_path / "moved")
        watched.path.mkdir()
        assert watched.lost() == "folder was replaced"

    def test_file_in_its_place(self, watched: WatchedFolder) -> None:
        """A file where the folder was is lost as not a folder."""
        watched.path.rmdir()
        watched.path.write_bytes(b"")
        assert watched.lost() == "not a folder"


def test_watched_folders_by_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders are keyed by their absolute path, keep the path as given, and the first wins."""
    monkeypatch.chdir(tmp_path)
    folders = watched_folders([Path("wheels"), tmp_path / "wheels", Path("other")])
    assert list(folders) == [os.path.join(tmp_path, "wheels"), os.path.join(tmp_path, "other")]
    assert folders[os.path.join(tmp_path, "wheels")].path == Path("wheels")


def test_a_listing_paces_every_few_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An lstat per entry: a listing of a thousand wheels gives the interpreter lock back
    every 8 entries, not every 64 (2-9 ms of lstats on a slow disk, a caller paused)."""
    paces: list[None] = []
    monkeypatch.setattr(pacing, "pace", lambda: paces.append(None))
    for index in range(64):
        (tmp_path / f"p{index}-1.0-py3-none-any.whl").write_bytes(b"")
    assert len(read_snapshot(str(tmp_path), lambda name: name.endswith(".whl"))) == 64
    assert len(paces) == 8
