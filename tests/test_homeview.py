"""A home as another process reads it: documents read without writing, from the backup."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginhost.host.homeview import read_document, read_home
from pluginhost.model.errors import HostStateError, StoreError
from pluginhost.state.store import AtomicJsonFile

RECORD = {
    "candidate": {
        "name": "hello",
        "version": "1.0.0",
        "origin": {"wheel": "/w/hello-1.0.0-py3-none-any.whl", "sha256": "ab"},
        "distribution": "hello",
        "requires": {},
        "optional": {},
    },
    "site_dir": "hello-1.0.0-abcd1234",
}


class TestReadDocument:
    def test_backup_when_main_is_corrupt(self, tmp_path: Path) -> None:
        """A corrupt main copy is passed over for the backup, and left as it is."""
        path = tmp_path / "doc.json"
        AtomicJsonFile(path).write({"n": 1})
        AtomicJsonFile(path).write({"n": 2})
        path.write_bytes(b"{half")
        assert read_document(path) == {"n": 1}
        assert path.read_bytes() == b"{half"

    def test_missing(self, tmp_path: Path) -> None:
        """Neither copy there: no document, no error."""
        assert read_document(tmp_path / "doc.json") is None

    def test_both_unusable(self, tmp_path: Path) -> None:
        """Both copies there but unusable: a StoreError giving both reasons."""
        path = tmp_path / "doc.json"
        path.write_bytes(b"{half")
        path.with_name("doc.json.bak").write_bytes(b"")
        with pytest.raises(StoreError, match=r"unusable: .*; backup "):
            read_document(path)


class TestReadHome:
    def test_not_a_home(self, tmp_path: Path) -> None:
        """A folder with no lock and no registry is refused, not read as an empty home."""
        with pytest.raises(HostStateError, match="not a pluginhost home"):
            read_home(tmp_path)

    def test_registry_only(self, tmp_path: Path) -> None:
        """Without a status document, the registry's active plugins are shown as committed."""
        AtomicJsonFile(tmp_path / "registry.json").write({"active": [RECORD], "removed": []})
        view = read_home(tmp_path)
        assert (view.status, view.holder, dict(view.errors)) == (None, None, {})
        assert view.load_order == ["hello"]
        entry = view.plugins["hello"]
        assert (entry["state"], entry["origin"], entry["sha256"]) == (
            "committed",
            "/w/hello-1.0.0-py3-none-any.whl",
            "ab",
        )

    def test_unreadable_document(self, tmp_path: Path) -> None:
        """A document that cannot be read is reported by name instead of failing the read."""
        AtomicJsonFile(tmp_path / "registry.json").write({"active": [], "removed": []})
        (tmp_path / "status.json").write_bytes(b"{half")
        view = read_home(tmp_path)
        assert view.status is None
        assert "status.json" in view.errors
