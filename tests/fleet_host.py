"""One host of the fleet test (``test_fleet.py``), in its own process.

Run as ``python tests/fleet_host.py HOME URL HOST_ID STEPS OUT`` with the repository on
``PYTHONPATH``: it follows the index at ``URL`` with ``Rollout(host_id=HOST_ID, steps=STEPS)``
(STEPS as JSON), calls ``greet`` from two threads without pause, and writes to ``OUT``, one JSON
object per line, each version each thread sees answering first (with the time and the counter
it answered), and at the end (once ``OUT.stop`` exists) how many calls it made and how many failed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from hookspecs import greeter
from pluginhost import IndexSource, PluginHost, Rollout


def main(home: str, url: str, host_id: str, steps: str, out: str) -> None:
    rollout = Rollout(host_id=host_id, steps=[tuple(s) for s in json.loads(steps)])
    source = IndexSource(url, poll_interval=0.3, rollout=rollout, timeout=5.0)
    host = PluginHost(
        greeter.PROJECT,
        specs=[greeter.GreeterSpec],
        home=home,
        api_version=greeter.API_VERSION,
        environment=False,
        sources=[source],
    )
    lock = threading.Lock()
    stop = Path(f"{out}.stop")
    seen: dict[str, int] = {"calls": 0, "failures": 0, "backwards": 0}
    with host, open(out, "a", encoding="utf-8") as log:

        def write(**fields: object) -> None:
            with lock:
                log.write(json.dumps(fields) + "\n")
                log.flush()

        write(event="ready")

        def call(caller: int) -> None:
            counted, last = 0, ""
            while not stop.exists():
                try:
                    (answer,) = host.hook.greet(name="x")
                    version, count = answer.split(":")
                except Exception as exc:
                    with lock:
                        seen["failures"] += 1
                    write(event="failed", error=repr(exc))
                    continue
                with lock:
                    seen["calls"] += 1
                    # Started over: the state was not handed over. (A call in flight on the old
                    # version may count a little past the state exported, hence not "<".)
                    seen["backwards"] += int(count) < counted // 2
                counted = int(count)
                if version != last:
                    last = version
                    write(
                        event="serving", caller=caller, version=version, count=counted,
                        time=time.time(),
                    )  # fmt: skip

        callers = [threading.Thread(target=call, args=(n,)) for n in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        write(event="done", **seen)


if __name__ == "__main__":
    main(*sys.argv[1:])
