"""Bounds on the text the home's documents keep: no field of a wheel can make them grow without end.

A refusal reason quotes what it refuses, and a wheel may carry a 4 MB ``Requires-Dist``: kept
whole, each audit line and each status document would carry those megabytes (the status document
three times over). A longer text keeps its beginning and says how much was cut and the sha256 of
the whole, so the cut text can still be matched with its source.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

__all__ = ["FIELD_LIMIT", "bound_strings", "bound_text"]

#: The most characters a field of an audit line or of the status document keeps.
FIELD_LIMIT: Final = 2048


def bound_text(text: str, limit: int = FIELD_LIMIT) -> str:
    """``text``, or its first ``limit`` characters and a note of what was cut.

    >>> bound_text("x" * 10, 4)[:60]
    'xxxx… [6 more characters cut; sha256 of the whole fc11d6f28e'
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    cut = len(text) - limit
    return f"{text[:limit]}… [{cut} more characters cut; sha256 of the whole {digest}]"


def bound_strings(data: Any, limit: int = FIELD_LIMIT) -> Any:
    """JSON data with every string in it, keys included, bounded by :func:`bound_text`.

    Short strings and numbers are kept without a call each: a status document of hundreds of
    plugins holds thousands of them, and this runs at every change.
    """
    if isinstance(data, str):
        return bound_text(data, limit)
    if isinstance(data, dict):
        return {
            (k if type(k) is str and len(k) <= limit else bound_text(str(k), limit)): (
                v
                if type(v) in _KEPT or (type(v) is str and len(v) <= limit)
                else bound_strings(v, limit)
            )
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [
            v
            if type(v) in _KEPT or (type(v) is str and len(v) <= limit)
            else bound_strings(v, limit)
            for v in data
        ]
    return data


# Values kept as they are: nothing in them can grow.
_KEPT: Final = frozenset({int, float, bool, type(None)})
