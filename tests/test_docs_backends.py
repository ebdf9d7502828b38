"""The plugin tutorial's other backends build as the page says: the project of the tutorial, with
the ``[build-system]`` of its hatchling, setuptools, pdm-backend, poetry-core or uv_build block,
built by the page's command,
gives a wheel that carries ``plugin.toml``, and a host reads the manifest from it; so does the
project of ``pluginhost new --with-host`` with the page's block for it (setuptools).

The backend is installed by pip into an isolated build environment, from the package index:
skipped, saying why, when the index cannot be reached.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs_run import Block, blocks

from pluginhost import WheelReport
from pluginhost.cli.commands.new import scaffold

pytestmark = pytest.mark.slow

PAGE = "docs/plugin-tutorial.md"
SECTION = "### Another backend"
# What pip says when the index cannot be reached (no route, no DNS, a proxy refusing).
_OFFLINE = re.compile(
    r"No matching distribution found|Could not find a version|NewConnectionError|"
    r"Network is unreachable|Temporary failure in name resolution|ProxyError|Read timed out"
)


def _section() -> list[Block]:
    """The blocks between the section's heading and the next heading of the page."""
    text = (Path(__file__).resolve().parent.parent / PAGE).read_text("utf-8")
    start = text.count("\n", 0, text.index(SECTION + "\n")) + 1
    end = text.count("\n", 0, text.index("\n## ", text.index(SECTION))) + 1
    return [b for b in blocks(PAGE) if start < b.line < end]


def _tutorial_files() -> dict[str, str]:
    """The project files the tutorial writes, each as the page leaves it (the last block wins)."""
    return {b.path: b.body for b in blocks(PAGE) if b.path is not None}


def _with_build_system(pyproject: str, build_system: str) -> str:
    """The tutorial's ``pyproject.toml`` with its ``[build-system]`` table replaced."""
    kept, inside = [], False
    for line in pyproject.splitlines(keepends=True)[1:]:  # the first names the file
        if line.startswith("["):
            inside = line.strip() == "[build-system]"
        if not inside:
            kept.append(line)
    return build_system.rstrip("\n") + "\n\n" + "".join(kept)


def _build(project: Path, command: str) -> Path:
    words = command.split()
    assert words[:2] == ["python", "-m"], command
    done = subprocess.run(
        [sys.executable, *words[1:]],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 and _OFFLINE.search(output):
        pytest.skip(f"the package index cannot be reached: {output[-300:]}")
    assert done.returncode == 0, output
    (wheel,) = (project / "dist").glob("*.whl")
    return wheel


BACKENDS = {
    "hatchling": "hatchling.build",
    "setuptools": "setuptools.build_meta",
    "pdm-backend": "pdm.backend",
    "poetry-core": "poetry.core.masonry.api",
    "uv_build": "uv_build",
}


#: What tells the block for the project of ``pluginhost new`` from the tutorial's.
_SCAFFOLD = '[tool.setuptools]\npackages = ["polite_plugin"]'


def _tutorial_tomls(found: list[Block]) -> list[str]:
    """The section's blocks for the tutorial's project, one per backend."""
    return [b.body for b in found if b.lang == "toml" and _SCAFFOLD not in b.body]


def test_section_shows_five_backends_and_one_command() -> None:
    """The section has one ``[build-system]`` per backend, in order, one for the project of
    ``pluginhost new``, and one build command."""
    found = _section()
    tomls = _tutorial_tomls(found)
    assert len([b for b in found if b.lang == "toml" and _SCAFFOLD in b.body]) == 1
    assert len(tomls) == len(BACKENDS)
    for toml, backend in zip(tomls, BACKENDS.values(), strict=True):
        assert f'build-backend = "{backend}"' in toml
    assert [b.body.strip() for b in found if b.lang == "console"] == [
        "python -m pip wheel --no-deps -w dist ."
    ]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backend_wheel_carries_the_manifest(backend: str, tmp_path: Path) -> None:
    """The wheel built with the section's backend has ``plugin.toml``, read by a host."""
    found = _section()
    (build_system,) = [toml for toml in _tutorial_tomls(found) if backend in toml]
    (command,) = [b.body.strip() for b in found if b.lang == "console"]
    files = _tutorial_files()
    files["pyproject.toml"] = _with_build_system(files["pyproject.toml"], build_system)
    project = tmp_path / "polite-plugin"
    for path, body in files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body, "utf-8")
    report = WheelReport.read(_build(project, command), group="greeter.plugins")
    assert report.ok, report.refused
    assert report.manifest is not None
    assert report.manifest.path is not None
    assert report.manifest.path.endswith("!polite_plugin/plugin.toml")
    assert list(report.manifest.requires) == ["hello"]


def test_setuptools_builds_the_project_of_new(tmp_path: Path) -> None:
    """The project ``pluginhost new --with-host`` writes, with the section's block for it,
    builds with setuptools into a wheel carrying ``plugin.toml``: with the tutorial's block,
    setuptools stopped at the ``wheels/`` folder beside the package."""
    found = _section()
    (build_system,) = [b.body for b in found if b.lang == "toml" and _SCAFFOLD in b.body]
    (command,) = [b.body.strip() for b in found if b.lang == "console"]
    project = tmp_path / "polite-plugin"
    scaffold("polite", project, with_host=True)
    assert (project / "wheels").is_dir()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(_with_build_system("\n" + pyproject.read_text("utf-8"), build_system))
    report = WheelReport.read(_build(project, command), group="greeter.plugins")
    assert report.ok, report.refused
    assert report.manifest is not None
    assert report.manifest.path is not None
    assert report.manifest.path.endswith("!polite_plugin/plugin.toml")


def test_build_system_is_replaced() -> None:
    """The helper swaps the tutorial's ``[build-system]`` for another and keeps the rest."""
    pyproject = (
        '# pyproject.toml\n[build-system]\nrequires = ["a"]\nbuild-backend = "a"\n\n'
        '[project]\nname = "x"\n'
    )
    assert _with_build_system(pyproject, '[build-system]\nrequires = ["b"]\n') == (
        '[build-system]\nrequires = ["b"]\n\n[project]\nname = "x"\n'
    )
