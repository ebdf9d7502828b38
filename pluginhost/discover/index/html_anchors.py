"""The anchors of a simple index's HTML page (PEP 503), read in time linear in the page.

``html.parser`` takes time quadratic in the length of some malformed pages: 64 KiB of
``<a<a<a...`` took 9 s on Python 3.11.7 here (19 s on 3.12.1, 12 s on 3.13.0), 256 KiB over a
minute, and an index may send 32 MiB (later patch releases of CPython address some of this:
gh-135462). A page of the simple API needs
little of HTML: start and end tags with their attributes, text, comments and declarations to
skip. This reader scans for each ``<`` once, with anchored regular expressions that cannot
backtrack, and reads what ``html.parser`` reads on well-formed pages (the tests compare them).
"""

from __future__ import annotations

import html
import re
from typing import Final

from ...model.frozen import frozen

__all__ = ["MAX_ANCHORS", "MAX_ATTRIBUTES", "MAX_MARKUP", "Anchor", "Page", "read_page"]

#: The most links a page may have (PyPI's largest project pages list tens of thousands of
#: files): the reader stops there, so that a page of ``<a>`` after ``<a>`` is not held whole.
MAX_ANCHORS: Final = 200_000
#: The most tags, comments and declarations a page may have (a link and a ``<br>`` each).
MAX_MARKUP: Final = 4 * MAX_ANCHORS
#: The most attributes a tag may have (a link of the simple API has four or five).
MAX_ATTRIBUTES: Final = 64

# A "<" that may start markup; any other "<" is text, passed over at C speed.
_MARKUP: Final = re.compile(r"<[a-zA-Z!?/]")
# Each is matched at one position and has no nested repetition: linear in what it takes.
_TAG_NAME: Final = re.compile(r"[a-zA-Z][^\s/>]*")
_ATTR_NAME: Final = re.compile(r"[^\s/>=][^\s/>=]*")
_SPACE: Final = re.compile(r"[\s/]*")
_EQUALS: Final = re.compile(r"\s*=\s*")
_UNQUOTED: Final = re.compile(r"[^\s>]*")

Attributes = dict[str, "str | None"]


@frozen
class Anchor:
    """One ``<a>`` element: its attributes (names lowercased, values unescaped; ``None`` for
    an attribute without a value) and its text."""

    attributes: Attributes
    text: str


@frozen
class Page:
    """What a page says: its anchors, its ``<base href>`` and its
    ``<meta name="pypi:repository-version">``."""

    anchors: tuple[Anchor, ...]
    base: str | None
    version: str | None


def read_page(text: str) -> Page:
    """Read the anchors, base and version of an HTML page, in one pass.

    :raises ValueError: the page has more than :data:`MAX_ANCHORS` links, :data:`MAX_MARKUP`
        tags, or a tag more than :data:`MAX_ATTRIBUTES` attributes: a page of ``<b>`` after
        ``<b>`` took a minute for 32 MiB, linear as it is.
    """
    reader = _Reader(text)
    reader.run()
    return Page(tuple(reader.anchors), reader.base, reader.version)


def _matched(pattern: re.Pattern[str], text: str, pos: int) -> re.Match[str]:
    """The match of a pattern that matches the empty string too."""
    found = pattern.match(text, pos)
    assert found is not None
    return found


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.anchors: list[Anchor] = []
        self.base: str | None = None
        self.version: str | None = None
        self._open: Attributes | None = None
        self._pieces: list[str] = []

    def run(self) -> None:
        text, pos, count = self.text, 0, 0
        while (found := _MARKUP.search(text, pos)) is not None:
            count += 1
            if count > MAX_MARKUP:
                raise ValueError(f"has more than {MAX_MARKUP} tags")
            lt = found.start()
            self._data(text[pos:lt])
            pos = self._markup(lt)
        self._data(text[pos:])
        self._close()

    def _markup(self, lt: int) -> int:
        """Read the markup at ``lt``; where the text after it starts. Markup that does not end
        ends the page: what follows is not looked through again for each ``<`` in it."""
        text = self.text
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            return len(text) if end == -1 else end + 3
        if text.startswith(("<!", "<?", "</"), lt):
            end = text.find(">", lt + 2)
            if end == -1:
                return len(text)
            name = _TAG_NAME.match(text, lt + 2)
            if text[lt + 1] == "/" and name is not None and name.group().lower() == "a":
                self._close()
            return end + 1
        name = _TAG_NAME.match(text, lt + 1)
        assert name is not None  # _MARKUP saw a letter there
        found = self._attributes(name.end())
        if found is None:  # never closed: the rest is text, as html.parser leaves it
            self._data(text[lt:])
            return len(text)
        attributes, end = found
        self._start(name.group().lower(), attributes)
        return end

    def _attributes(self, pos: int) -> tuple[Attributes, int] | None:
        """The attributes of a start tag from ``pos``, and where the tag ends; ``None`` when
        it does not end."""
        text = self.text
        found: Attributes = {}
        for _ in range(MAX_ATTRIBUTES + 1):
            pos = _matched(_SPACE, text, pos).end()
            if pos >= len(text):
                return None
            if text[pos] == ">":
                return found, pos + 1
            name = _ATTR_NAME.match(text, pos)
            if name is None:  # a stray "=": skipped, as html.parser skips it
                pos += 1
                continue
            pos = name.end()
            value: str | None = None
            equals = _EQUALS.match(text, pos)
            if equals is not None:
                pos = equals.end()
                if pos < len(text) and text[pos] in "'\"":
                    close = text.find(text[pos], pos + 1)
                    if close == -1:
                        return None
                    value, pos = text[pos + 1 : close], close + 1
                else:
                    unquoted = _matched(_UNQUOTED, text, pos)
                    value, pos = unquoted.group(), unquoted.end()
                value = html.unescape(value)
            found[name.group().lower()] = value  # the last of a name wins, as in html.parser
        raise ValueError(f"has a tag of more than {MAX_ATTRIBUTES} attributes")

    def _start(self, tag: str, attributes: Attributes) -> None:
        if tag == "a":
            self._close()
            if len(self.anchors) >= MAX_ANCHORS:
                raise ValueError(f"has more than {MAX_ANCHORS} links")
            self._open, self._pieces = attributes, []
        elif tag == "base" and self.base is None:
            self.base = attributes.get("href")
        elif tag == "meta" and attributes.get("name") == "pypi:repository-version":
            self.version = attributes.get("content")

    def _data(self, data: str) -> None:
        if self._open is not None and data:
            self._pieces.append(data)

    def _close(self) -> None:
        if self._open is not None:
            text = html.unescape("".join(self._pieces)).strip()
            self.anchors.append(Anchor(self._open, text))
            self._open = None
