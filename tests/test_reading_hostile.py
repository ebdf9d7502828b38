"""Hostile wheels against the site writer's reading: wheels of a few kilobytes that took a
minute to validate, that made an answer too large to cross, paths the messages could not carry,
and files changed between the look's ``lstat`` and the writer's open. Each is the file's own
problem, with the verdict the host would give, and the writer is not lost."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ready, writers
from test_reading import GREET, elsewhere, verdict, writer_of

from pluginhost import PluginHost, WheelError
from pluginhost.discover.archive import WheelLimits
from pluginhost.discover.reading import ELSEWHERE_MAX, WheelRead, inspected
from pluginhost.discover.wheel import Inspection
from pluginhost.install.writer_process import WriterProcess
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
CODE = "import pluggy\nhookimpl = pluggy.HookimplMarker('greeter')\n@hookimpl\ndef greet(name):\n"


def _row(name: str, body: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(body)}\n"


def wheel(folder: Path, dist: str, *, metadata: str = "", entry_points: str | None = None) -> Path:
    """A valid plugin wheel of ``dist`` whose METADATA ends with ``metadata``."""
    info = f"{dist}-1.0.0.dist-info"
    head = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\n"
    members = {
        f"{dist}/__init__.py": f"{CODE}    return {dist!r}\n".encode(),
        f"{info}/METADATA": f"{head}{metadata}".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": (
            entry_points or f"[greeter.plugins]\n{dist} = {dist}\n"
        ).encode(),
    }
    record = "".join(_row(name, body) for name, body in members.items()) + f"{info}/RECORD,,\n"
    path = folder / f"{dist}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in [*members.items(), (f"{info}/RECORD", record.encode())]:
            archive.writestr(name, body)
    return path


def slow_metadata(size: int) -> str:
    """``Requires-Dist`` lines, each parsed by packaging (about 1.5 s a MiB), varied enough to
    deflate under the member ratio limit of 200."""
    rnd = random.Random(0)
    lines = [
        f"Requires-Dist: {rnd.getrandbits(64):x}\n" if i % 150 == 0 else "Requires-Dist: a\n"
        for i in range(size // 17)
    ]
    return "".join(lines)


def long_group(entries: int) -> str:
    """An entry point group named by 1 MB of text, holding ``entries`` entry points."""
    return "[" + "g" * 1_000_000 + "]\n" + "".join(f"k{i} = v\n" for i in range(entries))


class TestCost:
    def test_a_large_metadata_is_refused_before_it_is_parsed(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Two MiB of Requires-Dist in a wheel of 20 kB (seconds of parsing, a minute for 40
        MiB): refused on its declared size, in the writer as in the host."""
        ready(writer, tmp_path, factory)
        path = wheel(tmp_path, "slow", metadata=slow_metadata(2 * 1024 * 1024))
        assert path.stat().st_size < 64 * 1024
        done = elsewhere(writer, path)
        assert isinstance(done.inspected, WheelError)
        assert "METADATA is 2" in str(done.inspected)
        assert "over the limit of 1048576" in str(done.inspected)
        assert verdict(done.inspected) == verdict(inspected(path, None, WheelLimits()))

    def test_a_default_section_is_one_group(self, tmp_path: Path) -> None:
        """``[DEFAULT]`` in entry_points.txt is a group like another, as importlib.metadata
        reads it: its keys are not copied into each section (300 keys and 3,000 sections of
        25 kB made 900,000 entry points)."""
        text = "[greeter.plugins]\nmany = many\n[DEFAULT]\n"
        text += "".join(f"d{i} = v\n" for i in range(300))
        text += "".join(f"[s{i}]\n" for i in range(3000))
        found = inspected(wheel(tmp_path, "many", entry_points=text), None, WheelLimits())
        assert isinstance(found, Inspection)
        groups = [ep.group for ep in found.info.entry_points]
        assert groups == ["greeter.plugins"] + ["DEFAULT"] * 300


class TestAnswer:
    def test_a_long_group_name_is_sent_once(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A group named by 1 MB of text with 300 entry points, in a wheel of 3 kB: the answer
        names the group once (not 300 MB, past a frame's limit: the writer was lost), and the
        verdict is the host's."""
        pid = ready(writer, tmp_path, factory)
        path = wheel(
            tmp_path, "grp", entry_points="[greeter.plugins]\ngrp = grp\n" + long_group(300)
        )
        done = elsewhere(writer, path)
        assert verdict(done.inspected) == verdict(inspected(path, None, WheelLimits()))
        assert writer.pid == pid

    def test_a_path_not_utf8_is_read_by_the_host(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A path of bytes that are not UTF-8 cannot cross: the host reads the file (it failed
        untyped, "reading it failed unexpectedly"), and the writer answers the next read."""
        pid = ready(writer, tmp_path, factory)
        folder = tmp_path / os.fsdecode(b"wheels-\xff")
        folder.mkdir()
        path = wheel(folder, "odd")
        assert writer.read_wheel(path, os.lstat(path), WheelLimits()) is None
        assert isinstance(
            elsewhere(writer, factory.build("hello", code=GREET)).inspected, Inspection
        )
        assert writer.pid == pid


class TestRaces:
    def test_a_file_grown_past_the_bound_is_left_to_the_host(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The same file, grown past what the writer reads since its ``lstat``: the host reads
        it (it was refused, "read by the host", which it was not)."""
        ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET)
        seen = os.lstat(path)
        with path.open("ab") as grown:
            grown.write(os.urandom(ELSEWHERE_MAX))
        assert writer.read_wheel(path, seen, WheelLimits()) is None

    @pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
    def test_a_file_swapped_after_its_lstat(
        self, kind: str, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A FIFO, a link or a directory put in the wheel's place after the look's ``lstat``:
        a typed refusal naming the file, at once (a FIFO must not block the writer), and the
        writer is not lost."""
        pid = ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET)
        seen = os.lstat(path)
        path.unlink()
        swap = {"fifo": os.mkfifo, "directory": os.mkdir}
        swap.get(kind, lambda p: os.symlink(factory.build("other", code=GREET), p))(path)
        with pytest.raises(WheelError, match=r"replaced|not a regular file") as refused:
            writer.read_wheel(path, seen, WheelLimits())
        assert refused.value.path == str(path)
        assert writer.pid == pid

    def test_a_file_cut_short_after_its_lstat(
        self, writer: WriterProcess, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The file truncated after the look's ``lstat``: what it holds is refused, as the
        host refuses it."""
        pid = ready(writer, tmp_path, factory)
        path = factory.build("hello", code=GREET)
        seen = os.lstat(path)
        os.truncate(path, seen.st_size // 2)
        done = elsewhere_after(writer, path, seen)
        assert isinstance(done.inspected, WheelError)
        assert verdict(done.inspected) == verdict(inspected(path, None, WheelLimits()))
        assert writer.pid == pid


def elsewhere_after(writer: WriterProcess, path: Path, seen: os.stat_result) -> WheelRead:
    done = writer.read_wheel(path, seen, WheelLimits())
    assert done is not None, "the writer was ready"
    return done


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/<pid>/io")
class TestHost:
    def test_three_long_groups_do_not_lose_the_writer(
        self, make_host: MakeHost, factory: WheelFactory, wheels: Path
    ) -> None:
        """Three wheels of 3 kB whose answers were past a frame's limit lost the writer three
        times (for good: no writer after three losses), and were refused though valid. They
        load, and the writer that read them still serves."""
        others = writers()
        factory.build("hello", code=f"{CODE}    return 'hello'\n")
        host = make_host()
        pid = writer_of(host, others)
        for i in range(3):
            group = f"[greeter.plugins]\nevil{i} = evil{i}\n" + long_group(300)
            wheel(wheels, f"evil{i}", entry_points=group)
            assert host.wait_idle(60)
        assert sorted(host.hook.greet(name="x")) == ["evil0", "evil1", "evil2", "hello"]
        assert writers() - others == {pid}

    def test_a_folder_not_utf8_swaps(
        self, make_host: MakeHost, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """A watched folder whose name is not UTF-8: once the writer is ready, a new version
        dropped there replaces the serving one (it was refused, "failed unexpectedly")."""
        folder = tmp_path / os.fsdecode(b"plugins-\xff")
        folder.mkdir()
        odd = WheelFactory(folder, group="greeter.plugins")
        odd.build("hello", "1.0.0", code=f"{CODE}    return '1.0.0'\n")
        others = writers()
        host = make_host(watch=[folder])
        writer_of(host, others)
        odd.build("hello", "2.0.0", code=f"{CODE}    return '2.0.0'\n")
        assert host.wait_idle(60)
        assert host.hook.greet(name="x") == ["2.0.0"]
