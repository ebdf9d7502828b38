"""Tests for index credentials: from arguments, the URL, the environment or .netrc, never shown."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import wait_for

from hookspecs import greeter
from pluginhost import (
    Event,
    EventKind,
    IndexUnavailableError,
    PluginHost,
    SettingsError,
)
from pluginhost.discover.index.auth import Credentials, find_credentials, split_userinfo
from pluginhost.discover.index.client import IndexClient
from pluginhost.discover.index.pages import ProjectPage
from pluginhost.testing import WheelFactory
from pluginhost.testkit.indexes import Fault, PypiServer, StaticIndex

SECRET = "s3cret-Pw-4417"


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The tests see no credentials but their own (not the user's ~/.netrc nor environment)."""
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("PLUGINHOST_INDEX_USERNAME", raising=False)
    monkeypatch.delenv("PLUGINHOST_INDEX_PASSWORD", raising=False)


@pytest.fixture
def locked(tmp_path: Path) -> PypiServer:
    """A pypiserver that wants user bob with SECRET for every read, with hello 1.0.0 on it."""
    server = PypiServer(tmp_path / "locked", auth=("bob", SECRET))
    server.start()
    server.publish(WheelFactory(tmp_path / "built").build("hello", "1.0.0"))
    yield server
    server.stop()


class TestFindCredentials:
    def test_order(self, tmp_path: Path) -> None:
        """Arguments win over the URL, the URL over the environment, the environment over .netrc."""
        netrc = tmp_path / "netrc"
        netrc.write_text("machine index.example login n password np\n")
        env = {"NETRC": str(netrc)}
        url = "https://index.example/simple/"
        assert find_credentials(url, environ=env) == Credentials("n", "np")
        env |= {"PLUGINHOST_INDEX_USERNAME": "e", "PLUGINHOST_INDEX_PASSWORD": "ep"}
        assert find_credentials(url, environ=env) == Credentials("e", "ep")
        inline = "https://u:p%40ss@index.example/simple/"
        assert find_credentials(inline, environ=env) == Credentials("u", "p@ss")
        assert find_credentials(inline, ("a", "ap"), environ=env) == Credentials("a", "ap")
        assert find_credentials("https://other.example/", environ={"NETRC": str(netrc)}) is None

    def test_bad_netrc_names_line_not_content(self, tmp_path: Path) -> None:
        """A .netrc that cannot be parsed is a SettingsError naming its line, not its tokens."""
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine index.example login n password np\nbogus {SECRET}\n")
        with pytest.raises(SettingsError, match="line") as caught:
            find_credentials("https://index.example/", environ={"NETRC": str(netrc)})
        assert SECRET not in str(caught.value)

    def test_repr_hides_password(self) -> None:
        """A Credentials' repr shows the user and hides the password."""
        assert SECRET not in repr(Credentials("bob", SECRET))
        assert split_userinfo(f"https://bob:{SECRET}@h/simple/")[0] == "https://h/simple/"


class TestAgainstServer:
    def test_netrc(
        self, locked: PypiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The password comes from .netrc for the index's host."""
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login bob password {SECRET}\n")
        monkeypatch.setenv("NETRC", str(netrc))
        with IndexClient(locked.url) as client:
            assert isinstance(client.project("hello"), ProjectPage)

    def test_environment(self, locked: PypiServer, monkeypatch: pytest.MonkeyPatch) -> None:
        """The password comes from PLUGINHOST_INDEX_USERNAME / _PASSWORD."""
        monkeypatch.setenv("PLUGINHOST_INDEX_USERNAME", "bob")
        monkeypatch.setenv("PLUGINHOST_INDEX_PASSWORD", SECRET)
        with IndexClient(locked.url) as client:
            assert isinstance(client.project("hello"), ProjectPage)

    def test_refused_without(self, locked: PypiServer) -> None:
        """Without credentials the index refuses us: an IndexUnavailableError saying so."""
        with IndexClient(locked.url) as client, pytest.raises(IndexUnavailableError, match="401"):
            client.project("hello")

    def test_no_secret_shown(self, locked: PypiServer, caplog: pytest.LogCaptureFixture) -> None:
        """Neither an error, nor the client's repr, nor a log line carries the password."""
        caplog.set_level(logging.DEBUG)
        url = locked.url.replace("http://", f"http://bob:{SECRET}@")
        with IndexClient(url) as client:
            assert isinstance(client.project("hello"), ProjectPage)
            locked.stop()
            with pytest.raises(IndexUnavailableError) as down:
                client.project("hello")
            shown = [str(down.value), repr(down.value), repr(client), caplog.text]
        with IndexClient(locked.url, auth=("bob", SECRET + "x")) as client:
            locked.start()
            with pytest.raises(IndexUnavailableError) as refused:
                client.project("hello")
            shown += [str(refused.value), repr(refused.value), repr(client), caplog.text]
        assert "bob" in repr(client)
        assert not [text for text in shown if SECRET in text]

    def test_not_sent_off_host(self, static_index: StaticIndex, tmp_path: Path) -> None:
        """Credentials go to the index's host only, not where a redirect leads."""
        with StaticIndex(tmp_path / "elsewhere") as elsewhere:
            elsewhere.publish(WheelFactory(tmp_path / "built").build("hello", "1.0.0"))
            static_index.fault("/simple/hello/", Fault(redirect=f"{elsewhere.url}hello/"))
            auth = ("bob", SECRET)
            with IndexClient(static_index.url, auth=auth, follow_offsite_redirects=True) as client:
                assert isinstance(client.project("hello"), ProjectPage)
        assert "Authorization" in static_index.requests[0][2]
        assert [r for r in elsewhere.requests if "Authorization" in r[2]] == []


def shown_by(host: PluginHost, events: list[Event], caplog: pytest.LogCaptureFixture) -> list[str]:
    """Everything a host following an index shows: its log, events, problems, audit log,
    status document, and the reprs of its sources."""
    status = host.home / "status.json"
    return [
        caplog.text,
        *(f"{e!r} {e.describe()}" for e in events),
        *(repr(p) for p in host.problems()),
        host.audit_log.read_text(),
        status.read_text() if status.exists() else "",
        *(repr(s) for s in host._indexes.sources),
    ]


class TestHost:
    @pytest.mark.parametrize("given", ["auth", "url", "environment", "netrc"])
    def test_no_secret_in_anything_the_host_shows(
        self,
        given: str,
        locked: PypiServer,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
        follow: Callable[..., PluginHost],
        events: list[Event],
    ) -> None:
        """A host following an index with a password (given, in the URL, from the environment
        or .netrc) loads from it, through an outage and its end, and its log, events,
        problems, audit log and status document never carry the password."""
        caplog.set_level(logging.DEBUG)
        url, auth = locked.url, None
        if given == "auth":
            auth = ("bob", SECRET)
        elif given == "url":
            url = url.replace("http://", f"http://bob:{SECRET}@")
        elif given == "environment":
            monkeypatch.setenv("PLUGINHOST_INDEX_USERNAME", "bob")
            monkeypatch.setenv("PLUGINHOST_INDEX_PASSWORD", SECRET)
        else:
            (tmp_path / "netrc").write_text(f"machine 127.0.0.1 login bob password {SECRET}\n")
            monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
        host = follow(url, auth=auth)
        assert "hello" in host.load_order()
        locked.stop()
        wait_for(lambda: any(e.kind is EventKind.INDEX_UNAVAILABLE for e in events))
        locked.start()
        wait_for(lambda: any(e.kind is EventKind.INDEX_AVAILABLE for e in events))
        shown = shown_by(host, events, caplog)
        assert "127.0.0.1" in " ".join(shown)  # the index is named, without its password
        assert not [text for text in shown if SECRET in text]

    def test_no_secret_from_run_with_a_config(self, locked: PypiServer, tmp_path: Path) -> None:
        """`pluginhost run --json` with username and password in its [[pluginhost.index]]
        follows the index and prints, logs and audits nothing of the password."""
        from test_cli import HostProcess

        config = tmp_path / "pluginhost.toml"
        config.write_text(
            '[pluginhost]\nproject = "greeter"\nspecs = ["hookspecs.greeter:GreeterSpec"]\n'
            f'home = "home"\napi_version = "{greeter.API_VERSION}"\nenvironment = false\n'
            f'[[pluginhost.index]]\nurl = "{locked.url}"\npoll_interval = 0.2\n'
            f'username = "bob"\npassword = "{SECRET}"\n'
        )
        config.chmod(0o600)
        host = HostProcess(config, "--json")
        try:
            host.wait_for('"hello"')
            locked.stop()
            time.sleep(1)
            locked.start()
            time.sleep(1)
        finally:
            code, errors = host.stop()
        assert code == 0, errors
        home = tmp_path / "home"
        shown = [*host.lines, errors, (home / "audit.log").read_text()]
        shown.append((home / "status.json").read_text())
        assert any("index_unavailable" in line for line in host.lines)
        assert not [text for text in shown if SECRET in text]
