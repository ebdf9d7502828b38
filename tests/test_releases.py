"""What the index follower reads of a wheel's METADATA before validation: the distributions
it requires. A line it cannot read names nothing (validation refuses the wheel and says why),
and a METADATA too large to read is not read."""

from __future__ import annotations

import time
import zipfile
import zlib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pluginhost.discover.index.client import MAX_METADATA_BYTES
from pluginhost.discover.index.pages import IndexFile
from pluginhost.discover.releases import python_fits, releases, requires_in, requires_of
from pluginhost.testing import WheelFactory


def metadata(*lines: str) -> str:
    return "Metadata-Version: 2.1\nName: p\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {line}\n" for line in lines
    )


class TestRequiresIn:
    def test_names_what_applies_here(self) -> None:
        lines = ["attrs>=23", 'click; extra == "cli"', "Attrs<30", "nope; sys_platform == 'x'"]
        text = metadata(*lines)
        assert requires_in(text) == {"attrs": SpecifierSet(">=23,<30")}

    def test_lines_it_cannot_read_name_nothing(self) -> None:
        """Not a requirement, a marker comparing two strings (packaging raises KeyError), an
        invalid version in a marker, a specifier over int()'s digit limit (a ValueError when
        the follower compared it, which failed every poll): each skipped, the others kept."""
        lines = ["not a requirement !", 'a; "y" < "z"', 'b; python_version < "1~"', "c"]
        text = metadata(*lines, "d>=1." + "1" * 5000)
        assert requires_in(text) == {"c": SpecifierSet()}

    def test_more_lines_than_a_wheel_may_have_refused(self) -> None:
        with pytest.raises(ValueError, match="has 5001 Requires-Dist lines, over 5000"):
            requires_in(metadata(*[f"d{n}" for n in range(5_001)]))

    def test_many_lines_on_one_distribution_joined_once(self) -> None:
        """Lines on one distribution are joined once, not line by line (quadratic: 80,000
        lines took 9.8 s); all of them hold."""
        text = metadata(*[f"d>={n}" for n in range(4_999)], "d<9000")
        started = time.monotonic()
        found = requires_in(text)
        assert time.monotonic() - started < 5
        assert found["d"].contains("4998")
        assert not found["d"].contains("9000")
        assert not found["d"].contains("100")


class TestReleases:
    def test_wheels_of_the_project_this_python_installs(self) -> None:
        names = ["hello-1.0-py3-none-any.whl", "hello-2.0.tar.gz", "other-3.0-py3-none-any.whl"]
        files = [IndexFile(name, f"http://index/{name}") for name in names]
        assert [str(r.version) for r in releases("hello", files)] == ["1.0"]

    @pytest.mark.parametrize(
        "name",
        [
            "hello-" + "9" * 5000 + "-py3-none-any.whl",  # a ValueError: it failed every poll
            "hello-1.0.0.x-py3-none-any.whl",
            "hello--py3-none-any.whl",
            "hello-1.0-py3.none.any.whl",
        ],
    )
    def test_a_name_that_is_no_wheel_of_it_is_passed_over(self, name: str) -> None:
        good = IndexFile("hello-1.0-py3-none-any.whl", "http://index/good")
        files = [IndexFile(name, "http://index/bad"), good]
        assert [r.file for r in releases("hello", files)] == [good]


class TestPythonFits:
    def test_this_python(self) -> None:
        assert python_fits(">=3.8")
        assert not python_fits(">=3.99")

    @pytest.mark.parametrize("text", ["not a specifier", ">=3." + "1" * 5000])
    def test_unreadable_is_taken_as_met(self, text: str) -> None:
        """Validation reads the wheel's own and says why; a version over int()'s digit limit
        (a ValueError when the specifier compares) failed every poll of the index."""
        assert python_fits(text)


class TestRequiresOf:
    def test_reads_the_wheel(self, factory: WheelFactory) -> None:
        wheel = factory.build("needy", "1.0.0", requires_dist=["attrs>=23"])
        assert requires_of(wheel) == {"attrs": SpecifierSet(">=23")}

    def test_metadata_over_the_index_limit_is_not_read(self, tmp_path: Path) -> None:
        """A few kilobytes deflating to more than an index may serve as METADATA: not read."""
        wheel = tmp_path / "bomb-1.0-py3-none-any.whl"
        body = metadata("attrs") + "X: " + "a" * MAX_METADATA_BYTES + "\n"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bomb-1.0.dist-info/METADATA", body)
        assert wheel.stat().st_size < 64 * 1024
        assert requires_of(wheel) == {}

    def test_corrupt_metadata_names_nothing(self, tmp_path: Path) -> None:
        """A METADATA whose deflate stream is corrupt (zlib.error, which escaped and failed
        every poll of the index): nothing is named, and validation says why."""
        wheel = tmp_path / "corrupt-1.0-py3-none-any.whl"
        name = "corrupt-1.0.dist-info/METADATA"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, metadata(*["attrs"] * 200))
        data = bytearray(wheel.read_bytes())
        start = 30 + len(name)  # the local header, then the deflated bytes
        data[start + 5 : start + 25] = bytes(b ^ 0xFF for b in data[start + 5 : start + 25])
        wheel.write_bytes(bytes(data))
        with zipfile.ZipFile(wheel) as archive, pytest.raises(zlib.error):
            archive.read(name)
        assert requires_of(wheel) == {}

    def test_a_directory_validation_refuses_is_not_opened(self, factory: WheelFactory) -> None:
        """Entries with extra fields zipfile decodes in quadratic time: refused by the walk
        validation makes first, here too (the follower opened it with zipfile directly)."""
        wheel = factory.build(
            "needy", "1.0.0", requires_dist=["attrs>=23"], broken="long-extra-field"
        )
        assert requires_of(wheel) == {}

    def test_unreadable_wheel_names_nothing(self, tmp_path: Path) -> None:
        wheel = tmp_path / "junk-1.0-py3-none-any.whl"
        wheel.write_bytes(b"not a zip")
        assert requires_of(wheel) == {}
