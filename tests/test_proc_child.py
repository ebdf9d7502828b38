"""The worker process's own side: the handshake it demands, the sys.path it builds, and the
replies it sends whatever the plugin's values and errors hold."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from procplugins import Workers, workers

from pluginhost.model.errors import CodecError, PluginLoadError, RemotePluginError
from pluginhost.proc import child, launcher
from pluginhost.proc.child import EXIT_ORPHAN, EXIT_REFUSED, Channel, _answer, _reply
from pluginhost.proc.messages import (
    PROTOCOL_VERSION,
    Call,
    Failure,
    Hello,
    LimitsMsg,
    Ready,
    Result,
    SpecMsg,
)

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


class TestLight:
    def test_the_worker_imports_none_of_the_hosts_heavy_modules(self) -> None:
        """The worker's own modules import the standard library, msgspec, pluggy and a few of
        pluginhost's light modules: not attrs (a plugin may bring its own), not the host's
        stages above the messages (load, swap, host), whose imports cost every start."""
        code = (
            "import sys, pluginhost.proc.child; "
            "print(*(m for m in sys.modules if m.startswith(('pluginhost', 'attrs'))))"
        )
        imported = subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, check=True, text=True
        ).stdout.split()
        assert "pluginhost.proc.child" in imported
        assert not [m for m in imported if m == "attrs" or m.startswith("attrs.")]
        heavy = ("pluginhost.load", "pluginhost.swap", "pluginhost.host", "pluginhost.discover")
        assert not [m for m in imported if m.startswith(heavy)]
        assert "pluginhost.model.errors" not in imported


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

    def test_paths_that_are_not_utf8(self, tmp_path: Path) -> None:
        """The plugin's paths reach the worker as they are on disk, a byte that is not UTF-8
        included (the codec cannot carry the lone surrogate ``os.fsdecode`` makes of it as
        text: the worker's start failed)."""
        root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
        root.mkdir()
        made = Workers(root)
        source = """
        import os, sys
        class Plugin:
            @hookimpl
            def where(self):
                return [os.fsencode(__file__), os.fsencode(sys.path[0])]
        plugin = Plugin()
        """
        try:
            worker = made.start(source)
            site = os.fsencode(worker.spec.paths[0])
            assert worker.call("where", {}) == [site + b"/plug.py", site]
        finally:
            made.stop_all()

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


#: What ``os.fsdecode`` makes of a file name that is not UTF-8: a str UTF-8 cannot encode.
SURROGATE = os.fsdecode(b"caf\xe9")
#: How it reaches the host in an error's text.
ESCAPED = "caf\\udce9"

ERRORS = """
import os

class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str")

class Named(Exception):
    pass

class Noted(Exception):
    @property
    def __notes__(self):
        raise RuntimeError("no notes")

class Plugin:
    @hookimpl
    def fail(self, how):
        name = os.fsdecode(b"caf\\xe9")
        if how == "builtin":
            raise ValueError(f"no file {name}")
        if how == "mine":
            raise Named(name)
        if how == "noted":
            raise Noted("noted")
        raise Unprintable()

    @hookimpl
    def echo(self, value):
        return value
plugin = Plugin()
"""


class TestErrorText:
    """An error always reaches the host: what UTF-8 cannot encode in its text is escaped, and
    a str() that raises is said; the worker, which exited on either, serves on."""

    def test_a_surrogate_in_a_builtin_errors_message_is_escaped(self, workers: Workers) -> None:
        """A ValueError whose message holds a surrogate is still a ValueError in the host, its
        message and traceback with the surrogate escaped."""
        worker = workers.start(ERRORS)
        with pytest.raises(ValueError, match=r"no file caf\\udce9") as caught:
            worker.call("fail", {"how": "builtin"})
        assert isinstance(caught.value, RemotePluginError)
        assert caught.value.message == f"no file {ESCAPED}"
        assert f"ValueError: no file {ESCAPED}" in caught.value.remote_traceback
        assert worker.call("echo", {"value": "still here"}) == "still here"
        assert workers.exits == []

    def test_a_surrogate_in_a_plugin_errors_message_is_escaped(self, workers: Workers) -> None:
        """The plugin's own exception type comes back with its name and the escaped message."""
        worker = workers.start(ERRORS)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("fail", {"how": "mine"})
        assert (caught.value.type_name, caught.value.message) == ("plug.Named", ESCAPED)
        assert worker.call("echo", {"value": 1}) == 1
        assert workers.exits == []

    def test_an_error_whose_str_raises_is_said_so(self, workers: Workers) -> None:
        """An exception whose ``__str__`` raises comes back with a message saying so, and the
        traceback the worker could format."""
        worker = workers.start(ERRORS)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("fail", {"how": "unprintable"})
        error = caught.value
        assert (error.type_name, error.message) == (
            "plug.Unprintable",
            "<str() raised RuntimeError>",
        )
        assert "raise Unprintable()" in error.remote_traceback
        assert worker.call("echo", {"value": 1}) == 1
        assert workers.exits == []

    @pytest.mark.skipif(
        not (3, 11) <= sys.version_info[:2] < (3, 13),
        reason="only 3.11 and 3.12's traceback fails on a __notes__ that raises (3.10 does not "
        "read it, 3.13 says so in the text)",
    )
    def test_an_error_whose_traceback_cannot_be_formatted_is_told(self, workers: Workers) -> None:
        """An exception the traceback module cannot format (a ``__notes__`` that raises) comes
        back with its message and a traceback text saying so."""
        worker = workers.start(ERRORS)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("fail", {"how": "noted"})
        error = caught.value
        assert (error.type_name, error.message) == ("plug.Noted", "noted")
        assert error.remote_traceback == (
            "<the traceback could not be formatted: RuntimeError: no notes>"
        )
        assert worker.call("echo", {"value": 1}) == 1
        assert workers.exits == []

    @pytest.mark.parametrize(
        ("raised", "said"),
        [
            ("RuntimeError(os.fsdecode(b'caf\\xe9'))", f"RuntimeError: {ESCAPED}"),
            ("Unprintable()", "Unprintable: <str() raised RuntimeError>"),
        ],
    )
    def test_an_import_error_with_such_text_is_a_load_error(
        self, workers: Workers, raised: str, said: str
    ) -> None:
        """An error at import whose text cannot be sent as it is fails the load with the
        error's text escaped (the worker exited and the load failed as a crash)."""
        source = ERRORS.replace("plugin = Plugin()", f"raise {raised}")
        with pytest.raises(PluginLoadError) as caught:
            workers.start(source)
        assert said in caught.value.reason

    def test_a_hook_name_the_codec_cannot_carry_is_a_load_error(self, workers: Workers) -> None:
        """A hook implementation whose name holds a lone surrogate fails the load with a
        PluginLoadError saying why (the encoder's error ended the worker as a fault of its
        own, and the start failed as a crash)."""
        source = """
        import os
        class Plugin:
            @hookimpl(specname=os.fsdecode(b"caf\\xe9"))
            def echo(self, value):
                return value
        plugin = Plugin()
        """
        with pytest.raises(PluginLoadError) as caught:
            workers.start(source)
        assert caught.value.plugin == "plug1"
        assert "its hooks cannot be described to the host" in caught.value.reason
        assert "\\udce9" in caught.value.reason


class TestReply:
    @pytest.mark.parametrize(
        ("value", "refused"),
        [
            ({"names": [object()]}, "dict (the encoder refused it: TypeError: "),
            (SURROGATE, "str (the encoder refused it: UnicodeEncodeError: "),
        ],
    )
    def test_a_reply_the_encoder_refuses_fails_its_call(self, value: object, refused: str) -> None:
        """A result the encoder refuses though it passed the checks (a thread of the plugin's
        changed it since) is answered with a codec failure of its call: the encoder's error
        ended the worker."""
        ours, theirs = socket.socketpair()
        host, worker = Channel(ours), Channel(theirs)
        try:
            _reply(worker, Result(5, value))
            failure = host.receive()
        finally:
            for channel in (host, worker):
                channel.reader.close()
                channel.sock.close()
        assert isinstance(failure, Failure)
        assert (failure.id, failure.kind, failure.argument) == (5, "codec", "result")
        assert failure.type_name.startswith(refused)


HOSTILE = """
class Key:
    def __hash__(self):
        return 1
    def __repr__(self):
        raise SystemExit("no repr")

class Module(str):
    def __eq__(self, other):
        raise RuntimeError("no eq")
    __hash__ = str.__hash__

class Weird(Exception):
    __module__ = Module("elsewhere")

class Meta(type):
    def __getattribute__(cls, name):
        if name in ("__name__", "__qualname__", "__module__"):
            raise RuntimeError("no " + name)
        return type.__getattribute__(cls, name)

class Nameless(Exception, metaclass=Meta):
    @property
    def __class__(self):
        raise RuntimeError("no class")

class Plugin:
    @hookimpl
    def hostile(self, how):
        if how == "key":
            return {Key(): 1}
        if how == "nameless key":
            return {Nameless(): 1}
        if how == "module":
            raise Weird("weird")
        raise Nameless("nameless")

    @hookimpl
    def echo(self, value):
        return value
plugin = Plugin()
"""


class TestHostileReplies:
    """Making a reply of what a plugin returned or raised runs the plugin's code; what that
    raises fails the call, never the worker (which exited, its call a crash)."""

    @pytest.mark.parametrize(
        ("how", "place", "type_name"),
        [
            ("key", "result key <repr() raised SystemExit: no repr>", "plug.Key"),
            ("nameless key", "result key Nameless()", "plug.Nameless"),
        ],
    )
    def test_a_result_key_that_runs_code(
        self, workers: Workers, how: str, place: str, type_name: str
    ) -> None:
        """A key that is not a str is named by a repr that cannot raise, and its class's own
        name: a CodecError, and the worker serves on."""
        worker = workers.start(HOSTILE)
        with pytest.raises(CodecError) as caught:
            worker.call("hostile", {"how": how})
        assert (caught.value.argument, caught.value.type_name) == (place, type_name)
        assert worker.call("echo", {"value": 1}) == 1
        assert workers.exits == []

    @pytest.mark.parametrize(
        ("how", "type_name"), [("module", "elsewhere.Weird"), ("nameless", "plug.Nameless")]
    )
    def test_an_exception_whose_class_runs_code(
        self, workers: Workers, how: str, type_name: str
    ) -> None:
        """An exception whose ``__module__`` refuses to compare, or whose metaclass refuses
        its names and whose ``__class__`` raises, is a RemotePluginError named by its class."""
        worker = workers.start(HOSTILE)
        with pytest.raises(RemotePluginError) as caught:
            worker.call("hostile", {"how": how})
        assert caught.value.type_name == type_name
        assert not isinstance(caught.value, (RuntimeError, ValueError))
        assert worker.call("echo", {"value": 1}) == 1
        assert workers.exits == []

    def test_a_reply_that_cannot_be_made_fails_its_call(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Whatever goes wrong while a reply is made (here the check itself out of memory) is
        that call's failure: it escaped the worker's loop and ended it."""

        class Plugin:
            def run(self, call: Call) -> object:
                return {"fine": 1}

        def exhausted(value: object, where: str) -> None:
            raise MemoryError("exhausted")

        monkeypatch.setattr(child, "uncarried", exhausted)
        reply = _answer(Plugin(), Call(9, "hook", "echo", None, {}))  # type: ignore[arg-type]
        assert isinstance(reply, Failure)
        assert (reply.id, reply.kind, reply.type_name) == (9, "remote", "MemoryError")
        assert reply.message == "the worker could not reply: MemoryError: exhausted"
