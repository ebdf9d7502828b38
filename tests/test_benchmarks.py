"""Smoke test: the benchmark suite runs every figure at tiny sizes (figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

FIGURES = [
    "1 hook call",
    "2 swap latency",
    "2 swap latency, hand-built floor",
    "2 swap latency, hand-built floor (durable)",
    "3 calls during swaps (4 threads)",
    "4 discovery",
    "5 cold start",
    "5 cold start, import counted",
    "5 import",
    "5 import PluginHost",
    "5 unrelated import",
    "6 memory, RSS growth",
    "7 swap latency, N plugins",
    "7 swap latency, N plugins, hand-built floor",
    "7 swap latency, N plugins, hand-built floor (durable)",
    "7 discovery, N plugins",
    "7 cold start, N plugins",
    "7 cold start, N plugins, import counted",
    "7 swap latency growth",
    "7 discovery growth",
    "7 cold start growth",
    "8 longest call gap during a swap",
    "9 process plugin call",
    "10 process plugin swap latency",
    "11 process plugin restart",
    "12 hook call beside process plugins",
    "13 upload to serving, 1 s poll",
    "13 idle poll (serial), wall time",
    "13 idle poll (serial), bytes",
    "13 idle poll (per project), wall time",
    "13 idle poll (per project), bytes",
    "14 swap under 4 busy callers",
    "14 swap under 4 busy callers, floor with a helper process",
]


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
    assert "| 1 hook call | 100 |" in proc.stdout
    results = json.loads(out.read_text())["results"]
    assert sorted({r["figure"] for r in results}) == sorted(FIGURES)
    assert all(r["pluginhost"]["median"] > 0 for r in results if "growth" not in r["figure"])
    ratios = [r for r in results if r["baseline"] is not None]
    assert all(r["baseline"]["median"] > 0 and r["ratio"] > 0 for r in ratios)
    calls = next(r for r in results if r["figure"].startswith("3 "))
    assert calls["failed_calls"] == 0
    memory = next(r for r in results if r["figure"].startswith("6 "))
    assert memory["old_versions_alive"] == 0
    for gaps in (r for r in results if r["figure"].startswith("8 ")):
        # The caller's own CPU time in its worst gap is part of that gap.
        assert 0 <= gaps["worst_gap_caller_cpu_ms"] / 1000 <= gaps["pluginhost"]["max"]
        if sys.platform.startswith("linux"):
            assert gaps["worst_window_runqueue_ms"] >= 0
        # Where the other threads were when it ended: the host's worker among them.
        assert {"MainThread", "pluginhost-worker"} <= gaps["worst_gap_ended_in"].keys()
