"""Benchmarks: each figure with its median and spread, each ratio against a baseline measured in
the same run, so that a noisy machine does not fake a result.

    python benchmarks/run.py [--quick] [--json results.json]

Figure measured so far: the hook call through ``host.hook`` (which carries the drain
accounting of hot swaps) against the same implementations in a bare pluggy ``PluginManager``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

from pluginhost import PluginHost
from pluginhost.testing import WheelFactory

PROJECT = "benchgreeter"
hookspec = pluggy.HookspecMarker(PROJECT)


class Spec:
    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Every plugin answers."""


CODE = """
import pluggy
hookimpl = pluggy.HookimplMarker("benchgreeter")

@hookimpl
def greet(name):
    return name
"""


def sample(fn: Callable[[], object], number: int, repeat: int) -> list[float]:
    """Seconds per call, one figure per repeat."""
    return [t / number for t in timeit.repeat(fn, number=number, repeat=repeat)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.pstdev(values),
    }


def bench_hook_call(count: int, number: int, repeat: int) -> dict[str, Any]:
    """host.hook.greet vs a bare PluginManager holding the same module objects."""
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp, "wheels")
        factory = WheelFactory(wheels, group=f"{PROJECT}.plugins")
        for index in range(count):
            factory.build(f"bench{index}", code=CODE)
        host = PluginHost(
            PROJECT,
            specs=[Spec],
            home=Path(tmp, "home"),
            watch=[wheels],
            environment=False,
            live=False,
        )
        with host:
            bare = pluggy.PluginManager(PROJECT)
            bare.add_hookspecs(Spec)
            for name in host.load_order():
                bare.register(sys.modules[f"bench{name[5:]}"], name=f"bare-{name}")
            assert len(host.hook.greet(name="x")) == len(bare.hook.greet(name="x")) == count
            # Interleave the two so that drift of the machine hits both alike.
            ours: list[float] = []
            base: list[float] = []
            for _ in range(repeat):
                ours += sample(lambda: host.hook.greet(name="x"), number, 1)
                base += sample(lambda: bare.hook.greet(name="x"), number, 1)
    ratio = statistics.median(ours) / statistics.median(base)
    return {
        "figure": f"hook call, {count} impls",
        "pluginhost": summary(ours),
        "pluggy": summary(base),
        "ratio": ratio,
        "target": "<= 1.05",
        "met": ratio <= 1.05,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", type=Path, help="also save the results here")
    args = parser.parse_args(argv)
    number, repeat = (200, 3) if args.quick else (20_000, 15)
    results = [bench_hook_call(count, number, repeat) for count in (1, 10, 100)]
    print(f"{'figure':<24} {'pluginhost':>12} {'pluggy':>12} {'ratio':>7}  target")
    for r in results:
        ours, base = r["pluginhost"]["median"] * 1e6, r["pluggy"]["median"] * 1e6
        print(
            f"{r['figure']:<24} {ours:>10.2f}us {base:>10.2f}us {r['ratio']:>7.3f}  "
            f"{r['target']} {'ok' if r['met'] else 'MISSED'}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
