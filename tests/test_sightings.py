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

    def test_releases_gone_from_the_index_forgotten(self, tmp_path: Path) -> None:
        """retain() forgets a project's releases no longer on the index, after a restart too,
        and leaves the other projects' alone; nothing gone, nothing is written."""
        path = tmp_path / "sightings.json"
        seen = Sightings(path)
        for project, version in (("hello", "1.0"), ("hello", "2.0"), ("polite", "1.0")):
            seen.first_seen(project, version, T0)
        seen.retain("hello", {"2.0"})
        written = path.stat().st_mtime_ns
        seen.retain("hello", {"2.0"})
        assert path.stat().st_mtime_ns == written
        later = T0 + datetime.timedelta(hours=1)
        again = Sightings(path)
        assert again.first_seen("hello", "1.0", later) == later  # forgotten: seen anew
        assert again.first_seen("hello", "2.0", later) == T0
        assert again.first_seen("polite", "1.0", later) == T0
