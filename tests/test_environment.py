"""The environment source: installed distributions read as candidates, no plugin code run."""

from __future__ import annotations

import importlib.abc
import os
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest
from conftest import greet_code
from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
from test_regular import within

from hookspecs import greeter
from pluginhost import EnvironmentSource, PluginHost, ProblemKind
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"


def install_into(wheel: Path, target: Path) -> None:
    """Install a wheel into a plain directory, as pip --target would."""
    target.mkdir(parents=True, exist_ok=True)
    scheme = {k: str(target) for k in ("purelib", "platlib", "scripts", "data", "headers")}
    destination = SchemeDictionaryDestination(scheme, sys.executable, "posix")
    with WheelFile.open(wheel) as source:
        install(source, destination, {})


def backdate(folder: Path, seconds: float = 60.0) -> None:
    """Set a folder's mtime a while back, as that of a site-packages not touched lately."""
    then = time.time() - seconds
    os.utime(folder, (then, then))


def drop_entry_points(site: Path, distribution: str) -> None:
    """Empty an installed distribution's entry_points.txt in place (the site dir's mtime stays)."""
    before = site.stat().st_mtime_ns
    (entry_points,) = site.glob(f"{distribution}-*.dist-info/entry_points.txt")
    entry_points.write_text("")
    assert site.stat().st_mtime_ns == before


class TestEnvironmentSource:
    def test_installed_plugin_read_without_import(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """An installed distribution's entry point and plugin.toml are read; nothing imported."""
        wheel = factory.build("envplug", "2.1.0", code=greet_code("env"), host="^1.0")
        site = tmp_path / "site"
        install_into(wheel, site)
        scan = EnvironmentSource(path=(str(site),)).scan(GROUP)
        (candidate,) = scan.candidates
        assert (candidate.name, str(candidate.version)) == ("envplug", "2.1.0")
        assert str(candidate.manifest.host) == "^1.0"
        assert candidate.top_level == ("envplug",)
        assert candidate.manifest.path is not None
        assert candidate.manifest.path.endswith("plugin.toml")
        assert "envplug" not in sys.modules

    def test_finds_what_importlib_metadata_finds(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """The distributions listed are importlib_metadata's, in its order: dist-info and
        egg-info directories (names in any case, two versions of one distribution), EGG-INFO
        of an .egg directory, a zip archive's, nothing for a file or a missing entry."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        for folder in ("Zeta_Lib-1.0.dist-info", "zeta.lib-2.0.dist-info", "Old-0.1.egg-info"):
            (site / folder).mkdir()
            (site / folder / "METADATA").write_text(f"Name: {folder.partition('-')[0]}\n")
        egg = tmp_path / "legacy-1.0-py3.11.egg"
        (egg / "EGG-INFO").mkdir(parents=True)
        (egg / "EGG-INFO" / "PKG-INFO").write_text("Name: legacy\nVersion: 1.0\n")
        archive = tmp_path / "zipped.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n")
        (tmp_path / "a-file").write_text("")
        path = (str(site), str(egg), str(archive), str(tmp_path / "a-file"), str(tmp_path / "no"))

        def where(found: object) -> str:
            return str(found if isinstance(found, str) else getattr(found, "_path", found))

        ours = [where(d) for d in EnvironmentSource(path=path)._installed()]
        theirs = [where(d) for d in importlib_metadata.distributions(path=list(path))]
        assert ours == theirs
        assert len(ours) == 6

    def test_other_finders_distributions_found(
        self, factory: WheelFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plugin that only another meta path finder knows of is discovered through it."""
        site = tmp_path / "elsewhere"
        install_into(factory.build("hidden", code=greet_code("hidden")), site)
        (info,) = site.glob("hidden-*.dist-info")

        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, *args: object) -> None:
                return None

            def find_distributions(self, context: object) -> list[Any]:
                return [importlib_metadata.PathDistribution(info)]

        monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
        scan = EnvironmentSource(path=(str(tmp_path / "empty"),)).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["hidden"]

    def test_malformed_entry_points_of_another_distribution(
        self, factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A distribution whose entry_points.txt cannot be parsed does not stop discovery."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        broken = site / "broken-1.0.dist-info"
        broken.mkdir()
        (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
        (broken / "entry_points.txt").write_text("[console_scripts]\nno equals sign here\n")
        scan = EnvironmentSource(path=(str(site),)).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["envplug"]

    @pytest.mark.parametrize("file", ["METADATA", "entry_points.txt"])
    def test_unreadable_distribution_is_a_problem(
        self, factory: WheelFactory, tmp_path: Path, file: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A distribution in the group whose metadata is not UTF-8 is a problem naming it, and
        the other plugins are read all the same; a host on it starts."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        broken = site / "broken-1.0.dist-info"
        broken.mkdir()
        texts = {
            "METADATA": b"Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n",
            "entry_points.txt": f"[{GROUP}]\nbroken = broken\n".encode(),
        }
        texts[file] += b"\xff\xfe not UTF-8\n"
        for name, data in texts.items():
            (broken / name).write_bytes(data)
        scan = EnvironmentSource(path=(str(site),)).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["envplug"]
        (problem,) = scan.problems
        assert problem.kind is ProblemKind.MANIFEST_INVALID
        assert problem.path == str(broken)
        assert "UnicodeDecodeError" in problem.message
        monkeypatch.syspath_prepend(str(site))  # installed there: imported as the host imports
        host = PluginHost(
            "greeter",
            specs=[greeter.GreeterSpec],
            home=tmp_path / "home",
            api_version=greeter.API_VERSION,
            environment=False,
            sources=[EnvironmentSource(path=(str(site),))],
        )
        with host:
            assert host.hook.greet(name="x") == ["env"]
            assert str(broken) in [p.path for p in host.problems()]

    @pytest.mark.parametrize("file", ["entry_points.txt", "METADATA", "RECORD", "plugin.toml"])
    @pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "too large"])
    def test_file_not_regular_is_a_problem(
        self, factory: WheelFactory, tmp_path: Path, file: str, kind: str
    ) -> None:
        """A FIFO, a link to /dev/zero or a file over its bound in place of one file of an
        installed plugin's metadata (its plugin.toml too) is a problem naming the
        distribution and the file, read at once; the other plugin is read all the same. A
        FIFO blocked the start for good, the link read for ever."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        install_into(factory.build("other", code=greet_code("other")), site)
        (dist,) = site.glob("other-*.dist-info")
        path = site / "other" / file if file == "plugin.toml" else dist / file
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "link to /dev/zero":
            path.symlink_to("/dev/zero")
        else:
            path.write_bytes(b"#" * (16 * 1024 * 1024 + 1))
        scan = within(lambda: EnvironmentSource(path=(str(site),)).scan(GROUP))
        assert [c.name for c in scan.candidates] == ["envplug"]
        (problem,) = scan.problems
        assert problem.kind is ProblemKind.MANIFEST_INVALID
        assert str(path) in problem.message
        assert str(dist) in problem.message or file == "plugin.toml"

    @pytest.mark.parametrize("file", ["installed-files.txt", "SOURCES.txt", "requires.txt"])
    def test_egg_info_file_not_regular_is_a_problem(
        self, factory: WheelFactory, tmp_path: Path, file: str
    ) -> None:
        """An egg-info (no RECORD; its files listed in installed-files.txt or SOURCES.txt, its
        requirements in requires.txt) with a FIFO in place of one of those files is a problem
        naming the file, read at once: importlib.metadata opened it without O_NONBLOCK, and
        the start blocked for good."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        install_into(factory.build("other", code=greet_code("other")), site)
        (dist,) = site.glob("other-*.dist-info")
        egg = dist.with_name("other-1.0.0.egg-info")
        dist.rename(egg)
        (egg / "METADATA").rename(egg / "PKG-INFO")
        (egg / "RECORD").unlink()
        (egg / "installed-files.txt").write_text("../other/__init__.py\n")
        (egg / "requires.txt").write_text("attrs\n")
        listed = EnvironmentSource(path=(str(site),)).scan(GROUP).candidates
        assert sorted(c.name for c in listed) == ["envplug", "other"]  # read as an egg-info
        (egg / file).unlink(missing_ok=True)
        os.mkfifo(egg / file)
        scan = within(lambda: EnvironmentSource(path=(str(site),)).scan(GROUP))
        assert [c.name for c in scan.candidates] == ["envplug"]
        (problem,) = scan.problems
        assert problem.kind is ProblemKind.MANIFEST_INVALID
        assert str(egg / file) in problem.message

    def test_metadata_headers_read(self, factory: WheelFactory, tmp_path: Path) -> None:
        """Name, version and Requires-Dist come from the METADATA headers, whatever follows."""
        wheel = factory.build(
            "envplug", "1.2.0", code=greet_code("env"), requires_dist=["attrs>=23", "tomli"]
        )
        site = tmp_path / "site"
        install_into(wheel, site)
        (metadata,) = site.glob("envplug-*.dist-info/METADATA")
        headers, _, body = metadata.read_text().partition("\n\n")
        long_field = "Description: a summary\n        |  Requires-Dist: not-a-header\n"
        metadata.write_text(f"{headers}\n{long_field}\nName: in the body\n{body}")
        (candidate,) = EnvironmentSource(path=(str(site),)).scan(GROUP).candidates
        assert (candidate.distribution, str(candidate.version)) == ("envplug", "1.2.0")
        assert candidate.requires_dist == ("attrs>=23", "tomli")

    def test_scan_kept_until_the_path_changes(self, factory: WheelFactory, tmp_path: Path) -> None:
        """A rescan reuses the last scan while no path entry changed, and reads again once a
        distribution is installed."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        source = EnvironmentSource(path=(str(site),))
        backdate(site)
        first = source.scan(GROUP)
        assert [c.name for c in first.candidates] == ["envplug"]
        # An edit inside an existing .dist-info leaves the site dir's mtime alone: not seen.
        drop_entry_points(site, "envplug")
        assert source.scan(GROUP) is first
        install_into(factory.build("other", code=greet_code("other")), site)
        assert [c.name for c in source.scan(GROUP).candidates] == ["other"]

    def test_fresh_path_entry_read_again(self, factory: WheelFactory, tmp_path: Path) -> None:
        """A path entry changed within the last seconds is read again on every scan: a second
        change in the same clock tick would not show in its mtime."""
        site = tmp_path / "site"
        install_into(factory.build("envplug", code=greet_code("env")), site)
        source = EnvironmentSource(path=(str(site),))
        assert [c.name for c in source.scan(GROUP).candidates] == ["envplug"]
        drop_entry_points(site, "envplug")
        assert source.scan(GROUP).candidates == ()

    def test_installed_plugin_loads(
        self,
        factory: WheelFactory,
        tmp_path: Path,
        make_host: Callable[..., PluginHost],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A host with environment=True loads plugins installed on sys.path, in place."""
        wheel = factory.build("envplug", code=greet_code("from env"))
        wheel.rename(tmp_path / wheel.name)
        site = tmp_path / "site"
        install_into(tmp_path / wheel.name, site)
        monkeypatch.syspath_prepend(str(site))
        host = make_host(sources=[EnvironmentSource(path=(str(site),))])
        assert host.hook.greet(name="x") == ["from env"]
        info = host.plugins["envplug"]
        assert info.site_dir is None
        assert info.origin.startswith("envplug")
        host.remove("envplug")
        assert "envplug" not in sys.modules
