"""What a wheel declares and what would refuse it, without importing it: ``pluginhost inspect``
and :class:`WheelReport`.

It runs the checks a host runs before installing: every rule of
:func:`~pluginhost.discover.wheel.inspect_wheel` (archive, paths, RECORD hashes, metadata,
tags), the entry point and the manifest (:func:`~.candidates.candidate_from_wheel`), and,
given an API version, the manifest's ``host`` constraint.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Final

from ..model.candidate import EntryPoint
from ..model.errors import ManifestError, VersionError, WheelError
from ..model.frozen import frozen
from ..model.manifest import Manifest
from ..model.versions import Version, parse_version
from ..state.regular import kind_of
from .candidates import candidate_from_wheel, inspect_plugin_wheel
from .wheel import WheelInfo

__all__ = ["WheelReport"]

_GROUP_SUFFIX: Final = ".plugins"
#: The entry-point groups of a distribution's commands: never a host's plugins.
_SCRIPTS: Final = frozenset({"console_scripts", "gui_scripts"})


@frozen
class WheelReport:
    """One wheel, checked as a host would check it before installing it.

    >>> report = WheelReport.read(Path("hello-1.0.0-py3-none-any.whl"))  # doctest: +SKIP
    >>> report.ok, report.manifest.name, report.refused                  # doctest: +SKIP
    (True, 'hello', ())

    :param path: the file as given.
    :param refused: why a host would refuse it, each reason one sentence; empty when it would
        take it.
    :param wheel: what the wheel declares, when it is a valid wheel.
    :param group: the entry-point group it was checked for.
    :param manifest: the plugin's manifest, when it offers a plugin to ``group``.
    :param entry_points: the plugin's entry points (each ``name = module:object``), with the
        manifest.
    :param display: how the host names the plugin: its name, and its distribution's when that
        says more (``datasette-render-binary (export)``).
    """

    path: Path
    refused: tuple[str, ...]
    wheel: WheelInfo | None = None
    group: str | None = None
    manifest: Manifest | None = None
    entry_points: tuple[EntryPoint, ...] = ()
    display: str | None = None

    @property
    def ok(self) -> bool:
        """Whether a host would take the wheel."""
        return not self.refused

    @classmethod
    def read(
        cls, path: Path, *, group: str | None = None, api_version: str | Version | None = None
    ) -> WheelReport:
        """Check the wheel at ``path``; never raises for a bad wheel, it lists the refusals.

        A link is followed, as :meth:`PluginHost.install` follows it; what is read then is a
        regular file only: a FIFO or a device is refused at once, not waited on.

        :param group: the host's entry-point group; ``None`` takes the wheel's one
            ``*.plugins`` group, or, with none, its one group that is not scripts
            (``pytest11``, say).
        :param api_version: the host API version to check the ``host`` constraint against.
        :raises VersionError: when ``api_version`` is not a version, or one with an epoch,
            which a host refuses as its ``api_version`` too.
        """
        api = parse_version(api_version) if isinstance(api_version, str) else api_version
        if api is not None and not api.orderable:
            raise VersionError(
                f"api_version {str(api)!r} has an epoch, which no host constraint orders"
            )
        path = Path(path)
        target = Path(os.path.realpath(path))
        if path.is_symlink() and (kind := _not_regular(target)) is not None:
            # Said of what the link leads to, before its name is judged (a link named like a
            # wheel to /dev/zero was refused for the name "zero").
            return cls(path, (f"leads to {target}, which is {kind}, not a regular file",))
        try:
            inspection = inspect_plugin_wheel(target)
        except WheelError as exc:
            return cls(path, (exc.reason,))
        info = inspection.info
        groups = _plugin_groups({ep.group for ep in info.entry_points})
        chosen = group or (groups[0] if len(groups) == 1 else None)
        if chosen is None:
            return cls(path, (_no_group(groups),), info)
        try:
            candidate = candidate_from_wheel(inspection, chosen)
        except (ManifestError, WheelError) as exc:
            return cls(path, (str(exc),), info, chosen)
        if candidate is None:
            reason = f"declares no entry point in group {chosen!r}: not a plugin of this host"
            return cls(path, (reason,), info, chosen)
        manifest = candidate.manifest
        refused: tuple[str, ...] = ()
        # The same test the resolver applies (prereleases of the host API match on order).
        if api is not None and not manifest.host.allows(api, prerelease=True):
            refused = (
                f"{manifest.name} {manifest.version} requires host API {manifest.host}, "
                f"the host provides {api}",
            )
        return cls(path, refused, info, chosen, manifest, candidate.entry_points, candidate.display)

    def to_json(self) -> dict[str, Any]:
        """The report as ``pluginhost inspect --json`` prints it."""
        data: dict[str, Any] = {
            "path": str(self.path),
            "ok": self.ok,
            "refused": list(self.refused),
        }
        if self.wheel is not None:
            data.update(_wheel_json(self.wheel))
        if self.group is not None:
            data["group"] = self.group
        if self.manifest is not None:
            m = self.manifest
            data["plugin"] = {
                "name": m.name,
                "version": str(m.version),
                "host": str(m.host),
                "requires": {k: str(v) for k, v in m.requires.items()},
                "optional": {k: str(v) for k, v in m.optional.items()},
                "manifest": m.path,
                "display": self.display,
                "entry_points": [{"name": ep.name, "value": ep.value} for ep in self.entry_points],
            }
        return data


def _plugin_groups(groups: set[str]) -> list[str]:
    """The groups a wheel's plugins may be for: its ``*.plugins`` groups, pluginhost's naming;
    when it has none, its entry-point groups but scripts (an application's own group, such
    as pytest's ``pytest11``, datasette's ``datasette``, tox's ``tox``)."""
    named = sorted(g for g in groups if g.endswith(_GROUP_SUFFIX))
    return named or sorted(groups - _SCRIPTS)


def _no_group(groups: list[str]) -> str:
    if groups:
        return f"declares plugins for several hosts ({', '.join(groups)}); choose with --group"
    return "declares no entry point but scripts: not a plugin (a support wheel)"


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


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (``a character device``)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # the read says why
    return None if stat.S_ISREG(mode) else kind_of(mode)
