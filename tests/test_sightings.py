"""First sightings of releases, kept across restarts."""

from __future__ import annotations

import datetime
from pathlib import Path

from pluginhost.state.sightings import Sightings

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


class TestSightings:
    def test_first_sighting_kept(self, tmp_path: Path) -> None:
        """The first time a release is seen is its time from then on, after a restart too."""
        path = tmp_path / "index" / "sightings.json"
        assert Sightings(path).first_seen("hello", "1.0", T0) == T0
        later = T0 + datetime.timedelta(hours=3)
        assert Sightings(path).first_seen("hello", "1.0", later) == T0
        assert Sightings(path).first_seen("hello", "2.0", later) == later
