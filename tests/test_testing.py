"""The public testing module: its names, its pytest plugin and the misbehaving-code catalogue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pluginhost.testing
from pluginhost.testing import MISBEHAVING_STAGES, MISBEHAVIOURS, misbehaving_code
from pluginhost.testkit import hostile, misbehave, wheels

ROOT = Path(__file__).resolve().parent.parent


class TestPublicFace:
    def test_names(self) -> None:
        """Every public name is the testkit's own object, and ``__all__`` lists exactly them."""
        assert pluginhost.testing.__all__ == [
            "BROKEN_KINDS",
            "MISBEHAVING_STAGES",
            "MISBEHAVIOURS",
            "WheelFactory",
            "misbehaving_code",
            "release_misbehaving",
        ]
        assert pluginhost.testing.WheelFactory is wheels.WheelFactory
        assert pluginhost.testing.BROKEN_KINDS is hostile.BROKEN_KINDS
        assert pluginhost.testing.misbehaving_code is misbehave.misbehaving_code
        assert pluginhost.testing.release_misbehaving is misbehave.release_misbehaving

    @pytest.mark.slow
    def test_imports_without_pytest(self) -> None:
        """Outside pytest, importing the module neither imports pytest nor defines fixtures."""
        code = (
            "import sys, pluginhost.testing as t; "
            "print('pytest' in sys.modules, hasattr(t, 'wheel_factory'))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert result.stdout.split() == ["False", "False"]


FIXTURE_TEST = """
def test_uses_fixture(wheel_factory, tmp_path):
    wheel = wheel_factory.build("hello")
    assert wheel.parent == tmp_path / "wheels"
    assert wheel.is_file()
"""


class TestPytestPlugin:
    @pytest.mark.slow
    def test_wheel_factory_fixture(self, tmp_path: Path) -> None:
        """Loaded as a pytest plugin, the module provides the ``wheel_factory`` fixture."""
        (tmp_path / "test_fixture.py").write_text(FIXTURE_TEST)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            # Only -p loads the plugin, even where the pytest11 entry point is installed too.
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "pluginhost.testing"]
        result = subprocess.run(
            [*command, "-p", "no:cacheprovider", "test_fixture.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


class TestMisbehavingCode:
    @pytest.mark.parametrize("stage", MISBEHAVING_STAGES)
    @pytest.mark.parametrize("behaviour", MISBEHAVIOURS)
    def test_compiles(self, stage: str, behaviour: str) -> None:
        """Every stage and behaviour gives valid Python, with the body appended."""
        code = misbehaving_code(stage, behaviour, body="EXTRA = 1\n")
        compile(code, "plugin.py", "exec")
        assert code.rstrip().endswith("EXTRA = 1")

    def test_unknown_refused(self) -> None:
        """An unknown stage or behaviour is a ValueError naming the choices."""
        with pytest.raises(ValueError, match="unknown stage 'boot'"):
            misbehaving_code("boot", "raise")
        with pytest.raises(ValueError, match="unknown behaviour 'explode'; choose from"):
            misbehaving_code("import", "explode")
