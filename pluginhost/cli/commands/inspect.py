"""``pluginhost inspect``: what a wheel declares and what would refuse it, without importing it.

It runs the checks a host runs before installing: every rule of
:func:`~pluginhost.discover.wheel.inspect_wheel` (archive, paths, RECORD hashes, metadata,
tags), the entry point and the manifest
(:func:`~pluginhost.discover.candidates.candidate_from_wheel`), and, given an API version, the
manifest's ``host`` constraint.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ...discover.candidates import candidate_from_wheel, inspect_plugin_wheel
from ...discover.wheel import Inspection, WheelInfo
from ...model.errors import ManifestError, VersionError, WheelError
from ...model.versions import Version, parse_version
from ..common import EXIT_OK, EXIT_PROBLEMS, UsageError, print_json, say

__all__ = ["describe", "inspect_file", "run"]

_GROUP_SUFFIX = ".plugins"


def run(args: argparse.Namespace) -> int:
    """Inspect each wheel and print what it declares; exit 3 when any would be refused.

    :raises UsageError: when ``--api-version`` is not a version.
    """
    group = args.group or (f"{args.project}.plugins" if args.project else None)
    try:
        reports = [inspect_file(p, group=group, api_version=args.api_version) for p in args.wheels]
    except VersionError as exc:
        raise UsageError(f"--api-version: {exc.reason}") from exc
    if args.json:
        print_json(reports)
    for report in [] if args.json else reports:
        for line in describe(report):
            say(line)
    return EXIT_OK if all(r["ok"] for r in reports) else EXIT_PROBLEMS


def inspect_file(path: Path, *, group: str | None, api_version: str | None) -> dict[str, Any]:
    """Inspect one wheel; never raises for a bad wheel, it lists the refusals instead.

    :param group: the host's entry-point group; ``None`` takes the wheel's ``*.plugins`` group.
    :param api_version: the host API version to check the ``host`` constraint against.
    :raises VersionError: when ``api_version`` is not a version.
    """
    api = parse_version(api_version) if api_version is not None else None
    report: dict[str, Any] = {"path": str(path), "ok": False, "refused": []}
    try:
        # A link named on the command line is followed, as install() follows it; what is read
        # then is a regular file only: a FIFO or a device is refused at once, not waited on.
        inspection = inspect_plugin_wheel(Path(os.path.realpath(path)))
    except WheelError as exc:
        report["refused"].append(exc.reason)
        return report
    info = inspection.info
    report.update(_wheel_json(info))
    groups = sorted({ep.group for ep in info.entry_points if ep.group.endswith(_GROUP_SUFFIX)})
    chosen = group or (groups[0] if len(groups) == 1 else None)
    if chosen is None:
        report["refused"].append(_no_group(groups))
        return report
    report["group"] = chosen
    _add_plugin(report, inspection, chosen, api)
    report["ok"] = not report["refused"]
    return report


def _no_group(groups: list[str]) -> str:
    if groups:
        return f"declares plugins for several hosts ({', '.join(groups)}); choose with --group"
    return "declares no entry point in a '*.plugins' group: not a plugin (a support wheel)"


def _add_plugin(
    report: dict[str, Any], inspection: Inspection, group: str, api: Version | None
) -> None:
    try:
        candidate = candidate_from_wheel(inspection, group)
    except (ManifestError, WheelError) as exc:
        report["refused"].append(str(exc))
        return
    if candidate is None:
        report["refused"].append(
            f"declares no entry point in group {group!r}: not a plugin of this host"
        )
        return
    manifest = candidate.manifest
    report["plugin"] = {
        "name": manifest.name,
        "version": str(manifest.version),
        "host": str(manifest.host),
        "requires": {k: str(v) for k, v in manifest.requires.items()},
        "optional": {k: str(v) for k, v in manifest.optional.items()},
        "manifest": manifest.path,
        "display": candidate.display,
        "entry_points": [{"name": ep.name, "value": ep.value} for ep in candidate.entry_points],
    }
    # The same test the resolver applies (prereleases of the host API match on order).
    if api is not None and not manifest.host.allows(api, prerelease=True):
        report["refused"].append(
            f"{manifest.name} {manifest.version} requires host API {manifest.host}, "
            f"the host provides {api}"
        )


def _wheel_json(info: WheelInfo) -> dict[str, Any]:
    return {
        "distribution": info.distribution,
        "version": info.version,
        "sha256": info.sha256,
        "tags": list(info.tags),
        "requires_python": info.requires_python,
        "requires_dist": list(info.requires_dist),
        "top_level": list(info.top_level),
        "entry_points": [
            {"group": ep.group, "name": ep.name, "value": ep.value} for ep in info.entry_points
        ],
    }


def describe(report: dict[str, Any]) -> list[str]:
    """A report of :func:`inspect_file` as lines for people."""
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
