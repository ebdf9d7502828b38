"""A small static package index for tests, served by :mod:`http.server` from a folder it writes.

It serves what the real servers of :mod:`.indexes` cannot: PEP 592 yanks, PEP 700 upload times,
PEP 658 metadata files, ``ETag``/``Last-Modified`` with 304 answers, a serial header, and faults
(a status, garbage, a slow answer, a redirect) set per path. Pages are PEP 691 JSON or PEP 503
HTML, by the request's ``Accept``; TLS when given a certificate. Every request is recorded in
:attr:`StaticIndex.requests`, so that a test can count what a poll cost.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import json
import os
import shutil
import socket
import ssl
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, TypeVar

import attrs
from packaging.utils import canonicalize_name, parse_wheel_filename

from ..model.frozen import frozen

__all__ = ["Fault", "Serving", "StaticIndex", "free_port"]

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
HTML_TYPE: Final = "application/vnd.pypi.simple.v1+html"


def free_port() -> int:
    """A TCP port free on loopback now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@frozen
class Fault:
    """What the index does instead of answering a path.

    :param status: answer this status with ``body``.
    :param body: the bytes to answer (garbage), with ``content_type``.
    :param delay: seconds to wait before answering (a slow index).
    :param redirect: answer a 302 to this URL.
    :param headers: more headers to answer with (a ``Content-Encoding`` for ``body``, say).
    :param trickle: seconds between two bytes of ``body`` (a slow-loris index).
    """

    status: int = 200
    body: bytes | None = None
    content_type: str = JSON_TYPE
    delay: float = 0.0
    redirect: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    trickle: float = 0.0


@frozen
class _Entry:
    filename: str
    sha256: str
    upload_time: datetime | None
    yanked: str | None
    metadata_sha256: str | None
    url: str | None = None  # None: where ``filename`` is stored, under ``files/``


_S = TypeVar("_S", bound="Serving")


class Serving:
    """A server a test starts and stops, or uses in a ``with`` block."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StaticIndex(Serving):
    """A static simple index on ``127.0.0.1``, in a folder it writes.

    :param root: the folder (``simple/`` pages and ``files/``).
    :param certificate: a (certificate, key) pair of PEM files: serve HTTPS.
    :param serial: send ``X-PyPI-Last-Serial``, raised at every change.
    :param validators: send ``ETag`` and ``Last-Modified`` and answer 304 to conditional
        requests; ``"last-modified"``: send only ``Last-Modified`` (answering 304 to
        ``If-Modified-Since``), as a server that keeps no ETags does.
    :param gzip_pages: send pages gzipped (``Content-Encoding: gzip``) to a client that accepts
        it, as PyPI and most web servers do.
    """

    def __init__(
        self,
        root: Path,
        *,
        certificate: tuple[Path, Path] | None = None,
        serial: bool = True,
        validators: bool | Literal["last-modified"] = True,
        gzip_pages: bool = False,
    ) -> None:
        self.root: Final = Path(root)
        self.gzip_pages: Final = gzip_pages
        self.certificate: Final = certificate
        self.send_serial: Final = serial
        self.validators: Final = validators
        self.serial = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults: dict[str, Fault] = {}
        self._entries: dict[str, list[_Entry]] = {}
        # Each page's Last-Modified (whole seconds, as HTTP dates go), keyed by its project
        # ("" for the root): moved by a second at least at each change, so that a page
        # changed twice within a second is not taken for the one a client has.
        self._modified: dict[str, int] = {}
        self._port = free_port()
        self._server: ThreadingHTTPServer | None = None
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        (self.root / "simple").mkdir(exist_ok=True)
        self._write_root()

    @property
    def base(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """The simple API's root (``http://127.0.0.1:<port>/simple/``)."""
        return f"{self.base}/simple/"

    # -- serving --------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve (again, on the same port) in a daemon thread."""
        server = _QuietServer(("127.0.0.1", self._port), _handler(self))
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, self.certificate))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        # A short poll interval: stop() (a test of an index going down) returns at once.
        serve = functools.partial(server.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, name="static-index", daemon=True).start()

    def stop(self) -> None:
        """Stop serving: connections are refused until :meth:`start`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- content --------------------------------------------------------------------------------

    def publish(
        self, wheel: Path, *, upload_time: datetime | None = None, metadata: bool = True
    ) -> None:
        """Add ``wheel`` (copied into ``files/``), with a PEP 700 time and PEP 658 metadata; a
        wheel of a name published before replaces it, bytes and line (a re-upload)."""
        target = self.file_path(wheel.name)
        shutil.copyfile(wheel, target)
        metadata_sha = self._write_metadata(target) if metadata else None
        entry = _Entry(wheel.name, _sha256(target), upload_time, None, metadata_sha)
        project = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        kept = [e for e in self._entries.get(project, []) if e.filename != wheel.name]
        self._entries[project] = [*kept, entry]
        self._write_project(project)

    def list_file(self, project: str, filename: str, *, url: str, sha256: str) -> None:
        """List a file on ``project``'s page as given, storing nothing: a line that a broken
        or hostile index writes (a name no file system takes, a URL no client can request).

        :param url: where the line links to, absolute.
        :param sha256: the hash the line gives (the bytes at ``url`` may match it).
        """
        entry = _Entry(filename, sha256, None, None, None, url)
        name = canonicalize_name(project)
        self._entries[name] = [*self._entries.get(name, []), entry]
        self._write_project(name)

    def yank(self, project: str, version: str, reason: str = "") -> None:
        """Yank every file of a release (PEP 592), with ``reason``."""
        self._change(project, version, lambda e: attrs.evolve(e, yanked=reason))

    def delete(self, project: str, version: str) -> None:
        """Delete a release: its files and their lines go (a project left empty is a 404)."""
        self._change(project, version, lambda e: None)

    def file_path(self, filename: str) -> Path:
        """Where ``filename`` is stored (to tamper with its bytes)."""
        return self.root / "files" / filename

    def fault(self, path: str, fault: Fault) -> None:
        """Answer requests for ``path`` (``/simple/hello/``) with ``fault`` until cleared."""
        self.faults[path] = fault

    def _change(self, project: str, version: str, how: Callable[[_Entry], _Entry | None]) -> None:
        name = canonicalize_name(project)
        kept = []
        for entry in self._entries.get(name, []):
            if str(parse_wheel_filename(entry.filename)[1]) != version:
                kept.append(entry)
                continue
            changed = how(entry)
            if changed is None:
                self.file_path(entry.filename).unlink(missing_ok=True)
            else:
                kept.append(changed)
        self._entries[name] = kept
        self._write_project(name)

    def _write_metadata(self, wheel: Path) -> str:
        with zipfile.ZipFile(wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            data = zf.read(name)
        wheel.with_name(wheel.name + ".metadata").write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def last_modified(self, page: str) -> int:
        """The ``Last-Modified`` of a page (``""``: the root listing; else its project)."""
        return self._modified.get(page, 0)

    def _stamp(self, page: str) -> None:
        self._modified[page] = max(int(time.time()), self._modified.get(page, 0) + 1)

    def _write_root(self) -> None:
        self._stamp("")
        projects = sorted(p for p, entries in self._entries.items() if entries)
        _write_pair(self.root / "simple", _root_json(projects), _root_html(projects))

    def _write_project(self, project: str) -> None:
        """Write the pages of ``project`` alone (and the root listing when the projects
        changed), then raise the serial: publishing is not slowed by the other projects."""
        folder = self.root / "simple" / project
        entries = self._entries.get(project, [])
        self._stamp(project)
        if entries:
            listed = folder.is_dir()
            folder.mkdir(exist_ok=True)
            _write_pair(folder, _project_json(project, entries), _project_html(project, entries))
        else:
            listed = not folder.is_dir()
            shutil.rmtree(folder, ignore_errors=True)
        if not listed:
            self._write_root()
        # After the pages: a client that sees the new serial reads the new pages.
        self.serial += 1


def _write_pair(folder: Path, as_json: str, as_html: str) -> None:
    for name, text in (("index.json", as_json), ("index.html", as_html)):
        # Renamed into place: a request served meanwhile reads the old page or the new one.
        partial = folder / f".{name}.partial"
        partial.write_text(text, "utf-8")
        os.replace(partial, folder / name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _root_json(projects: list[str]) -> str:
    meta = {"api-version": "1.1"}
    return json.dumps({"meta": meta, "projects": [{"name": p} for p in projects]})


def _root_html(projects: list[str]) -> str:
    links = "".join(f'<a href="{p}/">{p}</a><br>\n' for p in projects)
    return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n"


def _project_json(project: str, entries: list[_Entry]) -> str:
    files = []
    for e in entries:
        item: dict[str, object] = {
            "filename": e.filename,
            "url": e.url or f"../../files/{e.filename}",
            "hashes": {"sha256": e.sha256},
            "yanked": e.yanked if e.yanked else e.yanked is not None,
        }
        if e.upload_time is not None:
            item["upload-time"] = e.upload_time.astimezone(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
        if e.metadata_sha256 is not None:
            item["core-metadata"] = {"sha256": e.metadata_sha256}
        files.append(item)
    return json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files})


def _project_html(project: str, entries: list[_Entry]) -> str:
    links = []
    for e in entries:
        extra = ""
        if e.yanked is not None:
            extra += f' data-yanked="{html.escape(e.yanked)}"'
        if e.metadata_sha256 is not None:
            extra += f' data-core-metadata="sha256={e.metadata_sha256}"'
        href = html.escape(e.url or f"../../files/{e.filename}") + f"#sha256={e.sha256}"
        links.append(f'<a href="{href}"{extra}>{html.escape(e.filename)}</a><br>\n')
    return f"<!DOCTYPE html><html><body><h1>{project}</h1>\n{''.join(links)}</body></html>\n"


class _QuietServer(ThreadingHTTPServer):
    """A server that takes a client hanging up early (a size cap, a timeout) as the test meant."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _handler(index: StaticIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without this, Nagle's algorithm held the
        # body back for the client's delayed ACK, 40 ms a response on a kept connection.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            index.requests.append(("GET", self.path, dict(self.headers.items())))
            fault = index.faults.get(self.path)
            if fault is not None:
                self._fault(fault)
            elif self.path.startswith("/files/"):
                self._file(index.root / "files" / self.path.removeprefix("/files/"))
            elif self.path.startswith("/simple/"):
                self._page(index.root / self.path.lstrip("/"), self.path[8:].strip("/"))
            else:
                self._send(404, b"not found", "text/plain")

        def _fault(self, fault: Fault) -> None:
            time.sleep(fault.delay)
            if fault.redirect is not None:
                self._send(302, b"", "text/plain", {"Location": fault.redirect})
            else:
                headers = dict(fault.headers)
                body = fault.body or b""
                self._send(fault.status, body, fault.content_type, headers, trickle=fault.trickle)

        def _file(self, path: Path) -> None:
            if "/" in self.path.removeprefix("/files/") or not path.is_file():
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, path.read_bytes(), "application/octet-stream")

        def _page(self, folder: Path, page: str) -> None:
            wants_json = JSON_TYPE in self.headers.get("Accept", "")
            path = folder / ("index.json" if wants_json else "index.html")
            if not path.is_file():
                self._send(404, b"no such project", "text/plain")
                return
            # The serial before the body: the page read is then at least as new as it says.
            serial = index.serial
            body = path.read_bytes()
            headers = {"Vary": "Accept"}
            if index.send_serial:
                headers["X-PyPI-Last-Serial"] = str(serial)
            if index.validators:
                modified = index.last_modified(page)
                headers["Last-Modified"] = formatdate(modified, usegmt=True)
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                if index.validators is True:
                    headers["ETag"] = etag
                if self._not_modified(etag if index.validators is True else None, modified):
                    self._send(304, b"", None, headers)
                    return
            if index.gzip_pages and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            self._send(200, body, JSON_TYPE if wants_json else HTML_TYPE, headers)

        def _not_modified(self, etag: str | None, modified: int) -> bool:
            """Whether the client has this page (If-None-Match, when sent, decides alone)."""
            if "If-None-Match" in self.headers:
                return etag is not None and self.headers["If-None-Match"] == etag
            since = self.headers.get("If-Modified-Since")
            if since is None:
                return False
            try:
                return modified <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False  # not a date: the page is sent

        def _send(
            self,
            status: int,
            body: bytes,
            kind: str | None,
            headers: dict[str, str] | None = None,
            *,
            trickle: float = 0.0,
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if kind is not None:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not trickle:
                self.wfile.write(body)
                return
            for at in range(len(body)):
                self.wfile.write(body[at : at + 1])
                self.wfile.flush()
                time.sleep(trickle)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the requests are recorded in index.requests; stderr stays quiet

    return Handler
