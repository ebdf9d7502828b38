"""File system faults: a full disk, a read-only home, permission denied and a site dir on another
device, met while installing, committing the registry, removing and rolling back.

Each fault is made two ways. Always: the operating system call fails on purpose, at the seam
every pluginhost write goes through (``pluginhost.state.fs``), with the ``OSError`` the kernel
gives.
As root where mounts are allowed: for real, on a small tmpfs that is filled, remounted read-only,
or mounted over ``site/``. Either way the fault must be a typed error naming the plugin, the file
and the reason, the version serving before must serve on, events must say what happened, staging
must be empty, and the registry on disk must be what it was; once the fault is gone, the next
change goes through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

from pluginhost import (
    Event,
    EventKind,
    HostStateError,
    InstallError,
    PluginHost,
    StoreError,
    VersionPolicy,
)
from pluginhost.install import writer_process
from pluginhost.state import fs as _fs
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

# The words an operator reads for each errno, as pluginhost.state.fs.describe says them.
MEANING = {
    errno.ENOSPC: "disk full (ENOSPC)",
    errno.EROFS: "read-only file system (EROFS)",
    errno.EACCES: "permission denied (EACCES)",
    errno.EPERM: "permission denied (EPERM)",
}
FAULTS = list(MEANING)


class Disk:
    """Makes the file operations of ``pluginhost.state.fs`` fail on chosen paths, until healed."""

    def __init__(self) -> None:
        self._patch = pytest.MonkeyPatch()

    def fail(self, operation: str, code: int, where: Callable[[Path], bool]) -> None:
        """Make ``_fs.<operation>`` raise ``OSError(code)`` when a path it is given is ``where``.

        The faults are made in this process: the site writer (another process) is kept off
        until healed, so that every install meets them. The tmpfs tests meet real ones in it.
        """
        self._patch.setattr(writer_process, "_GIVE_UP", 0)
        real = getattr(_fs, operation)

        def failing(*args: Any, **kwargs: Any) -> Any:
            for arg in args:
                if isinstance(arg, Path) and where(arg):
                    raise OSError(code, os.strerror(code), str(arg))
            return real(*args, **kwargs)

        self._patch.setattr(_fs, operation, failing)

    def heal(self) -> None:
        self._patch.undo()


@pytest.fixture
def disk() -> Iterator[Disk]:
    faulty = Disk()
    yield faulty
    faulty.heal()


def under(folder: Path) -> Callable[[Path], bool]:
    return lambda path: path.is_relative_to(folder)


def registry_file(path: Path) -> bool:
    """The registry or one of its temp files and backup."""
    return path.name.startswith(("registry.json", ".registry.json"))


# Where an install writes, by operation and the place it fails: the staging dir, the stamp, and
# the rename into site/ (the wheel itself is held in memory, not copied).
INSTALL_WRITES = [
    ("make_temp_dir", "staging"),
    ("open_new", "staging"),
    ("make_dirs", "staging"),
    ("rename", "staging"),
]
# Where a commit of the registry writes: the temp file, its contents, its sync, the rename.
COMMIT_WRITES = ["open_new", "write", "fsync", "replace"]


def versions_on_disk(home: Path) -> list[str]:
    """The active versions as the registry on disk says."""
    data = AtomicJsonFile(home / "registry.json").read()
    assert data is not None
    return [r["candidate"]["version"] for r in data["active"]]


def sites_named(home: Path) -> set[str]:
    """The site dirs the registry on disk names, active or backups."""
    data = AtomicJsonFile(home / "registry.json").read()
    assert data is not None
    records = [*data["active"], *(r for rs in data["history"].values() for r in rs)]
    return {r["site_dir"] for r in records}


def answers(host: PluginHost) -> list[str]:
    return list(host.hook.greet(name="x"))


def leftovers(home: Path) -> list[str]:
    """Staging dirs, temp files and incoming copies in the home, by name."""
    try:
        staged = [p.name for p in (home / "staging").iterdir()]
        temps = [p.name for p in home.rglob("*") if ".tmp-" in p.name or "incoming" in p.name]
    except FileNotFoundError as exc:  # removed while listed: a change is under way
        return [f"(listing raced a removal: {exc.filename})"]
    return staged + temps


def check_untouched(host: PluginHost, home: Path, serving: str = "1.0.0") -> None:
    """What served before serves, as the registry on disk says; no leftovers in the home."""
    assert answers(host) == [serving]
    assert host.plugins["hello"].version == serving
    assert versions_on_disk(home) == [serving]
    # A change in progress (a retry, the status document written) makes such files for a
    # moment; one that failed must not leave them: only what stays is a leftover.
    assert eventually(lambda: leftovers(home) == []), leftovers(home)
    # A version that failed leaves no site dir behind.
    assert {p.name for p in (home / "site").iterdir() if p.is_dir()} == sites_named(home)


def failures(events: list[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind is kind and e.plugin == "hello"]


@pytest.fixture
def serving(make_host: MakeHost, factory: WheelFactory) -> PluginHost:
    """A live host serving hello 1.0.0 from the watched folder."""
    factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
    host = make_host(settle=0.05)
    assert answers(host) == ["1.0.0"]
    return host


@pytest.fixture
def outside(tmp_path: Path) -> WheelFactory:
    """Writes wheels outside the watched folder, for ``host.install()``."""
    return WheelFactory(tmp_path / "outside")


class TestInjectedInstallFaults:
    @pytest.mark.parametrize("code", FAULTS)
    @pytest.mark.parametrize(("operation", "place"), INSTALL_WRITES)
    def test_dropped_update_fails_and_old_serves(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        operation: str,
        place: str,
        code: int,
    ) -> None:
        """A drop the disk refuses is a load_failed naming plugin, wheel and reason; 1.0.0
        serves on; once the disk is healed, the next drop goes in."""
        home = tmp_path / "home"
        disk.fail(operation, code, under(home / place))
        wheel = factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)

        [failed] = failures(events, EventKind.LOAD_FAILED)
        assert failed.version == "1.1.0"
        assert failed.error_type == "pluginhost.InstallError"
        assert failed.error is not None
        assert MEANING[code] in failed.error
        assert str(wheel) in failed.error
        assert "plugin 'hello'" in failed.error
        [rolled] = failures(events, EventKind.ROLLED_BACK)
        assert (rolled.previous_version, rolled.version) == ("1.1.0", "1.0.0")
        assert failures(events, EventKind.UPDATED) == []
        check_untouched(serving, home)
        assert not list((home / "site").glob("hello-1.1.0-*"))

        disk.heal()
        factory.build("hello", "1.2.0", code=greet_code("1.2.0"))
        assert serving.wait_idle(20)
        check_untouched(serving, home, serving="1.2.0")

    @pytest.mark.parametrize("code", FAULTS)
    def test_install_raises_install_error(
        self,
        serving: PluginHost,
        outside: WheelFactory,
        disk: Disk,
        tmp_path: Path,
        code: int,
    ) -> None:
        """``host.install()`` raises the InstallError itself, with plugin, wheel and reason."""
        home = tmp_path / "home"
        wheel = outside.build("hello", "1.1.0", code=greet_code("1.1.0"))
        disk.fail("open_new", code, under(home / "staging"))
        with pytest.raises(InstallError) as info:
            serving.install(wheel)
        assert info.value.plugin == "hello"
        assert info.value.path == str(wheel)
        assert info.value.reason.startswith(f"cannot stamp the site dir: {MEANING[code]}")
        check_untouched(serving, home)
        disk.heal()
        assert serving.install(wheel).version == "1.1.0"
        check_untouched(serving, home, serving="1.1.0")


class TestInjectedCommitFaults:
    @pytest.mark.parametrize("code", FAULTS)
    @pytest.mark.parametrize("operation", COMMIT_WRITES)
    def test_update_switched_back_when_commit_fails(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        operation: str,
        code: int,
    ) -> None:
        """An update whose registry commit fails is switched back: 1.0.0 serves, as the
        registry on disk says, and the events say why."""
        home = tmp_path / "home"
        disk.fail(operation, code, registry_file)
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)

        [failed] = failures(events, EventKind.LOAD_FAILED)
        assert failed.error_type == "pluginhost.StoreError"
        assert failed.error is not None
        assert MEANING[code] in failed.error
        assert str(home / "registry.json") in failed.error
        [rolled] = failures(events, EventKind.ROLLED_BACK)
        assert (rolled.previous_version, rolled.version) == ("1.1.0", "1.0.0")
        assert failures(events, EventKind.UPDATED) == []
        check_untouched(serving, home)

        disk.heal()
        factory.build("hello", "1.2.0", code=greet_code("1.2.0"))
        assert serving.wait_idle(20)
        check_untouched(serving, home, serving="1.2.0")
        assert serving.status("hello").backups == ("1.0.0",)

    def test_failed_directory_sync_keeps_the_commit(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Once the registry is renamed into place the update is committed: a failing sync of
        its directory afterwards is a warning, and 1.1.0 serves, as the registry says."""
        home = tmp_path / "home"
        disk.fail("fsync_dir", errno.EIO, lambda path: path == home)
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)
        assert failures(events, EventKind.LOAD_FAILED) == []
        check_untouched(serving, home, serving="1.1.0")
        assert f"{home / 'registry.json'}: written, but its directory sync failed" in caplog.text

    @pytest.mark.parametrize("via", ["drop", "install"])
    def test_new_plugin_not_committed_is_not_loaded(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        outside: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        via: str,
    ) -> None:
        """A new plugin whose load cannot be committed is unloaded again: the active set stays
        what the registry says, ``install()`` raises the StoreError, events say why."""
        home = tmp_path / "home"
        disk.fail("open_new", errno.ENOSPC, registry_file)
        if via == "drop":
            factory.build("polite", "1.0.0", code=greet_code("polite"))
            assert serving.wait_idle(20)
        else:
            wheel = outside.build("polite", "1.0.0", code=greet_code("polite"))
            with pytest.raises(StoreError, match=r"disk full \(ENOSPC\)") as info:
                serving.install(wheel)
            assert info.value.plugin == "polite"
        [failed] = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert (failed.plugin, failed.error_type) == ("polite", "pluginhost.StoreError")
        assert serving.load_order() == ("hello",)
        check_untouched(serving, home)

        disk.heal()
        factory.build("polite", "1.0.1", code=greet_code("polite"))
        assert serving.wait_idle(20)
        assert serving.load_order() == ("hello", "polite")
        assert sorted(versions_on_disk(home)) == ["1.0.0", "1.0.1"]

    def test_install_raises_store_error(
        self, serving: PluginHost, outside: WheelFactory, disk: Disk, tmp_path: Path
    ) -> None:
        """``host.install()`` raises the StoreError of the commit, naming the registry."""
        home = tmp_path / "home"
        wheel = outside.build("hello", "1.1.0", code=greet_code("1.1.0"))
        disk.fail("replace", errno.ENOSPC, registry_file)
        with pytest.raises(StoreError, match=r"cannot write: disk full \(ENOSPC\)") as info:
            serving.install(wheel)
        assert info.value.plugin == "hello"
        assert info.value.path == str(home / "registry.json")
        check_untouched(serving, home)

    @pytest.mark.parametrize("code", FAULTS)
    def test_remove_refused_keeps_serving(
        self,
        serving: PluginHost,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        code: int,
    ) -> None:
        """A removal that cannot be committed removes nothing: StoreError, unload_failed."""
        home = tmp_path / "home"
        disk.fail("open_new", code, registry_file)
        with pytest.raises(StoreError, match=MEANING[code].replace("(", r"\(").replace(")", r"\)")):
            serving.remove("hello")
        [refused] = failures(events, EventKind.UNLOAD_FAILED)
        assert refused.error is not None
        assert str(home / "registry.json") in refused.error
        assert failures(events, EventKind.UNLOADING) == []
        check_untouched(serving, home)
        assert serving.load_order() == ("hello",)

        disk.heal()
        serving.remove("hello")
        assert answers(serving) == []
        assert versions_on_disk(home) == []

    def test_deleted_wheel_refused_keeps_serving(
        self,
        serving: PluginHost,
        wheels: Path,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A wheel deleted from the folder while the registry cannot be written: the plugin
        serves on (unload_failed), and goes at the next change in the folder once healed (or
        by itself at the next rescan interval, see TestRetryWhenTheDiskRecovers)."""
        home = tmp_path / "home"
        disk.fail("replace", errno.EROFS, registry_file)
        (wheels / "hello-1.0.0-py3-none-any.whl").unlink()
        assert serving.wait_idle(20)
        [refused] = failures(events, EventKind.UNLOAD_FAILED)
        assert refused.error is not None
        assert "read-only file system (EROFS)" in refused.error
        assert failures(events, EventKind.REMOVED) == []
        check_untouched(serving, home)
        # The worker that applied the folder change says so in the log, and carries on.
        assert "applying folder changes failed" in caplog.text

        disk.heal()
        factory.build("other", "1.0.0", code=greet_code("other"))
        assert serving.wait_idle(20)
        assert serving.load_order() == ("other",)
        assert [e.plugin for e in events if e.kind is EventKind.REMOVED] == ["hello"]

    def test_rollback_refused_keeps_current(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """A rollback that cannot be committed is undone: 1.1.0 serves, its backup stays."""
        home = tmp_path / "home"
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)
        assert answers(serving) == ["1.1.0"]
        disk.fail("replace", errno.EROFS, registry_file)
        with pytest.raises(StoreError) as info:
            serving.rollback("hello")
        assert info.value.plugin == "hello"
        assert "rollback to 1.0.0 failed; 1.1.0 stays active" in info.value.reason
        assert "read-only file system (EROFS)" in info.value.reason
        check_untouched(serving, home, serving="1.1.0")
        assert serving.status("hello").backups == ("1.0.0",)

        disk.heal()
        assert serving.rollback("hello").version == "1.0.0"
        check_untouched(serving, home)


def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class TestRetryWhenTheDiskRecovers:
    """A change the file system refused is tried again every rescan interval, by itself."""

    def test_refused_update_goes_in_once_healed(
        self,
        make_host: MakeHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """Refused for a full disk, then tried again each interval (and refused again) until
        the disk has room: then 1.1.0 goes in with no change in the folder."""
        home = tmp_path / "home"
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05, rescan_interval=0.2)
        disk.fail("open_new", errno.ENOSPC, under(home / "staging"))
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert eventually(lambda: len(failures(events, EventKind.LOAD_FAILED)) >= 2)
        check_untouched(host, home)
        disk.heal()
        assert eventually(lambda: host.plugins["hello"].version == "1.1.0")
        assert host.wait_idle(20)
        check_untouched(host, home, serving="1.1.0")

    def test_refused_removal_goes_through_once_healed(
        self,
        make_host: MakeHost,
        factory: WheelFactory,
        wheels: Path,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """A deleted wheel whose removal the registry refused is removed once it may be."""
        home = tmp_path / "home"
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05, rescan_interval=0.2)
        disk.fail("replace", errno.EROFS, registry_file)
        (wheels / "hello-1.0.0-py3-none-any.whl").unlink()
        assert eventually(lambda: len(failures(events, EventKind.UNLOAD_FAILED)) >= 2)
        assert answers(host) == ["1.0.0"]
        disk.heal()
        assert eventually(lambda: host.load_order() == ())
        assert versions_on_disk(home) == []


class TestInjectedCrossDevice:
    def test_site_on_another_device_is_copied_then_renamed(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        tmp_path: Path,
    ) -> None:
        """When staging/ and site/ are different file systems (EXDEV), the update still goes
        in whole: copied beside its place, then renamed; nothing is left behind."""
        home = tmp_path / "home"
        disk.fail("rename", errno.EXDEV, under(home / "staging"))
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)
        check_untouched(serving, home, serving="1.1.0")
        [site] = (home / "site").glob("hello-1.1.0-*")
        assert (site / ".pluginhost" / "wheel.sha256").is_file()
        assert [p.name for p in (home / "site").iterdir() if p.name.startswith(".")] == []

    def test_copy_across_devices_failing_is_an_install_error(
        self,
        serving: PluginHost,
        factory: WheelFactory,
        disk: Disk,
        events: list[Event],
        tmp_path: Path,
    ) -> None:
        """A full site/ during that copy fails the update cleanly: InstallError, no partial dir."""
        home = tmp_path / "home"
        disk.fail("rename", errno.EXDEV, under(home / "staging"))
        disk.fail("copy_tree", errno.ENOSPC, under(home / "site"))
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert serving.wait_idle(20)
        [failed] = failures(events, EventKind.LOAD_FAILED)
        assert failed.error is not None
        assert "cannot move the site dir into place: disk full (ENOSPC)" in failed.error
        check_untouched(serving, home)
        assert sorted(p.name for p in (home / "site").iterdir()) == [
            serving.plugins["hello"].site_dir.name  # type: ignore[union-attr]
        ]


class TestInjectedHomeFaults:
    @pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
    def test_start_on_unwritable_home_is_refused(
        self, make_host: MakeHost, disk: Disk, tmp_path: Path, code: int
    ) -> None:
        """A home whose lock file cannot be opened is refused at start, saying why."""
        disk.fail("open_lock", code, under(tmp_path / "home"))
        host = make_host(start=False)
        with pytest.raises(HostStateError, match="cannot open the lock file") as info:
            host.start()
        assert MEANING[code] in str(info.value)
        assert info.value.path == str(tmp_path / "home" / "lock")


# -- for real, on a tmpfs ---------------------------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` on ``path``, or the test is skipped saying why it cannot be had."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected variants cover this fault")
    if shutil.which("mount") is None:
        pytest.skip("no mount command; the injected variants cover this fault")
    path.mkdir(parents=True, exist_ok=True)
    try:
        # mode=0755: a fresh tmpfs is 1777, which strict modes refuse as a home.
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc.stderr.strip()}); injected variants cover it")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` covered by a read-only bind mount of itself, or the test is skipped."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("bind mounts need root and mount(8); the injected variants cover this fault")
    try:
        _mount("--bind", str(path), str(path))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot bind-mount here ({exc.stderr.strip()}); injected variants cover it")
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True, timeout=30)


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Path]:
    """The hosts' home on a 4 MiB tmpfs of its own."""
    with tmpfs(tmp_path / "home", "4m") as home:
        yield home


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as stream:
        with contextlib.suppress(OSError):
            while True:
                stream.write(chunk)
        # What did not fit in a chunk goes byte by byte, until not even one does.
        with contextlib.suppress(OSError):
            while True:
                stream.write(b"\0")
    return filler


class TestRealFaults:
    def test_disk_full_during_update(
        self,
        small_home: Path,
        make_host: MakeHost,
        factory: WheelFactory,
        events: list[Event],
    ) -> None:
        """A really full disk fails the update with ENOSPC; emptied, the next drop goes in."""
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05)
        filler = fill(small_home)
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        assert host.wait_idle(20)
        [failed] = failures(events, EventKind.LOAD_FAILED)
        assert failed.error_type == "pluginhost.InstallError"
        assert failed.error is not None
        assert "disk full (ENOSPC)" in failed.error
        check_untouched(host, small_home)

        filler.unlink()
        factory.build("hello", "1.2.0", code=greet_code("1.2.0"))
        assert host.wait_idle(20)
        check_untouched(host, small_home, serving="1.2.0")

    def test_disk_full_while_unpacking(
        self,
        small_home: Path,
        make_host: MakeHost,
        factory: WheelFactory,
        events: list[Event],
    ) -> None:
        """Room for the small files but not for the large one: the installer's own write fails
        with ENOSPC, told as an InstallError, and the half-unpacked staging goes."""
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05)
        filler = fill(small_home)
        # 128 KiB free: the 256 KiB (incompressible) member does not fit, the others do.
        os.truncate(filler, filler.stat().st_size - 128 * 1024)
        payload = {"hello/blob.bin": random.Random(0).randbytes(256 * 1024)}
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"), files=payload)
        assert host.wait_idle(20)
        [failed] = failures(events, EventKind.LOAD_FAILED)
        assert failed.error_type == "pluginhost.InstallError"
        assert failed.error is not None
        assert "installing failed: disk full (ENOSPC)" in failed.error
        check_untouched(host, small_home)

    def test_disk_full_at_removal(
        self, small_home: Path, make_host: MakeHost, factory: WheelFactory
    ) -> None:
        """On a really full disk the registry cannot be committed: the removal is refused."""
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05)
        filler = fill(small_home)
        with pytest.raises(StoreError, match=r"disk full \(ENOSPC\)"):
            host.remove("hello")
        check_untouched(host, small_home)
        filler.unlink()
        host.remove("hello")
        assert versions_on_disk(small_home) == []

    def test_home_read_only_during_update(
        self,
        tmp_path: Path,
        make_host: MakeHost,
        factory: WheelFactory,
        events: list[Event],
    ) -> None:
        """A home made read-only under a running host fails the update with EROFS; writable
        again, the next drop goes in.

        The kernel refuses to remount a file system read-only while the host holds its lock
        file open for writing, so the home is covered by a read-only bind mount of itself, as
        an operator (or a container runtime) would do it.
        """
        home = tmp_path / "home"
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        host = make_host(settle=0.05)
        with read_only(home):
            factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
            assert host.wait_idle(20)
            [failed] = failures(events, EventKind.LOAD_FAILED)
            assert failed.error is not None
            assert "read-only file system (EROFS)" in failed.error
            check_untouched(host, home)
            with pytest.raises(StoreError, match=r"read-only file system \(EROFS\)"):
                host.remove("hello")
            check_untouched(host, home)
        factory.build("hello", "1.2.0", code=greet_code("1.2.0"))
        assert host.wait_idle(20)
        check_untouched(host, home, serving="1.2.0")

    def test_start_on_read_only_home(
        self, small_home: Path, make_host: MakeHost, factory: WheelFactory
    ) -> None:
        """A host cannot start on a read-only home, and says so."""
        factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
        make_host().stop()
        _mount("-o", "remount,ro", str(small_home))
        try:
            with pytest.raises(HostStateError, match=r"read-only file system \(EROFS\)"):
                make_host()
        finally:
            _mount("-o", "remount,rw", str(small_home))

    def test_site_on_another_file_system(
        self, tmp_path: Path, make_host: MakeHost, factory: WheelFactory
    ) -> None:
        """With site/ a mount of its own, installs cross devices (EXDEV) and still go in."""
        with tmpfs(tmp_path / "home" / "site", "8m") as site:
            factory.build("hello", "1.0.0", code=greet_code("1.0.0"))
            host = make_host(settle=0.05)
            factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
            assert host.wait_idle(20)
            check_untouched(host, tmp_path / "home", serving="1.1.0")
            assert sorted(p.name.split("-")[1] for p in site.iterdir()) == ["1.0.0", "1.1.0"]
            host.stop()


class TestUnpinRefused:
    def test_unpin_not_committed_stays_pinned(
        self, make_host: MakeHost, factory: WheelFactory, disk: Disk, tmp_path: Path
    ) -> None:
        """An unpin the registry refuses raises the StoreError, and the plugin stays pinned on
        the version it was pinned to."""
        factory.build("hello", "1.1.0", code=greet_code("1.1.0"))
        host = make_host(policy=VersionPolicy(allow_downgrade=True))
        older = WheelFactory(tmp_path / "outside").build("hello", "1.0.0", code=greet_code("1.0.0"))
        assert host.install(older).pinned
        disk.fail("replace", errno.ENOSPC, registry_file)
        with pytest.raises(StoreError, match="disk full"):
            host.unpin("hello")
        disk.heal()
        assert answers(host) == ["1.0.0"]
        host.unpin("hello")
        assert answers(host) == ["1.1.0"]
