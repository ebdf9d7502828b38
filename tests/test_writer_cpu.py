"""Where the site writer runs a job the host waits for: on the sending thread's CPU, with its
whole CPU mask taken back as the job starts (real processes, real affinity masks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import ready
from test_writer_process import GREET, ahead_job

from pluginhost.discover.archive import WheelLimits
from pluginhost.install.writer_cpu import SendingCpu, whole_mask
from pluginhost.install.writer_process import WriterProcess
from pluginhost.testing import WheelFactory

T = TypeVar("T")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="placing a process on a CPU takes Linux and two CPUs to choose from",
)


def on_cpu(cpu: int, work: Callable[[], T]) -> T:
    """Run ``work`` on a thread that may only run on ``cpu``; its result."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        try:
            results.append(work())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the pinned thread did not finish"
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


class TestSendingCpu:
    @pytest.mark.parametrize("index", [0, -1])
    def test_process_placed_on_the_senders_cpu(
        self, sleeper: subprocess.Popen[bytes], index: int
    ) -> None:
        """The process may then run only on the CPU the sending thread runs on."""
        cpu = sorted(os.sched_getaffinity(0))[index]
        on_cpu(cpu, lambda: SendingCpu().place(sleeper.pid))
        assert os.sched_getaffinity(sleeper.pid) == {cpu}

    def test_refusal_is_told_and_not_asked_again(self, caplog: pytest.LogCaptureFixture) -> None:
        """A process the kernel will not place (here: one that is gone) is left as it is,
        with a log line, and the next job asks nothing."""
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        placement = SendingCpu()
        with caplog.at_level("INFO", logger="pluginhost.install.writer_cpu"):
            placement.place(gone.pid)
            placement.place(gone.pid)
        told = [r.getMessage() for r in caplog.records]
        assert len(told) == 1
        assert "not placed on its sender's CPU" in told[0]


class TestWholeMask:
    def test_widen_gives_back_the_mask_it_started_with(self) -> None:
        """Narrowed to one CPU after :func:`whole_mask` was taken, a thread gets its whole
        mask back from it."""
        start = sorted(os.sched_getaffinity(0))

        def narrow_then_widen() -> tuple[set[int], set[int]]:
            widen = whole_mask()
            os.sched_setaffinity(0, {start[0]})
            narrowed = os.sched_getaffinity(0)
            widen()
            return narrowed, os.sched_getaffinity(0)

        thread_result: list[tuple[set[int], set[int]]] = []
        thread = threading.Thread(target=lambda: thread_result.append(narrow_then_widen()))
        thread.start()
        thread.join(10)
        assert thread_result == [({start[0]}, set(start))]


class TestWriter:
    def test_a_read_waited_for_runs_on_the_senders_cpu_then_widens(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """While the host waits for a read, the writer is placed on the waiting thread's CPU
        (seen here with the writer stopped before it took the job); as it takes the job it
        gets its whole mask back."""
        ready(writer, tmp_path, factory)
        pid = writer.pid
        assert pid is not None
        whole = os.sched_getaffinity(0)  # the writer's, inherited from this thread
        cpu = sorted(whole)[-1]
        wheel = factory.build("hello", "2.0.0", code=GREET)
        answers: list[object] = []
        os.kill(pid, signal.SIGSTOP)
        try:
            reading = threading.Thread(
                target=lambda: answers.append(
                    on_cpu(cpu, lambda: writer.read_wheel(wheel, os.lstat(wheel), WheelLimits()))
                )
            )
            reading.start()
            deadline = time.monotonic() + 10
            while os.sched_getaffinity(pid) != {cpu}:
                assert time.monotonic() < deadline, os.sched_getaffinity(pid)
                time.sleep(0.01)
        finally:
            os.kill(pid, signal.SIGCONT)
        reading.join(30)
        assert not reading.is_alive()
        assert len(answers) == 1
        assert answers[0] is not None, "read by the writer"
        assert writer.pid == pid, "the same writer answered"
        assert os.sched_getaffinity(pid) == whole

    def test_a_job_sent_ahead_is_not_placed(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A job the host does not wait for leaves the writer's mask alone: the host goes on
        working on its CPU meanwhile."""
        ready(writer, tmp_path, factory)
        pid = writer.pid
        assert pid is not None
        whole = os.sched_getaffinity(pid)
        assert whole == os.sched_getaffinity(0), "widened again after the last job"
        os.kill(pid, signal.SIGSTOP)
        try:
            job = ahead_job(tmp_path / "home", factory.build("hello", code=GREET), "hello")
            assert on_cpu(sorted(whole)[0], lambda: writer.send_ahead(job))
            assert os.sched_getaffinity(pid) == whole
        finally:
            os.kill(pid, signal.SIGCONT)
        assert writer.collect(job) is False
