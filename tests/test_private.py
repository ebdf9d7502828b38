"""Private dependencies of process plugins: installed for each plugin alone, first on its
worker's path, so that conflicting versions of one library serve side by side."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from processhost import process_manifest
from test_published_dependencies import _published

from pluginhost import PluginHost, PluginState
from pluginhost.host.dependencies import environment_version
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]

#: A process plugin whose ``greet`` answers the version of ``LIB`` its worker imported.
VERSION_OF = """
import pluggy, {lib}
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return f"{{name}}: {lib} " + str(getattr({lib}, "VALUE", None) or {lib}.__version__)
"""


def _user(factory: WheelFactory, name: str, lib: str, requirement: str) -> None:
    factory.build(
        name,
        code=VERSION_OF.format(lib=lib),
        manifest=process_manifest(name),
        requires_dist=[requirement],
    )


def _lib(factory: WheelFactory, name: str, version: str) -> None:
    """A dependency wheel (no plugin) whose module says its version."""
    factory.build(name, version, group="other.group", code=f"VALUE = {version!r}\n")


class TestPrivate:
    def test_conflicting_versions_both_serve(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Two process plugins needing two versions of one library each get theirs."""
        _lib(factory, "sharedlib", "1.0.0")
        _lib(factory, "sharedlib", "2.0.0")
        _user(factory, "old", "sharedlib", "sharedlib<2")
        _user(factory, "new", "sharedlib", "sharedlib>=2")
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["x: sharedlib 1.0.0", "x: sharedlib 2.0.0"]
        private = tmp_path / "home" / "private"
        assert sorted(p.name for p in private.iterdir()) == ["new", "old"]
        assert not (tmp_path / "home" / "deps").exists() or not any(
            (tmp_path / "home" / "deps").iterdir()
        )

    def test_wins_over_the_host_copy(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A wheel at hand serves a process plugin even when the host has its own copy."""
        assert environment_version("semver") is not None
        _lib(factory, "semver", "99.0.0")
        _user(factory, "mine", "semver", "semver==99.0.0")
        host = make_host()
        assert host.hook.greet(name="x") == ["x: semver 99.0.0"]

    def test_host_copy_when_no_wheel(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """With no wheel at hand, the environment's copy meets a requirement it meets."""
        _user(factory, "plain", "semver", "semver>=2")
        host = make_host()
        assert host.hook.greet(name="x") == [f"x: semver {environment_version('semver')}"]

    def test_unmet_requirement_refused(self, factory: WheelFactory, make_host: MakeHost) -> None:
        """A requirement neither a wheel nor the environment meets fails the load, naming it."""
        _user(factory, "needy", "nosuchlib", "nosuchlib>=1")
        host = make_host()
        info = host.plugins["needy"]
        assert info.state is PluginState.FAILED
        assert "nosuchlib" in str(info.error)


class TestPublished:
    def test_two_published_versions(
        self, factory: WheelFactory, make_host: MakeHost, wheels: Path
    ) -> None:
        """Two published versions of tabulate, each serving its own process plugin."""
        for version in ("0.8.10", "0.9.0"):
            wheel = _published("tabulate", version)
            shutil.copy2(wheel, wheels / wheel.name)
        _user(factory, "old", "tabulate", "tabulate==0.8.10")
        _user(factory, "new", "tabulate", "tabulate==0.9.0")
        host = make_host()
        assert sorted(host.hook.greet(name="x")) == ["x: tabulate 0.8.10", "x: tabulate 0.9.0"]


class TestPruning:
    def test_dirs_of_versions_no_longer_kept_are_deleted(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path
    ) -> None:
        """Swapped through four versions, each needing its own sharedlib, a process plugin
        keeps the private dirs of the version serving and of its backup (keep_backups=1),
        and a rollback to the backup serves with its dir."""
        host = make_host(keep_backups=1)
        for n in range(4):
            _lib(factory, "sharedlib", f"1.{n}.0")
            factory.build(
                "user",
                f"1.{n}.0",
                code=VERSION_OF.format(lib="sharedlib"),
                manifest=process_manifest("user", f"1.{n}.0"),
                requires_dist=[f"sharedlib==1.{n}.0"],
            )
            host.wait_idle(30)
            assert host.hook.greet(name="x") == [f"x: sharedlib 1.{n}.0"]
        folder = tmp_path / "home" / "private" / "user"
        dirs = sorted(p.name.rsplit("-", 1)[0] for p in folder.iterdir() if p.is_dir())
        assert dirs == ["sharedlib-1.2.0", "sharedlib-1.3.0"]
        host.rollback("user")
        assert host.hook.greet(name="x") == ["x: sharedlib 1.2.0"]
