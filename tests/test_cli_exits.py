"""Clean exits, versions and JSON documents of the command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import CONFIG, run_cli, wait_file

import pluginhost
from pluginhost import PluginHost
from pluginhost.testing import WheelFactory

pytestmark = pytest.mark.slow


class TestInterrupt:
    def test_ctrl_c_during_demo(self, tmp_path: Path) -> None:
        """SIGINT while the demo runs ends it silently with exit 130: no traceback."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "pluginhost", "demo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, NO_COLOR="1", XDG_CACHE_HOME=str(tmp_path / "cache")),
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the demo is under way: past the imports
        assert first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert err == ""
        assert "Traceback" not in out

    def test_ctrl_c_swallowed_in_a_collector_callback_still_exits_130(self) -> None:
        """A KeyboardInterrupt raised inside a gc callback is dropped by Python; the command
        runs on, and ends with 130, not 0, without Python's "Exception ignored" report."""
        script = """
import gc, os, signal, sys
from pluginhost.cli import main as cli
armed = []
def once(phase, info):
    if phase == "start" and armed:
        armed.clear()
        os.kill(os.getpid(), signal.SIGINT)  # handled here, inside the collector's callback
gc.callbacks.append(once)
command = cli._run
def run(args):
    armed.append(True)
    gc.collect()
    return command(args)
cli._run = run
sys.exit(cli.main(["completion", "bash"]))
"""
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.stderr == ""
        assert "complete" in proc.stdout  # the command ran on
        assert proc.returncode == 130, proc.stderr


class TestClosedPipe:
    @pytest.mark.parametrize("encoding", [None, "utf-8"], ids=["locale", "strict-utf-8"])
    def test_reader_gone(self, tmp_path: Path, encoding: str | None) -> None:
        """A reader that closed the pipe before the output came: silent, exit 141, as git;
        also where stdout is strict UTF-8, whose settings the command changes and puts back
        (putting them back flushed first, past the guard: exit 1, or 0 with the output lost)."""
        # As tox runs it: no locale variables, so that the stream's defaults are Python's own.
        env = {"PATH": os.environ["PATH"]}
        if encoding is not None:
            env["PYTHONIOENCODING"] = encoding
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pluginhost", "completion", "bash"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
                env=env,
            )
        finally:
            os.close(write_end)
        assert proc.returncode == 141
        assert proc.stderr == ""

    def test_reader_leaves_the_demo(self, tmp_path: Path) -> None:
        """A reader that leaves the demo while its host's threads print events: silent, exit
        141, the host stopped on the way out (no traceback, no log)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "pluginhost", "demo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, NO_COLOR="1", XDG_CACHE_HOME=str(tmp_path / "cache")),
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        # Until the host's threads print events: the next write may be theirs or the main's.
        while b"event  loaded" not in proc.stdout.readline():
            pass
        proc.stdout.close()
        with proc.stderr:
            err = proc.stderr.read()
        assert proc.wait(timeout=120) == 141
        assert err == b""

    def test_reader_leaves_run(self, tmp_path: Path) -> None:
        """run whose reader left stops its host cleanly at the next event, exit 141."""
        (tmp_path / "wheels").mkdir()
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pluginhost", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        wait_file(tmp_path / "home" / "control" / "server.json")
        proc.stdout.close()
        wheel = WheelFactory(tmp_path / "out").build("hello")
        os.replace(wheel, tmp_path / "wheels" / wheel.name)
        with proc.stderr:
            err = proc.stderr.read()
        assert proc.wait(timeout=60) == 141
        assert err.splitlines()[1:] == ["pluginhost: stopping", "pluginhost: stopped"]

    def test_head(self, tmp_path: Path, stopped_home: Path) -> None:
        """`pluginhost list | head -1` through a real shell pipe prints one line, no error."""
        proc = subprocess.run(
            f"{sys.executable} -m pluginhost list --home {stopped_home} | head -1",
            shell=True,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.stdout.startswith("host not running (last seen ")
        assert proc.stderr == ""


class TestMissingPaths:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["inspect", "{tmp}/nope.whl"], "{tmp}/nope.whl: no such file"),
            (["inspect", "{tmp}"], "{tmp}: is a directory, not a wheel"),
            (
                ["demo", "--keep", "/proc/nope"],
                "--keep /proc/nope: cannot create it: No such file or directory",
            ),
        ],
    )
    def test_usage_error(self, tmp_path: Path, args: list[str], message: str) -> None:
        """A path that names nothing usable is one line and exit 2, not a wheel refusal."""
        proc = run_cli(*[a.format(tmp=tmp_path) for a in args], tmp_path=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr == f"pluginhost: error: {message.format(tmp=tmp_path)}\n"
        assert proc.stdout == ""


class TestVersion:
    def test_version(self, tmp_path: Path) -> None:
        """--version prints the installed distribution's version, the same as __version__."""
        proc = run_cli("--version", tmp_path=tmp_path)
        assert proc.returncode == 0
        assert proc.stdout == f"pluginhost {pluginhost.__version__}\n"
        assert pluginhost.__version__ == "0.1.0" or pluginhost.__version__[0].isdigit()


@pytest.fixture
def stopped_home(make_host: Callable[..., PluginHost], factory: WheelFactory) -> Path:
    """The home of a host that ran with hello and stopped."""
    factory.build("hello", "1.0.0")
    host = make_host()
    host.stop()
    return host.home


class TestStoppedHost:
    def test_list_and_status(self, tmp_path: Path, stopped_home: Path) -> None:
        """list and status of a stopped host's home say so first, with when it was last seen."""
        for args in (["list"], ["status", "hello"]):
            proc = run_cli(*args, "--home", str(stopped_home), tmp_path=tmp_path)
            assert proc.returncode == 0, proc.stderr
            first = proc.stdout.splitlines()[0]
            assert first.startswith("host not running (last seen 20"), first
            assert first.endswith(f"pid {os.getpid()})")

    def test_json(self, tmp_path: Path, stopped_home: Path) -> None:
        """--json says whether the host runs, and has a schema version."""
        proc = run_cli("list", "--json", "--home", str(stopped_home), tmp_path=tmp_path)
        doc = json.loads(proc.stdout)
        assert doc["schema"] == 1
        assert doc["host"]["running"] is False
        assert doc["host"]["last_seen"] <= time.time()
        assert [p["name"] for p in doc["plugins"]] == ["hello"]

    def test_a_lock_that_is_no_regular_file_is_named_never_waited_on(
        self, tmp_path: Path, stopped_home: Path
    ) -> None:
        """A FIFO or a directory in place of home/lock: list, status and graph fail at once
        naming the file and what it is (a FIFO blocked them forever), doctor reports it."""
        lock = stopped_home / "lock"
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), NO_COLOR="1")
        for make, kind in ((lambda: os.mkfifo(lock, 0o600), "a FIFO"), (lock.mkdir, "a directory")):
            lock.unlink()  # the host's regular file, then the FIFO: the directory comes last
            make()
            for args in (["list"], ["status", "hello"], ["graph"], ["doctor"]):
                proc = subprocess.run(
                    [sys.executable, "-m", "pluginhost", *args, "--home", str(stopped_home)],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=30,
                    check=False,
                )
                told = f"{lock}: cannot open the lock file: it is {kind}, not a regular file"
                if args == ["doctor"]:
                    assert proc.returncode == 3, proc.stdout
                    assert f"PROBLEM  lock            {told}" in proc.stdout
                else:
                    assert proc.returncode == 1, proc.stdout
                    assert proc.stderr.startswith(f"pluginhost: error: {told}: no host can")


class TestJsonDocuments:
    def test_audit_verify(self, tmp_path: Path, stopped_home: Path) -> None:
        """audit --verify --json prints a document, also when the log was tampered with."""
        verify = ("audit", "--verify", "--json", "--home", str(stopped_home))
        proc = run_cli(*verify, tmp_path=tmp_path)
        assert proc.returncode == 0
        assert json.loads(proc.stdout) == {
            "schema": 1,
            "ok": True,
            "path": str(stopped_home / "audit.log"),
            "faults": [],
        }
        log = stopped_home / "audit.log"
        lines = log.read_text().splitlines(keepends=True)
        log.write_text("".join(lines[1:]))
        proc = run_cli(*verify, tmp_path=tmp_path)
        assert proc.returncode == 3
        doc = json.loads(proc.stdout)
        assert doc["ok"] is False
        assert doc["faults"][0]["line"] == 1

    def test_audit_lines(self, tmp_path: Path, stopped_home: Path) -> None:
        """audit --json prints one record per line, each with its schema and event kind."""
        proc = run_cli("audit", "--json", "--home", str(stopped_home), tmp_path=tmp_path)
        records = [json.loads(line) for line in proc.stdout.splitlines()]
        assert all(r["schema"] == 1 for r in records)
        installed = [r for r in records if r["action"] == "install"]
        assert [(r["kind"], r["plugin"], r["version"]) for r in installed] == [
            ("loaded", "hello", "1.0.0")
        ]

    def test_audit_lines_start_with_schema(self, tmp_path: Path, stopped_home: Path) -> None:
        """Each audit --json line has "schema" first, then the fields in the order the log and
        run --json keep them (they were printed with their keys sorted: "schema" in the
        middle)."""
        proc = run_cli("audit", "--json", "--home", str(stopped_home), tmp_path=tmp_path)
        records = [json.loads(line) for line in proc.stdout.splitlines()]
        assert records
        for r in records:
            assert list(r)[:4] == ["schema", "time", "action", "outcome"], list(r)

    @pytest.mark.parametrize(
        "args",
        [
            ["remove", "hello", "--json", "--timeout", "1"],
            ["status", "ghost", "--json"],
            ["doctor", "--json", "--home", "/nonexistent/home"],
        ],
    )
    def test_failure_is_json_too(self, tmp_path: Path, stopped_home: Path, args: list[str]) -> None:
        """A --json command that fails prints an error document on stdout, and its line on
        stderr."""
        if "--home" not in args:
            args = [*args, "--home", str(stopped_home)]
        proc = run_cli(*args, tmp_path=tmp_path)
        assert proc.returncode == 1
        doc = json.loads(proc.stdout)
        assert doc["schema"] == 1
        assert doc["ok"] is False
        assert doc["command"] == args[0]
        assert doc["exit"] == 1
        assert proc.stderr == f"pluginhost: error: {doc['error']}\n"

    def test_bad_arguments_with_json(self, tmp_path: Path) -> None:
        """Arguments argparse refuses: usage and one line on stderr, exit 2, and with --json an
        error document on stdout."""
        proc = run_cli("status", "--json", tmp_path=tmp_path)
        assert proc.returncode == 2
        assert json.loads(proc.stdout) == {
            "schema": 1,
            "ok": False,
            "command": "status",
            "error": "the following arguments are required: NAME",
            "exit": 2,
        }
        assert proc.stderr.splitlines()[-1] == (
            "pluginhost: error: the following arguments are required: NAME"
        )
        assert run_cli("status", tmp_path=tmp_path).stdout == ""
