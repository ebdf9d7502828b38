"""``pluginhost list``: the plugins of a host's home, one row each (:class:`HostSnapshot`)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ...host.snapshot import HostSnapshot
from ...host.statusdoc import STATUS_FILE, info_json
from ..common import EXIT_OK, home, print_json, say, table

__all__ = ["home_line", "host_json", "plugin_rows", "run"]


def run(args: argparse.Namespace) -> int:
    """Print the rows of :func:`plugin_rows` as a table, or as JSON with ``--json``."""
    snapshot = HostSnapshot.read(home(args))
    rows = plugin_rows(snapshot)
    if args.json:
        print_json({"host": host_json(snapshot), "plugins": rows})
        return EXIT_OK
    line = home_line(snapshot)
    if line is not None:
        say(line)
    if not rows:
        say("no plugins")
    else:
        header = [["NAME", "VERSION", "STATE", "ORIGIN / ERROR"]]
        body = [[_name(r), r["version"], _state(r), r["error"] or r["origin"]] for r in rows]
        table(header + body)
    return EXIT_OK


def _name(row: dict[str, Any]) -> str:
    # A status.json written before the display name was kept has the plugin's name alone.
    return str(row.get("display") or row["name"])


def _state(row: dict[str, Any]) -> str:
    """The state, and beside it what holds the plugin there: a quarantined process plugin is
    still the version registered (its calls fail at once, with why), and a pinned one stays at
    its version whatever newer wheels come (until ``pluginhost unpin``)."""
    marks = [mark for mark in ("quarantined", "pinned") if row.get(mark)]
    return f"{row['state']} ({', '.join(marks)})" if marks else str(row["state"])


def plugin_rows(snapshot: HostSnapshot) -> list[dict[str, Any]]:
    """One row per plugin, active ones in load order first."""
    plugins = snapshot.plugins
    names = [n for n in snapshot.load_order if n in plugins]
    names += sorted(n for n in plugins if n not in names)
    return [{**info_json(plugins[n].info), "backups": list(plugins[n].backups)} for n in names]


def host_json(snapshot: HostSnapshot) -> dict[str, Any]:
    """Whether a host runs on the home, and which: its pid, or the last host's."""
    return {"running": snapshot.running, "pid": snapshot.pid, "last_seen": snapshot.updated}


def home_line(snapshot: HostSnapshot) -> str | None:
    """The line before the plugins when they are not a running host's own status: ``host not
    running (last seen ...)``, or, while a host runs, its status document unreadable (the
    registry's plugins are shown, which may lag behind it). ``None`` otherwise."""
    unreadable = snapshot.errors.get(STATUS_FILE)
    if snapshot.running:
        if unreadable is None:
            return None
        return (
            f"host running (pid {snapshot.pid}), but {STATUS_FILE} {unreadable}: {_shown(snapshot)}"
        )
    if unreadable is not None or snapshot.updated is None:
        why = f"{STATUS_FILE} {unreadable}" if unreadable is not None else "no status written"
        return f"host not running ({why}: {_shown(snapshot)})"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.updated))
    return f"host not running (last seen {when}, pid {snapshot.pid})"


def _shown(snapshot: HostSnapshot) -> str:
    """What is shown in place of the status document."""
    registry = snapshot.errors.get("registry.json")
    if registry is None:
        return "the registry's plugins are shown"
    return f"registry.json cannot be read either: {registry}"
