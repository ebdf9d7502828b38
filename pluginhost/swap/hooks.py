"""Calling one lifecycle hook of one plugin, registered or not, outside pluggy's broadcast."""

from __future__ import annotations

import functools
from typing import Any

import pluggy

from ..load.bounded import bounded
from .switch import Implementations

__all__ = ["bounded_hook", "call_hook", "implements", "unknown_hooks"]


def unknown_hooks(pm: pluggy.PluginManager, impls: Implementations) -> tuple[str, ...]:
    """The hooks ``impls`` implements that no spec of ``pm`` knows, as pluggy's
    ``check_pending`` finds them: an ``optionalhook`` is exempt, and a spec added to ``pm``
    since the plugin loaded counts. A plugin with no hook implementation at all gets
    ``("(none)",)``: it can answer nothing.
    """
    if not impls.impls:
        return ("(none)",)
    unknown = []
    for name, impl in impls.impls:
        caller = getattr(pm.hook, name, None)
        known = isinstance(caller, pluggy.HookCaller) and caller.has_spec()
        if not known and not impl.optionalhook:
            unknown.append(name)
    return tuple(sorted(set(unknown)))


def unknown_text(hooks: tuple[str, ...]) -> str:
    """Why ``hooks`` (from :func:`unknown_hooks`) are worth a word, as one clause."""
    if hooks == ("(none)",):
        return "implements no hook at all"
    return f"implements hooks that no spec of the host knows: {', '.join(hooks)}"


def implements(impls: Implementations, hook: str) -> bool:
    """Whether the plugin of ``impls`` implements ``hook``."""
    return any(name == hook for name, _ in impls.impls)


def call_hook(impls: Implementations, hook: str, **kwargs: Any) -> object:
    """Call one lifecycle hook of one plugin, registered or not; ``None`` if not implemented."""
    for name, impl in impls.impls:
        if name == hook:
            return impl.function(*[kwargs[arg] for arg in impl.argnames])
    return None


def bounded_hook(
    impls: Implementations, hook: str, timeout: float, step: str, **kwargs: Any
) -> object:
    """Call one lifecycle hook of one plugin within ``timeout`` (see :func:`bounded`).

    A plugin that does not implement the hook costs no helper thread: starting one for each
    step of each plugin was most of the time a start with many plugins took.
    """
    if not implements(impls, hook):
        return None
    call = functools.partial(call_hook, impls, hook, **kwargs)
    return bounded(call, timeout, plugin=impls.name, step=step)
