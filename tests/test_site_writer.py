"""The site writer (pluginhost.install.site_writer): the bytecode it compiles into a site dir
(every module within a budget of time and of source size, the rest left to its import), and
its refusals."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pluginhost.install.site_writer
from pluginhost.install.site_writer import (
    COMPILE_MAX_SOURCE,
    SiteJob,
    StagedWheel,
    compile_site,
    write_site,
)
from pluginhost.model.errors import WheelError
from pluginhost.testing import WheelFactory


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


def _job(tmp_path: Path, wheel: Path) -> SiteJob:
    data = wheel.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    return SiteJob(
        wheels=(StagedWheel(wheel, data),),
        staging_root=tmp_path / "staging",
        target=tmp_path / "site" / f"s1-1.0.0-{sha256[:8]}",
        plugin="s1",
        version="1.0.0",
        sha256=sha256,
    )


class TestWheelsValidationWouldRefuse:
    """Wheels that only validation refuses, written all the same: whatever installer raises
    is a WheelError naming the wheel and the plugin (the same bytes fail the same way, so
    the host does not try them again), and nothing is left behind."""

    @pytest.mark.parametrize(
        ("build", "reason"),
        [
            (
                {
                    "other_groups": {"console_scripts": {"tool": "s1:main"}},
                    "files": {"s1-1.0.0.data/scripts/tool": "#!python\n"},
                },
                "two of its files install to one path: File already exists",
            ),
            (
                {"other_groups": {"console_scripts": {"t": "not a ref!!"}}},
                "refused by installer: AssertionError",
            ),
            (
                {"other_groups": {"console_scripts": {"": "s1:main"}}},
                "refused by installer: ParsingError",
            ),
            (
                {"files": {".pluginhost/wheel.sha256": "0" * 64 + "\n"}},
                "a member of it is where the site dir's stamp goes (.pluginhost/wheel.sha256)",
            ),
        ],
        ids=["script-collision", "bad-reference", "empty-name", "stamp-member"],
    )
    def test_a_typed_refusal(self, tmp_path: Path, build: dict[str, Any], reason: str) -> None:
        wheel = WheelFactory(tmp_path / "wheels").build("s1", code="def main(): pass\n", **build)
        job = _job(tmp_path, wheel)
        with pytest.raises(WheelError) as caught:
            write_site(job)
        assert reason in caught.value.reason
        assert (caught.value.plugin, caught.value.path) == ("s1", str(wheel))
        assert not job.target.exists()
        assert list(job.staging_root.iterdir()) == []
