"""The worker process's own side: the handshake it demands and the sys.path it builds."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from procplugins import Workers, workers

from pluginhost.proc import launcher
from pluginhost.proc.child import EXIT_ORPHAN, EXIT_REFUSED, Channel
from pluginhost.proc.messages import PROTOCOL_VERSION, Hello, LimitsMsg, Ready, SpecMsg

__all__ = ["workers"]


def spawned(
    secret: bytes, version: int = PROTOCOL_VERSION
) -> tuple[subprocess.Popen[bytes], Channel]:
    """A worker started by hand with ``secret`` on its stdin, and the host's end of its
    channel."""
    ours, theirs = socket.socketpair()
    boot = f"{version} {theirs.fileno()} {os.getpid()} {secret.hex()}\n".encode()
    process = launcher.spawn(theirs.fileno(), boot)
    theirs.close()
    return process, Channel(ours)


def hello(secret: bytes, version: int = PROTOCOL_VERSION) -> Hello:
    spec = SpecMsg("p", "demo", "g", [], [], LimitsMsg())
    return Hello(version=version, secret=secret, spec=spec)


def finish(process: subprocess.Popen[bytes], channel: Channel) -> int:
    code = process.wait(10)
    channel.reader.close()
    channel.sock.close()
    return code


class TestHandshake:
    def test_the_right_secret_is_echoed(self) -> None:
        """A hello with the worker's secret is echoed, and the worker goes on to load."""
        process, channel = spawned(b"s" * 32)
        channel.send(hello(b"s" * 32))
        echo = channel.receive()
        assert isinstance(echo, Hello)
        assert echo.secret == b"s" * 32
        assert isinstance(channel.receive(), Ready)
        channel.sock.shutdown(socket.SHUT_WR)
        assert finish(process, channel) == 0

    def test_a_wrong_secret_is_refused(self) -> None:
        """A hello that does not carry the worker's secret is refused: no echo, exit code 3."""
        process, channel = spawned(b"s" * 32)
        channel.send(hello(b"x" * 32))
        assert channel.receive() is None
        assert finish(process, channel) == EXIT_REFUSED

    def test_let_go_before_any_hello_exits_quietly(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A worker whose channel closes before any hello (one booted ahead, let go when its
        host stops) exits without a word on the host's terminal."""
        process, channel = spawned(b"s" * 32)
        channel.sock.shutdown(socket.SHUT_WR)
        assert finish(process, channel) == EXIT_ORPHAN
        assert capfd.readouterr().err == ""

    def test_another_protocol_version_is_refused(self) -> None:
        """A hello of another protocol version is refused."""
        process, channel = spawned(b"s" * 32)
        channel.send(hello(b"s" * 32, version=PROTOCOL_VERSION + 1))
        assert channel.receive() is None
        assert finish(process, channel) == EXIT_REFUSED


class TestPath:
    def test_a_private_dependency_wins_over_the_hosts_copy(self, workers: Workers) -> None:
        """A module in the plugin's paths wins over the host's module of the same name."""
        import semver  # (a dependency of the host, so the host has its own copy)

        source = """
        import semver
        class Plugin:
            @hookimpl
            def where(self):
                return [semver.__file__, semver.PRIVATE]
        plugin = Plugin()
        """
        worker = workers.start(source, semver="PRIVATE = 'the plugin copy'\n")
        where, private = worker.call("where", {})
        assert private == "the plugin copy"
        assert where != semver.__file__
        assert where.startswith(worker.spec.paths[0])

    def test_a_private_attrs_wins_too(self, workers: Workers) -> None:
        """The worker does not import attrs itself (the host's values do), so a plugin may
        bring its own."""
        source = """
        import attrs
        class Plugin:
            @hookimpl
            def which(self):
                return attrs.WHICH
        plugin = Plugin()
        """
        worker = workers.start(source, attrs="WHICH = 'private attrs'\n")
        assert worker.call("which", {}) == "private attrs"

    def test_the_worker_imports_no_host_module_of_the_plugin(self, workers: Workers) -> None:
        """The plugin's paths come before everything else on the worker's sys.path."""
        source = """
        import sys
        class Plugin:
            @hookimpl
            def path(self):
                return sys.path
        plugin = Plugin()
        """
        worker = workers.start(source)
        assert worker.call("path", {})[0] == worker.spec.paths[0]


@pytest.mark.parametrize("line", ["", "1 2", "1 x 3 zz"])
def test_a_malformed_boot_line_is_refused(line: str) -> None:
    """A worker whose stdin does not carry a well-formed boot line refuses to run."""
    process = subprocess.Popen(launcher.argv(), stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = process.communicate(line.encode() + b"\n", timeout=10)
    assert process.returncode == EXIT_REFUSED
    assert b"refused" in err
