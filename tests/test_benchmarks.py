"""Smoke test: the benchmark suite runs at tiny sizes (figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_quick_run(tmp_path: Path) -> None:
    """benchmarks/run.py --quick prints the table and saves every figure as JSON."""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hook call, 100 impls" in proc.stdout
    results = json.loads(out.read_text())
    assert [r["figure"] for r in results] == [
        "hook call, 1 impls",
        "hook call, 10 impls",
        "hook call, 100 impls",
    ]
    assert all(r["pluggy"]["median"] > 0 for r in results)
