"""Strict modes over a whole home: what the host creates is private whatever the umask, and
``start()`` refuses a home with an entry another user could change; with real files, real
hosts and, where we are root, a real second user."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import greet_code, others_group

from pluginhost import PluginHost, TrustError
from pluginhost.discover.home_check import check_home, home_faults
from pluginhost.state import fs
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
ROOT = os.geteuid() == 0
OTHER_UID = 65534  # nobody


@contextlib.contextmanager
def no_umask() -> Iterator[None]:
    """The widest umask there is (0): every mode the host asks for is what it gets. Only
    around the host: wheels made under it would be refused as writable by others."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users may enter (pytest's tmp_path is private to us): like /srv."""
    path = Path(tempfile.mkdtemp(prefix="pluginhost-shared-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def second_user() -> Iterator[str]:
    """A real user of this machine, created for the test and removed after it."""
    if not ROOT or shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("needs root with useradd and runuser to create a second user")
    name = f"phtest{secrets.token_hex(3)}"
    made = subprocess.run(
        ["useradd", "--no-create-home", name], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def as_user(user: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", user, "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )


def site_dirs(home: Path) -> list[Path]:
    return sorted(p for p in (home / "site").iterdir() if not p.name.startswith("."))


def reachable(home: Path) -> None:
    """What an operator does who wants to read the home as another user: the home and every
    folder in it may be entered and read by others (nothing is made writable)."""
    for folder, _dirs, _files in os.walk(home):
        os.chmod(folder, 0o755)


class TestBeforeTheHomeIsMade:
    def test_a_home_through_a_link_is_refused_before_anything_is_made(self, tmp_path: Path) -> None:
        """Strict modes refused a home reached through a symbolic link only after the home's
        folders were made through it (another user's link to /etc: /etc/greeter/site)."""
        (tmp_path / "target").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "target")
        host = PluginHost("greeter", home=tmp_path / "link" / "greeter", environment=False)
        with pytest.raises(TrustError, match="is a symbolic link"):
            host.start()
        assert list((tmp_path / "target").iterdir()) == []

    def test_a_link_put_in_place_of_a_folder_just_made_is_not_followed(
        self, tmp_path: Path
    ) -> None:
        """A folder's mode is set through a descriptor of the folder, not by path: a link put
        in its place (whoever owns the folder above can) would have had root chmod any file
        0700. Here the link is in place when the mode is set: refused, the file untouched."""
        victim = tmp_path / "victim.txt"
        victim.write_text("x")
        victim.chmod(0o644)
        (tmp_path / "made").symlink_to(victim)
        with pytest.raises(OSError, match=r"Too many levels|Not a directory"):
            fs._make_private(tmp_path / "made")
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644


class TestWhatTheHostCreates:
    def test_everything_private_whatever_the_umask(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """Under umask 0, every folder the host makes in its home is 0o700 and every file
        0o600 (0o700 for an executable one): home, site dirs, registry, status, audit log and
        its head, lock, staging."""
        factory.build("hello", code=greet_code("hi"))
        with no_umask():
            make_host().stop()
        home = tmp_path / "home"
        entries = [home, *home.rglob("*")]
        names = {p.name for p in entries}
        assert {"site", "staging", "registry.json", "status.json", "audit.log", "lock"} <= names
        loose = {
            str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.lstat().st_mode))
            for p in entries
            if "__pycache__" not in p.parts and stat.S_IMODE(p.lstat().st_mode) & 0o077
        }
        assert loose == {}
        assert home_faults(home) == []

    def test_installed_files_private(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A site dir's files, written by the installer library, are private too."""
        factory.build("hello", code=greet_code("hi"))
        with no_umask():
            make_host()
        (site,) = site_dirs(tmp_path / "home")
        # Bytecode the interpreter caches at import (unless PYTHONDONTWRITEBYTECODE is set)
        # follows the umask: it lies behind the site dir's 0700, out of other users' reach.
        installed = [p for p in site.rglob("*") if "__pycache__" not in p.parts]
        modes = {stat.S_IMODE(p.lstat().st_mode) for p in [site, *installed]}
        assert modes <= {0o600, 0o700}
        assert stat.S_IMODE(site.stat().st_mode) == 0o700


class TestHomeFaults:
    def test_group_writable_file_in_a_reachable_home(self, tmp_path: Path) -> None:
        """A file group or others may write, in folders they may enter, is a fault naming it."""
        home = tmp_path / "home"
        (home / "site" / "x").mkdir(parents=True)
        (home / "site" / "x" / "mod.py").write_text("")
        reachable(home)
        others_group(home / "site" / "x" / "mod.py")
        (home / "site" / "x" / "mod.py").chmod(0o664)
        (fault,) = home_faults(home)
        assert fault.path == home / "site" / "x" / "mod.py"
        assert "is writable by group (mode 0o664" in fault.reason

    def test_loose_modes_inside_a_private_folder_are_unreachable(self, tmp_path: Path) -> None:
        """Behind a folder only its owner may enter, modes further in cannot be used by anyone
        else: Python's ``__pycache__`` made under a wide umask is no fault."""
        home = tmp_path / "home"
        (home / "site" / "x" / "__pycache__").mkdir(parents=True)
        (home / "site" / "x" / "__pycache__").chmod(0o777)
        reachable(home)
        (home / "site").chmod(0o700)
        assert home_faults(home) == []

    def test_symlink_inside(self, tmp_path: Path) -> None:
        """A symbolic link anywhere in the home is a fault: the host never makes one."""
        home = tmp_path / "home"
        (home / "site").mkdir(parents=True)
        (home / "site" / "x").symlink_to(tmp_path)
        (fault,) = home_faults(home)
        assert fault.path == home / "site" / "x"
        assert "is a symbolic link" in fault.reason

    @pytest.mark.skipif(not ROOT, reason="chown to another user needs root")
    def test_entry_of_another_user(self, tmp_path: Path) -> None:
        """A file another user owns, even in a private folder, is a fault naming its owner."""
        home = tmp_path / "home"
        (home / "site" / "x").mkdir(parents=True)
        (home / "site" / "x" / "mod.py").write_text("")
        os.chown(home / "site" / "x" / "mod.py", OTHER_UID, OTHER_UID)
        (fault,) = home_faults(home)
        assert fault.reason.startswith(f"{home / 'site' / 'x' / 'mod.py'} is owned by uid 65534")

    def test_staging_and_control_contents_not_walked(self, tmp_path: Path) -> None:
        """What staging/ and control/ hold is checked elsewhere; the folders themselves are."""
        home = tmp_path / "home"
        for folder in ("staging", "control"):
            (home / folder).mkdir(parents=True)
            (home / folder / "x").symlink_to(tmp_path)
        assert home_faults(home) == []
        reachable(home)
        (home / "control").chmod(0o777)
        assert [f.path.name for f in home_faults(home)] == ["control"]

    def test_check_home_names_the_first_and_counts_the_rest(self, tmp_path: Path) -> None:
        """The refusal is a TrustError naming the first entry at fault."""
        home = tmp_path / "home"
        (home / "site").mkdir(parents=True)
        for name in ("a", "b", "c"):
            (home / "site" / name).symlink_to(tmp_path)
        with pytest.raises(TrustError, match=r"a is a symbolic link .*\(and 2 more") as caught:
            check_home(home)
        assert caught.value.path == str(home / "site" / "a")

    def test_missing_home_is_fine(self, tmp_path: Path) -> None:
        """A home not made yet has nothing at fault: the host makes it private."""
        assert home_faults(tmp_path / "nothing-yet") == []


class TestStartChecksTheHome:
    def test_start_refuses_a_writable_site_file(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A site dir's file others may write refuses start(), naming the file; no plugin
        code is imported."""
        factory.build("hello", code=greet_code("hi"))
        make_host().stop()
        home = tmp_path / "home"
        reachable(home)
        (site,) = site_dirs(home)
        (site / "hello" / "__init__.py").chmod(0o666)
        with pytest.raises(TrustError, match=r"hello/__init__.py is writable by group and others"):
            make_host()

    def test_strict_modes_off_starts(
        self, make_host: MakeHost, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """``strict_modes=False`` says the operator owns the risk: the host starts."""
        factory.build("hello", code=greet_code("hi"))
        make_host().stop()
        reachable(tmp_path / "home")
        (tmp_path / "home" / "registry.json").chmod(0o666)
        assert make_host(strict_modes=False).hook.greet(name="x") == ["hi"]


class TestSecondUser:
    def test_cannot_plant_code_a_root_host_runs(
        self,
        shared_dir: Path,  # first: torn down after the hosts are stopped
        make_host: MakeHost,
        factory: WheelFactory,
        second_user: str,
    ) -> None:
        """Another user cannot write into a root host's site dir, even with a home others may
        enter and a umask of 0; at the next start only the installed code runs."""
        home = shared_dir / "home"
        home.mkdir(mode=0o755)
        factory.build("hello", code=greet_code("hi"))
        with no_umask():
            make_host(home=home).stop()
        (site,) = site_dirs(home)
        marker = shared_dir / "planted"
        module = site / "hello" / "__init__.py"
        payload = f"\\nopen({str(marker)!r}, 'w').close()\\n"
        planted = as_user(second_user, f'printf "{payload}" >> {module}')
        assert planted.returncode != 0
        assert "Permission denied" in planted.stderr
        host = make_host(home=home)
        assert host.hook.greet(name="x") == ["hi"]
        assert not marker.exists()

    def test_start_refuses_what_another_user_changed(
        self,
        shared_dir: Path,  # first: torn down after the hosts are stopped
        make_host: MakeHost,
        factory: WheelFactory,
        second_user: str,
    ) -> None:
        """A site dir left open to others by hand and written by another user refuses start,
        naming the file; nothing of it is imported."""
        home = shared_dir / "home"
        factory.build("hello", code=greet_code("hi"))
        make_host(home=home).stop()
        reachable(home)
        (site,) = site_dirs(home)
        (site / "hello").chmod(0o777)
        marker = shared_dir / "planted"
        evil = as_user(
            second_user, f"echo \"open('{marker}', 'w').close()\" > {site / 'hello' / 'evil.py'}"
        )
        assert evil.returncode == 0, evil.stderr
        with pytest.raises(TrustError, match="hello is writable by group and others"):
            make_host(home=home)
        assert not marker.exists()
