"""Tests for the static test index: pages by Accept, changes, serial, faults, restarts."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import httpx
import pytest

from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import HTML_TYPE, JSON_TYPE, Fault, StaticIndex


class TestStaticIndex:
    def test_pages_by_accept(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """JSON to a client that asks for it, HTML otherwise, both with the serial."""
        static_index.publish(built.build("hello", "1.0.0"))
        as_json = httpx.get(f"{static_index.url}hello/", headers={"Accept": JSON_TYPE})
        as_html = httpx.get(f"{static_index.url}hello/")
        assert as_json.headers["Content-Type"] == JSON_TYPE
        assert json.loads(as_json.content)["files"][0]["filename"] == "hello-1.0.0-py3-none-any.whl"
        assert as_html.headers["Content-Type"] == HTML_TYPE
        assert b"hello-1.0.0-py3-none-any.whl</a>" in as_html.content
        assert as_json.headers["X-PyPI-Last-Serial"] == str(static_index.serial)

    def test_delete_last_release(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """Deleting a project's last release removes its file, its page (404) and its listing."""
        wheel = built.build("hello", "1.0.0")
        static_index.publish(wheel)
        serial = static_index.serial
        static_index.delete("hello", "1.0.0")
        assert static_index.serial > serial
        assert not static_index.file_path(wheel.name).exists()
        assert httpx.get(f"{static_index.url}hello/").status_code == 404
        assert b"hello" not in httpx.get(static_index.url).content

    def test_faults(self, static_index: StaticIndex) -> None:
        """A fault answers its path with its status, body or redirect."""
        static_index.fault("/simple/a/", Fault(status=503, body=b"down"))
        static_index.fault("/simple/b/", Fault(redirect="http://elsewhere.invalid/"))
        down = httpx.get(f"{static_index.url}a/")
        moved = httpx.get(f"{static_index.url}b/")
        assert (down.status_code, down.content) == (503, b"down")
        assert (moved.status_code, moved.headers["Location"]) == (302, "http://elsewhere.invalid/")

    def test_restart_same_port(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """Stopped, the index refuses connections; started again, it serves the same pages."""
        static_index.publish(built.build("hello", "1.0.0"))
        static_index.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(static_index.url)
        static_index.start()
        assert httpx.get(f"{static_index.url}hello/").status_code == 200

    def test_no_path_escape(self, static_index: StaticIndex) -> None:
        """A file request cannot leave the files folder (sent raw: clients normalize ``..``)."""
        host, port = static_index.base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"GET /files/../simple/index.json HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = conn.recv(200)
        assert static_index.requests[-1][1] == "/files/../simple/index.json"
        assert answer.startswith(b"HTTP/1.1 404")

    def test_publish_writes_its_project_alone(
        self, static_index: StaticIndex, built: WheelFactory
    ) -> None:
        """Publishing rewrites the pages of its project (and the root when a project is new),
        not every page: publishing 1,000 projects took minutes when each rewrote all."""
        static_index.publish(built.build("hello", "1.0.0"))
        other = static_index.root / "simple" / "hello" / "index.json"
        before = other.stat().st_ino
        static_index.publish(built.build("polite", "1.0.0"))
        static_index.publish(built.build("polite", "1.1.0"))
        assert other.stat().st_ino == before
        listing = httpx.get(static_index.url, headers={"Accept": JSON_TYPE}).json()
        assert [p["name"] for p in listing["projects"]] == ["hello", "polite"]

    def test_publish_again_replaces(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """A wheel published again under its name replaces the first: one line, its hash."""
        static_index.publish(built.build("hello", "1.0.0", code="A = 1\n"))
        wheel = built.build("hello", "1.0.0", code="A = 2\n")
        static_index.publish(wheel)
        page = httpx.get(f"{static_index.url}hello/", headers={"Accept": JSON_TYPE}).json()
        (entry,) = page["files"]
        assert entry["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()

    def test_last_modified_only(self, tmp_path: Path, built: WheelFactory) -> None:
        """With validators="last-modified", a page has no ETag; If-Modified-Since of its date
        is a 304, and each change moves the date, twice in one second too."""
        with StaticIndex(tmp_path / "lm", validators="last-modified") as index:
            index.publish(built.build("hello", "1.0.0"))
            first = httpx.get(f"{index.url}hello/")
            assert "ETag" not in first.headers
            since = {"If-Modified-Since": first.headers["Last-Modified"]}
            assert httpx.get(f"{index.url}hello/", headers=since).status_code == 304
            index.publish(built.build("hello", "1.1.0"))
            again = httpx.get(f"{index.url}hello/", headers=since)
            assert again.status_code == 200
            assert again.headers["Last-Modified"] != first.headers["Last-Modified"]
