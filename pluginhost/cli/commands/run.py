"""``pluginhost run``: a host from a config file, logging its events until SIGINT or SIGTERM.

While it runs, it serves ``pluginhost rollback`` and ``remove`` through ``HOME/control/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import attrs

from ...host.config_file import HostConfig
from ...host.control import ControlServer
from ...model.events import Event
from ..common import EXIT_OK, note, say
from ..run_options import blocked_names, start_metrics

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Start the host of ``--config``, print each event, stop cleanly on a signal."""
    config = HostConfig.from_file(args.config)
    blocked = blocked_names(args.plugin_options)
    host = attrs.evolve(config, block=(*config.block, *blocked)).make_host()
    metrics = start_metrics(host, args.metrics_port, args.metrics_address)

    def show(event: Event) -> None:
        if args.json:
            print(json.dumps({"kind": str(event.kind), "text": event.describe()}), flush=True)
        else:
            say(f"{time.strftime('%H:%M:%S')}  {event.describe()}")

    host.subscribe(show)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host.start()
        server = ControlServer(host)
        server.start()
        watched = ", ".join(str(f.path) for f in host.folders) or "no folder"
        note(f"serving {host.project} from {host.home} (pid {os.getpid()}), watching {watched}")
        while not stop.wait(0.2):
            pass
        note("stopping")
        server.stop()
    finally:
        host.stop()
        if metrics is not None:
            metrics.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    note("stopped")
    return EXIT_OK


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handle
