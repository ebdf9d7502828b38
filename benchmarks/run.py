"""Benchmarks: each figure with its median and spread, each ratio against a baseline measured in
the same run, so that a noisy machine does not fake a result.

    python benchmarks/run.py [--quick] [--json results.json] [--only 2,4]

The figures live beside this script, one module per subject: ``hook_call`` (1), ``swap`` (2, 3),
``startup`` (4, 5), ``memory`` (6), ``pauses`` (8), ``index`` (9), ``busy`` (14), ``floor``
(beside 2, 7 and 14: a swap done by hand, the least any swap costs); figure 7 runs 2, 4 and 5
at growing sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script: the figure modules are siblings, and pluginhost comes from the environment.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import busy
import hook_call
import index
import memory
import pauses
import process_calls
import process_host
import startup
import swap
from _common import Row, growth_exponent, row

SCALING_SIZES = (10, 100, 1000)
QUICK_SIZES = (2, 4)


def scaling(quick: bool) -> list[Row]:
    """Figure 7: figures 2, 4 and 5 at growing sizes, and how their cost grows."""
    sizes = QUICK_SIZES if quick else SCALING_SIZES
    rows = swap.scaling(quick, sizes) + startup.scaling(quick, sizes)
    # A swap is to cost what changed (issue 13): its latency may grow by 0.1 at most from 10
    # to 1,000 plugins; a start reads every plugin, so it may grow about linearly.
    for name, limit in (("7 swap latency", 0.1), ("7 discovery", 1.1), ("7 cold start", 1.1)):
        medians = [r["pluginhost"]["median"] for r in rows if r["figure"] == f"{name}, N plugins"]
        exponent = growth_exponent(sizes, medians)
        rows.append(
            row(
                f"{name} growth",
                f"{sizes[0]}-{sizes[-1]}",
                [exponent],
                unit="exp",
                target=f"exponent <= {limit}",
                met=exponent <= limit,
            )
        )
    return rows


FIGURES: dict[str, Callable[[bool], list[Row]]] = {
    "1": hook_call.figure,
    "2": swap.figures,  # 2 and 3 share their host
    "4": startup.figures,  # 4 and 5 share their site dir
    "6": memory.figures,
    "7": scaling,
    "8": pauses.figures,
    "9": process_calls.figures,
    "10": process_host.figures,
    "13": index.figures,
    "14": busy.figures,
}

_SCALE = {"us": 1e6, "ms": 1e3, "MB": 1 / 2**20, "B": 1.0, "calls/s": 1.0, "exp": 1.0}


def _value(value: float, unit: str) -> str:
    scaled = value * _SCALE[unit]
    return f"{scaled:,.0f}" if abs(scaled) >= 1000 else f"{scaled:.3g}"


def _verdict(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "**no**"


def table(rows: list[Row]) -> str:
    """The results as a Markdown table, ready for benchmarks/README.md."""
    lines = [
        "| figure | size | median | p95 | min-max | baseline | baseline median | ratio "
        "| target | met | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit, ours, base = r["unit"], r["pluginhost"], r["baseline"]
        shown = f"{_value(ours['median'], unit)} {unit}"
        lines.append(
            f"| {r['figure']} | {r['size']} | {shown} | {_value(ours['p95'], unit)} "
            f"| {_value(ours['min'], unit)}-{_value(ours['max'], unit)} "
            f"| {r['baseline_name'] or '-'} "
            f"| {_value(base['median'], unit) + ' ' + unit if base else '-'} "
            f"| {'-' if r['ratio'] is None else format(r['ratio'], '.3f')} "
            f"| {r['target']} | {_verdict(r['met'])} | {r['load']:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """Where the figures were measured: they mean little without it."""
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{BYTECODE}"
    )


def write_bytecode() -> str:
    """Have this process and its children write and use bytecode, as Python does by default,
    and say so. ``PYTHONDONTWRITEBYTECODE`` set in the environment (it is on these machines)
    made the hosts of the swap figures compile each new version's modules at their import,
    and their site writer skip its compile step, while the rows said bytecode was cached."""
    lifted = sys.dont_write_bytecode or "PYTHONDONTWRITEBYTECODE" in os.environ
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return "bytecode written and cached" + (
        " (PYTHONDONTWRITEBYTECODE, set in the environment, lifted for the run)" if lifted else ""
    )


BYTECODE = write_bytecode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also save the results here")
    parser.add_argument(
        "--only", default=",".join(FIGURES), help=f"figures to run, of {','.join(FIGURES)}"
    )
    args = parser.parse_args(argv)
    unknown = [key for key in args.only.split(",") if key not in FIGURES]
    if unknown:
        # Figures 3, 5, 11 and 12 run with the figure that shares their setup (2, 4, 10).
        parser.error(f"no figure {', '.join(unknown)} to run: choose among {','.join(FIGURES)}")
    rows: list[Row] = []
    for key in args.only.split(","):
        started = time.perf_counter()
        rows += FIGURES[key](args.quick)
        print(f"figure {key}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(machine())
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
