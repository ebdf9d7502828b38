"""``pluginhost inspect``: what a wheel declares and what would refuse it, without importing it
(:class:`~pluginhost.WheelReport`)."""

from __future__ import annotations

import argparse
from typing import Any

from ...discover.report import WheelReport
from ...model.errors import VersionError
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, print_json, say

__all__ = ["describe", "run"]


def run(args: argparse.Namespace) -> int:
    """Inspect each wheel and print what it declares; exit 3 when any would be refused.

    :raises UsageError: when ``--api-version`` is not a version, or a path names no file or
        a directory.
    """
    group = args.group or (f"{args.project}.plugins" if args.project else None)
    for path in args.wheels:
        # A path that names no file is a mistake on the command line, not a wheel to refuse.
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        if path.is_dir():
            raise UsageError(f"{path}: is a directory, not a wheel")
    try:
        reports = [
            WheelReport.read(p, group=group, api_version=args.api_version).to_json()
            for p in args.wheels
        ]
    except VersionError as exc:
        raise UsageError(f"--api-version: {exc.reason}") from exc
    if args.json:
        print_json({"ok": all(r["ok"] for r in reports), "wheels": reports})
    for report in [] if args.json else reports:
        for line in describe(report):
            say(line)
    return EXIT_OK if all(r["ok"] for r in reports) else EXIT_PROBLEMS


def describe(report: dict[str, Any]) -> list[str]:
    """A :meth:`WheelReport.to_json` as lines for people."""
    lines = [f"{report['path']}: {'ok' if report['ok'] else 'REFUSED'}"]
    if "distribution" in report:
        lines += [
            f"  distribution   {report['distribution']} {report['version']}",
            f"  sha256         {report['sha256']}",
            f"  top-level      {', '.join(report['top_level']) or '-'}",
            f"  Requires-Dist  {', '.join(report['requires_dist']) or '-'}",
        ]
    plugin = report.get("plugin")
    if plugin is not None:
        lines.append(f"  plugin         {plugin['name']} {plugin['version']} ({report['group']})")
        eps = ", ".join(f"{ep['name']} = {ep['value']}" for ep in plugin["entry_points"])
        lines.append(f"  entry points   {eps}")
        lines.append(f"  host           {plugin['host']}")
        for kind in ("requires", "optional"):
            deps = ", ".join(f"{k} {v}" for k, v in plugin[kind].items())
            lines.append(f"  {kind:<14} {deps or '-'}")
        lines.append(f"  manifest       {plugin['manifest'] or '(none: defaults)'}")
    lines += [f"  refused: {reason}" for reason in report["refused"]]
    return lines
