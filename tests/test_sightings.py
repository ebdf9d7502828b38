"""First sightings of releases, kept across restarts."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import pytest

from pluginhost.state.sightings import Sightings
from pluginhost.state.store import AtomicJsonFile

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


class TestUnreadable:
    @pytest.mark.parametrize(
        "value",
        ["2026-01-01T00:00:00", "yesterday", 7, None, ["x"], "0001-01-01T00:00:00+14:00"],
    )
    def test_unreadable_entry_dropped(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, value: object
    ) -> None:
        """An entry whose time is not one, or has no zone (checksummed all the same), is
        dropped and said, naming the document: the release is seen anew, the others keep
        their time. A time without a zone failed every poll (naive minus aware)."""
        path = tmp_path / "sightings.json"
        AtomicJsonFile(path).write({"hello 1.0": value, "hello 2.0": T0.isoformat()})
        later = T0 + datetime.timedelta(hours=1)
        seen = Sightings(path)
        assert seen.first_seen("hello", "1.0", later) == later
        assert seen.first_seen("hello", "2.0", later) == T0
        (said,) = [r for r in caplog.records if "hello 1.0" in r.getMessage()]
        assert said.levelno == logging.WARNING
        assert str(path) in said.getMessage()
        assert "unreadable" in said.getMessage()
        assert Sightings(path).first_seen("hello", "1.0", T0) == later  # rewritten

    def test_time_in_another_zone_read_in_utc(self, tmp_path: Path) -> None:
        """A time with another zone is the same instant, in UTC."""
        path = tmp_path / "sightings.json"
        AtomicJsonFile(path).write({"hello 1.0": "2026-01-01T02:00:00+02:00"})
        found = Sightings(path).first_seen("hello", "1.0", T0 + datetime.timedelta(days=1))
        assert found == T0
        assert found.utcoffset() == datetime.timedelta(0)

    def test_unusable_document_forgotten(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A document with no usable copy (here not JSON) is forgotten and said, as the
        quarantine's is, and written anew: it raised at every poll."""
        path = tmp_path / "sightings.json"
        path.write_text("{not json")
        assert Sightings(path).first_seen("hello", "1.0", T0) == T0
        assert any("sightings.json" in r.getMessage() for r in caplog.records)
        later = T0 + datetime.timedelta(hours=1)
        assert Sightings(path).first_seen("hello", "1.0", later) == T0
