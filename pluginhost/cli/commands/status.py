"""``pluginhost status NAME``: one plugin of a host's home, with its history and backups."""

from __future__ import annotations

import argparse
import time
from collections.abc import Collection, Mapping
from typing import Any

from packaging.utils import canonicalize_name

from ...host.homeview import read_home
from ...host.snapshot import HostSnapshot
from ...host.statusdoc import history_json, info_json
from ...model.errors import HostStateError
from ...model.names import plugin_name
from ...model.problems import ProblemKind
from ..common import EXIT_OK, home, print_json, say
from .list import home_line, host_json

__all__ = ["plugin_status", "run", "status_lines"]


def run(args: argparse.Namespace) -> int:
    """Print the plugin's :func:`plugin_status` as lines, or as JSON with ``--json``."""
    view = read_home(home(args))
    snapshot = HostSnapshot.from_view(view)
    entry = plugin_status(snapshot, args.name, removed=(view.registry or {}).get("removed", ()))
    if args.json:
        print_json({"host": host_json(snapshot), **entry})
        return EXIT_OK
    for line in filter(None, [home_line(snapshot)]):
        say(line)
    for line in status_lines(entry):
        say(line)
    return EXIT_OK


def plugin_status(
    snapshot: HostSnapshot, name: str, *, removed: Collection[str] = ()
) -> dict[str, Any]:
    """The plugin's entry with its history and backups, and whether a rollback is possible.

    :param removed: the plugins removed from the home, named when asked for.

    :raises HostStateError: when the home knows no plugin of that name.
    """
    key = plugin_name(name)
    status = snapshot.plugins.get(key)
    if status is None:
        why = " (it was removed)" if key in removed else ""
        raise HostStateError(f"no plugin named {key!r} on {snapshot.home}{why}", plugin=key)
    return {
        **info_json(status.info),
        "history": [history_json(h) for h in status.history],
        "backups": list(status.backups),
        "rollback_available": status.rollback_available,
        "pending": pending(snapshot, key, status.info.distribution),
    }


def pending(snapshot: HostSnapshot, name: str, distribution: str | None) -> list[str]:
    """Why newer releases of the plugin on a followed index do not serve here yet (the
    staged rollout), one line each."""
    ours = {name, canonicalize_name(distribution or name)}
    return [
        p.message
        for p in snapshot.problems
        if p.kind is ProblemKind.ROLLOUT and p.plugin is not None and p.plugin in ours
    ]


def status_lines(entry: Mapping[str, Any]) -> list[str]:
    """A :func:`plugin_status` entry as lines for people."""
    requires = ", ".join(f"{k} {v}" for k, v in entry["requires"].items()) or "-"
    fields = (
        ("origin", entry["origin"]),
        ("distribution", entry["distribution"]),
        ("entry points", ", ".join(entry.get("entry_points", ())) or "-"),
        ("requires", requires),
        ("site dir", entry["site_dir"] or "-"),
        ("sha256", entry["sha256"] or "-"),
        ("backups", ", ".join(entry["backups"]) or "none (no rollback available)"),
        ("error", entry["error"] or "-"),
    )
    # Marked as `list` marks it: the version is still the one registered, its calls failing.
    state = f"{entry['state']} (quarantined)" if entry.get("quarantined") else entry["state"]
    lines = [f"{entry.get('display') or entry['name']} {entry['version']}: {state}"]
    if entry.get("pinned"):
        lines.append(f"  {'pinned':<13}yes: newer versions wait for `pluginhost unpin`")
    lines += [f"  {label:<13}{value}" for label, value in (*fields[:3], *_process(entry))]
    lines += [f"  {label:<13}{value}" for label, value in fields[3:]]
    lines += [f"  {'pending':<13}{line}" for line in entry.get("pending", ())]
    lines.append("  history:")
    for h in entry["history"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["time"]))
        error = f" ({h['error']})" if h["error"] else ""
        lines.append(f"    {when}  {h['outcome']} {h['version']}{error}")
    return lines


def _process(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The lines of a process plugin: its worker, its restarts and its limits."""
    if entry.get("isolation") != "process":
        return []
    pid = entry.get("pid")
    worker = f"pid {pid}" if pid is not None else "none (restarting)"
    if entry.get("quarantined"):
        worker = "none (quarantined after repeated crashes)"
    limits = entry.get("limits") or {}
    shown = ", ".join(f"{k}={v}" for k, v in limits.items() if v is not None)
    return [
        ("isolation", "process"),
        ("worker", f"{worker}, {entry.get('restarts', 0)} restart(s)"),
        ("limits", shown or "none"),
    ]
