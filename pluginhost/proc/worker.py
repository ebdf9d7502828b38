"""One plugin in a worker process, as the host holds it: start, call, state, stop.

:meth:`Worker.start` takes a worker booted ahead (:mod:`.spare`) or boots one (from the
launcher thread), shakes hands (a fresh secret and the protocol version), has it set its limits
and import the plugin, and learns the hook implementations it declares
(:class:`HookDescription`), from which the host builds proxies.
:meth:`Worker.call` is thread-safe; the worker runs the calls it gets one at a time. When the
worker dies, calls in flight get :class:`~pluginhost.PluginCrashedError` at once and
``on_exit`` is called once with an :class:`~.exits.ExitInfo`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NoReturn, final

import attrs
import msgspec

from ..model.errors import (
    CallError,
    PluginCrashedError,
    PluginLoadError,
    PluginTimeoutError,
    RemotePluginError,
)
from ..model.frozen import frozen
from ..model.limits import ResourceLimits
from . import cgroup
from .channel import Channel, FrameTooLargeError, Slot, UnencodableError, frame_bound
from .crossing import checked, codec_error, unsent
from .exits import ExitInfo, exit_info
from .messages import (
    PROTOCOL_VERSION,
    Call,
    Failure,
    Hello,
    HookMsg,
    LimitsMsg,
    LoadFailed,
    Ready,
    Result,
    SpecMsg,
    Stopping,
)
from .spare import Spares, boot

__all__ = ["MOST_DESCRIPTION", "HookDescription", "Worker", "WorkerSpec"]


@final
@frozen
class HookDescription:
    """One hook implementation the worker found in the plugin.

    :param name: the attribute name on the plugin object.
    :param specname: the hook it implements, when not ``name``.
    :param argnames: the implementation's argument names, as pluggy reads them.
    :param entry_point: the distribution's entry point it belongs to.
    """

    name: str
    specname: str | None
    argnames: tuple[str, ...]
    tryfirst: bool
    trylast: bool
    optionalhook: bool
    entry_point: str

    @property
    def hook(self) -> str:
        """The name of the hook it implements."""
        return self.specname or self.name


@final
@frozen
class WorkerSpec:
    """What a worker loads and under which limits.

    :param plugin: the display name, for errors and events.
    :param project_name: the project name of the hookimpl markers.
    :param group: the entry-point group the plugin was found in.
    :param entry_points: ``(name, "module:attr")`` pairs, in the distribution's order.
    :param paths: ``sys.path`` entries put first in the worker, first wins: the plugin's site
        dir, its private dependencies.
    """

    plugin: str
    project_name: str
    group: str
    entry_points: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]
    limits: ResourceLimits = ResourceLimits()

    def message(self, cgroup_path: Path | None) -> SpecMsg:
        limits = LimitsMsg(**attrs.asdict(self.limits))
        return SpecMsg(
            plugin=self.plugin,
            project_name=self.project_name,
            group=self.group,
            entry_points=[tuple(pair) for pair in self.entry_points],  # type: ignore[misc]
            paths=[os.fsencode(path) for path in self.paths],
            limits=limits,
            cgroup=os.fsencode(cgroup_path) if cgroup_path is not None else None,
        )


#: The largest description of the plugin's hooks (``Ready``) taken, in bytes, refused as its
#: length is read: 300 hooks of 10,000 arguments were weighed and decoded under the host's lock.
MOST_DESCRIPTION: Final = 2**20
#: How long a worker may take to exit after its channel closed before it is killed.
_EOF_GRACE = 2.0
#: How often a starting worker's exit is looked for while the host waits for its messages.
_EXIT_POLL = 0.05

OnExit = Callable[["Worker", ExitInfo], None]


class Worker:
    """A running worker process and its channel; build one with :meth:`start`."""

    def __init__(
        self,
        spec: WorkerSpec,
        process: subprocess.Popen[bytes],
        sock: socket.socket,
        on_exit: OnExit | None,
        cgroup_path: Path | None,
    ) -> None:
        self.spec: Final = spec
        self.pid: Final = process.pid
        self.hooks: tuple[HookDescription, ...] = ()
        #: How each limit is enforced in the worker (``"memory_mb: RLIMIT_AS"``).
        self.enforced: tuple[str, ...] = ()
        self.exit_info: ExitInfo | None = None
        self._process = process
        self._on_exit = on_exit
        self._cgroup = cgroup_path
        self._limit: str | None = None
        self._exited = threading.Event()
        most = frame_bound(spec.limits.memory_mb)
        self._channel = Channel(sock, self._on_message, self._on_eof, most=most)
        self._watcher: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        spec: WorkerSpec,
        *,
        on_exit: OnExit | None = None,
        start_timeout: float = 10.0,
        spares: Spares | None = None,
    ) -> Worker:
        """Spawn, shake hands, set limits, import the entry points, describe the hooks.

        :param on_exit: called once, in the worker's watcher thread, when the worker is gone
            (never when :meth:`start` raises).
        :param spares: where a worker booted ahead is taken from (see :mod:`.spare`).
        :raises PluginLoadError: the import failed, or the plugin declares a hook wrapper; the
            reason says which, with the remote traceback text. Or ``spec`` cannot be sent, or
            (at ``register``) the description is past :data:`MOST_DESCRIPTION` bytes.
        :raises PluginCrashedError: the worker died (or hit a limit) while starting, refused the
            handshake, or did not start within ``start_timeout``.
        """
        cgroup_path = cgroup.make(spec.limits)
        try:
            booted = spares.take() if spares is not None else boot()
        except OSError as e:
            if cgroup_path is not None:
                cgroup.remove(cgroup_path)
            raise PluginCrashedError(f"the worker could not start: {e}", plugin=spec.plugin) from e
        worker = cls(spec, booted.process, booted.sock, on_exit, cgroup_path)
        try:
            worker._handshake(booted.secret, start_timeout)
        except BaseException:
            if worker.exit_info is None:  # not reaped yet: no process nor cgroup left behind
                worker._reap(kill=True)
            worker._channel.dispose()
            raise
        return worker

    # -- starting
    def _handshake(self, secret: bytes, timeout: float) -> None:
        channel = self._channel
        deadline = time.monotonic() + timeout
        try:
            channel.send(Hello(PROTOCOL_VERSION, secret, self.spec.message(self._cgroup)))
            echo = self._receive(deadline)
            if not isinstance(echo, Hello) or echo.version != PROTOCOL_VERSION:
                self._refuse_start("the worker's hello is missing or of another version", echo)
            if not secrets.compare_digest(echo.secret, secret):
                self._refuse_start("the worker's hello does not carry its secret", echo)
            ready = self._receive(deadline, MOST_DESCRIPTION)
        except TimeoutError:
            reason = f"the worker did not load the plugin within {timeout} s and was killed"
            self._refuse_start(reason, False)
        except UnencodableError as e:  # the spec itself: a name the codec cannot carry
            self._reap(kill=True)
            reason = f"its worker cannot be told what to load: the spec {e}"
            raise PluginLoadError(reason, plugin=self.spec.plugin) from e.error
        except (OSError, ValueError) as e:
            self._refuse_start(f"the handshake failed: {e}", None)
        if isinstance(ready, LoadFailed):
            self._load_failed(ready)
        if ready is None and channel.frames.refused is not None:
            self._refuse_description(channel.frames.refused)
        if not isinstance(ready, Ready):
            self._refuse_start("the worker sent no description of the plugin", ready)
        self.hooks = tuple(_description(h) for h in ready.hooks)
        self.enforced = tuple(ready.enforced)
        watcher = threading.Thread(target=self._watch, name=f"pluginhost-worker-{self.pid}")
        watcher.daemon = True
        self._watcher = watcher
        watcher.start()

    def _receive(self, deadline: float, most: int | None = None) -> Any:
        """The worker's next message while it starts; None at EOF, which its exit brings even
        when a process it forked at import keeps its socket open (that wait lasted the whole
        start timeout), or past ``most`` bytes; ``TimeoutError`` once ``deadline`` passed."""
        while True:
            try:
                return self._channel.receive(min(deadline, time.monotonic() + _EXIT_POLL), most)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                if self._process.poll() is not None:
                    self._channel.hang_up()  # what it sent is still read, then EOF

    def _refuse_start(self, reason: str, received: object) -> NoReturn:
        """Kill and reap the worker, and raise; ``received`` None: it died on its own."""
        if received is None:
            info = self._reap(kill=True)
            reason = f"the worker died while starting ({info.reason})"
        else:
            self._reap(kill=True)
        raise PluginCrashedError(reason, plugin=self.spec.plugin)

    def _refuse_description(self, size: int) -> NoReturn:
        """Kill the worker (its channel is done) and raise, as the proxies' checks do."""
        self._reap(kill=True)
        reason = f"its worker described its hooks in {size:,} bytes, more than {MOST_DESCRIPTION:,}"
        raise PluginLoadError(reason, plugin=self.spec.plugin, step="register")

    def _load_failed(self, failed: LoadFailed) -> NoReturn:
        self._limit = failed.limit
        self._reap(kill=False)
        if failed.limit is not None:
            reason = f"the worker hit its {failed.limit} limit while starting: {failed.reason}"
            raise PluginCrashedError(reason, plugin=self.spec.plugin, limit=failed.limit)
        raise PluginLoadError(
            failed.reason, plugin=self.spec.plugin, remote_traceback=failed.traceback
        )

    # -- calls
    def call(
        self,
        name: str,
        kwargs: Mapping[str, Any],
        *,
        entry_point: str | None = None,
        timeout: float | None = None,
        kill: bool = True,
    ) -> Any:
        """Call the plugin's implementation of the hook ``name`` in the worker.

        :param entry_point: whose implementation, when several entry points implement
            ``name`` (the first one's otherwise).
        :param timeout: the deadline in seconds; the limits' ``call_timeout_s`` when None.
        :param kill: kill the worker when the deadline passes, or leave it serving.
        :raises PluginCrashedError: the worker died during the call, or was gone.
        :raises PluginTimeoutError: the deadline passed; the worker was killed if ``kill``.
        :raises RemotePluginError: the plugin's code raised (for a builtin type, an instance
            of that type too).
        :raises CodecError: an argument or the result cannot cross.
        :raises CallError: the plugin implements no such hook, or an argument is missing.
        """
        arguments = checked(self.spec.plugin, name, kwargs)
        return self._request("hook", name, arguments, entry_point, timeout, kill=kill)

    def export_state(self) -> Any:
        """The plugin's state from ``pluginhost_export_state`` (None if not implemented)."""
        return self._request("export_state", "pluginhost_export_state", {}, None, None)

    def import_state(self, state: Any, previous_version: str | None) -> None:
        """Hand ``state`` to the plugin's ``pluginhost_import_state``, if implemented."""
        hook = "pluginhost_import_state"
        kwargs = checked(self.spec.plugin, hook, {"state": state})
        kwargs["previous_version"] = previous_version
        self._request("import_state", hook, kwargs, None, None)

    def ping(self, timeout: float = 2.0) -> None:
        """Check that the worker answers within ``timeout``.

        :raises PluginCrashedError: it is gone, or did not answer in time (it may be busy with
            a long call: the worker runs one call at a time).
        """
        try:
            self._request("ping", "", {}, None, timeout, kill=False)
        except PluginTimeoutError as e:
            raise PluginCrashedError(
                f"the worker did not answer a ping within {timeout} s", plugin=self.spec.plugin
            ) from e

    def _request(
        self,
        op: str,
        name: str,
        kwargs: dict[str, Any],
        entry_point: str | None,
        timeout: float | None,
        *,
        kill: bool = True,
    ) -> Any:
        if timeout is None:
            timeout = self.spec.limits.call_timeout_s
        ident, slot = self._send_request(Call(0, op, name, entry_point, kwargs))
        if not self._channel.wait(slot, timeout):
            self._channel.forget(ident)
            if kill:
                self._kill("call_timeout_s")
            raise PluginTimeoutError(
                f"hook {name!r} did not return within {timeout} s"
                + ("; its worker was killed" if kill else ""),
                plugin=self.spec.plugin,
                hook=name,
                timeout=timeout or 0.0,
            )
        return self._outcome(name, slot)

    def _send_request(self, call: Call) -> tuple[int, Slot]:
        def numbered(ident: int) -> Call:
            call.id = ident
            return call

        try:
            return self._channel.request(numbered)
        except UnencodableError as e:
            raise unsent(self.spec.plugin, call.name, call.kwargs, e) from e.error
        except FrameTooLargeError as e:
            size = f"message of {e.size} bytes"
            raise codec_error(self.spec.plugin, call.name, "the arguments", size) from e
        except PluginCrashedError as e:
            raise _fresh(e) from None
        except OSError as e:
            self._exited.wait(_EOF_GRACE)
            gone = self._channel.closed
            if isinstance(gone, PluginCrashedError):
                raise _fresh(gone) from e
            raise PluginCrashedError(
                f"the channel to the worker broke: {e}", plugin=self.spec.plugin
            ) from e

    def _outcome(self, name: str, slot: Slot) -> Any:
        reply = slot.reply
        if isinstance(reply, Result):
            return reply.value
        if isinstance(reply, Failure):
            raise self._failure_error(name, reply)
        assert isinstance(slot.error, PluginCrashedError)
        raise _fresh(slot.error)

    def _failure_error(self, name: str, failure: Failure) -> Exception:
        plugin = self.spec.plugin
        if failure.kind == "remote":
            return RemotePluginError.from_remote(
                failure.type_name,
                failure.message,
                failure.traceback,
                plugin=plugin,
                hook=name,
                builtin=failure.builtin,
            )
        if failure.kind in ("codec", "heavy"):
            heavy = failure.message if failure.kind == "heavy" else ""
            place = failure.argument or "result"
            return codec_error(plugin, name, place, failure.type_name, heavy)
        if failure.kind == "limit":
            reason = f"the worker hit its {failure.type_name} limit in hook {name!r} and stopped"
            return PluginCrashedError(
                f"{reason}: {failure.message}", plugin=plugin, limit=failure.type_name
            )
        return CallError(failure.message, hook=name)

    # -- the end
    def stop(self, grace: float = 2.0) -> ExitInfo:
        """Close the channel, then SIGTERM after ``grace`` s, then SIGKILL; ``on_exit`` has run.

        :returns: how the worker ended (also :attr:`exit_info`).
        """
        self._channel.shutdown()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                self._signal(sig)
            try:
                self._process.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        self._exited.wait(grace + 5.0)
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            # on_exit has been called when stop returns: whoever stopped the worker may
            # count on it (the watcher sets exit_info just before it calls on_exit).
            watcher.join(grace + 5.0)
        assert self.exit_info is not None
        return self.exit_info

    @property
    def alive(self) -> bool:
        """Whether the worker's channel is still open."""
        return self._channel.closed is None and self.exit_info is None

    def _kill(self, limit: str | None) -> None:
        if self._limit is None:
            self._limit = limit
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(OSError):  # already reaped: nothing left to signal
                self._process.send_signal(sig)

    def _wait_unreaped(self) -> None:
        """Wait for the worker's exit, leaving it to be reaped (its pid stays its own)."""
        if self._process.returncode is None:
            with contextlib.suppress(ChildProcessError):  # reaped meanwhile by stop()
                os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOWAIT)

    def _on_message(self, message: object) -> None:
        if self._limit is not None:
            return
        if isinstance(message, Stopping):
            self._limit = message.limit
        elif isinstance(message, Failure):
            self._limit = message.type_name

    def _on_eof(self) -> None:
        # The socket closes as the worker exits, and the watcher then closes the channel. A
        # worker alive without its channel (a broken frame) is killed after a grace period.
        timer = threading.Timer(_EOF_GRACE, self._signal, (signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def _watch(self) -> None:
        """The watcher thread: waits for the worker's end, then tells everyone, once."""
        self._wait_unreaped()
        self._channel.hang_up()
        try:
            self._channel.drain(_EOF_GRACE)
            info = self._reap(kill=False)
            self._channel.close(
                PluginCrashedError(
                    f"the worker of plugin {self.spec.plugin!r} (pid {self.pid}) {info.reason}",
                    plugin=self.spec.plugin,
                    limit=info.limit,
                )
            )
        finally:
            self._channel.dispose()
        if self._on_exit is not None:
            self._on_exit(self, info)

    def _reap(self, *, kill: bool) -> ExitInfo:
        if kill:
            self._signal(signal.SIGKILL)
        self._wait_unreaped()
        # What the plugin forked goes with the worker: its process group, named by the
        # worker's pid (a session of its own), which the unreaped worker still holds.
        with contextlib.suppress(OSError):  # nobody left in it
            os.killpg(self._process.pid, signal.SIGKILL)
        code = self._process.wait()
        if self._cgroup is not None:
            if self._limit is None and cgroup.oom_killed(self._cgroup):
                self._limit = "memory_mb"
            cgroup.remove(self._cgroup)
        started = self._watcher is not None
        info = exit_info(code, self._limit, started=started, cause=self._channel.broken())
        self.exit_info = info
        self._exited.set()
        return info


def _fresh(error: PluginCrashedError) -> PluginCrashedError:
    """A new instance of the channel's closing error per caller (one gathers all tracebacks)."""
    return PluginCrashedError(error.reason, plugin=error.plugin, limit=error.limit)


def _description(hook: HookMsg) -> HookDescription:
    name, specname, argnames, *options = msgspec.structs.astuple(hook)
    return HookDescription(name, specname, tuple(argnames), *options)
