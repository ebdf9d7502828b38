"""The wheel factory: valid, deterministic wheels with the manifest asked for."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from installer.sources import WheelFile

from pluginhost.discover.wheel import inspect_wheel, read_member
from pluginhost.testkit.wheels import WheelFactory

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def manifest_of(wheel: Path, module: str) -> dict[str, object]:
    return tomllib.loads(read_member(wheel, f"{module}/plugin.toml", max_size=4096).decode())


class TestWheelFactory:
    def test_deterministic(self, tmp_path: Path) -> None:
        """Identical inputs give identical bytes, whichever directory and moment."""

        def build(folder: Path) -> bytes:
            factory = WheelFactory(folder)
            files = {"data.txt": b"\0\1"}
            return factory.build(
                "hello", code="X = 1", requires={"dep": "^1"}, files=files
            ).read_bytes()

        assert build(tmp_path / "one") == build(tmp_path / "two")

    def test_inputs_change_bytes(self, factory: WheelFactory) -> None:
        """Different code gives a different wheel."""
        one = factory.build("hello", code="X = 1").read_bytes()
        two = factory.build("hello", code="X = 2").read_bytes()
        assert one != two

    def test_names(self, factory: WheelFactory) -> None:
        """The file, the package and the entry point follow the plugin name."""
        wheel = factory.build("My.Plugin-Name", "2.0.1")
        assert wheel == factory.directory / "my_plugin_name-2.0.1-py3-none-any.whl"
        info = inspect_wheel(wheel)
        assert info.distribution == "My.Plugin-Name"
        assert info.top_level == ("My_Plugin_Name",)
        (entry,) = info.entry_points
        assert (entry.name, entry.group, entry.value) == (
            "My.Plugin-Name",
            "greeter.plugins",
            "My_Plugin_Name",
        )

    def test_a_semver_prerelease_is_written_as_pep_440(self, factory: WheelFactory) -> None:
        """The docs' ``1.1.0-rc.1`` made ``rc-1.1.0-rc.1-py3-none-any.whl``, a file name every
        host refused; the distribution's version is normalized, the manifest keeps it."""
        wheel = factory.build("rc", "1.1.0-rc.1")
        assert wheel.name == "rc-1.1.0rc1-py3-none-any.whl"
        assert inspect_wheel(wheel).version == "1.1.0rc1"
        assert manifest_of(wheel, "rc")["plugin"] == {"name": "rc", "version": "1.1.0-rc.1"}
        with pytest.raises(ValueError, match="'one' is not a PEP 440 version"):
            factory.build("rc", "one")

    def test_overrides(self, factory: WheelFactory) -> None:
        """Module, group, entry point, distribution, tag and file name can all be chosen."""
        wheel = factory.build(
            "hello",
            module="hello_impl",
            group="other.group",
            entry_point="hello_impl:plugin",
            distribution="hello-dist",
            tag="py2.py3-none-any",
            filename="custom-name.whl",
        )
        assert wheel.name == "custom-name.whl"
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            wheel_file = archive.read("hello_dist-1.0.0.dist-info/WHEEL").decode()
        assert {"hello_impl/__init__.py", "hello_dist-1.0.0.dist-info/METADATA"} <= names
        assert "Tag: py2.py3-none-any\n" in wheel_file
        entry_points = "[other.group]\nhello = hello_impl:plugin\n"
        assert read_member(wheel, "hello_dist-1.0.0.dist-info/entry_points.txt", max_size=999) == (
            entry_points.encode()
        )

    def test_generated_manifest(self, factory: WheelFactory) -> None:
        """The manifest holds name, version, host and the requires and optional tables."""
        wheel = factory.build(
            "hello",
            "1.2.0",
            host="^1.0",
            requires={"base": "^2", "my.dep": ">=0.3"},
            optional={"metrics": "~1.1"},
        )
        assert manifest_of(wheel, "hello") == {
            "plugin": {
                "name": "hello",
                "version": "1.2.0",
                "host": "^1.0",
                "requires": {"base": "^2", "my.dep": ">=0.3"},
                "optional": {"metrics": "~1.1"},
            }
        }

    def test_minimal_manifest(self, factory: WheelFactory) -> None:
        """Without constraints the manifest has just name and version."""
        wheel = factory.build("hello")
        assert manifest_of(wheel, "hello") == {"plugin": {"name": "hello", "version": "1.0.0"}}

    def test_manifest_escapes(self, factory: WheelFactory) -> None:
        """Quotes and backslashes in values survive the TOML round trip."""
        wheel = factory.build("hello", host='say "hi" \\ bye')
        assert manifest_of(wheel, "hello")["plugin"] == {
            "name": "hello",
            "version": "1.0.0",
            "host": 'say "hi" \\ bye',
        }

    def test_manifest_verbatim(self, factory: WheelFactory) -> None:
        """A given manifest is written as is."""
        wheel = factory.build("hello", manifest="not [valid toml")
        assert read_member(wheel, "hello/plugin.toml", max_size=99) == b"not [valid toml"

    def test_no_manifest(self, factory: WheelFactory) -> None:
        """``no_manifest`` ships no plugin.toml."""
        wheel = factory.build("hello", no_manifest=True)
        assert "hello/plugin.toml" not in inspect_wheel(wheel).members

    def test_metadata(self, factory: WheelFactory) -> None:
        """Requires-Dist and Requires-Python land in METADATA."""
        wheel = factory.build("hello", requires_dist=["attrs>=23"], requires_python=">=3.8")
        info = inspect_wheel(wheel)
        assert info.requires_dist == ("attrs>=23",)
        assert info.requires_python == ">=3.8"

    def test_record_satisfies_installer(self, factory: WheelFactory) -> None:
        """installer's own RECORD check accepts the factory's wheels."""
        wheel = factory.build("hello", code="X = 1", files={"hello/data.bin": b"\xff" * 10})
        with WheelFile.open(wheel) as source:
            source.validate_record()

    def test_no_temporary_file_left(self, factory: WheelFactory) -> None:
        """Wheels are written aside and renamed: only the wheel remains in the folder."""
        wheel = factory.build("hello")
        assert list(factory.directory.iterdir()) == [wheel]

    def test_unknown_broken_kind(self, factory: WheelFactory) -> None:
        """An unknown ``broken`` kind is a ValueError, not a valid wheel."""
        with pytest.raises(ValueError, match="unknown broken kind"):
            factory.build("hello", broken="slightly-off")
