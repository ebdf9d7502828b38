"""`pluginhost new --with-host` and `pluginhost dev`, as subprocesses: the author's loop of
three commands (new, dev, run), each save a new ``+dev.N`` version that the running host swaps to,
and every failure shown while the serving version keeps serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_cli import HostProcess, run_cli, wait_file

pytestmark = pytest.mark.slow

INIT = "shout_plugin/__init__.py"


def dev_once(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("dev", str(project), "--once", tmp_path=tmp_path)


class DevProcess:
    """`pluginhost dev DIR` watching, its output collected as it comes."""

    def __init__(self, project: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pluginhost", "dev", str(project), "--debounce", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, NO_COLOR="1"),
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"{text!r} not among {self.lines}"
            assert self.proc.poll() is None, self.lines
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A plugin project made by `new --with-host`."""
    target = tmp_path / "shout-plugin"
    made = run_cli("new", "shout", "--dir", str(target), "--with-host", tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    return target


class TestNewWithHost:
    def test_writes_host_config_and_folder(self, project: Path, tmp_path: Path) -> None:
        """A pluginhost.toml for a host watching wheels/, the folder, and the next commands."""
        assert (project / "wheels").is_dir()
        config = (project / "pluginhost.toml").read_text()
        assert 'watch = ["wheels"]' in config
        assert 'specs = ["hookspecs.greeter:GreeterSpec"]' in config
        again = run_cli(
            "new", "other", "--dir", str(tmp_path / "o"), "--with-host", tmp_path=tmp_path
        )
        assert f"pluginhost dev {tmp_path / 'o'}" in again.stdout
        assert f"pluginhost run --config {tmp_path / 'o' / 'pluginhost.toml'}" in again.stdout

    def test_version_stated_once(self, project: Path) -> None:
        """The version is in pyproject.toml only: the manifest takes the distribution's."""
        manifest = (project / "shout_plugin" / "plugin.toml").read_text()
        assert not any(line.startswith("version") for line in manifest.splitlines())
        assert 'version = "0.1.0"' in (project / "pyproject.toml").read_text()


class TestDev:
    def test_first_build_refused_serves_nothing(self, project: Path, tmp_path: Path) -> None:
        """A first build whose import fails is listed by the host as failed: the message
        says the host serves nothing, not that it serves the version it refused."""
        home = project / ".pluginhost-home"
        init = project / INIT
        init.write_text(init.read_text() + '\nraise RuntimeError("boom at import")\n')
        host = HostProcess(project / "pluginhost.toml")
        try:
            wait_file(home / "control" / "server.json")
            refused = dev_once(project, tmp_path)
            assert refused.returncode == 1
            assert "!! the host did not load 0.1.0+dev.1; it serves nothing:" in refused.stdout
            assert "boom at import" in refused.stdout
        finally:
            code, err = host.stop()
        assert code == 0, err

    def test_loop(self, project: Path, tmp_path: Path) -> None:
        """Each build swaps in as +dev.N; failures are one block and the old version serves."""
        home = project / ".pluginhost-home"
        host = HostProcess(project / "pluginhost.toml")
        try:
            wait_file(home / "control" / "server.json")
            first = dev_once(project, tmp_path)
            assert first.returncode == 0, first.stdout + first.stderr
            assert "serving shout 0.1.0+dev.1" in first.stdout
            second = dev_once(project, tmp_path)
            assert "serving shout 0.1.0+dev.2" in second.stdout, second.stdout
            host.wait_for("updated shout-plugin (shout) 0.1.0+dev.1 -> 0.1.0+dev.2")
            # dev.1 is older than what the host serves: it will never go back to it.
            assert [p.name for p in (project / "wheels").glob("*.whl")] == [
                "shout_plugin-0.1.0+dev.2-py3-none-any.whl"
            ]

            init = project / INIT
            good = init.read_text()
            init.write_text(good + "\nx = (\n")
            broken = dev_once(project, tmp_path)
            assert broken.returncode == 1
            assert "!! build failed; the host keeps serving what it has:" in broken.stdout
            assert "__init__.py:" in broken.stdout
            assert "never closed" in broken.stdout

            init.write_text(good + '\nraise RuntimeError("boom at import")\n')
            refused = dev_once(project, tmp_path)
            assert refused.returncode == 1
            assert "!! the host did not load 0.1.0+dev.3; it serves 0.1.0+dev.2:" in refused.stdout
            assert "boom at import" in refused.stdout
            status = run_cli("status", "shout", "--home", str(home), tmp_path=tmp_path)
            assert "shout-plugin (shout) 0.1.0+dev.2: rolled_back" in status.stdout  # and serving

            init.write_text(good)
            dev = DevProcess(project)
            try:
                dev.wait_for("serving shout 0.1.0+dev.4")
                dev.wait_for("watching")
                init.write_text(good.replace("Hello from", "Hi from"))
                dev.wait_for("serving shout 0.1.0+dev.5")
                init.touch()
                dev.wait_for("no change in the sources since 0.1.0+dev.5: nothing rebuilt")
            finally:
                assert dev.stop() == 0, dev.lines
            host.wait_for("updated shout-plugin (shout) 0.1.0+dev.4 -> 0.1.0+dev.5")
        finally:
            code, err = host.stop()
        assert code == 0, err

    def test_host_writes_start_no_rebuild(self, project: Path) -> None:
        """A home inside the project, even one not hidden, is no source: no rebuild loop."""
        config = project / "pluginhost.toml"
        config.write_text(config.read_text().replace('".pluginhost-home"', '"home"'))
        host = HostProcess(config)
        try:
            wait_file(project / "home" / "control" / "server.json")
            dev = DevProcess(project)
            try:
                dev.wait_for("watching")
                init = project / INIT
                init.write_text(init.read_text().replace("Hello from", "Hi from"))
                dev.wait_for("serving shout 0.1.0+dev.2")
                time.sleep(2)  # the swap wrote the home's status, registry and audit log
                assert not any("dev.3" in line for line in dev.lines), dev.lines
            finally:
                assert dev.stop() == 0, dev.lines
        finally:
            code, err = host.stop()
        assert code == 0, err

    def test_no_host_running(self, project: Path, tmp_path: Path) -> None:
        """Without a host on the home, the wheel is dropped and the command says so at once."""
        proc = run_cli("dev", str(project), "--once", tmp_path=tmp_path)
        assert proc.returncode == 1
        home, folder = project / ".pluginhost-home", project / "wheels"
        assert f"no host is running on {home}: the wheel waits in {folder}" in proc.stdout
        assert (project / "wheels" / "shout_plugin-0.1.0+dev.1-py3-none-any.whl").is_file()

    def test_failed_build_without_a_host_promises_none(self, project: Path, tmp_path: Path) -> None:
        """A build that fails with no host running says so and no more: it said "the host
        keeps serving what it has" with no host at all."""
        init = project / INIT
        init.write_text(init.read_text() + "\nx = (\n")
        proc = run_cli("dev", str(project), "--once", tmp_path=tmp_path)
        assert proc.returncode == 1
        assert "!! build failed:" in proc.stdout
        assert "never closed" in proc.stdout
        assert "keeps serving" not in proc.stdout

    def test_no_folder(self, tmp_path: Path) -> None:
        """A project without a config and without --into is a usage error."""
        target = tmp_path / "bare"
        assert run_cli("new", "bare", "--dir", str(target), tmp_path=tmp_path).returncode == 0
        proc = run_cli("dev", str(target), "--once", tmp_path=tmp_path)
        assert proc.returncode == 2
        assert "--into FOLDER or --config FILE" in proc.stderr
