"""The folder watcher, with real files, real inotify (or polling) and real threads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pluginhost.discover.folder_snapshot import default_wanted
from pluginhost.discover.watch import WATCHING_AGAIN, FolderChange, FolderWatcher
from pluginhost.model.errors import HostStateError

SETTLE = 0.15
#: Generous: the tests must not fail on a loaded two-core machine.
TIMEOUT = 10.0


class Recorder:
    """Records what a watcher reports, and waits for it."""

    def __init__(self) -> None:
        self.changes: list[FolderChange] = []
        self.times: list[float] = []
        self.problems: list[tuple[Path, str]] = []
        self._cond = threading.Condition()

    def on_change(self, change: FolderChange) -> None:
        with self._cond:
            self.changes.append(change)
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def on_problem(self, folder: Path, reason: str) -> None:
        with self._cond:
            self.problems.append((folder, reason))
            self._cond.notify_all()

    def paths(self) -> set[Path]:
        with self._cond:
            return {path for change in self.changes for path in change.paths}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for_paths(self, *paths: Path) -> bool:
        return self.wait_for(lambda: set(paths) <= self._paths_locked())

    def wait_for_problem(self, text: str) -> bool:
        return self.wait_for(lambda: any(text in reason for _, reason in self.problems))

    def _paths_locked(self) -> set[Path]:
        return {path for change in self.changes for path in change.paths}


@pytest.fixture
def recorder() -> Recorder:
    """Collects the changes and problems of the watchers made by ``make_watcher``."""
    return Recorder()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder to watch."""
    path = tmp_path / "wheels"
    path.mkdir()
    return path


@pytest.fixture
def make_watcher(recorder: Recorder) -> Iterator[Callable[..., FolderWatcher]]:
    """Make and start watchers reporting to ``recorder``; stopped after the test."""
    watchers: list[FolderWatcher] = []

    def make(*folders: Path, start: bool = True, **kwargs: Any) -> FolderWatcher:
        kwargs.setdefault("settle", SETTLE)
        kwargs.setdefault("on_problem", recorder.on_problem)
        watcher = FolderWatcher(list(folders), recorder.on_change, **kwargs)
        watchers.append(watcher)
        if start:
            watcher.start()
        return watcher

    yield make
    for watcher in watchers:
        watcher.stop()


def drop_watch(watcher: FolderWatcher, folder: Path) -> None:
    """Lose every later event of ``folder`` the way a queue overflow would: unschedule its watch."""
    watcher._observers.disarm(os.path.abspath(folder))


class TestDefaultWanted:
    @pytest.mark.parametrize("name", ["a-1.0-py3-none-any.whl", "x.whl"])
    def test_wheels_wanted(self, name: str) -> None:
        """Wheel names are wanted."""
        assert default_wanted(name)

    @pytest.mark.parametrize(
        "name",
        [".a.whl", "a.whl.part", "a.whl.tmp", "a.whl~", "a.whl.crdownload", "a.tmp", "a.tar.gz"],
    )
    def test_others_ignored(self, name: str) -> None:
        """Dotfiles, names of files still being written and non-wheels are not wanted."""
        assert not default_wanted(name)


class TestNewFiles:
    def test_new_file(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A new wheel leads to one call naming it."""
        watcher = make_watcher(folder)
        (folder / "a.whl").write_bytes(b"wheel")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == [FolderChange(folder, frozenset({folder / "a.whl"}))]

    def test_atomic_rename(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Renaming ``x.whl.part`` to ``x.whl`` reports ``x.whl`` only."""
        watcher = make_watcher(folder)
        part = folder / "x.whl.part"
        part.write_bytes(b"wheel")
        part.rename(folder / "x.whl")
        assert recorder.wait_for_paths(folder / "x.whl")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "x.whl"}

    def test_overwrite(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Overwriting a wheel in place is reported."""
        (folder / "a.whl").write_bytes(b"one")
        watcher = make_watcher(folder)
        (folder / "a.whl").write_bytes(b"two")
        assert recorder.wait_for_paths(folder / "a.whl")
        assert watcher.wait_quiet(TIMEOUT)
        assert len(recorder.changes) == 1

    def test_baseline_not_reported(
        self, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """Wheels already there at start are left to the host's own first read."""
        (folder / "a.whl").write_bytes(b"wheel")
        watcher = make_watcher(folder)
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == []

    def test_several_files(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Wheels dropped together are reported in one or a few calls, none left out."""
        watcher = make_watcher(folder)
        paths = [folder / f"p{i}.whl" for i in range(5)]
        for path in paths:
            path.write_bytes(b"wheel")
        assert recorder.wait_for_paths(*paths)
        assert watcher.wait_quiet(TIMEOUT)
        assert len(recorder.changes) <= 2


class TestSettling:
    def test_slow_copy(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A copy written in chunks with pauses is reported once, after it ends."""
        make_watcher(folder, settle=0.4)
        path = folder / "slow.whl"
        with path.open("wb") as out:
            for _ in range(10):
                out.write(b"x" * 1000)
                out.flush()
                time.sleep(0.1)
                assert recorder.changes == []
        ended = time.monotonic()
        assert recorder.wait_for_paths(path)
        assert recorder.times[0] >= ended
        assert len(recorder.changes) == 1

    def test_storm(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Fifty writes to one wheel within the settle time make at most two calls."""
        watcher = make_watcher(folder, settle=0.3)
        path = folder / "a.whl"
        for i in range(50):
            path.write_bytes(b"x" * i)
            time.sleep(0.002)
        assert recorder.wait_for_paths(path)
        assert watcher.wait_quiet(TIMEOUT)
        assert len(recorder.changes) <= 2

    def test_wait_quiet_is_exact(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A wheel written before ``wait_quiet`` is handed over before it returns True."""
        watcher = make_watcher(folder)
        (folder / "a.whl").write_bytes(b"wheel")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "a.whl"}
        assert not watcher.busy()

    def test_busy_until_handed_over(
        self, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """``busy()`` turns True once the event arrives and stays so until the call is made."""
        seen_busy: list[bool] = []
        watcher = make_watcher(folder, settle=0.3)
        (folder / "a.whl").write_bytes(b"wheel")
        deadline = time.monotonic() + TIMEOUT
        while not watcher.busy() and time.monotonic() < deadline:
            time.sleep(0.001)
        seen_busy.append(watcher.busy())
        # Settling takes 0.3 s: the call cannot have been made already.
        assert seen_busy == [True]
        assert recorder.changes == []
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "a.whl"}

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify reports moves")
    @pytest.mark.parametrize("source", ["outside", "temp-name"])
    def test_renamed_in_at_once(
        self, folder: Path, tmp_path: Path, make_watcher: Any, recorder: Recorder, source: str
    ) -> None:
        """A wheel renamed into place is complete: reported without waiting for the settle time,
        while a wheel written in place still waits for it."""
        make_watcher(folder, settle=3.0)
        temp = tmp_path / "a.whl" if source == "outside" else folder / ".a.whl.tmp"
        temp.write_bytes(b"wheel")
        started = time.monotonic()
        os.replace(temp, folder / "a.whl")
        (folder / "b.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "a.whl")
        assert recorder.times[0] - started < 1.5
        assert folder / "b.whl" not in recorder.paths()

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="our inotify thread")
    def test_renamed_in_handed_over_by_the_events_thread(
        self, folder: Path, tmp_path: Path, recorder: Recorder
    ) -> None:
        """A wheel renamed in is handed over by the thread that read its event; a wheel written
        in place, once settled, by the watcher's thread. Never two callbacks at once."""
        threads: dict[Path, str] = {}
        running = threading.Lock()
        overlapped: list[Path] = []

        def on_change(change: FolderChange) -> None:
            if not running.acquire(blocking=False):
                overlapped.extend(change.paths)
                return
            try:
                time.sleep(0.05)  # long enough for the other thread's hand-over to collide
                for path in change.paths:
                    threads[path] = threading.current_thread().name
                recorder.on_change(change)
            finally:
                running.release()

        watcher = FolderWatcher([folder], on_change, settle=SETTLE)
        watcher.start()
        try:
            (folder / "b.whl").write_bytes(b"wheel")
            time.sleep(SETTLE * 0.9)  # b settles while a is handed over
            (tmp_path / "a.whl").write_bytes(b"wheel")
            os.replace(tmp_path / "a.whl", folder / "a.whl")
            assert recorder.wait_for_paths(folder / "a.whl", folder / "b.whl")
            assert watcher.wait_quiet(TIMEOUT)
        finally:
            watcher.stop()
        assert threads == {
            folder / "a.whl": "pluginhost-inotify",
            folder / "b.whl": "pluginhost-watcher",
        }
        assert overlapped == []

    def test_come_and_go(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A wheel created and removed within the settle time changed nothing: no call."""
        watcher = make_watcher(folder, settle=0.3)
        (folder / "a.whl").write_bytes(b"wheel")
        (folder / "a.whl").unlink()
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == []


class TestRemoval:
    def test_delete(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Deleting a wheel is reported."""
        (folder / "a.whl").write_bytes(b"wheel")
        watcher = make_watcher(folder)
        (folder / "a.whl").unlink()
        assert recorder.wait_for_paths(folder / "a.whl")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == [FolderChange(folder, frozenset({folder / "a.whl"}))]

    def test_rename(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A rename within the folder reports both names."""
        (folder / "a.whl").write_bytes(b"wheel")
        make_watcher(folder)
        (folder / "a.whl").rename(folder / "b.whl")
        assert recorder.wait_for_paths(folder / "a.whl", folder / "b.whl")

    def test_move_out(
        self, folder: Path, tmp_path: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """A wheel moved out of the folder is reported as gone."""
        (folder / "a.whl").write_bytes(b"wheel")
        make_watcher(folder)
        (folder / "a.whl").rename(tmp_path / "a.whl")
        assert recorder.wait_for_paths(folder / "a.whl")


class TestIgnored:
    def test_temp_names(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Files with temporary or hidden names, and other files, are never reported."""
        watcher = make_watcher(folder)
        for name in ["a.whl.part", ".a.whl", "a.whl.tmp", "a.whl~", "a.crdownload", "notes.txt"]:
            (folder / name).write_bytes(b"x")
        (folder / "a.whl.part").unlink()
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == []

    def test_subfolders(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """Only the folder itself is watched, not its subfolders; a folder named like a wheel
        is reported like a file, so that the host refuses it by name."""
        watcher = make_watcher(folder)
        (folder / "sub").mkdir()
        (folder / "sub" / "a.whl").write_bytes(b"wheel")
        (folder / "dir.whl").mkdir()
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "dir.whl"}

    def test_custom_filter(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """``wanted`` decides which names count."""
        watcher = make_watcher(folder, wanted=lambda name: name.endswith(".zip"))
        (folder / "a.whl").write_bytes(b"wheel")
        (folder / "a.zip").write_bytes(b"zip")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "a.zip"}


class TestPolling:
    def test_new_file(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """With polling, a new wheel is reported too, without wait_quiet's help."""
        make_watcher(folder, polling=True, poll_interval=0.1)
        (folder / "a.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "a.whl")

    def test_folder_deleted(
        self, tmp_path: Path, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """With polling, a deleted folder is reported as a problem."""
        make_watcher(folder, polling=True, poll_interval=0.1)
        shutil.rmtree(folder)
        assert recorder.wait_for_problem("missing")


class TestFolderProblems:
    def test_deleted_and_recreated(
        self, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """A deleted folder is reported once, re-armed when it returns, and its files reported."""
        (folder / "old.whl").write_bytes(b"wheel")
        make_watcher(folder)
        shutil.rmtree(folder)
        assert recorder.wait_for_problem("missing")
        folder.mkdir()
        (folder / "new.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "new.whl", folder / "old.whl")
        assert [reason for _, reason in recorder.problems] == ["folder is missing", WATCHING_AGAIN]
        (folder / "later.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "later.whl")

    def test_missing_at_start(self, tmp_path: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A folder missing at start is reported by start() and watched once it exists."""
        folder = tmp_path / "later"
        make_watcher(folder)
        assert recorder.problems == [(folder, "folder is missing")]
        folder.mkdir()
        (folder / "a.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "a.whl")
        assert recorder.problems[-1] == (folder, WATCHING_AGAIN)

    def test_others_keep_working(
        self, tmp_path: Path, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """A missing folder does not stop the others from being watched."""
        watcher = make_watcher(tmp_path / "missing", folder)
        (folder / "a.whl").write_bytes(b"wheel")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.changes == [FolderChange(folder, frozenset({folder / "a.whl"}))]
        assert recorder.problems == [(tmp_path / "missing", "folder is missing")]

    def test_not_a_folder(self, tmp_path: Path, make_watcher: Any, recorder: Recorder) -> None:
        """A file where a folder should be is reported."""
        (tmp_path / "file").write_bytes(b"")
        make_watcher(tmp_path / "file")
        assert recorder.problems == [(tmp_path / "file", "not a folder")]

    def test_unreadable(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """An unreadable folder is reported."""
        folder.chmod(0)
        try:
            try:
                os.listdir(folder)
            except PermissionError:
                make_watcher(folder)
            else:
                pytest.skip("this user reads folders whatever their mode (root)")
        finally:
            folder.chmod(0o755)
        [(_, reason)] = recorder.problems
        assert reason.startswith("folder is unreadable")

    def test_replaced(
        self, tmp_path: Path, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """A folder moved away and replaced by a new one is watched afresh."""
        make_watcher(folder)
        folder.rename(tmp_path / "moved")
        folder.mkdir()
        (folder / "a.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "a.whl")
        # "missing" if the watcher looked between the rename and the mkdir.
        [(_, lost), again] = recorder.problems
        assert lost in {"folder was replaced", "folder is missing"}
        assert again == (folder, WATCHING_AGAIN)


class TestRescan:
    def test_periodic_rescan(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """With its events lost, a new wheel is still found by the periodic rescan."""
        watcher = make_watcher(folder, rescan_interval=0.5)
        drop_watch(watcher, folder)
        assert not watcher._observers.armed()
        (folder / "a.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "a.whl")

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's inotify")
    def test_events_the_kernel_dropped_make_a_rescan_at_once(
        self, folder: Path, make_watcher: Any, recorder: Recorder
    ) -> None:
        """inotify's queue overflows while the watcher is held: the wheel whose events were
        dropped is found at once, not at the next periodic rescan (an hour away here)."""
        watcher = make_watcher(folder, rescan_interval=3600)
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        pair = [folder / "x.txt", folder / "y.txt"]  # not wanted: told, never stat'ed
        for path in pair:
            path.write_bytes(b"")
        with watcher._cond:  # the observer's thread waits for it at the next wanted file
            (folder / "first.whl").write_bytes(b"wheel")
            time.sleep(0.2)
            for index in range(limit + 10):  # two files in turn: the kernel merges repeats
                os.utime(pair[index % 2])
            (folder / "dropped.whl").write_bytes(b"wheel")
        assert recorder.wait_for_paths(folder / "first.whl", folder / "dropped.whl")

    def test_wait_quiet_rescans(self, folder: Path, make_watcher: Any, recorder: Recorder) -> None:
        """With its events lost, a new wheel is still found before wait_quiet returns."""
        watcher = make_watcher(folder)
        drop_watch(watcher, folder)
        (folder / "a.whl").write_bytes(b"wheel")
        assert watcher.wait_quiet(TIMEOUT)
        assert recorder.paths() == {folder / "a.whl"}


class TestCallbacks:
    def test_on_change_raising(
        self, folder: Path, caplog: pytest.LogCaptureFixture, recorder: Recorder
    ) -> None:
        """An exception in on_change is logged and the watcher goes on."""
        calls: list[FolderChange] = []

        def on_change(change: FolderChange) -> None:
            calls.append(change)
            if len(calls) == 1:
                raise RuntimeError("boom")
            recorder.on_change(change)

        watcher = FolderWatcher([folder], on_change, settle=SETTLE)
        watcher.start()
        try:
            with caplog.at_level(logging.ERROR, logger="pluginhost"):
                (folder / "a.whl").write_bytes(b"wheel")
                assert watcher.wait_quiet(TIMEOUT)
            (folder / "b.whl").write_bytes(b"wheel")
            assert recorder.wait_for_paths(folder / "b.whl")
        finally:
            watcher.stop()
        [record] = [r for r in caplog.records if r.name == "pluginhost"]
        assert record.exc_info is not None
        assert "boom" in str(record.exc_info[1])

    @pytest.mark.parametrize(
        "renamed",
        [
            False,
            pytest.param(
                True,
                marks=pytest.mark.skipif(
                    not sys.platform.startswith("linux"), reason="inotify reports moves"
                ),
            ),
        ],
    )
    def test_wait_quiet_from_callback(
        self, folder: Path, tmp_path: Path, recorder: Recorder, renamed: bool
    ) -> None:
        """wait_quiet from on_change would wait for itself: it refuses, whether the watcher's
        thread runs the callback (a wheel written in place) or the events' (one renamed in)."""
        errors: list[Exception] = []
        watcher: FolderWatcher

        def on_change(change: FolderChange) -> None:
            try:
                watcher.wait_quiet(1)
            except HostStateError as exc:
                errors.append(exc)
            recorder.on_change(change)

        watcher = FolderWatcher([folder], on_change, settle=3.0 if renamed else SETTLE)
        watcher.start()
        try:
            written = tmp_path / "a.whl" if renamed else folder / "a.whl"
            written.write_bytes(b"wheel")
            if renamed:
                os.replace(written, folder / "a.whl")
            assert recorder.wait_for_paths(folder / "a.whl")
        finally:
            watcher.stop()
        assert len(errors) == 1


class TestLifecycle:
    @pytest.mark.parametrize("polling", [False, True])
    def test_stop_leaves_no_threads(self, folder: Path, recorder: Recorder, polling: bool) -> None:
        """After stop() no thread of the watcher is left running."""
        before = set(threading.enumerate())
        watcher = FolderWatcher([folder], recorder.on_change, settle=SETTLE, polling=polling)
        watcher.start()
        (folder / "a.whl").write_bytes(b"wheel")
        assert watcher.wait_quiet(TIMEOUT)
        watcher.stop()
        watcher.stop()
        assert set(threading.enumerate()) <= before
        assert not watcher.busy()
        assert watcher.wait_quiet(0)

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify reports moves")
    @pytest.mark.parametrize("polling", [False, True])
    def test_stop_from_a_wheel_renamed_in(
        self, folder: Path, recorder: Recorder, polling: bool
    ) -> None:
        """stop() from the on_change of a wheel renamed in, run by the thread that read its
        event (ours, or watchdog's polling observer), ends the watcher; nothing is handed over
        after it."""
        errors: list[BaseException] = []
        watcher: FolderWatcher

        def on_change(change: FolderChange) -> None:
            try:
                watcher.stop(TIMEOUT)
            except BaseException as exc:
                errors.append(exc)
            recorder.on_change(change)

        before = set(threading.enumerate())
        watcher = FolderWatcher([folder], on_change, settle=3.0, polling=polling, poll_interval=0.1)
        watcher.start()
        (folder / ".a.whl.tmp").write_bytes(b"wheel")
        time.sleep(0.3)  # seen by a poll before the rename: polling reports a move then
        os.replace(folder / ".a.whl.tmp", folder / "a.whl")
        assert recorder.wait_for_paths(folder / "a.whl")
        (folder / ".b.whl.tmp").write_bytes(b"wheel")
        os.replace(folder / ".b.whl.tmp", folder / "b.whl")
        deadline = time.monotonic() + TIMEOUT
        while set(threading.enumerate()) - before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert errors == []
        assert set(threading.enumerate()) <= before
        assert recorder.paths() == {folder / "a.whl"}

    def test_stop_unstarted(self, folder: Path, recorder: Recorder) -> None:
        """A watcher never started can be stopped, and then not started."""
        before = set(threading.enumerate())
        watcher = FolderWatcher([folder], recorder.on_change)
        watcher.stop()
        assert set(threading.enumerate()) <= before
        with pytest.raises(HostStateError):
            watcher.start()

    def test_start_twice(self, folder: Path, make_watcher: Any) -> None:
        """A watcher starts only once."""
        watcher = make_watcher(folder)
        with pytest.raises(HostStateError):
            watcher.start()


_POLLED_HOST = """
import json, os, pathlib, sys, time
from hookspecs import greeter
from pluginhost import EventKind, PluginHost
from pluginhost.testing import WheelFactory

home, wheels, outside = map(pathlib.Path, sys.argv[1:4])
events = []
# Strict modes off: in the namespace, folders of users outside it (/tmp's root, say) show as
# owned by nobody. This test is about inotify, not about owners.
host = PluginHost(greeter.PROJECT, specs=[greeter.GreeterSpec], home=home, watch=[wheels],
                  api_version=greeter.API_VERSION, environment=False, settle=0.05,
                  strict_modes=False)
host.subscribe(events.append)
with host:
    code = "import pluggy\\nhookimpl = pluggy.HookimplMarker('greeter')\\n"
    code += "@hookimpl\\ndef greet(name):\\n    return 'polled'\\n"
    wheel = WheelFactory(outside).build("hello", code=code)
    os.replace(wheel, wheels / wheel.name)
    deadline = time.monotonic() + 20
    while host.load_order() != ("hello",) and time.monotonic() < deadline:
        time.sleep(0.05)
    polled = [(e.origin, e.error) for e in events if e.kind is EventKind.FOLDER_POLLED]
    print(json.dumps({"answers": host.hook.greet(name="x"), "polled": polled}))
"""


class TestInotifyExhausted:
    @pytest.mark.slow
    @pytest.mark.parametrize("limit", ["max_inotify_instances", "max_inotify_watches"])
    def test_folder_is_polled_and_said_so(self, tmp_path: Path, limit: str) -> None:
        """When the system's inotify instances or watches run out, the folder is polled (an
        event says so) and a wheel dropped there still loads."""
        unshare = shutil.which("unshare")
        if unshare is None:
            pytest.skip("unshare (util-linux) is not installed")
        # A user namespace of its own, where the limit is 0: the rest of the machine keeps its
        # inotify instances and watches.
        probe = subprocess.run(
            [unshare, "--user", "--map-root-user", "sh", "-c", f"echo 0 > /proc/sys/user/{limit}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            pytest.skip(f"no user namespace with its own inotify limits: {probe.stderr.strip()}")
        wheels = tmp_path / "wheels"
        wheels.mkdir()
        script = tmp_path / "polled_host.py"
        script.write_text(_POLLED_HOST)
        shell = f'echo 0 > /proc/sys/user/{limit} && exec "$@"'
        argv = [sys.executable, str(script), str(tmp_path / "home"), str(wheels)]
        argv.append(str(tmp_path / "outside"))
        proc = subprocess.run(
            [unshare, "--user", "--map-root-user", "sh", "-c", shell, "sh", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.splitlines()[-1])
        assert result["answers"] == ["polled"]
        [(origin, reason)] = result["polled"]
        assert origin == str(wheels)
        assert "inotify" in reason
        assert "ran out" in reason
