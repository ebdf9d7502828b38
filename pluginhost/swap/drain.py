"""The drain: waiting, after a switch, for the calls that still run the old hook implementations.

A hook call copies its implementation list before iterating (``HookCaller.__call__``), so a call
that started before a switch holds a reference to each old ``HookImpl`` until it returns. The
drain reads those references from the implementations' reference counts, at no cost on the hot
path: once the counts fall back to what the host alone holds, every such call has returned.

A reference count does not say who holds the reference, though. A hook that raised leaves a
traceback whose frames hold the implementation list: garbage until the cycle collector runs, or
kept for good when the application keeps the exception. Waiting for those would wait the whole
timeout for a call that has ended. So when references remain, the drain looks at what is
executing right now, in every thread: a call in flight is a pluggy call loop on some thread's
stack whose implementation list holds an old implementation. References that no executing frame
explains belong to something else (a dead frame, a kept list): the drain does not wait for them,
and says so (:attr:`Drained.KEPT`). It does not collect garbage to tell the two apart: a full
collection would pause every caller. Whether the old code is really kept is told later, by the
modules' weak references (:mod:`pluginhost.load.reaper`).
"""

from __future__ import annotations

import enum
import sys
import time
import types
from collections.abc import Collection, Sequence

import pluggy
from pluggy._callers import _multicall

from ..load.stacks import current_frames
from .switch import Implementations

__all__ = ["Drained", "drain", "in_flight", "running"]

_CALL_LOOP = _multicall.__code__
"""pluggy's call loop: its ``hook_impls`` argument is the list a call in flight runs."""

_ENTRIES = frozenset(
    {
        pluggy.HookCaller.__call__.__code__,
        pluggy.HookCaller.call_historic.__code__,
        pluggy.HookCaller.call_extra.__code__,
        pluggy.PluginManager._hookexec.__code__,
    }
)
"""pluggy's ways into the call loop: a call seen here holds its list copy, not yet as a local
of the loop, so the drain cannot tell which list it is."""


class Drained(enum.Enum):
    """What a drain saw."""

    DRAINED = "drained"
    """No reference is left: every call that started before the switch has returned."""
    KEPT = "kept"
    """No call runs the old implementations, yet something else still references them:
    garbage not yet collected (a traceback cycle), or something that keeps them."""
    TIMED_OUT = "timed_out"
    """Calls were still running the old implementations at the timeout."""

    def problem(self, timeout: float) -> str | None:
        """What this outcome means for the old version, as text; ``None`` when no call is left
        (kept references are the leak check's to report, once the collector had its chance)."""
        if self is Drained.TIMED_OUT:
            return f"calls still running after {timeout:g}s"
        return None


def _extra_refs(groups: Sequence[Implementations]) -> list[int]:
    """Reference counts of every implementation in ``groups``, all measured the same way."""
    return [sys.getrefcount(impl) for group in groups for _, impl in group.impls]


def in_flight(groups: Sequence[Implementations]) -> int:
    """How many references beyond the host's own are held on the implementations of ``groups``.

    Each implementation must be held by its ``Implementations`` alone (and no longer by a hook
    caller): what remains beyond that is held by calls still running it, or by something that
    outlived a call (see :func:`running`). 0 means drained.
    """
    # A probe held the same way gives what an implementation nobody else holds counts as;
    # interpreters differ in how they count the call's own argument.
    probe = Implementations("probe", None, (("probe", object()),))  # type: ignore[arg-type]
    base = _extra_refs([probe])[0]
    return sum(count - base for count in _extra_refs(groups))


def running(groups: Sequence[Implementations]) -> bool:
    """Whether some thread is executing a hook call that runs an implementation of ``groups``
    (or may: a call entering pluggy's call loop with a list it has not handed over yet).

    Only executing frames count: a frame kept by a traceback has returned.
    """
    old = {id(impl) for group in groups for _, impl in group.impls}
    return any(_runs(frame, old) for frame in current_frames().values())


def _runs(frame: types.FrameType | None, old: Collection[int]) -> bool:
    """Whether the stack ending at ``frame`` runs a hook call on one of ``old``."""
    innermost = True
    while frame is not None:
        code = frame.f_code
        if code is _CALL_LOOP:
            # Read only this local, of this frame only: pluggy's loop ends with its call.
            impls = frame.f_locals.get("hook_impls", ())
            if any(id(impl) in old for impl in impls):
                return True
            innermost = False
        elif code in _ENTRIES and innermost:
            return True
        frame = frame.f_back
    return False


def drain(groups: Sequence[Implementations], timeout: float, poll: float = 0.001) -> Drained:
    """Wait until no call that started before the switch still runs ``groups``.

    :param groups: the switched-out implementations, held by nothing else of the host's.
    :param timeout: how long calls in flight may take (seconds).
    :param poll: the first pause between two looks; it doubles up to 50 ms.
    :returns: what the drain saw (:class:`Drained`).
    """
    deadline = time.monotonic() + timeout
    while in_flight(groups) > 0:
        if not running(groups):
            # References that no running call explains: garbage or kept, no call runs them.
            return Drained.KEPT
        if time.monotonic() >= deadline:
            return Drained.TIMED_OUT
        time.sleep(poll)
        poll = min(poll * 2, 0.05)
    return Drained.DRAINED
