"""Versions taken back: by the trust file (a hash taken out of it revokes a version), or by
their index (a release yanked, or deleted from it: the fleet's rollback).

An operator stops a bad release everywhere by yanking or deleting it on the index. A host
serving it goes back to the highest version still offered, with its state handed over (a
swap, not an unload and a load), whatever the downgrade policy; the event and the audit line
give the index's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..model.candidate import Candidate
from ..model.names import PluginName
from ..model.problems import Problem
from .ledger import Ledger

__all__ = ["drop_revoked", "withdraw"]


def drop_revoked(
    present: Sequence[Candidate],
    ledger: Ledger,
    revoked: Callable[[Candidate], Problem | None] | None,
    file: Callable[[Problem], None],
    unload: Callable[..., None],
) -> list[Candidate]:
    """``present`` without revoked versions; a revoked version that serves is unloaded
    first, so that the best version still trusted may take its place.

    :param revoked: why a version is not trusted any more, or ``None`` (trusted); ``None``
        itself when no version can be revoked (trust is not by hashes): nothing is looked at.
    :param file: where each revocation's problem is filed.
    :param unload: the engine's unload of an active plugin (``removed=True``).
    """
    if revoked is None:
        return list(present)
    for name in reversed(list(ledger.order)):
        if name in ledger.active:
            problem = revoked(ledger.active[name].candidate)
            if problem is not None:
                file(problem)
                unload(name, removed=True)
    kept = []
    for c in present:
        problem = revoked(c)
        if problem is None:
            kept.append(c)
        else:
            file(problem)
    return kept


def withdraw(
    present: Sequence[Candidate],
    active: Mapping[PluginName, Candidate],
    withdrawn: Mapping[str, str],
) -> tuple[list[Candidate], dict[PluginName, str]]:
    """The candidates still offered, and the active plugins to roll back with their reason.

    A plugin whose every version on offer was taken back is not rolled back to nothing: its
    serving version stays offered (the source that follows the index reports the problem).

    :param present: the candidates at hand.
    :param active: the candidate of each active plugin.
    :param withdrawn: the sha256 of each wheel taken back, and why.
    :returns: ``present`` without what was taken back, and the reason of each active plugin
        that must go back to another version.
    """
    if not withdrawn:
        return list(present), {}
    kept = [c for c in present if c.sha256 not in withdrawn]
    offered = {c.name for c in kept}
    back: dict[PluginName, str] = {}
    for name, candidate in active.items():
        reason = withdrawn.get(candidate.sha256 or "")
        if reason is None:
            continue
        if name in offered:
            back[name] = reason
        else:
            kept.append(candidate)  # nothing else on offer: it keeps serving
    return kept, back
