"""Plugin names: one normalized spelling, so ``Hello_World`` and ``hello-world`` are one plugin."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NewType, cast

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

PluginName = NewType("PluginName", str)

_RUNS: Final = re.compile(r"-{2,}")


def canonicalize_name(name: str) -> NormalizedName:
    """A distribution name as PEP 503 normalizes it: each run of ``-``, ``_`` and ``.`` becomes
    one ``-``, in lower case (what ``packaging.utils.canonicalize_name`` gives, without
    importing ``packaging.utils``, which loads ``packaging.tags`` and ``subprocess`` with it).

    >>> canonicalize_name("Hello_World..Two")
    'hello-world-two'
    """
    # str methods first, the pattern only for runs: called for every candidate at every look.
    value = name.lower().replace("_", "-").replace(".", "-")
    if "--" in value:
        value = _RUNS.sub("-", value)
    return cast("NormalizedName", value)


def plugin_name(text: str) -> PluginName:
    """Normalize a plugin name as PEP 503 normalizes distribution names.

    >>> plugin_name("Hello_World")
    'hello-world'
    """
    return PluginName(canonicalize_name(text))


def display_name(plugin: str, distribution: str | None) -> str:
    """A plugin's name for people: its distribution's name, with the plugin's name in brackets
    when it is not the distribution's, since entry-point names such as ``export`` or ``sort``
    say little on their own.

    >>> display_name("export", "datasette-render-binary")
    'datasette-render-binary (export)'
    >>> display_name("pytest-xdist", "pytest_xdist")
    'pytest_xdist'
    >>> display_name("hello", "")
    'hello'
    """
    if not distribution or canonicalize_name(distribution) == plugin:
        return distribution or plugin
    return f"{distribution} ({plugin})"
