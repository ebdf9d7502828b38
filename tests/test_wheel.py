"""Wheel validation: what a valid wheel declares, and every way a wheel is refused."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pluginhost.discover.archive
from pluginhost.discover.archive import WheelBytes, WheelLimits, read_wheel_bytes
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.discover.metadata import EntryPointSpec
from pluginhost.discover.wheel import inspect_members, inspect_wheel, read_member
from pluginhost.model.errors import ManifestError, WheelError
from pluginhost.testing import BROKEN_KINDS, WheelFactory
from pluginhost.testkit.archive import Draft, write_archive

# "too-many-members" needs a limit below the default; the other kinds are refused either way.
LOW = WheelLimits(max_members=50)

REASONS = {
    "bad-record-hash": "does not match its RECORD hash",
    "missing-from-record": "is not listed in RECORD",
    "no-record": "has no evil-1.0.0.dist-info/RECORD",
    "absolute-path": "is an absolute path",
    "dotdot-path": "has a '..' component",
    "backslash-path": "contains a backslash",
    "drive-letter": "starts with a drive letter",
    "nul-name": "contains a NUL byte",
    "symlink": "is a symbolic link",
    "duplicate-member": "contains the member 'evil/__init__.py' twice",
    "case-duplicate": "differing in case",
    "sitecustomize": "is a startup module",
    "pycache-member": "__pycache__",
    "filename-mismatch": "evil-9.9.9.dist-info disagrees with the file name",
    "metadata-mismatch": "METADATA Version '9.9.9' disagrees with the file name",
    "no-metadata": "has no evil-1.0.0.dist-info/METADATA",
    "two-dist-info": "exactly one .dist-info directory",
    "wheel-version": "Wheel-Version '2.0'",
    "foreign-tag": "cp27-cp27m-win32",
    "requires-python": "requires Python >=4",
    "weak-hash": "with 'md5': a weak or unknown hash algorithm",
    "zip-bomb": "zip bomb",
    "too-many-members": "more than the limit of 50",
    "not-a-zip": "not a zip archive",
    "truncated": "not a zip archive",
    "bad-filename": "not a valid wheel file name",
    "encrypted": "member 'evil/__init__.py' is encrypted",
    "size-lie": "holds",
    "header-name-mismatch": "and header b'evil/__init__.pz' differ",
    "prepended-data": "has data before its first member",
    "trailing-data": "has data after the end of its zip archive",
    "empty-file": "not a zip archive",
    "record-size-lie": "does not match its RECORD hash and size",
    "record-malformed": "RECORD has a malformed row",
    "metadata-name-mismatch": "METADATA Name 'other-name' disagrees with the file name",
    "pypy-tag": "pp310-pypy310_pp73-any",
    "platform-tag": "py3-none-win_amd64",
    "usercustomize": "'usercustomize.py' is a startup module",
    "data-purelib-escape": "has a '..' component",
    "wheel-version-superscript": "WHEEL has Wheel-Version '\u00b9.0'",
    "wheel-version-huge": "WHEEL has Wheel-Version '1111",
    "record-size-superscript": "RECORD gives the invalid size '\u00b9'",
    "record-size-huge": "RECORD gives the invalid size '1111",
    "record-field-over-csv-limit": "RECORD is not valid CSV: field larger than field limit",
    "requires-python-huge": "METADATA has an invalid Requires-Python '>=3.1111",
    "metadata-version-huge": "METADATA Version '1.1111",
    # A .dist-info name of over 5,000 bytes: no file system holds it, refused before its version
    # is read (the version parser's refusal is tested in test_fuzz_fields).
    "dist-info-version-huge": "over the limit of 1024 (a path the file system cannot hold)",
    "requires-dist-huge": "METADATA has an invalid Requires-Dist 'attrs>=1111",
    "requires-dist-marker-huge": "METADATA has an invalid Requires-Dist 'attrs; python_version",
    "record-size-arabic-digits": "RECORD gives the invalid size '\u0660'",
    "overlapping-entries": "overlaps member 'evil/overlap.bin' in the archive",
    "same-offset": "(overlapping members: a zip bomb)",
    "directory-only": "has more than the limit of 50 members in its central directory",
    "directory-only-zip64": "has more than the limit of 50 members in its central directory",
    "long-extra-field": (
        "member 'evil/__init__.py' (entry 1 of its central directory) has an extra field of "
        "1024 bytes, over the limit of 256"
    ),
    "into-central-directory": "runs into the central directory",
    "archive-ratio": "a ratio over the archive limit of 100",
    "long-component": "has a component of 303 bytes, over the limit of 255",
    "long-path": "over the limit of 1024 (a path the file system cannot hold)",
    "file-and-directory": "'evil/sub' is a file where member 'evil/sub/x.py' needs a directory",
    "data-same-file": "install to the same file",
    "metadata-over-limit": "METADATA is 1197520 bytes, over the limit of 1048576",
    "requires-dist-marker-undefined": """an invalid Requires-Dist 'attrs; "y" < "z"'""",
    "too-many-requirements": "METADATA has 5001 Requires-Dist lines, over the limit of 5000",
    "too-many-entry-points": "declares more than 10000 entry points",
    "console-script-no-reference": "[console_scripts] 't' = 'not a ref!!' is no 'module:attr'",
    "console-script-empty-name": "line 5 in [console_scripts] has an empty name",
    "console-script-collision": (
        "[console_scripts] 'tool' and member 'evil-1.0.0.data/scripts/tool' both install 'bin/tool'"
    ),
    "stamp-member": "member '.pluginhost/wheel.sha256' installs under .pluginhost/",
    "wheel-version-no-minor": "WHEEL has Wheel-Version '1'; only 1.x is supported",
}

Snapshot = Callable[[], dict[str, tuple[int, int]]]


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wheels of any size are read from their file by chunks, not held in memory."""
    monkeypatch.setattr(pluginhost.discover.archive, "_IN_MEMORY", 0)


def is_toml(name: str) -> bool:
    return name.endswith(".toml")


@pytest.fixture
def snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    """Every file under ``tmp_path`` with size and mtime; temp files are routed there too."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))

    def take() -> dict[str, tuple[int, int]]:
        return {
            os.path.join(root, name): (st.st_size, st.st_mtime_ns)
            for root, dirs, files in os.walk(tmp_path)
            for name in files + dirs
            for st in [os.stat(os.path.join(root, name))]
        }

    return take


class TestInspectWheel:
    def test_valid_wheel_fields(self, factory: WheelFactory) -> None:
        """A valid wheel's metadata, tags, entry points, top-level names and members are read."""
        wheel = factory.build(
            "Hello.World",
            "1.2.0",
            code="X = 1",
            requires_dist=["attrs>=23", "pluggy"],
            requires_python=">=3.8",
            files={"helper_mod/__init__.py": "", "single.py": "", "README.txt": "hi"},
        )
        info = inspect_wheel(wheel)
        assert info.path == wheel
        assert info.distribution == "Hello.World"
        assert info.version == "1.2.0"
        assert info.dist_info_dir == "hello_world-1.2.0.dist-info"
        assert info.tags == ("py3-none-any",)
        assert info.requires_python == ">=3.8"
        assert info.requires_dist == ("attrs>=23", "pluggy")
        assert info.entry_points == (
            EntryPointSpec(name="Hello.World", group="greeter.plugins", value="Hello_World"),
        )
        assert info.top_level == ("Hello_World", "helper_mod", "single")
        assert "hello_world-1.2.0.dist-info/RECORD" in info.members
        assert len(info.sha256) == 64

    def test_sha256_is_of_the_file(self, factory: WheelFactory) -> None:
        """The digest is the hex sha256 of the whole file."""
        import hashlib

        wheel = factory.build("hello")
        assert inspect_wheel(wheel).sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()

    def test_top_level_from_data_dirs(self, factory: WheelFactory) -> None:
        """Modules under ``<name>.data/purelib`` and ``platlib`` are top-level; scripts are not."""
        wheel = factory.build(
            "hello",
            files={
                "hello-1.0.0.data/purelib/pure_mod.py": "",
                "hello-1.0.0.data/platlib/plat_pkg/__init__.py": "",
                "hello-1.0.0.data/scripts/tool": "#!python\n",
            },
        )
        assert inspect_wheel(wheel).top_level == ("hello", "plat_pkg", "pure_mod")

    @pytest.mark.parametrize(
        "member", ["hello-1.0.0.data/evil.py", "hello-1.0.0.data/lib/evil.py", "hello-2.0.data/x"]
    )
    def test_data_dir_layout(self, member: str, factory: WheelFactory) -> None:
        """Files in ``.data`` must be in a scheme directory of the one expected ``.data``."""
        wheel = factory.build("hello", files={member: "X = 1\n"})
        with pytest.raises(WheelError, match=r"\.data"):
            inspect_wheel(wheel)

    def test_entry_points_keep_case_and_percent(self, factory: WheelFactory) -> None:
        """Entry point names keep their case, and ``%`` in values is not interpolated."""
        wheel = factory.build("hello", group="Some.Group", entry_point="hello:obj  # 100%")
        (entry,) = inspect_wheel(wheel).entry_points
        assert entry == EntryPointSpec("hello", "Some.Group", "hello:obj  # 100%")

    @pytest.mark.parametrize(
        ("text", "accepted"),
        [
            ("1.0", True),
            ("1.9", True),
            ("1.0.1", True),
            ("1", False),
            ("01.0", False),
            ("2.0", False),
            ("\x0c1.0", False),
        ],
    )
    def test_wheel_version_as_installer_takes_it(self, text: str, accepted: bool) -> None:
        """A Wheel-Version is accepted when installer installs it (it starts with ``1.``)."""
        draft = Draft("hello", "1.0.0", "py3-none-any", "hello", [], {}, wheel_version=text)
        with tempfile.TemporaryDirectory() as folder:
            wheel = Path(folder) / draft.filename
            wheel.write_bytes(write_archive(draft, {"greeter.plugins": {"hello": "hello"}}))
            if accepted:
                assert inspect_wheel(wheel).distribution == "hello"
            else:
                with pytest.raises(WheelError, match=r"only 1\.x is supported"):
                    inspect_wheel(wheel)

    def test_writes_nothing(self, factory: WheelFactory, snapshot: Snapshot) -> None:
        """Inspecting a valid wheel leaves every file and directory as it was."""
        wheel = factory.build("hello", code="X = 1")
        before = snapshot()
        inspect_wheel(wheel)
        assert snapshot() == before

    def test_reasons_cover_every_broken_kind(self) -> None:
        """Each broken kind of the factory has an expected reason below."""
        assert set(REASONS) == set(BROKEN_KINDS)

    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_broken_refused(self, kind: str, factory: WheelFactory, snapshot: Snapshot) -> None:
        """A broken wheel is refused, naming the file and the reason, writing nothing."""
        wheel = factory.build("evil", broken=kind)
        before = snapshot()
        with pytest.raises(WheelError) as caught:
            inspect_wheel(wheel, limits=LOW)
        assert REASONS[kind] in caught.value.reason
        assert caught.value.path == str(wheel)
        assert str(wheel) in str(caught.value)
        assert snapshot() == before

    def test_pth_member_accepted_in_a_plugin(self, factory: WheelFactory) -> None:
        """A .pth member at the root of a plugin wheel (pytest-cov 2.0 to 6.x ship
        pytest-cov.pth) is accepted: inert in a site dir, as in a dependency wheel's."""
        wheel = factory.build("cov", files={"pytest-cov.pth": "import os\n"})
        inspection = inspect_plugin_wheel(wheel, LOW)
        assert "pytest-cov.pth" in inspection.info.members
        assert candidate_from_wheel(inspection, factory.group) is not None

    def test_error_names_plugin(self, factory: WheelFactory) -> None:
        """Once the file name is parsed, the error names the distribution as the plugin."""
        wheel = factory.build("Evil_Plugin", broken="bad-record-hash")
        with pytest.raises(WheelError) as caught:
            inspect_wheel(wheel)
        assert caught.value.plugin == "evil-plugin"

    def test_member_size_limit(self, factory: WheelFactory) -> None:
        """A member larger than ``max_member_size`` is refused from its declared size."""
        wheel = factory.build("hello", files={"hello/big.txt": os.urandom(4096)})
        with pytest.raises(WheelError, match="over the limit of 1000"):
            inspect_wheel(wheel, limits=WheelLimits(max_member_size=1000))

    def test_total_size_limit(self, factory: WheelFactory) -> None:
        """Members adding up to more than ``max_total_size`` are refused."""
        files = {f"hello/f{i}.txt": os.urandom(600) for i in range(3)}
        wheel = factory.build("hello", files=files)
        with pytest.raises(WheelError, match="over the limit of 1500"):
            inspect_wheel(wheel, limits=WheelLimits(max_total_size=1500))

    def test_requirement_count_limit(self, factory: WheelFactory) -> None:
        """``max_requirements`` Requires-Dist lines pass; one more is refused before parsing."""
        lines = [f"dep{i}" for i in range(3)]
        wheel = factory.build("hello", requires_dist=lines)
        assert inspect_wheel(wheel, limits=WheelLimits(max_requirements=3)).requires_dist
        with pytest.raises(WheelError, match="3 Requires-Dist lines, over the limit of 2"):
            inspect_wheel(wheel, limits=WheelLimits(max_requirements=2))

    def test_entry_point_count_limit(self, factory: WheelFactory) -> None:
        """Declarations are counted, not section headers, comments or blank lines."""
        more = {"two": "hello:two", "three": "hello:three"}
        wheel = factory.build("hello", more_entry_points=more)
        assert len(inspect_wheel(wheel, limits=WheelLimits(max_entry_points=3)).entry_points) == 3
        with pytest.raises(WheelError, match="declares more than 2 entry points"):
            inspect_wheel(wheel, limits=WheelLimits(max_entry_points=2))

    def test_small_repetitive_member_accepted(self, factory: WheelFactory) -> None:
        """A small member with a high ratio (a regular source file) is not taken for a bomb."""
        wheel = factory.build("hello", files={"hello/table.py": "X = 0\n" * 50_000})
        assert "hello/table.py" in inspect_wheel(wheel).members

    def test_lying_central_directory(self, factory: WheelFactory, tmp_path: Path) -> None:
        """A member holding more bytes than its central directory entry declares is refused."""
        wheel = factory.build("hello", code="X = 1" * 100)
        data = bytearray(wheel.read_bytes())
        # The member's central directory entry: its name sits 46 bytes after the entry starts,
        # and the uncompressed size 24 bytes after.
        central = data.index(b"hello/__init__.py", data.index(b"PK\x01\x02")) - 46
        data[central + 24 : central + 28] = (10).to_bytes(4, "little")
        wheel.write_bytes(bytes(data))
        with pytest.raises(WheelError, match=r"hello/__init__\.py"):
            inspect_wheel(wheel)

    def test_encrypted_member(self, factory: WheelFactory) -> None:
        """A member flagged as encrypted is refused before it is read."""
        wheel = factory.build("hello", code="X = 1")
        data = bytearray(wheel.read_bytes())
        central = data.index(b"hello/__init__.py", data.index(b"PK\x01\x02")) - 46
        data[central + 8] |= 0x1  # general purpose flag bit 0: encrypted
        wheel.write_bytes(bytes(data))
        with pytest.raises(WheelError, match="is encrypted"):
            inspect_wheel(wheel)

    def test_requires_dist_must_parse(self, factory: WheelFactory) -> None:
        """An unparsable Requires-Dist line is refused."""
        wheel = factory.build("hello", requires_dist=["not a requirement !!"])
        with pytest.raises(WheelError, match="invalid Requires-Dist"):
            inspect_wheel(wheel)

    @pytest.mark.parametrize("text", [">=3.6.*", ">= 3.5.*", "3.6"])
    def test_requires_python_that_is_no_specifier_is_ignored(
        self, text: str, factory: WheelFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """As pip ignores it, with a warning naming the wheel: wheels built before packaging
        22 carry such lines, and refusing them refused published plugins pip installs."""
        wheel = factory.build("hello", requires_python=text)
        with caplog.at_level("WARNING", logger="pluginhost"):
            info = inspect_wheel(wheel)
        assert info.requires_python == text
        (record,) = [r for r in caplog.records if "Requires-Python" in r.getMessage()]
        assert str(wheel) in record.getMessage()
        assert "ignored" in record.getMessage()

    def test_requires_python_unmet_is_refused(self, factory: WheelFactory) -> None:
        wheel = factory.build("hello", requires_python="<3")
        with pytest.raises(WheelError, match="requires Python <3, this is Python 3"):
            inspect_wheel(wheel)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A wheel file that does not exist is refused, not an OSError."""
        with pytest.raises(WheelError, match="cannot read the file"):
            inspect_wheel(tmp_path / "gone-1.0-py3-none-any.whl")

    @pytest.mark.usefixtures("streamed")
    @pytest.mark.parametrize("kind", BROKEN_KINDS)
    def test_broken_refused_streamed(self, kind: str, factory: WheelFactory) -> None:
        """A wheel too large to hold in memory is refused for the same reasons, read by chunks."""
        wheel = factory.build("evil", broken=kind)
        with pytest.raises(WheelError) as caught:
            inspect_wheel(wheel, limits=LOW)
        assert REASONS[kind] in caught.value.reason
        assert caught.value.path == str(wheel)

    def test_streamed_reads_the_same(
        self, factory: WheelFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wheel read by chunks from its file is described as one held in memory."""
        wheel = factory.build("hello", files={"hello-1.0.0.data/purelib/extra_mod.py": ""})
        in_memory = inspect_wheel(wheel)
        monkeypatch.setattr(pluginhost.discover.archive, "_IN_MEMORY", 0)
        assert inspect_wheel(wheel) == in_memory

    def test_data_validated_not_the_file(self, factory: WheelFactory) -> None:
        """Bytes given as ``data`` are what is validated: the file is not read, errors name it."""
        wheel = factory.build("hello", "1.0.0", code="X = 1")
        data = wheel.read_bytes()
        factory.build("hello", "1.0.0", code="X = 2")  # the file now holds other bytes
        info = inspect_wheel(wheel, data=WheelBytes.of(data))
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.path == wheel
        wheel.unlink()
        with pytest.raises(WheelError, match="not a zip archive") as caught:
            inspect_wheel(wheel, data=WheelBytes.of(b"not a zip"))
        assert caught.value.path == str(wheel)


class TestReadWheelBytes:
    def test_whole_file(self, factory: WheelFactory) -> None:
        """A wheel is read whole, and hashed."""
        wheel = factory.build("hello")
        assert read_wheel_bytes(wheel) == WheelBytes.of(wheel.read_bytes())

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file is read as no bytes (and refused later as not a zip archive)."""
        empty = tmp_path / "empty-1.0-py3-none-any.whl"
        empty.write_bytes(b"")
        assert read_wheel_bytes(empty) == WheelBytes.of(b"")

    @pytest.mark.parametrize("change", [-100, -1, 1, 100])
    def test_size_changed_meanwhile(
        self, change: int, factory: WheelFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file that grew or shrank after its size was taken is still read to its end."""
        wheel = factory.build("hello")
        real_fstat = os.fstat

        def stale_fstat(fd: int) -> os.stat_result:
            st = list(real_fstat(fd))
            st[6] += change  # st_size, as it was before the change
            return os.stat_result(st)

        monkeypatch.setattr(os, "fstat", stale_fstat)
        assert read_wheel_bytes(wheel) == WheelBytes.of(wheel.read_bytes())

    def test_grown_over_the_bound(
        self, factory: WheelFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file that grew past the size held in memory while read is not held: ``None``."""
        wheel = factory.build("hello")
        size = wheel.stat().st_size
        monkeypatch.setattr(pluginhost.discover.archive, "_IN_MEMORY", size - 1)
        real_fstat = os.fstat
        monkeypatch.setattr(
            os, "fstat", lambda fd: os.stat_result([*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:]])
        )
        assert read_wheel_bytes(wheel) is None

    def test_too_large(self, factory: WheelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file over the size held in memory is not read: ``None``."""
        wheel = factory.build("hello")
        monkeypatch.setattr(pluginhost.discover.archive, "_IN_MEMORY", wheel.stat().st_size - 1)
        assert read_wheel_bytes(wheel) is None

    def test_missing(self, tmp_path: Path) -> None:
        """A file that does not exist is an OSError."""
        with pytest.raises(FileNotFoundError):
            read_wheel_bytes(tmp_path / "gone-1.0-py3-none-any.whl")


class TestInspectMembers:
    def test_keeps_chosen_members(self, factory: WheelFactory) -> None:
        """The members ``keep`` accepts are read from the inspection, as the file holds them."""
        wheel = factory.build("hello", manifest="[plugin]\nname = 'hello'\n")
        inspection = inspect_members(wheel, is_toml)
        assert inspection.info == inspect_wheel(wheel)
        got = inspection.read_member("hello/plugin.toml", max_size=100)
        assert got == read_member(wheel, "hello/plugin.toml", max_size=100)

    def test_kept_bytes_outlive_the_file(self, factory: WheelFactory) -> None:
        """A kept member is the one validated, even once the file holds another wheel."""
        wheel = factory.build("hello", manifest="[plugin]\nname = 'hello'\n")
        inspection = inspect_members(wheel, is_toml)
        factory.build("hello", manifest="[plugin]\nname = 'other'\n")
        assert b"'hello'" in inspection.read_member("hello/plugin.toml", max_size=100)
        assert b"'other'" in read_member(wheel, "hello/plugin.toml", max_size=100)

    @pytest.mark.parametrize(
        ("member", "max_size"), [("hello/plugin.toml", 100), ("hello/missing.toml", 100)]
    )
    def test_refused_as_read_member(
        self, member: str, max_size: int, factory: WheelFactory
    ) -> None:
        """An oversized or missing member is refused with read_member's words, naming the file."""
        wheel = factory.build("hello", manifest="x = 1\n" * 50)
        with pytest.raises(WheelError) as from_file:
            read_member(wheel, member, max_size=max_size)
        with pytest.raises(WheelError) as kept:
            inspect_members(wheel, is_toml).read_member(member, max_size=max_size)
        assert str(kept.value) == str(from_file.value)
        assert kept.value.path == str(wheel)

    def test_a_member_larger_than_a_manifest_is_kept_without_its_bytes(
        self, factory: WheelFactory
    ) -> None:
        """Checked against RECORD but not held; read, it is refused on its size as before."""
        limits = WheelLimits(max_manifest_size=64)
        wheel = factory.build("hello", manifest="x = 1\n" * 50)
        inspection = inspect_members(wheel, is_toml, limits=limits)
        [(info, data)] = inspection.kept_members()
        assert (info.filename, info.file_size, data) == ("hello/plugin.toml", 300, None)
        with pytest.raises(WheelError, match="300 bytes"):
            inspection.read_member("hello/plugin.toml", max_size=64)

    def test_a_manifest_not_held_is_a_manifest_error(self, factory: WheelFactory) -> None:
        """Validated under a smaller manifest limit than the candidate is made with: the
        manifest was not held, and the candidate is refused, typed, naming the member."""
        wheel = factory.build("hello", manifest="x = 1\n" * 50)
        inspection = inspect_plugin_wheel(wheel, WheelLimits(max_manifest_size=64))
        with pytest.raises(ManifestError, match="validation held") as caught:
            candidate_from_wheel(inspection, "greeter.plugins")
        assert caught.value.path == f"{wheel}!hello/plugin.toml"

    def test_manifests_holding_too_much_refuse_the_wheel(self, factory: WheelFactory) -> None:
        """Manifests hold at most sixteen of the largest size together; past that the wheel
        is refused, naming the file: a wheel of a few kB held hundreds of MB of them before."""
        limits = WheelLimits(max_manifest_size=1000)
        manifest = "# " + "x" * 996 + "\n"  # 1,000 bytes
        files = {f"hello/part{i}/plugin.toml": manifest for i in range(15)}
        wheel = factory.build("hello", files=files)
        assert len(inspect_members(wheel, is_toml, limits=limits).kept_members()) >= 15
        files.update({f"hello/more{i}/plugin.toml": manifest for i in range(2)})
        wheel = factory.build("hello", files=files)
        with pytest.raises(WheelError, match="its manifests hold over 16000 bytes") as caught:
            inspect_members(wheel, is_toml, limits=limits)
        assert caught.value.path == str(wheel)

    def test_member_not_kept(self, factory: WheelFactory) -> None:
        """Asking for a member the inspection did not keep is a programming error."""
        wheel = factory.build("hello")
        with pytest.raises(KeyError):
            inspect_members(wheel, is_toml).read_member("hello/__init__.py", max_size=100)


class TestReadMember:
    def test_reads_member(self, factory: WheelFactory) -> None:
        """A member's bytes are returned."""
        text = "[plugin]\nname = 'hello'\n"
        wheel = factory.build("hello", manifest=text)
        assert read_member(wheel, "hello/plugin.toml", max_size=100) == text.encode()

    def test_missing_member(self, factory: WheelFactory) -> None:
        """A member that is not in the wheel is a WheelError naming it."""
        wheel = factory.build("hello", no_manifest=True)
        with pytest.raises(WheelError, match=r"has no member 'hello/plugin\.toml'"):
            read_member(wheel, "hello/plugin.toml", max_size=100)

    def test_too_large_member(self, factory: WheelFactory) -> None:
        """A member larger than ``max_size`` is refused."""
        wheel = factory.build("hello", manifest="x" * 200)
        with pytest.raises(WheelError, match="over the limit of 100"):
            read_member(wheel, "hello/plugin.toml", max_size=100)


@functools.cache
def valid_wheel_bytes() -> bytes:
    """The bytes of one valid wheel, built once for the corruption tests."""
    with tempfile.TemporaryDirectory() as folder:
        files = {"hello-1.0.0.data/purelib/extra_mod.py": "Y = 2\n"}
        wheel = WheelFactory(folder).build("hello", code="X = 1\n" * 30, files=files)
        return wheel.read_bytes()


# An edit overwrites, deletes or inserts a few bytes at a position (taken modulo the length).
edits = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(0, 16), st.binary(max_size=8)),
    min_size=1,
    max_size=4,
)


def damaged_wheel(folder: Path, edits: list[tuple[int, int, bytes]]) -> Path:
    """A valid wheel with ``edits`` (position, bytes removed, bytes inserted) applied."""
    data = bytearray(valid_wheel_bytes())
    for position, removed, inserted in edits:
        at = position % len(data)
        data[at : at + removed] = inserted
    wheel = folder / "hello-1.0.0-py3-none-any.whl"
    wheel.write_bytes(bytes(data))
    return wheel


class TestCorruption:
    @settings(max_examples=300, deadline=None)
    @given(edits=edits)
    def test_only_wheel_errors(self, edits: list[tuple[int, int, bytes]]) -> None:
        """Whatever bytes are damaged, the answer is a WheelInfo or a WheelError, nothing else."""
        with tempfile.TemporaryDirectory() as folder:
            wheel = damaged_wheel(Path(folder), edits)
            try:
                inspect_wheel(wheel)
                read_member(wheel, "hello/plugin.toml", max_size=4096)
            except WheelError:
                pass

    @settings(max_examples=200, deadline=None)
    @given(edits=edits, max_size=st.integers(1, 200))
    def test_kept_member_as_read_member(
        self, edits: list[tuple[int, int, bytes]], max_size: int
    ) -> None:
        """Once a damaged wheel passes, a kept member reads as read_member reads it."""
        with tempfile.TemporaryDirectory() as folder:
            wheel = damaged_wheel(Path(folder), edits)
            try:
                inspection = inspect_members(wheel, is_toml)
            except WheelError:
                return
            assert _outcome(inspection.read_member, max_size) == _outcome(
                functools.partial(read_member, wheel), max_size
            )


def _outcome(read: Callable[..., bytes], max_size: int) -> bytes | str:
    try:
        return read("hello/plugin.toml", max_size=max_size)
    except WheelError as exc:
        return str(exc)
