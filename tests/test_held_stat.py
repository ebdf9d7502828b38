"""lstat that keeps the interpreter lock: the same answers as os.lstat, without letting go."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pluginhost.state import held_stat

pytestmark = pytest.mark.skipif(
    not held_stat.keeps_lock(os.getcwd()) and not sys.platform.startswith("linux"),
    reason="statx is Linux's",
)

FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")
TIMES = ("st_mtime_ns", "st_ctime_ns", "st_atime_ns", "st_mtime", "st_ctime", "st_atime")


def same(a: os.stat_result, b: os.stat_result) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in (*FIELDS, *TIMES)) and a == b


@pytest.fixture
def local(tmp_path: Path) -> Path:
    if not held_stat.keeps_lock(str(tmp_path)):
        pytest.skip(f"{tmp_path} is not on a local disk file system statx is used for")
    return tmp_path


class TestAnswers:
    def test_a_file_a_folder_a_fifo_as_os_lstat_says(self, local: Path) -> None:
        (local / "a.whl").write_bytes(b"x" * 1234)
        (local / "sub").mkdir()
        os.mkfifo(local / "fifo")
        for name in ("a.whl", "sub", "fifo"):
            path = local / name
            assert same(held_stat.lstat(path, str(local)), os.lstat(path)), name
        assert same(held_stat.lstat(local, str(local)), os.lstat(local))

    def test_a_link_is_not_followed_unless_asked(self, local: Path) -> None:
        (local / "target.whl").write_bytes(b"y")
        (local / "link.whl").symlink_to(local / "target.whl")
        link = local / "link.whl"
        assert same(held_stat.lstat(link, str(local)), os.lstat(link))
        assert same(held_stat.lstat(link, str(local), follow=True), os.stat(link))

    def test_what_is_missing_raises_as_os_does(self, local: Path) -> None:
        with pytest.raises(FileNotFoundError) as caught:
            held_stat.lstat(local / "gone.whl", str(local))
        assert caught.value.filename == str(local / "gone.whl")
        (local / "file").write_bytes(b"")
        with pytest.raises(NotADirectoryError):
            held_stat.lstat(local / "file" / "below", str(local))
        with pytest.raises(ValueError, match="null byte"):
            held_stat.lstat(str(local / "a\0b"), str(local))

    def test_elsewhere_the_usual_call_answers(self) -> None:
        """Under a file system not known to be local (``/proc`` here), ``os.lstat`` serves."""
        assert not held_stat.keeps_lock("/proc")
        assert same(held_stat.lstat("/proc/self", "/proc"), os.lstat("/proc/self"))


@pytest.fixture
def spinner() -> Iterator[Callable[[], int]]:
    """A thread that counts without pause; the function reads its count."""
    count = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    time.sleep(0.05)
    yield lambda: count[0]
    stop.set()
    thread.join()


def runs_between(stat: Callable[[], object], count: Callable[[], int]) -> int:
    """Of 300 calls of ``stat``, how many let the spinning thread run."""
    ran = 0
    for _ in range(300):
        before = count()
        stat()
        ran += count() != before
    return ran


class TestTheLockIsKept:
    def test_a_thread_calling_without_pause_does_not_run_in_between(
        self, local: Path, spinner: Callable[[], int]
    ) -> None:
        """os.lstat lets a spinning thread in at many calls (when a core is free for it); the
        held lstat does not (it only runs when the switch interval passes: once or twice)."""
        path = local / "a.whl"
        path.write_bytes(b"z")
        held = runs_between(lambda: held_stat.lstat(path, str(local)), spinner)
        usual = runs_between(lambda: os.lstat(path), spinner)
        if usual <= 10:
            pytest.skip(f"os.lstat let the thread in {usual} times of 300: no core free to show it")
        assert held <= 3, (held, usual)
