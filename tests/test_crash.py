"""Crash safety of a hot swap, for real: a host process is SIGKILLed at each step of an update of
``hello`` from 1.0.0 to 1.1.0 (``PLUGINHOST_CRASH_AT``, see ``pluginhost/_faults.py``), and a
second process restarts a host on the same home.

Every host runs in its own interpreter through ``tests/crash_host.py``; the wheels are real
(``WheelFactory``) and nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from pluginhost._faults import STEPS
from pluginhost._store import AtomicJsonFile
from pluginhost.testing import WheelFactory

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("crash_host.py")
REFUSED = 3  # crash_host.py's exit status when the home is locked by another process

OLD, NEW = "1.0.0", "1.1.0"
CALLS_BEFORE_STOP = 5  # greet calls in the first, cleanly stopped run
CALLS_BEFORE_UPDATE = 3  # greet calls in the crashing run, before the update starts

# ``greet`` answers the plugin's version and counts its calls; the count is the state handed
# from version to version, and saved by the host at each commit and at stop with
# ``persist_state``.
PLUGIN = """
import pluggy

hookimpl = pluggy.HookimplMarker("greeter")
VERSION = "{version}"
STATE = {{"count": 0, "inherited": None}}


@hookimpl
def greet(name):
    STATE["count"] += 1
    return VERSION


@hookimpl
def pluginhost_export_state():
    return {{"count": STATE["count"], "version": VERSION, "inherited": STATE["inherited"]}}


@hookimpl
def pluginhost_import_state(state, previous_version):
    if not (isinstance(state, dict) and isinstance(state.get("count"), int)):
        raise ValueError(f"not a state of this plugin: {{state!r}}")
    STATE["count"] = state["count"]
    STATE["inherited"] = {{"from": previous_version, "count": state["count"]}}
"""

# What each crash must leave: the version the killed process had committed to the registry, and
# the version a restart on the same home (and the same watched folder, which still offers only
# hello 1.0.0 after an update by ``install()``) must serve, for an update by ``host.install()``
# of a wheel outside the folder, and for the wheel dropped into the watched folder.
#
# The registry is written by ``Engine.commit`` after the switch, so ``while_persisting`` (just
# before the write) still has 1.0.0 committed and ``after_persisting`` and ``during_drain`` (the
# drain runs after the commit) have 1.1.0. After ``install()``, the restart comes up with exactly
# what was committed. A dropped wheel is still in the folder at the restart, which applies the
# update again, so every step ends on 1.1.0.
EXPECTED: dict[str, tuple[str, str, str]] = {
    # step: (committed at the crash, after restart via install, after restart via drop)
    "after_install": (OLD, OLD, NEW),
    "after_import": (OLD, OLD, NEW),
    "after_switch": (OLD, OLD, NEW),
    "while_persisting": (OLD, OLD, NEW),
    "after_persisting": (NEW, NEW, NEW),
    "during_drain": (NEW, NEW, NEW),
}


def crash_at(step: str) -> str:
    """The ``PLUGINHOST_CRASH_AT`` value that fires at ``step`` during the update to 1.1.0.

    ``while_persisting`` and ``after_persisting`` name the active versions joined by commas
    (``_versions_text``): hello is the only plugin, so the update's commit says ``1.1.0`` and
    the commit of the initial load (and of the restore at start) says ``1.0.0``, which must
    not fire. Every other step names the version being loaded.
    """
    return f"{step}@{NEW}"


@attrs.frozen
class Scene:
    """A home, a watched folder holding hello 1.0.0, and hello 1.1.0 in a folder of its own."""

    root: Path
    home: Path
    folder: Path
    new_wheel: Path


@attrs.frozen
class Run:
    """A finished host process: its exit status and the JSON lines it printed."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e["event"] == name]
        assert found, f"no {name!r} line; printed {self.events}, stderr:\n{self.stderr}"
        return found[-1]

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    folder = tmp_path / "wheels"
    WheelFactory(folder).build("hello", OLD, code=PLUGIN.format(version=OLD))
    new = WheelFactory(tmp_path / "incoming").build("hello", NEW, code=PLUGIN.format(version=NEW))
    return Scene(tmp_path, tmp_path / "home", folder, new)


def host_command(scene: Scene, *args: str) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        "--home",
        str(scene.home),
        "--watch",
        str(scene.folder),
        "--persist",
        *args,
    ]


def host_env(crash: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLUGINHOST_CRASH_AT", None)
    if crash is not None:
        env["PLUGINHOST_CRASH_AT"] = crash
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_host(scene: Scene, *args: str, crash: str | None = None) -> Run:
    """Run a host process on the scene's home to its end."""
    proc = subprocess.run(
        host_command(scene, *args),
        cwd=scene.root,
        env=host_env(crash),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return Run(proc.returncode, events, proc.stderr)


def committed(scene: Scene) -> dict[str, Any]:
    """The registry document as the last process left it, read without repairing anything."""
    document = json.loads((scene.home / "registry.json").read_text())
    data: dict[str, Any] = document["data"]
    return data


def versions(records: Sequence[dict[str, Any]]) -> list[str]:
    return [r["candidate"]["version"] for r in records]


def stopped_cleanly(scene: Scene) -> int:
    """Run hello 1.0.0, call it, stop: the registry then holds the count saved at stop."""
    first = run_host(scene, "--calls", str(CALLS_BEFORE_STOP))
    assert first.returncode == 0, first.stderr
    entry = committed(scene)["state"]["hello"]
    assert entry["version"] == OLD
    saved: int = entry["value"]["count"]
    assert saved == CALLS_BEFORE_STOP
    return saved


class TestCrashDuringUpdate:
    def test_every_step_has_an_expectation(self) -> None:
        """The table of expected versions covers exactly the crash points pluginhost has."""
        assert set(EXPECTED) == set(STEPS)

    @pytest.mark.parametrize("via", ["install", "drop"])
    @pytest.mark.parametrize("step", STEPS)
    def test_restart_serves_the_committed_version(self, scene: Scene, step: str, via: str) -> None:
        """Killed at the step, the update leaves a home a restart serves from cleanly."""
        saved = stopped_cleanly(scene)
        at_crash, after_install, after_drop = EXPECTED[step]
        expected = after_install if via == "install" else after_drop

        crashed = run_host(
            scene,
            "--calls",
            str(CALLS_BEFORE_UPDATE),
            f"--{via}",
            str(scene.new_wheel),
            crash=crash_at(step),
        )
        assert crashed.returncode == -signal.SIGKILL, (
            f"{crash_at(step)} was not reached: exit status {crashed.returncode}\n{crashed.stderr}"
        )
        # Killed during the update: after the ready line, before the update returned.
        assert crashed.names() == ["ready"], crashed.stderr
        assert crashed.event("ready")["exported"][0]["count"] == saved + CALLS_BEFORE_UPDATE
        at_kill = committed(scene)
        assert versions(at_kill["active"]) == [at_crash]
        # Every commit exports the state, naming the version that exported it.
        assert at_kill["state"]["hello"]["version"] == at_crash
        committed_count: int = at_kill["state"]["hello"]["value"]["count"]
        # The state the plugin really had: from the last commit, never ahead of the calls made.
        assert saved <= committed_count <= saved + CALLS_BEFORE_UPDATE

        restart = run_host(scene, "--report")
        # The kernel dropped the killed process's home lock: the restart was not refused.
        assert restart.returncode == 0, restart.stderr
        report = restart.event("report")
        assert report["load_order"] == ["hello"]
        assert report["version"] == expected
        assert report["state"] == "active"
        assert report["greet"] == [expected]

        # The state handed to the version serving now is the one committed, never garbage.
        [state] = report["exported"]
        assert state["version"] == expected
        assert state["count"] == committed_count
        assert state["inherited"] is not None
        assert state["inherited"]["count"] == committed_count
        assert state["inherited"]["from"] == at_crash

        assert list((scene.home / "staging").iterdir()) == []
        registry = AtomicJsonFile(scene.home / "registry.json")
        data = registry.read()
        assert data is not None
        assert registry.recovered is None
        assert versions(data["active"]) == [expected]
        records = [*data["active"], *(r for rs in data["history"].values() for r in rs)]
        for record in records:
            assert (scene.home / "site" / record["site_dir"]).is_dir(), record["site_dir"]
        # A site dir installed before the crash but never committed is pruned at restart.
        on_disk = {p.name for p in (scene.home / "site").iterdir()}
        assert on_disk == {r["site_dir"] for r in records}
        assert report["site_dir"] == str(scene.home / "site" / data["active"][0]["site_dir"])
        if expected == NEW:
            # The update committed (before the crash or at the restart): 1.0.0 is the backup.
            assert versions(data["history"]["hello"]) == [OLD]
        assert [p.name for p in scene.home.iterdir() if ".tmp-" in p.name] == []


class TestPersistedState:
    def test_state_saved_at_stop_is_restored(self, scene: Scene) -> None:
        """A clean stop saves the plugin's state; the next start hands it to the plugin."""
        saved = stopped_cleanly(scene)
        restart = run_host(scene, "--report")
        assert restart.returncode == 0, restart.stderr
        [state] = restart.event("report")["exported"]
        assert state == {
            "count": saved,
            "version": OLD,
            "inherited": {"from": OLD, "count": saved},
        }

    def test_restored_state_names_the_version_that_saved_it(self, scene: Scene) -> None:
        """After a crash past the update's commit, 1.1.0 gets the state 1.1.0 committed."""
        stopped_cleanly(scene)
        crashed = run_host(
            scene, "--install", str(scene.new_wheel), crash=crash_at("after_persisting")
        )
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        # The update's commit exported 1.1.0's state (which it had from 1.0.0 at the swap).
        at_kill = committed(scene)
        assert versions(at_kill["active"]) == [NEW]
        assert at_kill["state"]["hello"]["version"] == NEW

        restart = run_host(scene, "--report")
        assert restart.returncode == 0, restart.stderr
        [state] = restart.event("report")["exported"]
        assert state["version"] == NEW
        assert state["inherited"] == {
            "from": NEW,
            "count": at_kill["state"]["hello"]["value"]["count"],
        }


class TestHomeLock:
    def test_second_process_is_refused_naming_the_holder(self, scene: Scene) -> None:
        """While one host process runs on a home, another is refused with the holder's pid."""
        with subprocess.Popen(
            host_command(scene, "--hold"),
            cwd=scene.root,
            env=host_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as holder:
            assert holder.stdin is not None
            assert holder.stdout is not None
            try:
                ready = json.loads(holder.stdout.readline() or "null")
                assert ready is not None, holder.stderr.read() if holder.stderr else ""
                assert ready["event"] == "ready"
                assert ready["pid"] == holder.pid

                second = run_host(scene, "--report")
                assert second.returncode == REFUSED, second.stderr
                refused = second.event("refused")
                assert refused["type"] == "HostStateError"
                assert f"home {scene.home} is in use by process {holder.pid}" in refused["error"]
                assert second.names() == ["refused"]
            finally:
                holder.stdin.close()
                assert holder.wait(timeout=30) == 0

        # Stopped cleanly, the holder let go of the home.
        third = run_host(scene, "--report")
        assert third.returncode == 0, third.stderr
        assert third.event("report")["version"] == OLD
