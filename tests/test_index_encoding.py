"""Tests for pluginhost/discover/index/encoding.py: content codings decoded a bounded step at a
time, against a real index on loopback."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluginhost import IndexResponseError
from pluginhost.discover.index.client import IndexClient
from pluginhost.discover.index.encoding import STEP, decoded
from pluginhost.discover.index.pages import ProjectPage
from pluginhost.testing import WheelFactory
from pluginhost.testkit.static_index import Fault, StaticIndex

PAGE = "/simple/hello/"


def compressed(chunks: Iterator[bytes], wbits: int, level: int = 1) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(chunk) for chunk in chunks) + packer.flush()


def zeros(size: int) -> Iterator[bytes]:
    block = bytes(1 << 20)
    for _ in range(size // len(block)):
        yield block


@pytest.fixture
def index(tmp_path: Path) -> Iterator[StaticIndex]:
    served = StaticIndex(tmp_path / "index", gzip_pages=True)
    served.publish(WheelFactory(tmp_path / "built").build("hello", "1.0.0"))
    served.start()
    yield served
    served.stop()


class TestPages:
    def test_a_gzipped_page_is_read(self, index: StaticIndex) -> None:
        """A page sent gzipped, as PyPI sends it, reads as the page; gzip and deflate are what
        the client asks for."""
        with IndexClient(index.url) as client:
            page = client.project("hello")
        assert isinstance(page, ProjectPage)
        assert [f.filename for f in page.files] == ["hello-1.0.0-py3-none-any.whl"]
        asked = [h for method, path, h in index.requests if path == PAGE]
        assert asked[-1]["Accept-Encoding"] == "gzip, deflate"

    @pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
    def test_deflate_either_way(self, index: StaticIndex, wbits: int) -> None:
        """``deflate`` is a zlib stream by HTTP's word, and raw deflate from some servers:
        both read."""
        with IndexClient(index.url) as client:
            page = client.project("hello")
            assert isinstance(page, ProjectPage)
            plain = (index.root / "simple" / "hello" / "index.json").read_bytes()
            body = compressed(iter([plain]), wbits)
            index.fault(PAGE, Fault(body=body, headers=(("Content-Encoding", "deflate"),)))
            client.forget()
            again = client.project("hello")
        assert isinstance(again, ProjectPage)
        assert again.files == page.files

    def test_a_page_that_inflates_past_the_cap_stops_at_the_cap(self, index: StaticIndex) -> None:
        """A few kilobytes sent as ``gzip, gzip`` that inflate to 256 MiB: refused once the
        cap is passed, holding a step or so beyond the cap in memory, never the page."""
        bomb = compressed(iter([compressed(zeros(256 << 20), 31)]), 31, level=9)
        assert len(bomb) < 8192
        index.fault(PAGE, Fault(body=bomb, headers=(("Content-Encoding", "gzip, gzip"),)))
        tracemalloc.start()
        try:
            with (
                IndexClient(index.url, max_page_bytes=1 << 20) as client,
                pytest.raises(IndexResponseError, match="larger than 1048576 bytes") as e,
            ):
                client.project("hello")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert e.value.url == index.url + "hello/"
        assert peak < 8 << 20, peak

    def test_a_body_that_inflates_to_nothing_is_capped_as_sent(self, index: StaticIndex) -> None:
        """Empty deflate blocks, sent past the cap, inflate to no byte: what is sent counts
        against the cap too."""
        empty_block = b"\x00\x00\x00\xff\xff"  # a stored block of no byte, not the last
        body = b"\x78\x01" + empty_block * (300 * 1024)
        index.fault(PAGE, Fault(body=body, headers=(("Content-Encoding", "deflate"),)))
        with (
            IndexClient(index.url, max_page_bytes=1 << 20) as client,
            pytest.raises(IndexResponseError, match="larger than 1048576 bytes"),
        ):
            client.project("hello")

    @pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
    def test_other_codings_are_refused_by_name(self, index: StaticIndex, coding: str) -> None:
        """A coding the client did not ask for is an IndexResponseError naming it and the URL,
        before a byte of the body is read."""
        index.fault(PAGE, Fault(body=b"\x00" * 64, headers=(("Content-Encoding", coding),)))
        with (
            IndexClient(index.url) as client,
            pytest.raises(IndexResponseError, match=r"Content-Encoding '(br|zstd|compress)'"),
        ):
            client.project("hello")

    def test_more_than_four_stacked_codings_refused(self, index: StaticIndex) -> None:
        """A page gzipped four times over reads; five, or 2,000 (a decoder stacked on the one
        before for each: a bare RecursionError, attack probe 08), are an IndexResponseError
        naming the URL and the count, before a byte of the body is read."""
        page = b'{"meta": {"api-version": "1.1"}, "name": "hello", "files": []}'

        def stacked(count: int) -> Fault:
            body = page
            for _ in range(count):
                body = gzip.compress(body, compresslevel=1)
            return Fault(body=body, headers=(("Content-Encoding", ", ".join(["gzip"] * count)),))

        with IndexClient(index.url) as client:
            index.fault(PAGE, stacked(4))
            read = client.project("hello")
            assert isinstance(read, ProjectPage)
            assert read.files == ()
            for count in (5, 2_000):
                index.fault(PAGE, stacked(count))
                with pytest.raises(IndexResponseError) as e:
                    client.project("hello")
                assert f"in {count} stacked content codings" in e.value.reason
                assert "more than the 4 decoded here" in e.value.reason
                assert e.value.url == index.url + "hello/"

    @pytest.mark.parametrize(
        ("coding", "body"),
        [
            ("gzip", b"not gzip at all"),
            ("gzip", gzip.compress(b'{"files": []}')[:-12]),  # cut short
            ("deflate", b"\xff" * 40),
        ],
        ids=["not-gzip", "cut-short", "not-deflate"],
    )
    def test_a_body_not_in_its_coding(self, index: StaticIndex, coding: str, body: bytes) -> None:
        """A body that is not what its coding claims: an IndexResponseError naming the URL."""
        index.fault(PAGE, Fault(body=body, headers=(("Content-Encoding", coding),)))
        with (
            IndexClient(index.url) as client,
            pytest.raises(IndexResponseError, match=f"not the {coding} it claims") as e,
        ):
            client.project("hello")
        assert e.value.url == index.url + "hello/"


class TestFiles:
    def test_a_file_labelled_gzip_is_kept_as_sent(self, index: StaticIndex, tmp_path: Path) -> None:
        """A wheel that the server labels ``Content-Encoding: gzip`` (a misconfigured server)
        is saved as sent, which is the file the index's sha256 is of; files are asked for as
        ``identity``."""
        with IndexClient(index.url) as client:
            page = client.project("hello")
            assert isinstance(page, ProjectPage)
            (file,) = page.files
            wheel = index.root / "files" / file.filename
            path = f"/files/{file.filename}"
            index.fault(
                path,
                Fault(
                    body=wheel.read_bytes(),
                    content_type="application/octet-stream",
                    headers=(("Content-Encoding", "gzip"),),
                ),
            )
            got = client.download(file, tmp_path / "got")
        assert hashlib.sha256(got.read_bytes()).hexdigest() == file.sha256
        asked = [h for method, p, h in index.requests if p == path]
        assert asked[-1]["Accept-Encoding"] == "identity"


class TestDecoded:
    @given(st.binary(max_size=4 * STEP), st.integers(1, 5000), st.sampled_from([31, 15, -15]))
    def test_any_split_reads_back(self, data: bytes, size: int, wbits: int) -> None:
        """Any body, compressed and cut into chunks of any size, decodes to itself, each step
        at most STEP bytes."""
        body = compressed(iter([data]), wbits, level=6)
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        coding = {31: "gzip", 15: "deflate", -15: "deflate"}[wbits]
        out = list(decoded(coding, chunks, url="u"))
        assert b"".join(out) == data
        assert all(len(piece) <= STEP for piece in out)

    def test_identity_and_no_coding_pass_through(self) -> None:
        """No coding, or ``identity``, leaves the chunks as they are."""
        assert list(decoded("", [b"a", b"b"], url="u")) == [b"a", b"b"]
        assert list(decoded("identity", [b"a"], url="u")) == [b"a"]

    def test_a_long_match_at_the_end_is_not_lost(self) -> None:
        """The last chunk's output beyond a step is drained, not taken for a cut stream."""
        body = compressed(zeros(4 << 20), 31)
        assert sum(map(len, decoded("gzip", [body], url="u"))) == 4 << 20
