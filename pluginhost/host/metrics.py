"""Prometheus metrics of a host, fed by its events (``pip install pluginhost[metrics]``).

Only :mod:`prometheus_client` is needed, and only by this module: the host itself never
imports it. Everything is counted from the events the host emits to its subscribers, so the
hot path stays pluggy's: an in-process hook call is never metered. ``pluginhost run
--metrics-port N`` serves them (loopback by default); in a program of your own::

    metrics = HostMetrics(host)          # subscribes; metrics.close() unsubscribes
    metrics.serve(9464)                  # or expose metrics.registry your own way

The metrics, named by Prometheus conventions:

- ``pluginhost_loads_total{result="ok"|"failed"}``: first loads of a plugin (a restore at
  start included);
- ``pluginhost_swaps_total{result="ok"|"failed"}``: updates of a serving plugin to another
  version (failed: undone, the old version serves on); the dependents re-imported at their
  own version with it are part of that one swap;
- ``pluginhost_rollbacks_total{result="ok", trigger="explicit"|"failure"}``: returns to an
  earlier version, asked for (``host.rollback``) or after a failed change;
- ``pluginhost_refusals_total{reason}``: wheels and manifests refused (``wheel_invalid``,
  ``untrusted``, ``manifest_invalid``, ... or the error's type);
- ``pluginhost_swap_duration_seconds``: from the start of an update to its end, drain included;
- ``pluginhost_drain_duration_seconds``: how long calls still running the replaced version
  were waited for;
- ``pluginhost_plugins{state}``: plugins by state, read from the host when scraped.

Process plugins (in worker processes): each ``restarted`` event counts in
``pluginhost_process_restarts_total{plugin}`` (:meth:`HostMetrics.process_restarted`), and
each call into a worker is timed in ``pluginhost_process_call_duration_seconds{plugin}``
(:meth:`HostMetrics.process_call`: a call crossing a socket is worth timing, unlike an
in-process one, which stays untimed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from ..model.events import Event, EventKind
from ..model.status import PluginState

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

    from .host import PluginHost

__all__ = ["HostMetrics"]

#: Swaps take milliseconds when idle, seconds when calls hold the interpreter lock.
_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _PluginStates:
    """``pluginhost_plugins{state}``, counted from the host's view at each scrape (a collector
    as prometheus_client takes one: an object with ``collect()``)."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415  (see HostMetrics)

        counts = dict.fromkeys((str(s) for s in PluginState), 0)
        for info in self._host.plugins.values():  # a snapshot: no lock taken
            counts[str(info.state)] += 1
        family = GaugeMetricFamily("pluginhost_plugins", "Plugins by state.", labels=["state"])
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


class HostMetrics:
    """The metrics of one host, kept up to date from its events.

    :param host: the host to watch (subscribed to at once).
    :param registry: where the metrics are registered; default a registry of their own, so
        that two hosts in one process do not clash.
    :raises ImportError: naming the extra to install, without prometheus_client (this module
        imports it only here, so that ``help(pluginhost)`` and ``from pluginhost import *``
        work without it).
    """

    def __init__(self, host: PluginHost, registry: CollectorRegistry | None = None) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                f"HostMetrics needs prometheus_client ({exc}): pip install 'pluginhost[metrics]'"
            ) from exc
        self.registry: Final = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.loads: Final = Counter("pluginhost_loads", "First loads.", ["result"], registry=r)
        self.swaps: Final = Counter("pluginhost_swaps", "Updates.", ["result"], registry=r)
        self.rollbacks: Final = Counter(
            "pluginhost_rollbacks", "Rollbacks.", ["result", "trigger"], registry=r
        )
        self.refusals: Final = Counter(
            "pluginhost_refusals", "Wheels refused.", ["reason"], registry=r
        )
        self.swap_seconds: Final = Histogram(
            "pluginhost_swap_duration_seconds", "Update duration.", buckets=_BUCKETS, registry=r
        )
        self.drain_seconds: Final = Histogram(
            "pluginhost_drain_duration_seconds", "Drain duration.", buckets=_BUCKETS, registry=r
        )
        self.process_restarts: Final = Counter(
            "pluginhost_process_restarts", "Process plugin restarts.", ["plugin"], registry=r
        )
        self.process_call_seconds: Final = Histogram(
            "pluginhost_process_call_duration_seconds",
            "Process plugin call duration.",
            ["plugin"],
            buckets=_BUCKETS,
            registry=r,
        )
        r.register(_PluginStates(host))
        # When each plugin's change started, for the swap duration.
        self._started: dict[str, float] = {}
        self._server: Any = None
        self._unsubscribe = host.subscribe(self.record)
        self._stop_timing = host.time_process_calls(self.process_call)

    def record(self, event: Event) -> None:
        """An event subscriber: count ``event``."""
        kind, plugin = event.kind, event.plugin or ""
        if kind is EventKind.LOADING:
            self._started[plugin] = event.time
        elif kind is EventKind.LOADED:
            self.loads.labels("ok").inc()
        elif kind is EventKind.LOAD_FAILED:
            (self.swaps if event.previous_version else self.loads).labels("failed").inc()
        elif kind is EventKind.UPDATED and event.previous_version == event.version:
            # A dependent re-imported at the same version: part of another plugin's swap.
            self._started.pop(plugin, None)
        elif kind is EventKind.UPDATED:
            self.swaps.labels("ok").inc()
            self._timed(event)
        elif kind is EventKind.ROLLED_BACK:
            trigger = "failure" if event.error else "explicit"
            self.rollbacks.labels("ok", trigger).inc()
            if not event.error:
                self._timed(event)
        elif kind is EventKind.RESTARTED:
            self.process_restarted(plugin)
        elif kind in (EventKind.REFUSED, EventKind.MANIFEST_INVALID):
            self.refusals.labels(_reason(event)).inc()

    def _timed(self, event: Event) -> None:
        started = self._started.pop(event.plugin or "", None)
        if started is not None:
            self.swap_seconds.observe(max(0.0, event.time - started))
        if event.drain_seconds is not None:
            self.drain_seconds.observe(event.drain_seconds)

    # -- the hook for process plugins ---------------------------------------------------------

    def process_restarted(self, plugin: str) -> None:
        """A process plugin's worker was restarted (for the process-isolation supervisor)."""
        self.process_restarts.labels(plugin).inc()

    def process_call(self, plugin: str, seconds: float) -> None:
        """A call to a process plugin took ``seconds`` (for the process-isolation proxies)."""
        self.process_call_seconds.labels(plugin).observe(seconds)

    # -- serving -------------------------------------------------------------------------------

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP on a daemon thread (``port`` 0: any free port).

        :returns: the port it listens on.
        :raises OSError: when the address cannot be bound.
        """
        from prometheus_client.exposition import start_http_server  # noqa: PLC0415

        server, _thread = start_http_server(port, address, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        """Stop serving and stop counting."""
        self._unsubscribe()
        self._stop_timing()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _reason(event: Event) -> str:
    """A refusal's reason as a label: a bounded set of words, never free text."""
    if event.step:
        return event.step
    if event.error_type:
        return event.error_type.rpartition(".")[2]
    return str(event.kind)
