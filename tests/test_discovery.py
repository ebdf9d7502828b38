"""Discovery built directly on real folders and real wheels: the folder look, trust refusals,
the cache by file identity, the one admission path and the hand-over of validated bytes; and,
through real hosts, one read and one hash per wheel."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

import pluginhost.discover.discovery
import pluginhost.discover.folder
from pluginhost import (
    PluginHost,
    ProblemKind,
    Scan,
    TrustError,
    WheelError,
    WheelFolderSource,
    WheelInfo,
    WheelLimits,
    WheelOrigin,
)
from pluginhost.discover.discovery import Discovery
from pluginhost.discover.trust import TrustGate
from pluginhost.testing import WheelFactory

GROUP = "greeter.plugins"
ROOT = os.geteuid() == 0
MakeHost = Callable[..., PluginHost]
CountIO = Callable[..., "WheelIO"]

#: Wheel paths whose openings are counted, each with the count; filled by the audit hook.
_OPENED: dict[str, int] = {}
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path in _OPENED:
            _OPENED[path] += 1


class WheelIO:
    """Counts, for one wheel, the openings of its file and the sha256 digests of its bytes."""

    def __init__(self, wheel: Path, at: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        if not _HOOKED:  # an audit hook cannot be removed: one for the whole run
            sys.addaudithook(_audit)
            _HOOKED.append(True)
        self.path = os.path.realpath(at)
        self.sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        self.digests: list[str] = []
        real = hashlib.sha256
        digests = self.digests

        class Counted:
            def __init__(self, data: bytes = b"", **kwargs: Any) -> None:
                self._hash = real(data, **kwargs)

            def update(self, data: bytes) -> None:
                self._hash.update(data)

            def hexdigest(self) -> str:
                digests.append(self._hash.hexdigest())
                return digests[-1]

        monkeypatch.setattr(hashlib, "sha256", Counted)
        _OPENED[self.path] = 0

    @property
    def opened(self) -> int:
        return _OPENED[self.path]

    @property
    def hashed(self) -> int:
        return self.digests.count(self.sha256)

    def close(self) -> None:
        _OPENED.pop(self.path, None)


@pytest.fixture
def count_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountIO]:
    """Count the reads and hashes of a wheel (at its path, or ``at``) from now on."""
    made: list[WheelIO] = []

    def start(wheel: Path, at: Path | None = None) -> WheelIO:
        made.append(WheelIO(wheel, at or wheel, monkeypatch))
        return made[-1]

    yield start
    for io in made:
        io.close()


def trust_line(wheel: Path, name: str = "hello", version: str = "1.0.0") -> str:
    return f"{name}=={version} --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"


def discovery(
    wheels: Path, *, trust_file: Path | None = None, keep_bytes: int = 1 << 26
) -> Discovery:
    mode = "hashes" if trust_file is not None else "permissions"
    gate = TrustGate(mode, True, trust_file)
    folder = WheelFolderSource(wheels)
    return Discovery(GROUP, [folder], [], WheelLimits(), gate, keep_bytes=keep_bytes)


@pytest.fixture
def buggy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading any wheel of the distribution ``buggy`` fails as a bug would: not with a typed
    refusal but a RuntimeError, the other wheels read as usual."""
    real = pluginhost.discover.discovery.candidate_from_wheel

    def read(inspection: Any, *args: Any) -> Any:
        if inspection.info.distribution == "buggy":
            raise RuntimeError("a bug in a parser")
        return real(inspection, *args)

    for module in (pluginhost.discover.discovery, pluginhost.discover.folder):
        monkeypatch.setattr(module, "candidate_from_wheel", read)


#: Run by ``test_folder_unreadable_for_the_host_is_held`` in a process without capabilities.
_UNREADABLE_SCRIPT = """
import json, os
from pathlib import Path
from pluginhost import WheelFolderSource, WheelLimits
from pluginhost.discover.discovery import Discovery
from pluginhost.discover.trust import TrustGate
from pluginhost.testing import WheelFactory

folder = Path({folder!r})
staging = folder.parent / "staging"
folder.mkdir()
code = "import pluggy\\nhookimpl = pluggy.HookimplMarker('greeter')\\n"
old = WheelFactory(folder, group={group!r}).build("hello", "1.0.0", code=code)
found = Discovery({group!r}, [WheelFolderSource(folder)], [], WheelLimits(),
                  TrustGate("permissions", True, None))


def shown(look):
    return {{"held": folder in look.held,
            "candidates": [f"{{c.name}} {{c.version}}" for c in look.scan.candidates]}}


out = {{"first": shown(found.look())["candidates"]}}
new = WheelFactory(staging, group={group!r}).build("hello", "2.0.0", code=code)
os.replace(new, folder / new.name)
folder.chmod(0o600)
out["new file, no search"] = shown(found.look({{folder: {{folder / new.name}}}}))
folder.chmod(0o700)
found.look()
old.unlink()
folder.chmod(0o600)
out["file gone, no search"] = shown(found.look({{folder: {{old}}}}))
out["full look, no search"] = shown(found.look())
folder.chmod(0o700)
out["searchable again"] = shown(found.look({{folder: {{old}}}}))
print(json.dumps(out))
"""


class TestLook:
    def test_folder_look(self, factory: WheelFactory, wheels: Path) -> None:
        """A look offers the plugins, keeps non-plugins as support and names broken files."""
        hello = factory.build("hello", code=greet_code("hi"))
        factory.build("base", group="other.group")
        broken = factory.build("evil", broken="bad-record-hash")
        look = discovery(wheels).look()
        (candidate,) = look.scan.candidates
        assert candidate.name == "hello"
        assert candidate.origin == WheelOrigin(
            hello, hashlib.sha256(hello.read_bytes()).hexdigest()
        )
        assert [info.distribution for info in look.scan.support] == ["base"]
        (problem,) = look.scan.problems
        assert (problem.kind, problem.path) == (ProblemKind.WHEEL_INVALID, str(broken))
        assert look.held == ()

    def test_unlisted_wheel_refused_unread(
        self, factory: WheelFactory, wheels: Path, tmp_path: Path
    ) -> None:
        """Under ``trust="hashes"`` an unlisted wheel is refused before it is parsed."""
        broken = factory.build("evil", broken="bad-record-hash")
        trusted = tmp_path / "trusted.txt"
        trusted.write_text("")
        (problem,) = discovery(wheels, trust_file=trusted).look().scan.problems
        assert problem.kind is ProblemKind.UNTRUSTED
        assert "is not listed in the trust file" in problem.message
        assert problem.path == str(broken)

    def test_listed_under_another_version(
        self, factory: WheelFactory, wheels: Path, tmp_path: Path
    ) -> None:
        """A hash listed for another version is refused, naming the plugin and the version."""
        wheel = factory.build("hello", "1.0.0", code=greet_code("hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(trust_line(wheel, version="2.0.0"))
        (problem,) = discovery(wheels, trust_file=trusted).look().scan.problems
        assert (problem.kind, problem.plugin, problem.version) == (
            ProblemKind.UNTRUSTED,
            "hello",
            "1.0.0",
        )

    def test_unsafe_folder_held(self, factory: WheelFactory, wheels: Path) -> None:
        """A folder writable by others is held: its plugins keep serving until it is safe."""
        factory.build("hello", code=greet_code("hi"))
        wheels.chmod(0o777)
        look = discovery(wheels).look()
        assert look.held == (wheels,)
        assert [p.kind for p in look.scan.problems] == [ProblemKind.UNTRUSTED]


class TestUnexpectedError:
    @pytest.mark.usefixtures("buggy")
    def test_problem_names_the_file(
        self, factory: WheelFactory, wheels: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An error no check expected while reading one wheel refuses that wheel, naming it
        and logging the traceback; the other wheels of the look are read."""
        factory.build("hello", code=greet_code("hi"))
        bad = factory.build("buggy", code=greet_code("bug"))
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            look = discovery(wheels).look()
        assert [c.name for c in look.scan.candidates] == ["hello"]
        (problem,) = look.scan.problems
        assert (problem.kind, problem.path) == (ProblemKind.WHEEL_INVALID, str(bad))
        assert str(bad) in problem.message
        assert "failed unexpectedly (RuntimeError: a bug in a parser)" in problem.message
        assert f"reading {bad} failed unexpectedly" in caplog.text
        assert "Traceback (most recent call last)" in caplog.text

    @pytest.mark.usefixtures("buggy")
    def test_remembered(
        self, factory: WheelFactory, wheels: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The same bytes are refused again at the next look without being read or logged."""
        bad = factory.build("buggy")
        found = discovery(wheels)
        found.look()
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="pluginhost"):
            (problem,) = found.look().scan.problems
        assert problem.path == str(bad)
        assert caplog.text == ""

    @pytest.mark.usefixtures("buggy")
    def test_admit_raises_wheel_error(self, factory: WheelFactory, wheels: Path) -> None:
        """A wheel given to ``admit`` whose reading fails unexpectedly is a WheelError naming
        it, not the bare error."""
        bad = factory.build("buggy")
        with pytest.raises(WheelError, match="failed unexpectedly") as caught:
            discovery(wheels).admit(bad)
        assert caught.value.path == str(bad)

    @pytest.mark.usefixtures("buggy")
    def test_folder_source(self, factory: WheelFactory, wheels: Path) -> None:
        """A wheel folder used as a plain source refuses such a wheel the same way."""
        factory.build("hello", code=greet_code("hi"))
        bad = factory.build("buggy")
        scan = WheelFolderSource(wheels).scan(GROUP)
        assert [c.name for c in scan.candidates] == ["hello"]
        assert [(p.kind, p.path) for p in scan.problems] == [(ProblemKind.WHEEL_INVALID, str(bad))]

    def test_in_a_step_before_validation(self, factory: WheelFactory, wheels: Path) -> None:
        """An unexpected error in the trust screening of one file is a problem naming it too."""
        factory.build("hello", code=greet_code("hi"))
        bad = factory.build("buggy")

        class BuggyGate(TrustGate):
            def check_path(self, path: Path, *args: Any, **kwargs: Any) -> None:
                if path.name == bad.name:
                    raise KeyError("a bug in the trust gate")
                super().check_path(path, *args, **kwargs)

        gate = BuggyGate("permissions", True, None)
        found = Discovery(GROUP, [WheelFolderSource(wheels)], [], WheelLimits(), gate)
        look = found.look()
        assert [c.name for c in look.scan.candidates] == ["hello"]
        (problem,) = look.scan.problems
        assert problem.path == str(bad)
        assert "KeyError: 'a bug in the trust gate'" in problem.message
        with pytest.raises(WheelError, match="failed unexpectedly"):
            found.admit(bad)


class TestCache:
    def test_unchanged_wheel_not_read_again(
        self, factory: WheelFactory, wheels: Path, count_io: CountIO
    ) -> None:
        """A second look reuses what an unchanged file yielded; it does not open it."""
        wheel = factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        first = found.look().scan
        io = count_io(wheel)
        assert found.look().scan == first
        assert io.opened == 0

    def test_changed_wheel_read_again(
        self, factory: WheelFactory, wheels: Path, count_io: CountIO
    ) -> None:
        """A file whose size, mtime or inode changed is read again, once."""
        factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        found.look()
        wheel = factory.build("hello", code=greet_code("hello again"))
        io = count_io(wheel)
        (candidate,) = found.look().scan.candidates
        assert candidate.sha256 == io.sha256
        assert (io.opened, io.hashed) == (1, 1)

    def test_fresh_names_what_the_look_read(self, factory: WheelFactory, wheels: Path) -> None:
        """A look's fresh candidates are those whose wheel it read and validated, each with
        those bytes; what is taken from the last look, or is no plugin, is not fresh."""
        factory.build("hello", code=greet_code("hi"))
        factory.build("base", group="other.group")
        found = discovery(wheels)
        ((candidate, wheel),) = found.look().fresh
        assert candidate.name == "hello"
        assert wheel.info.path == candidate.origin.path  # type: ignore[union-attr]
        assert hashlib.sha256(wheel.data).hexdigest() == candidate.sha256
        assert found.look().fresh == ()
        changed = factory.build("hello", "1.0.1", code=greet_code("hello again"))
        assert [c.origin.path for c, _ in found.look().fresh] == [changed]  # type: ignore[union-attr]

    def test_told_what_changed_looks_as_a_full_look(
        self, factory: WheelFactory, wheels: Path
    ) -> None:
        """Looks told which files changed (added in the middle of the name order, at the
        ends, replaced, removed, unlisted) offer what a full look of the folder offers, in
        the same order."""
        for name in ("bravo", "delta", "foxtrot"):
            factory.build(name, code=greet_code(name))
        found = discovery(wheels)
        found.look()
        gone = wheels / "foxtrot-1.0.0-py3-none-any.whl"
        steps: list[Callable[[], list[Path]]] = [
            lambda: [factory.build("charlie", code=greet_code("c"))],
            lambda: [factory.build("alpha", code=greet_code("a")), factory.build("zulu")],
            lambda: [factory.build("delta", "2.0.0", code=greet_code("d2"))],
            lambda: [factory.build("bravo", code=greet_code("changed bytes"))],
            lambda: [gone, wheels / "not-a-wheel.txt"] if gone.unlink() is None else [],
        ]
        for step in steps:
            told = found.look({wheels: set(step())}).scan
            assert told == discovery(wheels).look().scan
            assert [c.name for c in told.candidates] == sorted(c.name for c in told.candidates)

    def test_trust_taken_again_on_a_cached_read(
        self, factory: WheelFactory, wheels: Path, tmp_path: Path
    ) -> None:
        """A hash taken out of the trust file refuses a wheel read before, unchanged."""
        wheel = factory.build("hello", code=greet_code("hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(trust_line(wheel))
        found = discovery(wheels, trust_file=trusted)
        assert [c.name for c in found.look().scan.candidates] == ["hello"]
        trusted.write_text("")
        scan = found.look().scan
        assert scan.candidates == ()
        assert [p.kind for p in scan.problems] == [ProblemKind.UNTRUSTED]


class CountingSource:
    """A source offering nothing, which counts how often it is read."""

    def __init__(self) -> None:
        self.scans = 0

    def scan(self, group: str) -> Scan:
        self.scans += 1
        return Scan()


class TestIncrementalLook:
    def test_only_named_files_read(
        self,
        factory: WheelFactory,
        wheels: Path,
        count_io: CountIO,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A look told which file changed reads that one; the others are not even stat'ed
        again, and the scan is what a full look gives."""
        hello = factory.build("hello", code=greet_code("hi"))
        other = factory.build("other", code=greet_code("yo"))
        found = discovery(wheels)
        found.look()
        new = factory.build("third", code=greet_code("new"))
        stated: list[str] = []
        real_stat = pluginhost.discover.discovery.identity

        def counting(path: Path, st: Any = None) -> Any:
            stated.append(path.name)
            return real_stat(path, st)

        monkeypatch.setattr(pluginhost.discover.discovery, "identity", counting)
        io_hello, io_new = count_io(hello), count_io(new)
        scan = found.look({wheels: {new}}).scan
        assert stated == [new.name]
        assert (io_hello.opened, io_new.opened) == (0, 1)
        assert scan == discovery(wheels).look().scan
        assert sorted(c.name for c in scan.candidates) == ["hello", "other", "third"]
        del other

    def test_removed_file_leaves_the_scan(self, factory: WheelFactory, wheels: Path) -> None:
        """A file named as changed that is gone is no longer offered."""
        factory.build("hello", code=greet_code("hi"))
        gone = factory.build("other", code=greet_code("yo"))
        found = discovery(wheels)
        found.look()
        gone.unlink()
        scan = found.look({wheels: {gone}}).scan
        assert [c.name for c in scan.candidates] == ["hello"]

    def test_unnamed_change_waits_for_a_full_look(
        self, factory: WheelFactory, wheels: Path
    ) -> None:
        """A change no event named is not seen by an incremental look; a full look sees it
        (the host makes one at least every rescan interval)."""
        factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        found.look()
        factory.build("quiet", code=greet_code("shh"))
        assert [c.name for c in found.look({wheels: set()}).scan.candidates] == ["hello"]
        assert sorted(c.name for c in found.look().scan.candidates) == ["hello", "quiet"]

    def test_trust_change_makes_a_full_look(
        self, factory: WheelFactory, wheels: Path, tmp_path: Path
    ) -> None:
        """When the trust file changed, a look told of one file checks them all again."""
        wheel = factory.build("hello", code=greet_code("hi"))
        other = factory.build("other", code=greet_code("yo"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(trust_line(wheel) + trust_line(other, "other"))
        found = discovery(wheels, trust_file=trusted)
        assert len(found.look().scan.candidates) == 2
        trusted.write_text(trust_line(other, "other"))
        scan = found.look({wheels: {other}}).scan
        assert [c.name for c in scan.candidates] == ["other"]
        assert [p.kind for p in scan.problems] == [ProblemKind.UNTRUSTED]

    def test_other_sources_read_at_full_looks_only(
        self, factory: WheelFactory, wheels: Path
    ) -> None:
        """A look told what changed in a folder reuses what the other sources (the
        environment's distributions) offered at the last full look; a full look reads them."""
        hello = factory.build("hello", code=greet_code("hi"))
        environment = CountingSource()
        gate = TrustGate("permissions", True, None)
        found = Discovery(GROUP, [WheelFolderSource(wheels)], [environment], WheelLimits(), gate)
        found.look()
        found.look({wheels: {hello}})
        found.look({wheels: set()})
        assert environment.scans == 1
        found.look()
        assert environment.scans == 2

    def test_folder_permissions_asked_when_a_file_is_not_listed(
        self, factory: WheelFactory, wheels: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A full look asks whether the folder may be read before listing it; a look told of
        a file that is there asks nothing (its ``lstat`` proves the folder can be searched);
        one told of a file it cannot list asks, so that a folder whose permissions were taken
        back is held rather than emptied (see the test below, without root's capabilities)."""
        hello = factory.build("hello", code=greet_code("hi"))
        asked: list[Path] = []
        real = pluginhost.discover.discovery._readable

        def counting(folder: Path) -> bool:
            asked.append(folder)
            return real(folder)

        monkeypatch.setattr(pluginhost.discover.discovery, "_readable", counting)
        found = discovery(wheels)
        found.look()
        assert asked == [wheels]
        new = factory.build("other", code=greet_code("yo"))
        found.look({wheels: {new}})
        assert asked == [wheels]
        hello.unlink()
        scan = found.look({wheels: {hello}}).scan
        assert asked == [wheels, wheels]
        assert [c.name for c in scan.candidates] == ["other"]
        gone = [factory.build(n, code=greet_code(n)) for n in ("a", "b", "c")]
        found.look()
        for wheel in gone:
            wheel.unlink()
        assert [c.name for c in found.look({wheels: set(gone)}).scan.candidates] == ["other"]
        assert asked == [wheels] * 4  # the full look's, and one for the three files gone

    @pytest.mark.skipif(
        not ROOT or shutil.which("setpriv") is None,
        reason="needs root and setpriv to run without the capabilities that bypass permissions",
    )
    def test_folder_unreadable_for_the_host_is_held(self, tmp_path: Path) -> None:
        """Without search permission on its folder, a look told of a new file or of a file
        gone holds the folder (what it offered keeps serving) instead of taking the plugins
        out; a full look does too; once the permission is back, a look reads it all again.
        Run in a process that is root without root's capabilities, which obeys permissions."""
        script = _UNREADABLE_SCRIPT.format(folder=str(tmp_path / "wheels"), group=GROUP)
        ran = subprocess.run(
            ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout.splitlines()[-1]) == {
            "first": ["hello 1.0.0"],
            "new file, no search": {"held": True, "candidates": []},
            "file gone, no search": {"held": True, "candidates": []},
            "full look, no search": {"held": True, "candidates": []},
            "searchable again": {"held": False, "candidates": ["hello 2.0.0"]},
        }

    def test_held_file_stays_held(self, factory: WheelFactory, wheels: Path) -> None:
        """A wheel held by the trust policy at the last look is held again when reused."""
        factory.build("hello", code=greet_code("hi"))
        unsafe = factory.build("other", code=greet_code("yo"))
        unsafe.chmod(0o666)
        found = discovery(wheels)
        first = found.look()
        assert first.held == (unsafe,)
        fresh = factory.build("third", code=greet_code("new"))
        again = found.look({wheels: {fresh}})
        assert again.held == (unsafe,)
        assert again.scan.problems == first.scan.problems


class TestAdmit:
    def test_same_candidate_as_a_look(self, factory: WheelFactory, wheels: Path) -> None:
        """A wheel given to ``admit`` yields the candidate a look at its folder yields."""
        wheel = factory.build("hello", code=greet_code("hi"))
        (looked,) = discovery(wheels).look().scan.candidates
        assert discovery(wheels).admit(wheel) == looked

    def test_not_a_plugin(self, factory: WheelFactory, wheels: Path) -> None:
        """A wheel with no entry point in the group is refused, naming it."""
        wheel = factory.build("base", group="other.group")
        with pytest.raises(WheelError, match="not a plugin of this host") as caught:
            discovery(wheels).admit(wheel)
        assert (caught.value.plugin, caught.value.path) == ("base", str(wheel))

    def test_refused_by_hashes(self, factory: WheelFactory, wheels: Path, tmp_path: Path) -> None:
        """Under ``trust="hashes"``, ``admit`` refuses a hash listed under another name."""
        wheel = factory.build("hello", code=greet_code("hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(trust_line(wheel, name="other"))
        with pytest.raises(TrustError, match=r"lists this sha256 as other==1\.0\.0") as caught:
            discovery(wheels, trust_file=trusted).admit(wheel)
        assert (caught.value.plugin, caught.value.path) == ("hello", str(wheel))

    def test_symlink_refused(self, factory: WheelFactory, wheels: Path, tmp_path: Path) -> None:
        """Under strict modes a symlinked wheel is refused before it is read."""
        wheel = factory.build("hello", code=greet_code("hi"))
        link = tmp_path / wheel.name
        link.symlink_to(wheel)
        with pytest.raises(TrustError, match="symbolic link"):
            discovery(wheels).admit(link)


class TestHandOver:
    def test_look_hands_over_the_bytes_read(self, factory: WheelFactory, wheels: Path) -> None:
        """The bytes a look validated are handed over once, for that very hash."""
        wheel = factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        (candidate,) = found.look().scan.candidates
        assert isinstance(candidate.origin, WheelOrigin)
        assert found.validated(wheel, "0" * 64) is None
        handed = found.validated(wheel, candidate.origin.sha256)
        assert handed is not None
        assert handed.data == wheel.read_bytes()
        assert handed.info.sha256 == candidate.origin.sha256
        assert found.validated(wheel, candidate.origin.sha256) is None

    def test_dropped_at_the_next_look(self, factory: WheelFactory, wheels: Path) -> None:
        """Bytes nobody took are dropped when the next look starts."""
        wheel = factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        (candidate,) = found.look().scan.candidates
        found.look()
        assert found.validated(wheel, str(candidate.sha256)) is None

    def test_admitted_kept_through_one_look(self, factory: WheelFactory, wheels: Path) -> None:
        """Bytes of a wheel given to ``admit`` survive the look that precedes its install."""
        wheel = factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels)
        candidate = found.admit(wheel)
        found.look()
        assert found.validated(wheel, str(candidate.sha256)) is not None

    def test_cap(self, factory: WheelFactory, wheels: Path) -> None:
        """Bytes over the cap are not kept: the install reads the file afresh."""
        wheel = factory.build("hello", code=greet_code("hi"))
        found = discovery(wheels, keep_bytes=wheel.stat().st_size - 1)
        (candidate,) = found.look().scan.candidates
        assert found.validated(wheel, str(candidate.sha256)) is None

    def test_support_wheel_handed_over(self, factory: WheelFactory, wheels: Path) -> None:
        """A support wheel's bytes are handed over too."""
        wheel = factory.build("base", group="other.group")
        found = discovery(wheels)
        (info,) = found.look().scan.support
        assert isinstance(info, WheelInfo)
        handed = found.validated(wheel, info.sha256)
        assert handed is not None
        assert handed.info == info


class TestOneReadOneHash:
    def test_folder_drop_with_hashes(
        self,
        factory: WheelFactory,
        make_host: MakeHost,
        wheels: Path,
        tmp_path: Path,
        count_io: CountIO,
    ) -> None:
        """A wheel dropped into a watched folder under ``trust="hashes"`` is opened once and
        hashed once, from discovery to its site dir."""
        trusted = tmp_path / "trusted.txt"
        trusted.write_text("")
        host = make_host(trust="hashes", trust_file=trusted, settle=0.05)
        aside = WheelFactory(tmp_path / "aside").build("hello", code=greet_code("hi"))
        trusted.write_text(trust_line(aside))
        io = count_io(aside, at=wheels / aside.name)
        os.replace(aside, wheels / aside.name)
        assert host.wait_idle()
        assert host.plugins["hello"].version == "1.0.0"
        assert (io.opened, io.hashed) == (1, 1)

    @pytest.mark.parametrize("trust", ["permissions", "hashes"])
    def test_install(
        self,
        trust: str,
        factory: WheelFactory,
        make_host: MakeHost,
        tmp_path: Path,
        count_io: CountIO,
    ) -> None:
        """A wheel given to ``install()`` is opened once and hashed once."""
        wheel = factory.build("hello", code=greet_code("hi"))
        trusted = tmp_path / "trusted.txt"
        trusted.write_text(trust_line(wheel))
        host = make_host(watch=[], trust=trust, trust_file=trusted)
        io = count_io(wheel)
        assert host.install(wheel).version == "1.0.0"
        assert (io.opened, io.hashed) == (1, 1)
