"""The Python of the README and of every page of docs/ type-checks as a reader would check it.

Each page's blocks that run in one session (see ``test_docs_run``) are checked together, as one
module, so that a name a block defines is known to the blocks after it; each block that is a
file of the reader's project is checked on its own. mypy runs with its defaults plus
``--check-untyped-defs`` (hook implementations are usually unannotated), and libraries the test
environment lacks (datasette, llm) are ``Any``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs_run import ROOT, blocks

pytestmark = pytest.mark.slow

api = pytest.importorskip("mypy.api")

PAGES = ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]


def modules(page: str) -> dict[str, str]:
    """The page's Python as modules: ``session`` (the run blocks joined), and its files."""
    found = [b for b in blocks(page) if b.lang == "python" and b.marker != "skip"]
    session = "\n\n".join(b.body for b in found if b.path is None)
    files = {f"file{i}": b.body for i, b in enumerate(b for b in found if b.path is not None)}
    return {"session": session, **files} if session else files


def check(folder: Path, sources: dict[str, str]) -> str:
    """mypy's report on ``sources``, each written as ``folder/<name>.py``; empty when clean."""
    paths = []
    for name, text in sources.items():
        path = folder / f"{name}.py"
        path.write_text(text, "utf-8")
        paths.append(str(path))
    # Not the project's own configuration (strict, for pluginhost's code): a reader's defaults.
    (folder / "mypy.ini").write_text("[mypy]\n", "utf-8")
    options = ["--config-file", str(folder / "mypy.ini"), "--check-untyped-defs"]
    options += ["--ignore-missing-imports", "--no-error-summary"]
    options += ["--cache-dir", str(folder / ".mypy_cache"), "--python-version", "3.10"]
    out, err, status = api.run([*options, *paths])
    return "" if status == 0 else out + err


@pytest.mark.parametrize("page", [p for p in PAGES if modules(p)])
def test_page_python_type_checks(page: str, tmp_path: Path) -> None:
    """Every Python block of the page type-checks."""
    report = check(tmp_path, modules(page))
    assert not report, f"{page}:\n{report}"


def test_a_type_error_is_reported(tmp_path: Path) -> None:
    """The check can fail: a wrong argument type of the public API is found."""
    report = check(tmp_path, {"session": "from pluginhost import PluginHost\nPluginHost(1)\n"})
    assert "incompatible type" in report
