"""Plugin names: one normalized spelling, so ``Hello_World`` and ``hello-world`` are one plugin."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NewType, cast

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

PluginName = NewType("PluginName", str)

_RUNS: Final = re.compile(r"-{2,}")
#: What a plugin's name may be, as a manifest or an entry point gives it (before normalizing).
VALID_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Why a name that :data:`VALID_NAME` refuses is refused, in words.
NAME_RULE: Final = (
    "use at most 100 letters, digits, '-', '_' and '.', starting with a letter or digit"
)


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


def name_fault(text: str) -> str | None:
    """Why ``text`` cannot name a plugin (every plugin's name passed :data:`VALID_NAME`), or
    ``None``; the text is shown escaped and cut to 60 characters, whatever it holds.

    >>> name_fault("hello_world") is None
    True
    >>> name_fault("../x").split(":")[0]
    "'../x' is not a plugin name"
    """
    if VALID_NAME.fullmatch(text):
        return None
    shown = repr(text if len(text) <= 60 else text[:60] + "...")
    return f"{shown} is not a plugin name: {NAME_RULE}"
