"""Host configuration files for ``pluginhost run``."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import others_group
from test_regular import within

from hookspecs import greeter
from pluginhost import Timeouts, TrustError, VersionPolicy, WheelLimits
from pluginhost.host.config_file import MAX_CONFIG_SIZE, ConfigError, HostConfig
from pluginhost.testing import WheelFactory

FULL = """
[pluginhost]
project = "greeter"
specs = ["hookspecs.greeter:GreeterSpec", "hookspecs.greeter"]
home = "home"
watch = ["wheels", "/abs/more"]
api_version = "1.4.0"
environment = false
keep_backups = 5
breaking_change = "cascade"
persist_state = true
polling = true
settle = 0.5
trust = "hashes"
trust_file = "trusted.txt"
strict_modes = false

[pluginhost.policy]
allow_prerelease = true

[pluginhost.timeouts]
import = 5
drain = 1.5

[pluginhost.limits]
max_members = 500
max_manifest_size = 4096
"""


def write(tmp_path: Path, text: str, name: str = "pluginhost.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_config(tmp_path: Path) -> None:
    """Every key is read, paths are resolved against the file's folder."""
    config = HostConfig.from_file(write(tmp_path, FULL))
    assert config.project == "greeter"
    assert config.home == tmp_path / "home"
    assert config.watch == (tmp_path / "wheels", Path("/abs/more"))
    assert config.api_version == "1.4.0"
    assert config.environment is False
    assert config.policy == VersionPolicy(allow_prerelease=True)
    assert config.timeouts == Timeouts(import_=5.0, drain=1.5)
    assert (config.keep_backups, config.breaking_change) == (5, "cascade")
    assert (config.persist_state, config.polling, config.settle) == (True, True, 0.5)
    assert config.load_specs() == [greeter.GreeterSpec, greeter]
    assert (config.trust, config.trust_file, config.strict_modes) == (
        "hashes",
        tmp_path / "trusted.txt",
        False,
    )
    assert config.limits == WheelLimits(max_members=500, max_manifest_size=4096)


def test_pyproject_tool_table(tmp_path: Path) -> None:
    """[tool.pluginhost] in a pyproject.toml; defaults for what it does not say."""
    path = write(tmp_path, '[tool.pluginhost]\nproject = "greeter"\n', "pyproject.toml")
    config = HostConfig.from_file(path)
    assert config.project == "greeter"
    assert config.home is None
    assert config.resolved_home == Path(".pluginhost", "greeter").resolve()
    assert config.timeouts == Timeouts()


def test_make_host(tmp_path: Path) -> None:
    """The host built from a config carries its settings."""
    text = FULL.replace(', "hookspecs.greeter"]', "]")
    host = HostConfig.from_file(write(tmp_path, text)).make_host()
    assert host.project == "greeter"
    assert host.home == tmp_path / "home"
    assert [f.path for f in host.folders] == [tmp_path / "wheels", Path("/abs/more")]
    assert host.trust_file == tmp_path / "trusted.txt"
    assert host.limits.max_members == 500
    assert all(f.limits.max_members == 500 for f in host.folders)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[other]\n", "has no [pluginhost] table"),
        ("[pluginhost]\nhome = 'x'\n", "pluginhost.project: is required"),
        ("[pluginhost]\nproject = 1\n", "pluginhost.project: must be a string, not integer"),
        ("[pluginhost]\nproject = 'g'\nwatchh = []\n", "pluginhost.watchh: unknown key"),
        ("[pluginhost]\nproject = 'g'\nwatch = [1]\n", "pluginhost.watch: must be a list"),
        ("[pluginhost]\nproject = 'g'\napi_version = 'one'\n", "pluginhost.api_version: "),
        ("[pluginhost]\nproject = 'g'\nkeep_backups = -1\n", "keep_backups: must not be neg"),
        ("[pluginhost]\nproject = 'g'\nkeep_backups = true\n", "must be a integer, not boolean"),
        ("[pluginhost]\nproject = 'g'\nbreaking_change = 'x'\n", "must be one of reject, cascade"),
        ("[pluginhost]\nproject = 'g'\n[pluginhost.policy]\nx = 1\n", "policy.x: unknown"),
        ("[pluginhost]\nproject = 'g'\n[pluginhost.policy]\nallow_downgrade = 1\n", "true or"),
        (
            "[pluginhost]\nproject = 'g'\n[pluginhost.timeouts]\ndrain = 0\n",
            "pluginhost.timeouts.drain: must be a positive number of seconds",
        ),
        ("[pluginhost\n", "not valid TOML"),
        # What the TOML parser lets out on hostile input (a hostile-input probe's): no internal
        # error of the CLI.
        ("[pluginhost]\nproject = 'g'\nx = " + "[" * 5000 + "]" * 5000, "not valid TOML"),
        ("[pluginhost]\nproject = 'g'\nkeep_backups = " + "9" * 5000 + "\n", "not valid TOML"),
        (
            "[pluginhost]\nproject = 'g'\nhome = \"a\\u0000b\"\n",
            "home: is not a path: it holds a NUL",
        ),
        ("[pluginhost]\nproject = 'g'\nwatch = [\"w\\u0000\"]\n", "watch: is not a path: it holds"),
        ("[pluginhost]\nproject = 'g'\nhome = '~nosuchuser-ph/x'\n", "home: cannot be resolved"),
        ("[pluginhost]\nproject = 'g'\ntrust = 'all'\n", "trust: must be one of permissions"),
        (
            "[pluginhost]\nproject = 'g'\n[pluginhost.resources]\nmemory_mb = 99999999999999\n",
            "pluginhost.resources: memory_mb must be at most",
        ),
        ("[pluginhost]\nproject = 'g'\nstrict_modes = 'no'\n", "must be a boolean"),
        ("[pluginhost]\nproject = 'g'\n[pluginhost.limits]\nmax_ratio = 0\n", "positive int"),
        ("[pluginhost]\nproject = 'g'\n[pluginhost.limits]\nmax_files = 1\n", "unknown key"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake is one line naming the file and the key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        HostConfig.from_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_a_symlink_loop_is_no_internal_error(tmp_path: Path) -> None:
    """A watched path through a symlink loop: Python up to 3.12 refuses to resolve it (a
    RuntimeError, which left the CLI as an internal error), and that is a ConfigError naming
    the key; 3.13 resolves it as it stands, and the watcher reports the folder unusable."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    path = write(tmp_path, "[pluginhost]\nproject = 'g'\nwatch = ['loop/w']\n")
    if sys.version_info >= (3, 13):
        HostConfig.from_file(path)
    else:
        with pytest.raises(ConfigError, match=r"pluginhost\.watch: cannot be resolved: "):
            HostConfig.from_file(path)


def test_missing_file(tmp_path: Path) -> None:
    """A file that is not there is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read"):
        HostConfig.from_file(tmp_path / "nope.toml")


@pytest.mark.parametrize("kind", ["fifo", "directory", "too large"])
def test_a_file_that_is_not_a_small_regular_file_is_refused_unread(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO named as the configuration is refused at once (every command given it with
    --config blocked for good: attack probe 11), so are a directory and a file past the
    bound."""
    path = tmp_path / "pluginhost.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_text("# " + "x" * MAX_CONFIG_SIZE + "\n")
    with pytest.raises(ConfigError, match="cannot read") as info:
        within(lambda: HostConfig.from_file(path))
    assert str(path) in str(info.value)


def test_module_without_hooks(tmp_path: Path) -> None:
    """A hookspec module whose hooks sit in a class: told to name the class."""
    config = HostConfig.from_file(write(tmp_path, FULL))
    with pytest.raises(ConfigError, match=r"toml: specs: did not find .* 'module:Class'"):
        config.make_host()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz", "cannot import 'no_such_module_xyz'"),
        ("hookspecs.greeter:Nope", "has no attribute 'Nope'"),
        ("hookspecs.greeter:API_VERSION", "is not a class or module"),
    ],
)
def test_bad_specs(tmp_path: Path, spec: str, message: str) -> None:
    """Hookspecs that cannot be imported are reported against the specs key."""
    config = HostConfig.from_file(write(tmp_path, f"[pluginhost]\nproject='g'\nspecs=['{spec}']\n"))
    with pytest.raises(ConfigError, match=message) as info:
        config.load_specs()
    assert info.value.key == "specs"


def _mallory() -> int:
    """The uid of a second user, ``mallory`` when there is one, else a uid no account has (a
    file can belong to any uid); these tests need root."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give a file to another user")
    try:
        return pwd.getpwnam("mallory").pw_uid
    except KeyError:
        return 54321


EVIL = """
[pluginhost]
project = "greeter"
specs = ["hookspecs.greeter:GreeterSpec"]
home = "home"
watch = ["evil-wheels"]
strict_modes = false
environment = false
"""


class TestStrictModes:
    """The configuration file gets strict modes' owner and mode checks, always: it can turn
    them off and name the folders the host imports from (attack probe 12's F5)."""

    def test_owned_by_another_user(self, tmp_path: Path) -> None:
        """A file another user owns is refused, though it turns strict modes off."""
        path = write(tmp_path, EVIL)
        os.chown(path, _mallory(), -1)
        with pytest.raises(TrustError) as caught:
            HostConfig.from_file(path)
        assert caught.value.path == str(path)
        assert f"is owned by uid {_mallory()}" in caught.value.reason, caught.value.reason
        assert caught.value.reason.startswith("config file refused by strict_modes: ")

    @pytest.mark.parametrize(
        ("mode", "who"), [(0o666, "group and others"), (0o646, "others"), (0o664, "group")]
    )
    def test_writable_by_others(self, tmp_path: Path, mode: int, who: str) -> None:
        """A file of this user that group or others may write is refused, naming the mode;
        its group is one of others (a group of its owner alone passes, test_private_group)."""
        path = write(tmp_path, EVIL)
        others_group(path)
        path.chmod(mode)
        with pytest.raises(TrustError, match=f"writable by {who} \\(mode {oct(mode)}"):
            HostConfig.from_file(path)

    def test_a_folder_above_writable_by_others(self, tmp_path: Path) -> None:
        """A folder above the file that others may write (not sticky) is refused: they could
        put another file in its place."""
        folder = tmp_path / "open"
        folder.mkdir()
        folder.chmod(0o777)
        path = write(folder, EVIL)
        with pytest.raises(TrustError, match=f"{folder} is writable by group and others"):
            HostConfig.from_file(path)

    def test_a_link_is_followed_and_the_file_reached_checked(self, tmp_path: Path) -> None:
        """A link is followed, as documented: to a safe file it reads it; to another
        user's file, that file is refused, named."""
        safe = write(tmp_path, FULL, "real.toml")
        link = tmp_path / "pluginhost.toml"
        link.symlink_to(safe)
        assert HostConfig.from_file(link).path == safe
        theirs = write(tmp_path, EVIL, "theirs.toml")
        os.chown(theirs, _mallory(), -1)
        link.unlink()
        link.symlink_to(theirs)
        with pytest.raises(TrustError) as caught:
            HostConfig.from_file(link)
        assert caught.value.path == str(theirs)

    def test_a_safe_file_still_reads(self, tmp_path: Path) -> None:
        """This user's file, mode 0o644 or 0o600, in a private folder is read as before."""
        path = write(tmp_path, FULL)
        for mode in (0o644, 0o600):
            path.chmod(mode)
            assert HostConfig.from_file(path).strict_modes is False

    def test_run_refuses_her_config_before_anything_runs(self, tmp_path: Path) -> None:
        """``pluginhost run --config`` on mallory's file (mode 666, strict_modes = false, a
        watched folder of hers) exits with the error naming the file; her wheel is never
        imported (root's host ran it as uid 0)."""
        mallory = _mallory()
        marker = tmp_path / "PWNED"
        WheelFactory(tmp_path / "evil-wheels").build(
            "evil", code=f"open({str(marker)!r}, 'w').write('ran')\n"
        )
        path = write(tmp_path, EVIL)
        os.chown(path, mallory, -1)
        path.chmod(0o666)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
        argv = [sys.executable, "-m", "pluginhost", "run", "--config", str(path)]
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert done.returncode != 0
        assert f"error: {path}: config file refused by strict_modes:" in done.stderr, done.stderr
        assert f"{path} is owned by uid {mallory}" in done.stderr
        assert not marker.exists()
        assert not (tmp_path / "home").exists()
