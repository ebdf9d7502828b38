"""Prometheus metrics fed by a host's events (pluginhost.host.metrics)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import greet_code, wait_for
from processhost import build, counter

from pluginhost import HostMetrics, PluginCrashedError, PluginHost
from pluginhost.testing import WheelFactory


@pytest.fixture
def metered(make_host: Callable[..., PluginHost]) -> Iterator[tuple[PluginHost, HostMetrics]]:
    """A host not started yet, with its metrics attached."""
    host = make_host(start=False)
    metrics = HostMetrics(host)
    yield host, metrics
    metrics.close()


def value(metrics: HostMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


class TestHostMetrics:
    def test_loads_swaps_rollbacks_and_states(
        self, metered: tuple[PluginHost, HostMetrics], factory: WheelFactory, tmp_path: Path
    ) -> None:
        """A load, a swap, a failed swap (rolled back automatically) and an explicit rollback
        are counted; swap and drain durations observed; plugins counted by state."""
        host, metrics = metered
        factory.build("hello", "1.0.0", code=greet_code("one"))
        factory.build("needy", "0.1.0", requires={"translator": "^2.0"})
        host.start()
        assert value(metrics, "pluginhost_loads_total", result="ok") == 1
        # Installed from a folder the host does not watch: each is tried once, by install().
        out = WheelFactory(tmp_path / "out")
        host.install(out.build("hello", "1.1.0", code=greet_code("two")))
        assert value(metrics, "pluginhost_swaps_total", result="ok") == 1
        assert value(metrics, "pluginhost_swap_duration_seconds_count") == 1
        assert value(metrics, "pluginhost_drain_duration_seconds_count") == 1
        broken = out.build("hello", "1.2.0", code="raise RuntimeError('broken')")
        with pytest.raises(Exception, match="broken"):
            host.install(broken)
        assert value(metrics, "pluginhost_swaps_total", result="failed") == 1
        assert value(metrics, "pluginhost_rollbacks_total", result="ok", trigger="failure") == 1
        host.rollback("hello")
        assert value(metrics, "pluginhost_rollbacks_total", result="ok", trigger="explicit") == 1
        assert value(metrics, "pluginhost_plugins", state="rolled_back") == 1
        assert value(metrics, "pluginhost_plugins", state="failed") == 1
        assert value(metrics, "pluginhost_plugins", state="active") == 0

    def test_refusals_by_reason(
        self, metered: tuple[PluginHost, HostMetrics], factory: WheelFactory
    ) -> None:
        """A wheel refused by validation counts under its reason."""
        host, metrics = metered
        factory.build("bad", broken="bad-record-hash")
        host.start()
        assert value(metrics, "pluginhost_refusals_total", reason="wheel_invalid") == 1

    def test_process_plugins(
        self, metered: tuple[PluginHost, HostMetrics], factory: WheelFactory
    ) -> None:
        """Calls into a worker are timed, and its restarts after a crash counted."""
        host, metrics = metered
        build(factory, "counter", code=counter())
        host.start()
        host.hook.greet(name="a")
        host.hook.greet(name="b")
        samples = "pluginhost_process_call_duration_seconds_count"
        assert value(metrics, samples, plugin="counter") == 2
        with pytest.raises(PluginCrashedError):
            host.hook.greet(name="exit")
        wait_for(lambda: host.plugins["counter"].restarts == 1)
        wait_for(lambda: value(metrics, "pluginhost_process_restarts_total", plugin="counter") == 1)
        metrics.close()
        host.hook.greet(name="c")
        assert value(metrics, samples, plugin="counter") == 3  # the crashed call, timed too

    def test_hook_calls_are_not_metered(
        self, metered: tuple[PluginHost, HostMetrics], factory: WheelFactory
    ) -> None:
        """In-process hook calls go through pluggy untouched: no sample moves."""
        host, metrics = metered
        factory.build("hello", code=greet_code("one"))
        host.start()
        before = list(metrics.registry.collect())
        for _ in range(10):
            host.hook.greet(name="x")
        assert list(metrics.registry.collect()) == before

    def test_serve_and_close(self, metered: tuple[PluginHost, HostMetrics]) -> None:
        """serve(0) listens on a free loopback port; close() stops it."""
        _host, metrics = metered
        port = metrics.serve(0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        assert 'pluginhost_plugins{state="active"} 0.0' in text
        metrics.close()
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


WITHOUT_PROMETHEUS = """
import sys
sys.modules["prometheus_client"] = None  # as if the metrics extra were not installed
import pydoc
import pluginhost
from pluginhost import *
assert "HostMetrics(host: " in pydoc.render_doc(pluginhost)
try:
    HostMetrics(PluginHost("greeter", (), home=sys.argv[1], environment=False))
except ImportError as exc:
    print(exc)
"""


def test_without_the_metrics_extra(tmp_path: Path) -> None:
    """Without prometheus_client, the public surface imports (``help(pluginhost)`` printed
    only ``No module named 'prometheus_client'``, and ``from pluginhost import *`` raised) and
    HostMetrics says which extra it needs."""
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS, str(tmp_path / "home")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "pip install 'pluginhost[metrics]'" in run.stdout
