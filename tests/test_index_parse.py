"""Tests for the simple API's parsers: JSON and HTML into the same values, every bad page typed."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluginhost import IndexResponseError
from pluginhost.discover.index import json_page as json_page_module
from pluginhost.discover.index import parse
from pluginhost.discover.index.pages import IndexFile

URL = "https://index.example/simple/hello/"
SHA = "ab" * 32
META = "cd" * 32

#: Times past datetime's range once in UTC: the parser raised OverflowError for them.
LATEST, EARLIEST = "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"


def json_page(*files: object, version: str = "1.1") -> bytes:
    return json.dumps({"meta": {"api-version": version}, "name": "hello", "files": files}).encode()


class TestProjectFiles:
    def test_json_and_html_read_alike(self) -> None:
        """A PEP 691 JSON page and the PEP 503 HTML page of the same files give the same values."""
        as_json = json_page(
            {
                "filename": "hello-1.0.0-py3-none-any.whl",
                "url": "../../files/hello-1.0.0-py3-none-any.whl",
                "hashes": {"sha256": SHA},
                "requires-python": ">=3.10",
                "yanked": "broken",
                "core-metadata": {"sha256": META},
            }
        )
        as_html = (
            b'<html><body><a href="../../files/hello-1.0.0-py3-none-any.whl#sha256='
            + SHA.encode()
            + b'" data-requires-python="&gt;=3.10" data-yanked="broken" '
            b'data-core-metadata="sha256=' + META.encode() + b'">hello-1.0.0-py3-none-any.whl</a>'
        )
        expected = IndexFile(
            filename="hello-1.0.0-py3-none-any.whl",
            url="https://index.example/files/hello-1.0.0-py3-none-any.whl",
            sha256=SHA,
            yanked="broken",
            requires_python=">=3.10",
            metadata_sha256=META,
            has_metadata=True,
        )
        assert parse.project_files(as_json, "json", URL) == (expected,)
        assert parse.project_files(as_html, "html", URL) == (expected,)

    def test_yanked_without_reason(self) -> None:
        """``yanked: true`` and a bare ``data-yanked`` are yanked with an empty reason."""
        entry = {"filename": "a.whl", "url": "a.whl", "hashes": {}, "yanked": True}
        (from_json,) = parse.project_files(json_page(entry), "json", URL)
        (from_html,) = parse.project_files(b'<a href="a.whl" data-yanked>a.whl</a>', "html", URL)
        assert from_json.yanked == from_html.yanked == ""
        assert from_json.is_yanked
        assert from_html.is_yanked

    @pytest.mark.parametrize(
        ("stamp", "micro", "hour"),
        [
            ("2026-01-02T03:04:05Z", 0, 3),
            ("2026-01-02T03:04:05.123Z", 123000, 3),
            ("2026-01-02T03:04:05.1Z", 100000, 3),
            ("2026-01-02T03:04:05.123456789Z", 123456, 3),
            ("2026-01-02T05:04:05.5+02:00", 500000, 3),
            ("2026-01-02T03:04:05", 0, 3),
        ],
    )
    def test_upload_time_in_utc(self, stamp: str, micro: int, hour: int) -> None:
        """A PEP 700 upload-time reads as an aware UTC datetime, whatever its fraction's digits
        (Python 3.10's fromisoformat reads neither the Z nor most of them)."""
        entry = {"filename": "a.whl", "url": "a.whl", "upload-time": stamp}
        (file,) = parse.project_files(json_page(entry), "json", URL)
        assert file.upload_time == datetime(2026, 1, 2, hour, 4, 5, micro, tzinfo=timezone.utc)

    def test_html_base_href(self) -> None:
        """Links resolve against the page's ``<base href>`` when it has one."""
        page = b'<base href="https://files.example/x/"><a href="a.whl">a.whl</a>'
        (file,) = parse.project_files(page, "html", URL)
        assert file.url == "https://files.example/x/a.whl"

    @pytest.mark.parametrize(
        ("body", "kind", "reason"),
        [
            (b"{not json", "json", "not a readable page"),
            (b"[1, 2]", "json", "Expected `object`, got `array`"),
            (b'{"files": []}', "json", "version None"),
            (json_page(version="2.0"), "json", "version '2.0'"),
            (b'{"meta": {"api-version": "1.0"}, "files": 3}', "json", r"got `int` - at `\$.files`"),
            (b'{"meta": {"api-version": "1.0"}}', "json", "no list of files"),
            (json_page({"filename": 3, "url": "a"}), "json", r"at `\$.files\[0\].filename`"),
            (json_page({"filename": "", "url": "a"}), "json", "without a filename"),
            (
                json_page({"url": "a"}),
                "json",
                r"missing required field `filename` - at `\$.files\[0\]`",
            ),
            (
                json_page({"filename": "a", "url": "a"}, 7),
                "json",
                r"got `int` - at `\$.files\[1\]`",
            ),
            (json_page({"filename": "a", "url": "a", "hashes": {"sha256": "xyz"}}), "json", "64"),
            (
                json_page({"filename": "a", "url": "a", "yanked": 3}),
                "json",
                r"\$.files\[0\].yanked",
            ),
            (
                json_page({"filename": "a", "url": "a", "upload-time": 3}),
                "json",
                r"got `int` - at `\$.files\[0\].upload-time`",
            ),
            (json_page({"filename": "a", "url": "a", "upload-time": "nope"}), "json", "ISO 8601"),
            (
                json_page({"filename": "a", "url": "a", "upload-time": "2026-13-40T00:00:00Z"}),
                "json",
                "month",
            ),
            (
                json_page({"filename": "a", "url": "a", "upload-time": LATEST}),
                "json",
                "out of range",  # an OverflowError escaped the parser
            ),
            (
                json_page({"filename": "a", "url": "a", "upload-time": EARLIEST}),
                "json",
                "out of range",
            ),
            (json_page({"filename": "a", "url": "file:///etc/passwd"}), "json", "not an http"),
            (b"\xff\xfe<a href='x'>", "html", "UnicodeDecodeError"),
            (b'<meta name="pypi:repository-version" content="2.0">', "html", "version '2.0'"),
            (b'<a href="javascript:alert(1)">a.whl</a>', "html", "not an http"),
        ],
    )
    def test_bad_page_is_typed(self, body: bytes, kind: str, reason: str) -> None:
        """Every unreadable page is an IndexResponseError naming the URL and the reason."""
        with pytest.raises(IndexResponseError, match=reason) as caught:
            parse.project_files(body, kind, URL)
        assert caught.value.url == URL
        assert URL in str(caught.value)


class TestJsonBounds:
    """A JSON page's entries are counted before any is built, and only the known keys are."""

    def test_too_many_files_refused(self) -> None:
        """A page of more files than an HTML page may link is refused, not built: one of 1.2
        million tiny entries (31 MiB) took 31 s and 529 MB through ``json.loads``."""
        entry = b'{"filename": "a", "url": "a"}'
        body = (
            b'{"meta": {"api-version": "1.0"}, "files": ['
            + b",".join([entry] * (json_page_module.MAX_ENTRIES + 1))
            + b"]}"
        )
        tracemalloc.start()
        try:
            with pytest.raises(IndexResponseError, match="more than 200000 files"):
                parse.project_files(body, "json", URL)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # Counted as views of the page (about 50 bytes each), not as dicts (about 400).
        assert peak < 40 * 2**20

    def test_the_bound_itself(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """As many entries as allowed are read; one more is refused."""
        monkeypatch.setattr(json_page_module, "MAX_ENTRIES", 3)
        body = json_page(*[{"filename": "a.whl", "url": "a.whl"}] * 3)
        assert len(parse.project_files(body, "json", URL)) == 3
        body = json_page(*[{"filename": "a.whl", "url": "a.whl"}] * 4)
        with pytest.raises(IndexResponseError, match="more than 3 files"):
            parse.project_files(body, "json", URL)

    def test_too_many_projects_refused(self) -> None:
        entry = b'{"name": "a"}'
        body = (
            b'{"meta": {"api-version": "1.0"}, "projects": ['
            + b",".join([entry] * (json_page_module.MAX_ENTRIES + 1))
            + b"]}"
        )
        with pytest.raises(IndexResponseError, match="more than 200000 projects"):
            parse.project_names(body, "json", URL)

    def test_unknown_keys_skipped(self) -> None:
        """Keys this client does not read are skipped whatever they hold (PyPI sends ``size``,
        ``provenance``, ``data-dist-info-metadata`` and more)."""
        entry = {
            "filename": "a.whl",
            "url": "a.whl",
            "size": 3,
            "provenance": {"x": [1, {"y": None}]},
            "gpg-sig": False,
        }
        page = {"meta": {"api-version": "1.1", "_last-serial": 7}, "name": "a", "files": [entry]}
        (file,) = parse.project_files(json.dumps(page).encode(), "json", URL)
        assert file.filename == "a.whl"

    def test_null_digest_is_none(self) -> None:
        entry = {
            "filename": "a.whl",
            "url": "a.whl",
            "hashes": {"sha256": None, "md5": None},
            "core-metadata": {"sha256": None},
        }
        (file,) = parse.project_files(json_page(entry), "json", URL)
        assert (file.sha256, file.has_metadata, file.metadata_sha256) == (None, True, None)

    def test_dist_info_metadata_read_when_alone(self) -> None:
        """PEP 691's first name for core-metadata counts when core-metadata is absent."""
        entry: dict[str, object] = {
            "filename": "a.whl",
            "url": "a.whl",
            "dist-info-metadata": {"sha256": META},
        }
        (file,) = parse.project_files(json_page(entry), "json", URL)
        assert (file.has_metadata, file.metadata_sha256) == (True, META)
        entry["core-metadata"] = False
        (file,) = parse.project_files(json_page(entry), "json", URL)
        assert (file.has_metadata, file.metadata_sha256) == (False, None)

    def test_project_without_name(self) -> None:
        body = b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}, {"name": ""}]}'
        with pytest.raises(IndexResponseError, match="without a name"):
            parse.project_names(body, "json", URL)
        body = b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}, {}]}'
        with pytest.raises(IndexResponseError, match=r"`name` - at `\$.projects\[1\]`"):
            parse.project_names(body, "json", URL)


class TestProjectNames:
    def test_root_listing_normalized(self) -> None:
        """The root listing's names come normalized, from JSON and from HTML."""
        as_json = b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "Hello_World"}]}'
        as_html = b'<a href="hello-world/">Hello_World</a>'
        assert parse.project_names(as_json, "json", URL).names == ("hello-world",)
        assert parse.project_names(as_html, "html", URL).names == ("hello-world",)

    def test_unfit_json_entries_refused_alone(self) -> None:
        """A listed name with a NUL, another control character or a lone surrogate (high or
        low; a pair is a character, but no project name), or no project name at all, is
        refused alone, naming the listing's URL, the entry (escaped) and why; the rest of the
        listing counts. msgspec refused the whole listing for a lone surrogate, and a NUL
        failed the page's request: either failed every poll of the index."""
        body = (
            b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "Hello"}, '
            b'{"name": "a\\u0000b"}, {"name": "esc\\u001b"}, {"name": "hi\\ud800"}, '
            b'{"name": "lo\\udc00w"}, {"name": "pair\\ud83d\\ude00"}, {"name": "a/b"}, '
            b'{"name": "text\\\\ud800"}, {"name": "polite"}]}'
        )
        listing = parse.project_names(body, "json", URL)
        assert listing.names == ("hello", "polite")
        control, lone, no_name = (
            "with a control character",
            "with a lone surrogate",
            "which is no project name (PEP 508)",
        )
        expected = [
            ("a\\x00b", f"{control} ('\\x00')"),
            ("esc\\x1b", f"{control} ('\\x1b')"),
            ("hi\\ud800", f"{lone} ('\\ud800')"),
            ("lo\\udc00w", f"{lone} ('\\udc00')"),
            ("pair\U0001f600", no_name),
            ("a/b", no_name),
            # The text of an escape is read as what it spells: refused all the same.
            ("text\\ud800", f"{lone} ('\\ud800')"),
        ]
        assert [(e.plugin, e.url, e.reason) for e in listing.refused] == [
            (shown, URL, f"lists a project named '{shown}', {why}: not followed")
            for shown, why in expected
        ]
        assert all("\x00" not in str(e) for e in listing.refused)

    def test_unfit_html_entries_refused_alone(self) -> None:
        """An HTML listing's anchor text with a NUL or another control character is refused
        alone too."""
        body = b'<a href="hello/">hello</a><a href="x/">b\x00ad</a><a>e\x1b</a><a>ok</a>'
        listing = parse.project_names(body, "html", URL)
        assert listing.names == ("hello", "ok")
        assert [e.plugin for e in listing.refused] == ["b\\x00ad", "e\\x1b"]

    def test_many_unfit_entries_are_counted(self) -> None:
        """Past the first ``MAX_REFUSED`` refusals, the rest are counted in one: a listing of
        200,000 such names is not 200,000 problems and events."""
        entries = [{"name": f"p{i}\x00"} for i in range(parse.MAX_REFUSED + 5)]
        body = json.dumps({"meta": {"api-version": "1.0"}, "projects": entries}).encode()
        listing = parse.project_names(body, "json", URL)
        assert listing.names == ()
        assert len(listing.refused) == parse.MAX_REFUSED + 1
        last = listing.refused[-1]
        assert (last.plugin, last.reason) == (
            None,
            "lists 5 more projects no request can take (not shown): not followed",
        )


class TestContentKind:
    @pytest.mark.parametrize(
        ("header", "kind"),
        [
            ("application/vnd.pypi.simple.v1+json", "json"),
            ("application/vnd.pypi.simple.v1+html", "html"),
            ("text/html; charset=utf-8", "html"),
        ],
    )
    def test_known_types(self, header: str, kind: str) -> None:
        """The simple API's types and plain HTML are read."""
        assert parse.content_kind(header, URL) == kind

    def test_other_type_refused(self) -> None:
        """A page of another type (a proxy's text, a file) is an IndexResponseError."""
        with pytest.raises(IndexResponseError, match="'text/plain'"):
            parse.content_kind("text/plain", URL)


class TestAnyBytes:
    @given(st.binary(max_size=300), st.sampled_from(["json", "html"]))
    def test_bytes_parse_or_are_typed(self, body: bytes, kind: str) -> None:
        """Any bytes either parse or are an IndexResponseError: nothing untyped escapes."""
        with contextlib.suppress(IndexResponseError):
            parse.project_files(body, kind, URL)
        with contextlib.suppress(IndexResponseError):
            parse.project_names(body, kind, URL)

    @given(st.text(alphabet=st.sampled_from(list("<>/=\"' abhrefdatyk-!#[]&;:%x0")), max_size=200))
    def test_markup_like_text(self, text: str) -> None:
        """Text made of markup's characters parses as HTML or is an IndexResponseError."""
        with contextlib.suppress(IndexResponseError):
            parse.project_files(text.encode(), "html", URL)


#: JSON values of any shape, small.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
#: ISO 8601 times at any offset, within a day of datetime's ends too (where UTC is past them).
iso_times = st.builds(
    lambda when, minutes: (
        when.isoformat()
        + f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    ),
    st.datetimes()
    | st.datetimes(max_value=datetime(1, 1, 2))
    | st.datetimes(min_value=datetime(9999, 12, 30)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)


class TestAnyFields:
    @given(
        st.fixed_dictionaries(
            {"filename": st.just("hello-1.0-py3-none-any.whl"), "url": st.just("a.whl")},
            optional={
                "hashes": json_values,
                "yanked": json_values,
                "requires-python": json_values,
                "upload-time": json_values | iso_times,
                "core-metadata": json_values,
                "dist-info-metadata": json_values,
            },
        )
    )
    def test_a_file_parses_or_is_typed(self, entry: dict[str, object]) -> None:
        """Any value in any field of a JSON file entry: read, or an IndexResponseError (an
        upload-time past datetime's range once in UTC raised OverflowError)."""
        with contextlib.suppress(IndexResponseError):
            parse.project_files(json_page(entry), "json", URL)
