"""Figure 1: a hook call through ``host.hook`` against the same implementations registered in a
bare pluggy ``PluginManager``: the drain accounting of hot swaps must cost nothing per call."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import pluggy
from _common import Row, row, sample

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


def bench_hook_call(count: int, number: int, repeat: int) -> Row:
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
    # Each sample of ours with the baseline's taken right after it: the median of these paired
    # ratios cancels the machine's drift better than a ratio of the two medians.
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    return row(
        "1 hook call",
        count,
        ours,
        unit="us",
        baseline=base,
        baseline_name="bare pluggy",
        ratio=ratio,
        target="ratio <= 1.05",
        met=ratio <= 1.05,
    )


def figure(quick: bool) -> list[Row]:
    rows = []
    for count in (1, 10, 100):
        # About 40 ms a sample, many samples: a burst of load from another process then
        # spoils one short sample of one side, not a second-long one.
        number, repeat = (200, 3) if quick else (20_000 // count**0.7, 45)
        rows.append(bench_hook_call(count, int(number), repeat))
    return rows
