"""Retiring versions: the old versions after a successful switch (drained, deactivated and
purged, or switched back in when what follows the switch fails), and a plugin unloaded with no
new version (switched out, drained, deactivated and purged)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..load.modules import purge_modules, release
from ..load.sweep import sweep
from ..model.names import PluginName
from ..model.pacing import pace
from ..state.faults import crash_point
from .cleanup import deactivate, left_behind
from .drain import Drained, drain
from .members import Active, Member, owned_names
from .specs import declared_by, withdraw
from .switch import Switch, switch

if TYPE_CHECKING:
    from .transition import Transition

__all__ = ["Retirement", "unload"]


@attrs.define(eq=False)
class Retirement:
    """The old versions after a successful switch, waiting to be drained and purged.

    :param transition: the transition that switched them out.
    :param old: the old versions.
    :param members: the transition's members.
    :param applied: the switch, for :meth:`undo`.
    """

    transition: Transition
    old: list[Active]
    members: Sequence[Member]
    applied: Switch | None = None
    outcome: Drained | None = None
    drain_seconds: float | None = None
    """How long the drain of :meth:`finish` took (for the metrics of a swap)."""
    """What the drain saw, once :meth:`finish` ran."""

    def undo(self) -> None:
        """Switch the old versions back in, as if the transition had failed at its last step.

        Only before :meth:`finish`: for when what follows the switch (the commit) fails.
        """
        self.transition.undo(self.members, self.applied)
        self.old = []

    def finish(self) -> tuple[bool, list[str]]:
        """Drain, deactivate and purge the old versions; their modules go to the transition's
        reaper, which tells later whether something still holds them.

        :returns: ``(drained, errors)``: whether no earlier call was still running at the
            drain's timeout, and what went wrong (deactivation errors, threads and handlers
            left running).
        """
        pace()  # after the commit, before the drain: callers of the new versions go first
        timeouts = self.transition.timeouts
        # The switch holds the old implementations for its undo: past this point there is none,
        # and its references would look like calls in flight.
        self.applied = None
        groups = [r for a in self.old for r in a.registrations]
        started = time.monotonic()
        self.outcome = drain(groups, timeouts.drain)
        self.drain_seconds = time.monotonic() - started
        del groups
        errors: list[str] = []
        for m in self.members:
            if m.old is not None:
                failures, effects = deactivate(
                    m.old.registrations,
                    m.old.top_level,
                    host=self.transition.host,
                    timeout=timeouts.activate,
                )
                roots = [m.old.site_dir] if m.old.site_dir else []
                errors += failures + left_behind(m.old.effects + effects, roots)
                # What its hook calls (never guarded) left of its code: the new version has
                # the same module names, so only code from the old site dir is the old one's.
                errors += _swept(m.old.top_level, roots) if roots else []
        # Every reference this object holds to the old versions goes before the purge, which
        # checks that their modules are freed.
        self.old = []
        owned = owned_names(self.members)
        for m in self.members:
            if m.old is None:
                continue
            stash, roots = m.stash, [m.old.site_dir] if m.old.site_dir else []
            version = m.old.candidate.version_text
            m.stash, m.old = {}, None
            self.transition.reaper.watch(release(stash, roots), m.name, version, owned)
        return self.outcome is not Drained.TIMED_OUT, errors


def unload(
    transition: Transition, actives: dict[PluginName, Active], name: PluginName
) -> list[str]:
    """Take ``name`` out of ``actives`` and out of every hook, drain, deactivate and purge it.

    The plugin is popped from ``actives`` here so that no caller's reference outlives the
    purge (which checks that the plugin's modules are freed).

    :param transition: gives the plugin manager, the finder, the host and the timeouts.
    :param actives: the active plugins, by name.
    :param name: the plugin to unload.
    :returns: what went wrong on the way (a drain timeout, a failing deactivate, threads and
        handlers left running, what it left in the import machinery, modules still
        referenced is told later, by the transition's reaper), as text; unloading itself
        always completes.
    """
    active = actives.pop(name)
    version = active.candidate.version_text
    switch(transition.pm, active.registrations, [])
    withdraw(declared_by(transition.pm, active.top_level).values())
    crash_point("removal_after_unregister", version)
    problems = []
    timeouts = transition.timeouts
    problem = drain(active.registrations, timeouts.drain).problem(timeouts.drain)
    if problem is not None:
        problems.append(problem)
    crash_point("removal_after_drain", version)
    tops, roots = active.top_level, [active.site_dir] if active.site_dir else []
    errors, effects = deactivate(
        active.registrations, tops, host=transition.host, timeout=timeouts.activate
    )
    problems += errors
    problems += left_behind(active.effects + effects, roots)
    # No other version of it serves: whatever of its code remains in the import machinery
    # was left behind (possibly by a hook call, which nothing guards).
    problems += _swept(tops)
    if active.site_dir is not None:
        transition.finder.unmap(tops)
    del active
    transition.reaper.watch(purge_modules(tops, roots), name, version, tops)
    return problems


def _swept(tops: Sequence[str], roots: Sequence[Path] = ()) -> list[str]:
    """What a retired version left in the import machinery, removed, told as one problem."""
    swept = sweep(tops, roots)
    return [f"removed what it left in the import machinery: {', '.join(swept)}"] if swept else []
