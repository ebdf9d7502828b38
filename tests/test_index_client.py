"""Tests for the index client against real servers on loopback: devpi-server (PEP 691 JSON),
pypiserver (PEP 503 HTML) and the static index (yanks, ETags, faults)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest

from pluginhost import IndexHashError, IndexResponseError, IndexUnavailableError
from pluginhost.discover.index import client as client_module
from pluginhost.discover.index.client import IndexClient
from pluginhost.discover.index.pages import NOT_MODIFIED, ProjectPage
from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import DevpiIndex, Fault, PypiServer, StaticIndex


def read(client: IndexClient, project: str) -> ProjectPage:
    page = client.project(project)
    assert isinstance(page, ProjectPage), page
    return page


def versions(page: ProjectPage) -> list[str]:
    return sorted(f.filename.split("-")[1] for f in page.files)


class TestPages:
    def test_devpi_json_and_pypiserver_html_alike(
        self, devpi_index: DevpiIndex, pypi_server: PypiServer, built: WheelFactory
    ) -> None:
        """devpi's JSON page and pypiserver's HTML page of one wheel read into the same files."""
        wheel = built.build("hello", "1.0.0")
        devpi_index.publish(wheel)
        pypi_server.publish(wheel)
        with IndexClient(devpi_index.url) as devpi, IndexClient(pypi_server.url) as pypi:
            from_json, from_html = read(devpi, "Hello"), read(pypi, "hello")
        assert from_json.project == from_html.project == "hello"
        assert [(f.filename, f.sha256, f.yanked) for f in from_json.files] == [
            (f.filename, f.sha256, f.yanked) for f in from_html.files
        ]
        assert from_json.files[0].sha256 is not None
        assert from_json.serial is not None  # devpi's X-Devpi-Serial
        assert from_html.serial is None  # pypiserver sends none

    @pytest.mark.parametrize("server", ["devpi_index", "pypi_server"])
    def test_root_listing(
        self, server: str, request: pytest.FixtureRequest, built: WheelFactory
    ) -> None:
        """The root listing names every project, normalized, on devpi and on pypiserver."""
        index = request.getfixturevalue(server)
        index.publish(built.build("Hello_World", "1.0.0"))
        with IndexClient(index.url) as client:
            assert client.projects().names == ("hello-world",)

    def test_page_size_cap(self, static_index: StaticIndex) -> None:
        """A page past the size cap is an IndexResponseError, not read into memory whole; its
        reason names the page, the cap and the URL (a problem shows the reason alone, which
        said neither which page nor where)."""
        big = b'{"meta": {"api-version": "1.0"}, "files": []}' + b" " * 5000
        static_index.fault("/simple/hello/", Fault(body=big))
        refused = pytest.raises(IndexResponseError, match="larger than 1000 bytes")
        with IndexClient(static_index.url, max_page_bytes=1000) as client, refused as info:
            client.project("hello")
        page = f"{static_index.url}hello/"
        assert info.value.reason == (
            f"sent the page of hello larger than 1000 bytes (its size cap): {page!r}"
        )
        assert info.value.url == page

    def test_root_listing_size_cap(self, static_index: StaticIndex) -> None:
        """A root listing past the size cap names the listing, the cap and the URL."""
        big = b'{"meta": {"api-version": "1.0"}, "projects": []}' + b" " * 5000
        static_index.fault("/simple/", Fault(body=big))
        refused = pytest.raises(IndexResponseError, match="larger than 1000 bytes")
        with IndexClient(static_index.url, max_page_bytes=1000) as client, refused as info:
            client.projects()
        assert info.value.reason == (
            f"sent the root listing larger than 1000 bytes (its size cap): {static_index.url!r}"
        )


class TestPolling:
    def test_devpi_serial_unchanged_is_not_modified(
        self, devpi_index: DevpiIndex, built: WheelFactory
    ) -> None:
        """devpi honours no conditional request, but its unchanged serial makes a poll idle."""
        devpi_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(devpi_index.url) as client:
            read(client, "hello")
            assert client.project("hello") is NOT_MODIFIED

    def test_new_version_then_deleted_release(
        self, devpi_index: DevpiIndex, built: WheelFactory
    ) -> None:
        """A new version appears on the next poll; a deleted release goes; none left is None."""
        devpi_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(devpi_index.url) as client:
            assert versions(read(client, "hello")) == ["1.0.0"]
            devpi_index.publish(built.build("hello", "2.0.0"))
            assert versions(read(client, "hello")) == ["1.0.0", "2.0.0"]
            devpi_index.delete("hello", "2.0.0")
            assert versions(read(client, "hello")) == ["1.0.0"]
            devpi_index.delete("hello", "1.0.0")
            assert client.project("hello") is None

    def test_pypiserver_new_and_removed(self, pypi_server: PypiServer, built: WheelFactory) -> None:
        """pypiserver (no validators, no serial) is read in full at each poll, changes seen."""
        pypi_server.publish(built.build("hello", "1.0.0"))
        with IndexClient(pypi_server.url) as client:
            assert versions(read(client, "hello")) == ["1.0.0"]
            pypi_server.publish(built.build("hello", "1.1.0"))
            assert versions(read(client, "hello")) == ["1.0.0", "1.1.0"]
            pypi_server.delete("hello", "1.0.0")
            assert versions(read(client, "hello")) == ["1.1.0"]

    def test_index_serial(
        self, devpi_index: DevpiIndex, pypi_server: PypiServer, built: WheelFactory
    ) -> None:
        """serial() reads the index-wide serial: unchanged while idle, raised by a publish;
        None from pypiserver, which sends none."""
        with IndexClient(devpi_index.url) as devpi, IndexClient(pypi_server.url) as pypi:
            before = devpi.serial()
            assert before is not None
            assert devpi.serial() == before
            devpi_index.publish(built.build("hello", "1.0.0"))
            assert (devpi.serial() or 0) > before
            assert pypi.serial() is None

    @pytest.mark.parametrize(
        ("header", "serial"),
        [("42", 42), (" 7 ", 7), ("\u00b2", None), ("1" * 5000, None), ("-3", None), ("", None)],
    )
    def test_odd_serial_header_ignored(
        self, static_index: StaticIndex, header: str, serial: int | None
    ) -> None:
        """A serial header that is not a plain number is no serial (a superscript digit, or
        5,000 digits, raised ValueError out of every poll)."""
        headers = (("X-PyPI-Last-Serial", header),)
        static_index.fault("/simple/", Fault(body=b"{}", headers=headers))
        with IndexClient(static_index.url) as client:
            assert client.serial() == serial

    def test_etag_gives_304(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """Where the server honours If-None-Match (the static index; PyPI does too), an idle
        poll is one request answered 304, with no body and no download."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            read(client, "hello")
            static_index.requests.clear()
            assert client.project("hello") is NOT_MODIFIED
            ((method, path, headers),) = static_index.requests
            assert (method, path) == ("GET", "/simple/hello/")
            assert "If-None-Match" in headers
            static_index.publish(built.build("hello", "1.1.0"))
            assert versions(read(client, "hello")) == ["1.0.0", "1.1.0"]

    def test_last_modified_gives_304(self, tmp_path: Path, built: WheelFactory) -> None:
        """A server that sends only Last-Modified is asked If-Modified-Since: an idle poll is a
        304, and a change is read."""
        with StaticIndex(tmp_path / "lm", validators="last-modified") as index:
            index.publish(built.build("hello", "1.0.0"))
            with IndexClient(index.url) as client:
                read(client, "hello")
                index.requests.clear()
                assert client.project("hello") is NOT_MODIFIED
                ((_, _, headers),) = index.requests
                assert "If-Modified-Since" in headers
                assert "If-None-Match" not in headers
                index.publish(built.build("hello", "1.1.0"))
                assert versions(read(client, "hello")) == ["1.0.0", "1.1.0"]

    def test_forget(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """After forget(), the next poll reads the page in full even though nothing changed."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            read(client, "hello")
            client.forget("Hello")
            assert versions(read(client, "hello")) == ["1.0.0"]
            client.forget()
            assert versions(read(client, "hello")) == ["1.0.0"]
            assert client.project("hello") is NOT_MODIFIED

    def test_serial_without_validators(self, tmp_path: Path, built: WheelFactory) -> None:
        """A server that sends a serial but no ETag: an unchanged serial is NOT_MODIFIED."""
        with StaticIndex(tmp_path / "ix", validators=False) as index:
            index.publish(built.build("hello", "1.0.0"))
            with IndexClient(index.url) as client:
                read(client, "hello")
                assert client.project("hello") is NOT_MODIFIED
                index.yank("hello", "1.0.0")
                assert read(client, "hello").files[0].yanked == ""

    def test_yanked_file(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """A yanked release (PEP 592) reads as yanked, with its reason, in JSON as in HTML."""
        static_index.publish(built.build("hello", "1.0.0"))
        static_index.publish(built.build("hello", "2.0.0"))
        static_index.yank("hello", "2.0.0", "broke the greeting")
        with IndexClient(static_index.url) as client:
            page = read(client, "hello")
        assert [f.yanked for f in page.files] == [None, "broke the greeting"]


class TestDownload:
    def test_download_checked(
        self, devpi_index: DevpiIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A download lands in the cache folder, its bytes those the index hashed."""
        wheel = built.build("hello", "1.0.0")
        devpi_index.publish(wheel)
        with IndexClient(devpi_index.url) as client:
            path = client.download(read(client, "hello").files[0], tmp_path / "cache")
        assert path == tmp_path / "cache" / wheel.name
        assert path.read_bytes() == wheel.read_bytes()

    @pytest.mark.parametrize("server", ["devpi", "pypiserver"])
    def test_tampered_bytes_refused(
        self,
        server: str,
        request: pytest.FixtureRequest,
        built: WheelFactory,
        tmp_path: Path,
    ) -> None:
        """Bytes changed on the server's disk are an IndexHashError, and no file is left."""
        index = request.getfixturevalue("devpi_index" if server == "devpi" else "pypi_server")
        wheel = built.build("hello", "1.0.0")
        index.publish(wheel)
        with IndexClient(index.url) as client:
            file = read(client, "hello").files[0]
            stored = index.file_path(wheel.name)
            stored.write_bytes(stored.read_bytes().replace(b"PK", b"Pk", 1))
            with pytest.raises(IndexHashError, match="sha256") as caught:
                client.download(file, tmp_path / "cache")
        assert list((tmp_path / "cache").iterdir()) == []
        # The error names the project, as the poll's problem does (it named only the URL).
        assert caught.value.plugin == "hello"
        assert "project 'hello'" in str(caught.value)

    def test_download_size_cap(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A file past the download cap is refused, and nothing of it is left."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url, max_download_bytes=100) as client:
            file = read(client, "hello").files[0]
            with pytest.raises(IndexResponseError, match="larger than 100 bytes") as info:
                client.download(file, tmp_path / "cache")
        assert list((tmp_path / "cache").iterdir()) == []
        assert info.value.plugin == "hello"
        assert info.value.reason == (
            "sent the file hello-1.0.0-py3-none-any.whl larger than 100 bytes (its size cap): "
            f"{file.url!r}"
        )

    def test_metadata_size_cap(
        self,
        static_index: StaticIndex,
        built: WheelFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A core metadata file past its cap is refused naming the file, the cap and the URL
        (it said "a page", and no URL in its reason)."""
        monkeypatch.setattr(client_module, "MAX_METADATA_BYTES", 10)
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            file = read(client, "hello").files[0]
            with pytest.raises(IndexResponseError, match="larger than 10 bytes") as info:
                client.metadata(file)
        assert info.value.plugin == "hello"
        assert info.value.reason == (
            "sent the core metadata file of hello-1.0.0-py3-none-any.whl larger than 10 bytes "
            f"(its size cap): {file.metadata_url!r}"
        )

    def test_a_file_name_too_long_to_keep_is_refused_before_the_download(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A name longer than a file system keeps (a 300-character local version label): its
        rename into the cache raised ENAMETOOLONG, an OSError that failed every poll."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            file = read(client, "hello").files[0]
            long = attrs.evolve(file, filename="hello-1.0.0+" + "a" * 300 + "-py3-none-any.whl")
            with pytest.raises(IndexResponseError, match="longer than a cache can keep"):
                client.download(long, tmp_path / "cache")
        assert static_index.requests == [r for r in static_index.requests if "files" not in r[1]]

    @pytest.mark.parametrize(
        "name",
        [
            "hello-1.0.0-1\x00-py3-none-any.whl",
            "hello-1.0.0-1\x1b[2J-py3-none-any.whl",
            "hello-1.0.0-1\n-py3-none-any.whl",
            "hello-1.0.0-1\x85-py3-none-any.whl",
            "hello-1.0.0-1\ud800-py3-none-any.whl",
        ],
        ids=["nul", "escape", "newline", "c1-control", "lone-surrogate"],
    )
    def test_a_file_name_no_cache_keeps_is_refused_before_the_download(
        self, name: str, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A name with a NUL (packaging takes one in a build tag), another control character
        or a lone surrogate is refused naming it, before any request: the NUL's rename into
        the cache raised ValueError, the surrogate's UnicodeEncodeError, and either failed
        every poll of the index, untyped; the others reached the cache's file names."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            file = read(client, "hello").files[0]
            hostile = attrs.evolve(file, filename=name)
            with pytest.raises(IndexResponseError, match="no cached file name takes") as caught:
                client.download(hostile, tmp_path / "cache")
        assert repr(name) in caught.value.reason
        assert caught.value.plugin == "hello"
        assert not [path for _, path, _ in static_index.requests if path.startswith("/files/")]
        assert not list(tmp_path.glob("cache/*"))

    def test_trickled_download_refused(
        self, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A file sent a byte at a time, each read within the timeout, is refused once it falls
        behind the slowest rate taken, and nothing of it is left (it held the poller for as
        long as the index liked)."""
        wheel = built.build("hello", "1.0.0")
        static_index.publish(wheel)
        with IndexClient(static_index.url, timeout=0.5) as client:
            file = read(client, "hello").files[0]
            path = "/" + file.url.split("/", 3)[3]
            static_index.fault(path, Fault(body=wheel.read_bytes(), trickle=0.05))
            started = time.monotonic()
            slower = "sent a file slower than 16384 bytes"
            with pytest.raises(IndexUnavailableError, match=slower) as caught:
                client.download(file, tmp_path / "cache")
            assert time.monotonic() - started < 3.0
        assert caught.value.plugin == "hello"
        assert list((tmp_path / "cache").iterdir()) == []

    def test_metadata(self, static_index: StaticIndex, built: WheelFactory) -> None:
        """PEP 658 metadata is read and checked before any download."""
        static_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(static_index.url) as client:
            file = read(client, "hello").files[0]
            assert b"Name: hello" in (client.metadata(file) or b"")
            static_index.file_path(file.filename + ".metadata").write_bytes(b"Name: evil\n")
            with pytest.raises(IndexHashError, match="metadata"):
                client.metadata(file)

    def test_no_metadata_offered(self, devpi_index: DevpiIndex, built: WheelFactory) -> None:
        """An index that offers no metadata file gives None."""
        devpi_index.publish(built.build("hello", "1.0.0"))
        with IndexClient(devpi_index.url) as client:
            assert client.metadata(read(client, "hello").files[0]) is None


class TestFaults:
    def test_stopped_then_restarted(self, pypi_server: PypiServer, built: WheelFactory) -> None:
        """A stopped index is an IndexUnavailableError at once; restarted, it answers again."""
        pypi_server.publish(built.build("hello", "1.0.0"))
        with IndexClient(pypi_server.url, timeout=2.0) as client:
            read(client, "hello")
            pypi_server.stop()
            started = time.monotonic()
            with pytest.raises(IndexUnavailableError, match="cannot be reached"):
                client.project("hello")
            assert time.monotonic() - started < 2.0
            pypi_server.start()
            assert versions(read(client, "hello")) == ["1.0.0"]

    def test_slow_index_times_out(self, static_index: StaticIndex) -> None:
        """An index slower than the timeout is an IndexUnavailableError after the timeout."""
        static_index.fault("/simple/hello/", Fault(delay=3.0))
        with IndexClient(static_index.url, timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(IndexUnavailableError, match=r"within 0\.3 s"):
                client.project("hello")
            assert time.monotonic() - started < 2.0

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_server_error(self, static_index: StaticIndex, status: int) -> None:
        """A 5xx answer is an IndexUnavailableError naming the status and the URL."""
        static_index.fault("/simple/hello/", Fault(status=status, body=b"oops"))
        with IndexClient(static_index.url) as client, pytest.raises(IndexUnavailableError) as e:
            client.project("hello")
        assert f"failed ({status}" in str(e.value)

    @pytest.mark.parametrize(
        ("fault", "kind"),
        [(Fault(status=503), IndexUnavailableError), (Fault(body=b"<"), IndexResponseError)],
        ids=["5xx", "garbage"],
    )
    def test_a_page_error_names_the_project(
        self, static_index: StaticIndex, fault: Fault, kind: type[Exception]
    ) -> None:
        """A page that cannot be read is an error naming the project (``.plugin``), its URL
        and the reason, of the same type as before: a poller tells that project's problem."""
        static_index.fault("/simple/hello/", fault)
        with IndexClient(static_index.url) as client, pytest.raises(kind) as e:
            client.project("Hello")
        error = e.value
        assert isinstance(error, IndexUnavailableError | IndexResponseError)
        assert (error.plugin, error.url) == ("hello", f"{static_index.url}hello/")
        assert str(error) == f"{static_index.url}hello/: project 'hello': {error.reason}"
        assert f"{static_index.url}hello/" in str(e.value)

    @pytest.mark.parametrize(
        ("body", "kind", "reason"),
        [
            (b"\x00\x01garbage", "application/vnd.pypi.simple.v1+json", "not a readable page"),
            (b"<html>", "image/png", "content type 'image/png'"),
        ],
    )
    def test_garbage(self, static_index: StaticIndex, body: bytes, kind: str, reason: str) -> None:
        """Garbage is an IndexResponseError naming the reason."""
        static_index.fault("/simple/hello/", Fault(body=body, content_type=kind))
        with (
            IndexClient(static_index.url) as client,
            pytest.raises(IndexResponseError, match=reason),
        ):
            client.project("hello")

    def test_offsite_redirect(
        self, static_index: StaticIndex, tmp_path: Path, built: WheelFactory
    ) -> None:
        """A redirect to another host is refused by default and followed when allowed."""
        with StaticIndex(tmp_path / "elsewhere") as elsewhere:
            elsewhere.publish(built.build("hello", "1.0.0"))
            static_index.fault("/simple/hello/", Fault(redirect=f"{elsewhere.url}hello/"))
            with IndexClient(static_index.url) as client:
                with pytest.raises(IndexUnavailableError, match="another host"):
                    client.project("hello")
                assert elsewhere.requests == []
            with IndexClient(static_index.url, follow_offsite_redirects=True) as client:
                assert versions(read(client, "hello")) == ["1.0.0"]

    def test_redirect_to_no_url(self, static_index: StaticIndex) -> None:
        """A Location that is not a URL is a response error naming it: the ValueError of
        urljoin() failed every poll, logged as unexpected, with no problem for the operator."""
        static_index.fault("/simple/hello/", Fault(redirect="http://["))
        with (
            IndexClient(static_index.url) as client,
            pytest.raises(IndexResponseError, match=re.escape("a redirect to 'http://['")),
        ):
            client.project("hello")

    def test_redirect_on_host_followed(
        self, static_index: StaticIndex, built: WheelFactory
    ) -> None:
        """A redirect on the index's own host is followed (a renamed project's page)."""
        static_index.publish(built.build("hello", "1.0.0"))
        static_index.fault("/simple/hello-old/", Fault(redirect="/simple/hello/"))
        with IndexClient(static_index.url) as client:
            page = client.project("hello-old")
        assert isinstance(page, ProjectPage)
        assert versions(page) == ["1.0.0"]


class TestLazyHttpx:
    def test_httpx_imported_only_when_used(self) -> None:
        """Importing the client costs no httpx: it is imported when a client is made."""
        probe = (
            "import sys; import pluginhost.discover.index.client as c; "
            "print('httpx' in sys.modules); c.IndexClient('http://127.0.0.1:9/simple/').close(); "
            "print('httpx' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
        assert out.split() == ["False", "True"]
