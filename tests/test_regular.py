"""Only regular files are read: wheels (in a folder, given to install(), to ``inspect``), the
trust file; a FIFO, a device, a socket, a directory or a link is refused at once, never waited
on, and nothing blocks while the host holds its lock."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from test_hostile import LIMITS, Scene, marker_code

from pluginhost import Event, EventKind, PluginHost, ProblemKind, TrustError, WheelError
from pluginhost.discover.archive import hash_wheel_file, read_wheel_bytes
from pluginhost.discover.report import WheelReport
from pluginhost.discover.trust import TrustGate
from pluginhost.state.audit import read_audit
from pluginhost.state.regular import (
    NotRegularFileError,
    TooLargeError,
    open_regular,
    read_open,
    read_regular,
    read_small,
)
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
WHEEL = "hello-1.1.0-py3-none-any.whl"
SECONDS = 20.0
T = TypeVar("T")


def within(call: Callable[[], T]) -> T:
    """``call()`` on a thread, which must end within :data:`SECONDS` (a FIFO opened or a
    device read the ordinary way would never end)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(SECONDS)
    assert not thread.is_alive(), f"still blocked after {SECONDS}s"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]  # type: ignore[return-value]


def make_special(path: Path, kind: str) -> str:
    """Make a file of ``kind`` at ``path``; returns how the refusal names that kind."""
    if kind == "fifo":
        os.mkfifo(path, 0o600)
        return "is a FIFO, not a regular file"
    if kind == "socket":
        os.mknod(path, 0o600 | stat.S_IFSOCK)
        return "is a socket, not a regular file"
    if kind == "directory":
        path.mkdir(mode=0o700)
        return "is a directory, not a regular file"
    if kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
        except PermissionError:
            pytest.skip("making a device node needs root (CAP_MKNOD)")
        return "is a character device, not a regular file"
    raise AssertionError(kind)


KINDS = ["fifo", "socket", "directory", "device"]


class TestOpenRegular:
    @pytest.mark.parametrize("kind", KINDS)
    def test_refused_at_once(self, tmp_path: Path, kind: str) -> None:
        """A FIFO, socket, directory or device is refused before it is opened."""
        path = tmp_path / "x"
        reason = make_special(path, kind)
        with pytest.raises(NotRegularFileError) as caught:
            within(lambda: open_regular(path))
        assert str(caught.value) == reason
        assert caught.value.filename == str(path)

    def test_link_not_followed(self, tmp_path: Path) -> None:
        """A symbolic link is refused, even to a regular file."""
        (tmp_path / "real").write_bytes(b"x")
        (tmp_path / "link").symlink_to(tmp_path / "real")
        with pytest.raises(NotRegularFileError, match="is a symbolic link"):
            open_regular(tmp_path / "link")

    def test_regular_file_read(self, tmp_path: Path) -> None:
        """A regular file is read whole; one over the bound is refused."""
        path = tmp_path / "x"
        path.write_bytes(b"12345")
        assert read_regular(path, max_size=5) == b"12345"
        with pytest.raises(NotRegularFileError, match="is 5 bytes, over the limit of 4"):
            read_regular(path, max_size=4)

    def test_owner(self, tmp_path: Path) -> None:
        """A file of another user than the one required is refused."""
        path = tmp_path / "x"
        path.write_bytes(b"x")
        other = os.geteuid() + 1
        with pytest.raises(NotRegularFileError, match=f"not by uid {other}"):
            read_regular(path, max_size=10, owner=other)


class TestReadSmall:
    @pytest.mark.parametrize("kind", KINDS)
    def test_refused_at_once(self, tmp_path: Path, kind: str) -> None:
        """A FIFO, socket, directory or device is refused, never blocking, never read."""
        path = tmp_path / "x"
        reason = make_special(path, kind)
        with pytest.raises(NotRegularFileError) as caught:
            within(lambda: read_small(str(path), max_size=10))
        assert str(caught.value) == reason
        assert caught.value.filename == str(path)

    def test_link_not_followed(self, tmp_path: Path) -> None:
        """A symbolic link is refused: one to /dev/zero read for ever."""
        (tmp_path / "link").symlink_to("/dev/zero")
        with pytest.raises(NotRegularFileError, match="is a symbolic link"):
            within(lambda: read_small(str(tmp_path / "link"), max_size=10))

    @pytest.mark.parametrize("size", [0, 1, 4, 5])
    def test_regular_file_read(self, tmp_path: Path, size: int) -> None:
        """A regular file is read whole, up to the bound."""
        path = tmp_path / "x"
        path.write_bytes(b"12345"[:size])
        assert read_small(str(path), max_size=5) == b"12345"[:size]

    def test_over_the_bound(self, tmp_path: Path) -> None:
        """A file over the bound is refused."""
        path = tmp_path / "x"
        path.write_bytes(b"12345")
        with pytest.raises(NotRegularFileError, match="is 5 bytes, over the limit of 4"):
            read_small(str(path), max_size=4)

    def test_missing(self, tmp_path: Path) -> None:
        """A missing file is the OSError of the open."""
        with pytest.raises(FileNotFoundError):
            read_small(str(tmp_path / "x"), max_size=10)


class TestReadOpen:
    def test_a_file_that_grew_since_its_fstat_is_read_to_the_limit(self, tmp_path: Path) -> None:
        """The size ``fstat`` gave is not trusted: a file that grew past the limit once it
        was looked at is refused on what is read, with no more than the limit held."""
        path = tmp_path / "x"
        path.write_bytes(b"{}")
        fd, st = open_regular(path)
        try:
            os.truncate(path, 3 * 1024 * 1024)
            with pytest.raises(TooLargeError) as caught:
                read_open(fd, path, st, max_size=2 * 1024 * 1024)
        finally:
            os.close(fd)
        assert (caught.value.size, caught.value.limit) == (None, 2 * 1024 * 1024)
        assert str(caught.value) == f"holds over {2 * 1024 * 1024} bytes, the limit"

    def test_too_large_at_once(self, tmp_path: Path) -> None:
        """A file larger than the limit by its ``fstat`` is refused with its size."""
        path = tmp_path / "x"
        path.write_bytes(b"")
        os.truncate(path, 1025)
        fd, st = open_regular(path)
        try:
            with pytest.raises(TooLargeError, match="is 1025 bytes, over the limit of 1024"):
                read_open(fd, path, st, max_size=1024)
        finally:
            os.close(fd)


class TestWheelReaders:
    @pytest.mark.parametrize("kind", KINDS)
    def test_read_wheel_bytes(self, tmp_path: Path, kind: str) -> None:
        """Reading a wheel's bytes, or hashing a large one, refuses the file at once."""
        path = tmp_path / WHEEL
        reason = make_special(path, kind)
        with pytest.raises(NotRegularFileError, match=reason):
            within(lambda: read_wheel_bytes(path))
        with pytest.raises(NotRegularFileError, match=reason):
            within(lambda: hash_wheel_file(path, 1 << 30))

    @pytest.mark.parametrize("kind", KINDS)
    def test_inspect_command(self, tmp_path: Path, kind: str) -> None:
        """``pluginhost inspect`` reports the refusal instead of waiting on the file."""
        path = tmp_path / WHEEL
        reason = make_special(path, kind)
        report = within(lambda: WheelReport.read(path).to_json())
        assert not report["ok"]
        assert report["refused"] == [f"cannot read the file: {reason}"]

    def test_inspect_follows_a_link_it_is_given(
        self, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """A link named on the command line is followed, as install() follows it."""
        wheel = factory.build("hello", code="")
        link = tmp_path / WHEEL
        link.symlink_to(wheel)
        assert WheelReport.read(link).ok


@pytest.fixture
def scene(tmp_path: Path, make_host: MakeHost, factory: WheelFactory) -> Scene:
    marker = tmp_path / "imported.txt"
    factory.build("hello", "1.0.0", code=marker_code(marker, "1.0.0"))
    host = make_host(limits=LIMITS)
    marker.unlink()
    return Scene(tmp_path, host, factory)


class TestHost:
    @pytest.mark.parametrize("kind", KINDS)
    def test_install_refuses_at_once(self, scene: Scene, events: list[Event], kind: str) -> None:
        """install() of a special file named like a wheel is refused without blocking, and the
        host's lock is free again at once: the five promises hold."""
        elsewhere = scene.tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        path = elsewhere / WHEEL
        reason = make_special(path, kind)
        with pytest.raises(WheelError) as caught:
            within(lambda: scene.host.install(path))
        assert caught.value.reason == f"cannot read the file: {reason}"
        assert str(caught.value).startswith(f"{path}: ")
        scene.assert_contained(path, events)
        within(scene.host.load_order)  # the lock is free

    def test_install_dev_zero(self, make_host: MakeHost, factory: WheelFactory) -> None:
        """/dev/zero itself (strict modes relaxed, which would refuse it as writable by all)."""
        factory.build("hello", "1.0.0", code="")
        host = make_host(strict_modes=False)
        with pytest.raises(WheelError, match="is a character device, not a regular file"):
            within(lambda: host.install("/dev/zero"))
        assert host.load_order() == ("hello",)

    @pytest.mark.parametrize("kind", KINDS)
    def test_in_a_watched_folder(self, scene: Scene, events: list[Event], kind: str) -> None:
        """A special file in a watched folder is refused without blocking, naming it and what
        it is; the host goes on serving: the five promises hold."""
        path = scene.factory.directory / WHEEL
        reason = make_special(path, kind)
        scene.factory.build("polite", code="")  # a change, so that the folder is looked at
        assert within(scene.host.wait_idle)
        assert scene.host.load_order() == ("hello", "polite")
        assert scene.host.hook.greet(name="x") == ["1.0.0"]
        assert not scene.marker.exists()
        (problem,) = [p for p in scene.host.problems() if p.path == str(path)]
        assert problem.kind is ProblemKind.WHEEL_INVALID
        assert reason in problem.message
        [event] = [e for e in events if e.origin == str(path)]
        assert event.kind is EventKind.REFUSED
        assert reason in (event.error or "")
        audited = [e for e in read_audit(scene.host.audit_log) if getattr(e, "origin", None)]
        assert [e.action for e in audited if e.origin == str(path)] == ["refusal"]


class TestTrustFile:
    @pytest.mark.parametrize("kind", KINDS)
    def test_special_trust_file(self, tmp_path: Path, kind: str) -> None:
        """A trust file that is not a regular file trusts nothing, at once."""
        path = tmp_path / "trusted.txt"
        reason = make_special(path, kind)
        gate = TrustGate(mode="hashes", trust_file=path)
        with pytest.raises(TrustError, match=f"cannot read the trust file: {reason}"):
            within(gate.trusted)
        within(gate.fingerprint)

    def test_oversized_trust_file(self, tmp_path: Path) -> None:
        """A trust file over 4 MiB is refused, not read whole."""
        path = tmp_path / "trusted.txt"
        with path.open("wb") as stream:
            stream.truncate(4 * 1024 * 1024 + 1)
        with pytest.raises(TrustError, match="over the limit of 4194304"):
            TrustGate(mode="hashes", trust_file=path).trusted()
