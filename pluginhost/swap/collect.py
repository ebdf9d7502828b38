"""Collecting a new plugin's hook implementations, on the helper thread that imported it.

Collecting reads each entry point object's attributes (``dir()``, the manager's
``parse_hookimpl_opts``, ``getattr``), so plugin code may run there: a module's ``__dir__`` or
``__getattr__``, a class's descriptors. On the host's own thread it was bounded by no timeout,
and a ``SystemExit`` raised there ended the host's start at every start. So it runs in the
import's step, right after the import, on the same helper: a hang is the import's timeout, and
whatever is raised is the plugin's refusal at its register step. The checks that run no plugin
code (lifecycle hooks, unknown hooks) run on the host's thread, in :func:`checked`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

import pluggy

from ..model.candidate import EntryPoint
from ..model.errors import ActivationError
from ..model.exception_text import describe_exception
from .hooks import lifecycle_faults, unknown_hooks, unknown_text
from .switch import Implementations, prepare

__all__ = ["Collected", "checked", "collect"]

Collected = tuple[Implementations, ...] | ActivationError
"""Each entry point's implementations, or why they cannot be registered (returned, not
raised: raised on the helper, it would be told as a failure of the import step)."""


def collect(
    pm: pluggy.PluginManager,
    objects: Sequence[object],
    entry_points: Sequence[EntryPoint],
    plugin: str,
    dist: importlib.metadata.Distribution | None,
    *,
    on_helper: bool = True,
) -> Collected:
    """Each entry point's object prepared under the entry point's name (see
    :func:`~.switch.prepare`), with the plugin's distribution.

    :param on_helper: whether this runs on a helper thread, where ``SystemExit`` and
        ``KeyboardInterrupt`` can only come from the plugin (a real Ctrl-C goes to the main
        thread): they refuse the plugin as any exception does.
    """
    contained = BaseException if on_helper else Exception
    registrations = []
    for ep, obj in zip(entry_points, objects, strict=True):
        if obj is None:
            # pluggy takes a name registered as None as blocked: the plugin would block its
            # own next versions, or another plugin's name.
            why = f"entry point {ep.name!r} ({ep.value}) is None: nothing to register"
            return ActivationError(f"refused: {why}", plugin=plugin, step="register")
        try:
            registrations.append(prepare(pm, obj, ep.name, dist))
        except pluggy.PluginValidationError as exc:
            return ActivationError(f"hook validation failed: {exc}", plugin=plugin, step="register")
        except contained as exc:
            described = describe_exception(exc)
            reason = f"collecting hook implementations failed: {described}"
            return ActivationError(reason, plugin=plugin, step="register")
    return tuple(registrations)


def checked(
    pm: pluggy.PluginManager, collected: Collected, plugin: str, *, refuse_unknown_hooks: bool
) -> tuple[Implementations, ...]:
    """The registrations collected, once the host's checks pass.

    :raises ActivationError: at the register step, when collecting failed, a lifecycle hook
        is not one the host can call, or (``refuse_unknown_hooks``) a hook has no spec.
    """
    if isinstance(collected, ActivationError):
        raise collected
    faults = [fault for r in collected for fault in lifecycle_faults(r)]
    if faults:
        raise ActivationError(f"refused: {'; '.join(faults)}", plugin=plugin, step="register")
    unknown = unknown_hooks(pm, collected) if refuse_unknown_hooks else ()
    if unknown:
        reason = f"refused: it {unknown_text(unknown)} (unknown_hooks='refuse')"
        raise ActivationError(reason, plugin=plugin, step="register")
    return collected
