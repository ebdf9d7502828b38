"""Starting worker processes, always from one long-lived thread.

A worker asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and Linux
means by "parent" the *thread* that forked it: a worker started from a short-lived thread (the
host starts plugins from helper threads) would be killed when that thread ends. So every worker
is forked by the one launcher thread this module owns, which lives as long as the host's
process. The worker's secret goes over its stdin, never on argv or in its environment.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable

from ..model.interpreter import fresh_interpreter

__all__ = ["argv", "spawn"]

_Job = tuple[Callable[[], subprocess.Popen[bytes]], "queue.SimpleQueue[object]"]
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_started = threading.Lock()
_thread: list[threading.Thread] = []


def spawn(fd: int, boot: bytes) -> subprocess.Popen[bytes]:
    """Start a worker with the socket ``fd`` and write ``boot`` (one line) to its stdin.

    :raises OSError: the interpreter could not be started.
    """

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv(),
            stdin=subprocess.PIPE,
            pass_fds=(fd,),
            # Out of the host's process group: a Ctrl-C in the host's terminal is the host's to
            # handle; the worker ends when the host closes its channel.
            start_new_session=True,
        )

    process = _in_launcher(start)
    assert process.stdin is not None
    try:
        process.stdin.write(boot)
        process.stdin.close()
    except OSError:
        pass  # the worker died at once: the handshake reports how
    return process


def argv() -> list[str]:
    """The command line of a worker (it carries no secret)."""
    return fresh_interpreter("pluginhost.proc.child")


def _in_launcher(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    _ensure_thread()
    answer: queue.SimpleQueue[object] = queue.SimpleQueue()
    _jobs.put((start, answer))
    outcome = answer.get()
    if isinstance(outcome, BaseException):
        raise outcome
    assert isinstance(outcome, subprocess.Popen)
    return outcome


def _forget_thread() -> None:
    """In a forked child the launcher thread does not exist: the next spawn starts one."""
    global _started  # noqa: PLW0603 (the lock may be held by a thread that is not in the child)
    _started = threading.Lock()
    _thread.clear()


os.register_at_fork(after_in_child=_forget_thread)


def _ensure_thread() -> None:
    with _started:
        if not _thread:
            thread = threading.Thread(target=_run, name="pluginhost-launcher", daemon=True)
            thread.start()
            _thread.append(thread)


def _run() -> None:
    while True:
        start, answer = _jobs.get()
        try:
            answer.put(start())
        except BaseException as e:
            answer.put(e)
