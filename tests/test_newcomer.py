"""The newcomer's path, all through the CLI as subprocesses: `new` a plugin, build it with pip,
drop it into a host started with `run`, update it live, and roll it back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import CONFIG, HostProcess, run_cli, wait_file, wait_status

pytestmark = pytest.mark.slow


def pip_wheel(project: Path, out: Path) -> Path:
    """Build the project's wheel the way a plugin author would, offline, into an empty ``out``."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--wheel-dir", str(out), str(project)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def bump(project: Path, old: str, new: str) -> None:
    """Release a new version: the distribution and the manifest agree on it."""
    for path in (project / "pyproject.toml", *project.glob("*_plugin/plugin.toml")):
        path.write_text(path.read_text().replace(f'version = "{old}"', f'version = "{new}"'))


def test_new_plugin_hot_loaded_updated_and_rolled_back(tmp_path: Path) -> None:
    """A scaffolded plugin builds with pip, loads in a running host, updates, rolls back."""
    project = tmp_path / "shout"
    made = run_cli("new", "shout", "--dir", str(project), tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    version_line = next(
        line
        for line in (project / "pyproject.toml").read_text().splitlines()
        if line.startswith("version = ")
    )
    first = version_line.split('"')[1]
    wheel = pip_wheel(project, tmp_path / "dist-1")
    (tmp_path / "wheels").mkdir()
    config = tmp_path / "pluginhost.toml"
    config.write_text(CONFIG)
    home = tmp_path / "home"
    host = HostProcess(config)
    try:
        wait_file(home / "control" / "server.json")
        os.replace(wheel, tmp_path / "wheels" / wheel.name)
        host.wait_for(f"loaded shout-plugin (shout) {first}")
        bump(project, first, "0.2.0")
        newer = pip_wheel(project, tmp_path / "dist-2")
        os.replace(newer, tmp_path / "wheels" / newer.name)
        host.wait_for(f"updated shout-plugin (shout) {first} -> 0.2.0")
        status = wait_status(home, "shout", "shout-plugin (shout) 0.2.0: active")
        assert status.startswith("shout-plugin (shout) 0.2.0")
        back = run_cli("rollback", "shout", "--home", str(home), tmp_path=tmp_path)
        assert back.returncode == 0, back.stderr
        assert f"rolled back to {first}" in back.stdout
        host.wait_for(f"rolled_back shout-plugin (shout) 0.2.0 -> {first}")
    finally:
        code, err = host.stop()
    assert code == 0, err
