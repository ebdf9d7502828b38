"""Values read from a package index's simple API: a project's files and the page that lists them."""

from __future__ import annotations

import enum
from datetime import datetime

from ...model.errors import IndexResponseError
from ...model.frozen import frozen


@frozen
class IndexFile:
    """One file of a project, as the index lists it.

    :param filename: the file's name (``hello-1.0.0-py3-none-any.whl``).
    :param url: where to download it, absolute.
    :param sha256: the hash the index gives for it, lowercase hex, when it gives one.
    :param yanked: None when not yanked; the reason (possibly ``""``) when yanked (PEP 592).
    :param requires_python: the file's ``Requires-Python``, when the index gives it.
    :param upload_time: when it was uploaded (PEP 700), in UTC, when the index says.
    :param metadata_sha256: the hash of its core metadata file (PEP 658/714), when offered with one.
    :param has_metadata: whether the index offers the core metadata file (``<url>.metadata``).
    """

    filename: str
    url: str
    sha256: str | None = None
    yanked: str | None = None
    requires_python: str | None = None
    upload_time: datetime | None = None
    metadata_sha256: str | None = None
    has_metadata: bool = False

    @property
    def is_yanked(self) -> bool:
        """Whether the index yanked this file (PEP 592): it is never chosen."""
        return self.yanked is not None

    @property
    def metadata_url(self) -> str:
        """The URL of its core metadata file (PEP 658): the file's URL with ``.metadata`` added."""
        base, _, _ = self.url.partition("#")
        return f"{base}.metadata"


@frozen
class ProjectPage:
    """A project's page on the index: its files, and what tells a later poll whether it changed.

    :param project: the project's normalized name.
    :param files: the files listed, in the index's order.
    :param serial: the index's serial when it sent one (``X-PyPI-Last-Serial``, devpi's
        ``X-Devpi-Serial``): the same serial on the next poll means nothing changed.
    :param etag: the page's ``ETag``, sent back as ``If-None-Match``.
    :param last_modified: the page's ``Last-Modified``, sent back as ``If-Modified-Since``.
    :param url: the page's URL (after redirects), without credentials.
    """

    project: str
    files: tuple[IndexFile, ...]
    serial: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""


@frozen
class ProjectList:
    """The index's root listing: the projects it names, and the entries refused.

    :param names: the normalized names of the projects, in the listing's order.
    :param refused: an error for each entry no request can take (a NUL or another control
        character, a lone surrogate, no project name at all), naming the listing's URL, the
        entry (``.plugin``, escaped) and why: refused alone, the rest of the listing counts.
    """

    names: tuple[str, ...]
    refused: tuple[IndexResponseError, ...] = ()


class NotModifiedType(enum.Enum):
    """The type of :data:`NOT_MODIFIED`, so that ``page is NOT_MODIFIED`` narrows for mypy."""

    NOT_MODIFIED = "not modified"

    def __repr__(self) -> str:
        return "NOT_MODIFIED"


#: What :meth:`IndexClient.project` answers when the page has not changed since the last poll
#: (a 304, or the same serial): nothing was downloaded.
NOT_MODIFIED = NotModifiedType.NOT_MODIFIED
