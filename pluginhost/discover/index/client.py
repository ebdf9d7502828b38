"""The client of one package index: project pages polled cheaply, files downloaded with their
sha256 checked before anything else, PEP 658 metadata.

A poll sends the validators of the last answer for the project (``If-None-Match``,
``If-Modified-Since``): a server that honours them answers 304 and nothing is read. A server
that sends a serial (``X-PyPI-Last-Serial``, devpi's ``X-Devpi-Serial``) but no validators is
read only up to its headers when the serial has not moved. Either way an idle poll is one small
request and never a download::

    client = IndexClient("https://index.example/simple/")
    page = client.project("hello")      # ProjectPage, None (404) or NOT_MODIFIED
    path = client.download(page.files[0], cache_dir)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from packaging.utils import canonicalize_name

from ...model.errors import (
    IndexHashError,
    IndexResponseError,
    IndexUnavailableError,
    PackageIndexError,
    PluginHostError,
)
from . import parse
from .auth import find_credentials, split_userinfo
from .encoding import ACCEPT_FILE
from .pages import NOT_MODIFIED, IndexFile, NotModifiedType, ProjectList, ProjectPage
from .transport import Transport, over_cap

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

__all__ = ["DownloadStoppedError", "IndexClient"]

#: PEP 691 JSON preferred, PEP 503 HTML accepted (its versioned type first).
ACCEPT: Final = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
#: The largest page read (a plugin's page is kilobytes; PyPI's largest are a few megabytes).
MAX_PAGE_BYTES: Final = 32 * 1024 * 1024
#: The largest file downloaded (a plugin wheel is kilobytes to megabytes).
MAX_DOWNLOAD_BYTES: Final = 1024 * 1024 * 1024
#: The largest core metadata file read (PEP 658).
MAX_METADATA_BYTES: Final = 4 * 1024 * 1024
#: The slowest download taken, in bytes a second on average, past the first ``timeout`` seconds.
#: Each read has the timeout, but an index sending a byte every half second never overran one:
#: a wheel of a kilobyte held the poller for minutes, and with it the yanks of every project.
MIN_DOWNLOAD_RATE: Final = 16 * 1024
_SERIAL_HEADERS: Final = ("X-PyPI-Last-Serial", "X-Devpi-Serial")
#: A serial as indexes send it: a decimal number, at most as long as a 64-bit one.
_SERIAL: Final = re.compile(r"[0-9]{1,19}")


class DownloadStoppedError(PluginHostError):
    """A download abandoned between two chunks (:meth:`IndexClient.abandon`); nothing is left.
    Not a fault of the index or of the file: the source stopping asked for it."""


class IndexClient:
    """Reads one package index through the simple repository API.

    Used from one thread (a source's poller, or one of its downloads; :meth:`abandon` from any):
    it keeps one connection pool and the validators of the last answer for each project.

    :param url: the index's simple root (``https://host/simple/``, devpi's
        ``http://host/user/index/+simple/``); userinfo in it is taken as credentials.
    :param auth: (user, password); None: from ``url``, the environment
        (``PLUGINHOST_INDEX_USERNAME`` / ``PLUGINHOST_INDEX_PASSWORD``) or ``.netrc``.
    :param ca: a CA bundle (PEM) to verify the index's TLS certificate with.
    :param timeout: seconds for every request (connecting, each read, a page in total).
    :param follow_offsite_redirects: follow a redirect to another host (credentials stay home).
    :param max_page_bytes: the largest page read; a larger one is an IndexResponseError.
    :param max_download_bytes: the largest file downloaded; a larger one is refused.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        ca: str | Path | None = None,
        timeout: float = 10.0,
        follow_offsite_redirects: bool = False,
        max_page_bytes: int = MAX_PAGE_BYTES,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        bare, _ = split_userinfo(url)
        self.max_page_bytes: Final = max_page_bytes
        self.max_download_bytes: Final = max_download_bytes
        self.url: Final = bare if bare.endswith("/") else f"{bare}/"
        self._credentials = find_credentials(url, auth)
        self._transport = Transport(
            self.url,
            credentials=self._credentials,
            ca=ca,
            timeout=timeout,
            follow_offsite_redirects=follow_offsite_redirects,
        )
        self._last: dict[str, ProjectPage] = {}
        self._abandoned = False

    def __repr__(self) -> str:
        user = f", user={self._credentials.username!r}" if self._credentials else ""
        return f"IndexClient({self.url!r}{user})"

    def project(self, name: str) -> ProjectPage | NotModifiedType | None:
        """The project's page, read unless it has not changed since the last call.

        :param name: the project, in any spelling (normalized here).
        :returns: the page; None when the index has no such project (404: deleted from the
            index when it had one); :data:`NOT_MODIFIED` on a 304 or an unchanged serial.
        :raises IndexUnavailableError: the index is down, slow, failing (5xx) or refused us.
        :raises IndexResponseError: the answer is not a page of the simple API.
        Either names the project (``.plugin``) and the page's URL.
        """
        project = canonicalize_name(name)
        try:
            return self._project(project)
        except PackageIndexError as exc:
            raise type(exc)(exc.reason, url=exc.url, plugin=project) from exc

    def _project(self, project: str) -> ProjectPage | NotModifiedType | None:
        url = f"{self.url}{project}/"
        last = self._last.get(project)
        started = time.monotonic()
        with self._transport.get(url, _conditional(last)) as response:
            if response.status_code == 304 and last is not None:
                return NOT_MODIFIED
            if response.status_code == 404:
                self._last.pop(project, None)
                return None
            _check_status(response)
            serial = _serial(response)
            if last is not None and serial is not None and serial == last.serial:
                return NOT_MODIFIED  # the body is left unread: the connection closes with it
            page = self._page(project, response, serial, started)
        self._last[project] = page
        return page

    def forget(self, name: str | None = None) -> None:
        """Drop what the client remembers of a project's last answer (of every project when
        ``name`` is None): the next :meth:`project` reads the page in full, never
        :data:`NOT_MODIFIED` (a caller that could not use the last page asks for it again).
        """
        if name is None:
            self._last.clear()
        else:
            self._last.pop(canonicalize_name(name), None)

    def serial(self) -> int | None:
        """The index's serial, read from the headers of its root listing (the body is left
        unread): one small request that tells a poller following many projects whether anything
        changed on an index that sends one (PyPI's ``X-PyPI-Last-Serial``, devpi's
        ``X-Devpi-Serial``, both index-wide there).

        :returns: the serial; None when the index sends none (pypiserver).
        :raises IndexUnavailableError: as :meth:`project`.
        """
        with self._transport.get(self.url, {"Accept": ACCEPT}) as response:
            _check_status(response)
            return _serial(response)

    def projects(self) -> ProjectList:
        """The normalized names of every project of the index (its root listing), and the
        entries refused alone (a name with a NUL, another control character or a lone
        surrogate, or no project name at all: no request can be made for it).

        :raises IndexUnavailableError: as :meth:`project`.
        :raises IndexResponseError: as :meth:`project`.
        """
        started = time.monotonic()
        with self._transport.get(self.url, {"Accept": ACCEPT}) as response:
            _check_status(response)
            kind, body = self._body(response, started, "the root listing")
            return parse.project_names(body, kind, str(response.url))

    def download(self, file: IndexFile, into: Path) -> Path:
        """Download ``file`` into the folder ``into``, its sha256 checked before anything else.

        The bytes are streamed to a temporary file in ``into`` and renamed in only once they
        match the index's sha256, so that no reader ever sees a partial or wrong file.

        :returns: ``into / file.filename``.
        :raises DownloadStoppedError: :meth:`abandon` was called (nothing is left).
        :raises IndexHashError: the bytes do not match (nothing is left), or the index gave no
            sha256 to check them against.
        :raises IndexResponseError: the file is larger than ``max_download_bytes``, or its name
            is not a plain file name (nothing is left either way).
        :raises IndexUnavailableError: the download failed.
        Each names the project (``.plugin``, from the file's name) and the file's URL.
        """
        with _naming(file):
            return self._download(file, Path(into))

    def _download(self, file: IndexFile, into: Path) -> Path:
        target = into / _plain_filename(file)
        if file.sha256 is None:
            raise IndexHashError(
                f"gives no sha256 for {file.filename}: not downloaded", url=file.url
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".whl")
        try:
            with os.fdopen(fd, "wb") as out:
                digest = self._fetch_into(file, out)
            if self._abandoned:
                raise DownloadStoppedError(f"the download of {file.url} was abandoned")
            if digest != file.sha256:
                raise IndexHashError(
                    f"{file.filename} has sha256 {digest}, the index says {file.sha256}: refused",
                    url=file.url,
                )
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return target

    def metadata(self, file: IndexFile) -> bytes | None:
        """The core metadata file of ``file`` (PEP 658/714), hash checked when the index gave one.

        :returns: its bytes; None when the index offers none.
        :raises IndexHashError: the bytes do not match the index's ``core-metadata`` sha256.
        Errors name the project (``.plugin``, from the file's name).
        """
        with _naming(file):
            return self._metadata(file)

    def _metadata(self, file: IndexFile) -> bytes | None:
        if not file.has_metadata:
            return None
        url = file.metadata_url
        with self._transport.get(url, {}) as response:
            if response.status_code == 404:
                return None
            _check_status(response)
            what = f"the core metadata file of {file.filename}"
            started = time.monotonic()
            body = self._transport.read(response, MAX_METADATA_BYTES, started=started, what=what)
        digest = hashlib.sha256(body).hexdigest()
        if file.metadata_sha256 is not None and digest != file.metadata_sha256:
            raise IndexHashError(
                f"metadata of {file.filename} has sha256 {digest}, the index says "
                f"{file.metadata_sha256}",
                url=url,
            )
        return body

    def abandon(self) -> None:
        """Abandon the download under way (from another thread), at its next chunk, and every
        later one: a stopping source does not wait for a wheel an index trickles in."""
        self._abandoned = True

    def close(self) -> None:
        """Close the connections."""
        self._transport.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _page(
        self, project: str, response: httpx.Response, serial: int | None, started: float
    ) -> ProjectPage:
        kind, body = self._body(response, started, f"the page of {project}")
        url = str(response.url)
        return ProjectPage(
            project=project,
            files=parse.project_files(body, kind, url),
            serial=serial,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            url=url,
        )

    def _body(self, response: httpx.Response, started: float, what: str) -> tuple[str, bytes]:
        kind = parse.content_kind(response.headers.get("Content-Type", ""), str(response.url))
        cap = self.max_page_bytes
        return kind, self._transport.read(response, cap, started=started, what=what)

    def _fetch_into(self, file: IndexFile, out: BinaryIO) -> str:
        url, digest = file.url, hashlib.sha256()
        # Asked for as it is, and hashed as sent whatever coding it is labelled with: the file
        # the index's sha256 is of (encoding.py).
        started = time.monotonic()
        with self._transport.get(url, {"Accept-Encoding": ACCEPT_FILE}) as response:
            _check_status(response)
            size = 0
            for chunk in self._transport.raw(response):
                if self._abandoned:
                    raise DownloadStoppedError(f"the download of {url} was abandoned")
                size += len(chunk)
                if size > self.max_download_bytes:
                    what = f"the file {file.filename}"
                    reason = over_cap(what, self.max_download_bytes, url)
                    raise IndexResponseError(reason, url=url)
                self._check_rate(size, started, url)
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest()

    def _check_rate(self, size: int, started: float, url: str) -> None:
        """Refuse a download slower than :data:`MIN_DOWNLOAD_RATE` once its grace is over."""
        elapsed = time.monotonic() - started
        if elapsed > self._transport.timeout + size / MIN_DOWNLOAD_RATE:
            raise IndexUnavailableError(
                f"sent a file slower than {MIN_DOWNLOAD_RATE} bytes a second "
                f"({size} bytes in {elapsed:.1f} s)",
                url=url,
            )


@contextlib.contextmanager
def _naming(file: IndexFile) -> Iterator[None]:
    """Errors of the work on ``file`` raised again naming its project: the poll's problem did,
    the error a caller of the client catches did not."""
    try:
        yield
    except PackageIndexError as exc:
        raise type(exc)(exc.reason, url=exc.url, plugin=_project_of(file)) from exc


def _project_of(file: IndexFile) -> str | None:
    """The project a file's name gives (a wheel's or an sdist's name starts with it), when it
    is a name a message may hold."""
    name = file.filename.partition("-")[0]
    fit = name.isprintable() and name.strip() and len(name) <= _LONGEST_NAME
    return canonicalize_name(name) if fit else None


def _conditional(last: ProjectPage | None) -> dict[str, str]:
    headers = {"Accept": ACCEPT}
    if last is not None and last.etag:
        headers["If-None-Match"] = last.etag
    if last is not None and last.last_modified:
        headers["If-Modified-Since"] = last.last_modified
    return headers


def _check_status(response: httpx.Response) -> None:
    """Nothing but a 200 is a page: every other status is the index failing or refusing us."""
    status = response.status_code
    if status == 200:
        return
    if status in (401, 403):
        reason = f"refused us ({status}): credentials missing or not accepted"
    elif status >= 500:
        reason = f"failed ({status} {response.reason_phrase})"
    else:
        reason = f"answered {status} {response.reason_phrase}"
    raise IndexUnavailableError(reason, url=str(response.url))


def _serial(response: httpx.Response) -> int | None:
    """The index's serial, when a header gives one; one that is not a plain number is ignored
    (``"²".isdigit()`` holds, and ``int()`` of it, or of 5,000 digits, raised ValueError out of
    every poll)."""
    for header in _SERIAL_HEADERS:
        value = response.headers.get(header)
        if value is not None and _SERIAL.fullmatch(text := value.strip()):
            return int(text)
    return None


def _plain_filename(file: IndexFile) -> str:
    name = file.filename
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise IndexResponseError(
            f"lists a file named {name!r}, not a plain file name", url=file.url
        )
    unfit = _UNFIT.search(name)
    if unfit is not None:
        # A NUL made the rename into the cache raise ValueError, and a lone surrogate
        # UnicodeEncodeError: neither is an OSError, and each failed every poll of the index.
        what = "a lone surrogate" if unfit[0] >= "\ud800" else "a control character"
        raise IndexResponseError(
            f"lists a file named {name!r}, with {what} ({unfit[0]!r}) no cached file name takes",
            url=file.url,
        )
    if len(name.encode("utf-8", "surrogateescape")) > _LONGEST_NAME:
        # A file system keeps 255 bytes of a name: longer, its rename into the cache raised
        # OSError (ENAMETOOLONG), which failed every poll of the index.
        raise IndexResponseError(
            f"lists a file name of {len(name)} characters, longer than a cache can keep",
            url=file.url,
        )
    return name


#: The longest file name kept: 255 bytes (NAME_MAX), less the download's temporary prefix.
_LONGEST_NAME: Final = 255 - len(".partial-") - 16
#: What no cached file name holds: the C0 and C1 controls and DEL (the characters the CLI
#: escapes: a cached name is listed, logged and printed), and lone surrogates (no UTF-8 spells
#: them).
_UNFIT: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
