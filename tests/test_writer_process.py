"""The site writer: a real helper process writes site dirs, answers with typed errors, and a
lost writer leaves the install to the host's process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from conftest import greet_code, ready, writers

import pluginhost.install.writer_process
from pluginhost import ManifestError, PluginHost, WheelError
from pluginhost.discover import metadata
from pluginhost.discover.archive import WheelLimits, read_wheel_bytes
from pluginhost.discover.candidates import candidate_from_wheel
from pluginhost.discover.handover import ValidatedWheel
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.install.installer import InstalledSite, candidate_job, install_wheel, plugin_job
from pluginhost.install.site_writer import SiteJob, WriteAhead
from pluginhost.install.writer_child import _serve
from pluginhost.install.writer_messages import (
    AheadMsg,
    ReadDone,
    WriteDone,
    decoder,
    read_message,
)
from pluginhost.install.writer_process import WriterProcess
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
GREET = "def greet(name):\n    return f'hello, {name}'\n"


def install(writer: WriterProcess, home: Path, wheel: Path, name: str) -> InstalledSite:
    return install_wheel(
        wheel,
        site_root=home / "site",
        staging_root=home / "staging",
        name=name,
        version="1.0.0",
        write=writer,
    )


class TestWriter:
    def test_writes_a_site_dir_in_its_own_process(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Once ready, the writer (another process) writes the site dir, with the bytecode
        the host's import would write, so that the import writes nothing."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        pid = ready(writer, tmp_path, factory)
        assert pid != os.getpid()
        site = install(writer, tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert not site.reused
        cached = list(site.path.glob("hello/__pycache__/*.pyc"))
        assert len(cached) == 1
        assert sys.implementation.cache_tag in cached[0].name
        assert not (site.path / ".pluginhost" / "__pycache__").exists()
        assert not any((tmp_path / "home" / "staging").iterdir())

    def test_no_bytecode_when_the_host_writes_none(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A host run with PYTHONDONTWRITEBYTECODE gets none from the writer either."""
        monkeypatch.setattr(sys, "dont_write_bytecode", True)
        ready(writer, tmp_path, factory)
        site = install(writer, tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert not any(site.path.rglob("*.pyc"))

    def test_first_install_is_written_here(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The writer starts at the first install, which does not wait for it."""
        assert writer.pid is None
        site = install(writer, tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert (site.path / "hello" / "__init__.py").is_file()

    def test_refusal_is_typed_and_names_the_wheel(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """installer's refusal in the writer reaches the host as a WheelError naming the
        caller's file, and nothing is left behind."""
        ready(writer, tmp_path, factory)
        home = tmp_path / "home"
        wheel = factory.build("hello", files={"hello-1.0.0.dist-info/RECORD.jws": "signature"})
        with pytest.raises(WheelError, match="refused by installer") as caught:
            install(writer, home, wheel, "hello")
        assert caught.value.path == str(wheel)
        assert not (home / "site").exists() or not any((home / "site").iterdir())
        assert not any((home / "staging").iterdir())

    def test_killed_writer_leaves_the_install_here(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A writer killed between jobs: the next install is written in this process, with a
        warning, and a new writer is started."""
        pid = ready(writer, tmp_path, factory)
        os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger=pluginhost.install.writer_process.__name__):
            site = install(writer, tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert (site.path / "hello" / "__init__.py").is_file()
        assert any(f"site writer (pid {pid}) lost" in r.getMessage() for r in caplog.records)
        assert ready(writer, tmp_path, factory) != pid

    def test_garbage_answer_is_a_lost_writer(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        garbage_writer: None,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A writer that greets with garbage is not used: installs go on here."""
        home = tmp_path / "home"
        with caplog.at_level(logging.WARNING, logger=pluginhost.install.writer_process.__name__):
            for n in range(5):
                install(writer, home, factory.build(f"p{n}", code=GREET), f"p{n}")
                time.sleep(0.2)
        assert writer.pid is None
        assert len(list((home / "site").iterdir())) == 5
        assert any("garbage" in r.getMessage() for r in caplog.records)

    # Python 3.12 warns about forking a process with threads: that is the case under test.
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")
    def test_forked_child_lets_the_parents_writer_be(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A child made by fork does not use its parent's writer (its installs are written
        in the child, which starts its own writer); the parent's serves on."""
        pid = ready(writer, tmp_path, factory)
        wheel = factory.build("hello", code=GREET)
        child = os.fork()
        if child == 0:
            try:
                forgot = writer.pid is None
                site = install(writer, tmp_path / "child", wheel, "hello")
                ok = forgot and (site.path / "hello" / "__init__.py").is_file()
                writer.close()
            except BaseException:
                os._exit(2)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert writer.pid == pid
        site = install(writer, tmp_path / "home", factory.build("polite", code=GREET), "polite")
        assert not site.reused
        assert writer.pid == pid

    def test_close_ends_the_writer(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        pid = ready(writer, tmp_path, factory)
        writer.close()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()
        assert writer.pid is None


def ahead_job(home: Path, wheel: Path, name: str) -> SiteJob:
    """The job of ``wheel``'s site dir under ``home``, as the host sends it ahead."""
    data = read_wheel_bytes(wheel)
    assert data is not None
    validated = ValidatedWheel(inspect_wheel(wheel, data=data), data.data)
    return plugin_job(
        validated,
        site_root=home / "site",
        staging_root=home / "staging",
        name=name,
        version="1.0.0",
    )


class TestAhead:
    def test_job_sent_ahead_is_written_meanwhile(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A job sent ahead is written while the host goes on; collecting it says it was
        written, not found."""
        ready(writer, tmp_path, factory)
        job = ahead_job(tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert writer.send_ahead(job)
        deadline = time.monotonic() + 20
        while not (job.target / "hello" / "__init__.py").is_file():
            assert time.monotonic() < deadline, "never written"
            time.sleep(0.005)
        assert writer.collect(job) is False
        assert writer.collect(job) is None  # answered once

    def test_nothing_is_sent_ahead_before_the_writer_is_ready(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        job = ahead_job(tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert not writer.send_ahead(job)
        assert writer.collect(job) is None
        assert not job.target.exists()

    def test_install_after_jobs_ahead_gets_its_own_answer(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The answers to jobs sent ahead are read before an install's own: each install
        gets the answer to its job."""
        ready(writer, tmp_path, factory)
        home = tmp_path / "home"
        first = ahead_job(home, factory.build("first", code=GREET), "first")
        refused = factory.build("bad", files={"bad-1.0.0.dist-info/RECORD.jws": "signature"})
        assert writer.send_ahead(first)
        assert writer.send_ahead(ahead_job(home, refused, "bad"))
        site = install(writer, home, factory.build("hello", code=GREET), "hello")
        assert not site.reused
        assert (site.path / "hello" / "__init__.py").is_file()
        assert (first.target / "first" / "__init__.py").is_file()
        assert writer.collect(first) is None  # its answer was read for the install

    def test_refusal_ahead_is_raised_when_collected(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        ready(writer, tmp_path, factory)
        wheel = factory.build("bad", files={"bad-1.0.0.dist-info/RECORD.jws": "signature"})
        job = ahead_job(tmp_path / "home", wheel, "bad")
        assert writer.send_ahead(job)
        with pytest.raises(WheelError, match="refused by installer") as caught:
            writer.collect(job)
        assert caught.value.path == str(wheel)
        assert not job.target.exists()

    def test_settle_tells_the_site_dirs_written_for_jobs_no_one_collected(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Written now: told, to be deleted. Found there already (a kept version's) or
        refused: not told, so the caller leaves them."""
        ready(writer, tmp_path, factory)
        home = tmp_path / "home"
        new = ahead_job(home, factory.build("new", code=GREET), "new")
        kept_wheel = factory.build("kept", code=GREET)
        kept = ahead_job(home, kept_wheel, "kept")
        assert not install(writer, home, kept_wheel, "kept").reused
        refused = factory.build("bad", files={"bad-1.0.0.dist-info/RECORD.jws": "signature"})
        for job in (new, kept, ahead_job(home, refused, "bad")):
            assert writer.send_ahead(job)
        assert writer.settle() == [new.target]
        assert writer.settle() == []  # told once
        assert (kept.target / "kept" / "__init__.py").is_file()

    def test_writer_killed_with_a_job_ahead(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A writer killed with a job ahead: collecting it says to write it again, with the
        loss logged, and the next install is written here."""
        pid = ready(writer, tmp_path, factory)
        job = ahead_job(tmp_path / "home", factory.build("hello", code=GREET), "hello")
        os.kill(pid, signal.SIGSTOP)  # the job waits in the pipe until the writer dies
        try:
            assert writer.send_ahead(job)
        finally:
            os.kill(pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger=pluginhost.install.writer_process.__name__):
            assert writer.collect(job) is None
        assert any(f"site writer (pid {pid}) lost" in r.getMessage() for r in caplog.records)
        site = install(writer, tmp_path / "home", factory.build("hello", code=GREET), "hello")
        assert (site.path / "hello" / "__init__.py").is_file()


def read_with_write(
    writer: WriterProcess, home: Path, wheel: Path, group: str = "greeter.plugins"
) -> SiteJob | None:
    """Have ``writer`` read ``wheel`` and write its plugin's site dir under ``home``; the job
    the host makes of what was read (``None`` when the wheel offers no plugin to ``group``)."""
    ahead = WriteAhead(group, home / "site", home / "staging")
    done = writer.read_wheel(wheel, os.lstat(wheel), WheelLimits(), ahead)
    assert done is not None, "the writer was ready"
    inspected = done.inspected
    if isinstance(inspected, WheelError):
        return None
    candidate = candidate_from_wheel(inspected, group)
    if candidate is None:
        return None
    validated = ValidatedWheel(inspected.info, done.data.data)
    return candidate_job(
        candidate, validated, site_root=home / "site", staging_root=home / "staging"
    )


class TestWithTheRead:
    def test_the_read_writes_the_site_dir_the_host_asks_for(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The site dir is written after the read's answer, with its bytecode; sending the
        host's job ahead sends nothing, and collecting it takes the write's answer, once."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        ready(writer, tmp_path, factory)
        wheel = factory.build("hello", "2.0.0", code=GREET)
        job = read_with_write(writer, tmp_path / "home", wheel)
        assert job is not None
        assert job.target.name.startswith("hello-2.0.0-")
        assert writer.send_ahead(job)
        assert writer.collect(job) is False  # written, not found
        assert (job.target / "hello" / "__init__.py").is_file()
        assert [c.module for c in writer.take_compiled(job.target)] == ["hello"]
        assert writer.collect(job) is None  # answered once
        assert writer.settle() == []

    def test_no_site_dir_for_a_wheel_that_offers_no_plugin(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        ready(writer, tmp_path, factory)
        wheel = factory.build("hello", code=GREET)
        assert read_with_write(writer, tmp_path / "home", wheel, "other.plugins") is None
        assert not (tmp_path / "home" / "site").exists()
        assert writer.settle() == []

    @pytest.mark.parametrize(
        "how",
        # The entry point naming a module the wheel does not ship is refused when the
        # candidate is made, after the read.
        [{"broken": "bad-record-hash"}, {"entry_point": "os"}, {"broken": "metadata-mismatch"}],
    )
    def test_no_site_dir_for_a_wheel_the_host_refuses(
        self, how: dict[str, str], writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Refused when read, or when its candidate is made: nothing is written for it."""
        ready(writer, tmp_path, factory)
        wheel = factory.build("hello", code=GREET, **how)
        try:
            job = read_with_write(writer, tmp_path / "home", wheel)
        except (WheelError, ManifestError):  # refused when its candidate is made
            job = None
        assert job is None
        assert not (tmp_path / "home" / "site").exists()

    def test_settle_tells_a_site_dir_no_install_took(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        ready(writer, tmp_path, factory)
        job = read_with_write(writer, tmp_path / "home", factory.build("hello", code=GREET))
        assert job is not None
        assert writer.settle() == [job.target]
        assert writer.settle() == []
        assert writer.collect(job) is None  # to be written again, as without

    def test_a_site_dir_named_outside_the_site_root_loses_the_writer(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The host deletes a site dir written with a read that no install takes: an answer
        that names any other path than a child of the site root given is not believed. The
        read is refused (typed, naming the file), the writer is lost, and the path stays."""
        elsewhere = tmp_path / "precious"
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("mine")
        monkeypatch.setattr(
            pluginhost.install.writer_process,
            "_BOOT",
            [sys.executable, "-I", "-c", _ELSEWHERE, str(elsewhere)],
        )
        ready(writer, tmp_path, factory)
        wheel = factory.build("hello", code=GREET)
        with pytest.raises(WheelError, match="site writer was lost") as caught:
            read_with_write(writer, tmp_path / "home", wheel)
        assert caught.value.path == str(wheel)
        assert writer.pid is None
        assert writer.settle() == []
        assert (elsewhere / "keep.txt").read_text() == "mine"

    def test_the_answer_outlives_a_writer_lost_after_it(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The site dir was renamed into place before the write's answer came: a writer
        killed afterwards takes nothing back."""
        ready(writer, tmp_path, factory)
        job = read_with_write(writer, tmp_path / "home", factory.build("hello", code=GREET))
        assert job is not None
        assert writer.send_ahead(job)
        assert writer.collect(job) is False
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert (job.target / "hello" / "__init__.py").is_file()
        assert writer.collect(job) is None  # answered once, by the writer now gone

    def test_a_writer_lost_while_it_writes_after_the_read(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A writer that ends once it answered the read, before the write's answer: the
        collect says the job is to be written again, and the host writes it itself."""
        monkeypatch.setattr(
            pluginhost.install.writer_process, "_BOOT", [sys.executable, "-I", "-c", _DIES]
        )
        ready(writer, tmp_path, factory)
        job = read_with_write(writer, tmp_path / "home", factory.build("hello", code=GREET))
        assert job is not None
        assert not job.target.exists()
        assert writer.collect(job) is None
        assert writer(job) is False  # written here, in this process
        assert (job.target / "hello" / "__init__.py").is_file()

    def test_the_read_is_answered_before_the_write(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The writer's answers to a read with a write: the read's first, naming the site dir
        not yet written (the host plans meanwhile), then the write's."""
        wheel = factory.build("hello", code=GREET)
        site, staging = tmp_path / "site", tmp_path / "staging"
        ahead = AheadMsg("greeter.plugins", str(site), str(staging), False, 0)
        message = read_message(wheel, os.lstat(wheel), WheelLimits(), ahead)
        payload = msgspec.msgpack.encode(message)
        answers = _serve(payload, decoder())
        read = next(answers)
        assert isinstance(read, ReadDone)
        assert read.target is not None
        target = Path(read.target)
        assert target.parent == site
        assert not target.exists()
        written = next(answers)
        assert isinstance(written, WriteDone)
        assert not written.reused
        assert (target / "hello" / "__init__.py").is_file()
        assert next(answers, None) is None

    def test_a_warning_of_the_read_is_logged_by_the_host(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        """A warning the writer logs while it reads a wheel reaches this process's handlers,
        under the logger that logged it, once; the writer prints nothing of it."""
        ready(writer, tmp_path, factory)
        capfd.readouterr()
        wheel = factory.build("hello", "2.0.0", code=GREET, requires_python=">=3.6.*")
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            assert read_with_write(writer, tmp_path / "home", wheel) is not None
        said = [r for r in caplog.records if "Requires-Python is ignored" in r.getMessage()]
        assert len(said) == 1
        assert said[0].name == metadata.logger.name  # as when this process reads it
        assert said[0].levelno == logging.WARNING
        assert str(wheel) in said[0].getMessage()
        assert writer.pid is not None  # read in the writer, not here
        assert "Requires-Python" not in capfd.readouterr().err


# A writer that does its jobs as the real one does, but ends once it answered a read that
# asked for a write, before writing.
_DIES = """
import os
import msgspec
from pluginhost.install import writer_messages as m
from pluginhost.install.writer_child import _serve
from pluginhost.state.frames import read_frame, write_frame
encoder, decoder = msgspec.msgpack.Encoder(), m.decoder()
write_frame(1, encoder.encode(m.WriterReady(m.PROTOCOL, os.getpid())))
while (payload := read_frame(0)) is not None:
    answers = _serve(payload, decoder)
    write_frame(1, encoder.encode(next(answers)))
    message = decoder.decode(payload)
    if isinstance(message, m.ReadMsg) and message.ahead is not None:
        os._exit(3)
    for answer in answers:
        write_frame(1, encoder.encode(answer))
"""


# A writer that does its jobs as the real one does, and answers each read as it would but
# naming a site dir outside the site root it was given (argv[1]) as written with the read.
_ELSEWHERE = """
import os, sys
import msgspec
from pluginhost.discover.reading import read_and_inspect
from pluginhost.install import writer_messages as m
from pluginhost.install.writer_child import _serve
from pluginhost.state.frames import read_frame, write_frame
encoder, decoder = msgspec.msgpack.Encoder(), m.decoder()
write_frame(1, encoder.encode(m.WriterReady(m.PROTOCOL, os.getpid())))
while (payload := read_frame(0)) is not None:
    message = decoder.decode(payload)
    if not isinstance(message, m.ReadMsg):
        for reply in _serve(payload, decoder):
            write_frame(1, encoder.encode(reply))
        continue
    reply = m.read_done(read_and_inspect(*m.read_of(message)))
    reply.target = sys.argv[1]
    write_frame(1, encoder.encode(reply))
    write_frame(1, encoder.encode(m.WriteDone(False, [])))
"""


class TestHost:
    def test_a_watching_host_swaps_through_its_writer(
        self,
        make_host: MakeHost,
        factory: WheelFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A host that watches a folder starts its writer with it; a dropped wheel's site dir
        is written there (with its bytecode), and stopping the host ends the writer."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        before = writers()
        factory.build("hello", code=greet_code("v1"))
        host = make_host()
        started = writers() - before
        assert len(started) == 1
        deadline = time.monotonic() + 30
        version = 1
        while True:  # the writer is ready once a site dir comes with bytecode
            version += 1
            factory.build("hello", f"1.0.{version}", code=greet_code(f"v{version}"))
            assert host.wait_idle(20)
            assert host.hook.greet(name="x") == [f"v{version}"]
            site = host.plugins["hello"].site_dir
            assert site is not None
            if any(site.rglob("*.pyc")) or time.monotonic() > deadline:
                break
        assert any(site.rglob("*.pyc"))
        host.stop()
        deadline = time.monotonic() + 10
        while writers() & started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not writers() & started

    def test_a_wheel_written_ahead_and_not_chosen_leaves_no_site_dir(
        self,
        make_host: MakeHost,
        factory: WheelFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The writer starts on each wheel a look reads while the host plans; one the plan
        refuses (made for another host API) leaves no site dir once the change is over."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        factory.build("hello", code=greet_code("v1"))
        host = make_host()
        sites = host.home / "site"
        deadline = time.monotonic() + 30
        version, serving = 1, "1.0.0"  # the writer may be ready before the loop runs once
        while host._engine.sites.writer_pid is None:  # the test peeks: no API tells it
            assert time.monotonic() < deadline, "the site writer never said it is ready"
            version += 1
            serving = f"1.0.{version}"
            factory.build("hello", serving, code=greet_code(f"v{version}"))
            assert host.wait_idle(20)
            time.sleep(0.05)
        factory.build("hello", "9.0.0", code=greet_code("v9"), host=">=99")
        assert host.wait_idle(20)
        assert host.hook.greet(name="x") == [f"v{version}"]
        assert host.plugins["hello"].version == serving
        assert not list(sites.glob("hello-9.0.0-*"))
        assert not any((host.home / "staging").iterdir())

    def test_a_kept_versions_site_dir_read_again_and_not_chosen_stays(
        self,
        make_host: MakeHost,
        factory: WheelFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """After a restart, the wheel of the version kept for a rollback is read again
        (rewritten with the same bytes) while a newer one serves: the writer is sent it ahead
        and finds its site dir there. The change over, that site dir is still there, and the
        rollback uses it."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        kept = factory.build("hello", "1.0.0", code=greet_code("v1"))
        host = make_host()
        kept_site = host.plugins["hello"].site_dir
        assert kept_site is not None
        factory.build("hello", "2.0.0", code=greet_code("v2"))
        assert host.wait_idle(20)
        host.stop()
        host = make_host()  # restored: the kept site dir is not verified in this process
        assert host.hook.greet(name="x") == ["v2"]
        deadline = time.monotonic() + 30
        serial = 0
        # At least one: a writer ready before the first look (a slow start) made none.
        while serial == 0 or host._engine.sites.writer_pid is None:  # the test peeks: no API
            assert time.monotonic() < deadline, "the site writer never said it is ready"
            serial += 1
            factory.build("other", f"1.0.{serial}", code=greet_code("other"))
            assert host.wait_idle(20)
            time.sleep(0.05)
        data = kept.read_bytes()
        kept.unlink()
        kept.write_bytes(data)  # the same bytes: the same site dir, which is there
        assert host.wait_idle(20)
        assert sorted(host.hook.greet(name="x")) == ["other", "v2"]
        assert (kept_site / "hello" / "__init__.py").is_file()
        info = host.rollback("hello")
        assert (info.version, info.site_dir) == ("1.0.0", kept_site)

    def test_the_writer_boots_while_a_restart_restores(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A watching host starts its writer before it restores and reconciles: a plugin
        restored at a restart (nothing to install) finds the writer's process there already,
        booting on another core, rather than started once the start is done."""
        factory.build("looker", code=_LOOKS_FOR_WRITERS)
        make_host(home=tmp_path / "home").stop()
        before = writers()
        host = make_host(home=tmp_path / "home")
        (seen,) = host.hook.greet(name="x")
        assert set(map(int, seen.split())) - before, "no writer while the plugin was restored"

    def test_a_host_of_installed_plugins_starts_none(
        self, make_host: MakeHost, tmp_path: Path
    ) -> None:
        before = writers()
        make_host(watch=[], environment=True)
        assert writers() == before


class TestPrepare:
    def test_first_read_and_write_import_nothing(self, tmp_path: Path) -> None:
        """What :func:`~pluginhost.install.writer_child.prepare` imports before the greeting
        is all that a read of a wheel with a manifest, and the write of its site dir, import
        (their lazy imports took 20-30 ms of the first swap after a start). Run in a fresh
        ``python -I``, as the writer is."""
        wheel = WheelFactory(tmp_path / "wheels").build(
            "hello",
            "1.0.0",
            code=GREET,
            requires={"other": ">=1"},
            requires_dist=["attrs>=22; python_version >= '3.8'"],
            requires_python=">=3.10",
        )
        script = f"""
import os, sys
from pathlib import Path
from pluginhost.discover.archive import WheelLimits
from pluginhost.install import writer_child
from pluginhost.install.writer_messages import AheadMsg, ReadDone, WriteDone, read_message
writer_child.prepare()
before = set(sys.modules)
wheel = Path({str(wheel)!r})
site, staging = {str(tmp_path / "site")!r}, {str(tmp_path / "staging")!r}
ahead = AheadMsg("greeter.plugins", site, staging, True, 0)
reply, written = writer_child._read(read_message(wheel, os.lstat(wheel), WheelLimits(), ahead))
assert isinstance(reply, ReadDone) and reply.target is not None, reply
assert isinstance(written, WriteDone) and not written.reused and written.compiled, written
print(sorted(set(sys.modules) - before))
"""
        done = subprocess.run(
            [sys.executable, "-I", "-c", script],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"


_LOOKS_FOR_WRITERS = """
import os
from pathlib import Path

import pluggy

hookimpl = pluggy.HookimplMarker("greeter")


def _writers():
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"writer_child" in cmdline:
            found.add(int(entry.name))
    return found


SEEN = " ".join(map(str, sorted(_writers())))


@hookimpl
def greet(name):
    return SEEN
"""
