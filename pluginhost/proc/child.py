"""The worker process: it loads one plugin and serves the host's calls to it.

Started by :mod:`pluginhost.proc.launcher` as ``python -I -c <bootstrap>``; the bootstrap calls
:func:`main`. Its steps, in order: read the boot line from stdin (protocol version, the
channel's fd, the parent's pid, the secret: never on argv or in the environment); ask for
SIGKILL when the parent dies; check the host's hello (version and secret) and echo it; join its
cgroup and set its limits; put the plugin's paths first on ``sys.path``; import the entry points
into its own :class:`pluggy.PluginManager`; report the hooks; serve calls one at a time until
the channel closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import os
import signal
import socket
import sys
import sysconfig
import traceback
from typing import Any, BinaryIO, NoReturn

import msgspec

from ..model.exception_text import (
    builtin_type,
    describe_exception,
    escaped,
    exception_text,
    type_name,
)
from . import cgroup, confine
from .messages import (
    HEADER,
    MAX_FRAME,
    PROTOCOL_VERSION,
    Call,
    Failure,
    FrameTooLargeError,
    Hello,
    HookMsg,
    LoadFailed,
    Ready,
    Result,
    SpecMsg,
    Stopping,
    UnencodableError,
    decoder,
    encoded,
    encoder,
    frame,
    uncarried,
)
from .serve import BadCallError, Plugin

__all__ = ["EXIT_LIMIT", "EXIT_ORPHAN", "EXIT_REFUSED", "main"]

#: Exit codes that say why the worker left on its own.
EXIT_REFUSED = 3  # the hello was wrong: another version, or not our secret
EXIT_LIMIT = 4  # a resource limit was hit
EXIT_ORPHAN = 5  # the parent was gone, or let the worker go before its hello
EXIT_LOAD = 6  # the plugin could not be loaded
EXIT_FAULT = 7  # the worker's own code failed

_PR_SET_PDEATHSIG = 1


class Channel:
    """The worker's end of the socket: blocking frames in, frames out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb", buffering=1 << 16)  # type: ignore[assignment]
        self.encode = encoder().encode
        self.decode = decoder().decode

    def receive(self) -> Any:
        """The next message; None when the host closed the channel."""
        header = self.reader.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            return None
        payload = self.reader.read(size)
        return self.decode(payload) if len(payload) == size else None

    def send(self, message: object) -> None:
        """Send one message.

        :raises UnencodableError: the encoder refused it.
        :raises FrameTooLargeError: it encodes past the largest frame.
        """
        self.sock.sendall(frame(encoded(self.encode, message)))


def main() -> NoReturn:
    """Run the worker until its host goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the host's to handle
    # What the plugin's imports write in the home (their bytecode) is private like the rest of
    # it, whatever umask the host was started with (0 left its __pycache__ open to all).
    os.umask(0o077)
    version, fd, parent, secret = _boot()
    _watch_parent(parent)
    channel = Channel(_socket(fd))
    try:
        spec = _handshake(channel, version, secret)
        plugin = _load(channel, spec)
        _serve(channel, plugin)
    except BaseException:  # a fault of the worker itself: told, then out at once
        with contextlib.suppress(BaseException):  # printing it may run plugin code that raises
            traceback.print_exc()
        _exit(EXIT_FAULT)


def _boot() -> tuple[int, int, int, bytes]:
    line = sys.stdin.readline().split()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        return int(line[0]), int(line[1]), int(line[2]), bytes.fromhex(line[3])
    except (IndexError, ValueError):
        _refuse("the boot line on stdin is malformed")


def _watch_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies; a parent already gone ends us here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the channel's EOF still ends the worker
    if os.getppid() != parent:
        os._exit(EXIT_ORPHAN)


def _socket(fd: int) -> socket.socket:
    # A low descriptor number, so that a small open_files limit still leaves room, and one that
    # the plugin's own child processes do not inherit.
    low = os.dup(fd)
    os.close(fd)
    sock = socket.socket(fileno=low)
    sock.set_inheritable(False)
    return sock


def _refuse(reason: str) -> NoReturn:
    sys.stderr.write(f"pluginhost worker {os.getpid()}: refused: {reason}\n")
    sys.stderr.flush()
    os._exit(EXIT_REFUSED)


def _handshake(channel: Channel, version: int, secret: bytes) -> SpecMsg:
    try:
        hello = channel.receive()
    except msgspec.DecodeError:
        _refuse("the host's hello is not a message")
    if hello is None:
        # The channel closed before any hello: a worker booted ahead that its host let go
        # (it stopped). Nothing was refused; nothing to say on the host's terminal.
        os._exit(EXIT_ORPHAN)
    if not isinstance(hello, Hello) or hello.spec is None:
        _refuse("no hello from the host")
    if hello.version != PROTOCOL_VERSION or version != PROTOCOL_VERSION:
        _refuse(f"protocol version {hello.version}, this worker speaks {PROTOCOL_VERSION}")
    if not hmac.compare_digest(hello.secret, secret):
        _refuse("the hello does not carry this worker's secret")
    channel.send(Hello(version=PROTOCOL_VERSION, secret=secret))
    return hello.spec


def _load(channel: Channel, spec: SpecMsg) -> Plugin:
    joined = spec.cgroup is not None and cgroup.join(os.fsdecode(spec.cgroup))
    try:
        enforced = confine.apply(spec.limits, joined)
    except confine.LimitError as e:
        _fail_load(channel, str(e), "", e.limit)
    _set_path([os.fsdecode(path) for path in spec.paths])
    try:
        plugin = Plugin.load(spec.project_name, spec.entry_points)
    except Exception as e:
        limit = confine.limit_of(e, spec.limits)
        reason = f"importing the plugin failed: {describe_exception(e)}"
        _fail_load(channel, reason, _trace(e), limit)
    if plugin.wrappers:
        names = ", ".join(plugin.wrappers)
        reason = f"hook wrappers cannot cross a process boundary: {names}"
        _fail_load(channel, reason, "", None)
    hooks = [HookMsg(*h) for h in plugin.hooks]
    try:
        channel.send(Ready(pid=os.getpid(), hooks=hooks, enforced=enforced))
    except UnencodableError as e:  # a hook's name the codec cannot carry (a lone surrogate)
        _fail_load(channel, f"its hooks cannot be described to the host: {e}", "", None)
    plugin.limits = spec.limits
    return plugin


def _fail_load(channel: Channel, reason: str, trace: str, limit: str | None) -> NoReturn:
    channel.send(LoadFailed(reason=reason, traceback=trace, limit=limit))
    _exit(EXIT_LIMIT if limit else EXIT_LOAD)


#: What the worker itself imports; the plugin sees the host's copies of these and their
#: directories' neighbours (in a virtualenv, its site-packages), after its own paths.
_OWN = ("pluginhost", "pluggy", "msgspec")


def _set_path(paths: list[str]) -> None:
    """The plugin's paths first, then the standard library, then only the entries that hold
    what the worker imports itself (and import hooks, such as an editable install's), so
    that a private dependency wins over the host's copy of a module. The worker never imports
    attrs, so that a plugin may bring its own."""
    stdlib = {sysconfig.get_path(key) for key in ("stdlib", "platstdlib")}
    files = [getattr(sys.modules.get(name), "__file__", None) or "" for name in _OWN]

    def kept(entry: str) -> bool:
        if entry in stdlib or entry.endswith("lib-dynload") or not os.path.isdir(entry):
            return True
        root = os.path.join(os.path.abspath(entry), "")
        return any(file.startswith(root) for file in files)

    sys.path[:] = [*paths, *(entry for entry in sys.path if entry and kept(entry))]


def _serve(channel: Channel, plugin: Plugin) -> NoReturn:
    while True:
        try:
            message = channel.receive()
        except (OSError, msgspec.DecodeError):
            message = None
        if not isinstance(message, Call):
            _exit(0)
        reply = _answer(plugin, message)
        try:
            _reply(channel, reply)
        except OSError:
            _exit(0)
        limit = reply.type_name if isinstance(reply, Failure) and reply.kind == "limit" else None
        if limit is None and (limit := confine.hit()) is not None:
            _send_quietly(channel, Stopping(limit=limit, reason=f"{limit} limit hit"))
        if limit is not None:
            _exit(EXIT_LIMIT)


def _reply(channel: Channel, reply: Result | Failure) -> None:
    """Send ``reply``, or a failure of its call saying why it cannot be sent: the caller gets
    an answer and the worker serves on."""
    try:
        channel.send(reply)
    except FrameTooLargeError as e:
        size = f"message of {e.size} bytes"
        channel.send(Failure(reply.id, "codec", size, str(e), "", argument="result"))
    except UnencodableError as e:
        # uncarried passed the result, so only a thread of the plugin's changing it since gets
        # here; the encoder's error ended the worker, where a bad value must fail its call only.
        channel.send(_unsent(reply, e))


def _unsent(reply: Result | Failure, error: UnencodableError) -> Failure:
    """The codec failure of ``reply``'s call, which the encoder refused (``error``)."""
    kind = type_name(type(reply.value)) if isinstance(reply, Result) else "failure"
    refused = f"{kind} ({error})"
    return Failure(reply.id, "codec", refused, refused, "", argument="result")


def _answer(plugin: Plugin, call: Call) -> Result | Failure:
    """The reply to ``call``. Whatever goes wrong while it is made (describing the plugin's
    values and errors runs the plugin's code) fails that call only, never the worker."""
    try:
        return _answered(plugin, call)
    except BaseException as e:  # each step guards itself: this is the last line, not the rule
        text = f"the worker could not reply: {describe_exception(e)}"
        return Failure(call.id, "remote", type_name(type(e)), text, _trace(e))


def _answered(plugin: Plugin, call: Call) -> Result | Failure:
    try:
        value = plugin.run(call)
    except BadCallError as e:
        return Failure(call.id, "call", "CallError", str(e), "")
    except BaseException as e:  # plugin code: even SystemExit goes back to the host
        return _failure(plugin, call, e)
    found = uncarried(value, "result")
    if found is not None:
        place, kind = found
        return Failure(call.id, "codec", kind, f"{place} is a {kind}", "", argument=place)
    return Result(call.id, value)


def _failure(plugin: Plugin, call: Call, error: BaseException) -> Failure:
    limit = confine.limit_of(error, plugin.limits)
    if limit is not None:
        return Failure(call.id, "limit", limit, describe_exception(error), _trace(error))
    kind = type(error)
    text, trace = exception_text(error), _trace(error)
    return Failure(call.id, "remote", type_name(kind), text, trace, builtin=builtin_type(kind))


def _trace(error: BaseException) -> str:
    try:
        return escaped("".join(traceback.format_exception(error)))
    except BaseException as e:  # plugin code ran in it (a __notes__ property that raises)
        return f"<the traceback could not be formatted: {describe_exception(e)}>"


def _send_quietly(channel: Channel, message: object) -> None:
    with contextlib.suppress(OSError):  # the host is gone: nobody to tell
        channel.send(message)


def _exit(code: int) -> NoReturn:
    # os._exit: threads the plugin started must not keep a worker alive after its host left.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
