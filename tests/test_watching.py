"""Tests for pluginhost.host.watching, through real hosts: a folder event makes the worker read
only the files it names, and a full look still comes at least once per rescan interval."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import greet_code

import pluginhost.discover.discovery
from pluginhost import PluginHost
from pluginhost.testing import WheelFactory

MakeHost = Callable[..., PluginHost]


@pytest.fixture
def stated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the wheel files discovery looks at (one stat each), from now on."""
    seen: list[str] = []
    real = pluginhost.discover.discovery.identity

    def counting(path: Path, st: Any = None) -> Any:
        seen.append(path.name)
        return real(path, st)

    monkeypatch.setattr(pluginhost.discover.discovery, "identity", counting)
    return seen


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class TestWatching:
    def test_a_dropped_wheel_is_the_only_one_read(
        self, factory: WheelFactory, make_host: MakeHost, tmp_path: Path, stated: list[str]
    ) -> None:
        """Dropping an update into a folder of several wheels looks at that file alone."""
        for index in range(5):
            factory.build(f"p{index}", code=greet_code(str(index)))
        host = make_host(settle=0.05, rescan_interval=3600)
        outside = WheelFactory(tmp_path / "outside", group="greeter.plugins")
        wheel = outside.build("p2", "1.1.0", code=greet_code("new"))
        stated.clear()
        wheel.rename(factory.directory / wheel.name)
        wait_for(lambda: host.plugins["p2"].version == "1.1.0")
        assert host.wait_idle(20)
        assert set(stated) == {wheel.name}
        assert sorted(host.hook.greet(name="x")) == ["0", "1", "3", "4", "new"]

    def test_wait_idle_takes_an_infinite_timeout_and_refuses_nan(
        self, factory: WheelFactory, make_host: MakeHost
    ) -> None:
        """``wait_idle(math.inf)`` waits for as long as it takes (it raised OverflowError),
        and a NaN timeout is a ValueError (it waited for ever, spinning a core)."""
        factory.build("hello", code=greet_code("hi"))
        host = make_host(settle=0.05)
        factory.build("hello", "1.1.0", code=greet_code("new"))
        assert host.wait_idle(math.inf)
        assert host.hook.greet(name="x") == ["new"]
        with pytest.raises(ValueError, match="not NaN"):
            host.wait_idle(math.nan)

    def test_full_look_once_per_rescan_interval(
        self, factory: WheelFactory, make_host: MakeHost, stated: list[str]
    ) -> None:
        """With nothing reported, a full look still comes once the rescan interval has passed:
        every wheel is looked at again (what no event announces, such as a mode change)."""
        for index in range(3):
            factory.build(f"p{index}", code=greet_code(str(index)))
        make_host(settle=0.05, rescan_interval=0.2)
        stated.clear()
        wait_for(lambda: len(set(stated)) == 3, timeout=10)
