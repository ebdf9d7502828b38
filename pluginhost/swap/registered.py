"""Registered names: each entry point's object is registered with the plugin manager under the
entry point's name, and one name names one object.

pluggy's ``register`` refuses a name already taken; the switch stores names directly, so the
refusal is made here, before anything of the new version is installed, and it names both
plugins: two distributions declaring the same entry-point name cannot be hosted together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pluggy

from ..model.errors import ResolutionError
from .members import Member

__all__ = ["Owner", "check_registered_names", "no_owner"]

Owner = Callable[[str], "str | None"]
"""The active plugin that registered a name, as text for people, or ``None`` if none did."""


def no_owner(name: str) -> str | None:
    """An :data:`Owner` that knows no plugin."""
    return None


def check_registered_names(
    pm: pluggy.PluginManager, members: Sequence[Member], owner_of: Owner
) -> None:
    """Refuse a member whose entry-point name another plugin, or the application, registered.

    The names the members' own old versions registered are theirs to take.

    :param owner_of: names the active plugin behind a taken name.
    :raises ResolutionError: naming the entry point, both plugins and their distributions.
    """
    leaving = {id(r.plugin) for m in members if m.old for r in m.old.registrations}
    claimed: dict[str, Member] = {}
    for m in members:
        for ep in m.candidate.entry_points:
            other = claimed.setdefault(ep.name, m)
            if other is not m:
                raise _clash(ep.name, m, f"plugin {other.candidate.display}")
            registered = pm.get_plugin(ep.name)
            if registered is not None and id(registered) not in leaving:
                owner = owner_of(ep.name)
                raise _clash(ep.name, m, f"plugin {owner}" if owner else "the application")


def _clash(name: str, member: Member, other: str) -> ResolutionError:
    return ResolutionError(
        f"entry point {name!r} of plugin {member.candidate.display} is registered under a name "
        f"that {other} already registered: one of them must rename its entry point",
        plugin=member.name,
        path=str(member.candidate.origin),
    )
