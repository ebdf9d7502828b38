"""The distributions of mapped site dirs, as importlib.metadata and its backport see them."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import importlib_metadata
import pytest

from pluginhost import EnvironmentSource
from pluginhost.load.distributions import distribution_of, find_distributions
from pluginhost.load.modules import PluginFinder
from pluginhost.model.candidate import Candidate, InstalledOrigin, WheelOrigin
from pluginhost.model.manifest import Manifest


def site(tmp_path: Path, name: str, version: str, module: str = "") -> Path:
    """A site dir with a module and its dist-info (METADATA, entry points, RECORD)."""
    root = tmp_path / f"{name}-{version}"
    module = module or name.replace("-", "_")
    info = root / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (root / f"{module}.py").write_text("VALUE = 1\n")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[greeter.plugins]\n{name} = {module}\n")
    (info / "RECORD").write_text(f"{module}.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return root


def candidate(name: str, origin: WheelOrigin | InstalledOrigin) -> Candidate:
    return Candidate(Manifest.default(name=name, dist_version="1.0.0"), origin, name, name)


class TestFinderDistributions:
    def test_both_libraries_see_a_mapped_site(self, finder: PluginFinder, tmp_path: Path) -> None:
        """version(), distribution(), entry_points() and files() of importlib.metadata and of
        importlib_metadata see a distribution in a mapped site dir."""
        finder.map(["phx_dist_one"], site(tmp_path, "phx-dist-one", "1.2.0"))
        for library in (importlib.metadata, importlib_metadata):
            assert library.version("phx-dist-one") == "1.2.0"
            assert library.distribution("phx_dist_one").metadata["Name"] == "phx-dist-one"
            names = [ep.name for ep in library.entry_points(group="greeter.plugins")]
            assert "phx-dist-one" in names
            files = library.files("phx-dist-one")
            assert files is not None
            assert "phx_dist_one.py" in [f.name for f in files]

    def test_unmapped_site_unseen(self, finder: PluginFinder, tmp_path: Path) -> None:
        """Once its names are unmapped, a site dir's distribution is gone from the metadata."""
        finder.map(["phx_dist_two"], site(tmp_path, "phx-dist-two", "1.0.0"))
        finder.unmap(["phx_dist_two"])
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version("phx-dist-two")
        with pytest.raises(importlib_metadata.PackageNotFoundError):
            importlib_metadata.version("phx-dist-two")

    def test_serving_version_answers(self, finder: PluginFinder, tmp_path: Path) -> None:
        """Remapped to another version's site dir, the metadata is that version's."""
        finder.map(["phx_dist_three"], site(tmp_path / "a", "phx-dist-three", "1.0.0"))
        finder.map(["phx_dist_three"], site(tmp_path / "b", "phx-dist-three", "2.0.0"))
        assert importlib.metadata.version("phx-dist-three") == "2.0.0"


class TestFindDistributions:
    def test_each_library_gets_its_own_type(self, tmp_path: Path) -> None:
        """The stdlib context gets stdlib distributions, the backport's context the backport's."""
        root = str(site(tmp_path, "phx-kind", "1.0.0"))
        std = importlib.metadata.DistributionFinder.Context(name="phx-kind")
        back = importlib_metadata.DistributionFinder.Context(name="phx-kind")
        (one,) = find_distributions([root], std)
        (two,) = find_distributions([root], back)
        assert isinstance(one, importlib.metadata.PathDistribution)
        assert isinstance(two, importlib_metadata.PathDistribution)

    def test_explicit_path_limits_the_search(self, tmp_path: Path) -> None:
        """A caller that names the paths to search gets only the site dirs among them."""
        root = str(site(tmp_path, "phx-path", "1.0.0"))
        elsewhere = importlib.metadata.DistributionFinder.Context(path=[str(tmp_path)])
        here = importlib.metadata.DistributionFinder.Context(path=[root])
        assert list(find_distributions([root], elsewhere)) == []
        assert [d.version for d in find_distributions([root], here)] == ["1.0.0"]


class TestDistributionOf:
    def test_site_dir(self, tmp_path: Path) -> None:
        """A plugin's distribution is the dist-info of its name in its site dir."""
        root = site(tmp_path, "phx-of", "1.0.0")
        found = distribution_of(
            candidate("phx-of", WheelOrigin(tmp_path / "w.whl", "0" * 64)), root
        )
        assert found is not None
        assert found.version == "1.0.0"

    def test_installed(self, tmp_path: Path) -> None:
        """An installed plugin's distribution is found where it is installed."""
        root = site(tmp_path, "phx-inst", "1.0.0")
        origin = InstalledOrigin("phx-inst", str(root))
        found = distribution_of(candidate("phx-inst", origin), None)
        assert found is not None
        assert found.metadata["Name"] == "phx-inst"

    def test_installed_as_discovered(self, tmp_path: Path) -> None:
        """Discovery tells the metadata dir it read, and the distribution is made from it:
        an egg-info plugin, which no listing of dist-info dirs finds, has its distribution
        too (as pluggy's ``load_setuptools_entrypoints`` gives it)."""
        root = tmp_path / "site"
        info = root / "eggplug-1.0.egg-info"
        info.mkdir(parents=True)
        (root / "eggplug.py").write_text("VALUE = 1\n")
        (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: eggplug\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[greeter.plugins]\neggplug = eggplug\n")
        (info / "top_level.txt").write_text("eggplug\n")
        (found,) = EnvironmentSource(path=(str(root),)).scan("greeter.plugins").candidates
        assert isinstance(found.origin, InstalledOrigin)
        assert found.origin.metadata_dir == str(info)
        dist = distribution_of(found, None)
        assert dist is not None
        assert (dist.metadata["Name"], dist.version) == ("eggplug", "1.0")

    def test_metadata_dir_is_not_identity(self, tmp_path: Path) -> None:
        """The same installed distribution, with or without its metadata dir known (as the
        registry restores it), is the same origin."""
        told = InstalledOrigin("phx", str(tmp_path), str(tmp_path / "phx-1.0.dist-info"))
        plain = InstalledOrigin("phx", str(tmp_path))
        assert told == plain
        assert hash(told) == hash(plain)

    def test_none_without_dist_info(self, tmp_path: Path) -> None:
        """A site dir without the plugin's dist-info gives no distribution."""
        origin = WheelOrigin(tmp_path / "w.whl", "0" * 64)
        assert distribution_of(candidate("phx-none", origin), tmp_path) is None
