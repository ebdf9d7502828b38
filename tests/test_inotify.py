"""Our inotify observer (discover/inotify.py), on real folders: the events it delivers, on
its one thread, the kernel's watches it adds and removes, an overflow of the kernel's queue,
and its end."""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from pluginhost.discover.inotify import InotifyObserver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's inotify")

TIMEOUT = 10.0


class Recorder(FileSystemEventHandler):
    """Records each event delivered and the thread it came on; can hold the thread."""

    def __init__(self) -> None:
        self.events: list[FileSystemEvent] = []
        self.threads: set[str] = set()
        self.hold = threading.Event()
        self.held = threading.Event()
        self.hold.set()
        self._cond = threading.Condition()

    def dispatch(self, event: FileSystemEvent) -> None:
        self.held.set()
        self.hold.wait(TIMEOUT)
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, event: FileSystemEvent) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: event in self.events, TIMEOUT)


class Overflows:
    def __init__(self) -> None:
        self.count = 0
        self.seen = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.seen.set()


@pytest.fixture
def overflows() -> Overflows:
    return Overflows()


@pytest.fixture
def observer(overflows: Overflows) -> Iterator[InotifyObserver]:
    made = InotifyObserver(overflows)
    made.start()
    yield made
    made.stop()
    made.join(TIMEOUT)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "wheels"
    path.mkdir()
    return path


def kernel_watches(observer: InotifyObserver) -> int:
    """The inotify watches the kernel holds for the observer's instance."""
    info = Path(f"/proc/self/fdinfo/{observer._fd}").read_text()
    return sum(line.startswith("inotify wd:") for line in info.splitlines())


class TestEvents:
    def test_a_rename_in_is_a_move_with_only_its_destination(
        self, observer: InotifyObserver, folder: Path, tmp_path: Path
    ) -> None:
        """Complete when it appears; told on the observer's own thread."""
        recorder = Recorder()
        observer.schedule(recorder, str(folder))
        outside = tmp_path / "a.whl"
        outside.write_bytes(b"wheel")
        os.replace(outside, folder / "a.whl")
        assert recorder.wait_for(FileMovedEvent("", str(folder / "a.whl")))
        assert recorder.threads == {"pluginhost-inotify"}

    def test_a_file_written_in_place_then_renamed_out_and_deleted(
        self, observer: InotifyObserver, folder: Path, tmp_path: Path
    ) -> None:
        recorder = Recorder()
        observer.schedule(recorder, str(folder))
        path = folder / "b.whl"
        path.write_bytes(b"wheel")
        assert recorder.wait_for(FileClosedEvent(str(path)))
        os.replace(path, tmp_path / "b.whl")
        assert recorder.wait_for(FileMovedEvent(str(path), ""))
        (folder / "c.whl").write_bytes(b"")
        (folder / "c.whl").unlink()
        assert recorder.wait_for(FileDeletedEvent(str(folder / "c.whl")))
        assert FileCreatedEvent(str(path)) in recorder.events

    def test_subfolders_are_not_told(self, observer: InotifyObserver, folder: Path) -> None:
        recorder = Recorder()
        observer.schedule(recorder, str(folder))
        (folder / "sub").mkdir()
        (folder / "after.whl").write_bytes(b"")
        assert recorder.wait_for(FileClosedEvent(str(folder / "after.whl")))
        assert [os.fsdecode(e.src_path) for e in recorder.events] == [str(folder / "after.whl")] * 2

    def test_the_folder_deleted_is_told_and_its_watch_ends(
        self, observer: InotifyObserver, folder: Path
    ) -> None:
        recorder = Recorder()
        observer.schedule(recorder, str(folder))
        folder.rmdir()
        assert recorder.wait_for(DirDeletedEvent(str(folder)))
        deadline = time.monotonic() + TIMEOUT
        while observer.folders and time.monotonic() < deadline:
            time.sleep(0.01)
        assert observer.folders == frozenset()
        assert kernel_watches(observer) == 0


class TestWatches:
    def test_unschedule_removes_the_kernels_watch(
        self, observer: InotifyObserver, folder: Path
    ) -> None:
        watch = observer.schedule(Recorder(), str(folder))
        assert kernel_watches(observer) == 1
        observer.unschedule(watch)
        assert kernel_watches(observer) == 0
        assert observer.folders == frozenset()
        with pytest.raises(KeyError):
            observer.unschedule(watch)

    def test_one_folder_scheduled_twice_tells_both(
        self, observer: InotifyObserver, folder: Path
    ) -> None:
        """One kernel watch; each handler is told, until its own watch is unscheduled."""
        first, second = Recorder(), Recorder()
        watch = observer.schedule(first, str(folder))
        observer.schedule(second, str(folder))
        assert kernel_watches(observer) == 1
        (folder / "a.whl").write_bytes(b"")
        assert first.wait_for(FileClosedEvent(str(folder / "a.whl")))
        assert second.wait_for(FileClosedEvent(str(folder / "a.whl")))
        observer.unschedule(watch)
        assert kernel_watches(observer) == 1
        (folder / "b.whl").write_bytes(b"")
        assert second.wait_for(FileClosedEvent(str(folder / "b.whl")))
        assert FileClosedEvent(str(folder / "b.whl")) not in first.events

    @pytest.mark.parametrize(
        ("make", "number"), [(None, errno.ENOENT), ("file", errno.ENOTDIR)], ids=["missing", "file"]
    )
    def test_what_cannot_be_watched_raises(
        self, observer: InotifyObserver, tmp_path: Path, make: str | None, number: int
    ) -> None:
        path = tmp_path / "target"
        if make == "file":
            path.write_bytes(b"")
        with pytest.raises(OSError, match=str(path)) as info:
            observer.schedule(Recorder(), str(path))
        assert info.value.errno == number


class TestOverflow:
    def test_events_dropped_by_the_kernel_are_told(
        self, observer: InotifyObserver, overflows: Overflows, folder: Path
    ) -> None:
        """The thread held in its handler while more events than the kernel queues arrive:
        once let go, it says that events were lost, and goes on delivering."""
        recorder = Recorder()
        recorder.hold.clear()
        observer.schedule(recorder, str(folder))
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        (folder / "first.whl").write_bytes(b"")
        assert recorder.held.wait(TIMEOUT)
        # Two files in turn: the kernel merges an event identical to the one queued last.
        pair = [folder / "x.whl", folder / "y.whl"]
        for path in pair:
            path.write_bytes(b"")
        for index in range(limit + 10):
            os.utime(pair[index % 2])
        recorder.hold.set()
        assert overflows.seen.wait(TIMEOUT)
        (folder / "later.whl").write_bytes(b"")
        assert recorder.wait_for(FileClosedEvent(str(folder / "later.whl")))


class TestEnd:
    def test_stop_ends_the_thread_and_closes_the_instance(
        self, overflows: Overflows, folder: Path
    ) -> None:
        observer = InotifyObserver(overflows)
        observer.start()
        observer.schedule(Recorder(), str(folder))
        fd = observer._fd
        observer.stop()
        observer.join(TIMEOUT)
        assert not observer._thread.is_alive()
        assert not Path(f"/proc/self/fd/{fd}").exists() or fd in _other_files()
        observer.stop()  # twice: nothing written to a number another file may have now
        observer.join(TIMEOUT)
        with pytest.raises(OSError, match="closed") as info:
            observer.schedule(Recorder(), str(folder))
        assert info.value.errno == errno.EBADF

    def test_an_instance_closed_beneath_it_ends_the_thread_with_a_warning(
        self, overflows: Overflows, folder: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Plugin code that closes descriptors it did not open (os.closerange()) closed the
        instance: the thread still ends at stop, saying so, and raises nothing (an exception
        would end it with a traceback and the pytest run with a warning)."""
        observer = InotifyObserver(overflows)
        observer.start()
        observer.schedule(Recorder(), str(folder))
        os.close(observer._fd)
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            observer.stop()
            observer.join(TIMEOUT)
        assert not observer._thread.is_alive()
        assert f"closing descriptor {observer._fd} failed" in caplog.text

    def test_never_started_closes_at_join(self, overflows: Overflows) -> None:
        observer = InotifyObserver(overflows)
        fd = observer._fd
        observer.stop()
        observer.join(TIMEOUT)
        assert not Path(f"/proc/self/fd/{fd}").exists() or fd in _other_files()


def _other_files() -> set[int]:
    """Descriptors open now that are not an inotify instance (a number freed is reused)."""
    return {
        int(name)
        for name in os.listdir("/proc/self/fd")
        if "inotify" not in _link(f"/proc/self/fd/{name}")
    }


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""
