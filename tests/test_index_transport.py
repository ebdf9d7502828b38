"""Tests for the index transport: TLS with a custom CA bundle on a real loopback server."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pluginhost import (
    IndexResponseError,
    IndexSettings,
    IndexUnavailableError,
    PluginHost,
    ProblemKind,
    SettingsError,
)
from pluginhost.discover.index.client import IndexClient
from pluginhost.discover.index.pages import ProjectPage
from pluginhost.discover.index.transport import origin
from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import StaticIndex


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pluginhost test index")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_index(tmp_path: Path) -> tuple[StaticIndex, Path]:
    """A static index over HTTPS with a self-signed certificate, and that certificate."""
    cert, key = self_signed(tmp_path / "tls")
    index = StaticIndex(tmp_path / "index", certificate=(cert, key))
    index.publish(WheelFactory(tmp_path / "built").build("hello", "1.0.0"))
    index.start()
    yield index, cert
    index.stop()


class TestTls:
    def test_ca_bundle_trusted(self, tls_index: tuple[StaticIndex, Path], tmp_path: Path) -> None:
        """With its CA bundle (ca=) the index is read and downloaded from over HTTPS."""
        index, cert = tls_index
        with IndexClient(index.url, ca=cert) as client:
            page = client.project("hello")
            assert isinstance(page, ProjectPage)
            assert client.download(page.files[0], tmp_path / "cache").is_file()

    def test_unknown_certificate_refused(self, tls_index: tuple[StaticIndex, Path]) -> None:
        """Without the CA bundle the certificate is refused: an IndexUnavailableError."""
        index, _ = tls_index
        refused = pytest.raises(IndexUnavailableError, match=r"(?i)certificate")
        with IndexClient(index.url, timeout=5) as client, refused:
            client.project("hello")

    def test_host_follows_with_its_ca(
        self, tls_index: tuple[StaticIndex, Path], follow: Callable[..., PluginHost]
    ) -> None:
        """A host given the CA bundle (IndexSource(ca=)) loads from the index over HTTPS;
        without it, the index is unavailable and nothing loads."""
        index, cert = tls_index
        assert follow(index, home="trusting", ca=cert, timeout=5.0).load_order() == ("hello",)
        refusing = follow(index, home="refusing", timeout=5.0)
        assert refusing.load_order() == ()
        (problem,) = refusing.problems()
        assert problem.kind is ProblemKind.INDEX_UNAVAILABLE
        assert "certificate" in problem.message.lower()


class TestCaBundle:
    @pytest.mark.parametrize(
        ("content", "why"),
        [(None, "No such file"), (b"not a certificate\n", "(?i)certificate|PEM|X509")],
    )
    def test_unusable_bundle_is_a_settings_error(
        self, tmp_path: Path, content: bytes | None, why: str
    ) -> None:
        """A CA bundle that is missing or holds no certificate is a SettingsError naming the
        file and the index, not a bare OSError."""
        bundle = tmp_path / "company-ca.pem"
        if content is not None:
            bundle.write_bytes(content)
        with pytest.raises(SettingsError, match=why) as raised:
            IndexClient("https://index.example.org/simple/", ca=bundle)
        assert raised.value.key == "ca"
        assert str(bundle) in str(raised.value)
        assert "https://index.example.org/simple/" in str(raised.value)

    def test_host_start_refuses_then_starts(self, tmp_path: Path) -> None:
        """A host whose index names a missing CA bundle refuses to start, naming it, and
        starts once the index is left out (the home was let go)."""
        index = IndexSettings("https://index.example.org/simple/", ca=tmp_path / "nope.pem")
        host = PluginHost("greeter", home=tmp_path / "home", environment=False, index=[index])
        with pytest.raises(SettingsError, match=r"nope\.pem"):
            host.start()
        PluginHost("greeter", home=tmp_path / "home", environment=False).start().stop()


class TestOrigin:
    @pytest.mark.parametrize(
        ("a", "b", "same"),
        [
            ("https://h/simple/", "https://h/files/x.whl", True),
            ("https://h/simple/", "https://u:p@H/simple/", True),
            ("https://h/simple/", "http://h/simple/", False),
            ("https://h/simple/", "https://h:8443/simple/", False),
            ("https://h/simple/", "https://files.h/x.whl", False),
        ],
    )
    def test_same_origin(self, a: str, b: str, same: bool) -> None:
        """Scheme, host and port make an origin; userinfo and case do not."""
        assert (origin(a) == origin(b)) is same


class _Stalling:
    """A server on loopback that answers every request with ``send(conn)``, forever."""

    def __init__(self, send: Callable[[socket.socket, bool], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/simple/"
        self._send = send
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            conn, _ = self._listener.accept()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.recv(65536)
            first = True
            while not self._stop.is_set():
                self._send(conn, first)
                first = False
                time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _continue(conn: socket.socket, first: bool) -> None:
    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def _trickle(conn: socket.socket, first: bool) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: " if first else b"a")


@pytest.mark.parametrize("send", [_continue, _trickle], ids=["100-continue", "trickled-head"])
def test_a_head_that_never_ends_is_given_up_in_time(
    send: Callable[[socket.socket, bool], None],
) -> None:
    """httpx's timeout is per read: an index that sends ``100 Continue`` again and again, or
    its head a byte at a time, held the poll for hours (and every yank with it). The head of
    an answer must come within the timeout in all; the next request is made anew."""
    server = _Stalling(send)
    try:
        with IndexClient(server.url, timeout=1.0) as client:
            for _ in range(2):  # the second one on a client made anew
                started = time.monotonic()
                with pytest.raises(IndexUnavailableError, match="did not send the head"):
                    client.project("hello")
                assert time.monotonic() - started < 5
    finally:
        server.close()


class TestUnrequestableLinks:
    @pytest.mark.parametrize(
        "link",
        [
            "{base}/files/a\x00b.whl",
            "{base}/files/a\x7fb.whl",
            "{base}/files/a\ud800b.whl",
            "http://a..b/files/hello-1.0.0-py3-none-any.whl",
            "http://" + "a" * 64 + ".example/files/hello-1.0.0-py3-none-any.whl",
        ],
        ids=["nul", "del", "lone-surrogate", "empty-label", "label-over-63"],
    )
    def test_a_link_no_client_can_request_is_a_response_error(
        self, link: str, static_index: StaticIndex, built: WheelFactory, tmp_path: Path
    ) -> None:
        """A file's link that httpx cannot parse (a NUL, DEL), encode (a lone surrogate), or
        the socket resolve (a host of an empty or over-long label) is an IndexResponseError
        naming the link, for the file and its metadata alike, and nothing is sent. httpx's
        InvalidURL is no HTTPError and the socket's UnicodeError no transport error: either
        escaped untyped and failed every poll of the index."""
        static_index.publish(built.build("hello", "1.0.0"))
        url = link.format(base=static_index.base)
        with IndexClient(static_index.url) as client:
            page = client.project("hello")
            assert isinstance(page, ProjectPage)
            file = attrs.evolve(page.files[0], url=url)
            refused = "cannot be requested"
            with pytest.raises(IndexResponseError, match=refused) as caught:
                client.download(file, tmp_path / "cache")
            assert caught.value.url == url
            assert f"the URL {url!r} cannot be requested" in caught.value.reason
            with pytest.raises(IndexResponseError, match=refused):
                client.metadata(file)
        assert [path for _, path, _ in static_index.requests] == ["/simple/hello/"]
