"""Tests for the poller's backoff: jittered, exponential, capped, reset by a success."""

from __future__ import annotations

import random

import pytest

from pluginhost import SettingsError
from pluginhost.discover.index.backoff import Backoff


class TestBackoff:
    def test_grows_to_cap_with_jitter(self) -> None:
        """Each delay lies in the upper half of base * 2**n, capped, drawn at random."""
        backoff = Backoff(base=1.0, cap=10.0, jitter=0.5, rng=random.Random(7))
        delays = [backoff.next_delay() for _ in range(8)]
        ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
        assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
        assert len(set(delays)) == len(delays)

    def test_reset(self) -> None:
        """After reset() the next delay is the first one's again."""
        backoff = Backoff(base=2.0, cap=60.0, jitter=0.0)
        assert [backoff.next_delay() for _ in range(3)] == [2.0, 4.0, 8.0]
        backoff.reset()
        assert backoff.next_delay() == 2.0

    def test_long_outage_stays_at_cap(self) -> None:
        """Thousands of failures neither overflow nor pass the cap."""
        backoff = Backoff(base=1.0, cap=300.0, jitter=0.0)
        for _ in range(5000):
            delay = backoff.next_delay()
        assert delay == 300.0

    @pytest.mark.parametrize(
        "kwargs", [{"base": 0}, {"base": 5, "cap": 1}, {"factor": 0.5}, {"jitter": 2}]
    )
    def test_bad_settings(self, kwargs: dict[str, float]) -> None:
        """A backoff that cannot work is a SettingsError."""
        with pytest.raises(SettingsError, match="backoff"):
            Backoff(**kwargs)  # type: ignore[arg-type]
