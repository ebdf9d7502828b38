"""What every figure shares: summaries, result rows, child interpreters and fake installed sites."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def sample(fn: Callable[[], object], number: int, repeat: int) -> list[float]:
    """Seconds per call, one figure per repeat."""
    return [t / number for t in timeit.repeat(fn, number=number, repeat=repeat)]


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: a value that was measured, not an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, extremes and spread of repeated measurements."""
    return {
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.pstdev(values),
        "n": len(values),
    }


def row(
    figure: str,
    size: int | str,
    ours: Sequence[float],
    *,
    unit: str,
    target: str,
    met: bool | None,
    baseline: Sequence[float] = (),
    baseline_name: str = "",
    ratio: float | None = None,
    **extra: Any,
) -> Row:
    """One line of the table: our figure, its baseline from the same run, and the verdict."""
    result: Row = {
        # Where and under what load the row was measured: a row taken under load is re-run,
        # not published (see README.md).
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
        "figure": figure,
        "size": size,
        "unit": unit,
        "pluginhost": summary(ours),
        "baseline_name": baseline_name,
        "baseline": summary(baseline) if baseline else None,
        "ratio": ratio,
        "target": target,
        "met": met,
    }
    result.update(extra)
    return result


def run_child(code: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    proc = subprocess.run(
        # -I: the children import pluginhost from the environment, as this process does, not
        # from whatever directory the suite was started in.
        [sys.executable, "-I", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def hook_module(project: str, hook: str, value: str) -> str:
    """The source of a plugin module implementing ``hook`` by returning ``value`` (a literal)."""
    return (
        "import pluggy\n"
        f"hookimpl = pluggy.HookimplMarker({project!r})\n\n\n"
        f"@hookimpl\ndef {hook}():\n    return {value}\n"
    )


def write_site(root: Path, *, dists: int, plugins: int, project: str, hook: str) -> Path:
    """A site dir of ``dists`` installed distributions, ``plugins`` of them plugins of
    ``project``, as ``pip install --target`` would leave them (``.dist-info`` with METADATA,
    RECORD, entry points, and for plugins a package with its ``plugin.toml``).

    Plugins are spread evenly among the other distributions; half of those declare a console
    script, so that reading entry points is not only reading absent files.
    """
    site = root / f"site-{dists}-{plugins}"
    site.mkdir(parents=True)
    every = dists / plugins if plugins else math.inf
    chosen = {int(i * every) for i in range(plugins)}
    for index in range(dists):
        if index in chosen:
            _write_plugin(site, index, project, hook)
        else:
            _write_dist(site, f"lib{index:05d}", console=index % 2 == 0)
    return site


def _write_plugin(site: Path, index: int, project: str, hook: str) -> None:
    name = f"plug{index:05d}"
    package = site / name
    package.mkdir()
    (package / "__init__.py").write_text(hook_module(project, hook, str(index)))
    (package / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "1.0.0"\n')
    files = [f"{name}/__init__.py", f"{name}/plugin.toml"]
    entry_points = f"[{project}.plugins]\n{name} = {name}\n"
    _write_dist(site, name, files=files, entry_points=entry_points)


def _write_dist(
    site: Path,
    name: str,
    *,
    files: Sequence[str] = (),
    entry_points: str | None = None,
    console: bool = False,
) -> None:
    info = site / f"{name}-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\nSummary: benchmark filler\n"
    )
    (info / "INSTALLER").write_text("pip\n")
    if console:
        entry_points = f"[console_scripts]\n{name} = {name}:main\n"
    record = [*files, f"{info.name}/METADATA", f"{info.name}/INSTALLER"]
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)
        record.append(f"{info.name}/entry_points.txt")
    record.append(f"{info.name}/RECORD")
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in record))


def answered_after(
    rename: Callable[[], object],
    answer: Callable[[], object],
    expected: object,
    *,
    timeout: float = 30.0,
    failed: Callable[[], BaseException | None] = lambda: None,
) -> float:
    """Seconds from ``rename()`` (a new wheel put into a watched folder) until ``answer()``
    returns ``expected``, polled every 0.2 ms: a short sleep between polls leaves the
    interpreter to the threads that swap. ``failed()`` names an error that ends the wait."""
    started = time.perf_counter()
    rename()
    while answer() != expected:
        error = failed()
        if error is not None:
            raise RuntimeError("the swap failed") from error
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{expected!r} not answering after {timeout} s")
        time.sleep(0.0002)
    return time.perf_counter() - started


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def growth_exponent(sizes: Sequence[int], medians: Sequence[float]) -> float:
    """The slope of log(time) against log(size) between the smallest and largest size: 1.0 is
    linear, below 1 better than linear."""
    return math.log(medians[-1] / medians[0]) / math.log(sizes[-1] / sizes[0])
