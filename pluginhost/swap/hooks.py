"""Calling one lifecycle hook of one plugin, registered or not, outside pluggy's broadcast."""

from __future__ import annotations

import functools
from typing import Any

from ..load.bounded import bounded
from .switch import Implementations

__all__ = ["bounded_hook", "call_hook", "implements"]


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
