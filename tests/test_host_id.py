"""The host id kept in the home."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginhost import StoreError
from pluginhost.state.host_id import HOST_ID_FILE, host_id


class TestHostId:
    def test_made_once_and_kept(self, tmp_path: Path) -> None:
        """The first call makes a random id; later calls (a restart) read the same."""
        first = host_id(tmp_path / "home")
        assert len(first) == 32
        assert host_id(tmp_path / "home") == first
        assert host_id(tmp_path / "other") != first

    def test_private(self, tmp_path: Path) -> None:
        """The document is private to the host's user."""
        host_id(tmp_path)
        assert (tmp_path / HOST_ID_FILE).stat().st_mode & 0o077 == 0

    def test_unusable_document_refused(self, tmp_path: Path) -> None:
        """A document that is not the host's is a StoreError, not a new id."""
        (tmp_path / HOST_ID_FILE).write_text("garbage")
        with pytest.raises(StoreError):
            host_id(tmp_path)
