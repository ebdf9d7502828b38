"""What makes a distribution a plugin candidate: its entry points in the host's group (one unit,
however many), and the ``plugin.toml`` beside their module (or a default manifest), read from
the bytes validated."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import Path

from ..model.candidate import Candidate, EntryPoint, WheelOrigin
from ..model.errors import ManifestError, WheelError
from ..model.manifest import MANIFEST_NAME, Manifest
from .archive import WheelBytes, WheelLimits
from .wheel import Inspection, inspect_members

__all__ = [
    "candidate_from_wheel",
    "default_plugin_name",
    "inspect_plugin_wheel",
    "is_dotted_name",
    "manifest_member",
    "own_entry_point",
    "unit_entry_points",
    "unit_manifest_member",
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
    entry_points = unit_entry_points(
        [(ep.name, ep.value) for ep in info.entry_points if ep.group == group],
        info.distribution,
        str(info.path),
    )
    if not entry_points:
        return None
    name = default_plugin_name(entry_points, info.distribution)
    for ep in entry_points:
        own_entry_point(ep.value, info.top_level, name, str(info.path))
    member = unit_manifest_member(entry_points, info.members, name, str(info.path))
    where = f"{info.path}!{member}" if member else None
    if member is None:
        manifest = Manifest.default(name=name, dist_version=info.version, path=None)
    else:
        data = _read_manifest(inspection, member, name, limits)
        manifest = Manifest.from_toml(
            data, path=str(where), default_name=name, dist_version=info.version
        )
    return Candidate(
        manifest=manifest,
        origin=WheelOrigin(info.path, info.sha256),
        distribution=info.distribution,
        entry_points=entry_points,
        requires_dist=info.requires_dist,
        top_level=info.top_level,
    )


def _read_manifest(inspection: Inspection, member: str, plugin: str, limits: WheelLimits) -> bytes:
    path = inspection.info.path
    try:
        return inspection.read_member(member, max_size=limits.max_manifest_size)
    except WheelError as exc:
        # An oversized manifest is the manifest's fault, reported as such.
        raise ManifestError(exc.reason, plugin=plugin, path=f"{path}!{member}") from exc
    except KeyError:  # validated under smaller limits than these: not held
        reason = "is larger than the wheel's validation held"
        raise ManifestError(reason, plugin=plugin, path=f"{path}!{member}") from None


def unit_entry_points(
    entries: Sequence[tuple[str, str]], distribution: str, path: str
) -> tuple[EntryPoint, ...]:
    """The entry points one distribution declares in the host's group: one plugin, however
    many there are (pytest-xdist declares ``xdist`` and ``xdist.looponfail``).

    Extras after a value (``module:attr [extra]``) are dropped, as ``importlib.metadata``
    drops them when it loads one: the entry points specification asks consumers to parse
    them in existing distributions and lets them be ignored.

    :param entries: ``(name, value)`` pairs, in the order the distribution declares them.
    :returns: none when the distribution offers no plugin to the group.
    :raises ManifestError: when one name is declared twice: both would be registered under it.
    """
    seen: set[str] = set()
    for name, _ in entries:
        if name in seen:
            raise ManifestError(
                f"declares entry point {_clipped(name)} twice in one group",
                plugin=distribution,
                path=path,
                key="entry_points",
            )
        seen.add(name)
    return tuple(EntryPoint(name, _without_extras(value)) for name, value in entries)


def _without_extras(value: str) -> str:
    """``value`` without the ``[extras]`` that may end it (another value is left as it is,
    for validation to judge). Without a regular expression: values are read from wheels."""
    stripped = value.rstrip()
    if not stripped.endswith("]"):
        return value
    reference, bracket, _extras = stripped[:-1].rpartition("[")
    if not bracket or "[" in reference or "]" in reference:
        return value
    return reference.strip()


def default_plugin_name(entry_points: Sequence[EntryPoint], distribution: str) -> str:
    """The plugin's name when no ``plugin.toml`` gives one: its one entry point's name, or,
    for a distribution of several, the distribution's, since no one entry point names them
    all."""
    return entry_points[0].name if len(entry_points) == 1 else distribution


def unit_manifest_member(
    entry_points: Sequence[EntryPoint], members: frozenset[str], plugin: str, path: str
) -> str | None:
    """The ``plugin.toml`` beside the entry points' modules, if one ships.

    :raises ManifestError: when the entry points have different manifests: one distribution
        is one plugin, with one name and one set of constraints.
    """
    found = sorted({m for ep in entry_points if (m := manifest_member(ep.value, members))})
    if len(found) > 1:
        raise ManifestError(
            f"its entry points have {len(found)} manifests ({', '.join(found)}); "
            "one distribution is one plugin and may have one",
            plugin=plugin,
            path=path,
            key="entry_points",
        )
    return found[0] if found else None


def own_entry_point(value: str, top_level: Sequence[str], plugin: str, path: str) -> None:
    """Refuse an entry point that names a module its own wheel does not ship.

    Otherwise a plugin could name another plugin's module (``evil = hello``: hello would answer
    twice, and removing ``evil`` would take hello's hooks with it), the standard library's, or
    pluginhost's own, and have it registered as itself.

    :param value: the entry point's value, ``module`` or ``module:attr.attr``.
    :param top_level: the importable top-level names the wheel ships.
    :raises ManifestError: when the value is malformed or its module is not the wheel's.
    """
    module, colon, attr = (part.strip() for part in value.partition(":"))
    if not is_dotted_name(module) or (colon and not is_dotted_name(attr)):
        raise ManifestError(
            f"entry point {_clipped(value)} is not 'module' or 'module:attribute'",
            plugin=plugin,
            path=path,
            key="entry_points",
        )
    top = module.partition(".")[0]
    if top not in top_level:
        shipped = ", ".join(top_level) or "none"
        raise ManifestError(
            f"entry point {_clipped(value)} names module {_clipped(top)}, which the wheel "
            f"does not ship (its top-level names: {shipped})",
            plugin=plugin,
            path=path,
            key="entry_points",
        )


def is_dotted_name(name: str) -> bool:
    """Whether ``name`` is a dotted Python name (``pkg.sub.mod``)."""
    return all(part.isidentifier() for part in name.split("."))


def _clipped(value: str, limit: int = 120) -> str:
    # The value comes from the wheel: a message quoting all of it could be megabytes long.
    return repr(value if len(value) <= limit else value[:limit] + "...")


def manifest_member(value: str, members: frozenset[str]) -> str | None:
    """Where the manifest of the entry point's package lies in the archive, if it ships one."""
    module = value.partition(":")[0].strip().replace(".", "/")
    for folder in (module, posixpath.dirname(module)):
        if folder:
            candidate = f"{folder}/{MANIFEST_NAME}"
            if candidate in members:
                return candidate
    return None
