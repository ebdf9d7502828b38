"""The package indexes a host follows (:class:`~pluginhost.IndexSource`), as one part of it:
their cache folders for discovery, their lives, and what the engine and ``problems()`` read of
them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from ..discover.sources import Source
from ..discover.spoiled import CONTENT_KINDS
from ..discover.trust import TrustGate
from ..model.errors import TrustError
from ..model.events import Event
from ..model.problems import Problem
from ..state.host_id import host_id
from .settings import Settings
from .view import View

if TYPE_CHECKING:
    from ..discover.following import Changed, IndexSource

__all__ = ["Indexes"]

_FOLLOWING = "pluginhost.discover.following"


def _index_sources(sources: Iterable[Source], settings: Settings) -> list[Source]:
    """``sources`` and the indexes of ``settings``, the latter as :class:`IndexSource` values.

    Index following (its polling, its release pages and requirements) is imported only for a
    host that follows an index: an ``IndexSource`` given in ``sources`` was made by importing
    its module, and a host without one, nor ``index`` settings, does not need it.
    """
    if not settings.index:
        return list(sources)
    from ..discover.following import IndexSource

    return [*sources, *(IndexSource.from_settings(s) for s in settings.index)]


def _is_index(source: Source) -> TypeGuard[IndexSource]:
    following = sys.modules.get(_FOLLOWING)
    return following is not None and isinstance(source, following.IndexSource)


class Indexes:
    """The index sources among a host's ``sources``.

    :param sources: every source given to the host.
    :param settings: the host's settings, its home filled in (each index's cache folder lives
        there): further indexes to follow (``index``), and the trust policy.
    :param view: the host's view (published, read without its lock): the versions it serves
        and keeps as backups, whose wheels each index's cache keeps; ``None``: caches are
        not pruned.
    """

    def __init__(
        self,
        sources: Iterable[Source],
        settings: Settings,
        view: Callable[[], View] | None = None,
    ) -> None:
        assert settings.home is not None, "the host fills in its home"
        self._home = home = settings.home
        given = _index_sources(sources, settings)
        self.sources = tuple(s for s in given if _is_index(s))
        #: The other sources, read by discovery as they are.
        self.others = tuple(s for s in given if not _is_index(s))
        #: Each index's cache folder, read by discovery like a watched folder.
        self.folders = tuple(s.attach(home) for s in self.sources)
        self._view = view
        # The host's trust policy, read on the pollers' threads: a release whose index sha256
        # the trust file lacks is never downloaded.
        self._gate = TrustGate(settings.trust, settings.strict_modes, settings.trust_file)
        self._before: View | None = None  # the view before the host restored its plugins
        self._max_wheel_size = settings.limits.max_wheel_size

    def start(self, changed: Changed, emit: Callable[[Event], None], *, live: bool) -> None:
        """Start every source's polling; the host id is made (or read) for their rollouts."""
        # Called before the host restores what it committed: its view names nothing yet.
        self._before = self._view() if self._view is not None else None
        if not self.sources:
            return
        stored = host_id(self._home / "state")
        for source in self.sources:
            rollout = source.rollout
            given = rollout.host_id if rollout is not None else None
            source.start(given or stored, changed, emit, live=live, host=self)

    def trusted(self) -> frozenset[str] | None:
        """The sha256 the trust file lists under ``trust="hashes"``; ``None`` without that
        policy, or when the file cannot be read (the host's own screening then says why)."""
        if not self._gate.hashes:
            return None
        try:
            return frozenset(self._gate.trusted())
        except TrustError:
            return None

    def refused(self) -> dict[str, Problem]:
        """The wheels the host's view names in a problem (refused, untrusted, failed to load),
        each with its problem (one for its bytes first, if any): the polls fetch the next
        release down for them, and forget those refused for their bytes."""
        found: dict[str, Problem] = {}
        for problem in self._view().problems if self._view is not None else ():
            path = problem.path
            if path and (path not in found or problem.kind in CONTENT_KINDS):
                found[path] = problem
        return found

    def max_wheel_size(self) -> int:
        """The host's ``WheelLimits.max_wheel_size``: a larger wheel is not downloaded."""
        return self._max_wheel_size

    def kept(self) -> frozenset[str] | None:
        """The sha256 of every version the host's view names (serving, failed, a backup);
        ``None`` until the host has published a view since its start (the restore of what it
        committed): until then it cannot tell, and no cache is pruned."""
        if self._view is None:
            return None
        view = self._view()
        if view is self._before:
            return None
        named = {info.sha256 for info in view.plugins.values()}
        named |= {r.candidate.sha256 for records in view.backups.values() for r in records}
        return frozenset(sha for sha in named if sha)

    def wait_polled(self, timeout: float) -> None:
        """Wait (up to ``timeout`` each) for every source's first poll to end."""
        for source in self.sources:
            source.wait_polled(timeout)

    def stop(self) -> None:
        for source in self.sources:
            source.stop()

    def refresh(self) -> None:
        """Ask every source to poll now."""
        for source in self.sources:
            source.refresh()

    def held(self) -> tuple[Path, ...]:
        """What must keep serving whatever the sources offer now."""
        return tuple(p for s in self.sources for p in s.held())

    def withdrawn(self) -> dict[str, str]:
        """The sha256 of every wheel an index took back, and why."""
        return {sha: why for s in self.sources for sha, why in s.withdrawn().items()}

    def problems(self) -> list[Problem]:
        return [p for s in self.sources for p in s.problems()]
