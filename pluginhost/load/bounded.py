"""Helper threads: plugin code run with a timeout, on a thread that can be left behind.

A plugin's import or lifecycle hook may hang. Run on the host's own thread, it would hang the
host; run on a helper, the host waits at most the step's timeout and goes on without it. A hung
helper cannot be stopped: it is abandoned, and ends if ever the plugin's code returns.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Final, TypeVar

from ..model.errors import ActivationError
from ..model.exception_text import describe_exception

__all__ = [
    "Helper",
    "Reason",
    "bounded",
    "failed",
    "in_inline_step",
    "inline_step",
    "outcome",
    "overran",
    "retire_idle_helpers",
    "step_abandoned",
    "step_submitter",
]

T = TypeVar("T")


def bounded(fn: Callable[[], T], timeout: float, *, plugin: str, step: str) -> T:
    """Run ``fn`` in a helper thread and wait at most ``timeout`` seconds.

    A step that hangs is a failure; its thread cannot be killed and is left to finish on its
    own (a daemon thread, so it does not hold the process open).

    :raises ActivationError: naming the step, when ``fn`` raises or does not finish in time.
    """
    result: list[tuple[bool, Any]] = []

    def run() -> None:
        result.append(outcome(fn))

    name = f"pluginhost-{step}-{plugin}"
    helper, done = Helper.submit(name, run)
    del run  # the helper holds the only reference, and drops it before it says it is done
    if not done.acquire(timeout=timeout):
        # The helper is stuck in the plugin's code: it is not taken again, and ends once (if
        # ever) the plugin's code returns.
        helper.abandoned = True
        raise ActivationError(overran(step, timeout, name), plugin=plugin, step=step)
    Helper.give_back(helper)
    ok, value = result[0]
    if not ok:
        raise ActivationError(failed(step, value), plugin=plugin, step=step)
    return value  # type: ignore[no-any-return]


def step_submitter() -> int | None:
    """The thread that handed this thread the step it runs now (its ident), when this is a
    helper running a step: the thread that waits for the step to end."""
    return getattr(_running, "submitter", None)


@contextlib.contextmanager
def inline_step() -> Iterator[None]:
    """Mark plugin code run on this very thread while it holds the host's lock (a historic
    call replayed to a new plugin, an announcement of it): a host change it asks for is
    refused, as one asked from a helper's step is (see :mod:`pluginhost.host.hostlock`)."""
    before = getattr(_running, "inline", False)
    _running.inline = True
    try:
        yield
    finally:
        _running.inline = before


def in_inline_step() -> bool:
    """Whether this thread runs plugin code marked by :func:`inline_step`."""
    return bool(getattr(_running, "inline", False))


def step_abandoned() -> bool:
    """Whether this thread runs a step its host gave up waiting for (it overran its timeout)."""
    helper = getattr(_running, "helper", None)
    return helper is not None and helper.abandoned


_running = threading.local()


class Reason(str):
    """The reason of an :class:`ActivationError` raised inside a step: it names what failed
    already (``import of 'hello_plugin' failed: RuntimeError: ...``)."""


def outcome(fn: Callable[[], T]) -> tuple[bool, T | str]:
    """``(True, fn())``, or ``(False, text)`` when it raised.

    Text, not the exception: its traceback would pin the plugin's frames. Every kind is
    contained, SystemExit and KeyboardInterrupt too: a real Ctrl-C is only ever delivered to the
    main thread, never to a helper.
    """
    try:
        return True, fn()
    except ActivationError as exc:
        return False, Reason(exc.reason)
    except BaseException as exc:
        return False, describe_exception(exc)


def failed(step: str, text: object) -> str:
    """Why ``step`` failed, from the text :func:`outcome` gave: an error of the host's own is
    told in its words, not as ``import failed: ActivationError: plugin 'x': import of ...``."""
    return text if isinstance(text, Reason) else f"{step} failed: {text}"


def overran(step: str, timeout: float, thread: str) -> str:
    """Why a step that did not finish in time failed."""
    return (
        f"{step} did not finish within {timeout:g}s; its thread {thread!r} goes on running the "
        "plugin's code (threads cannot be stopped: restart recommended if it never returns)"
    )


class Helper:
    """A thread that runs bounded steps one after another, kept for the next step.

    Starting a thread per step cost more than a plugin's import itself when hundreds of plugins
    load at once. A helper left idle for :data:`_IDLE` seconds ends, so none outlives a burst
    of changes for long, except the last one idle: it waits for the next swap, which would
    otherwise start a thread and wait for it to run (two more waits for the interpreter lock
    while threads call hooks). :meth:`retire_idle` ends it, as a host's stop does. One that
    overran its step is abandoned, never taken again.
    """

    _idle: ClassVar[list[Helper]] = []
    _lock: ClassVar = threading.Lock()

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[
            tuple[str, Callable[[], None], _thread.LockType, int] | None
        ] = queue.SimpleQueue()
        self.abandoned = False
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    @classmethod
    def retire_idle(cls) -> None:
        """End the idle helpers now rather than after their idle time."""
        with cls._lock:
            idle, cls._idle = cls._idle, []
        for helper in idle:
            helper.jobs.put(None)

    @classmethod
    def submit(cls, name: str, job: Callable[[], None]) -> tuple[Helper, _thread.LockType]:
        """Hand ``job`` to an idle helper (or a new one); returns it and a lock that it
        releases once the job is done.

        A bare lock rather than an Event (which allocates a Condition and a waiter lock): half
        the cost of the hand-off, paid once per import at a start.
        """
        done = _thread.allocate_lock()
        done.acquire()
        helper = cls.take(name)
        helper.jobs.put((name, job, done, threading.get_ident()))
        return helper, done

    @classmethod
    def take(cls, name: str) -> Helper:
        with cls._lock:
            if cls._idle:
                return cls._idle.pop()
        return cls(name)

    @classmethod
    def give_back(cls, helper: Helper) -> None:
        with cls._lock:
            cls._idle.append(helper)

    def _loop(self) -> None:
        pid = os.getpid()
        while True:
            try:
                item = self.jobs.get(timeout=_IDLE)
            except queue.Empty:
                with self._lock:
                    if self in self._idle and len(self._idle) > _KEPT_IDLE:
                        self._idle.remove(self)
                        return
                if self.abandoned:
                    return  # its step overran: nobody will give it another
                continue  # taken meanwhile: its job is on the way
            if item is None:
                return
            name, job, done, _running.submitter = item
            _running.helper = self
            del item
            threading.current_thread().name = name
            tracing = (sys.gettrace(), sys.getprofile())
            try:
                job()
            finally:
                _running.submitter = None
            # Put back first, before any Python call here: a trace or profile function the
            # plugin's code set on this thread would run in the next plugin's step, and its
            # failure be blamed on that one (a debugger's or coverage's, set before, stays).
            if sys.gettrace() is not tracing[0] or sys.getprofile() is not tracing[1]:
                sys.settrace(tracing[0])
                sys.setprofile(tracing[1])
            # The job references the plugin: held on to, it would keep the modules alive past
            # the purge that follows, which would then report them as leaked.
            del job
            if os.getpid() != pid:
                # Plugin code forked during its step, and the child came back here rather than
                # exec or exit: no thread of the host is in it, and nothing of the host may run
                # there (it would wait for steps forever, holding the host's files and pipes).
                os._exit(0)
            done.release()
            if self.abandoned:
                return


#: Seconds an idle helper waits for another step before it ends.
_IDLE: Final = 2.0
#: Idle helpers kept past :data:`_IDLE`, for the next step.
_KEPT_IDLE: Final = 1


def retire_idle_helpers() -> None:
    """End the idle helper threads now (a stopped host leaves none behind for long)."""
    Helper.retire_idle()


def _forget_helpers() -> None:
    # A forked child has none of its parent's threads: an idle helper taken there would never
    # run its step, and the lock may have been held by a thread that is gone.
    Helper._idle = []
    Helper._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)
