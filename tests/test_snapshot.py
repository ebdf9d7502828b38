"""HostSnapshot: what list and status show, as values, from a host or read from its home."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code

from pluginhost import HostSnapshot, HostStateError, PluginHost, PluginState, ProblemKind
from pluginhost.testing import WheelFactory


class TestHostSnapshot:
    def test_running_host_and_its_home_agree(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """The snapshot read from status.json in another reader equals the host's own."""
        factory.build("hello", "1.0.0", code=greet_code("hello 1.0"))
        factory.build("needy", "0.1.0", requires={"translator": "^2.0"})
        host = make_host()
        host.install(factory.build("hello", "1.1.0", code=greet_code("hello 1.1")))
        live = HostSnapshot.of(host)
        read = HostSnapshot.read(host.home)
        assert read.running
        assert live.running
        assert read.load_order == live.load_order == ("hello",)
        assert read.plugins == live.plugins
        assert read.problems == live.problems
        assert read.plugins["hello"].backups == ("1.0.0",)
        assert read.plugins["needy"].info.state is PluginState.FAILED
        assert [p.kind for p in read.problems] == [ProblemKind.MISSING]
        assert read.problems[0].requirement is not None

    def test_stopped_host(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """After stop, the snapshot says the host is not running and when it was last seen."""
        factory.build("hello", "1.0.0")
        host = make_host()
        host.stop()
        snap = HostSnapshot.read(host.home)
        assert not snap.running
        assert snap.pid == os.getpid()
        assert snap.updated is not None
        assert snap.updated <= time.time()
        assert list(snap.plugins) == ["hello"]

    def test_registry_only(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """A home without status.json shows the registry's plugins as committed."""
        factory.build("hello", "1.0.0")
        host = make_host()
        host.stop()
        (host.home / "status.json").unlink()
        snap = HostSnapshot.read(host.home)
        assert snap.updated is None
        assert snap.plugins["hello"].info.state is PluginState.COMMITTED

    def test_not_a_home(self, tmp_path: Path) -> None:
        """A folder that is no home is an error naming it."""
        with pytest.raises(HostStateError, match="not a pluginhost home"):
            HostSnapshot.read(tmp_path)
