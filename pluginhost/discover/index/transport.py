"""One request to a package index: timeouts, redirects kept on the index's host unless allowed,
credentials sent only to the index's own origin, and every failure of the transport translated
into :class:`IndexUnavailableError` naming the URL (never its credentials).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urljoin, urlsplit

from ...model.errors import (
    IndexResponseError,
    IndexUnavailableError,
    SettingsError,
    without_userinfo,
)
from .auth import Credentials
from .encoding import ACCEPT_PAGE, decoded

if TYPE_CHECKING:
    import httpx

#: Redirects followed for one request, at most.
MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def origin(url: str) -> tuple[str, str]:
    """The (scheme, host:port) of ``url``: what credentials and redirects are kept to."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.rpartition("@")[2].lower()


def _verify(ca: str | Path | None, index_url: str) -> ssl.SSLContext | bool:
    """The system's CAs (``True``), or a context that trusts the bundle ``ca``.

    :raises SettingsError: naming the bundle and the index, when it cannot be read or holds no
        certificate (a missing file would otherwise be a bare ``FileNotFoundError``).
    """
    if not ca:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca))
    except OSError as exc:  # ssl.SSLError is one too: a file without a PEM certificate
        reason = f"{ca} cannot be used as the CA bundle of {index_url}: {exc.strerror or exc}"
        raise SettingsError(reason, key="ca") from exc


class Transport:
    """An httpx client for one index, reused across requests (one poller thread uses it).

    :param index_url: the index's root, without userinfo: credentials go only to its origin.
    :param credentials: for HTTP basic auth, when the index needs them.
    :param ca: a CA bundle (PEM) to verify the index's certificate with, instead of the system's.
    :param timeout: seconds for connecting and for each read; pages also get it as a total.
    :param follow_offsite_redirects: follow a redirect to another host (without credentials).
    :raises SettingsError: when ``ca`` cannot be read or holds no certificate.
    """

    def __init__(
        self,
        index_url: str,
        *,
        credentials: Credentials | None,
        ca: str | Path | None,
        timeout: float,
        follow_offsite_redirects: bool,
    ) -> None:
        import httpx  # noqa: PLC0415  (only when an index is used: `import pluginhost` stays light)

        self.index_url: Final = index_url
        self.timeout: Final = timeout
        self.follow_offsite_redirects: Final = follow_offsite_redirects
        self._origin = origin(index_url)
        self._auth = (
            httpx.BasicAuth(credentials.username, credentials.password) if credentials else None
        )
        self._verify = _verify(ca, index_url)
        self._client = self._new_client()
        self._late = _Watchdog()

    def _new_client(self) -> httpx.Client:
        import httpx  # noqa: PLC0415

        return httpx.Client(
            verify=self._verify,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            # httpx would offer what it can decode (br, zstd when their libraries are there),
            # and decode it unbounded; see encoding.py.
            headers={"Accept-Encoding": ACCEPT_PAGE},
        )

    def _send(self, request: httpx.Request, auth: httpx.Auth | None) -> httpx.Response:
        """``request`` sent, and its response's head read, within :attr:`timeout` in all.

        httpx's timeout is per read: an index that sent ``100 Continue`` again and again, or
        its head a byte a second, held the poll for hours, with every yank of the index. Past
        the deadline the client is closed, which ends the read (the next one made anew).

        :raises IndexUnavailableError: the head did not come in time.
        """
        if self._client.is_closed:  # by the deadline, as a body was read: made anew
            self._client = self._new_client()
        client = self._client
        self._late.watch(client, self.timeout)
        try:
            return client.send(request, auth=auth, stream=True)
        except Exception as e:
            if client.is_closed:
                self._client = self._new_client()
                raise IndexUnavailableError(
                    f"did not send the head of its answer within {self.timeout:g} s",
                    url=str(request.url),
                ) from e
            raise
        finally:
            self._late.clear()

    @contextlib.contextmanager
    def get(self, url: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
        """A streamed GET of ``url``, redirects followed as the settings allow; the body is read
        by the caller.

        :raises IndexUnavailableError: the index cannot be reached, timed out, refused TLS, or
            redirected where it may not.
        :raises IndexResponseError: ``url`` (a link of a page) is not one httpx can request.
        """
        import httpx  # noqa: PLC0415

        for _ in range(MAX_REDIRECTS + 1):
            auth = self._auth if origin(url) == self._origin else None
            request = self._request(url, headers)
            try:
                response = self._send(request, auth)
            except httpx.TimeoutException as e:
                raise IndexUnavailableError(
                    f"did not answer within {self.timeout:g} s ({type(e).__name__})", url=url
                ) from e
            except httpx.HTTPError as e:
                raise IndexUnavailableError(
                    f"cannot be reached: {_transport_reason(e)}", url=url
                ) from e
            except UnicodeError as e:
                # The socket's IDNA encoding of the host (an empty label, one over 63
                # characters), which httpx leaves to it and does not translate.
                raise _not_requestable(url, e) from None
            if response.status_code not in _REDIRECTS:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            url = self._redirect(url, response.headers.get("Location"))
        raise IndexUnavailableError(f"redirected more than {MAX_REDIRECTS} times", url=url)

    def _request(self, url: str, headers: dict[str, str]) -> httpx.Request:
        """The GET of ``url``; a URL httpx cannot take is the fault of the page that listed it.

        :raises IndexResponseError: naming the URL and why (a NUL or another control
            character, a lone surrogate, a host that is no IDNA name).
        """
        import httpx  # noqa: PLC0415  (imported by get(), which calls this)

        try:
            return self._client.build_request("GET", url, headers=headers)
        except (httpx.InvalidURL, ValueError) as exc:
            # InvalidURL is no HTTPError, and a lone surrogate is a UnicodeEncodeError: either
            # escaped untyped, and a link of one file failed every poll of the index.
            raise _not_requestable(url, exc) from None

    def _redirect(self, url: str, location: str | None) -> str:
        if not location:
            raise IndexResponseError("answered a redirect without a Location", url=url)
        import httpx  # noqa: PLC0415  (imported by get(), which calls this)

        try:
            target = urljoin(url, location)
            httpx.URL(target)  # what build_request() would refuse with no HTTPError
            where_to = origin(target)
        except (ValueError, httpx.InvalidURL) as exc:
            raise IndexResponseError(
                f"answered a redirect to {location[:200]!r}, which is not a URL ({exc})", url=url
            ) from None
        if where_to != self._origin and not self.follow_offsite_redirects:
            where = "://".join(where_to)
            raise IndexUnavailableError(
                f"redirected to another host ({where}), which the settings do not allow "
                "(follow_offsite_redirects)",
                url=url,
            )
        return target

    def read(
        self, response: httpx.Response, cap: int, *, started: float, what: str = "a page"
    ) -> bytes:
        """The body of ``response`` decoded (gzip, deflate), at most ``cap`` bytes both as sent
        and once decoded, and within the timeout in total.

        :param what: what the body is, for the refusal of one over ``cap`` (``a page``).
        :raises IndexResponseError: the body is larger than ``cap`` (naming what, the cap and
            the URL), in a coding not decoded here, or not in the coding it claims.
        :raises IndexUnavailableError: the body trickled in past the timeout, or broke off.
        """
        url = str(response.url)
        coding = response.headers.get("Content-Encoding", "")
        sent = self._within(self.raw(response), cap, started, url, what)
        # What is sent and what it inflates to are both counted: a body may send much and
        # inflate to nothing (empty deflate blocks), or send little and inflate to much.
        inflated = decoded(coding, sent, url=url)
        return b"".join(self._within(inflated, cap, started, url, what))

    def _within(
        self, chunks: Iterable[bytes], cap: int, started: float, url: str, what: str
    ) -> Iterator[bytes]:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > cap:
                raise IndexResponseError(over_cap(what, cap, url), url=url)
            if time.monotonic() - started > self.timeout:
                raise IndexUnavailableError(
                    f"took more than {self.timeout:g} s to send a page", url=url
                )
            yield chunk

    def raw(self, response: httpx.Response) -> Iterator[bytes]:
        """The body of ``response`` in chunks, as sent (never decoded); a transport failure is
        IndexUnavailableError."""
        import httpx  # noqa: PLC0415

        try:
            yield from response.iter_raw()
        except httpx.TimeoutException as e:
            raise IndexUnavailableError(
                f"stopped sending for {self.timeout:g} s", url=str(response.url)
            ) from e
        except httpx.HTTPError as e:
            raise IndexUnavailableError(
                f"broke off: {_transport_reason(e)}", url=str(response.url)
            ) from e

    def close(self) -> None:
        self._client.close()


class _Watchdog:
    """One thread that closes a client whose answer's head is late (see ``Transport._send``).

    A timer per request cost a thread's start each (+11% on a poll of 1,000 project pages):
    here a request sets a deadline under a lock, and the thread, waking at the deadline it
    last saw, looks again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: tuple[float, httpx.Client] | None = None
        self._thread: threading.Thread | None = None
        self._idle = False  # waiting for a deadline, with none: woken by the next one

    def watch(self, client: httpx.Client, seconds: float) -> None:
        with self._cond:
            self._watched = (time.monotonic() + seconds, client)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pluginhost-index-deadline", daemon=True
                )
                self._thread.start()
            elif self._idle:
                self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._watched = None

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._watched is None:
                    # Idle: the thread ends after a while (one per index client lived on as
                    # long as the process), and the next request starts another.
                    self._idle = True
                    self._cond.wait(_WATCHDOG_IDLE)
                    self._idle = False
                watched = self._watched
                if watched is None:
                    self._thread = None
                    return
                deadline, client = watched
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._watched = None
            client.close()  # ends the read the request is blocked in


#: Seconds the watchdog waits with no request before its thread ends.
_WATCHDOG_IDLE: Final = 2.0


def shown(url: str) -> str:
    """``url`` as a reason shows it: without userinfo, escaped, at most 200 characters."""
    bare = without_userinfo(url)
    return repr(bare if len(bare) <= 200 else bare[:200] + "...")


def over_cap(what: str, cap: int, url: str) -> str:
    """The reason a body over its size cap is refused: what it is, the cap and the URL (the
    URL in the reason too: a problem says only the reason, and one of a page said neither
    which page nor which cap)."""
    return f"sent {what} larger than {cap} bytes (its size cap): {shown(url)}"


def _not_requestable(url: str, error: Exception) -> IndexResponseError:
    # The URL in the reason too, escaped: a refused file's problem says only the reason.
    return IndexResponseError(
        f"the URL {shown(url)} cannot be requested ({type(error).__name__}: {error})", url=url
    )


def _transport_reason(error: Exception) -> str:
    # httpx's messages name the socket's or TLS's failure, not the URL nor its credentials.
    return f"{type(error).__name__}: {error}"
