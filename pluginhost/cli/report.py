"""Reports on a host's home for the CLI: ``list``, ``status``, ``graph``, read from disk.

Everything here only reads, and may run while a host works on the home: each report comes from
one document (``status.json``, or the registry when a host never wrote a status), and documents
are replaced atomically, so a report is always one consistent snapshot, never half of a change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..host.statusdoc import STATUS_FILE
from ..model.errors import HostStateError, PluginHostError, StoreError
from ..model.names import plugin_name
from ..state.store import HomeLock
from ..state.store import _read_copy as read_copy  # the checksummed read, without any clean-up
from ..state.store import _UnusableCopyError as UnusableCopyError

__all__ = [
    "HomeView",
    "graph_dot",
    "graph_report",
    "plugin_rows",
    "plugin_status",
    "read_home",
    "status_lines",
]

ACTIVE_STATES = frozenset({"active", "rolled_back", "draining"})


@attrs.frozen
class HomeView:
    """What the documents of a home say, read once.

    :param holder: the pid of the host holding the home's lock, if one does.
    :param status: the status document's data, if it could be read.
    :param registry: the registry's data, if it could be read.
    :param errors: why a document could not be read, by file name.
    """

    home: Path
    holder: int | None
    status: Mapping[str, Any] | None
    registry: Mapping[str, Any] | None
    errors: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def plugins(self) -> Mapping[str, Mapping[str, Any]]:
        """Each plugin the host knows, by name: from the status, or the registry's active set."""
        if self.status is not None:
            plugins: Mapping[str, Mapping[str, Any]] = self.status.get("plugins", {})
            return plugins
        if self.registry is not None:
            return {r["candidate"]["name"]: _record_plugin(r) for r in self.registry["active"]}
        return {}

    @property
    def load_order(self) -> list[str]:
        if self.status is not None:
            return list(self.status.get("load_order", []))
        return list(self.plugins)


def read_document(path: Path) -> Any | None:
    """A checksummed document (main copy, else its backup) without writing anything.

    :raises StoreError: when a copy exists but neither is usable.
    """
    try:
        return read_copy(path)
    except UnusableCopyError as main:
        try:
            return read_copy(path.with_name(path.name + ".bak"))
        except UnusableCopyError as bak:
            if main.missing and bak.missing:
                return None
            raise StoreError(f"unusable: {main.reason}; backup {bak.reason}", path=path) from None


def read_home(home: Path) -> HomeView:
    """Read a home's documents once.

    :raises HostStateError: when ``home`` is not a pluginhost home at all.
    """
    if not (home / "lock").exists() and not (home / "registry.json").exists():
        raise HostStateError("not a pluginhost home (no lock, no registry.json)", path=home)
    errors: dict[str, str] = {}
    documents: dict[str, Any] = {}
    for name in (STATUS_FILE, "registry.json"):
        try:
            documents[name] = read_document(home / name)
        except PluginHostError as exc:
            errors[name] = exc.reason
    return HomeView(
        home=home,
        holder=HomeLock.holder(home),
        status=documents.get(STATUS_FILE),
        registry=documents.get("registry.json"),
        errors=errors,
    )


def _record_plugin(record: Mapping[str, Any]) -> dict[str, Any]:
    """A registry record shaped like a status document's plugin entry."""
    c = record["candidate"]
    origin = c["origin"]
    return {
        "name": c["name"],
        "version": c["version"],
        "state": "committed",
        "origin": origin.get("wheel") or origin.get("distribution", ""),
        "distribution": c["distribution"],
        "requires": c["requires"],
        "optional": c["optional"],
        "site_dir": record["site_dir"],
        "sha256": origin.get("sha256"),
        "error": None,
        "history": [],
        "backups": [],
    }


def plugin_rows(view: HomeView) -> list[dict[str, Any]]:
    """``pluginhost list``: one row per plugin, active ones in load order first."""
    plugins = view.plugins
    names = [n for n in view.load_order if n in plugins]
    names += sorted(n for n in plugins if n not in names)
    rows = [dict(plugins[n]) for n in names]
    for row in rows:
        row.pop("history", None)
    return rows


def plugin_status(view: HomeView, name: str) -> dict[str, Any]:
    """``pluginhost status NAME``: the plugin's entry with its history and backups.

    :raises HostStateError: when the home knows no plugin of that name.
    """
    key = plugin_name(name)
    entry = view.plugins.get(key)
    if entry is None:
        removed = (view.registry or {}).get("removed", [])
        why = " (it was removed)" if key in removed else ""
        raise HostStateError(f"no plugin named {key!r} on {view.home}{why}", plugin=key)
    return {**entry, "rollback_available": bool(entry.get("backups"))}


def status_lines(entry: Mapping[str, Any]) -> list[str]:
    """A :func:`plugin_status` entry as lines for people."""
    requires = ", ".join(f"{k} {v}" for k, v in entry["requires"].items()) or "-"
    fields = (
        ("origin", entry["origin"]),
        ("distribution", entry["distribution"]),
        ("requires", requires),
        ("site dir", entry["site_dir"] or "-"),
        ("sha256", entry["sha256"] or "-"),
        ("backups", ", ".join(entry["backups"]) or "none (no rollback available)"),
        ("error", entry["error"] or "-"),
    )
    lines = [f"{entry['name']} {entry['version']}: {entry['state']}"]
    lines += [f"  {label:<13}{value}" for label, value in fields]
    lines.append("  history:")
    for h in entry["history"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["time"]))
        error = f" ({h['error']})" if h["error"] else ""
        lines.append(f"    {when}  {h['outcome']} {h['version']}{error}")
    return lines


def graph_report(view: HomeView) -> dict[str, Any]:
    """``pluginhost graph``: the load order and, per plugin, what it requires and why."""
    plugins = view.plugins
    active = {n: p for n, p in plugins.items() if p["state"] in ACTIVE_STATES | {"committed"}}
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
