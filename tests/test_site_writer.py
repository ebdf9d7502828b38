"""The bytecode a site writer compiles into a site dir (pluginhost.install.site_writer): every
module within a budget of time and of source size, the rest left to its import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import pluginhost.install.site_writer
from pluginhost.install.site_writer import COMPILE_MAX_SOURCE, compile_site


def _site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _compiled(site: Path, name: str) -> bool:
    return Path(importlib.util.cache_from_source(str(site / name))).exists()


def test_every_module_compiled(tmp_path: Path) -> None:
    """Each module of the site dir gets its bytecode; none under .pluginhost."""
    site = _site(
        tmp_path,
        {"a.py": "A = 1\n", "pkg/__init__.py": "", "pkg/b.py": "B = 2\n", ".pluginhost/x.py": ""},
    )
    assert compile_site(site, 0) == 0
    assert all(_compiled(site, n) for n in ("a.py", "pkg/__init__.py", "pkg/b.py"))
    assert not _compiled(site, ".pluginhost/x.py")


def test_a_syntax_error_is_left_to_the_import(tmp_path: Path) -> None:
    site = _site(tmp_path, {"good.py": "X = 1\n", "bad.py": "def (:\n"})
    assert compile_site(site, 0) == 1
    assert _compiled(site, "good.py")
    assert not _compiled(site, "bad.py")


def test_a_source_past_the_size_limit_is_left_to_its_import(tmp_path: Path) -> None:
    """A module whose source is over COMPILE_MAX_SOURCE is not compiled here (compiling the
    worst such source takes seconds per megabyte); the others are, and it still imports."""
    large = "# filler\n" * (COMPILE_MAX_SOURCE // 9 + 1) + "VALUE = 'large'\n"
    site = _site(tmp_path, {"small.py": "VALUE = 'small'\n", "large.py": large})
    assert compile_site(site, 0) == 1
    assert _compiled(site, "small.py")
    assert not _compiled(site, "large.py")
    imported = subprocess.run(
        [sys.executable, "-B", "-c", "import large; print(large.VALUE)"],
        cwd=site,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "large"


def test_past_the_time_budget_the_rest_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once COMPILE_SECONDS have passed, the modules not compiled yet are left to their
    import: a wheel of a few kilobytes holding megabytes of source never keeps the writer
    past the host's deadline for its answer."""
    site = _site(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    monkeypatch.setattr(pluginhost.install.site_writer, "COMPILE_SECONDS", -1.0)
    assert compile_site(site, 0) == 2
    assert not _compiled(site, "a.py")
    assert not _compiled(site, "b.py")
