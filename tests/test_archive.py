"""The archive checks added against hostile zips: overlapping members, the whole archive's
ratio, and member names no file system holds (pluginhost.discover.archive and .names)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from pluginhost import WheelError, WheelLimits
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.names import installed_parts, name_refusal, tree_refusal
from pluginhost.discover.wheel import inspect_wheel
from pluginhost.testing import WheelFactory

MIB = 1024 * 1024


class TestOverlaps:
    @pytest.mark.parametrize(
        ("kind", "reason"),
        [
            ("overlapping-entries", "member 'hello/__init__.py' overlaps member 'hello/overlap"),
            ("same-offset", "member 'hello/alias.py' overlaps member 'hello/__init__.py'"),
            ("into-central-directory", "runs into the central directory"),
        ],
    )
    def test_refused_before_any_member_is_read(
        self, factory: WheelFactory, kind: str, reason: str
    ) -> None:
        """Members sharing bytes are refused from the headers, with their names, whatever
        zipfile itself would check when reading them."""
        wheel = factory.build("hello", broken=kind)
        with pytest.raises(WheelError, match="a zip bomb") as caught:
            inspect_wheel(wheel)
        assert reason in caught.value.reason

    def test_laid_out_by_hand_but_intact_is_accepted(self, factory: WheelFactory) -> None:
        """The control: members written one after the other pass (the check is not the
        hand-made layout refusing)."""
        inspect_wheel(factory.build("hello", files={"hello/a.py": "A = 1\n"}))


class TestArchiveRatio:
    def test_default_and_validation(self) -> None:
        """The limit defaults to 100 and must be a positive integer."""
        assert WheelLimits().max_archive_ratio == 100
        with pytest.raises(ValueError, match="max_archive_ratio must be a positive integer"):
            WheelLimits(max_archive_ratio=0)

    def test_many_small_bombs_refused(self, factory: WheelFactory) -> None:
        """Members each under the per-member floor add up to a bomb: refused on declared
        sizes, naming both totals."""
        wheel = factory.build("hello", broken="archive-ratio")
        with pytest.raises(WheelError, match=r"declares \d+ bytes uncompressed from \d+ comp"):
            inspect_wheel(wheel)

    def test_padded_shared_library_accepted_by_default(self, factory: WheelFactory) -> None:
        """A vendored library padded with zeros, as auditwheel leaves them (pillow 13.0.0's
        libXau: 2 MiB at a ratio of 224), is no bomb under the default limits."""
        library = random.Random(0).randbytes(7000) + bytes(2 * MIB)
        wheel = factory.build("hello", files={"hello.libs/libXau-0.so.6": library})
        assert WheelLimits().max_ratio == 500
        inspect_wheel(wheel)

    def test_member_size_bounded_by_the_total_by_default(self) -> None:
        """One member may be as large as the whole (playwright's driver/node is 146 MiB)."""
        assert WheelLimits().max_member_size == WheelLimits().max_total_size == 256 * MIB

    def test_raised_limit_accepts(self, factory: WheelFactory) -> None:
        """The same wheel passes with a limit above its ratio (and a per-member one too)."""
        wheel = factory.build("hello", broken="archive-ratio")
        inspect_wheel(wheel, limits=WheelLimits(max_archive_ratio=5000))

    def test_small_archives_exempt(self, factory: WheelFactory) -> None:
        """Under 8 MiB in all, repetitive members are no bomb."""
        files = {f"hello/z{i}.txt": bytes(MIB) for i in range(7)}
        inspect_wheel(factory.build("hello", files=files))


class TestNames:
    def test_component_length_counts_bytes(self) -> None:
        """255 bytes per component pass; 256, or 128 two-byte letters, do not."""
        assert name_refusal("pkg/" + "a" * 255) is None
        assert "component of 256 bytes" in (name_refusal("pkg/" + "a" * 256) or "")
        assert "component of 256 bytes" in (name_refusal("pkg/" + "é" * 128) or "")

    def test_whole_name_length(self) -> None:
        """A name over 1024 bytes is refused even when every component is short."""
        assert name_refusal("/".join(["a" * 100] * 10)) is None
        assert "over the limit of 1024" in (name_refusal("/".join(["a" * 100] * 11)) or "")

    @pytest.mark.parametrize(
        ("names", "reason"),
        [
            (["a/b", "a/b/c.py"], "'a/b' is a file where member 'a/b/c.py' needs a directory"),
            (["a/b/", "a/b"], "'a/b' is a file where member 'a/b/' needs a directory"),
            (["A/b.py", "a/B.py/c"], "'A/b.py' is a file where member 'a/B.py/c' needs"),
            (["p.data/purelib/a/b", "a/b"], "install to the same file"),
            (["p.data/platlib/a", "a/b.py"], "where member 'a/b.py' needs a directory"),
        ],
    )
    def test_tree_clashes(self, names: list[str], reason: str) -> None:
        """Names a file system cannot hold together, .data schemes included."""
        assert reason in (tree_refusal(names) or "")

    def test_tree_without_clash(self) -> None:
        """Scripts land in bin/, data under .pluginhost/: no clash with the package's own
        names."""
        assert tree_refusal(["a/b.py", "p.data/scripts/a", "p.data/data/a/b.py/c"]) is None
        assert installed_parts("p.data/scripts/a") == ["bin", "a"]
        assert installed_parts("p.data/data/a") == [".pluginhost", "data", "a"]

    def test_a_script_and_a_root_bin_member_clash(self) -> None:
        """A member at bin/ of the root and a script of the same name are one file."""
        assert "install to the same file" in (tree_refusal(["bin/x", "p.data/scripts/x"]) or "")

    @pytest.mark.parametrize(
        "member",
        ["hello/utils/coverage/sitecustomize.py", "hello/bootstrap/usercustomize/__init__.py"],
    )
    def test_startup_module_inside_a_package_is_accepted(
        self, factory: WheelFactory, member: str
    ) -> None:
        """A sitecustomize below the root is the plugin's own module, not site's (as
        pytest-salt-factories 1.0.5 and ddtrace ship one): accepted, plugin and all."""
        wheel = factory.build("hello", group="pytest11", files={member: "X = 1\n"})
        candidate = candidate_from_wheel(inspect_plugin_wheel(wheel), "pytest11")
        assert candidate is not None
        assert member in inspect_wheel(wheel).members

    @pytest.mark.parametrize(
        "member",
        ["sitecustomize.py", "hello-1.0.0.data/purelib/sitecustomize.py", "UserCustomize/a.py"],
    )
    def test_startup_module_at_the_root_is_refused(self, member: str) -> None:
        """At the root of the site dir, .data/purelib included, it is site's: refused."""
        assert "is a startup module" in (name_refusal(member) or "")

    @pytest.mark.parametrize(
        "member",
        [
            ".pluginhost/wheel.sha256",
            ".pluginhost/evil.py",
            ".PluginHost/x",
            ".pluginhost",
            ".pluginhost/data/x",
            "hello-1.0.0.data/purelib/.pluginhost/x",
            "hello-1.0.0.data/platlib/.pluginhost/headers/h.h",
        ],
    )
    def test_the_site_dirs_own_folder_is_refused(self, member: str) -> None:
        """No member installs under .pluginhost/: the site dir's stamp and data are there."""
        assert "installs under .pluginhost/, the site dir's own folder" in (
            name_refusal(member) or ""
        )

    @pytest.mark.parametrize(
        "member",
        [f"hello-1.0.0.data/{scheme}/" for scheme in ("scripts", "purelib", "platlib", "data")]
        + ["hello-1.0.0.data/headers/", "hello-1.0.0.data/"],
    )
    def test_a_schemes_directory_entry_is_accepted(self, member: str) -> None:
        """The directory entries of the .data schemes (ninja 1.13.2's wheel holds
        ninja-1.13.2.data/scripts/) install nothing: accepted (they were refused, as members
        installing under .pluginhost/)."""
        assert name_refusal(member) is None

    def test_a_file_named_as_a_scheme_is_refused(self) -> None:
        """A file, not a directory entry, where a scheme's folder goes lands under
        .pluginhost/: refused."""
        assert "installs under .pluginhost/" in (name_refusal("hello-1.0.0.data/scripts") or "")

    def test_a_stamp_member_refuses_the_wheel(self, factory: WheelFactory) -> None:
        """A wheel shipping .pluginhost/wheel.sha256 is refused at validation, named."""
        wheel = factory.build("hello", files={".pluginhost/wheel.sha256": "0" * 64 + "\n"})
        with pytest.raises(WheelError, match=r"member '\.pluginhost/wheel\.sha256' installs under"):
            inspect_wheel(wheel)

    @pytest.mark.parametrize("member", ["hello-1.0.0.data/data/x", "hello-1.0.0.data/headers/h.h"])
    def test_data_and_headers_go_there_accepted(self, member: str) -> None:
        """The data and headers schemes are put under .pluginhost/ by the site writer."""
        assert name_refusal(member) is None
        assert installed_parts(member)[0] == ".pluginhost"

    def test_startup_name_in_other_schemes_is_accepted(self) -> None:
        """Scripts land in bin/, data under .pluginhost/, where nothing imports them."""
        assert name_refusal("hello-1.0.0.data/scripts/sitecustomize.py") is None


def deep_names(count: int, top: str = "heavy") -> list[str]:
    """``count`` member names 500 components deep (1,000 bytes, under the 1,024-byte cap), all
    in one directory, as attack probe 07 shipped them."""
    return [f"{top}/" + "/".join(["d"] * 500) + f"/m{i}.py" for i in range(count)]


class TestDeepNames:
    def test_checked_in_time_linear_in_their_length(self) -> None:
        """9,990 names of 500 components are checked in well under a second (20 s before:
        every prefix of every name was joined), and a clash among them is still named."""
        names = deep_names(9_990)
        started = time.monotonic()
        assert [name_refusal(name) for name in names] == [None] * len(names)
        assert tree_refusal(names) is None
        clash = [*names, names[7] + "/below.py"]
        reason = tree_refusal(clash) or ""
        assert time.monotonic() - started < 2
        assert f"member {names[7]!r} is a file where member {clash[-1]!r} needs" in reason

    def test_a_wheel_of_deep_names_refused_in_time(self, tmp_path: Path) -> None:
        """Attack probe 07's wheel (9,990 such members, 21 MB) is refused for its RECORD, in
        well under a second of validation (13 s before); a plain wheel still validates."""
        files: dict[str, str | bytes] = dict.fromkeys(deep_names(9_990), "")
        files["heavy/pad.bin"] = os.urandom(300_000)  # keeps the archive's ratio in bounds
        heavy = WheelFactory(tmp_path).build("heavy", code="", files=files)
        started = time.monotonic()
        with pytest.raises(WheelError, match=r"RECORD is \d+ bytes, over the limit") as caught:
            inspect_plugin_wheel(heavy)
        assert time.monotonic() - started < 2
        assert caught.value.path == str(heavy)
        plain = WheelFactory(tmp_path).build("plain", files={"plain/a/b/c.py": ""})
        assert inspect_plugin_wheel(plain).info.distribution == "plain"
