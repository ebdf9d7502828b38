"""The header fields of an installed distribution's core metadata (``METADATA``, ``PKG-INFO``),
read without the email parser, by the email parser's rules.

``importlib.metadata``'s ``dist.metadata`` runs the email parser over the whole file, long
description included, each time it is asked: about 80 us a distribution, at every start. What
discovery and the shared dependencies need (the name, the version, ``Requires-Dist``) sits in
the header lines. They are read here as the email parser reads them (``compat32``, as a
wheel's METADATA is validated, ``discover/metadata.py``), so that a distribution's
requirements are the same whichever read them:

- a line ends at ``\\r\\n``, ``\\r`` or ``\\n`` only (``str.splitlines`` also ends one at a form
  feed, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``: a folded GPL text's form feed then ended the
  headers before ``Requires-Dist``, and a ``\\u2028`` in a summary made a requirement);
- a line starting with a space or a tab continues the field before it (a long field, never
  one read here: skipped);
- the headers end at the first empty line, or at the first line that is not a header: a name
  of printable ASCII without a space, then a colon (``Requires-Dist : x`` is not one);
- an mbox ``From`` line is passed over.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["core_headers"]

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
#: A header line's name and colon, as the email parser's ``headerRE`` takes them.
_NAME: Final = re.compile(r"[\x21-\x39\x3b-\x7e]*:")


def core_headers(text: str) -> dict[str, list[str]]:
    """Each header field's values, by lower-cased name, in the order they come."""
    fields: dict[str, list[str]] = {}
    for line in _LINE_END.split(text):
        if not line:
            break
        if line[0] in " \t" or line.startswith("From "):
            continue
        name = _NAME.match(line)
        if name is None:
            break
        key = line[: name.end() - 1].lower()
        fields.setdefault(key, []).append(line[name.end() :].strip(" \t"))
    return fields
