"""The header fields of an installed distribution's core metadata (``METADATA``, ``PKG-INFO``),
read without the email parser.

``importlib.metadata``'s ``dist.metadata`` runs the email parser over the whole file, long
description included, each time it is asked: about 80 us a distribution, at every start. What
discovery and the shared dependencies need (the name, the version, ``Requires-Dist``) sits in
the header lines, which end at the first empty line.
"""

from __future__ import annotations

__all__ = ["core_headers"]


def core_headers(text: str) -> dict[str, list[str]]:
    """Each header field's values, by lower-cased name, in the order they come.

    Continuation lines (leading whitespace) belong to long fields (``Description``,
    ``License``) that no caller reads: they are skipped, as is a line without a colon.
    """
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line:
            break
        key, colon, value = line.partition(":")
        if colon and not line[0].isspace():
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    return fields
