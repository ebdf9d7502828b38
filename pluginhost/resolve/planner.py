"""One host's planner: each reconcile's plan, patched from the last one, and brought up to date
with the versions a change made active before the next change needs it.

The last resolution (:class:`.replan.Replan`) is kept for the active versions it was planned
against: a part is planned again when its plugin's active version is another object. A start
plans every part with no version active, so the first swap after it planned every part again
(46 ms among 1,000 plugins, with the callers paused between its yields). :meth:`Planner.warm`
plans the last pool once more against the versions active now, with nothing applied, on the
host's worker once the start is done: the first swap then plans only the part it touches.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import final

from ..model.candidate import Candidate
from ..model.names import PluginName
from ..model.policy import BreakingChange, VersionPolicy
from ..model.versions import Version
from .links import Via
from .planning import Outlook, plan
from .replan import Replan

__all__ = ["Planner"]


@final
class Planner:
    """The plans of one host, with its API version, policy and way with breaking updates.

    Owned by the engine; not thread-safe (the host's lock serialises its callers).
    """

    def __init__(
        self, api_version: Version, policy: VersionPolicy, breaking_change: BreakingChange
    ) -> None:
        self._api_version = api_version
        self._policy = policy
        self._breaking_change = breaking_change
        self.memo = Replan()
        self._last: tuple[Sequence[Candidate], Collection[PluginName], Via | None] | None = None

    def plan(
        self,
        pool: Sequence[Candidate],
        active: Mapping[PluginName, Candidate],
        downgradable: Collection[PluginName] = (),
        via: Via | None = None,
    ) -> Outlook:
        """The outlook of ``pool`` against the ``active`` versions (:func:`.planning.plan`)."""
        self._last = (pool, downgradable, via)
        return plan(
            pool,
            active,
            api_version=self._api_version,
            policy=self._policy,
            breaking_change=self._breaking_change,
            memo=self.memo,
            downgradable=downgradable,
            via=via,
        )

    def warm(self, active: Mapping[PluginName, Candidate]) -> None:
        """Plan the last pool again against ``active``, for the memo alone: what the plan says
        was applied by the change that made these versions active."""
        if self._last is not None:
            self.plan(self._last[0], active, *self._last[1:])
