"""Tests for the real test indexes: devpi-server and pypiserver as the index tests use them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import DevpiIndex, DevpiServer, PypiServer, ServerError


class TestPypiServer:
    def test_password_required(self, tmp_path: Path) -> None:
        """With auth, pypiserver refuses anonymous reads, and uploads with the password work."""
        with PypiServer(tmp_path / "p", auth=("bob", "pw")) as server:
            assert httpx.get(server.url).status_code == 401
            server.publish(WheelFactory(tmp_path / "w").build("hello", "1.0.0"))
            assert httpx.get(f"{server.url}hello/", auth=("bob", "pw")).status_code == 200
            assert server.file_path("hello-1.0.0-py3-none-any.whl").is_file()

    def test_refused_upload(self, tmp_path: Path) -> None:
        """An upload the server refuses is a ServerError."""
        with PypiServer(tmp_path / "p", auth=("bob", "pw")) as server:
            wheel = WheelFactory(tmp_path / "w").build("hello", "1.0.0")
            server.publish(wheel)
            with pytest.raises(ServerError, match="upload"):
                server.publish(wheel)  # pypiserver refuses to overwrite a file


class TestDevpi:
    def test_indexes_are_separate(self, devpi_server: DevpiServer, tmp_path: Path) -> None:
        """Each new index starts empty: what one test publishes, another does not see."""
        first, second = devpi_server.new_index(), devpi_server.new_index()
        first.publish(WheelFactory(tmp_path / "w").build("hello", "1.0.0"))
        assert httpx.get(f"{first.url}hello/").status_code == 200
        assert httpx.get(f"{second.url}hello/").status_code == 404

    def test_file_path(self, devpi_index: DevpiIndex, tmp_path: Path) -> None:
        """The stored file is found on disk; an unknown one is a ServerError."""
        wheel = WheelFactory(tmp_path / "w").build("hello", "1.0.0")
        devpi_index.publish(wheel)
        assert devpi_index.file_path(wheel.name).read_bytes() == wheel.read_bytes()
        with pytest.raises(ServerError, match="not stored"):
            devpi_index.file_path("other-1.0.0-py3-none-any.whl")
