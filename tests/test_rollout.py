"""Staged rollout: cohorts, steps and the status text."""

from __future__ import annotations

import collections
import datetime

import pytest

from pluginhost import Rollout, SettingsError
from pluginhost.model.rollout import RolloutStep, cohort, duration_text


class TestCohort:
    def test_stable_and_in_range(self) -> None:
        """A cohort is the same for the same release and host, between 0 and 99."""
        assert cohort("web-1", "hello", "2.0.0") == cohort("web-1", "hello", "2.0.0")
        assert all(0 <= cohort(f"h{i}", "hello", "2.0.0") < 100 for i in range(200))

    def test_known_value(self) -> None:
        """The cohort is sha256 of host id, project and version (never Python's salted hash)."""
        import hashlib

        digest = hashlib.sha256(b"web-1\nhello\n2.0.0").digest()
        assert cohort("web-1", "hello", "2.0.0") == int.from_bytes(digest[:8], "big") % 100

    def test_other_release_other_slice(self) -> None:
        """Each release puts a different slice of the fleet first."""
        hosts = [f"host-{i}" for i in range(100)]
        first_v2 = {h for h in hosts if cohort(h, "hello", "2.0.0") < 10}
        first_v3 = {h for h in hosts if cohort(h, "hello", "3.0.0") < 10}
        assert first_v2 != first_v3

    def test_spread(self) -> None:
        """Cohorts of many hosts spread over the hundred values."""
        counts = collections.Counter(cohort(f"h{i}", "p", "1") // 10 for i in range(5000))
        assert min(counts.values()) > 350


class TestRollout:
    def test_percent_at_each_step(self) -> None:
        """The percent of hosts reached grows with the release's age, step by step."""
        r = Rollout()
        assert [r.percent_at(a) for a in (0, 1799, 1800, 7199, 7200)] == [10, 10, 50, 50, 100]

    def test_admits_by_cohort(self) -> None:
        """A host takes a release once the step reaching its cohort has passed."""
        r = Rollout(steps=[(0, 10), (60, 50), (120, 100)])
        assert [r.admits(9, 0), r.admits(10, 59), r.admits(10, 60)] == [True, False, True]
        assert [r.admits(73, 119), r.admits(73, 120)] == [False, True]

    def test_wait_text(self) -> None:
        """The status line says the step reached and the host's cohort."""
        text = Rollout().wait_text(73, 1900)
        assert text.startswith("rollout: 50% of hosts after 30 min; this host is in cohort 73")
        assert "its turn after 2 h" in text

    def test_wait_text_with_the_upload_time(self) -> None:
        """Given when the release was uploaded, the host's turn is a time in UTC."""
        uploaded = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=datetime.timezone.utc)
        text = Rollout().wait_text(73, 1900, uploaded=uploaded)
        assert text.endswith("(its turn after 2 h, at 2026-12-07 10:00 UTC)")

    def test_wait_text_past_the_calendar(self) -> None:
        """An upload time whose turn falls past year 9999 (an index may say anything) gives
        the wait as a duration; it raised OverflowError."""
        uploaded = datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone.utc)
        text = Rollout().wait_text(73, 1900, uploaded=uploaded)
        assert text.endswith("(its turn after 2 h, in 1 h 28 min)")

    def test_wait_text_before_any_step(self) -> None:
        """Before the first step, no host has it yet."""
        text = Rollout(steps=[(60, 100)]).wait_text(5, 0)
        assert text.startswith("rollout: no host yet (the first step is 1 min)")

    @pytest.mark.parametrize(
        "steps",
        [[], [(0, 101)], [(-1, 10)], [(60, 10), (30, 50)], [(0, 50), (60, 10)], [(0, 1.5)], [3]],
    )
    def test_bad_steps_refused(self, steps: list[object]) -> None:
        """Steps must be (seconds >= 0, percent 0-100), later and reaching no fewer hosts."""
        with pytest.raises(SettingsError):
            Rollout(steps=steps)  # type: ignore[arg-type]

    def test_steps_as_values(self) -> None:
        """Steps are kept as frozen values."""
        assert Rollout(steps=[(0, 100)]).steps == (RolloutStep(0, 100),)

    def test_empty_host_id_refused(self) -> None:
        """A host id must say something."""
        with pytest.raises(SettingsError):
            Rollout(host_id=" ")


def test_duration_text() -> None:
    """Durations read as people say them."""
    assert [duration_text(s) for s in (0, 59, 60, 3600, 3660, 7200)] == [
        "0 s",
        "59 s",
        "1 min",
        "1 h",
        "1 h 1 min",
        "2 h",
    ]
