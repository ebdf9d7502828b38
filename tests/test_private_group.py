"""User private groups (``discover/private_group.py``): a group-writable entry whose group has
one member, its owner, passes strict modes; a shared group does not. Real files, real accounts
(root's own group, ``nogroup``), real modes."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from pluginhost.discover.private_group import private_group
from pluginhost.discover.trust import unsafe_path

#: A uid and gid no account has: the databases do not know them.
UNKNOWN = 54321


def _members(gid: int) -> set[int]:
    primary = {u.pw_uid for u in pwd.getpwall() if u.pw_gid == gid}
    return primary | {pwd.getpwnam(n).pw_uid for n in grp.getgrgid(gid).gr_mem}


@pytest.fixture
def root_only() -> None:
    """Root's group must have root alone (as on Debian), and this process be root."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give files to root's group and to others")
    if _members(0) != {0}:
        pytest.skip("root's group has other members on this system")


@pytest.fixture
def shared_gid() -> int:
    """A group whose members are not only root: nogroup (nobody's), else skip."""
    try:
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        pytest.skip("no nogroup on this system")
    if _members(gid) in (set(), {0}):
        pytest.skip("nogroup has no member but root here")
    return gid


class TestPrivateGroup:
    def test_a_group_of_its_owner_alone(self, root_only: None) -> None:
        assert private_group(0, 0)

    def test_a_group_with_others(self, root_only: None, shared_gid: int) -> None:
        assert not private_group(shared_gid, 0)

    def test_an_unknown_group(self) -> None:
        assert not private_group(UNKNOWN, os.geteuid())

    def test_a_member_that_is_not_the_owner(self, root_only: None) -> None:
        """Root's group is root's alone: not another user's private group."""
        assert not private_group(0, UNKNOWN)


class TestStrictModes:
    def test_a_folder_writable_by_its_owners_own_group_passes(
        self, root_only: None, tmp_path: Path
    ) -> None:
        """A folder and a wheel made under umask 002 (775, 664) by a user whose group is
        theirs alone: nobody else can write there (they were refused)."""
        folder = tmp_path / "wheels"
        folder.mkdir()
        wheel = folder / "hello-1.0.0-py3-none-any.whl"
        wheel.write_bytes(b"PK")
        os.chown(folder, 0, 0)
        os.chown(wheel, 0, 0)
        folder.chmod(0o775)
        wheel.chmod(0o664)
        assert unsafe_path(wheel, checked=tmp_path) is None

    def test_a_shared_group_is_refused(
        self, root_only: None, shared_gid: int, tmp_path: Path
    ) -> None:
        folder = tmp_path / "wheels"
        folder.mkdir()
        os.chown(folder, 0, shared_gid)
        folder.chmod(0o775)
        reason = unsafe_path(folder, checked=tmp_path)
        assert reason == f"{folder} is writable by group (mode 0o775; fix with chmod go-w)"

    def test_writable_by_others_is_refused_whatever_the_group(
        self, root_only: None, tmp_path: Path
    ) -> None:
        folder = tmp_path / "wheels"
        folder.mkdir()
        os.chown(folder, 0, 0)
        folder.chmod(0o777)
        reason = unsafe_path(folder, checked=tmp_path)
        assert reason is not None
        assert "writable by group and others" in reason


def test_the_demo_runs_under_umask_002(root_only: None, tmp_path: Path) -> None:
    """``pluginhost demo`` with the umask Debian and Ubuntu give a user's login (002): its
    folder and wheels are writable by the user's own group. The host refused them, and the
    demo failed ("no plugin named 'hello'")."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "pluginhost", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        preexec_fn=lambda: os.umask(0o002),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Demo complete: every step behaved as shown." in done.stdout
