"""Reading a look's wheel in the site writer's process: the same verdict as in the host's, for
every kind of broken wheel; typed errors for files that cannot be read and for a writer lost
meanwhile; and a host that reads its folders' wheels there, except under ``trust="hashes"``."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ready, writers

import pluginhost.install.writer_process
from pluginhost import EventKind, ManifestError, PluginHost, WheelError
from pluginhost.discover.archive import WheelLimits
from pluginhost.discover.candidates import candidate_from_wheel
from pluginhost.discover.reading import (
    ELSEWHERE_MAX,
    WheelRead,
    elsewhere_allowed,
    inspected,
    read_and_inspect,
)
from pluginhost.discover.wheel import Inspection
from pluginhost.install.writer_messages import read_done, wheel_read
from pluginhost.install.writer_process import WriterProcess
from pluginhost.model.events import Event
from pluginhost.testing import BROKEN_KINDS, WheelFactory

MakeHost = Callable[..., PluginHost]
GREET = "def greet(name):\n    return 'hello'\n"


def verdict(found: Inspection | WheelError) -> object:
    """What a validation concluded, comparable across processes."""
    if isinstance(found, WheelError):
        return ("refused", str(found), found.plugin)
    return ("valid", found.info, sorted((i.filename, data) for i, data in found.kept_members()))


def made(found: Inspection | WheelError) -> object:
    """The candidate made of a validated wheel, or the text of its refusal."""
    if isinstance(found, WheelError):
        return str(found)
    try:
        return candidate_from_wheel(found, "greeter.plugins")
    except (WheelError, ManifestError) as exc:
        return str(exc)


def elsewhere(writer: WriterProcess, path: Path, limits: WheelLimits = WheelLimits()) -> WheelRead:
    done = writer.read_wheel(path, os.lstat(path), limits)
    assert done is not None, "the writer was ready"
    return done


class TestInTheWriter:
    @pytest.mark.parametrize("kind", [None, *BROKEN_KINDS])
    def test_same_verdict_as_the_host(
        self, kind: str | None, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Valid or broken in any way, a wheel read in the writer is what it is read here:
        the same bytes and digest, the same refusal (text and plugin), or the same
        declarations and kept manifest."""
        ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET, broken=kind)
        done = elsewhere(writer, path)
        assert done.data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        valid = isinstance(done.inspected, Inspection)
        assert done.data.data == (path.read_bytes() if valid else b"")
        here = inspected(path, None, WheelLimits())
        assert verdict(done.inspected) == verdict(here)
        assert made(done.inspected) == made(here)

    def test_the_same_candidate(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The manifest kept by the writer makes the candidate the host would make."""
        ready(writer, tmp_path, factory)
        path = factory.build("hello", "2.1.0", code=GREET, requires={"base": ">=1.0"})
        done = elsewhere(writer, path)
        assert isinstance(done.inspected, Inspection)
        here = inspected(path, None, WheelLimits())
        assert isinstance(here, Inspection)
        made = candidate_from_wheel(done.inspected, "greeter.plugins")
        assert made is not None
        assert made == candidate_from_wheel(here, "greeter.plugins")
        assert str(made.version) == "2.1.0"
        assert made.manifest.requires

    def test_an_oversized_manifest_is_refused_as_here(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The kept manifest carries its declared size: the manifest limit refuses it in the
        host as it would have, as a manifest error naming the member."""
        ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET)
        limits = WheelLimits(max_manifest_size=16)
        done = elsewhere(writer, path, limits)
        assert isinstance(done.inspected, Inspection)
        with pytest.raises(ManifestError) as there:
            candidate_from_wheel(done.inspected, "greeter.plugins", limits)
        here = inspected(path, None, limits)
        assert isinstance(here, Inspection)
        with pytest.raises(ManifestError) as by_host:
            candidate_from_wheel(here, "greeter.plugins", limits)
        assert str(there.value) == str(by_host.value)
        assert "plugin.toml" in str(there.value)

    def test_a_fifo_is_refused_unopened(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A FIFO named like a wheel: a typed error naming the file, and the writer (which
        must not block opening it) answers the next read."""
        ready(writer, tmp_path, factory)
        fifo = tmp_path / "evil-1.0.0-py3-none-any.whl"
        os.mkfifo(fifo)
        with pytest.raises(WheelError, match=r"not a regular file|is a FIFO") as refused:
            writer.read_wheel(fifo, os.lstat(fifo), WheelLimits())
        assert refused.value.path == str(fifo)
        assert isinstance(elsewhere(writer, factory.build("hello", code=GREET)), WheelRead)

    @pytest.mark.parametrize(
        ("change", "refusal"), [("replaced", "replaced"), ("removed", "cannot read the file")]
    )
    def test_a_file_changed_since_its_lstat(
        self,
        change: str,
        refusal: str,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
    ) -> None:
        """The file the writer opens must be the one the look's ``lstat`` saw, and one gone
        since is a typed refusal naming it."""
        ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET)
        seen = os.lstat(path)
        if change == "replaced":
            os.replace(factory.build("other", code=GREET), path)
        else:
            path.unlink()
        with pytest.raises(WheelError, match=refusal) as refused:
            writer.read_wheel(path, seen, WheelLimits())
        assert refused.value.path == str(path)

    def test_not_ready_reads_nothing(self, writer: WriterProcess, factory: WheelFactory) -> None:
        """Before the writer said it is ready, the host reads the file itself."""
        path = factory.build("hello", code=GREET)
        assert writer.read_wheel(path, os.lstat(path), WheelLimits()) is None

    def test_a_writer_lost_refuses_the_read_then_leaves_it_here(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A writer killed before it answered: the file is refused now, with a typed error
        naming it (not read in the host behind its back), and the next read is the host's
        while a new writer starts."""
        pid = ready(writer, tmp_path, factory)
        os.kill(pid, signal.SIGKILL)
        path = factory.build("hello", code=GREET)
        with pytest.raises(WheelError, match="site writer was lost") as lost:
            writer.read_wheel(path, os.lstat(path), WheelLimits())
        assert lost.value.path == str(path)
        assert writer.read_wheel(path, os.lstat(path), WheelLimits()) is None
        assert ready(writer, tmp_path, factory) != pid
        assert isinstance(elsewhere(writer, path), WheelRead)

    def test_a_writer_that_greets_with_garbage_leaves_the_read_here(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        garbage_writer: None,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A writer lost before the read was sent: nothing is refused, the host reads."""
        writer.start()
        path = factory.build("hello", code=GREET)
        deadline = time.monotonic() + 30
        with caplog.at_level(logging.WARNING, logger=pluginhost.install.writer_process.__name__):
            while not any("garbage" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the garbage greeting never arrived"
                assert writer.read_wheel(path, os.lstat(path), WheelLimits()) is None
                time.sleep(0.05)
        assert writer.read_wheel(path, os.lstat(path), WheelLimits()) is None


class TestHere:
    def test_read_and_inspect_leaves_a_large_file(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A wheel over the bound is the host's to read: no verdict, and no refusal."""
        path = factory.build("big", code=GREET, files={"big/data.bin": os.urandom(ELSEWHERE_MAX)})
        assert read_and_inspect(path, os.lstat(path), WheelLimits()) is None

    def test_allowed(self, factory: WheelFactory, tmp_path: Path) -> None:
        """Only a regular file of a size the bound admits, and never under hashes."""
        path = factory.build("hello", code=GREET)
        st = os.lstat(path)
        assert elsewhere_allowed(st, hashes=False)
        assert not elsewhere_allowed(st, hashes=True)
        assert not elsewhere_allowed(None, hashes=False)
        link = tmp_path / "link.whl"
        link.symlink_to(path)
        assert not elsewhere_allowed(os.lstat(link), hashes=False)
        (tmp_path / "empty.whl").touch()
        assert not elsewhere_allowed(os.lstat(tmp_path / "empty.whl"), hashes=False)

    @pytest.mark.parametrize("kind", [None, "bad-record-hash"])
    def test_the_answer_round_trips(self, kind: str | None, factory: WheelFactory) -> None:
        """What the writer sends back is what it read."""
        path = factory.build("hello", code=GREET, broken=kind)
        done = read_and_inspect(path, os.lstat(path), WheelLimits())
        assert done is not None
        back = wheel_read(read_done(done))
        assert back.data.sha256 == done.data.sha256
        if kind is None:
            assert back.data == done.data
        assert verdict(back.inspected) == verdict(done.inspected)


def io_of(pid: int, field: str) -> int:
    """A count of ``/proc/<pid>/io``: ``rchar`` (bytes read: files and pipes), ``wchar``."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/io")


def writer_of(host: PluginHost, before: set[int]) -> int:
    """The site writer ``host`` started (among this process's, not in ``before``), once it
    has greeted (written its first bytes)."""
    deadline = time.monotonic() + 30
    while True:
        started = writers() - before
        if len(started) == 1 and io_of(pid := next(iter(started)), "wchar") > 0:
            return pid
        assert time.monotonic() < deadline, "the site writer never said it is ready"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/<pid>/io")
class TestHost:
    SIZE = 256 * 1024

    def drop_refused(self, factory: WheelFactory, host: PluginHost) -> Path:
        """A wheel too big to pass unread, refused (so that no install sends it again)."""
        path = factory.build(
            "bad",
            code=GREET,
            broken="bad-record-hash",
            files={"bad/blob.bin": os.urandom(self.SIZE)},
        )
        assert host.wait_idle(30)
        return path

    def test_a_folders_wheel_is_read_by_the_writer(
        self, make_host: MakeHost, factory: WheelFactory, events: list[Event]
    ) -> None:
        """The wheel dropped into a watched folder is read in the writer's process (it reads
        the file's bytes), and refused there as the host would."""
        others = writers()
        host = make_host()
        pid = writer_of(host, others)
        before = io_of(pid, "rchar")
        path = self.drop_refused(factory, host)
        assert io_of(pid, "rchar") - before >= self.SIZE
        refused = [e for e in events if e.kind is EventKind.REFUSED and e.origin == str(path)]
        assert refused
        assert "RECORD" in (refused[-1].error or "")

    def test_under_hashes_the_writer_reads_nothing(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Under ``trust="hashes"`` the hash is checked before the archive is parsed: the
        host reads and hashes the file itself, and the writer is not asked."""
        trusted = tmp_path / "trusted.txt"
        trusted.write_text("")
        others = writers()
        host = make_host(trust="hashes", trust_file=trusted)
        pid = writer_of(host, others)
        before = io_of(pid, "rchar")
        self.drop_refused(factory, host)
        assert io_of(pid, "rchar") - before < self.SIZE
