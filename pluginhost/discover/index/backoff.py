"""Retry delays for a poller whose index is failing: jittered exponential backoff."""

from __future__ import annotations

import random

import attrs

from ...model.errors import SettingsError


@attrs.define
class Backoff:
    """The delays between retries: ``base * factor**n`` capped at ``cap``, each drawn uniformly
    from its upper half (jitter), so that a fleet whose index came back does not return at once.

    >>> backoff = Backoff(base=1.0, cap=60.0)
    >>> backoff.next_delay()  # after the first failure: between 0.5 and 1.0
    >>> backoff.reset()  # after a success

    :param base: the first delay, in seconds.
    :param cap: the longest delay.
    :param factor: how much each failure multiplies the delay.
    :param jitter: the part of each delay drawn at random (0: none, 1: from 0 to the delay).
    :param rng: the random source (seeded in tests).
    """

    base: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)
    failures: int = 0

    def __attrs_post_init__(self) -> None:
        if not (0 < self.base <= self.cap and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise SettingsError(
                f"needs 0 < base <= cap, factor >= 1 and 0 <= jitter <= 1: {self}", key="backoff"
            )

    def next_delay(self) -> float:
        """The delay before the next try, counting one more failure.

        :returns: seconds, at most :attr:`cap`.
        """
        # min() before the power grows: a long outage must not overflow the float.
        ceiling = min(self.cap, self.base * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """Start over from :attr:`base` (the index answered)."""
        self.failures = 0
