"""The fleet test: five host processes follow one index; a release reaches them in rollout
order, and yanking it takes all five back, with no failed call and their state handed over."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import counter_code

from pluginhost.model.rollout import cohort
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import StaticIndex

SCRIPT = Path(__file__).with_name("fleet_host.py")
REPO = Path(__file__).resolve().parent.parent
#: Five steps 1.5 s apart; each host's cohort falls in a step of its own.
STEPS = [(0, 20), (1.5, 40), (3, 60), (4.5, 80), (6, 100)]


def fleet_ids() -> list[str]:
    """One host id per step: its cohort for hello 2.0.0 lies in that step's slice."""
    ids = []
    for low in range(0, 100, 20):
        ids.append(
            next(
                f"fleet-{n}"
                for n in range(10_000)
                if low <= cohort(f"fleet-{n}", "hello", "2.0.0") < low + 20
            )
        )
    return ids


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def serving(path: Path) -> str | None:
    """The version both callers of a host saw answer last, once they agree."""
    last = {line["caller"]: line["version"] for line in lines(path) if line["event"] == "serving"}
    return last[0] if len(last) == 2 and last[0] == last[1] else None


def wait_all(outs: list[Path], version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(serving(out) != version for out in outs):
        assert time.monotonic() < deadline, [serving(out) for out in outs]
        time.sleep(0.1)


class TestFleet:
    def test_rollout_and_rollback_across_five_hosts(
        self, static_index: StaticIndex, tmp_path: Path
    ) -> None:
        """Publish 2.0.0: the five hosts take it in their cohorts' order; yank it: all five
        go back to 1.0.0; no call failed and every host's counter carried on."""
        built = WheelFactory(tmp_path / "built")
        long_ago = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        static_index.publish(
            built.build("hello", "1.0.0", code=counter_code("1.0.0")), upload_time=long_ago
        )
        ids = fleet_ids()
        outs = [tmp_path / f"host-{n}.jsonl" for n in range(5)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        procs = []
        for n, (host_id, out) in enumerate(zip(ids, outs, strict=True)):
            home = str(tmp_path / f"home-{n}")
            argv = [home, static_index.url, host_id, json.dumps(STEPS), str(out)]
            procs.append(subprocess.Popen([sys.executable, str(SCRIPT), *argv], env=env))
        try:
            wait_all(outs, "1.0.0")
            static_index.publish(
                built.build("hello", "2.0.0", code=counter_code("2.0.0")),
                upload_time=datetime.datetime.now(datetime.timezone.utc),
            )
            wait_all(outs, "2.0.0")
            static_index.yank("hello", "2.0.0", "bad release")
            wait_all(outs, "1.0.0")
        finally:
            for out in outs:
                Path(f"{out}.stop").touch()
            for proc in procs:
                proc.wait(timeout=60)
        arrivals = []
        for out in outs:
            log = lines(out)
            (done,) = [line for line in log if line["event"] == "done"]
            assert (done["failures"], done["backwards"]) == (0, 0), out
            assert done["calls"] > 100
            for caller in (0, 1):
                seen = [line for line in log if line.get("caller") == caller]
                assert [line["version"] for line in seen] == ["1.0.0", "2.0.0", "1.0.0"], out
                assert all(line["count"] > 1 for line in seen[1:])  # the state was handed over
            arrivals.append(min(line["time"] for line in log if line.get("version") == "2.0.0"))
        assert arrivals == sorted(arrivals), arrivals
