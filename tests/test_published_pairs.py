"""Published plugins whose Requires-Dist names another published plugin, hosted as they are.

The wheels are fetched once with ``pip download --no-deps`` into a cache outside the repository
(``PLUGINHOST_PAIRS_CACHE``, default ``~/.cache/pluginhost-pairs``); without the registry, or
without the application installed, the tests are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pluginhost import PluginHost, ProblemKind
from pluginhost.discover.folder import WheelFolderSource
from pluginhost.model.versions import Version
from pluginhost.resolve.links import link, third_party
from pluginhost.resolve.resolution import resolve

CACHE = Path(os.environ.get("PLUGINHOST_PAIRS_CACHE", Path.home() / ".cache" / "pluginhost-pairs"))
DATASETTE = ("datasette-cluster-map==0.18.2", "datasette-leaflet==0.2.2")
PYTEST = ("pytest-html==4.1.1", "pytest-metadata==3.1.1")


def fetched(tmp_path: Path, pins: tuple[str, ...]) -> Path:
    """A private folder holding the pinned wheels, fetched into the cache when missing."""
    folder = tmp_path / "wheels"
    folder.mkdir(mode=0o700)
    for pin in pins:
        name, version = pin.split("==")
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        found = sorted(CACHE.glob(pattern))
        if not found:
            _download(pin)
            found = sorted(CACHE.glob(pattern))
        if not found:
            pytest.skip(f"pip download of {pin} gave no wheel named {pattern}")
        shutil.copy(found[0], folder / found[0].name)
    return folder


def _download(pin: str) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--retries", "1", "--timeout", "15", "-d", str(CACHE), pin]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"the package registry did not answer for {pin} within 120 s")
    if done.returncode != 0:
        pytest.skip(f"the package registry cannot be reached for {pin}: {done.stderr[-300:]}")


class TestDatasettePair:
    def test_cluster_map_links_to_leaflet(self, tmp_path: Path) -> None:
        """datasette-cluster-map's Requires-Dist datasette-leaflet>=0.2.2 is a plugin dependency."""
        scan = WheelFolderSource(fetched(tmp_path, DATASETTE)).scan("datasette")
        assert scan.problems == ()
        plan = resolve(scan.candidates, api_version=Version(1, 0, 0))
        assert plan.order == ("leaflet", "cluster-map")
        cluster_map = plan.chosen["cluster-map"]
        assert str(cluster_map.requires["leaflet"]) == ">=0.2.2"
        assert "datasette >=0.54" in third_party(cluster_map)
        assert not [r for r in third_party(cluster_map) if r.startswith("datasette-leaflet")]

    @pytest.mark.skipif(
        importlib.util.find_spec("datasette") is None, reason="datasette is not installed"
    )
    def test_hosted_beside_datasette(self, tmp_path: Path) -> None:
        """Both load under a host of datasette's hookspecs, leaflet first, and answer calls."""
        from datasette import hookspecs
        from datasette.app import Datasette

        folder = fetched(tmp_path, DATASETTE)
        host = PluginHost(
            "datasette",
            specs=[hookspecs],
            group="datasette",
            home=tmp_path / "home",
            watch=[folder],
            environment=False,
            live=False,
        )
        with host:
            assert host.load_order() == ("leaflet", "cluster-map")
            assert host.plugins["cluster-map"].requires == {"leaflet": ">=0.2.2"}
            assert not [p for p in host.problems() if p.kind is ProblemKind.REQUIREMENT_FAILED]
            args = dict.fromkeys(("template", "database", "table", "columns", "view_name"))
            answers = host.hook.extra_template_vars(request=None, datasette=Datasette(), **args)
        urls = [a for a in answers if isinstance(a, dict) and "datasette_leaflet_url" in a]
        assert urls == [
            {
                "datasette_leaflet_url": "/-/static-plugins/datasette-leaflet/leaflet-v1.7.1.js",
                "datasette_leaflet_css_url": (
                    "/-/static-plugins/datasette-leaflet/leaflet-v1.7.1.css"
                ),
            }
        ]


class TestPytestPair:
    def test_html_links_to_metadata(self, tmp_path: Path) -> None:
        """pytest-html's Requires-Dist pytest-metadata>=2.0.0 is a plugin dependency."""
        scan = WheelFolderSource(fetched(tmp_path, PYTEST)).scan("pytest11")
        names = {c.distribution for c in scan.candidates}
        if "pytest-html" not in names:
            # One distribution with several entry points (html, html_fixtures) is issue 17's
            # point 2, built on another branch; this test takes effect once it is merged.
            pytest.skip(f"pytest-html is not a candidate here: {[str(p) for p in scan.problems]}")
        html = next(c for c in link(list(scan.candidates)) if c.distribution == "pytest-html")
        assert str(html.requires["metadata"]) == ">=2.0.0"
        assert "pytest-metadata>=2.0.0" not in third_party(html)
