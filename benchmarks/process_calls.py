"""Figure 9: a hook call into a process plugin (``Worker.call``: encode, socket, the worker's
pluggy implementation, the reply routed back), against the same implementation called in
process through a bare pluggy ``PluginManager``, interleaved in the same run.

Run alone: ``python benchmarks/process_calls.py [--quick]``; or as figure 9 of ``run.py``.
Each call is timed on its own (``perf_counter_ns``), so the p50 and p95 are of single calls;
the in-process figure includes the timer's own cost (about 0.1 us). Bytecode is cached on both
sides: one worker is started and stopped, uncounted, before the measured one, which writes the
worker's bytecode.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pluggy
from _common import Row, row

from pluginhost.proc.worker import Worker, WorkerSpec
from pluginhost.testing import WheelFactory

PROJECT = "benchproc"
hookspec = pluggy.HookspecMarker(PROJECT)


class Spec:
    @hookspec(firstresult=True)
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """One plugin answers."""


CODE = """
import pluggy
hookimpl = pluggy.HookimplMarker("benchproc")

@hookimpl
def greet(name):
    return "hello " + name
"""


def _site(tmp: Path) -> Path:
    """The plugin, built as a wheel by WheelFactory and unpacked into a site dir."""
    wheel = WheelFactory(tmp / "wheels", group=f"{PROJECT}.plugins").build("procbench", code=CODE)
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _timed(call: object, count: int) -> list[float]:
    assert callable(call)
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        began = clock()
        call()
        out.append((clock() - began) / 1e9)
    return out


def bench_process_call(blocks: int, per_block: int) -> Row:
    """Worker.call('greet') vs pm.hook.greet() in process, in alternating blocks."""
    with tempfile.TemporaryDirectory() as tmp:
        site = _site(Path(tmp))
        spec = WorkerSpec(
            PROJECT, PROJECT, f"{PROJECT}.plugins", (("procbench", "procbench"),), (str(site),)
        )
        Worker.start(spec).stop()  # uncounted: writes the worker's bytecode
        worker = Worker.start(spec)
        sys.path.insert(0, str(site))
        try:
            bare = pluggy.PluginManager(PROJECT)
            bare.add_hookspecs(Spec)
            bare.register(importlib.import_module("procbench"))
            kwargs = {"name": "x"}
            remote = lambda: worker.call("greet", kwargs)  # noqa: E731
            local = lambda: bare.hook.greet(name="x")  # noqa: E731
            assert remote() == local() == "hello x"
            ours: list[float] = []
            base: list[float] = []
            _timed(remote, per_block)  # warm-up
            for _ in range(blocks):
                ours += _timed(remote, per_block)
                base += _timed(local, per_block)
        finally:
            sys.path.remove(str(site))
            sys.modules.pop("procbench", None)
            worker.stop()
    p50 = statistics.median(ours)
    ratio = p50 / statistics.median(base)
    return row(
        "9 process plugin call",
        1,
        ours,
        unit="us",
        target="p50 <= 50 us",
        met=p50 <= 50e-6,
        baseline=base,
        baseline_name="the same call in process (bare pluggy)",
        ratio=ratio,
        bytecode_cached=True,
    )


def figures(quick: bool) -> list[Row]:
    return [bench_process_call(*((3, 200) if quick else (20, 2000)))]


if __name__ == "__main__":
    from run import table  # run.py imports this module: imported here, not at the top

    print(table(figures("--quick" in sys.argv)))
