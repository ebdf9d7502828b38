"""The shape of a PEP 691 JSON page, decoded by msgspec with a bounded cost.

A page is read in two steps. The first only finds where each file's (or project's) object
starts and ends (:class:`msgspec.Raw`: a view of the page's bytes, no object built), so that a
page of a million tiny entries is counted, and refused, for a few dozen bytes of memory each
and a tenth of a second. Only a page within :data:`~.html_anchors.MAX_ANCHORS` entries has its
entries decoded, one at a time, into typed values. ``json.loads`` built a dict for each of
them first: a 31 MiB page of 1.2 million entries took 529 MB and 31 s of the interpreter.

Unknown keys are skipped without being built, and every field is typed, so that nothing of a
page but what is read here becomes a Python object. A value of the wrong type is a
:class:`msgspec.ValidationError` that names where it is (``$.files[3].url``).
"""

from __future__ import annotations

import re
from typing import Final, TypeVar

import msgspec

from .html_anchors import MAX_ANCHORS

__all__ = ["MAX_ENTRIES", "JsonFile", "JsonProject", "entries", "file_of", "project_of"]

_T = TypeVar("_T")

#: The most files (or projects) a page may list: as many as an HTML page's links.
MAX_ENTRIES: Final = MAX_ANCHORS


class _Meta(msgspec.Struct, frozen=True):
    api_version: str | None = msgspec.field(default=None, name="api-version")


class _Page(msgspec.Struct, frozen=True):
    meta: _Meta | None = None
    files: list[msgspec.Raw] | None = None
    projects: list[msgspec.Raw] | None = None


class JsonFile(msgspec.Struct, frozen=True):
    """One entry of a project page's ``files``, with the keys PEP 691, 700 and 714 give it."""

    filename: str
    url: str
    # A null digest (here and in the metadata's) is taken as none, as json.loads' reading took it.
    hashes: dict[str, str | None] = {}
    requires_python: str | None = msgspec.field(default=None, name="requires-python")
    yanked: bool | str | None = False
    upload_time: str | None = msgspec.field(default=None, name="upload-time")
    core_metadata: bool | dict[str, str | None] | None = msgspec.field(
        default=None, name="core-metadata"
    )
    # PEP 691's first name for core-metadata (PEP 714 renamed it): read when it is alone.
    dist_info_metadata: bool | dict[str, str | None] | None = msgspec.field(
        default=None, name="dist-info-metadata"
    )


class JsonProject(msgspec.Struct, frozen=True):
    """One entry of the root listing's ``projects``."""

    name: str


_page_decoder: Final = msgspec.json.Decoder(_Page)
_file_decoder: Final = msgspec.json.Decoder(JsonFile)
_project_decoder: Final = msgspec.json.Decoder(JsonProject)


def entries(body: bytes, key: str) -> tuple[str | None, list[msgspec.Raw] | None]:
    """The page's API version, and its undecoded ``files`` or ``projects``.

    :raises msgspec.DecodeError: the page is not JSON, or not shaped as a page.
    :raises ValueError: the page lists more than :data:`MAX_ENTRIES` entries.
    """
    if key == "projects":
        body = _lone_surrogates_kept(body)
    page = _page_decoder.decode(body)
    found = page.files if key == "files" else page.projects
    if found is not None and len(found) > MAX_ENTRIES:
        raise ValueError(f"lists more than {MAX_ENTRIES} {key}")
    return (page.meta.api_version if page.meta else None), found


def file_of(raw: msgspec.Raw, index: int) -> JsonFile:
    """The ``index``-th file's entry, decoded.

    :raises msgspec.ValidationError: naming the entry's place in the page.
    """
    return _decoded(_file_decoder, raw, f"$.files[{index}]")


def project_of(raw: msgspec.Raw, index: int) -> JsonProject:
    """The ``index``-th project's entry, decoded.

    :raises msgspec.ValidationError: naming the entry's place in the page.
    """
    project = _decoded(_project_decoder, raw, f"$.projects[{index}]")
    if "\\" not in project.name:
        return project
    return JsonProject(_SURROGATE_TEXT.sub(lambda m: chr(int(m[1], 16)), project.name))


#: The most surrogate escapes of a root listing looked through for lone ones.
MOST_SURROGATES: Final = 10_000
#: A surrogate's escape (``\ud800``); its backslash may be escaped itself (``\\ud800``).
_SURROGATE: Final = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: A lone surrogate's escape as :func:`_lone_surrogates_kept` leaves it in a name.
_SURROGATE_TEXT: Final = re.compile(r"\\u([dD][89a-fA-F][0-9a-fA-F]{2})")


def _lone_surrogates_kept(body: bytes) -> bytes:
    """The root listing with each lone surrogate's escape made text (``\\ud800``), which
    :func:`project_of` makes a surrogate again: msgspec refuses a whole document for one, and
    one entry named with it made the listing, and so the poll, fail. One pass over the
    escapes (a regular expression that looked behind and ahead of each took 6 s on 32 MiB),
    on a listing of at most :data:`MOST_SURROGATES` of them: one of more is left as it is (a
    name holds none; 5 million took 17 s), and refused whole if one is lone."""
    if body.count(b"\\ud") + body.count(b"\\uD") > MOST_SURROGATES:
        return body
    pieces: list[bytes] = []
    done, paired_to = 0, -1
    for found in _SURROGATE.finditer(body):
        at = found.start()
        run = at
        while run > 0 and body[run - 1] == 0x5C:
            run -= 1
        if (at - run) % 2 or at < paired_to:
            continue  # the backslash is escaped (text), or the low half of a pair
        if found[0][2:4].lower() in (b"d8", b"d9", b"da", b"db"):
            low = _SURROGATE.match(body, found.end())
            if low is not None and low[0][2:4].lower() in (b"dc", b"dd", b"de", b"df"):
                paired_to = low.end()
                continue
        pieces += [body[done:at], b"\\"]
        done = at
    return b"".join([*pieces, body[done:]]) if pieces else body


def _decoded(decoder: msgspec.json.Decoder[_T], raw: msgspec.Raw, where: str) -> _T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        # The error names a place within the entry ("- at `$.url`", or none for the entry
        # itself): named within the page instead.
        text = str(exc)
        placed = text.replace("`$", f"`{where}", 1) if "`$" in text else f"{text} - at `{where}`"
        raise msgspec.ValidationError(placed) from None
