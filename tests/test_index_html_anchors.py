"""Tests for pluginhost/discover/index/html_anchors.py: the simple API's HTML read in linear
time, agreeing with ``html.parser`` on the pages indexes serve."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluginhost import IndexResponseError
from pluginhost.discover.index import parse
from pluginhost.discover.index.html_anchors import (
    MAX_ANCHORS,
    MAX_ATTRIBUTES,
    MAX_MARKUP,
    Anchor,
    read_page,
)

URL = "https://index.example/simple/hello/"


class Reference(HTMLParser):
    """What ``html.parser`` makes of a page: the reader the index client used before."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[Anchor] = []
        self.base: str | None = None
        self.version: str | None = None
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self._close()
            self._open, self._text = found, []
        elif tag == "base" and self.base is None:
            self.base = found.get("href")
        elif tag == "meta" and found.get("name") == "pypi:repository-version":
            self.version = found.get("content")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._close()

    def _close(self) -> None:
        if self._open is not None:
            self.anchors.append(Anchor(self._open, "".join(self._text).strip()))
            self._open = None


def reference(page: str) -> tuple[tuple[Anchor, ...], str | None, str | None]:
    parser = Reference()
    parser.feed(page)
    parser.close()
    return tuple(parser.anchors), parser.base, parser.version


def read(page: str) -> tuple[tuple[Anchor, ...], str | None, str | None]:
    found = read_page(page)
    return found.anchors, found.base, found.version


# Text as indexes write it: names, versions, specifiers, with "<" and ">" escaped (html.parser
# reads a "<" in text that starts no tag by rules for unfinished markup that this reader does
# not copy: markup that does not end ends the page here).
words = st.text(st.sampled_from("abcXYZ019-_.=!~,; &#x3c;&lt;&gt;&amp;"), max_size=30)
quoted = st.text(st.sampled_from("abcXYZ019-_.=<>!~,; &lt;&gt;&amp;/:#'"), max_size=30)
attribute_names = st.sampled_from(
    ["href", "HREF", "data-requires-python", "data-yanked", "data-core-metadata", "rel", "id"]
)


@st.composite
def attribute(draw: st.DrawFn) -> str:
    name = draw(attribute_names)
    form = draw(st.sampled_from(["double", "single", "bare", "none"]))
    value = draw(quoted)
    if form == "double":
        return f'{name}="{value.replace(chr(34), "")}"'
    if form == "single":
        return f"{name}='{value.replace(chr(39), '')}'"
    if form == "bare":
        return f"{name}={''.join(c for c in value if c.isalnum()) or 'x'}"
    return name


@st.composite
def element(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["a", "a", "a", "br", "comment", "h1", "text", "meta", "base"]))
    if kind == "a":
        attrs = " ".join(draw(st.lists(attribute(), max_size=4)))
        space = draw(st.sampled_from([" ", "  ", "\n", "\t"]))
        end = draw(st.sampled_from(["</a>", "</A>", "", "</a >"]))
        return f"<a{space}{attrs}>{draw(words)}{end}"
    others = {
        "br": lambda: draw(st.sampled_from(["<br/>", "<br>", "<br />"])),
        "comment": lambda: f"<!--{draw(words).replace('-', '')}-->",
        "h1": lambda: f"<h1>{draw(words)}</h1>",
        "meta": lambda: '<meta name="pypi:repository-version" content="1.1">',
        "base": lambda: '<base href="https://files.example/">',
        "text": lambda: draw(words),
    }
    return others[kind]()


class TestAgreesWithHtmlParser:
    @given(st.lists(element(), max_size=12))
    def test_generated_pages(self, parts: list[str]) -> None:
        """Pages of links, breaks, comments, headings, text, meta and base tags, with
        attributes quoted either way, bare or without a value, and escaped text: read as
        ``html.parser`` reads them."""
        page = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>"
        assert read(page) == reference(page)

    @pytest.mark.parametrize(
        "page",
        [
            '<a href="a.whl#sha256=00" data-requires-python="&gt;=3.8" data-yanked>a.whl</a>',
            "<a href=a.whl data-dist-info-metadata=true>a &amp; b</a><br/>",
            '<a href="1" href="2">x</a>',
            "<a href='x'>unclosed <b>bold</b> text",
            "<a href='x'>one<a href='y'>two</a>",
            "<A HREF='x'>upper</A>",
            "<a href='x'>a < b</a>",
        ],
    )
    def test_known_shapes(self, page: str) -> None:
        assert read(page) == reference(page)


class TestHostilePages:
    @pytest.mark.parametrize(
        "page",
        [
            "<a" * (1 << 19),  # html.parser: 9 s for 64 KiB, minutes for this
            "</a" * (1 << 18),
            "<?" * (1 << 19),
            "</" * (1 << 19),
            "<" * (1 << 20),
            "<a href='" + "x" * (1 << 20),
            "<!--" + "-" * (1 << 20),
        ],
        ids=["lt-a", "endtag-a", "pi", "endtag", "lt", "unclosed-quote", "unclosed-comment"],
    )
    def test_malformed_megabytes_are_read_at_once(self, page: str) -> None:
        """Markup that never ends ends the page: read in one pass, not once per ``<``."""
        found = read_page(page)
        assert len(found.anchors) <= 1

    def test_the_index_client_reads_them_at_once(self) -> None:
        """What the client's parser was slow on (html.parser: minutes for this page)."""
        body = ("<a" * (1 << 19)).encode()
        assert parse.project_files(body, "html", URL) == ()

    def test_too_many_links(self) -> None:
        page = '<a href="x">x</a>' * (MAX_ANCHORS + 1)
        with pytest.raises(ValueError, match=f"more than {MAX_ANCHORS} links"):
            read_page(page)

    def test_too_many_tags(self) -> None:
        with pytest.raises(ValueError, match=f"more than {MAX_MARKUP} tags"):
            read_page("<b>" * (MAX_MARKUP + 1))

    def test_too_many_attributes(self) -> None:
        page = "<b " + "x=1 " * (MAX_ATTRIBUTES + 1) + ">"
        with pytest.raises(ValueError, match=f"more than {MAX_ATTRIBUTES} attributes"):
            read_page(page)

    def test_the_parser_types_it(self) -> None:
        """Through the client's parser, a page over the limits is an IndexResponseError."""
        body = ("<b>" * (MAX_MARKUP + 1)).encode()
        with pytest.raises(IndexResponseError, match="more than"):
            parse.project_files(body, "html", URL)

    def test_unescaped_once(self) -> None:
        """Entities in attributes and text are unescaped once (``&amp;lt;`` stays ``&lt;``)."""
        (anchor,) = read_page('<a href="x?a=1&amp;b=2">&amp;lt;</a>').anchors
        assert anchor.attributes["href"] == "x?a=1&b=2"
        assert anchor.text == html.unescape("&amp;lt;") == "&lt;"
