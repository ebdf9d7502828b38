"""The host's worker survives whatever a run raises; through real hosts, one wheel whose
reading or change fails in a way no check expected is a problem naming its file, and every
other change still applies: at start, in the watched folders and through ``install()``."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

import pluginhost.discover.discovery
import pluginhost.install.sites
from pluginhost import (
    ActivationError,
    Event,
    EventKind,
    PluginHost,
    ProblemKind,
    WheelError,
)
from pluginhost.host.worker import Worker
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """``worker``, started, and stopped afterwards whatever happened."""
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


class TestWorker:
    @pytest.mark.parametrize("error", [RuntimeError("bug"), SystemExit(3)])
    def test_survives_a_failed_run(
        self, error: BaseException, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A run that raises, even SystemExit, is logged; the next request runs the job."""
        runs: list[int] = []
        ran = threading.Event()

        def job() -> None:
            runs.append(1)
            ran.set()
            if len(runs) == 1:
                raise error

        with running(Worker(job)) as worker:
            worker.request()
            assert worker.wait_idle(10)
            worker.request()
            assert worker.wait_idle(10)
        assert len(runs) == 2
        assert "applying folder changes failed" in caplog.text

    def test_a_task_runs_once_on_the_worker_before_the_job(self) -> None:
        """``once()``: the task runs on the worker's thread, once, ahead of a run asked with it;
        ``wait_idle()`` waits for it."""
        done: list[tuple[str, str]] = []
        release = threading.Event()

        def task() -> None:
            release.wait(10)
            done.append(("task", threading.current_thread().name))

        with running(Worker(lambda: done.append(("job", threading.current_thread().name)))) as w:
            w.once(task)
            w.request()
            assert not w.wait_idle(0.2)  # the task holds the worker
            release.set()
            assert w.wait_idle(10)
            w.request()
            assert w.wait_idle(10)
        assert done == [("task", "pluginhost-worker"), *[("job", "pluginhost-worker")] * 2]

    def test_survives_a_failed_task(self, caplog: pytest.LogCaptureFixture) -> None:
        """A task that raises is logged; the job asked with it still runs."""
        runs: list[int] = []

        def task() -> None:
            raise RuntimeError("bug")

        with running(Worker(lambda: runs.append(1))) as worker:
            worker.once(task)
            worker.request()
            assert worker.wait_idle(10)
        assert runs == [1]
        assert "a task of the host failed" in caplog.text

    def test_survives_a_failed_poll(self) -> None:
        """A poll that raises counts as no change; the worker keeps polling."""
        polls: list[int] = []
        again = threading.Event()

        def poll() -> bool:
            polls.append(1)
            if len(polls) > 1:
                again.set()
            raise SystemExit(1)

        with running(Worker(lambda: None, poll=poll, interval=0.01)):
            assert again.wait(10)


class TestRunHere:
    def test_an_idle_worker_lets_the_caller_run_the_job(self) -> None:
        """The thread that asks runs the job itself: no hand-over to the worker's thread."""
        threads: list[threading.Thread] = []
        with running(Worker(lambda: threads.append(threading.current_thread()))) as worker:
            worker.run_here()
            assert threads == [threading.current_thread()]
            assert worker.wait_idle(10)

    def test_a_run_under_way_takes_the_ask_as_a_request(self) -> None:
        """Asked while the worker's thread runs the job, the job runs once more there."""
        threads: list[threading.Thread] = []
        started, release = threading.Event(), threading.Event()

        def job() -> None:
            threads.append(threading.current_thread())
            if len(threads) == 1:
                started.set()
                assert release.wait(10)

        with running(Worker(job)) as worker:
            worker.request()
            assert started.wait(10)
            worker.run_here()  # returns at once: the run under way is not waited for
            assert len(threads) == 1
            release.set()
            assert worker.wait_idle(10)
        assert len(threads) == 2
        assert threading.current_thread() not in threads

    def test_one_run_at_a_time(self) -> None:
        """While a run made here is under way, the worker's thread starts none (not for a
        request, not for its poll), and wait_idle waits for it."""
        inside, overlaps, runs = [0], [0], []
        started, release = threading.Event(), threading.Event()

        def job() -> None:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            runs.append(threading.current_thread())
            if len(runs) == 1:
                started.set()
                assert release.wait(10)
            inside[0] -= 1

        worker = Worker(job, poll=lambda: True, interval=0.01)
        with running(worker):
            here = threading.Thread(target=worker.run_here)
            here.start()
            assert started.wait(10)
            worker.request()
            threading.Event().wait(0.1)  # ten polls' time
            assert not worker.wait_idle(0.05)
            release.set()
            here.join(10)
            assert worker.wait_idle(10)
        assert overlaps == [1]
        assert runs[0] is here
        assert len(runs) >= 2  # the request, run after by the worker's thread


@pytest.fixture
def buggy_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the distribution ``buggy`` fails as a bug would, with a bare RuntimeError."""
    real = pluginhost.discover.discovery.candidate_from_wheel

    def read(inspection: Any, *args: Any) -> Any:
        if inspection.info.distribution == "buggy":
            raise RuntimeError("a bug in a parser")
        return real(inspection, *args)

    monkeypatch.setattr(pluginhost.discover.discovery, "candidate_from_wheel", read)


@pytest.fixture
def buggy_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installing any version 2.0.0 fails as a bug would, with a bare KeyError.

    Put in the site dirs' install, which every install goes through: the installer's
    install_wheel alone is skipped when the site writer, ready early, wrote the site dir ahead
    (CI on 4cf5339 saw 2.0.0 load so, on a loaded machine)."""
    real = pluginhost.install.sites.SiteDirs.install

    def install(self: Any, candidate: Any, *args: Any, **kwargs: Any) -> Any:
        if candidate.version_text == "2.0.0":
            raise KeyError("a bug in the installer")
        return real(self, candidate, *args, **kwargs)

    monkeypatch.setattr(pluginhost.install.sites.SiteDirs, "install", install)


def problem_for(host: PluginHost, wheel: Path) -> str:
    (problem,) = [p for p in host.problems() if p.path == str(wheel)]
    assert problem.kind in {ProblemKind.WHEEL_INVALID, ProblemKind.LOAD_FAILED}
    return problem.message


def audited(host: PluginHost, wheel: Path) -> list[tuple[str, str]]:
    return [
        (e.action, e.outcome)
        for e in read_audit(host.audit_log)
        if isinstance(e, AuditEntry) and e.origin == str(wheel)
    ]


class TestOneWheelNeverStopsTheHost:
    @pytest.mark.usefixtures("buggy_reading")
    def test_start(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """``start()`` succeeds with such a wheel in a folder: the others load, it is refused
        with a problem naming it, an event and an audit entry."""
        factory.build("hello", code=greet_code("hi"))
        bad = factory.build("buggy", code=greet_code("bug"))
        host = make_host()
        assert host.load_order() == ("hello",)
        assert "failed unexpectedly (RuntimeError: a bug in a parser)" in problem_for(host, bad)
        assert audited(host, bad) == [("refusal", "refused")]

    @pytest.mark.parametrize("kind", ["wheel-version-superscript", "record-field-over-csv-limit"])
    def test_start_with_an_unreadable_field(
        self, factory: WheelFactory, make_host: MakeHost, kind: str
    ) -> None:
        """The issue's cases: a field no parser can read refuses its wheel, not the start."""
        factory.build("hello", code=greet_code("hi"))
        bad = factory.build("other", code=greet_code("bug"), broken=kind)
        host = make_host()
        assert host.load_order() == ("hello",)
        assert str(bad) in problem_for(host, bad)

    @pytest.mark.usefixtures("buggy_reading")
    def test_dropped(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """Dropped beside a good plugin, such a wheel is refused and the good one loads; a
        later drop still applies."""
        host = make_host()
        bad = factory.build("buggy", code=greet_code("bug"))
        factory.build("hello", code=greet_code("hi"))
        assert host.wait_idle()
        assert host.load_order() == ("hello",)
        assert str(bad) in problem_for(host, bad)
        factory.build("later", code=greet_code("later"))
        assert host.wait_idle()
        assert host.load_order() == ("hello", "later")

    @pytest.mark.usefixtures("buggy_reading")
    def test_installed(self, tmp_path: Path, make_host: MakeHost, events: list[Event]) -> None:
        """``install()`` of such a wheel raises a WheelError naming it, with an event and an
        audit entry."""
        host = make_host()
        bad = WheelFactory(tmp_path / "elsewhere").build("buggy", code=greet_code("bug"))
        with pytest.raises(WheelError, match="failed unexpectedly") as caught:
            host.install(bad)
        assert caught.value.path == str(bad)
        assert [e.kind for e in events if e.origin == str(bad)] == [EventKind.REFUSED]
        assert audited(host, bad) == [("refusal", "refused")]

    @pytest.mark.usefixtures("buggy_install")
    def test_change_fails_unexpectedly(
        self, factory: WheelFactory, make_host: MakeHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A change whose step raises an error no step expected is undone and filed under the
        plugin and its file; the serving version stays, and the other changes apply."""
        factory.build("hello", code=greet_code("1.0"))
        host = make_host()
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            update = factory.build("hello", "2.0.0", code=greet_code("2.0"))
            factory.build("other", code=greet_code("other"))
            assert host.wait_idle()
        assert host.plugins["hello"].version == "1.0.0"
        assert sorted(host.hook.greet(name="x")) == ["1.0", "other"]
        message = problem_for(host, update)
        assert "failed unexpectedly (KeyError: 'a bug in the installer')" in message
        assert "changing hello failed unexpectedly" in caplog.text
        factory.build("later", code=greet_code("later"))
        assert host.wait_idle()
        assert "later" in host.load_order()

    @pytest.mark.usefixtures("buggy_install")
    def test_install_change_fails_unexpectedly(
        self, tmp_path: Path, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """``install()`` raises that failure typed, naming the step and the file."""
        factory.build("hello", code=greet_code("1.0"))
        host = make_host()
        wheel = WheelFactory(tmp_path / "elsewhere").build("hello", "2.0.0")
        with pytest.raises(ActivationError, match="failed unexpectedly") as caught:
            host.install(wheel)
        assert (caught.value.step, caught.value.path) == ("unexpected", str(wheel))
        assert host.hook.greet(name="x") == ["1.0"]
