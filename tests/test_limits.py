"""ResourceLimits: ceilings a manifest can lower, never raise."""

from __future__ import annotations

import pytest

from pluginhost.model.limits import ResourceLimits


class TestResourceLimits:
    def test_lowered_by_takes_the_lower_of_each_field(self) -> None:
        """Each field in force is the lower of the host's ceiling and the manifest's wish."""
        host = ResourceLimits(memory_mb=512, threads=8, call_timeout_s=5.0)
        wanted = ResourceLimits(memory_mb=1024, threads=4, open_files=64)
        assert host.lowered_by(wanted) == ResourceLimits(
            memory_mb=512, threads=4, open_files=64, call_timeout_s=5.0
        )

    def test_no_limit_on_either_side_stays_none(self) -> None:
        """A field neither side limits stays unlimited."""
        assert ResourceLimits().lowered_by(ResourceLimits()).is_unlimited()

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("memory_mb", 99_999_999_999_999),
            ("memory_mb", 10**30),
            ("threads", 2**31),
            ("call_timeout_s", float("inf")),
        ],
    )
    def test_a_limit_past_what_a_worker_can_enforce_is_refused(
        self, field: str, value: float
    ) -> None:
        """A limit no worker can put in force is refused where it is given: it failed every
        process plugin's load later (an OverflowError, or a worker dying as it started)."""
        with pytest.raises(ValueError, match=f"{field} must be at most"):
            ResourceLimits(**{field: value})

    @pytest.mark.parametrize("field", ["memory_mb", "cpu_cores", "threads", "open_files"])
    def test_a_limit_must_be_positive(self, field: str) -> None:
        """A zero or negative limit is refused."""
        with pytest.raises(ValueError, match=field):
            ResourceLimits(**{field: 0})
