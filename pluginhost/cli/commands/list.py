"""``pluginhost list``: the plugins of a host's home, one row each, read from its documents."""

from __future__ import annotations

import argparse
from typing import Any

from ..common import EXIT_OK, home, print_json, say, table
from ..home import HomeView, read_home

__all__ = ["plugin_rows", "run"]


def run(args: argparse.Namespace) -> int:
    """Print the rows of :func:`plugin_rows` as a table, or as JSON with ``--json``."""
    rows = plugin_rows(read_home(home(args)))
    if args.json:
        print_json(rows)
    elif not rows:
        say("no plugins")
    else:
        header = [["NAME", "VERSION", "STATE", "ORIGIN / ERROR"]]
        body = [[_name(r), r["version"], r["state"], r["error"] or r["origin"]] for r in rows]
        table(header + body)
    return EXIT_OK


def _name(row: dict[str, Any]) -> str:
    # A status.json written before the display name was kept has the plugin's name alone.
    return str(row.get("display") or row["name"])


def plugin_rows(view: HomeView) -> list[dict[str, Any]]:
    """One row per plugin, active ones in load order first."""
    plugins = view.plugins
    names = [n for n in view.load_order if n in plugins]
    names += sorted(n for n in plugins if n not in names)
    rows = [dict(plugins[n]) for n in names]
    for row in rows:
        row.pop("history", None)
    return rows
