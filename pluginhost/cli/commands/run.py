"""``pluginhost run``: a host from a config file, telling what happens until SIGINT or SIGTERM.

It prints each event as it comes, and each problem (a plugin left out and why, a watched folder
missing) once when it appears and once when it clears. Warnings (a registry restored from its
backup, a folder that cannot be watched) go to stderr by default; ``-q`` keeps only errors,
``-v`` adds info and ``-vv`` debug logs. With ``--json`` every line on stdout is one JSON
document: an event as the audit log records it, or a problem that appeared or cleared.

While it runs, it serves ``pluginhost rollback``, ``remove``, ``unpin``, ``disable``,
``enable``, ``restart`` and ``call`` through ``HOME/control/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Final

import attrs

from ...host.config_file import HostConfig
from ...host.control import ControlServer
from ...host.statusdoc import problem_json
from ...model.events import Event
from ...model.problems import Problem, ProblemKind
from ...state.audit import record_for
from ...state.bounds import bound_strings, bound_text
from ..common import EXIT_OK, document, note, say
from ..run_options import blocked_names, start_metrics

__all__ = ["ProblemTracker", "problem_line", "run"]

_POLL: Final = 0.2


def run(args: argparse.Namespace) -> int:
    """Start the host of ``--config``, print each event and problem, stop cleanly on a signal."""
    _set_log_level(args)
    config = HostConfig.from_file(args.config)
    blocked = blocked_names(args.plugin_options)
    host = attrs.evolve(config, block=(*config.block, *blocked)).make_host()
    metrics = start_metrics(host, args.metrics_port, args.metrics_address)
    host.subscribe(lambda event: _show_event(event, as_json=args.json))
    tracker = ProblemTracker(lambda p, appeared: _show_problem(p, appeared, as_json=args.json))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host.start()
        if metrics is not None:
            note(f"metrics on {metrics[1]}")
        server = ControlServer(host)
        server.start()
        watched = ", ".join(str(f.path) for f in host.folders) or "no folder"
        note(f"serving {host.project} from {host.home} (pid {os.getpid()}), watching {watched}")
        tracker.update(host.problems())
        # A reader of stdout that went away (`run | head`) ends it too, cleanly.
        while not stop.wait(_POLL) and not getattr(sys.stdout, "reader_gone", False):
            tracker.update(host.problems())
        note("stopping")
        server.stop()
    finally:
        host.stop()
        if metrics is not None:
            metrics[0].close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    note("stopped")
    return EXIT_OK


def _set_log_level(args: argparse.Namespace) -> None:
    """Warnings by default; the events are printed here, so their own log lines are off."""
    if args.debug or args.verbose >= 2:
        level = logging.DEBUG
    elif args.verbose == 1:
        level = logging.INFO
    else:
        level = logging.ERROR if args.quiet else logging.WARNING
    logging.getLogger().setLevel(level)
    logging.getLogger("pluginhost.events").setLevel(logging.CRITICAL + 1)


class ProblemTracker:
    """Tells each problem once when it appears and once when it clears.

    :param show: called with the problem and ``True`` when it appeared, ``False`` when it
        cleared.
    """

    def __init__(self, show: Callable[[Problem, bool], None]) -> None:
        self._show = show
        self._known: dict[tuple[str, str | None, str], Problem] = {}

    def update(self, problems: Iterable[Problem]) -> None:
        """Compare ``problems`` with the last ones: tell the new, then the gone."""
        now = {(str(p.kind), p.plugin, p.message): p for p in problems}
        for key, problem in now.items():
            if key not in self._known:
                self._show(problem, True)
        for key, problem in self._known.items():
            if key not in now:
                self._show(problem, False)
        self._known = now


# Problems that keep nothing out: the plugins they name serve on (a hook no spec knows, an
# index that cannot be read or offers nothing), so their line does not say "not loaded".
_WARNINGS: Final = frozenset(
    {
        ProblemKind.UNKNOWN_HOOKS,
        ProblemKind.INDEX_UNAVAILABLE,
        ProblemKind.PROJECT_UNAVAILABLE,
        ProblemKind.NOT_ON_INDEX,
    }
)


def problem_line(problem: Problem, *, appeared: bool) -> str:
    """One line for people: ``not loaded: polite 1.1.0 requires hello ^1.0 ...`` when it
    appears (``warning: ...`` for a problem that keeps nothing out), ``cleared: ...`` when it
    is gone."""
    if not appeared:
        return f"cleared: {problem.message}"
    if problem.kind is ProblemKind.FOLDER_UNAVAILABLE:
        return f"watched folder unavailable: {problem.message}"
    if problem.kind in _WARNINGS:
        return f"warning: {problem.message}"
    return f"not loaded: {problem.message}"


# Each line is bounded as the audit log's fields are: a plugin's 20 MB error text made two
# lines of 20 MB each in the run's log.
def _show_event(event: Event, *, as_json: bool) -> None:
    if as_json:
        _json_line({"type": "event", **record_for(event).to_json()})
    else:
        say(f"{_clock()}  {bound_text(event.describe())}")


def _show_problem(problem: Problem, appeared: bool, *, as_json: bool) -> None:
    if as_json:
        change = "appeared" if appeared else "cleared"
        now = datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="milliseconds")
        _json_line({"type": "problem", "change": change, "time": now, **problem_json(problem)})
    else:
        say(f"{_clock()}  {bound_text(problem_line(problem, appeared=appeared))}")


def _json_line(data: dict[str, Any]) -> None:
    data.pop("prev", None)  # the audit log's chain: no meaning outside the log
    say(json.dumps(document(bound_strings(data)), sort_keys=False))


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handle
