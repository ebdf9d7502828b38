"""The fields of a stored document's object, each taken at its type.

A document is checksummed, not signed: one written by hand, or by another version, parses with
fields of any type. Taken as they came (a sha256 that is a list, a ``Requires-Dist`` that is a
number), they failed far from the read, as untyped errors out of a host's start. Each helper
raises :class:`TypeError` naming the field, which the document's reader turns into its own
error (the registry's: ``registry is not readable``).

>>> text({"sha256": []}, "sha256")
Traceback (most recent call last):
...
TypeError: sha256 must be a string, not list
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["array", "flag", "maybe_text", "obj", "text", "texts"]


def obj(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` when it is an object (a JSON one: string keys)."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be an object, not {_kind(value)}")
    return value


def text(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """``data[key]`` (``default`` when absent, if given), a string."""
    value = data[key] if default is None else data.get(key, default)
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, not {_kind(value)}")
    return value


def maybe_text(data: Mapping[str, Any], key: str) -> str | None:
    """``data[key]``, a string or null."""
    return None if data[key] is None else text(data, key)


def array(data: Mapping[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    """``data[key]`` (``default`` when absent, if given), a list."""
    value = data[key] if default is None else data.get(key, default)
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list, not {_kind(value)}")
    return value


def texts(data: Mapping[str, Any], key: str, default: list[str] | None = None) -> tuple[str, ...]:
    """``data[key]`` (``default`` when absent, if given), a list of strings."""
    value = array(data, key, default)
    if not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} must be a list of strings")
    return tuple(value)


def flag(data: Mapping[str, Any], key: str) -> bool:
    """``data[key]``, a boolean; false when absent (written only when true, by older
    versions)."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
