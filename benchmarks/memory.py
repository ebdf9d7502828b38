"""Figure 6: memory over many swaps of one plugin, in a fresh interpreter so RSS is its own.

Each swap goes through ``host.install`` (the same transition a watched folder triggers,
without waiting for the watcher). A weak reference to each version's module tells whether the
versions swapped out were collected.
"""

from __future__ import annotations

from pathlib import Path

from _common import Row, row, run_child

_CHILD = """
import gc, json, sys, tempfile, time, weakref
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pluggy
from _common import hook_module, rss_bytes
from pluginhost import PluginHost
from pluginhost.testing import WheelFactory

swaps = int(sys.argv[2])
hookspec = pluggy.HookspecMarker("benchmem")
class Spec:
    @hookspec(firstresult=True)
    def version(self): ...

def code(version):
    # A little weight per version, so that a leaked version shows in RSS, not only in refs.
    return hook_module("benchmem", "version", repr(version)) + "TABLE = list(range(20_000))\\n"

with tempfile.TemporaryDirectory() as tmp:
    factory = WheelFactory(Path(tmp, "wheels"), group="benchmem.plugins")
    wheels = [factory.build("memplug", f"1.0.{i}", code=code(f"1.0.{i}"))
              for i in range(swaps + 1)]
    host = PluginHost("benchmem", specs=[Spec], home=Path(tmp, "home"), environment=False,
                      live=False)
    errors = []
    host.subscribe(lambda event: errors.append(event.error) if event.error else None)
    with host:
        host.install(wheels[0])
        old = []
        # A warm-up swap first: the first switch and purge allocate caches once.
        for wheel in wheels[1:2]:
            old.append(weakref.ref(sys.modules["memplug"]))
            host.install(wheel)
        gc.collect()
        before = half = rss_bytes()
        started = time.perf_counter()
        for index, wheel in enumerate(wheels[2:], start=2):
            if index == swaps // 2:
                gc.collect()
                half = rss_bytes()
            old.append(weakref.ref(sys.modules["memplug"]))
            host.install(wheel)
            assert host.hook.version() == f"1.0.{index}"
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        alive = sum(ref() is not None for ref in old)
    print(json.dumps({"growth": after - before, "second_half": after - half,
                      "alive": alive, "errors": errors[:5],
                      "seconds_per_swap": seconds / max(1, swaps - 1)}))
"""


def figures(quick: bool) -> list[Row]:
    swaps = 10 if quick else 1000
    bench_dir = str(Path(__file__).resolve().parent)
    result = run_child(_CHILD, bench_dir, str(swaps))
    growth = result["growth"]
    return [
        row(
            "6 memory, RSS growth",
            swaps,
            [growth],
            unit="MB",
            target="<= 5 MB, old modules freed",
            met=growth <= 5 * 2**20 and result["alive"] == 0 and not result["errors"],
            old_versions_alive=result["alive"],
            # Allocator arenas and caches settle early; a leak would keep growing.
            growth_second_half_bytes=result["second_half"],
            errors=result["errors"],
            seconds_per_swap=result["seconds_per_swap"],
        )
    ]
