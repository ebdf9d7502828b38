"""What each implementation of a hook answered: ``host.call_each()`` and ``pluginhost call``."""

from __future__ import annotations

from .frozen import frozen

__all__ = ["HookAnswer"]


@frozen
class HookAnswer:
    """One implementation's answer to one hook call.

    :param plugin: the plugin whose implementation answered.
    :param version: its version serving at the time of the call.
    :param result: what it returned (``None`` when it raised).
    :param error: what it raised, as one line (``ValueError: no``), or ``None``.
    :param error_type: the qualified name of the type it raised, or ``None``.
    """

    plugin: str
    version: str
    result: object = None
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the implementation returned rather than raised."""
        return self.error is None
