"""``pluginhost new``: the generated project builds with its backend and loads as generated."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginhost import HostStateError, ManifestError, PluginHost
from pluginhost.cli.build import build_wheel
from pluginhost.cli.commands.new import scaffold

pytestmark = pytest.mark.slow


def test_builds_and_loads(tmp_path: Path, make_host: Callable[..., PluginHost]) -> None:
    """Built by flit_core into a watched folder, the stub answers the greeter's hook."""
    project = tmp_path / "shout-plugin"
    files = scaffold("shout", project)
    assert sorted(str(f.relative_to(project)) for f in files) == [
        "pyproject.toml",
        "shout_plugin/__init__.py",
        "shout_plugin/plugin.toml",
        "tests/test_shout_plugin.py",
    ]
    wheel = build_wheel(project, tmp_path / "wheels")
    assert wheel.name == "shout_plugin-0.1.0-py3-none-any.whl"
    host = make_host()
    assert host.load_order() == ("shout",), host.problems()
    assert host.hook.greet(name="Ada") == ["Hello from shout, Ada!"]
    assert host.hook.farewell(name="Ada") is None
    assert host.plugins["shout"].requires == {}


def test_generated_test_passes(tmp_path: Path) -> None:
    """The project's own test, using pluginhost.testing, passes as generated."""
    project = tmp_path / "shout-plugin"
    scaffold("shout", project)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_generic_hookspec(tmp_path: Path) -> None:
    """Another host's hookspecs: one stub per hook, with the spec's arguments."""
    project = tmp_path / "p"
    scaffold("watcher", project, project="greeter", hookspec="hookspecs.greeter:GreeterSpec")
    init = (project / "watcher_plugin" / "__init__.py").read_text()
    assert "def greet(name):" in init
    assert "def farewell(name):" in init
    assert 'host = "^1.4"' in (project / "watcher_plugin" / "plugin.toml").read_text()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "1bad"}, ManifestError, "makes a Python package of the name: it starts with"),
        ({"hookspec": "no_such_mod:X"}, HostStateError, "cannot import hookspec module"),
        ({"hookspec": "hookspecs.greeter"}, HostStateError, "declares no hookspecs"),
        (
            {"project": "other"},
            HostStateError,
            "declares no hookspecs of project 'other': name the host's hookspecs with --hookspec",
        ),
    ],
)
def test_refusals(
    tmp_path: Path, kwargs: dict[str, str], error: type[Exception], message: str
) -> None:
    """Bad names and hookspecs are refused before anything is written."""
    name = kwargs.pop("name", "ok")
    with pytest.raises(error, match=message):
        scaffold(name, tmp_path / "p", **kwargs)
    assert not (tmp_path / "p").exists()


def test_refuses_non_empty_target(tmp_path: Path) -> None:
    """An existing project is never overwritten."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine")
    with pytest.raises(HostStateError, match="exists and is not empty"):
        scaffold("ok", tmp_path / "p")
