"""What readers see: the plugins as of the last completed change, never half of one.

``host.plugins``, ``load_order()``, ``dependency_graph()``, ``problems()``, ``status()`` and the
status document all read one :class:`View`, which the engine replaces in one reference store
once a change is complete. Readers take no lock: lifecycle hooks run while a change holds it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

import attrs

from ..model.candidate import Candidate
from ..model.errors import HostStateError
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from ..model.status import HistoryEntry, PluginInfo, PluginState, PluginStatus
from ..state.registry import Record
from ..swap.members import Active
from ..swap.process import link_of

__all__ = ["HISTORY_LIMIT", "History", "View", "active_info", "failed_info", "plugin_info"]

#: How many changes of each plugin ``host.status(name).history`` keeps, the latest.
HISTORY_LIMIT: Final = 100

_EMPTY: Mapping[str, object] = MappingProxyType({})


@frozen
class View:
    """One consistent picture of the plugins.

    Made after every change, so it is built from copies made at C speed (a tuple, flat dicts);
    what only some readers need, the dependency graph, is worked out when asked for.

    :param order: the active plugins, in load order.
    :param plugins: each plugin's snapshot, active ones in load order first, then the others
        by name.
    :param problems: why each plugin or version that is not active was left out.
    :param history: each plugin's changes, oldest first.
    :param backups: each plugin's versions kept for a rollback, most recent first.
    :param planned: the dependency graph of the last plan, active or not.
    """

    order: tuple[PluginName, ...] = ()
    plugins: Mapping[str, PluginInfo] = _EMPTY  # type: ignore[assignment]
    problems: tuple[Problem, ...] = ()
    history: Mapping[str, tuple[HistoryEntry, ...]] = _EMPTY  # type: ignore[assignment]
    backups: Mapping[str, tuple[Record, ...]] = _EMPTY  # type: ignore[assignment]
    planned: Mapping[PluginName, tuple[PluginName, ...]] = _EMPTY  # type: ignore[assignment]

    @property
    def graph(self) -> Mapping[str, tuple[str, ...]]:
        """Each active plugin and the active plugins it depends on, in load order."""
        active = set(self.order)
        return MappingProxyType(
            {n: tuple(d for d in self.planned.get(n, ()) if d in active) for n in self.order}
        )

    def status(self, name: PluginName) -> PluginStatus:
        """``host.status(name)``.

        :raises HostStateError: when no plugin of that name is known.
        """
        info = self.plugins.get(name)
        if info is None:
            raise HostStateError(f"no plugin named {name!r}", plugin=name)
        return PluginStatus(
            info=info,
            history=self.history.get(name, ()),
            backups=tuple(r.candidate.version_text for r in self.backups.get(name, ())),
        )


class History:
    """Each plugin's changes, the latest :data:`HISTORY_LIMIT` of each."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[HistoryEntry, ...]] = {}

    def add(self, outcome: str, candidate: Candidate, error: str | None = None) -> None:
        entry = HistoryEntry(candidate.version_text, outcome, time.time(), candidate.sha256, error)
        # Bounded: a host swapping all day must not grow, nor its status document with it.
        kept = (*self._entries.get(candidate.name, ()), entry)
        self._entries[candidate.name] = kept[-HISTORY_LIMIT:]

    def view(self) -> Mapping[str, tuple[HistoryEntry, ...]]:
        """A read-only copy (the entries themselves never change)."""
        return MappingProxyType(dict(self._entries))


def plugin_info(
    candidate: Candidate,
    state: PluginState,
    site_dir: Path | None,
    error: str | None,
    *,
    pinned: bool = False,
) -> PluginInfo:
    """A :class:`PluginInfo` for ``candidate``."""
    manifest = candidate.manifest
    return PluginInfo(
        name=candidate.name,
        version=candidate.version_text,
        state=state,
        origin=str(candidate.origin),
        distribution=candidate.distribution,
        entry_points=tuple(ep.name for ep in candidate.entry_points),
        requires={k: str(v) for k, v in candidate.requires.items()},
        optional={k: str(v) for k, v in manifest.optional.items()},
        site_dir=site_dir,
        sha256=candidate.sha256,
        error=error,
        pinned=pinned,
    )


def active_info(
    active: Active, state: PluginState, pinned: bool, last: PluginInfo | None
) -> PluginInfo:
    """The snapshot of an active plugin: ``last`` when it still says the same, as it mostly
    does, since a view is published after every change."""
    c = active.candidate
    link = link_of(active.registrations)
    if link is not None:  # a process plugin: its worker may have changed since
        info = plugin_info(c, state, active.site_dir, None, pinned=pinned)
        return attrs.evolve(
            info,
            isolation="process",
            pid=link.pid,
            restarts=link.restarts,
            limits=link.spec.limits,
            quarantined=link.quarantined,
        )
    if (
        last is None
        or (last.sha256, last.version) != (c.sha256, c.version_text)
        or (last.state, last.pinned, last.site_dir) != (state, pinned, active.site_dir)
    ):
        return plugin_info(c, state, active.site_dir, None, pinned=pinned)
    return last


def failed_info(name: str, candidate: Candidate | None, problem: Problem) -> PluginInfo:
    """The snapshot of a plugin that is not active because of ``problem``."""
    if candidate is not None:
        return plugin_info(candidate, PluginState.FAILED, None, problem.message)
    return PluginInfo(
        name=name,
        version=problem.version or "",
        state=PluginState.FAILED,
        origin=problem.path or "",
        distribution="",
        error=problem.message,
    )


def kept_out_info(candidate: Candidate, problem: Problem) -> PluginInfo:
    """The snapshot of a plugin that may not load: disabled, or blocked by the settings."""
    disabled = problem.kind is ProblemKind.DISABLED
    state = PluginState.DISABLED if disabled else PluginState.FAILED
    return plugin_info(candidate, state, None, problem.message)
