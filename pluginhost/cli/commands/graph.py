"""``pluginhost graph``: the load order of a home and who requires what, as text, JSON or DOT."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, Final

from ...host.homeview import HomeView, read_home
from ..common import EXIT_OK, home, print_json, say

__all__ = ["graph_dot", "graph_report", "run"]

# "committed" is what a home whose host never wrote a status says of its active plugins.
_ACTIVE_STATES: Final = frozenset({"active", "rolled_back", "draining", "committed"})


def run(args: argparse.Namespace) -> int:
    """Print :func:`graph_report` as lines, as JSON with ``--json`` or as DOT with ``--dot``."""
    graph = graph_report(read_home(home(args)))
    if args.json:
        print_json(graph)
    elif args.dot:
        sys.stdout.write(graph_dot(graph))
    else:
        say("load order (dependencies first): " + (" -> ".join(graph["load_order"]) or "-"))
        for name, node in graph["plugins"].items():
            needs = [_edge_text(e) for e in node["requires"]]
            needs += [_edge_text(e) + " (optional)" for e in node["optional"]]
            say(f"  {name} {node['version']} requires {', '.join(needs) or 'nothing'}")
    return EXIT_OK


def _edge_text(edge: Mapping[str, Any]) -> str:
    have = edge["active_version"]
    return f"{edge['name']} {edge['constraint']} [{have or 'not active'}]"


def graph_report(view: HomeView) -> dict[str, Any]:
    """The load order and, per plugin, what it requires and why."""
    active = {n: p for n, p in view.plugins.items() if p["state"] in _ACTIVE_STATES}
    nodes = {}
    for name in [n for n in view.load_order if n in active]:
        entry = active[name]
        nodes[name] = {
            "version": entry["version"],
            "requires": _edges(entry.get("requires", {}), active),
            "optional": _edges(entry.get("optional", {}), active),
            "required_by": sorted(n for n, p in active.items() if name in p.get("requires", {})),
        }
    return {"load_order": list(nodes), "plugins": nodes}


def _edges(
    constraints: Mapping[str, str], active: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {
            "name": dep,
            "constraint": constraint,
            "active_version": active[dep]["version"] if dep in active else None,
        }
        for dep, constraint in sorted(constraints.items())
    ]


def graph_dot(graph: Mapping[str, Any]) -> str:
    """The graph in Graphviz DOT: an edge from each plugin to what it requires."""
    lines = ["digraph plugins {", "  rankdir=LR;", "  node [shape=box];"]
    for name, node in graph["plugins"].items():
        lines.append(f"  {_q(name)} [label={_q(name + ' ' + node['version'])}];")
    for name, node in graph["plugins"].items():
        for kind, style in (("requires", "solid"), ("optional", "dashed")):
            for edge in node[kind]:
                lines.append(
                    f"  {_q(name)} -> {_q(edge['name'])} "
                    f"[label={_q(edge['constraint'])}, style={style}];"
                )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    # A JSON string is a valid DOT quoted string for the names and constraints we emit.
    return json.dumps(text)
