"""Plugin names: one normalized spelling, so ``Hello_World`` and ``hello-world`` are one plugin."""

from __future__ import annotations

from typing import NewType

from packaging.utils import canonicalize_name

PluginName = NewType("PluginName", str)


def plugin_name(text: str) -> PluginName:
    """Normalize a plugin name as PEP 503 normalizes distribution names.

    >>> plugin_name("Hello_World")
    'hello-world'
    """
    return PluginName(canonicalize_name(text))
