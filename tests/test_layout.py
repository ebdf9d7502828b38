"""The package's layout: folders by stage of the pipeline, each importing only from below."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pluginhost"

#: The stages, lowest first: a module may import from its own stage and the stages before it.
STAGES = ("model", "state", "discover", "resolve", "install", "load", "proc", "swap", "host", "cli")
#: Above every stage: the public faces and the material for tests.
TOP = ("testkit",)

#: The size past which a module is doing more than one job.
MAX_LINES = 500


def modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "demo_plugins" not in p.relative_to(PACKAGE).parts
    )


def stage_of(module: str) -> int | None:
    """The rank of a dotted ``pluginhost.<stage>...`` name; None for the package's top."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "pluginhost":
        return None
    order = (*STAGES, *TOP)
    return order.index(parts[1]) if parts[1] in order else len(order)


def imported(path: Path) -> set[str]:
    """Every ``pluginhost`` module ``path`` imports, at any depth (TYPE_CHECKING included)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if node.module is None or (node.level and not node.module):
                found.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "pluginhost" or m.startswith("pluginhost.")}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
class TestLayout:
    def test_imports_only_from_stages_below(self, path: Path) -> None:
        """A module imports from its own stage and the ones before it, never from above."""
        own = stage_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if own is None:
            return  # the package's top (``__init__``, ``testing``) may import anything
        above = sorted(m for m in imported(path) if (stage_of(m) or -1) > own)
        assert not above, f"{path.name} imports from a later stage: {above}"

    def test_one_job_a_module(self, path: Path) -> None:
        """No module grows past the size where it does more than one job."""
        lines = len(path.read_text("utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


def test_every_stage_is_a_folder() -> None:
    """Every module lives in a stage's folder, except the public faces at the top."""
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "testing.py"}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - {"demo_plugins"} == {*STAGES, *TOP}


def test_the_readme_names_every_module() -> None:
    """The README's architecture section names each module of a stage's folder (the CLI's
    commands, one per command, excepted): a newcomer follows a wheel through it, and two
    modules had gone unnamed."""
    readme = (PACKAGE.parent / "README.md").read_text("utf-8")
    architecture = readme[readme.index("## Architecture") :]
    unnamed = [
        str(path.relative_to(PACKAGE))
        for path in modules()
        if path.parent != PACKAGE
        and path.name != "__init__.py"
        and "commands" not in path.relative_to(PACKAGE).parts
        and not re.search(rf"\b{re.escape(path.stem)}\b", architecture)
    ]
    assert unnamed == []
