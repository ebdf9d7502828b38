"""Crash safety of every change, for real: a host process is SIGKILLed at each step of an update
of ``hello`` from 1.0.0 to 1.1.0, of an update undone by a failing health check, of a rollback to
a backup, of a removal and of a backup's deletion (``PLUGINHOST_CRASH_AT``, see
``pluginhost/state/faults.py``), and a second process restarts a host on the same home.

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

from pluginhost.state.faults import INSTALL_STEPS, REMOVAL_STEPS, STEPS, SWAP_STEPS, UNDO_STEPS
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("crash_host.py")
REFUSED = 3  # crash_host.py's exit status when the home is locked by another process

OLD, NEW, NEWER = "1.0.0", "1.1.0", "1.2.0"
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
HEALTHY = {healthy}


@hookimpl
def greet(name):
    STATE["count"] += 1
    return VERSION


@hookimpl
def pluginhost_health():
    return HEALTHY


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
    "before_publish": (OLD, OLD, NEW),
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
    """A home, a watched folder holding hello 1.0.0, and later versions in a folder of their own:
    1.1.0, 1.2.0, and a 1.1.0 whose health check fails."""

    root: Path
    home: Path
    folder: Path
    new_wheel: Path
    newer_wheel: Path
    unhealthy_wheel: Path

    @property
    def old_wheel(self) -> Path:
        return self.folder / "hello-1.0.0-py3-none-any.whl"


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
    WheelFactory(folder).build("hello", OLD, code=plugin(OLD))
    incoming = WheelFactory(tmp_path / "incoming")
    new = incoming.build("hello", NEW, code=plugin(NEW))
    newer = incoming.build("hello", NEWER, code=plugin(NEWER))
    unhealthy = WheelFactory(tmp_path / "unhealthy").build(
        "hello", NEW, code=plugin(NEW, healthy=False)
    )
    return Scene(tmp_path, tmp_path / "home", folder, new, newer, unhealthy)


def plugin(version: str, *, healthy: bool = True) -> str:
    return PLUGIN.format(version=version, healthy=healthy)


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


def crash(scene: Scene, step: str, version: str, *args: str) -> Run:
    """Run a host that calls ``greet`` a few times, then does ``args`` and dies at the step."""
    crashed = run_host(scene, "--calls", str(CALLS_BEFORE_UPDATE), *args, crash=f"{step}@{version}")
    assert crashed.returncode == -signal.SIGKILL, (
        f"{step}@{version} was not reached: exit status {crashed.returncode}\n{crashed.stderr}"
    )
    # Killed during the change: after the ready line, before the change returned.
    assert crashed.names() == ["ready"], crashed.stderr
    return crashed


def committed_count(scene: Scene, at_crash: str, low: int, high: int) -> int:
    """The count the registry holds for hello, exported by ``at_crash``, within what was called."""
    at_kill = committed(scene)
    # Every commit exports the state, naming the version that exported it.
    assert at_kill["state"]["hello"]["version"] == at_crash
    count: int = at_kill["state"]["hello"]["value"]["count"]
    # The state the plugin really had: from the last commit, never ahead of the calls made.
    assert low <= count <= high
    return count


def restart_serves(
    scene: Scene,
    expected: str | None,
    count: int | None,
    at_crash: str | None,
    *,
    state: str = "active",
) -> dict[str, Any]:
    """Restart on the home; check it serves exactly ``expected`` in ``state`` with the committed
    ``count`` handed over from ``at_crash`` (or serves nothing), and that the home holds nothing
    more than the registry names. Returns the registry."""
    restart = run_host(scene, "--report")
    # The kernel dropped the killed process's home lock: the restart was not refused.
    assert restart.returncode == 0, restart.stderr
    report = restart.event("report")
    if expected is None:
        assert report["load_order"] == []
        assert report["greet"] == []
    else:
        assert report["load_order"] == ["hello"]
        assert report["version"] == expected
        assert report["state"] == state
        assert report["greet"] == [expected]
        # The state handed to the version serving now is the one committed, never garbage.
        [state] = report["exported"]
        assert state["version"] == expected
        assert state["count"] == count
        assert state["inherited"] == {"from": at_crash, "count": count}

    assert list((scene.home / "staging").iterdir()) == []
    registry = AtomicJsonFile(scene.home / "registry.json")
    data = registry.read()
    assert data is not None
    assert registry.recovered is None
    assert versions(data["active"]) == ([] if expected is None else [expected])
    records = [*data["active"], *(r for rs in data["history"].values() for r in rs)]
    for record in records:
        assert (scene.home / "site" / record["site_dir"]).is_dir(), record["site_dir"]
    on_disk = {p.name for p in (scene.home / "site").iterdir()}
    named = {r["site_dir"] for r in records}
    # A site dir installed before the crash but never committed is pruned at restart; one the
    # restart's own failed load or removal installed or let go is deleted there and then.
    assert on_disk == named
    if expected is not None:
        assert report["site_dir"] == str(scene.home / "site" / data["active"][0]["site_dir"])
    assert [p.name for p in scene.home.iterdir() if ".tmp-" in p.name] == []
    assert isinstance(data, dict)
    return data


class TestCrashSteps:
    def test_every_step_has_an_expectation(self) -> None:
        """The tables of expected versions cover exactly the crash points pluginhost has."""
        covered = [*EXPECTED, *UNDO_STEPS, *REMOVAL, "while_deleting_site"]
        assert sorted(covered) == sorted(STEPS)
        assert set(EXPECTED) == {*INSTALL_STEPS, *SWAP_STEPS}
        assert set(ROLLBACK) == set(SWAP_STEPS)
        assert set(REMOVAL) == set(REMOVAL_STEPS)


class TestCrashDuringUpdate:
    @pytest.mark.parametrize("via", ["install", "drop"])
    @pytest.mark.parametrize("step", [*INSTALL_STEPS, *SWAP_STEPS])
    def test_restart_serves_the_committed_version(self, scene: Scene, step: str, via: str) -> None:
        """Killed at the step, the update leaves a home a restart serves from cleanly."""
        saved = stopped_cleanly(scene)
        at_crash, after_install, after_drop = EXPECTED[step]
        expected = after_install if via == "install" else after_drop

        crashed = crash(scene, step, NEW, f"--{via}", str(scene.new_wheel))
        assert crashed.event("ready")["exported"][0]["count"] == saved + CALLS_BEFORE_UPDATE
        assert versions(committed(scene)["active"]) == [at_crash]
        count = committed_count(scene, at_crash, saved, saved + CALLS_BEFORE_UPDATE)

        data = restart_serves(scene, expected, count, at_crash)
        if expected == NEW:
            # The update committed (before the crash or at the restart): 1.0.0 is the backup.
            assert versions(data["history"]["hello"]) == [OLD]


class TestCrashDuringFailedUpdate:
    @pytest.mark.parametrize("via", ["install", "drop"])
    @pytest.mark.parametrize("step", UNDO_STEPS)
    def test_restart_serves_the_old_version(self, scene: Scene, step: str, via: str) -> None:
        """Killed while an update failing its health check is undone, 1.0.0 serves on restart.

        Dropped, the unhealthy 1.1.0 is tried again at the restart, and undone again.
        """
        saved = stopped_cleanly(scene)
        crash(scene, step, NEW, f"--{via}", str(scene.unhealthy_wheel))
        assert versions(committed(scene)["active"]) == [OLD]
        count = committed_count(scene, OLD, saved, saved + CALLS_BEFORE_UPDATE)
        # Dropped, the retry at the restart is undone too, and says so.
        state = "rolled_back" if via == "drop" else "active"
        data = restart_serves(scene, OLD, count, OLD, state=state)
        assert data["history"] == {}


# Rolling 1.1.0 back to its backup 1.0.0 is a swap to 1.0.0 whose commit also drops 1.0.0 from
# the backups: committed at the crash, and served after the restart.
ROLLBACK: dict[str, str] = {
    "after_import": NEW,
    "after_switch": NEW,
    "while_persisting": NEW,
    "after_persisting": OLD,
    "during_drain": OLD,
}


class TestCrashDuringRollback:
    @pytest.mark.parametrize("via", ["install", "drop"])
    @pytest.mark.parametrize("step", SWAP_STEPS)
    def test_restart_serves_the_committed_version(self, scene: Scene, step: str, via: str) -> None:
        """Killed at the step of a rollback, the restart serves 1.1.0 with its backup, or
        1.0.0 without: never a mix of the two. A committed rollback sticks even with 1.1.0's
        wheel still in the watched folder."""
        stopped_cleanly(scene)
        updated = run_host(scene, "--calls", "2", f"--{via}", str(scene.new_wheel))
        assert updated.returncode == 0, updated.stderr
        saved = committed_count(scene, NEW, 0, 10**6)

        crash(scene, step, OLD, "--rollback", "hello")
        expected = ROLLBACK[step]
        assert versions(committed(scene)["active"]) == [expected]
        count = committed_count(scene, expected, saved, saved + CALLS_BEFORE_UPDATE)
        data = restart_serves(scene, expected, count, expected)
        history = versions(data["history"].get("hello", []))
        assert history == ([OLD] if expected == NEW else [])


# What a removal leaves (``None``: nothing serves): ``host.remove()`` commits the removal before
# it switches the plugin out; a wheel deleted from the folder is still gone at the restart, which
# removes the plugin again if the crash came before the commit.
REMOVAL: dict[str, tuple[str | None, str | None]] = {
    # step: (after restart via remove, after restart via delete)
    "removal_before_persisting": (OLD, None),
    "removal_after_persisting": (None, None),
    "removal_after_unregister": (None, None),
    "removal_after_drain": (None, None),
}


class TestCrashDuringRemoval:
    @pytest.mark.parametrize("via", ["remove", "delete"])
    @pytest.mark.parametrize("step", REMOVAL_STEPS)
    def test_restart_serves_the_committed_set(self, scene: Scene, step: str, via: str) -> None:
        """Killed at the step of a removal, the restart serves hello 1.0.0 or nothing, and the
        saved state of hello is kept either way."""
        saved = stopped_cleanly(scene)
        args = ["--remove", "hello"] if via == "remove" else ["--delete", str(scene.old_wheel)]
        crash(scene, step, OLD, *args)
        expected = REMOVAL[step][0 if via == "remove" else 1]
        at_kill = committed(scene)
        gone = step != "removal_before_persisting"
        assert versions(at_kill["active"]) == ([] if gone else [OLD])
        assert at_kill["removed"] == (["hello"] if gone and via == "remove" else [])
        count = committed_count(scene, OLD, saved, saved + CALLS_BEFORE_UPDATE)

        data = restart_serves(scene, expected, count, OLD)
        # A removed plugin's saved state stays in the registry, for when it comes back; one
        # serving was called once more by the restart's report.
        assert data["state"]["hello"]["value"]["count"] == count + (expected is not None)


class TestCrashWhileDeletingBackup:
    def test_half_deleted_backup_is_pruned(self, scene: Scene) -> None:
        """Killed midway through deleting a backup beyond ``keep_backups``, the restart serves
        the committed version and prunes the half-deleted dir, which never kept its name."""
        keep = ("--keep-backups", "1")
        stopped_cleanly(scene)
        updated = run_host(scene, *keep, "--install", str(scene.new_wheel))
        assert updated.returncode == 0, updated.stderr
        old_site = committed(scene)["history"]["hello"][0]["site_dir"]

        crash(scene, "while_deleting_site", OLD, *keep, "--install", str(scene.newer_wheel))
        at_kill = committed(scene)
        assert versions(at_kill["active"]) == [NEWER]
        assert versions(at_kill["history"]["hello"]) == [NEW]
        site = scene.home / "site"
        assert not (site / old_site).exists()
        assert (site / f".{old_site}.deleting").is_dir()
        count = committed_count(scene, NEWER, 0, 10**6)

        data = restart_serves(scene, NEWER, count, NEWER)
        assert versions(data["history"]["hello"]) == [NEW]

    def test_half_deleted_site_of_a_removed_plugin_is_pruned(self, scene: Scene) -> None:
        """Killed while a removed plugin's site dir is deleted (after the removal's commit), the
        restart serves nothing and prunes what is left of the dir."""
        saved = stopped_cleanly(scene)
        old_site = committed(scene)["active"][0]["site_dir"]
        crash(scene, "while_deleting_site", OLD, "--remove", "hello")
        at_kill = committed(scene)
        assert versions(at_kill["active"]) == []
        assert at_kill["removed"] == ["hello"]
        assert (scene.home / "site" / f".{old_site}.deleting").is_dir()
        count = committed_count(scene, OLD, saved, saved + CALLS_BEFORE_UPDATE)
        restart_serves(scene, None, count, OLD)


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


# A plugin whose load crashes the process: at import, or in its activate hook.
CRASHER = """
import ctypes, os
import pluggy

hookimpl = pluggy.HookimplMarker("greeter")
{at_import}


@hookimpl
def greet(name):
    return "crasher"


@hookimpl
def pluginhost_activate(host):
    {at_activate}
"""
CRASHES = {
    "abort": ("os.abort()", -signal.SIGABRT),
    "exit": ("os._exit(7)", 7),
    "segfault": ("ctypes.string_at(0)", -signal.SIGSEGV),
}


def crasher(
    folder: Path, how: str, *, at: str = "import", name: str = "crasher", version: str = OLD
) -> Path:
    crash = CRASHES[how][0]
    code = CRASHER.format(
        at_import=crash if at == "import" else "",
        at_activate=crash if at == "activate" else "pass",
    )
    return WheelFactory(folder).build(name, version, code=code)


def crashed_during_load(run: Run, how: str) -> None:
    """The host process died in the load: by the crash asked for, before it was ready."""
    assert run.returncode == CRASHES[how][1], run.stderr
    assert "ready" not in run.names()


def held_back(scene: Scene, plugin: str, version: str = "1.0.0") -> dict[str, Any]:
    """A start that skips the quarantined version and says why; its report."""
    restart = run_host(scene, "--report")
    assert restart.returncode == 0, restart.stderr
    report = restart.event("report")
    assert [p for p in report["problems"] if f"{plugin} {version}: crashed during load" in p]
    return report


def cli(scene: Scene, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pluginhost", *args, "--home", str(scene.home)],
        cwd=scene.root,
        env=host_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestCrashDuringLoad:
    """A plugin that crashes the process while loading is quarantined at the next start."""

    @pytest.mark.parametrize("at", ["import", "activate"])
    @pytest.mark.parametrize("how", sorted(CRASHES))
    def test_next_start_skips_it(self, scene: Scene, how: str, at: str) -> None:
        """The next starts serve the others, file ``crashed during load`` and audit it, and
        never run the crasher's code again."""
        crasher(scene.folder, how, at=at)
        crashed_during_load(run_host(scene, "--report"), how)
        for _ in range(2):
            report = held_back(scene, "crasher")
            assert report["load_order"] == ["hello"]
            assert report["greet"] == [OLD]
        audited = [json.loads(line) for line in (scene.home / "audit.log").read_text().splitlines()]
        assert [(e["action"], e["outcome"]) for e in audited if e.get("plugin") == "crasher"] == [
            ("install", "failed"),
            ("install", "failed"),
        ]

    def test_crashing_update_falls_back_to_the_committed_version(self, scene: Scene) -> None:
        """An update dropped into the folder of a running host kills it; the restart serves
        the committed version, with its state, and holds the new one back."""
        incoming = crasher(scene.root / "crashing", "abort", name="hello", version=NEW)
        stopped_cleanly(scene)
        crashed = run_host(scene, "--drop", str(incoming))
        assert crashed.returncode == -signal.SIGABRT, crashed.stderr
        report = held_back(scene, "hello", NEW)
        assert report["version"] == OLD
        assert report["greet"] == [OLD]
        assert report["exported"][0]["count"] == CALLS_BEFORE_STOP

    def test_release_and_removal_lift_the_quarantine(self, scene: Scene) -> None:
        """``pluginhost release`` lets it be tried (and crash) again; removing its wheel lifts
        the quarantine too, so the same wheel dropped again is tried again."""
        wheel = crasher(scene.folder, "exit")
        crashed_during_load(run_host(scene), "exit")
        held_back(scene, "crasher")
        released = cli(scene, "release", "crasher")
        assert released.returncode == 0, released.stderr
        assert "released crasher 1.0.0" in released.stdout
        again = cli(scene, "release", "crasher")
        assert again.returncode == 1
        assert again.stderr == "pluginhost: error: no quarantined version of crasher\n"
        as_json = cli(scene, "release", "crasher", "--json")
        assert json.loads(as_json.stdout) == {
            "schema": 1,
            "ok": False,
            "command": "release",
            "error": "no quarantined version of crasher",
            "exit": 1,
            "released": [],
        }
        crashed_during_load(run_host(scene), "exit")
        held_back(scene, "crasher")
        kept = wheel.read_bytes()
        wheel.unlink()
        assert run_host(scene, "--report").event("report")["problems"] == []
        assert list((scene.home / "quarantine").glob("*.json")) == []
        wheel.write_bytes(kept)
        crashed_during_load(run_host(scene), "exit")
