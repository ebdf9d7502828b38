"""Two options of ``pluginhost run``: ``-p no:NAME`` (block a plugin, as pytest's ``-p no:``)
and ``--metrics-port N`` (serve Prometheus metrics, with ``pluginhost[metrics]``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .common import UsageError

if TYPE_CHECKING:
    from ..host.host import PluginHost
    from ..host.metrics import HostMetrics

__all__ = ["add_run_options", "blocked_names", "start_metrics"]


def add_run_options(run: argparse.ArgumentParser) -> None:
    """Add ``-p`` and ``--metrics-port``/``--metrics-address`` to the ``run`` parser."""
    run.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        default=[],
        metavar="no:NAME",
        help="do not load plugin NAME (added to the config's block list); repeatable",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve Prometheus metrics on http://ADDRESS:N/metrics (needs pluginhost[metrics])",
    )
    run.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to serve metrics on (default 127.0.0.1: this machine only)",
    )


def blocked_names(values: Sequence[str]) -> tuple[str, ...]:
    """The plugin names of ``-p no:NAME`` options.

    :raises UsageError: for a value that is not ``no:NAME``.
    """
    names = []
    for value in values:
        prefix, _, name = value.partition(":")
        if prefix != "no" or not name:
            raise UsageError(f"-p {value}: only -p no:NAME is understood (block plugin NAME)")
        names.append(name)
    return tuple(names)


def start_metrics(
    host: PluginHost, port: int | None, address: str
) -> tuple[HostMetrics, str] | None:
    """Count ``host``'s events and serve them when ``port`` is given: the metrics, and where
    they are served (told once the host has started: a start that fails serves nothing).

    :raises UsageError: when prometheus_client is not installed.
    :raises OSError: when the address cannot be bound.
    """
    if port is None:
        return None
    from ..host.metrics import HostMetrics

    try:
        metrics = HostMetrics(host)
    except ImportError as exc:
        raise UsageError(f"--metrics-port: {exc}") from exc
    try:
        bound = metrics.serve(port, address)
    except OSError:
        metrics.close()
        raise
    return metrics, f"http://{address}:{bound}/metrics"
