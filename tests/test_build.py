"""The PEP 517 frontend, on the demo plugins with their real backend (flit_core), offline."""

from __future__ import annotations

import re
import shlex
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hookspecs import greeter
from pluginhost import BuildError, PluginHost
from pluginhost.cli.build import build_wheel, cached_wheel, source_digest
from pluginhost.cli.commands.demo import demo_plugins_dir

pytestmark = pytest.mark.slow


def in_tree_backend(project: Path, module: str, code: str) -> Path:
    """A project built by a backend of its own tree: ``backend/<module>.py`` holding ``code``."""
    (project / "backend").mkdir(parents=True)
    (project / "backend" / f"{module}.py").write_text(code)
    (project / "pyproject.toml").write_text(
        f'[build-system]\nrequires = []\nbuild-backend = "{module}"\nbackend-path = ["backend"]\n'
    )
    return project


class TestBuildWheel:
    def test_demo_plugin_builds_and_loads(self, tmp_path: Path) -> None:
        """A demo plugin built by its own backend loads in a host and answers a hook."""
        wheels = tmp_path / "wheels"
        for project in ("hello", "polite"):
            build_wheel(demo_plugins_dir() / project, wheels)
        names = sorted(p.name for p in wheels.glob("*.whl"))
        assert names == [
            "hello_plugin-1.0.0-py3-none-any.whl",
            "polite_plugin-1.0.0-py3-none-any.whl",
        ]
        members = zipfile.ZipFile(wheels / names[0]).namelist()
        assert "hello_plugin/plugin.toml" in members
        host = PluginHost(
            greeter.PROJECT,
            specs=[greeter.GreeterSpec],
            home=tmp_path / "home",
            watch=[wheels],
            api_version=greeter.API_VERSION,
            environment=False,
        )
        with host:
            assert host.load_order() == ("hello", "polite")
            answers = host.hook.greet(name="Ada")
            assert "Pleased to meet you, Ada." in answers
            assert any(a.startswith("Hello, Ada!") for a in answers)

    def test_backend_failure(self, tmp_path: Path) -> None:
        """A backend that fails is a BuildError naming the project and the backend's error."""
        project = tmp_path / "broken"
        project.mkdir()
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = []\nbuild-backend = "no_such_backend_module"\n'
        )
        with pytest.raises(BuildError, match="no_such_backend_module") as info:
            build_wheel(project, tmp_path / "out")
        assert info.value.path == str(project.resolve())

    def test_a_backend_that_hangs_times_out(self, tmp_path: Path) -> None:
        """A backend that never returns is a BuildError after the timeout; `dev --once`
        waited for ever. What it prints is kept in files, its end read back."""
        project = in_tree_backend(
            tmp_path / "hangs",
            "slowpoke",
            "import sys, time\n"
            "def build_wheel(out, config=None, metadata=None):\n"
            "    sys.stdout.write('x' * 10_000_000)\n"
            "    time.sleep(60)\n",
        )
        started = time.monotonic()
        with pytest.raises(BuildError, match="'slowpoke' did not finish within 2 s"):
            build_wheel(project, tmp_path / "out", timeout=2)
        assert time.monotonic() - started < 30

    @pytest.mark.parametrize(
        "build_system",
        [
            "[build-system]\nbackend-path = [1]\n",
            "[build-system]\nbuild-backend = 3\n",
            "build-system = 5\n",
            "[build-system]\nrequires = " + "[" * 5000 + "]" * 5000 + "\n",
            "x = " + "9" * 5000 + "\n",
        ],
        ids=["backend-path", "backend", "table", "nested", "digits"],
    )
    def test_a_pyproject_that_cannot_be_read_is_a_build_error(
        self, tmp_path: Path, build_system: str
    ) -> None:
        """A [build-system] of the wrong shape, nesting past the recursion limit or an integer
        past int()'s digits is a BuildError naming the project: each was an internal error."""
        (tmp_path / "pyproject.toml").write_text(build_system)
        with pytest.raises(BuildError) as info:
            build_wheel(tmp_path, tmp_path / "out")
        assert info.value.path == str(tmp_path.resolve())

    @pytest.mark.parametrize(
        ("requires", "named", "install"),
        [
            (
                '["no-such-build-backend-pkg"]',
                "no-such-build-backend-pkg",
                "no-such-build-backend-pkg",
            ),
            (
                '["no-such-build-backend-pkg>=1"]',
                "no-such-build-backend-pkg>=1",
                "'no-such-build-backend-pkg>=1'",
            ),
            ('["flit_core>=99"]', "flit_core>=99 (found ", "'flit_core>=99'"),
            (
                '["no-such-pkg-a", "no-such-pkg-b; python_version >= \'3\'"]',
                "no-such-pkg-a, no-such-pkg-b; python_version >= '3'",
                "no-such-pkg-a no-such-pkg-b",
            ),
        ],
        ids=["absent", "absent-with-version", "too-old", "two-one-with-marker"],
    )
    def test_build_requirements_not_installed_are_named(
        self, tmp_path: Path, requires: str, named: str, install: str
    ) -> None:
        """The build runs without isolation: a [build-system] requirement the environment
        lacks is named with the command that installs it where pluginhost runs (the message
        ended in "python -m pip install ..."), where only the backend's ImportError was told
        (hatchling: "No module named 'hatchling'"), or a later failure."""
        project = tmp_path / "needs"
        project.mkdir()
        (project / "pyproject.toml").write_text(
            f'[build-system]\nrequires = {requires}\nbuild-backend = "flit_core.buildapi"\n'
        )
        with pytest.raises(BuildError, match=re.escape(named)) as info:
            build_wheel(project, tmp_path / "out")
        command = f"{shlex.quote(sys.executable)} -m pip install {install}"
        assert str(info.value).endswith(f" there: {command}")
        assert "..." not in str(info.value)
        assert "without isolation" in str(info.value)

    def test_a_failed_setuptools_build_says_why(self, tmp_path: Path) -> None:
        """A real setuptools build refused for its layout (the project of `new --with-host`,
        its wheels/ folder beside the package) is a BuildError quoting setuptools' reason: only
        its last line was told, which points at its documentation."""
        pytest.importorskip("setuptools", reason="the build runs in this environment's setuptools")
        project = tmp_path / "shout-plugin"
        (project / "shout_plugin").mkdir(parents=True)
        (project / "shout_plugin" / "__init__.py").write_text("")
        (project / "wheels").mkdir()
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "shout-plugin"\nversion = "0.1.0"\n'
        )
        with pytest.raises(BuildError) as info:
            build_wheel(project, tmp_path / "out")
        message = str(info.value)
        assert "backend 'setuptools.build_meta' failed" in message
        assert "Multiple top-level packages discovered in a flat-layout" in message
        assert "'wheels'" in message

    def test_a_failed_build_quotes_the_end_of_its_output_bounded(self, tmp_path: Path) -> None:
        """The error line, then the last lines of what the backend wrote, each cut to a width
        and with its control characters escaped: the message stays short and cannot drive a
        terminal."""
        project = in_tree_backend(
            tmp_path / "noisy",
            "noisy",
            "import sys\n"
            "def build_wheel(out, config=None, metadata=None):\n"
            "    sys.stderr.write('warming up\\n' * 1000)\n"
            "    sys.stderr.write('error: the reason\\n\\n')\n"
            "    sys.stderr.write('advice\\n' * 20)\n"
            "    sys.stderr.write('\\x1b[2J' + 'y' * 5000 + '\\n')\n"
            "    sys.exit(1)\n",
        )
        with pytest.raises(BuildError) as info:
            build_wheel(project, tmp_path / "out")
        lines = str(info.value).splitlines()
        assert lines[0].endswith("backend 'noisy' failed; its output ends:")
        assert [line.strip() for line in lines[1:3]] == ["error: the reason", "..."]
        assert [line.strip() for line in lines[3:-1]] == ["advice"] * 5
        assert lines[-1].strip().startswith("\\x1b[2Jyyy")
        assert lines[-1].endswith(" more characters]")
        assert "\x1b" not in str(info.value)
        assert len(str(info.value)) < 1000

    def test_a_listed_requirement_the_backend_does_not_need_refuses_nothing(
        self, tmp_path: Path
    ) -> None:
        """[build-system] lists often name what the backend no longer needs (setuptools 70.1
        and later build without wheel): a build that works is not refused for them."""
        project = tmp_path / "lists"
        project.mkdir()
        for path in (demo_plugins_dir() / "hello").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = project / path.relative_to(demo_plugins_dir() / "hello")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        pyproject = project / "pyproject.toml"
        text = pyproject.read_text()
        pyproject.write_text(text.replace("requires = [", 'requires = ["no-such-wheel-pkg", ', 1))
        assert "no-such-wheel-pkg" in pyproject.read_text()
        wheel = build_wheel(project, tmp_path / "out")
        assert wheel.name == "hello_plugin-1.0.0-py3-none-any.whl"

    def test_what_the_backend_asks_for_is_checked_too(self, tmp_path: Path) -> None:
        """A backend's get_requires_for_build_wheel (setuptools 65 asks for wheel, which its
        own requirement does not name) is checked before it builds."""
        project = in_tree_backend(
            tmp_path / "asks",
            "asking",
            "def get_requires_for_build_wheel(config_settings=None):\n"
            "    return ['no-such-wheel-helper-pkg']\n"
            "def build_wheel(out, config_settings=None, metadata_directory=None):\n"
            "    raise RuntimeError('should not be reached')\n",
        )
        with pytest.raises(BuildError, match="needs no-such-wheel-helper-pkg, not installed"):
            build_wheel(project, tmp_path / "out")


class TestCache:
    def test_second_build_is_cached(self, tmp_path: Path) -> None:
        """The same sources are built once; a change in them builds again."""
        project = tmp_path / "hello"
        project.mkdir()
        for path in (demo_plugins_dir() / "hello").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                target = project / path.relative_to(demo_plugins_dir() / "hello")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        first = cached_wheel(project, tmp_path / "cache")
        mtime = first.stat().st_mtime_ns
        assert cached_wheel(project, tmp_path / "cache") == first
        assert first.stat().st_mtime_ns == mtime
        digest = source_digest(project)
        (project / "hello_plugin" / "extra.py").write_text("X = 1\n")
        assert source_digest(project) != digest
        assert cached_wheel(project, tmp_path / "cache") != first
