"""Requires-Dist of a plugin: met by the host's environment or by support wheels at hand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import importlib_metadata
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..discover.wheel import WheelInfo
from ..model.errors import ResolutionError

__all__ = ["support_wheels_for"]


def support_wheels_for(
    plugin: str, requires_dist: Iterable[str], support: Sequence[WheelInfo]
) -> list[WheelInfo]:
    """The support wheels to install beside a plugin so that its ``Requires-Dist`` is met.

    A requirement the host environment already satisfies needs nothing; otherwise the highest
    support wheel that satisfies it is taken, with its own requirements in turn.

    :raises ResolutionError: naming the first requirement that nothing satisfies.
    """
    chosen: dict[str, WheelInfo] = {}
    pending = list(requires_dist)
    while pending:
        req = _parse(plugin, pending.pop(0))
        if req is None or _in_environment(req) or canonicalize_name(req.name) in chosen:
            continue
        wheel = _best_wheel(req, support)
        if wheel is None:
            raise ResolutionError(
                f"requirement {str(req)!r} is met neither by the host environment "
                "nor by a wheel in the watched folders",
                plugin=plugin,
                missing=(req.name,),
            )
        chosen[canonicalize_name(req.name)] = wheel
        pending.extend(wheel.requires_dist)
    return list(chosen.values())


def _parse(plugin: str, text: str) -> Requirement | None:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ResolutionError(f"invalid Requires-Dist {text!r}: {exc}", plugin=plugin) from exc
    # Requirements of extras nobody asked for, or for other platforms, do not apply.
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    return req


def _in_environment(req: Requirement) -> bool:
    try:
        version = importlib_metadata.version(req.name)
    except importlib_metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(version, prereleases=True)


def _best_wheel(req: Requirement, support: Sequence[WheelInfo]) -> WheelInfo | None:
    name = canonicalize_name(req.name)
    fitting = [
        w
        for w in support
        if canonicalize_name(w.distribution) == name
        and req.specifier.contains(w.version, prereleases=True)
    ]
    return max(fitting, key=_version_key, default=None)


def _version_key(wheel: WheelInfo) -> tuple[Version, str]:
    try:
        return (Version(wheel.version), str(wheel.path))
    except InvalidVersion:
        return (Version("0"), str(wheel.path))
