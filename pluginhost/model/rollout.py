"""Staged rollout: when a version published on an index may reach this host.

A fleet of hosts follows one index. A release reaches each host once it is old enough for that
host's *cohort*: a stable hash of (host id, project, version) mod 100, so that a different
slice of the fleet goes first for each release, and a host finds the same cohort after a
restart. Each step of a :class:`Rollout` is (seconds since the upload, percent of hosts): with
the default, cohorts 0-9 take a release at once, cohorts 10-49 after 30 minutes, the rest after
two hours.

Pure values and functions of the time given: the follower (``discover/following.py``) knows
the clock, the upload times and the host id.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections.abc import Iterable

import attrs

from .errors import SettingsError
from .frozen import frozen

__all__ = ["DEFAULT_STEPS", "Rollout", "RolloutStep", "cohort", "duration_text"]

#: (seconds since upload, percent of hosts): 10% at once, 50% after 30 min, all after 2 h.
DEFAULT_STEPS: tuple[tuple[float, int], ...] = ((0, 10), (1800, 50), (7200, 100))


@frozen
class RolloutStep:
    """From ``after`` seconds past the upload, the cohorts below ``percent`` take a release."""

    after: float
    percent: int


def _steps(value: Iterable[tuple[float, int] | RolloutStep]) -> tuple[RolloutStep, ...]:
    steps = []
    for item in value:
        if isinstance(item, RolloutStep):
            steps.append(item)
            continue
        try:
            after, percent = item
        except (TypeError, ValueError):
            raise SettingsError(
                f"each step is (seconds, percent), not {item!r}", key="rollout"
            ) from None
        steps.append(RolloutStep(after, percent))
    return tuple(steps)


def _check_steps(rollout: object, attribute: object, steps: tuple[RolloutStep, ...]) -> None:
    if not steps:
        raise SettingsError("needs at least one step", key="rollout")
    for step in steps:
        after_ok = not isinstance(step.after, bool) and isinstance(step.after, (int, float))
        if not after_ok or step.after < 0:
            raise SettingsError(f"{step.after!r} is not a number of seconds >= 0", key="rollout")
        if isinstance(step.percent, bool) or not isinstance(step.percent, int):
            raise SettingsError(f"{step.percent!r} is not a whole percent", key="rollout")
        if not 0 <= step.percent <= 100:
            raise SettingsError(f"{step.percent}% is not between 0 and 100", key="rollout")
    for earlier, later in itertools.pairwise(steps):
        if later.after <= earlier.after or later.percent < earlier.percent:
            raise SettingsError(
                "steps must come later and reach no fewer hosts than the step before",
                key="rollout",
            )


def _host_id(rollout: object, attribute: object, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SettingsError(f"host_id must be a non-empty string, not {value!r}", key="rollout")


@frozen
class Rollout:
    """How a new release reaches the hosts of a fleet; see the module docstring.

    >>> r = Rollout(host_id="web-1")
    >>> r.percent_at(0), r.percent_at(1800), r.percent_at(10_000)
    (10, 50, 100)

    :param host_id: this host's id in the fleet; ``None``: a random id kept in the home
        (``home/host-id``), made at the first start.
    :param steps: (seconds since the upload, percent of hosts), later steps reaching more.
    :raises SettingsError: when a step is not (seconds >= 0, percent 0-100), or the steps do
        not come later and reach more.
    """

    host_id: str | None = attrs.field(default=None, validator=_host_id)
    steps: tuple[RolloutStep, ...] = attrs.field(
        default=_steps(DEFAULT_STEPS), converter=_steps, validator=_check_steps
    )

    def percent_at(self, age: float) -> int:
        """The percent of hosts a release of age ``age`` (seconds) has reached."""
        reached = [s.percent for s in self.steps if s.after <= age]
        return max(reached, default=0)

    def step_for(self, cohort: int) -> RolloutStep | None:
        """The first step that reaches ``cohort``; ``None`` when no step ever does."""
        return next((s for s in self.steps if cohort < s.percent), None)

    def admits(self, cohort: int, age: float) -> bool:
        """Whether a release of age ``age`` has reached a host in ``cohort``."""
        return cohort < self.percent_at(age)

    def wait_text(
        self, cohort: int, age: float, *, uploaded: datetime.datetime | None = None
    ) -> str:
        """Why a release of age ``age`` has not reached a host in ``cohort`` yet, for people:
        ``rollout: 50% of hosts after 30 min; this host is in cohort 73 (its turn after 2 h,
        in 1 h 30 min)``; given when the release was ``uploaded``, the turn is a time
        (``at 2026-12-07 10:30 UTC``): a countdown made the problem another one every minute.
        """
        current = [s for s in self.steps if s.after <= age]
        if current:
            now = f"{current[-1].percent}% of hosts after {duration_text(current[-1].after)}"
        else:
            now = f"no host yet (the first step is {duration_text(self.steps[0].after)})"
        text = f"rollout: {now}; this host is in cohort {cohort}"
        step = self.step_for(cohort)
        if step is None:
            return f"{text}, which no step reaches"
        when = _due(uploaded, step.after) if uploaded is not None else None
        if when is None:
            when = f"in {duration_text(max(0.0, step.after - age))}"
        return f"{text} (its turn after {duration_text(step.after)}, {when})"


def _due(uploaded: datetime.datetime, after: float) -> str | None:
    """``at <time> UTC``; ``None`` past the calendar's end (the index gave the upload time)."""
    try:
        due = uploaded.astimezone(datetime.timezone.utc) + datetime.timedelta(seconds=after)
    except OverflowError:
        return None
    return f"at {due:%Y-%m-%d %H:%M} UTC"


def cohort(host_id: str, project: str, version: str) -> int:
    """The cohort (0-99) of a host for one release: stable across processes and restarts
    (sha256, never Python's salted ``hash``).

    >>> cohort("web-1", "hello", "1.0.0") == cohort("web-1", "hello", "1.0.0")
    True
    """
    digest = hashlib.sha256(f"{host_id}\n{project}\n{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def duration_text(seconds: float) -> str:
    """``90`` -> ``"1 min 30 s"``, ``7200`` -> ``"2 h"``: what people read in a status line.

    >>> duration_text(0), duration_text(45), duration_text(1800), duration_text(5400)
    ('0 s', '45 s', '30 min', '1 h 30 min')
    """
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    if not hours:
        parts.append(f"{secs} s" if secs or not minutes else "")
    return " ".join(p for p in parts if p) or "0 s"
