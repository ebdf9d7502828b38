"""Parsers of the simple API's pages: PEP 691 JSON and PEP 503 HTML into the same values.

A page that is not one (bad JSON, undecodable bytes, fields of the wrong type, an API version
this client does not speak) is an :class:`IndexResponseError` naming the URL and the reason:
nothing untyped escapes a parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import msgspec
from packaging.utils import canonicalize_name

from ...model.errors import IndexResponseError
from . import json_page
from .html_anchors import Page, read_page
from .pages import IndexFile, ProjectList

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The most entries of a root listing refused one by one (the rest are counted).
MAX_REFUSED = 20
#: A project's name as PEP 508 has it (before normalization).
_PROJECT = re.compile(r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)
#: What no name a request is made for holds: the C0 and C1 controls and DEL, lone surrogates.
_UNFIT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)?")
_T = TypeVar("_T")


def content_kind(content_type: str, url: str) -> str:
    """``"json"`` or ``"html"`` for a page's ``Content-Type``.

    :raises IndexResponseError: any other type (a proxy's error page, a file, plain text).
    """
    mime = content_type.partition(";")[0].strip().lower()
    if mime in (JSON_TYPE, "application/json"):
        return "json"
    if mime in HTML_TYPES:
        return "html"
    raise IndexResponseError(
        f"answered with content type {mime or 'none'!r}, not a page of the simple API", url=url
    )


def project_files(body: bytes, kind: str, url: str) -> tuple[IndexFile, ...]:
    """The files listed by a project's page.

    :param body: the page's bytes.
    :param kind: ``"json"`` or ``"html"`` (:func:`content_kind`).
    :param url: the page's URL, against which relative links resolve.
    :raises IndexResponseError: the page cannot be read.
    """
    return _guarded(
        url, lambda: _json_files(body, url) if kind == "json" else _html_files(body, url)
    )


def project_names(body: bytes, kind: str, url: str) -> ProjectList:
    """The normalized project names of the index's root listing; an entry no request can take
    is refused alone (:attr:`ProjectList.refused`).

    :raises IndexResponseError: the page cannot be read.
    """
    names = _guarded(url, lambda: _json_names(body) if kind == "json" else _html_names(body))
    kept: list[str] = []
    refused: list[IndexResponseError] = []
    more = 0
    for name in names:
        why = _unfit_project(name)
        if why is None:
            kept.append(canonicalize_name(name))
        elif len(refused) < MAX_REFUSED:
            shown = repr(name[:100])[1:-1]
            refused.append(IndexResponseError(why, url=url, plugin=shown))
        else:
            more += 1
    if more:
        # Each refusal is a problem and an event: a listing of 200,000 such names is told in
        # a bounded number of them.
        why = f"lists {more} more projects no request can take (not shown): not followed"
        refused.append(IndexResponseError(why, url=url))
    return ProjectList(tuple(kept), tuple(refused))


def _unfit_project(name: str) -> str | None:
    """Why the listing's entry ``name`` names no project a request can be made for; ``None``
    when it does. A NUL made the page's URL one httpx refuses, which failed every poll."""
    unfit = _UNFIT.search(name)
    if unfit is None and _PROJECT.fullmatch(name) is not None:
        return None
    shown = repr(name if len(name) <= 200 else name[:200] + "...")
    if unfit is not None:
        what = "a lone surrogate" if unfit[0] >= "\ud800" else "a control character"
        return f"lists a project named {shown}, with {what} ({unfit[0]!r}): not followed"
    return f"lists a project named {shown}, which is no project name (PEP 508): not followed"


class _PageError(Exception):
    """A reason the page is unusable, given a URL by :func:`_guarded`."""


def _guarded(url: str, parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except _PageError as e:
        raise IndexResponseError(str(e), url=url) from e
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        RecursionError,
        AssertionError,
        OverflowError,
    ) as e:
        # msgspec's failures (a DecodeError is a ValueError; its ValidationError names the
        # place of a value of the wrong type), undecodable bytes, fields of the wrong shape.
        raise IndexResponseError(f"is not a readable page: {type(e).__name__}: {e}", url=url) from e


# -- PEP 691 JSON --------------------------------------------------------------------------------


def _json_entries(body: bytes, key: str) -> list[msgspec.Raw]:
    version, found = json_page.entries(body, key)
    if version is None or version.partition(".")[0] != "1":
        raise _PageError(f"speaks simple API version {version!r}, not 1.x")
    if found is None:
        raise _PageError(f"has no list of {key}")
    return found


def _json_files(body: bytes, url: str) -> tuple[IndexFile, ...]:
    entries = _json_entries(body, "files")
    return tuple(_json_file(json_page.file_of(raw, i), url) for i, raw in enumerate(entries))


def _json_file(entry: json_page.JsonFile, page_url: str) -> IndexFile:
    filename = entry.filename
    if not filename:
        raise _PageError("lists a file without a filename")
    metadata = entry.core_metadata
    if metadata is None:
        metadata = entry.dist_info_metadata
    return IndexFile(
        filename=filename,
        url=_absolute(page_url, entry.url),
        sha256=_sha256(entry.hashes.get("sha256"), filename),
        yanked=_yanked_json(entry.yanked),
        requires_python=entry.requires_python or None,
        upload_time=_upload_time(entry.upload_time, filename),
        metadata_sha256=_sha256(
            metadata.get("sha256") if isinstance(metadata, dict) else None, filename
        ),
        has_metadata=bool(metadata),
    )


def _yanked_json(value: bool | str | None) -> str | None:
    if value is False or value is None:
        return None
    return "" if value is True else value


def _upload_time(value: str | None, filename: str) -> datetime | None:
    if value is None:
        return None
    # PEP 700: ISO 8601 in UTC, usually with a "Z" and any number of fraction digits; Python
    # 3.10's fromisoformat reads neither, so the fraction is padded to microseconds here.
    match = _ISO_TIME.fullmatch(value.strip())
    if match is None:
        raise _PageError(f"gives {filename} an upload-time that is not ISO 8601: {value!r}")
    stamp, fraction, zone = match.groups()
    micro = (fraction or "")[1:7].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        when = datetime.fromisoformat(f"{stamp}.{micro}{offset}")
        return when.astimezone(timezone.utc)
    except OverflowError:  # year 9999 at -23:59 is past datetime's range in UTC
        raise _PageError(f"gives {filename} an upload-time out of range: {value!r}") from None


def _json_names(body: bytes) -> tuple[str, ...]:
    entries = _json_entries(body, "projects")
    names = [json_page.project_of(raw, i).name for i, raw in enumerate(entries)]
    if not all(names):
        raise _PageError("lists a project without a name")
    return tuple(names)


# -- PEP 503 HTML --------------------------------------------------------------------------------


def _html_page(body: bytes) -> Page:
    page = read_page(body.decode("utf-8"))
    if page.version is not None and page.version.partition(".")[0] != "1":
        raise _PageError(f"speaks simple API version {page.version!r}, not 1.x")
    return page


def _html_files(body: bytes, url: str) -> tuple[IndexFile, ...]:
    page = _html_page(body)
    base = urljoin(url, page.base) if page.base else url
    return tuple(
        _html_file(a.attributes, a.text, base) for a in page.anchors if a.attributes.get("href")
    )


def _html_file(attrs: Mapping[str, str | None], text: str, base: str) -> IndexFile:
    href = str(attrs["href"])
    link, _, fragment = _absolute(base, href).partition("#")
    filename = text or urlsplit(link).path.rpartition("/")[2]
    algorithm, _, digest = fragment.partition("=")
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    meta_algorithm, _, meta_digest = (metadata or "").partition("=")
    return IndexFile(
        filename=filename,
        url=link,
        sha256=_sha256(digest if algorithm == "sha256" else None, filename),
        yanked=(attrs["data-yanked"] or "") if "data-yanked" in attrs else None,
        requires_python=_text(attrs.get("data-requires-python")),
        metadata_sha256=_sha256(meta_digest if meta_algorithm == "sha256" else None, filename),
        has_metadata="data-core-metadata" in attrs or "data-dist-info-metadata" in attrs,
    )


def _html_names(body: bytes) -> tuple[str, ...]:
    return tuple(a.text for a in _html_page(body).anchors if a.text)


# -- shared --------------------------------------------------------------------------------------


def _absolute(base: str, href: str) -> str:
    url = urljoin(base, href)
    if urlsplit(url).scheme not in ("http", "https"):
        raise _PageError(f"links to {href!r}, which is not an http(s) URL")
    return url


def _sha256(value: object, filename: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        raise _PageError(f"gives {filename} a sha256 that is not 64 hex digits")
    return value.lower()


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _PageError(f"has a {type(value).__name__} where text belongs")
    return value
