"""What makes a distribution a plugin candidate: one entry point in the host's group, and the
``plugin.toml`` beside its module (or a default manifest), read from the bytes validated."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

from ..model.candidate import Candidate, WheelOrigin
from ..model.errors import ManifestError, WheelError
from ..model.manifest import MANIFEST_NAME, Manifest
from .archive import WheelBytes, WheelLimits
from .wheel import Inspection, inspect_members

__all__ = [
    "candidate_from_wheel",
    "inspect_plugin_wheel",
    "manifest_member",
    "single_entry_point",
]


def inspect_plugin_wheel(
    path: Path, limits: WheelLimits = WheelLimits(), data: WheelBytes | None = None
) -> Inspection:
    """Validate a wheel as :func:`~.wheel.inspect_wheel` does, keeping any manifest.

    The manifest is kept while the archive is checked: the file is read once, and the manifest
    :func:`candidate_from_wheel` reads comes from the very bytes that were validated.

    :param data: the file's bytes and hash, when read already: validated instead of the file.
    :raises WheelError: when the wheel is refused.
    """
    return inspect_members(path, _is_manifest, limits=limits, data=data)


def _is_manifest(member: str) -> bool:
    return posixpath.basename(member) == MANIFEST_NAME


def candidate_from_wheel(
    inspection: Inspection, group: str, limits: WheelLimits = WheelLimits()
) -> Candidate | None:
    """The plugin a validated wheel offers to ``group``, or ``None`` if it offers none.

    :param inspection: the wheel, as :func:`inspect_plugin_wheel` read it.
    :raises ManifestError: when the wheel declares several plugins or its manifest is unusable.
    """
    info = inspection.info
    entry = single_entry_point(
        [(ep.name, ep.value) for ep in info.entry_points if ep.group == group],
        info.distribution,
        str(info.path),
    )
    if entry is None:
        return None
    ep_name, value = entry
    member = manifest_member(value, info.members)
    where = f"{info.path}!{member}" if member else None
    if member is None:
        manifest = Manifest.default(name=ep_name, dist_version=info.version, path=None)
    else:
        data = _read_manifest(inspection, member, ep_name, limits)
        manifest = Manifest.from_toml(
            data, path=str(where), default_name=ep_name, dist_version=info.version
        )
    return Candidate(
        manifest=manifest,
        origin=WheelOrigin(info.path, info.sha256),
        distribution=info.distribution,
        entry_point=value,
        requires_dist=info.requires_dist,
        top_level=info.top_level,
    )


def _read_manifest(inspection: Inspection, member: str, plugin: str, limits: WheelLimits) -> bytes:
    try:
        return inspection.read_member(member, max_size=limits.max_manifest_size)
    except WheelError as exc:
        # An oversized manifest is the manifest's fault, reported as such.
        path = inspection.info.path
        raise ManifestError(exc.reason, plugin=plugin, path=f"{path}!{member}") from exc


def single_entry_point(
    entries: Sequence[tuple[str, str]], distribution: str, path: str
) -> tuple[str, str] | None:
    # One distribution is one plugin: its manifest, version and site dir belong to one name.
    if len(entries) > 1:
        names = ", ".join(sorted(name for name, _ in entries))
        raise ManifestError(
            f"declares {len(entries)} plugins ({names}) in one distribution; one is allowed",
            plugin=distribution,
            path=path,
            key="entry_points",
        )
    return entries[0] if entries else None


def manifest_member(value: str, members: frozenset[str]) -> str | None:
    """Where the manifest of the entry point's package lies in the archive, if it ships one."""
    module = value.partition(":")[0].strip().replace(".", "/")
    for folder in (module, posixpath.dirname(module)):
        if folder:
            candidate = f"{folder}/{MANIFEST_NAME}"
            if candidate in members:
                return candidate
    return None
