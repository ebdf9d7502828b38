"""What a poll of a followed index asks of the host that follows it (``host/indexes.py``
answers): what it keeps, trusts and refused, and the largest wheel it validates."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Protocol

from ..model.frozen import frozen
from ..model.problems import Problem

__all__ = ["NONE_REFUSED", "NO_HOST", "HostSide", "Told"]

#: No wheel refused.
NONE_REFUSED: Mapping[str, Problem] = MappingProxyType({})


class HostSide(Protocol):
    """What a poll asks of the host that follows the index (``host/indexes.py`` answers); the
    defaults (:data:`NO_HOST`) prune nothing, screen nothing and see no refusal."""

    def kept(self) -> Collection[str] | None:
        """The sha256 of the versions the host names (serving, failed, backups): their wheels
        stay cached. ``None`` while it cannot tell (before its restore): nothing is pruned."""

    def trusted(self) -> Collection[str] | None:
        """The sha256 its trust file lists (``trust="hashes"``): a release it lacks is never
        downloaded. ``None``: any may be."""

    def refused(self) -> Mapping[str, Problem]:
        """The wheels the host did not take (invalid, untrusted, failed to load), each path
        with the problem naming it: the next release down is fetched, so that an older good
        one serves."""

    def max_wheel_size(self) -> int | None:
        """The largest wheel file the host validates (``WheelLimits.max_wheel_size``): a larger
        one is not downloaded. ``None``: the client's own bound."""


class _NoHost:
    def kept(self) -> Collection[str] | None:
        return None

    def trusted(self) -> Collection[str] | None:
        return None

    def refused(self) -> Mapping[str, Problem]:
        return NONE_REFUSED

    def max_wheel_size(self) -> int | None:
        return None


#: A host that tells nothing (an offering used alone, as the benchmarks do).
NO_HOST: HostSide = _NoHost()


@frozen
class Told:
    """The host's word on a decision: trusted hashes (None: no trust file), paths it refused."""

    trusted: Collection[str] | None = None
    refused: Mapping[str, Problem] = NONE_REFUSED
    kept: frozenset[str] | None = frozenset()
    """The sha256 of the versions the host serves or keeps (asked only under a rollout);
    ``None`` while it cannot tell (before its restore)."""
