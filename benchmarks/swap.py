"""Figures 2 and 3: hot swaps through a watched folder.

2. Swap latency: from ``os.replace`` of a new wheel into the watched folder to the first call
   answered by the new version, against ``pip install --no-deps --target`` of the same wheel
   plus a fresh interpreter that loads it (what "pluggy plus a restart" costs).
3. Calls during swaps: the throughput of four calling threads while swaps run back to back,
   against the same threads while nothing happens; every call must be answered.

The host runs with its defaults (``settle=0.3``, ``environment=True``): a wheel renamed into
the folder is complete, so the watcher hands it over at once, whatever ``settle`` is.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pluggy
from _common import Row, answered_after, hook_module, row
from floor import floor_rows

from pluginhost import PluginHost
from pluginhost.testing import WheelFactory

PROJECT = "benchswap"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Old wheels are deleted after this many swaps, then the host is let to settle: deleting
#: after every swap would add the settle time of each deletion to the run, for nothing.
CLEANUP_EVERY = 10
#: Seconds a rig's host is left after its start, for its site writer to boot.
BOOT = 1.0
#: p50 targets by number of plugins loaded, in seconds.
TARGETS = {1: ("p50 <= 5 ms", 0.005), 1000: ("p50 <= 10 ms", 0.010)}


class Spec:
    @hookspec(firstresult=True)
    def version(self) -> str:  # type: ignore[empty-body]
        """The version of the plugin being swapped."""

    @hookspec
    def filler(self) -> int:  # type: ignore[empty-body]
        """Implemented by the other plugins the host carries."""


class Rig:
    """A started host watching a folder that holds ``swapme`` and ``others`` other plugins."""

    def __init__(self, tmp: Path, others: int) -> None:
        self.staging = tmp / "staging"  # on the same filesystem, so os.replace is a rename
        self.folder = tmp / "wheels"
        self.factory = WheelFactory(self.staging, group=f"{PROJECT}.plugins")
        self.folder.mkdir()
        for index in range(others):
            self._drop(
                self.factory.build(f"other{index}", code=hook_module(PROJECT, "filler", "0"))
            )
        self.serial = 0
        self.current = self._drop(self.build())
        self.old: list[Path] = []
        self.host = PluginHost(PROJECT, specs=[Spec], home=tmp / "home", watch=[self.folder])

    def build(self) -> Path:
        """The next version's wheel, in the staging dir."""
        self.serial += 1
        version = f"1.0.{self.serial}"
        return self.factory.build(
            "swapme", version, code=hook_module(PROJECT, "version", repr(version))
        )

    def _drop(self, wheel: Path) -> Path:
        target = self.folder / wheel.name
        os.replace(wheel, target)
        return target

    def swap(self, wheel: Path, timeout: float = 30.0) -> float:
        """Seconds from the rename into the folder to the first call the new version answers."""
        version = wheel.name.split("-")[1]
        elapsed = answered_after(
            lambda: self._drop(wheel), self.host.hook.version, version, timeout=timeout
        )
        self.old.append(self.current)
        self.current = self.folder / wheel.name
        return elapsed

    def clean_up(self) -> None:
        """Delete the wheels of versions swapped out, and wait until the host saw it."""
        for path in self.old:
            path.unlink()
        self.old.clear()
        if not self.host.wait_idle(60):
            raise TimeoutError("host still busy after 60 s")


@contextmanager
def rig(others: int) -> Iterator[Rig]:
    with tempfile.TemporaryDirectory() as tmp:
        made = Rig(Path(tmp), others)
        with made.host:
            assert made.host.hook.version() == "1.0.1"
            # Steady state: the host's site writer boots in the background (0.2 s here), and
            # the swaps of those first moments are written in the host's own process.
            time.sleep(BOOT)
            yield made


def pip_and_restart(wheel: Path, target: Path) -> float:
    """Seconds for ``pip install --no-deps --target`` of ``wheel`` and a fresh interpreter
    that imports it, registers it with pluggy and calls it."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    load = (
        f"import sys; sys.path.insert(0, {str(target)!r}); import pluggy, swapme; "
        f"pm = pluggy.PluginManager({PROJECT!r}); pm.register(swapme); "
        "assert pm.hook.version()"
    )
    subprocess.run([sys.executable, "-c", load], check=True)
    return time.perf_counter() - started


def swap_latency(others: int, swaps: int, baselines: int, *, figure: str) -> Row:
    """Figure 2 with ``others`` more plugins loaded (the scaling rows use many)."""
    latencies: list[float] = []
    base: list[float] = []
    with rig(others) as r, tempfile.TemporaryDirectory() as pip_dir:
        # Baselines are spread over the run so that the machine's drift hits both alike.
        spread = max(1, swaps // max(1, baselines))
        for index in range(swaps):
            wheel = r.build()
            # Each swap starts from a quiet host: the tail of the previous one (drain, purge,
            # registry, status document) is not this one's latency.
            r.host.wait_idle(60)
            latencies.append(r.swap(wheel))
            if len(r.old) >= CLEANUP_EVERY:
                r.clean_up()
            if len(base) < baselines and index % spread == 0:
                base.append(pip_and_restart(r.current, Path(pip_dir, str(index))))
    p50 = statistics.median(latencies)
    # Issue 13's targets: 5 ms with one plugin, 10 ms with a thousand; the rows between show
    # how the cost grows (figure 7's exponent).
    target, limit = TARGETS.get(others + 1, ("see growth", None))
    return row(
        figure,
        others + 1,
        latencies,
        unit="ms",
        baseline=base,
        baseline_name="pip --target + restart",
        ratio=p50 / statistics.median(base) if base else None,
        target=target,
        met=p50 <= limit if limit is not None else None,
    )


def with_floor(others: int, swaps: int, baselines: int, *, figure: str) -> list[Row]:
    """:func:`swap_latency`, then the hand-built floor at the same size (:mod:`floor`), plain
    and durable; the first row gets its ratio to the durable floor."""
    ours = swap_latency(others, swaps, baselines, figure=figure)
    floors = floor_rows(figure, others + 1, swaps, project=PROJECT, spec=Spec)
    if floors:
        durable = floors[1]["pluginhost"]["median"]
        ours["durable_floor_ratio"] = ours["pluginhost"]["median"] / durable
    return [ours, *floors]


def calls_during_swaps(swaps: int, rounds: int, threads: int = 4) -> Row:
    """Figure 3: calls per second of ``threads`` callers while swaps run back to back, against
    quiet windows of the same length before and after each run of swaps."""
    per_round = max(1, swaps // rounds)
    with rig(0) as r:
        counts = [0] * threads
        failures: list[str] = []
        stop = threading.Event()
        hook = r.host.hook

        def call(slot: int) -> None:
            seen: tuple[int, ...] = (1, 0, 1)
            while not stop.is_set():
                try:
                    answer = hook.version()
                except Exception as exc:  # counted, not raised: the figure reports them
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if answer is None:
                    failures.append("no implementation answered")
                    continue
                version = tuple(int(part) for part in answer.split("."))
                if version < seen:
                    failures.append(f"{answer} answered after {seen}")
                seen = version
                counts[slot] += 1

        workers = [threading.Thread(target=call, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        quiet: list[float] = []
        busy: list[float] = []
        swap_times: list[float] = []
        try:
            for _ in range(rounds):
                wheels = [r.build() for _ in range(per_round)]
                started, before = time.perf_counter(), sum(counts)
                for wheel in wheels:
                    swap_times.append(r.swap(wheel))
                length = time.perf_counter() - started
                busy.append((sum(counts) - before) / length)
                r.clean_up()
                quiet.append(_quiet_rate(counts, length))
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    ratio = statistics.median(busy) / statistics.median(quiet)
    return row(
        f"3 calls during swaps ({threads} threads)",
        per_round * rounds,
        busy,
        unit="calls/s",
        baseline=quiet,
        baseline_name="no swaps",
        ratio=ratio,
        target="ratio >= 0.9, 0 failed",
        met=ratio >= 0.9 and not failures,
        failed_calls=len(failures),
        failures_sample=failures[:5],
        # Four threads that never wait hold the interpreter lock: the worker gets it back only
        # at each switch interval (5 ms) after every system call, so swaps take much longer.
        swap_seconds_under_load=statistics.median(swap_times),
    )


def _quiet_rate(counts: list[int], length: float) -> float:
    started, before = time.perf_counter(), sum(counts)
    time.sleep(length)
    return (sum(counts) - before) / (time.perf_counter() - started)


def figures(quick: bool) -> list[Row]:
    swaps, baselines = (3, 1) if quick else (100, 15)
    return [
        *with_floor(0, swaps, baselines, figure="2 swap latency"),
        calls_during_swaps(4 if quick else 100, 2 if quick else 5),
    ]


def scaling(quick: bool, sizes: tuple[int, ...]) -> list[Row]:
    """Figure 7 for swaps: the latency of one swap with ``size`` plugins loaded, and the
    floor at each size."""
    swaps = 3 if quick else 40
    rows: list[Row] = []
    for size in sizes:
        rows += with_floor(size - 1, swaps, 1 if quick else 3, figure="7 swap latency, N plugins")
    return rows
