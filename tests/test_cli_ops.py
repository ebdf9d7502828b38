"""Operating a running host from the shell, as real subprocesses: ``pluginhost call``,
``disable``/``enable``, ``run -p no:NAME``, unknown hooks, and ``run --metrics-port``."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import greet_code
from test_calls import RAISES
from test_cli import CONFIG, HostProcess, run_cli, wait_file, wait_status

from pluginhost.cli.commands.call import parse_arguments
from pluginhost.cli.common import UsageError
from pluginhost.cli.main import main
from pluginhost.cli.run_options import blocked_names
from pluginhost.testing import WheelFactory

ODD = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def greet(name):
    return {name}
"""

TYPO = """
import pluggy
hookimpl = pluggy.HookimplMarker("greeter")

@hookimpl
def gret(name):
    return name
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text: str = reply.read().decode()
        return text


class TestArguments:
    def test_key_value_rule(self) -> None:
        """A value is a JSON literal when it is one, else the string as given."""
        assert parse_arguments(["name=Ada", "n=3", "ok=true", "x=[1]", 's="42"', "e="]) == {
            "name": "Ada",
            "n": 3,
            "ok": True,
            "x": [1],
            "s": "42",
            "e": "",
        }

    @pytest.mark.parametrize("bad", [["name"], ["1x=2"], ["a=1", "a=2"]])
    def test_bad_arguments(self, bad: list[str]) -> None:
        """No '=', a key that is not a name, or a key twice: usage errors."""
        with pytest.raises(UsageError):
            parse_arguments(bad)

    def test_a_value_nested_too_deeply_is_a_usage_error(self) -> None:
        """It ended the CLI with an internal RecursionError."""
        with pytest.raises(UsageError, match="'names': its JSON value is nested too deeply"):
            parse_arguments(["names=" + "[" * 100_000 + "]" * 100_000])

    def test_blocked_names(self) -> None:
        """-p takes no:NAME only."""
        assert blocked_names(["no:a", "no:b"]) == ("a", "b")
        with pytest.raises(UsageError, match="only -p no:NAME"):
            blocked_names(["a"])


class TestSeconds:
    @pytest.mark.parametrize("value", ["nan", "-1", "0", "-inf", "inf", "soon"])
    @pytest.mark.parametrize(
        "command",
        [["rollback", "x"], ["disable", "x"], ["call", "greet"], ["dev", "."]],
        ids=["rollback", "disable", "call", "dev"],
    )
    def test_a_wait_that_is_no_time_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], value: str
    ) -> None:
        """``--timeout nan`` (or -1) wrote a request and withdrew it at once, saying the host
        had not answered 'within nans'; it is refused before anything is done."""
        if command[0] == "dev":
            argv = [*command[:-1], f"--wait={value}"]
        else:
            argv = [*command, f"--timeout={value}", "--home", str(tmp_path / "home")]
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "seconds" in err.splitlines()[-1]
        assert not (tmp_path / "home").exists()

    def test_debounce_may_be_zero(self) -> None:
        from pluginhost.cli.main import _quiet

        assert _quiet("0") == 0.0
        with pytest.raises(argparse.ArgumentTypeError, match="finite"):
            _quiet("nan")


@pytest.mark.slow
class TestNoHome:
    @pytest.mark.parametrize("command", ["disable", "enable"])
    def test_choice_on_no_home_refused(self, tmp_path: Path, command: str) -> None:
        """disable/enable with no host running, on a folder that is no host's home (a typo),
        is refused as list and status refuse it, and makes no folder."""
        for where in (tmp_path / "nohome", tmp_path / "empty"):
            (tmp_path / "empty").mkdir(exist_ok=True)
            proc = run_cli(command, "hello", "--home", str(where), tmp_path=tmp_path)
            assert proc.returncode == 1, proc.stdout
            assert proc.stderr == (
                f"pluginhost: error: {where}: not a pluginhost home (no lock, no registry.json)\n"
            )
            assert proc.stdout == ""
        assert not (tmp_path / "nohome").exists()
        assert list((tmp_path / "empty").iterdir()) == []


class TestNames:
    @pytest.mark.parametrize("command", ["disable", "enable", "remove", "release"])
    def test_a_name_no_plugin_can_have_is_a_usage_error(
        self, tmp_path: Path, stopped_home: Path, command: str
    ) -> None:
        """Empty, a path, a newline, 5,000 characters or bytes that are not UTF-8: exit 2
        saying why, the name escaped (disable recorded them in the home, printed raw)."""
        names: list[str | bytes] = ["", "../../x", "p1\nx", "a" * 5000, b"\xff\xfe"]
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), NO_COLOR="1")
        for name in names:
            proc = subprocess.run(
                [sys.executable, "-m", "pluginhost", command, name, "--home", str(stopped_home)],
                capture_output=True,
                env=env,
                timeout=60,
                check=False,
            )
            assert proc.returncode == 2, proc.stderr
            assert proc.stdout == b""
            (line,) = proc.stderr.decode("ascii").splitlines()
            assert line.startswith("pluginhost: error: '")
            assert line.endswith("' is not a plugin name: use at most 100 letters, digits, '-', "
                                 "'_' and '.', starting with a letter or digit")  # fmt: skip
        assert not (stopped_home / "disabled.json").exists()


@pytest.mark.slow
class TestOperate:
    def test_call_disable_metrics_and_unknown_hooks(self, tmp_path: Path) -> None:
        """A running host answers `call`, warns of a hook no spec knows, keeps out what
        `-p no:` blocks, serves metrics that count a swap, and disables and enables plugins;
        a stopped one records the choice; `unknown_hooks = "refuse"` keeps the typo out."""
        wheels = tmp_path / "wheels"
        wheels.mkdir()
        config = tmp_path / "pluginhost.toml"
        config.write_text(CONFIG)
        home = tmp_path / "home"
        out = WheelFactory(tmp_path / "out")
        built = [
            out.build("hello", "1.0.0", code=greet_code("hello 1.0")),
            out.build("polite", "1.0.0", code=greet_code("polite"), requires={"hello": "^1.0"}),
            out.build("broken", "0.2.0", code=RAISES),
            out.build("odd", "0.3.0", code=ODD),
            out.build("typo", "0.1.0", code=TYPO),
            out.build("blocked", "1.0.0", code=greet_code("blocked")),
        ]
        port = free_port()
        host = HostProcess(config, "-p", "no:blocked", "--metrics-port", str(port))
        try:
            wait_file(home / "control" / "server.json")
            for wheel in built:
                os.replace(wheel, wheels / wheel.name)
            host.wait_for("loaded polite 1.0.0")
            host.wait_for("unknown_hooks typo 0.1.0")
            assert any("(implements hooks that no spec of the host knows: gret)" in line
                       for line in host.lines)  # fmt: skip
            self.check_call(tmp_path, home)
            newer = out.build("hello", "1.1.0", code=greet_code("hello 1.1"))
            os.replace(newer, wheels / newer.name)
            host.wait_for("updated hello 1.0.0 -> 1.1.0")
            self.check_metrics(port)
            self.check_second_run_says_no_metrics(tmp_path, config)
            self.check_disable(tmp_path, home, host)
        finally:
            code, err = host.stop()
        assert code == 0, err
        assert f"metrics on http://127.0.0.1:{port}/metrics" in err
        self.check_stopped(tmp_path, home, config)

    def check_second_run_says_no_metrics(self, tmp_path: Path, config: Path) -> None:
        """A second run on the home in use fails without announcing metrics it never serves
        (it said 'metrics on http://...' before the failure)."""
        second = run_cli(
            "run", "--config", str(config), "--metrics-port", str(free_port()), tmp_path=tmp_path
        )
        assert second.returncode == 1, second.stderr
        assert "is in use by process" in second.stderr
        assert "metrics on" not in second.stderr

    def check_call(self, tmp_path: Path, home: Path) -> None:
        call = run_cli("call", "greet", "name=Ada", "--home", str(home), tmp_path=tmp_path)
        assert call.returncode == 3, call.stderr  # broken raised
        lines = set(call.stdout.splitlines())
        assert {
            'hello 1.0.0: "hello 1.0"',
            'polite 1.0.0: "polite"',
            "broken 0.2.0: raised ValueError: no Ada",
            "odd 0.3.0: {'Ada'} (a set, not JSON)",
        } == lines
        as_json = run_cli(
            "call", "greet", "name=Ada", "--json", "--home", str(home), tmp_path=tmp_path
        )
        answers = {a["plugin"]: a for a in json.loads(as_json.stdout)["answers"]}
        assert answers["hello"]["result"] == "hello 1.0"
        assert (answers["odd"]["repr"], answers["odd"]["type"]) == ("{'Ada'}", "set")
        assert answers["broken"]["error_type"] == "builtins.ValueError"
        typo = run_cli("call", "gret", "name=x", "--home", str(home), tmp_path=tmp_path)
        assert typo.returncode == 1
        assert "the host has no hook named 'gret' (its hooks: farewell, greet)" in typo.stderr
        missing = run_cli("call", "greet", "--home", str(home), tmp_path=tmp_path)
        assert missing.returncode == 1
        assert "greet takes name (missing: name)" in missing.stderr
        usage = run_cli("call", "greet", "Ada", "--home", str(home), tmp_path=tmp_path)
        assert usage.returncode == 2
        assert "is not key=value" in usage.stderr

    def check_metrics(self, port: int) -> None:
        text = scrape(port)
        assert 'pluginhost_swaps_total{result="ok"} 1.0' in text
        assert 'pluginhost_loads_total{result="ok"} 5.0' in text
        assert "pluginhost_swap_duration_seconds_count 1.0" in text
        assert "pluginhost_drain_duration_seconds_count 1.0" in text
        assert 'pluginhost_plugins{state="active"} 5.0' in text
        assert 'pluginhost_plugins{state="failed"} 1.0' in text  # blocked

    def check_disable(self, tmp_path: Path, home: Path, host: HostProcess) -> None:
        blocked = wait_status(home, "blocked", "blocked 1.0.0: failed")
        assert "blocked is blocked by the host's settings (block)" in blocked
        disable = run_cli("disable", "hello", "--home", str(home), tmp_path=tmp_path)
        assert disable.returncode == 0, disable.stderr
        assert disable.stdout == "hello: disabled\n"
        host.wait_for("disabled hello 1.1.0")
        host.wait_for("unloaded hello 1.1.0")
        wait_status(home, "hello", "hello 1.1.0: disabled")
        listing = json.loads(
            run_cli("list", "--json", "--home", str(home), tmp_path=tmp_path).stdout
        )["plugins"]
        states = {row["name"]: row["state"] for row in listing}
        assert (states["hello"], states["polite"]) == ("disabled", "failed")
        again = run_cli("disable", "hello", "--home", str(home), tmp_path=tmp_path)
        assert again.stdout == "hello: already disabled\n"
        enable = run_cli("enable", "hello", "--home", str(home), tmp_path=tmp_path)
        assert enable.stdout == "hello: enabled\n"
        host.wait_for("loaded polite 1.0.0")  # the dependent came back with it
        wait_status(home, "polite", "polite 1.0.0: active")
        assert [(e["action"], e["plugin"]) for e in self.audited(tmp_path, home, "able")] == [
            ("disable", "hello"),
            ("enable", "hello"),
        ]

    def check_stopped(self, tmp_path: Path, home: Path, config: Path) -> None:
        disable = run_cli("disable", "polite", "--home", str(home), tmp_path=tmp_path)
        assert disable.returncode == 0, disable.stderr
        assert disable.stdout == (
            f"polite: disabled (no host running: recorded in {home}, for its next start)\n"
        )
        strict = tmp_path / "strict.toml"
        strict.write_text(CONFIG + 'unknown_hooks = "refuse"\n')
        host = HostProcess(strict)
        try:
            wait_file(home / "control" / "server.json")
            host.wait_for("loaded hello 1.1.0")
            polite = wait_status(home, "polite", "polite 1.0.0: disabled")
            assert "pluginhost enable polite" in polite
            typo = wait_status(home, "typo", "typo 0.1.0: failed")
            assert "unknown_hooks='refuse'" in typo
            assert not any("loaded polite" in line for line in host.lines)
        finally:
            code, err = host.stop()
        assert code == 0, err
        # Recorded in disabled.json only: no audit entry, then or at the start that acted on it.
        assert [e["plugin"] for e in self.audited(tmp_path, home, "able")] == ["hello", "hello"]

    @staticmethod
    def audited(tmp_path: Path, home: Path, ending: str) -> list[dict[str, str]]:
        """The audit log's entries whose action ends with ``ending``."""
        audit = run_cli("audit", "--json", "--home", str(home), tmp_path=tmp_path)
        assert audit.returncode == 0, audit.stderr
        entries = [json.loads(line) for line in audit.stdout.splitlines()]
        return [e for e in entries if e["action"].endswith(ending)]
