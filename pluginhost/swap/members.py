"""The plugins a transition works on: an active plugin as the host keeps it, and a member of a
transition while it is under way."""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from ..load.collisions import both_provide, refuse_or_leave_out
from ..load.guard import Effects
from ..model.candidate import Candidate
from ..model.frozen import frozen
from ..model.names import PluginName
from .switch import Implementations

__all__ = ["Active", "Member", "claim", "mark_reimports", "owned_names"]


@frozen(eq=False)
class Active:
    """An active plugin as the host keeps it: a frozen value, so that the registry can tell an
    unchanged plugin by the identity of its ``Active`` (:mod:`pluginhost.state.kept`)."""

    candidate: Candidate
    registrations: tuple[Implementations, ...]
    """One per entry point, in the order the distribution declares them."""
    site_dir: Path | None
    top_level: tuple[str, ...]
    effects: Effects = Effects()
    """What its import and lifecycle hooks did that outlives them (handlers, threads)."""

    @property
    def name(self) -> PluginName:
        return self.candidate.name


@attrs.define(eq=False)
class Member:
    """One plugin of a transition while it is under way."""

    candidate: Candidate
    old: Active | None
    site_dir: Path | None = None
    top_level: tuple[str, ...] = ()
    registrations: tuple[Implementations, ...] | None = None
    """The new version's, one per entry point, once imported and validated."""
    imported: bool = False
    """Whether the import step was reached: only then may its names be purged."""
    activated: int = 0
    """How many of its entry points were activated, in order."""
    stash: dict[str, types.ModuleType] = attrs.field(factory=dict)
    inherited: tuple[Any, str] | None = None
    """State saved by an earlier run of the host, and the version that saved it."""
    effects: Effects = Effects()
    reimported_for: str | None = None
    """For a plugin re-imported at the same version, the change it follows (``hello 1.1.0``):
    worked out while ``old`` is known, which retirement forgets."""

    @property
    def name(self) -> PluginName:
        return self.candidate.name

    @property
    def changed(self) -> bool:
        """Whether it brings other bytes than the version it replaces (or replaces none)."""
        return self.old is None or self.old.candidate.key != self.candidate.key


def mark_reimports(members: Sequence[Member]) -> None:
    """Set :attr:`Member.reimported_for` of the members that keep their bytes."""
    causes = ", ".join(f"{o.name} {o.candidate.version_text}" for o in members if o.changed)
    for m in members:
        m.reimported_for = None if m.changed else causes or None


def owned_names(members: Sequence[Member]) -> list[str]:
    """The top-level names of every version concerned by a transition."""
    names = {name for m in members for name in m.top_level}
    names.update(name for m in members if m.old is not None for name in m.old.top_level)
    return sorted(names)


def claim(claimed: dict[str, PluginName], member: Member) -> tuple[str, ...]:
    """Record ``member``'s top-level names; two members of one change never share one, but a
    stray name (:data:`~pluginhost.load.collisions.STRAY_NAMES`) another member claimed is
    left out, with a warning.

    :returns: the names ``member`` is to serve.
    :raises ResolutionError: when another member claimed one of its other names.
    """
    kept = []
    for module in member.top_level:
        owner = claimed.setdefault(module, member.name)
        if owner == member.name:
            kept.append(module)
            continue
        refuse_or_leave_out(member.candidate, module, both_provide(module, owner, member.name))
    return tuple(kept)
