"""Step 7 of ``pluginhost demo``: a process plugin crashes and comes back while the host serves.

``sturdy`` (``demo_plugins/sturdy``) says ``isolation = "process"`` in its ``plugin.toml``: it
runs in a worker process of its own. ``farewell(name="crash")`` makes that worker exit at once,
as a segfault would; the caller gets :class:`~pluginhost.PluginCrashedError`, the threads
calling hello meanwhile see nothing, and the supervisor starts a new worker with the state
sturdy last exported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import attrs

from ..host.host import PluginHost
from ..model.errors import PluginCrashedError
from ..model.limits import ResourceLimits

__all__ = ["crash_step"]

_RESTART_TIMEOUT = 20.0


class _Say(Protocol):
    def say(self, text: str, code: str = "1") -> None: ...
    def line(self, text: str, code: str = "0") -> None: ...


class _Traffic(Protocol):
    def served(self) -> int: ...
    def failed(self) -> int: ...


def crash_step(
    host: PluginHost,
    say: _Say,
    check: Callable[[bool, str, str], None],
    drop: Callable[[], None],
    traffic: Callable[[], AbstractContextManager[_Traffic]],
) -> None:
    """Drop sturdy, show its worker, crash it while threads call hello, and see it back.

    :param check: says a fact when it holds, fails the demo otherwise.
    :param drop: drops sturdy's wheel into the watched folder and waits until it is applied.
    :param traffic: starts the threads calling ``greet`` (a context manager).
    """
    say.say(
        '7. Crash containment: sturdy, whose plugin.toml says isolation = "process", dropped '
        "in; it crashes (os._exit) while threads keep calling hello"
    )
    drop()
    info = host.status("sturdy").info
    given = attrs.asdict(info.limits or ResourceLimits())
    limits = ", ".join(f"{k}={v}" for k, v in given.items() if v is not None)
    check(
        info.pid is not None and info.pid != os.getpid(),
        f"sturdy {info.version} runs in worker pid {info.pid} (the host is pid {os.getpid()});"
        f" limits: {limits}; nothing of it is imported into the host",
        f"sturdy should run in a worker process, its status says pid {info.pid}",
    )
    say.line(f'host.hook.farewell(name="Ada") answers: {host.hook.farewell(name="Ada")}')
    with traffic() as calls:
        time.sleep(0.5)  # hello's calls flowing, and sturdy's state exported meanwhile
        before = calls.served()
        try:
            host.hook.farewell(name="crash")
            crashed = ""
        except PluginCrashedError as exc:
            crashed = str(exc)
        check(
            bool(crashed),
            f'host.hook.farewell(name="crash") raised PluginCrashedError: {crashed}',
            "the crash should have reached the caller as a PluginCrashedError",
        )
        back = _restarted(host)
        time.sleep(0.2)
        served, failed = calls.served() - before, calls.failed()
    check(
        failed == 0,
        f"meanwhile hello served {served:,} calls from 4 threads, 0 failed: the host never stopped",
        f"{failed} calls to hello failed during sturdy's crash",
    )
    info = host.status("sturdy").info
    answer = host.hook.farewell(name="Ada") if back else None
    check(
        back and info.restarts == 1 and "farewell #2" in str(answer),
        f"sturdy is back in a new worker (pid {info.pid}, {info.restarts} restart), with its "
        f"state: {answer}",
        f"sturdy should be back with its state, is {info.state} (pid {info.pid}): {answer}",
    )


def _restarted(host: PluginHost) -> bool:
    deadline = time.monotonic() + _RESTART_TIMEOUT
    while time.monotonic() < deadline:
        info = host.plugins.get("sturdy")
        if info is not None and info.pid is not None and info.restarts:
            return True
        time.sleep(0.02)
    return False
