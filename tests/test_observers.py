"""The event side of the folder watcher, built directly: real folders, real observers."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent

from pluginhost.discover.folder_snapshot import default_wanted, folder_identity, read_signature
from pluginhost.discover.inotify import InotifyObserver
from pluginhost.discover.observers import STOPPED, Armed, Observers

TIMEOUT = 10.0


class Sink:
    """Collects the event paths an observer delivers, and waits for them."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, event: FileSystemEvent) -> None:
        with self._cond:
            self.paths.extend(os.fsdecode(p) for p in (event.src_path, event.dest_path) if p)
            self._cond.notify_all()

    def wait_for(self, path: Path) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: str(path) in self.paths, TIMEOUT)


@pytest.fixture
def sink() -> Sink:
    """Collects what the observers deliver."""
    return Sink()


@pytest.fixture(params=[False, True], ids=["events", "polling"])
def observers(request: pytest.FixtureRequest, sink: Sink) -> Iterator[Observers]:
    """Started observers (inotify, then polling) delivering to ``sink``; stopped after."""
    made = Observers(sink, default_wanted, polling=request.param, poll_interval=0.1)
    made.start()
    yield made
    made.stop(TIMEOUT)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding one wheel and one file that is not wanted."""
    path = tmp_path / "wheels"
    path.mkdir()
    (path / "a.whl").write_bytes(b"wheel")
    (path / "notes.txt").write_bytes(b"notes")
    return path


def emitters(observers: Observers) -> int:
    """How many folders the observer watches: the kernel's inotify watches of our observer
    (from ``/proc``), or the folders watchdog's polling observer has an emitter for."""
    observer = observers._observer
    assert observer is not None
    if isinstance(observer, InotifyObserver):
        info = Path(f"/proc/self/fdinfo/{observer._fd}").read_text()
        return sum(line.startswith("inotify wd:") for line in info.splitlines())
    return len(observer.emitters)


class TestArm:
    def test_armed_folder_read_and_watched(
        self, observers: Observers, sink: Sink, folder: Path
    ) -> None:
        """Arming gives the folder's identity and wanted files, and its events reach the sink."""
        armed = observers.arm(str(folder))
        signature = read_signature(str(folder / "a.whl"))
        assert signature is not None
        assert armed == Armed(folder_identity(str(folder)), {"a.whl": signature})
        assert observers.armed() == {str(folder)}
        (folder / "b.whl").write_bytes(b"wheel")
        assert sink.wait_for(folder / "b.whl")

    def test_rearm_watches_the_new_folder(
        self, observers: Observers, sink: Sink, folder: Path, tmp_path: Path
    ) -> None:
        """Arming a replaced folder again watches the new one, with one watch on the observer."""
        first = observers.arm(str(folder))
        folder.rename(tmp_path / "moved")
        folder.mkdir()
        again = observers.arm(str(folder))
        assert isinstance(first, Armed)
        assert isinstance(again, Armed)
        assert again.identity != first.identity
        assert again.snapshot == {}
        assert emitters(observers) == 1
        (folder / "b.whl").write_bytes(b"wheel")
        assert sink.wait_for(folder / "b.whl")

    @pytest.mark.parametrize(
        ("make", "reason"),
        [(None, "folder is missing"), ("file", "not a folder")],
        ids=["missing", "file"],
    )
    def test_unwatchable(
        self, observers: Observers, tmp_path: Path, make: str | None, reason: str
    ) -> None:
        """A folder that cannot be watched gives the reason and leaves no watch behind."""
        path = tmp_path / "wheels"
        if make == "file":
            path.write_bytes(b"")
        assert observers.arm(str(path)) == reason
        assert observers.armed() == frozenset()
        assert emitters(observers) == 0


class TestDisarm:
    def test_disarm(self, observers: Observers, folder: Path) -> None:
        """A disarmed folder has no emitter left on the observer."""
        observers.arm(str(folder))
        observers.disarm(str(folder))
        assert observers.armed() == frozenset()
        assert emitters(observers) == 0

    def test_disarm_unknown(self, observers: Observers, folder: Path) -> None:
        """Disarming a folder never armed does nothing."""
        observers.disarm(str(folder))
        assert observers.armed() == frozenset()


class TestLifecycle:
    def test_arm_before_start(self, sink: Sink, folder: Path) -> None:
        """Before the observer started, arming says the watcher is stopped."""
        made = Observers(sink, default_wanted, polling=False, poll_interval=0.1)
        assert made.arm(str(folder)) == STOPPED
        made.stop(TIMEOUT)

    @pytest.mark.parametrize("polling", [False, True])
    def test_stop(self, sink: Sink, folder: Path, polling: bool) -> None:
        """Stopping joins the observer's threads, and later arming says it is stopped."""
        before = set(threading.enumerate())
        made = Observers(sink, default_wanted, polling=polling, poll_interval=0.1)
        made.start()
        assert isinstance(made.arm(str(folder)), Armed)
        made.stop(TIMEOUT)
        assert set(threading.enumerate()) <= before
        assert made.arm(str(folder)) == STOPPED
        assert made.armed() == frozenset()
