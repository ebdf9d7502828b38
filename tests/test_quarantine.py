"""The quarantine of versions that crashed the process while loading: markers, verdicts, lifting,
and a host that holds a quarantined version back (the crashes themselves, in real processes,
are in ``test_crash.py``)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from test_faults import tmpfs

from pluginhost import ActivationError, Event, EventKind, PluginHost, ProblemKind, StoreError
from pluginhost.discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from pluginhost.model.candidate import Candidate
from pluginhost.model.names import PluginName
from pluginhost.state.audit import AuditEntry, read_audit
from pluginhost.state.quarantine import Loading, Quarantine, read_verdicts, release
from pluginhost.state.quarantine import home_faults as quarantine_faults
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]
GROUP = "greeter.plugins"
GREET = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")


@hookimpl
def greet(name):
    return {answer!r}
"""


def candidate(wheel: Path) -> Candidate:
    found = candidate_from_wheel(inspect_plugin_wheel(wheel), GROUP)
    assert found is not None
    return found


def crash_while_loading(home: Path, wheel: Path) -> None:
    """Leave the marker a process dying during the load of ``wheel`` leaves."""
    Quarantine.of_home(home).loading([Loading.of(candidate(wheel))])


@pytest.fixture
def wheel(factory: WheelFactory) -> Path:
    return factory.build("hello", "1.1.0", code=GREET.format(answer="1.1.0"))


class TestMarker:
    def test_present_while_loading_gone_after(self, tmp_path: Path, wheel: Path) -> None:
        """The marker names the version while the block runs, privately, and goes after."""
        quarantine = Quarantine(tmp_path / "quarantine")
        loading = Loading.of(candidate(wheel))
        with quarantine.loading([loading]):
            [marker] = (tmp_path / "quarantine" / "loading").iterdir()
            assert stat.S_IMODE(marker.stat().st_mode) == 0o600
            assert stat.S_IMODE(marker.parent.stat().st_mode) == 0o700
            assert loading.key.content in marker.read_text()
        # The process's marker file, mapped: spaces only, nothing loads.
        assert marker.read_bytes().strip() == b""
        quarantine.close()
        assert list(marker.parent.iterdir()) == []

    def test_shorter_rewrite_names_only_what_still_loads(
        self, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """Two loads at once, the longer one done first: the marker, written over in place,
        names only the one still loading, and a crash then convicts only that one."""
        short = Loading.of(candidate(factory.build("a", "1.0.0", code=GREET.format(answer="a"))))
        long = [
            Loading.of(candidate(factory.build(name, "1.0.0", code=GREET.format(answer=name))))
            for name in ("bbbbbbbb", "cccccccc")
        ]
        quarantine = Quarantine.of_home(tmp_path)
        first = quarantine.loading([short])
        quarantine.loading(long).clear()
        del first  # the process dies with ``short`` still loading
        [verdict] = Quarantine.of_home(tmp_path).crashed()
        assert verdict.key == short.key

    def test_removed_when_the_load_raises(self, tmp_path: Path, wheel: Path) -> None:
        """A load that fails by raising is no crash."""
        quarantine = Quarantine(tmp_path / "quarantine")
        with pytest.raises(RuntimeError), quarantine.loading([Loading.of(candidate(wheel))]):
            raise RuntimeError("import failed")
        assert quarantine.crashed() == []
        quarantine.close()

    def test_unwritable_folder_does_not_stop_the_load(
        self, tmp_path: Path, wheel: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without a marker the load goes on, and the warning says why."""
        (tmp_path / "quarantine").write_text("a file where the folder should be")
        quarantine = Quarantine(tmp_path / "quarantine")
        with caplog.at_level(logging.WARNING, "pluginhost"):
            quarantine.loading([Loading.of(candidate(wheel))]).clear()
        assert "cannot write loading marker" in caplog.text


# Marks the loads given (as JSON) in the home given, in a process of its own that then dies
# without clearing them; with --fork, the second load is marked by a child made by fork.
_MARKING = """
import json, os, sys
from pathlib import Path
from pluginhost.state.quarantine import Loading, Quarantine

home, first, second = Path(sys.argv[1]), *map(json.loads, sys.argv[2:4])
quarantine = Quarantine.of_home(home)
quarantine.loading([Loading.from_json(first)])
if sys.argv[4:] == ["--fork"]:
    pid = os.fork()
    if pid == 0:
        quarantine.loading([Loading.from_json(second)])
        os._exit(0)
    os.waitpid(pid, 0)
elif sys.argv[4:] == ["--full"]:
    quarantine.close()  # its folder stays: the next marker file meets a full disk
    filler = home / "filler"
    with filler.open("wb", buffering=0) as stream:
        try:
            while True:
                stream.write(b"x" * 4096)
        except OSError:
            pass
    quarantine = Quarantine.of_home(home)
    marker = quarantine.loading([Loading.from_json(second)])
    print("marked" if marker._done else "unmarked", flush=True)
os._exit(0)
"""


def mark_and_die(home: Path, first: Loading, second: Loading, *how: str) -> str:
    argv = [
        sys.executable,
        "-c",
        _MARKING,
        str(home),
        *(json.dumps(x.to_json()) for x in (first, second)),
        *how,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def markers(home: Path) -> dict[str, set[str]]:
    """The plugins each marker file names, by file."""
    return {
        path.name: {p["key"][0] for p in json.loads(path.read_bytes().strip() or b"[]")}
        for path in (home / "quarantine" / "loading").iterdir()
    }


class TestMarkerFile:
    def test_a_marking_that_outgrows_the_file_is_whole(
        self, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """More loads at once than the file's first size holds: it grows, and a crash then
        convicts each of them."""
        one = Loading.of(candidate(factory.build("a", "1.0.0", code=GREET.format(answer="a"))))
        many = [
            attrs.evolve(one, key=one.key._replace(name=PluginName(f"plugin-{i:04d}")))
            for i in range(500)
        ]
        quarantine = Quarantine.of_home(tmp_path)
        quarantine.loading(many)
        [names] = markers(tmp_path).values()
        assert len(json.dumps([m.to_json() for m in many])) > 64 * 1024
        assert names == {m.key.name for m in many}
        assert len(Quarantine.of_home(tmp_path).crashed()) == 500

    def test_a_marker_closed_beneath_it_closes_with_a_warning(
        self, tmp_path: Path, factory: WheelFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Plugin code that closed the marker's descriptor (os.closerange()) does not make
        the host's stop raise: the close says so, and the quarantine lets it go."""
        one = Loading.of(candidate(factory.build("a", "1.0.0", code=GREET.format(answer="a"))))
        quarantine = Quarantine.of_home(tmp_path)
        quarantine.loading([one]).clear()
        assert quarantine._fd is not None  # the marker file, kept open between loads
        os.close(quarantine._fd)
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            quarantine.close()
        assert "cannot close the loading marker" in caplog.text
        quarantine.close()  # let go already: nothing to close twice

    def test_a_child_made_by_fork_marks_in_a_file_of_its_own(
        self, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """The parent's marker keeps naming only what the parent loads; both crashes count."""
        first, second = (
            Loading.of(candidate(factory.build(n, "1.0.0", code=GREET.format(answer=n))))
            for n in ("parent", "child")
        )
        mark_and_die(tmp_path, first, second, "--fork")
        assert sorted(markers(tmp_path).values(), key=sorted) == [{"child"}, {"parent"}]
        verdicts = Quarantine.of_home(tmp_path).crashed()
        assert {v.key.name for v in verdicts} == {"parent", "child"}

    def test_a_full_disk_leaves_the_load_unmarked_not_killed(
        self, tmp_path: Path, factory: WheelFactory
    ) -> None:
        """The marker file is written before it is mapped: on a full file system that fails
        with ENOSPC, and the load goes on without a marker. (A page of a mapping the file
        system has no room for kills the process with SIGBUS when stored to.)"""
        first, second = (
            Loading.of(candidate(factory.build(n, "1.0.0", code=GREET.format(answer=n))))
            for n in ("before", "after")
        )
        with tmpfs(tmp_path / "home", "1m") as home:
            said = mark_and_die(home, first, second, "--full")
            assert "unmarked" in said
            assert "cannot write loading marker" in said
            assert "No space left on device" in said


class TestVerdicts:
    def test_marker_left_by_a_crash_becomes_a_verdict(self, tmp_path: Path, wheel: Path) -> None:
        """At start, a leftover marker holds its version back, saying it crashed during load."""
        crash_while_loading(tmp_path, wheel)
        quarantine = Quarantine.of_home(tmp_path)
        [verdict] = quarantine.crashed()
        assert verdict.key == candidate(wheel).key
        assert list((tmp_path / "quarantine" / "loading").iterdir()) == []
        assert stat.S_IMODE(verdict.path.stat().st_mode) == 0o600
        assert quarantine.held() == {verdict.key: verdict}
        problem = verdict.problem()
        assert problem.kind is ProblemKind.LOAD_FAILED
        assert "hello 1.1.0: crashed during load" in problem.message
        assert "pluginhost release hello" in problem.message
        assert problem.path == str(wheel)

    def test_half_written_and_unreadable_markers_dropped(self, tmp_path: Path) -> None:
        """A marker the dying process had not finished, or garbage, convicts nobody."""
        folder = tmp_path / "quarantine" / "loading"
        folder.mkdir(parents=True)
        (folder / ".abc.123.tmp").write_text("[")
        (folder / "abc").write_text("not json")
        assert Quarantine.of_home(tmp_path).crashed() == []
        assert list(folder.iterdir()) == []

    def test_removing_the_wheel_lifts_it(self, tmp_path: Path, wheel: Path) -> None:
        """The operator's first way out: the wheel goes, and so does the verdict."""
        crash_while_loading(tmp_path, wheel)
        quarantine = Quarantine.of_home(tmp_path)
        quarantine.crashed()
        wheel.unlink()
        assert quarantine.held() == {}
        assert read_verdicts(tmp_path / "quarantine") == []

    def test_release_lifts_only_that_plugin(self, tmp_path: Path, factory: WheelFactory) -> None:
        """The second way out: ``pluginhost release NAME``; the folder is seen to change."""
        hello = factory.build("hello", "1.1.0")
        hello_world = factory.build("hello-world", "1.0.0")
        for wheel in (hello, hello_world):
            crash_while_loading(tmp_path, wheel)
            Quarantine.of_home(tmp_path).crashed()
        quarantine = Quarantine.of_home(tmp_path)
        assert len(quarantine.held()) == 2
        assert not quarantine.changed()
        [lifted] = release(tmp_path, PluginName("hello"))
        assert lifted.key.name == "hello"
        assert quarantine.changed()
        assert [k.name for k in quarantine.held()] == ["hello-world"]
        assert release(tmp_path, PluginName("hello")) == []


class TestHostHoldsBack:
    def test_quarantined_version_skipped_older_one_serves(
        self, factory: WheelFactory, wheel: Path, make_host: MakeHost, events: list[Event]
    ) -> None:
        """The version that crashed is skipped with a clear problem, an event and an audit
        entry; the next version at hand serves; install() of it raises the same reason."""
        factory.build("hello", "1.0.0", code=GREET.format(answer="1.0.0"))
        home = factory.directory.parent / "home"
        crash_while_loading(home, wheel)
        host = make_host()
        assert host.hook.greet(name="x") == ["1.0.0"]
        [problem] = [p for p in host.problems() if p.version == "1.1.0"]
        assert "crashed during load" in problem.message
        [failed] = [e for e in events if e.kind is EventKind.LOAD_FAILED]
        assert (failed.version, failed.origin) == ("1.1.0", str(wheel))
        audited = [e for e in read_audit(host.audit_log) if isinstance(e, AuditEntry)]
        assert [(e.action, e.outcome) for e in audited if e.version == "1.1.0"] == [
            ("install", "failed")
        ]
        with pytest.raises(ActivationError, match="crashed during load"):
            host.install(wheel)
        assert host.hook.greet(name="x") == ["1.0.0"]

    def test_released_while_running_is_tried_again(self, wheel: Path, make_host: MakeHost) -> None:
        """A release with the host running takes effect at its next look at the home."""
        home = wheel.parent.parent / "home"
        crash_while_loading(home, wheel)
        host = make_host(rescan_interval=0.05)
        assert host.load_order() == ()
        assert release(home, PluginName("hello"))
        deadline = time.monotonic() + 10
        while host.load_order() != ("hello",) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert host.hook.greet(name="x") == ["1.1.0"]
        assert not [p for p in host.problems() if "crashed" in p.message]

    def test_no_marker_after_a_load(self, wheel: Path, make_host: MakeHost) -> None:
        """A clean load and stop leave no marker behind, so nothing is quarantined later."""
        host = make_host()
        assert host.load_order() == ("hello",)
        host.stop()
        assert list((host.home / "quarantine" / "loading").iterdir()) == []
        assert make_host().load_order() == ("hello",)


def test_a_verdict_nested_too_deeply_is_skipped(tmp_path: Path) -> None:
    """A verdict file of JSON nested past the recursion limit is skipped with a warning, as
    every other unreadable one is: RecursionError escaped the host's start."""
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert read_verdicts(tmp_path) == []


class TestDamagedQuarantine:
    def test_a_verdict_whose_wheel_holds_a_nul_is_skipped_and_the_host_serves(
        self, wheel: Path, make_host: MakeHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A verdict edited to name a wheel with a NUL is skipped with a warning naming it (its
        os.stat raised a bare ValueError out of start()), once, and the host serves."""
        make_host().stop()
        bad = wheel.parent.parent / "home" / "quarantine" / "bad.json"
        key = ["hello", "9.9.9", "abc"]
        bad.write_text(json.dumps({"key": key, "origin": "x", "wheel": "/tmp/a\0b", "since": "n"}))
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            host = make_host(rescan_interval=0.05)
            assert host.hook.greet(name="x") == ["1.1.0"]
            time.sleep(0.3)  # some looks at the home
        told = [r.getMessage() for r in caplog.records if str(bad) in r.getMessage()]
        assert told == [
            f"unreadable quarantine entry {bad} skipped: the wheel's path holds a NUL character"
        ]

    def test_an_unreadable_verdict_is_no_change_at_every_look(self, tmp_path: Path) -> None:
        """Once read, an unreadable verdict does not make the folder look changed (each look
        of a running host reconciled again)."""
        (tmp_path / "quarantine").mkdir()
        (tmp_path / "quarantine" / "bad.json").write_text("not json")
        quarantine = Quarantine.of_home(tmp_path)
        assert quarantine.held() == {}
        assert not quarantine.changed()

    def test_a_marker_that_is_a_directory_is_left_with_a_warning(
        self, wheel: Path, make_host: MakeHost, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A directory among the loading markers convicts nobody and is left, told (its
        unlink raised a bare IsADirectoryError out of start()); the host serves."""
        make_host().stop()
        marker = wheel.parent.parent / "home" / "quarantine" / "loading" / "99999"
        marker.mkdir(mode=0o700)
        with caplog.at_level(logging.WARNING, logger="pluginhost"):
            host = make_host()
        assert host.hook.greet(name="x") == ["1.1.0"]
        assert f"loading marker {marker} not removed: Is a directory (EISDIR): {marker}" in [
            r.getMessage() for r in caplog.records
        ]
        assert marker.is_dir()

    @pytest.mark.parametrize("name", ["quarantine", "quarantine/loading"])
    def test_a_folder_that_is_a_file_refuses_the_start(
        self, wheel: Path, make_host: MakeHost, name: str
    ) -> None:
        """A regular file in place of the quarantine's folders turned crash quarantine off
        with only a log line: the start refuses it by name, and doctor reports it."""
        home = wheel.parent.parent / "home"
        make_host().stop()
        folder = home / name
        shutil.rmtree(folder)
        folder.write_text("")
        with pytest.raises(StoreError, match="is a regular file, not a directory") as caught:
            make_host()
        assert caught.value.path == str(folder)
        [fault] = quarantine_faults(home)
        assert fault.startswith(f"{folder}: is a regular file, not a directory: a plugin")
