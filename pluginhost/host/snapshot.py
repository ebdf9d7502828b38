"""What ``pluginhost list`` and ``status`` show, as values: from a running host, or read from a
home in another process (``status.json``), so that tools do not parse the CLI's text.

>>> snap = HostSnapshot.read(home)                      # doctest: +SKIP
>>> snap.running, [p.info.version for p in snap.plugins.values()]  # doctest: +SKIP
(False, ['1.1.0', '1.0.0'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..model.errors import PluginHostError
from ..model.frozen import frozen
from ..model.limits import ResourceLimits
from ..model.problems import Problem, ProblemKind, Requirement
from ..model.status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from .homeview import HomeView, read_home

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = ["HostSnapshot"]


@frozen
class HostSnapshot:
    """A host's plugins and problems at one moment.

    :param home: the host's home.
    :param running: whether a host holds the home's lock now.
    :param pid: the pid of the host holding the lock, else of the last host that wrote the
        status document, if any.
    :param updated: when the status document was written (``time.time()``); ``None`` when
        there is none (the plugins are then the registry's, as the next start restores them).
    :param load_order: the active plugins, dependencies first.
    :param plugins: each plugin with its history and backups, by name.
    :param problems: why each plugin or version that is not active was left out.
    :param errors: why a document of the home could not be read, by file name (the snapshot
        then comes from the other one).
    """

    home: Path
    running: bool
    pid: int | None
    updated: float | None
    load_order: tuple[str, ...]
    plugins: Mapping[str, PluginStatus] = attrs.field(hash=False)
    problems: tuple[Problem, ...]
    errors: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    @classmethod
    def of(cls, host: PluginHost) -> HostSnapshot:
        """The snapshot of a host in this process."""
        plugins: dict[str, PluginStatus] = {}
        for name in host.plugins:
            try:
                plugins[name] = host.status(name)
            except PluginHostError:  # gone between the two reads
                continue
        return cls(
            home=host.home,
            running=host.running,
            pid=os.getpid(),
            updated=time.time(),
            load_order=host.load_order(),
            plugins=plugins,
            problems=host.problems(),
        )

    @classmethod
    def read(cls, home: Path) -> HostSnapshot:
        """The snapshot of the host of ``home``, read from its documents without writing:
        ``status.json``, or the registry when no host wrote a status (plugins then
        :attr:`~PluginState.COMMITTED`).

        :raises HostStateError: when ``home`` is not a pluginhost home.
        """
        return cls.from_view(read_home(Path(home)))

    @classmethod
    def from_view(cls, view: HomeView) -> HostSnapshot:
        """The snapshot of a home already read."""
        status = view.status or {}
        plugins = {name: _plugin_status(entry) for name, entry in view.plugins.items()}
        return cls(
            home=view.home,
            running=view.holder is not None,
            pid=view.holder if view.holder is not None else status.get("pid"),
            updated=status.get("updated"),
            load_order=tuple(view.load_order),
            plugins=plugins,
            problems=tuple(_problem(p) for p in status.get("problems", ())),
            errors=view.errors,
        )


def _plugin_status(entry: Mapping[str, Any]) -> PluginStatus:
    info = PluginInfo(
        name=entry["name"],
        version=entry["version"],
        state=PluginState(entry["state"]),
        origin=entry["origin"],
        distribution=entry["distribution"],
        requires=dict(entry["requires"]),
        optional=dict(entry["optional"]),
        site_dir=Path(entry["site_dir"]) if entry.get("site_dir") else None,
        sha256=entry.get("sha256"),
        error=entry.get("error"),
        pinned=bool(entry.get("pinned", False)),
        entry_points=tuple(entry.get("entry_points", ())),
        isolation=str(entry.get("isolation", "in-process")),
        pid=entry.get("pid"),
        restarts=int(entry.get("restarts", 0)),
        limits=ResourceLimits(**entry["limits"]) if entry.get("limits") else None,
        quarantined=bool(entry.get("quarantined", False)),
    )
    history = tuple(
        HistoryEntry(h["version"], h["outcome"], h["time"], h.get("sha256"), h.get("error"))
        for h in entry.get("history", ())
    )
    return PluginStatus(info, history, tuple(entry.get("backups", ())))


def _problem(data: Mapping[str, Any]) -> Problem:
    req = data.get("requirement")
    requirement = None
    if req is not None:
        requirement = Requirement(
            req["plugin"],
            req["version"],
            req["requires"],
            req["constraint"],
            tuple(req["available"]),
            req.get("chosen"),
        )
    return Problem(
        kind=ProblemKind(data["kind"]),
        plugin=data["plugin"],
        message=data["message"],
        involved=tuple(data.get("involved", ())),
        version=data.get("version"),
        path=data.get("path"),
        requirement=requirement,
    )
