"""The host's lock: re-entrant, and refusing the plugin code that the thread holding it waits
for.

A host holds its lock while it applies a change, and runs the plugin's import, lifecycle
hooks and state hand-over on helper threads (:mod:`pluginhost.load.bounded`), waiting for
each. A ``pluginhost_activate(host)`` that called ``host.remove(...)`` waited for the lock
until its step timed out (30 s by default); the step failed, and once the change was over,
the abandoned thread went on and removed the other plugin anyway. Such a call is refused at
once instead, with a :class:`~pluginhost.HostStateError` that says why; so is one from a step
the host gave up waiting for (it overran its timeout), and one from plugin code the holder
runs itself as part of the change (a historic call replayed to a new plugin).
"""

from __future__ import annotations

import threading
from typing import final

from ..load.bounded import in_inline_step, step_abandoned, step_submitter
from ..model.errors import HostStateError

__all__ = ["HostLock"]


@final
class HostLock:
    """A re-entrant lock that knows which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> HostLock:
        """Take the lock, waiting for it.

        :raises HostStateError: when this thread runs plugin code for the thread that holds
            the lock, which waits for it: waiting would hold both until the step's timeout.
        """
        self.check()
        self._lock.acquire()
        self._owner = threading.get_ident()
        self._depth += 1
        return self

    def check(self) -> None:
        """Refuse this thread the lock now, before it does anything that needs it next.

        :raises HostStateError: as :meth:`__enter__` would.
        """
        submitter = step_submitter()
        if submitter is not None and submitter == self._owner:
            raise HostStateError(
                "the host is applying a change and waits for this plugin's import, lifecycle"
                " hook or state hand-over to return: it cannot change plugins from inside it"
                " (start a thread that does it, or do it after the host's call returns)"
            )
        if in_inline_step() and self._owner == threading.get_ident():
            # A historic call replayed to a new plugin, on the thread applying the change: the
            # lock is re-entered, and a removal then made there was undone with the change,
            # its plugin's hooks answering though it was unloaded.
            raise HostStateError(
                "the host is applying a change and runs this plugin's hook as part of it: it"
                " cannot change plugins from inside it (start a thread that does it)"
            )
        if step_abandoned():
            # It overran its timeout, and its change was undone: what it goes on doing must
            # not change plugins afterwards (a failed activate removed another plugin).
            raise HostStateError(
                "this plugin's import, lifecycle hook or state hand-over overran its timeout"
                " and was given up: it cannot change plugins any more"
            )

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
        self._lock.release()
