"""A home as another process reads it: documents read without writing, from the backup."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import greet_code, traced_peak

from pluginhost import Diagnosis, HostSnapshot, PluginHost
from pluginhost.cli.commands.list import home_line
from pluginhost.host.homeview import HomeView, read_document, read_home
from pluginhost.model.errors import HostStateError, StoreError
from pluginhost.state.store import DOCUMENT_LIMIT, AtomicJsonFile
from pluginhost.testing import WheelFactory


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

    def test_registry_only(self, stopped_home: Path) -> None:
        """Without a status document, the registry's active plugins are shown as committed."""
        (stopped_home / "status.json").unlink()
        view = read_home(stopped_home)
        assert (view.status, view.holder, dict(view.errors)) == (None, None, {})
        assert view.load_order == ["hello"]
        entry = view.plugins["hello"]
        assert (entry["state"], entry["version"]) == ("committed", "1.0.0")
        assert str(entry["origin"]).endswith("hello-1.0.0-py3-none-any.whl")

    @pytest.mark.parametrize(
        ("field", "value", "said"),
        [
            ("name", ["x"], "name must be a string"),
            ("origin", "here", "must be an object"),
            ("requires", [1], "must be an object"),
        ],
    )
    def test_a_registry_no_host_could_start_from_is_unreadable(
        self, stopped_home: Path, field: str, value: object, said: str
    ) -> None:
        """A registry whose record has a field of the wrong shape (checksummed: by hand, or by
        another version) is named in the errors and not shown: list, status and graph ended in
        an internal error (TypeError: unhashable type), and doctor found nothing wrong."""
        (stopped_home / "status.json").unlink()
        path = stopped_home / "registry.json"
        data = json.loads(path.read_text())["data"]
        data["active"][0]["candidate"][field] = value
        AtomicJsonFile(path, durable=False).write(data)
        view = read_home(stopped_home)
        assert view.registry is None
        assert said in view.errors["registry.json"]
        assert view.plugins == {}
        line = home_line(HostSnapshot.read(stopped_home))
        assert line is not None
        assert "registry.json cannot be read either: registry is not readable" in line
        problems = [f.message for f in Diagnosis.read(stopped_home).problems]
        assert any(m.startswith("registry.json cannot be read: ") for m in problems), problems

    def test_unreadable_status_of_a_running_host_is_said(
        self, make_host: Callable[..., PluginHost], factory: WheelFactory
    ) -> None:
        """While a host runs, an unreadable status document is said before the registry's
        plugins, shown in its place (list and status said nothing, as if they were the host's
        own status)."""
        factory.build("hello", "1.0.0", code=greet_code("hi"))
        host = make_host()
        (host.home / "status.json").write_bytes(b"{half")
        (host.home / "status.json.bak").unlink(missing_ok=True)
        snapshot = HostSnapshot.read(host.home)
        assert snapshot.running
        assert snapshot.plugins["hello"].info.version == "1.0.0"
        line = home_line(snapshot)
        assert line is not None
        assert line.startswith(f"host running (pid {os.getpid()}), but status.json ")
        assert line.endswith(": the registry's plugins are shown")
        assert home_line(HostSnapshot.of(host)) is None

    def test_unreadable_document(self, stopped_home: Path) -> None:
        """A document that cannot be read is reported by name instead of failing the read."""
        (stopped_home / "status.json").write_bytes(b"{half")
        (stopped_home / "status.json.bak").unlink(missing_ok=True)
        view = read_home(stopped_home)
        assert view.status is None
        assert "status.json" in view.errors

    def test_an_oversized_status_is_named_at_once(self, stopped_home: Path) -> None:
        """A status document grown past its limit (sparse zeros after it) is refused unread:
        named with its size in the errors and by doctor, and the registry shown instead."""
        path = stopped_home / "status.json"
        size = 4 * 1024**3
        os.truncate(path, size)
        views: list[HomeView] = []
        assert traced_peak(lambda: views.append(read_home(stopped_home))) < 4 * 1024 * 1024
        (view,) = views
        assert view.status is None
        assert view.errors["status.json"] == (
            f"unusable: is {size} bytes, over the limit of {DOCUMENT_LIMIT}; backup is missing"
        )
        assert view.load_order == ["hello"]
        problems = [f.message for f in Diagnosis.read(stopped_home).problems]
        assert f"status.json cannot be read: {view.errors['status.json']}" in problems
