"""The demo host's contract: plugins that greet people.

Used by ``pluginhost demo``, the examples in the README and the tests::

    from hookspecs.greeter import hookimpl

    @hookimpl
    def greet(name):
        return f"Hello, {name}!"
"""

from __future__ import annotations

import pluggy

__all__ = ["API_VERSION", "PROJECT", "GreeterSpec", "hookimpl", "hookspec"]

PROJECT = "greeter"
API_VERSION = "1.4.0"
"""The version of this contract that plugins' ``host`` constraints are checked against."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class GreeterSpec:
    """The greeter hooks."""

    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Return a greeting for ``name``; every plugin answers."""

    @hookspec(firstresult=True)
    def farewell(self, name: str) -> str | None:
        """Return a farewell for ``name``; the first plugin that answers wins."""
