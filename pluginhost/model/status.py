"""What the host can tell about each plugin: snapshots for people, scripts and the CLI."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path

import attrs

from .frozen import frozen
from .limits import ResourceLimits
from .names import display_name

__all__ = ["HistoryEntry", "PluginInfo", "PluginState", "PluginStatus"]


class PluginState(str, enum.Enum):
    """Where a plugin stands."""

    ACTIVE = "active"
    """Loaded, registered and answering hook calls."""
    FAILED = "failed"
    """Found, but skipped or failed to load; the error says why."""
    ROLLED_BACK = "rolled_back"
    """Active on an earlier version after a failed update or an explicit rollback."""
    DRAINING = "draining"
    """Replaced; calls that started before the switch are still finishing on it."""
    REMOVED = "removed"
    """Unloaded because its wheel went away or it was removed."""
    COMMITTED = "committed"
    """In the registry of a home whose host never wrote a status: active at its next start.
    Only a :class:`~pluginhost.HostSnapshot` read from such a home says it."""
    DISABLED = "disabled"
    """Kept out by ``host.disable()`` (its wheel untouched) until ``host.enable()``."""

    def __str__(self) -> str:
        return self.value


@frozen
class PluginInfo:
    """A snapshot of one plugin.

    :param name: the normalized plugin name.
    :param version: the active version, or the version that failed.
    :param state: see :class:`PluginState`.
    :param origin: the wheel path or installed distribution it comes from.
    :param distribution: its distribution name.
    :param entry_points: the names its entry points are registered under with the plugin
        manager, in the order the distribution declares them (several for a distribution such
        as pytest-xdist, all loaded, swapped and removed together).
    :param requires: required plugins and their constraints.
    :param optional: optional plugins and their constraints.
    :param site_dir: its isolated site dir (``None`` for plugins installed in the environment).
    :param sha256: the wheel's hash (``None`` for installed plugins).
    :param error: why it is not active, or what went wrong last.
    :param pinned: whether the plugin is held at this version by ``host.install()`` of an
        older wheel, until ``host.unpin(name)``.
    :param isolation: ``"process"`` for a plugin running in a worker process of its own,
        ``"in-process"`` otherwise.
    :param pid: a process plugin's worker's pid (``None`` while it restarts, or quarantined).
    :param restarts: how many times a process plugin's worker was restarted after a crash.
    :param limits: the limits a process plugin's worker runs under.
    :param quarantined: a process plugin that crashed too often: no more restarts until an
        operator brings it back.
    """

    name: str
    version: str
    state: PluginState
    origin: str
    distribution: str
    requires: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    optional: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    site_dir: Path | None = None
    sha256: str | None = None
    error: str | None = None
    pinned: bool = False
    entry_points: tuple[str, ...] = ()
    isolation: str = "in-process"
    pid: int | None = None
    restarts: int = 0
    limits: ResourceLimits | None = None
    quarantined: bool = False

    @property
    def display(self) -> str:
        """The name for people: ``datasette-render-binary (export)`` (see
        :func:`~pluginhost.model.names.display_name`)."""
        return display_name(self.name, self.distribution)


@frozen
class HistoryEntry:
    """One change in a plugin's life.

    :param version: the version concerned.
    :param outcome: ``loaded``, ``updated``, ``rolled_back``, ``failed``, ``removed``.
    :param time: when (``time.time()``).
    :param sha256: the wheel's hash, when it came from a wheel.
    :param error: what went wrong, for failures.
    """

    version: str
    outcome: str
    time: float
    sha256: str | None = None
    error: str | None = None


@frozen
class PluginStatus:
    """``host.status(name)``: the plugin now, its history, and whether it can be rolled back.

    :param info: the current snapshot.
    :param history: changes, oldest first.
    :param backups: versions kept on disk that :meth:`PluginHost.rollback` can return to,
        most recent first.
    """

    info: PluginInfo
    history: tuple[HistoryEntry, ...]
    backups: tuple[str, ...]

    @property
    def rollback_available(self) -> bool:
        return bool(self.backups)
