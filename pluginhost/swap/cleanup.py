"""Taking a version out of service: its ``pluginhost_deactivate``, and the report of what it
leaves behind that cannot be undone from outside (threads, ``atexit`` handlers, modules still
referenced)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..load import guard
from ..load.guard import Effects
from ..model.errors import ActivationError
from .hooks import bounded_hook
from .process import stop_workers
from .switch import Implementations

__all__ = ["deactivate", "holders_text", "leak_report", "left_behind"]

_GRACE = 0.2
"""How long a plugin's threads may take to end after its deactivate returned (seconds)."""


def deactivate(
    registrations: Sequence[Implementations], owned: Sequence[str], *, host: object, timeout: float
) -> tuple[list[str], Effects]:
    """Run ``pluginhost_deactivate`` of each entry point, last first (never raises), put
    back what they changed in the import machinery, and stop a process plugin's worker.

    :param registrations: the plugin to deactivate, one per entry point.
    :param owned: the top-level names its version may leave in the import machinery.
    :param host: passed to the hook.
    :param timeout: how long the hook may take (seconds).
    :returns: what went wrong, as text, and what it did that outlives it (``atexit``
        handlers unregistered count negative).
    """
    before = guard.snapshot()
    errors = []
    for impls in reversed(registrations):
        try:
            bounded_hook(impls, "pluginhost_deactivate", timeout, "deactivate", host=host)
        except ActivationError as exc:
            errors.append(str(exc))
    stop_workers(registrations)  # a process plugin's worker goes with its version
    effects = guard.restore(before, owned)
    if effects.undone:
        undone = ActivationError(
            guard.failure("deactivate", None, effects.undone),
            plugin=registrations[0].name,
            step="deactivate",
        )
        errors.append(str(undone))
    return errors, effects


def left_behind(effects: Effects, roots: Sequence[Path]) -> list[str]:
    """What a deactivated plugin leaves running that cannot be undone from outside: threads
    it started or running its code (from ``roots``), ``atexit`` handlers."""
    texts = [
        f"{thread} (threads cannot be stopped: restart recommended)"
        for thread in guard.lingering(effects.threads, roots, _GRACE)
    ]
    handlers = effects.atexit
    if handlers > 0:
        texts.append(
            f"{handlers} atexit handler(s) it registered stay registered and will run at exit "
            "(they cannot be removed from outside: restart recommended)"
        )
    return texts


def leak_report(leaked: Sequence[str], owned: Sequence[str]) -> list[str]:
    """The modules of ``owned`` still alive after a purge, and what holds their code."""
    if not leaked:
        return []
    return [
        "modules still referenced after unload (restart recommended to free them): "
        + ", ".join(leaked),
        *holders_text(owned),
    ]


def holders_text(owned: Sequence[str]) -> list[str]:
    """Where the code of ``owned`` is still referenced from, as text (nothing when nowhere)."""
    found = guard.holders(owned)
    return [f"its code is still referenced from {', '.join(found)}"] if found else []
