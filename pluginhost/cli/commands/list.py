"""``pluginhost list``: the plugins of a host's home, one row each, read from its documents."""

from __future__ import annotations

import argparse
from typing import Any

from ..common import EXIT_OK, home, print_json, say, table
from ..home import HomeView, read_home

__all__ = ["plugin_rows", "run"]


def run(args: argparse.Namespace) -> int:
    """Print the rows of :func:`plugin_rows` as a table, or as JSON with ``--json``."""
    view = read_home(home(args))
    rows = plugin_rows(view)
    if args.json:
        print_json({"host": view.host_json(), "plugins": rows})
        return EXIT_OK
    stopped = view.stopped_line()
    if stopped is not None:
        say(stopped)
    if not rows:
        say("no plugins")
    else:
        header = [["NAME", "VERSION", "STATE", "ORIGIN / ERROR"]]
        body = [[r["name"], r["version"], r["state"], r["error"] or r["origin"]] for r in rows]
        table(header + body)
    return EXIT_OK


def plugin_rows(view: HomeView) -> list[dict[str, Any]]:
    """One row per plugin, active ones in load order first."""
    plugins = view.plugins
    names = [n for n in view.load_order if n in plugins]
    names += sorted(n for n in plugins if n not in names)
    rows = [dict(plugins[n]) for n in names]
    for row in rows:
        row.pop("history", None)
    return rows
