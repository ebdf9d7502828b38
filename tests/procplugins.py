"""Process plugins for the tests of pluginhost.proc: plugin modules written into temp dirs and
the workers started on them, stopped after each test."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginhost.model.limits import ResourceLimits
from pluginhost.proc.exits import ExitInfo
from pluginhost.proc.worker import Worker, WorkerSpec

HEADER = """\
import pluggy
hookimpl = pluggy.HookimplMarker("demo")
"""


class Workers:
    """Start workers on plugin modules written into ``root``; remember each for teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Worker] = []
        self.exits: list[tuple[Worker, ExitInfo]] = []
        self._count = 0

    def spec(
        self, source: str, *, limits: ResourceLimits = ResourceLimits(), **files: str
    ) -> WorkerSpec:
        """A spec for a module ``plug`` made of :data:`HEADER` and ``source`` (and ``files``,
        more modules by name), in a directory of its own; its entry point is ``plug:plugin``."""
        self._count += 1
        site = self.root / f"site{self._count}"
        site.mkdir()
        (site / "plug.py").write_text(HEADER + textwrap.dedent(source), "utf-8")
        for name, text in files.items():
            (site / f"{name}.py").write_text(textwrap.dedent(text), "utf-8")
        return WorkerSpec(
            plugin=f"plug{self._count}",
            project_name="demo",
            group="demo.plugins",
            entry_points=(("main", "plug:plugin"),),
            paths=(str(site),),
            limits=limits,
        )

    def start(
        self, source: str, *, limits: ResourceLimits = ResourceLimits(), **files: str
    ) -> Worker:
        """A started worker on ``source`` (see :meth:`spec`)."""
        worker = Worker.start(self.spec(source, limits=limits, **files), on_exit=self._exited)
        self.started.append(worker)
        return worker

    def _exited(self, worker: Worker, info: ExitInfo) -> None:
        self.exits.append((worker, info))

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop(grace=1.0)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    made = Workers(tmp_path)
    yield made
    made.stop_all()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` is gone within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


__all__ = ["HEADER", "Workers", "alive", "wait_gone", "workers"]
