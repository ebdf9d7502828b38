"""Figures 10 to 12: process plugins in a host (issue 16).

10. Swap latency of a process plugin: from ``os.replace`` of a new wheel into the watched folder
    to the first call answered by the new version's worker (its start, handshake, import,
    state hand-over and health check included), against the same swap of an in-process plugin
    in the same run.
11. Restart time after a crash: from the call that makes the worker exit (``os._exit``) to the
    first call answered by the restarted worker (the crash noticed, the backoff, a new worker
    started, its state handed back, the switch), against a fresh ``Worker.start`` alone.
12. ``host.hook`` for in-process plugins while process plugins are loaded beside them (they
    implement another hook), against the same module objects in a bare pluggy manager.

Run alone: ``python benchmarks/process_host.py [--quick]``; or as figures 10-12 of ``run.py``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pluggy
from _common import Row, hook_module, row, sample

from pluginhost import PluginCrashedError, PluginHost
from pluginhost.proc.worker import Worker
from pluginhost.testing import WheelFactory

PROJECT = "benchproc"
hookspec = pluggy.HookspecMarker(PROJECT)


class Spec:
    @hookspec(firstresult=True)
    def version(self) -> str:  # type: ignore[empty-body]
        """The version of the plugin being swapped."""

    @hookspec
    def filler(self) -> int:  # type: ignore[empty-body]
        """Implemented by the in-process plugins of figure 12."""

    @hookspec(firstresult=True)
    def crash(self) -> None:
        """Makes the process plugin of figure 11 exit."""


CRASHING = """
import os, pluggy
hookimpl = pluggy.HookimplMarker("benchproc")
VERSION = {version!r}

@hookimpl
def version():
    return VERSION

@hookimpl
def crash():
    os._exit(1)
"""


def _manifest(name: str, version: str, process: bool) -> str:
    isolation = 'isolation = "process"\n' if process else ""
    return f'[plugin]\nname = "{name}"\nversion = "{version}"\n{isolation}'


class Rig:
    """A started host on a watched folder holding one plugin to swap, in a worker or not."""

    def __init__(
        self, tmp: Path, *, process: bool, name: str = "swapme", **options: object
    ) -> None:
        self.staging = tmp / "staging"  # same filesystem: os.replace is a rename
        self.folder = tmp / "wheels"
        self.folder.mkdir(parents=True)
        self.factory = WheelFactory(self.staging, group=f"{PROJECT}.plugins")
        self.process, self.name, self.serial = process, name, 0
        self._drop(self.build())
        self.host = PluginHost(
            PROJECT,
            specs=[Spec],
            home=tmp / "home",
            watch=[self.folder],
            environment=False,
            **options,
        )

    def build(self) -> Path:
        self.serial += 1
        version = f"1.0.{self.serial}"
        return self.factory.build(
            self.name,
            version,
            code=CRASHING.format(version=version),
            manifest=_manifest(self.name, version, self.process),
        )

    def _drop(self, wheel: Path) -> Path:
        target = self.folder / wheel.name
        os.replace(wheel, target)
        return target

    def swap(self, timeout: float = 60.0) -> float:
        """Seconds from the rename of the next version to its first answer."""
        wheel = self.build()
        wanted = f"1.0.{self.serial}"
        began = time.perf_counter()
        self._drop(wheel)
        deadline = began + timeout
        while self.host.hook.version() != wanted:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{wanted} never answered")
            time.sleep(0.0002)
        took = time.perf_counter() - began
        self.host.wait_idle(timeout)
        return took


def bench_swap(swaps: int) -> Row:
    """Process plugin swaps, interleaved with in-process ones in another host."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = Rig(Path(tmp, "proc"), process=True)
        inproc = Rig(Path(tmp, "inproc"), process=False)
        with proc.host, inproc.host:
            proc.swap()  # uncounted: the workers' bytecode written
            inproc.swap()
            ours, base = [], []
            for _ in range(swaps):
                ours.append(proc.swap())
                base.append(inproc.swap())
    p50 = statistics.median(ours)
    return row(
        "10 process plugin swap latency",
        1,
        ours,
        unit="ms",
        target="p50 <= 250 ms",
        met=p50 <= 0.25,
        baseline=base,
        baseline_name="the same swap in process",
        ratio=p50 / statistics.median(base),
        bytecode_cached=True,
    )


def bench_restart(crashes: int) -> Row:
    """Restarts after a crash, against starting a worker alone."""
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), process=True, restart_limit=1_000_000)  # never quarantined
        ours, base = [], []
        with rig.host:
            links = rig.host._engine.processes.live()
            spec = links[0].spec
            for _ in range(crashes):
                began = time.perf_counter()
                with contextlib.suppress(PluginCrashedError):
                    rig.host.hook.crash()
                while True:
                    try:
                        rig.host.hook.version()
                        break
                    except PluginCrashedError:
                        time.sleep(0.0005)
                ours.append(time.perf_counter() - began)
                began = time.perf_counter()
                Worker.start(spec).stop()
                base.append(time.perf_counter() - began)
                links[0].crashes.clear()  # each restart from the first backoff
    return row(
        "11 process plugin restart",
        1,
        ours,
        unit="ms",
        target="-",
        met=None,
        baseline=base,
        baseline_name="Worker.start alone",
        ratio=statistics.median(ours) / statistics.median(base),
        bytecode_cached=True,
    )


def bench_hook_beside(count: int, number: int, repeat: int) -> Row:
    """host.hook.filler with ``count`` in-process plugins and ``count`` process plugins beside."""
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp, "wheels")
        factory = WheelFactory(wheels, group=f"{PROJECT}.plugins")
        for index in range(count):
            factory.build(f"local{index}", code=hook_module(PROJECT, "filler", "0"))
            name = f"remote{index}"
            factory.build(
                name,
                code=CRASHING.format(version="1.0.0"),
                manifest=_manifest(name, "1.0.0", True),
            )
        host = PluginHost(
            PROJECT, specs=[Spec], home=Path(tmp, "home"), watch=[wheels], environment=False
        )
        with host:
            bare = pluggy.PluginManager(PROJECT)
            bare.add_hookspecs(Spec)
            for index in range(count):
                bare.register(sys.modules[f"local{index}"], name=f"bare{index}")
            assert len(host.hook.filler()) == len(bare.hook.filler()) == count
            ours: list[float] = []
            base: list[float] = []
            for _ in range(repeat):
                ours += sample(host.hook.filler, number, 1)
                base += sample(bare.hook.filler, number, 1)
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    return row(
        "12 hook call beside process plugins",
        count,
        ours,
        unit="us",
        baseline=base,
        baseline_name="bare pluggy",
        ratio=ratio,
        target="ratio <= 1.05",
        met=ratio <= 1.05,
    )


def figures(quick: bool) -> list[Row]:
    return [
        bench_swap(3 if quick else 30),
        bench_restart(3 if quick else 20),
        bench_hook_beside(*((2, 200, 3) if quick else (10, 10_000, 45))),
    ]


if __name__ == "__main__":
    from run import table  # run.py imports this module: imported here, not at the top

    print(table(figures("--quick" in sys.argv)))
