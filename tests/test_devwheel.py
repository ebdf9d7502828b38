"""Dev labels put into built wheels: file name, .dist-info, METADATA and RECORD agree."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from conftest import greet_code

from pluginhost import PluginHost
from pluginhost.cli.devwheel import DevWheel, dev_number, dev_wheels, relabel
from pluginhost.testing import WheelFactory


class TestRelabel:
    def test_names_and_metadata(self, tmp_path: Path, factory: WheelFactory) -> None:
        """The file name, the .dist-info folder and METADATA all carry the dev version."""
        built = factory.build("shout", "1.2.0", code=greet_code("hi"))
        out = relabel(built, 3, tmp_path)
        assert out.name == "shout-1.2.0+dev.3-py3-none-any.whl"
        with zipfile.ZipFile(out) as wheel:
            names = wheel.namelist()
            metadata = wheel.read("shout-1.2.0+dev.3.dist-info/METADATA").decode()
        assert "Version: 1.2.0+dev.3" in metadata.splitlines()
        assert not any(n.startswith("shout-1.2.0.dist-info/") for n in names)
        assert DevWheel(out).number == 3

    def test_replaces_a_label(self, tmp_path: Path, factory: WheelFactory) -> None:
        """A wheel that already has a local label gets the new one instead."""
        first = relabel(factory.build("shout", "1.2.0"), 1, tmp_path / "a")
        assert relabel(first, 2, tmp_path).name == "shout-1.2.0+dev.2-py3-none-any.whl"

    def test_each_rebuild_swaps(
        self,
        tmp_path: Path,
        wheels: Path,
        factory: WheelFactory,
        make_host: Callable[..., PluginHost],
    ) -> None:
        """The host validates the relabelled wheel, loads it, and swaps to the next label."""
        built = factory.build("shout", "1.2.0", code=greet_code("one"))
        aside = tmp_path / "aside"
        aside.mkdir()
        built.rename(aside / built.name)
        relabel(aside / built.name, 1, wheels)
        host = make_host()
        assert host.plugins["shout"].version == "1.2.0+dev.1", host.problems()
        relabel(aside / built.name, 2, wheels)
        assert host.wait_idle(10)
        assert host.plugins["shout"].version == "1.2.0+dev.2", host.problems()
        assert host.problems() == ()


class TestNumbers:
    def test_dev_number(self) -> None:
        """Only a +dev.N label has a number."""
        assert dev_number("1.2.0+dev.12") == 12
        assert dev_number("1.2.0+local") is None
        assert dev_number("1.2.0") is None

    def test_dev_wheels_of_one_distribution(self, tmp_path: Path, factory: WheelFactory) -> None:
        """Dev wheels of the distribution, by number; others and releases are left out."""
        for n in (10, 2):
            relabel(factory.build("shout", "1.0.0"), n, factory.directory)
        relabel(factory.build("other", "1.0.0"), 5, factory.directory)
        found = dev_wheels(factory.directory, "shout")
        assert [w.number for w in found] == [2, 10]
