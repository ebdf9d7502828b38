"""The command line, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


class TestDemo:
    def test_demo_runs(self, tmp_path: Path) -> None:
        """`pluginhost demo` builds, loads in order, explains a missing dependency, calls hooks."""
        proc = run_cli("demo", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        assert "built  hello_plugin-1.0.0-py3-none-any.whl" in out
        assert "Load order (dependencies first): hello -> polite" in out
        assert "needy 0.1.0 requires translator ^2.0" in out
        assert "Pleased to meet you, Ada." in out
        assert "Hello, Ada!" in out
        assert out.index("event  loaded hello") < out.index("event  loaded polite")
        assert "event  unloaded polite" in out
        assert "\033[" not in out

    def test_demo_keep(self, tmp_path: Path) -> None:
        """`--keep DIR` leaves the home and the wheels in DIR."""
        keep = tmp_path / "kept"
        proc = run_cli("demo", "--keep", str(keep), tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in (keep / "wheels").glob("*.whl")) == [
            "hello_plugin-1.0.0-py3-none-any.whl",
            "needy_plugin-0.1.0-py3-none-any.whl",
            "polite_plugin-1.0.0-py3-none-any.whl",
        ]
        assert any((keep / "home" / "site").iterdir())


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
