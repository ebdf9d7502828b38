"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from conftest import greet_code

import pluginhost.cli.commands
from pluginhost.cli.commands.run import problem_line
from pluginhost.host.config_file import HostConfig
from pluginhost.model.problems import Problem, ProblemKind
from pluginhost.state.store import AtomicJsonFile
from pluginhost.testing import WheelFactory

pytestmark = pytest.mark.slow


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "pluginhost", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


class TestUsage:
    def test_help(self, tmp_path: Path) -> None:
        """--help lists the commands and exits 0."""
        proc = run_cli("--help", tmp_path=tmp_path)
        assert proc.returncode == 0
        assert "demo" in proc.stdout

    def test_unknown_command(self, tmp_path: Path) -> None:
        """An unknown command is a usage error (exit 2)."""
        proc = run_cli("frobnicate", tmp_path=tmp_path)
        assert proc.returncode == 2
        assert "invalid choice" in proc.stderr

    @pytest.mark.parametrize(
        "command",
        [
            "inspect",
            "run",
            "list",
            "status",
            "graph",
            "doctor",
            "audit",
            "rollback",
            "remove",
            "new",
            "dev",
        ],
    )
    def test_command_help(self, tmp_path: Path, command: str) -> None:
        """Every command has --help, which documents the exit codes."""
        proc = run_cli(command, "--help", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "exit codes:" in proc.stdout
        assert "3  problems found" in proc.stdout

    def test_help_names_every_command_that_exits_three(self, tmp_path: Path) -> None:
        """The help's line for exit 3 names each command whose module can return it."""
        proc = run_cli("--help", tmp_path=tmp_path)
        line = re.search(r"^  3  problems found (.*?)\n  \d", proc.stdout, re.M | re.S)
        assert line is not None, proc.stdout
        commands = Path(pluginhost.cli.commands.__file__).parent
        giving = sorted(m.stem for m in commands.glob("*.py") if "EXIT_PROBLEMS" in m.read_text())
        assert giving, "no command module returns EXIT_PROBLEMS"
        missing = [name for name in giving if not re.search(rf"\b{name}\b", line.group(1))]
        assert not missing, f"exit 3 of {missing} is not in --help"

    def test_error_is_one_line(self, tmp_path: Path) -> None:
        """An error is one line on stderr, exit 1; --debug adds the traceback."""
        proc = run_cli("list", "--home", str(tmp_path / "nowhere"), tmp_path=tmp_path)
        assert proc.returncode == 1
        assert proc.stderr.splitlines() == [
            f"pluginhost: error: {tmp_path / 'nowhere'}: not a pluginhost home "
            "(no lock, no registry.json)"
        ]
        debug = run_cli("--debug", "list", "--home", str(tmp_path / "nowhere"), tmp_path=tmp_path)
        assert debug.returncode == 1
        assert "Traceback" in debug.stderr

    def test_no_home(self, tmp_path: Path) -> None:
        """A home-reading command without --home or a pluginhost.toml here: usage error."""
        proc = run_cli("list", tmp_path=tmp_path)
        assert proc.returncode == 2
        assert "no home given" in proc.stderr


class TestInspect:
    def test_good_and_bad(self, tmp_path: Path) -> None:
        """A valid plugin prints its manifest; a bad one its reason; any refusal exits 3."""
        factory = WheelFactory(tmp_path / "out")
        good = factory.build("polite", "1.2.0", host="^1.2", requires={"hello": "^1.0"})
        bad = factory.build("evil", broken="dotdot-path")
        proc = run_cli("inspect", str(good), tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert f"{good}: ok" in proc.stdout
        assert "plugin         polite 1.2.0 (greeter.plugins)" in proc.stdout
        assert "requires       hello ^1.0" in proc.stdout
        assert "top-level      polite" in proc.stdout
        proc = run_cli("inspect", str(good), str(bad), "--api-version", "2.0.0", tmp_path=tmp_path)
        assert proc.returncode == 3
        assert (
            "refused: polite 1.2.0 requires host API ^1.2, the host provides 2.0.0" in proc.stdout
        )
        assert f"{bad}: REFUSED" in proc.stdout

    def test_a_script_installer_cannot_write(self, tmp_path: Path) -> None:
        """A console script that is no reference is refused, naming the line and the entry."""
        factory = WheelFactory(tmp_path / "out")
        bad = factory.build("s1", other_groups={"console_scripts": {"t": "not a ref!!"}})
        proc = run_cli("inspect", str(bad), tmp_path=tmp_path)
        assert proc.returncode == 3, proc.stdout
        assert f"{bad}: REFUSED" in proc.stdout
        assert "line 2: [console_scripts] 't' = 'not a ref!!' is no 'module:attr'" in proc.stdout

    def test_json(self, tmp_path: Path) -> None:
        """--json: one report per wheel, with the refusals."""
        factory = WheelFactory(tmp_path / "out")
        bad = factory.build("evil", broken="bad-record-hash")
        proc = run_cli("inspect", "--json", str(bad), tmp_path=tmp_path)
        assert proc.returncode == 3
        [report] = json.loads(proc.stdout)["wheels"]
        assert report["ok"] is False
        assert "does not match its RECORD hash" in report["refused"][0]

    def test_other_group(self, tmp_path: Path) -> None:
        """With --project, a wheel for another host is refused as not its plugin."""
        wheel = WheelFactory(tmp_path / "out").build("hello")
        proc = run_cli("inspect", "--project", "other", str(wheel), tmp_path=tmp_path)
        assert proc.returncode == 3
        assert "declares no entry point in group 'other.plugins'" in proc.stdout

    def test_bad_api_version(self, tmp_path: Path) -> None:
        """A malformed --api-version is a usage error."""
        wheel = WheelFactory(tmp_path / "out").build("hello")
        proc = run_cli("inspect", "--api-version", "one", str(wheel), tmp_path=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.startswith("pluginhost: error: --api-version:")


class TestNew:
    def test_new(self, tmp_path: Path) -> None:
        """`new` writes the project; a second time it refuses to overwrite it."""
        target = tmp_path / "shout"
        proc = run_cli("new", "shout", "--dir", str(target), "--json", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["files"]) == 4
        assert (target / "shout_plugin" / "plugin.toml").is_file()
        again = run_cli("new", "shout", "--dir", str(target), tmp_path=tmp_path)
        assert again.returncode == 1
        assert "exists and is not empty" in again.stderr


CONFIG = """
[pluginhost]
project = "greeter"
specs = ["hookspecs.greeter:GreeterSpec"]
home = "home"
watch = ["wheels"]
api_version = "1.4.0"
environment = false
settle = 0.05
"""


class HostProcess:
    """`pluginhost run` in a subprocess, its output collected as it comes.

    Both pipes are read by threads of their own until the process closes them: reading one
    with ``communicate()`` beside a thread reading it too made the thread fail on a closed
    file now and then.
    """

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pluginhost", "run", "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, NO_COLOR="1"),
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            assert self.proc.poll() is None, "\n".join(self.errors)
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not among {self.lines}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        for reader in self.readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code, "".join(f"{line}\n" for line in self.errors)


def wait_file(path: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def wait_status(home: Path, name: str, text: str, timeout: float = 15) -> str:
    """`status NAME` once its output shows ``text``.

    The host rewrites status.json after the change that printed an event line, so a reader
    right after the line can still see the document from before it.
    """
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(
            [sys.executable, "-m", "pluginhost", "status", name, "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode == 0 and text in proc.stdout:
            return proc.stdout
        assert time.monotonic() < deadline, f"status never showed {text!r}: {proc.stdout}"
        time.sleep(0.1)


class TestRun:
    def test_operate_a_running_host(self, tmp_path: Path) -> None:
        """run, drop wheels, read the running host's home, roll back and remove through the
        control folder, then SIGTERM: exit 0 and the registry intact."""
        (tmp_path / "wheels").mkdir()
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        home = tmp_path / "home"
        out = WheelFactory(tmp_path / "out")
        built = [
            out.build("hello", "1.0.0", code=greet_code("hello 1.0")),
            out.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"}),
            out.build("needy", "0.1.0", requires={"translator": "^2.0"}),
        ]
        newer = out.build("hello", "1.1.0", code=greet_code("hello 1.1"))
        host = HostProcess(config)
        try:
            wait_file(home / "control" / "server.json")
            for wheel in built:
                os.replace(wheel, tmp_path / "wheels" / wheel.name)
            host.wait_for("loaded polite 1.0.0")
            os.replace(newer, tmp_path / "wheels" / newer.name)
            host.wait_for("updated hello 1.0.0 -> 1.1.0")
            assert host.lines[0].endswith(
                "discovered hello 1.0.0 from "
                + str(tmp_path / "wheels" / "hello-1.0.0-py3-none-any.whl")
            )
            self.check_reports(tmp_path, home)
            self.check_control(tmp_path, home, host)
        finally:
            code, err = host.stop()
        assert code == 0, err
        assert err.splitlines()[-1] == "pluginhost: stopped"
        registry = AtomicJsonFile(home / "registry.json").read()
        assert registry is not None
        assert [r["candidate"]["version"] for r in registry["active"]] == ["1.0.0"]
        assert registry["removed"] == ["polite"]
        stopped = run_cli("rollback", "hello", "--home", str(home), tmp_path=tmp_path)
        assert stopped.returncode == 1
        assert stopped.stderr == f"pluginhost: error: no host is running on {home}\n"

    def check_reports(self, tmp_path: Path, home: Path) -> None:
        wait_status(home, "hello", "hello 1.1.0: active")
        listing = run_cli(
            "list", "--config", str(tmp_path / "pluginhost.toml"), "--json", tmp_path=tmp_path
        )
        assert listing.returncode == 0, listing.stderr
        rows = {
            r["name"]: (r["version"], r["state"]) for r in json.loads(listing.stdout)["plugins"]
        }
        assert rows == {
            "hello": ("1.1.0", "active"),
            "polite": ("1.0.0", "active"),
            "needy": ("0.1.0", "failed"),
        }
        status = run_cli("status", "hello", "--home", str(home), tmp_path=tmp_path)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("hello 1.1.0: active\n")
        assert "  backups      1.0.0\n" in status.stdout
        graph = run_cli("graph", "--home", str(home), tmp_path=tmp_path)
        assert "load order (dependencies first): hello -> polite" in graph.stdout
        assert "polite 1.0.0 requires hello ^1.0 [1.1.0]" in graph.stdout
        dot = run_cli("graph", "--dot", "--home", str(home), tmp_path=tmp_path)
        assert dot.stdout.startswith("digraph plugins {")
        doctor = run_cli("doctor", "--json", "--home", str(home), tmp_path=tmp_path)
        assert doctor.returncode == 3, doctor.stderr
        report = json.loads(doctor.stdout)
        assert report["ok"] is False
        findings = {(f["check"], f["message"]) for f in report["findings"]}
        assert ("unresolved", "needy 0.1.0 requires translator ^2.0, which is not available") in (
            findings
        )
        assert any(check == "lock" and "pid" in message for check, message in findings)

    def check_control(self, tmp_path: Path, home: Path, host: HostProcess) -> None:
        rollback = run_cli("rollback", "hello", "--home", str(home), tmp_path=tmp_path)
        assert rollback.returncode == 0, rollback.stderr
        assert rollback.stdout == "hello: rolled back to 1.0.0\n"
        host.wait_for("rolled_back hello 1.1.0 -> 1.0.0")
        again = run_cli("rollback", "hello", "--home", str(home), tmp_path=tmp_path)
        assert again.returncode == 1
        assert again.stderr == (
            "pluginhost: error: plugin 'hello' has no earlier version to roll back to\n"
        )
        remove = run_cli("remove", "polite", "--home", str(home), tmp_path=tmp_path)
        assert remove.returncode == 0, remove.stderr
        host.wait_for("unloaded polite 1.0.0")
        status = run_cli("status", "polite", "--home", str(home), tmp_path=tmp_path)
        assert status.returncode == 1
        assert "no plugin named 'polite'" in status.stderr
        assert "(it was removed)" in status.stderr

    def test_config_error(self, tmp_path: Path) -> None:
        """A bad config: one line naming the file and the key, exit 1, no host started."""
        config = tmp_path / "pluginhost.toml"
        config.write_text("[pluginhost]\nproject = 'greeter'\nkeep_backups = 'three'\n")
        proc = run_cli("run", "--config", str(config), tmp_path=tmp_path)
        assert proc.returncode == 1
        assert proc.stderr == (
            f"pluginhost: error: {config}: pluginhost.keep_backups: must be a integer, not string\n"
        )


class TestRunTellsTheTruth:
    def test_a_plugins_huge_error_text_is_cut(self, tmp_path: Path) -> None:
        """An event or problem line is cut as the audit log's fields are: a plugin raising a
        2 MB message made two lines of 2 MB each (and 20 MB ones for 20 MB)."""
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        (tmp_path / "wheels").mkdir()
        code = 'raise RuntimeError("big" + "A" * 2_000_000)\n'
        wheel = WheelFactory(tmp_path / "out").build("evil", "1.0.0", code=code)
        os.replace(wheel, tmp_path / "wheels" / wheel.name)
        host = HostProcess(config)
        try:
            host.wait_for("not loaded: evil 1.0.0")
        finally:
            status, err = host.stop()
        assert status == 0, err
        told = [line for line in host.lines if "evil" in line]
        assert any("more characters cut; sha256 of the whole" in line for line in told)
        assert max(map(len, host.lines)) < 5000

    def test_problems_appear_and_clear(self, tmp_path: Path) -> None:
        """A missing folder and a plugin left out each get one line when they appear and one
        when they clear, without --debug."""
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        out = WheelFactory(tmp_path / "out")
        polite = out.build("polite", "1.0.0", requires={"hello": "^1.0"})
        hello = out.build("hello", "1.0.0")
        host = HostProcess(config)
        wheels = tmp_path / "wheels"
        try:
            host.wait_for(f"watched folder unavailable: {wheels}: folder is missing")
            wheels.mkdir()
            host.wait_for(f"cleared: {wheels}: folder is missing")
            os.replace(polite, wheels / polite.name)
            missing = "polite 1.0.0 requires hello ^1.0, which is not available"
            host.wait_for(f"not loaded: {missing}")
            os.replace(hello, wheels / hello.name)
            host.wait_for(f"cleared: {missing}")
        finally:
            code, err = host.stop()
        assert code == 0, err
        told = [line.split("  ", 1)[1] for line in host.lines]
        assert told.count(f"not loaded: {missing}") == 1
        assert told.count(f"cleared: {missing}") == 1
        assert f"pluginhost: WARNING: watched folder {wheels}: folder is missing" in err

    @pytest.mark.parametrize(
        ("kind", "message"),
        [
            (
                ProblemKind.UNKNOWN_HOOKS,
                "typo 0.1.0 implements no hook at all (it loaded: a typo?)",
            ),
            (
                ProblemKind.INDEX_UNAVAILABLE,
                "index https://x/ cannot be read (down); what it offered keeps serving",
            ),
            (
                ProblemKind.NOT_ON_INDEX,
                "the index offers no version of hello; the version serving keeps serving",
            ),
            (
                ProblemKind.PROJECT_UNAVAILABLE,
                "index https://x/: the page of hello cannot be read (down); what the index "
                "offered of hello stands, and what serves of it keeps serving",
            ),
        ],
    )
    def test_a_problem_that_keeps_nothing_out_is_a_warning(
        self, kind: ProblemKind, message: str
    ) -> None:
        """A problem whose plugins serve on is told as a warning, never as "not loaded"."""
        problem = Problem(kind, "typo", message)
        assert problem_line(problem, appeared=True) == f"warning: {message}"
        assert problem_line(problem, appeared=False) == f"cleared: {message}"

    def test_json_records(self, tmp_path: Path) -> None:
        """--json prints one document per line: events as the audit log records them, and
        problems; each with its schema version."""
        (tmp_path / "wheels").mkdir()
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        out = WheelFactory(tmp_path / "out")
        needy = out.build("needy", "0.1.0", requires={"translator": "^2.0"})
        hello = out.build("hello", "1.0.0")
        host = HostProcess(config, "--json")
        try:
            wait_file(tmp_path / "home" / "control" / "server.json")
            os.replace(needy, tmp_path / "wheels" / needy.name)
            os.replace(hello, tmp_path / "wheels" / hello.name)
            host.wait_for('"kind": "missing"')
            host.wait_for('"kind": "loaded"')
        finally:
            code, err = host.stop(signal.SIGINT)
        assert code == 0, err  # Ctrl-C is how run is asked to stop: a clean stop
        assert err.splitlines()[-2:] == ["pluginhost: stopping", "pluginhost: stopped"]
        docs = [json.loads(line) for line in host.lines]
        assert all(d["schema"] == 1 for d in docs)
        loaded = next(d for d in docs if d["type"] == "event" and d["kind"] == "loaded")
        assert loaded["action"] == "install"
        assert (loaded["plugin"], loaded["version"]) == ("hello", "1.0.0")
        assert loaded["origin"] == str(tmp_path / "wheels" / hello.name)
        assert loaded["time"].startswith("20")
        problem = next(d for d in docs if d["type"] == "problem")
        assert (problem["change"], problem["plugin"]) == ("appeared", "needy")
        audited = [
            json.loads(line) for line in (tmp_path / "home" / "audit.log").read_text().splitlines()
        ]
        same = next(a for a in audited if a.get("kind") == "loaded")
        assert {k: v for k, v in same.items() if k != "prev"} == {
            k: v for k, v in loaded.items() if k not in ("schema", "type")
        }

    def test_registry_restored_from_backup(self, tmp_path: Path) -> None:
        """A registry restored from its backup is a warning on stderr by default; -q hides it."""
        (tmp_path / "wheels").mkdir()
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        out = WheelFactory(tmp_path / "out")
        with HostConfig.from_file(config).make_host() as setup:
            # Two commits: the second keeps the first as the backup.
            setup.install(out.build("hello", "1.0.0"))
            setup.install(out.build("hello", "1.1.0"))
        assert (tmp_path / "home" / "registry.json.bak").is_file()
        (tmp_path / "home" / "registry.json").write_text("{broken")
        for args, shown in (((), True), (("-q",), False)):
            host = HostProcess(config, *args)
            wait_file(tmp_path / "home" / "control" / "server.json")
            _, err = host.stop()
            (tmp_path / "home" / "control" / "server.json").unlink(missing_ok=True)
            assert ("WARNING: registry: registry.json" in err) is shown, err
            (tmp_path / "home" / "registry.json").write_text("{broken")
