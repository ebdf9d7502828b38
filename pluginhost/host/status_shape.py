"""The shape of the status document, checked where another process reads it.

``status.json`` is checksummed, not signed: a document written by another version, or by hand
with a fresh checksum, parses. Every reader (``list``, ``status``, ``graph``, ``doctor``, the
snapshot) indexes it as :mod:`.statusdoc` writes it, so a field of another type ended them in an
internal error (a ``KeyError``, an ``OverflowError`` from a time of 1e300). A document that
fails :func:`check_status` is read as an unreadable one is: named, and the registry shown.

>>> check_status({"updated": 1e300, "plugins": {}})
Traceback (most recent call last):
...
ValueError: $.updated: 1e+300 is not a time
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ..model.limits import ResourceLimits
from ..model.problems import ProblemKind
from ..model.status import PluginState

__all__ = ["check_status"]

#: Checks one value at a path (``$.plugins.hello.state``); raises ValueError saying why not.
Check = Callable[[Any, str], None]

#: The latest time a reader formats (9999-12-31 UTC): ``time.localtime`` overflows past it.
_LATEST: Final = 253402300799.0


def check_status(data: Any) -> None:
    """:raises ValueError: when ``data`` is not shaped as :mod:`.statusdoc` writes it,
    naming the first field that is not."""
    _DOCUMENT(data, "$")


def _is(*types: type) -> Check:
    # The exact type: JSON's true is no count, nor a pid.
    def check(value: Any, where: str) -> None:
        if type(value) not in types:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"{where}: {type(value).__name__} where {names} belongs")

    return check


def _list(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        _LIST(value, where)
        for i, element in enumerate(value):
            item(element, f"{where}[{i}]")

    return check


def _map(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        _OBJECT(value, where)
        for key, element in value.items():
            item(element, f"{where}.{key}")

    return check


def _object(required: Mapping[str, Check], optional: Mapping[str, Check] = {}) -> Check:
    """An object with the ``required`` fields, and the ``optional`` ones when present (the
    fields a reader takes with ``.get``); other fields are left to newer readers."""

    def check(value: Any, where: str) -> None:
        _OBJECT(value, where)
        for key, field in required.items():
            if key not in value:
                raise ValueError(f"{where}: no {key!r}")
            field(value[key], f"{where}.{key}")
        for key, field in optional.items():
            if key in value:
                field(value[key], f"{where}.{key}")

    return check


def _one_of(values: frozenset[str], what: str) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str) or value not in values:
            raise ValueError(f"{where}: {value!r:.80} is not {what}")

    return check


def _time(value: Any, where: str) -> None:
    _NUMBER(value, where)
    if not 0 <= value <= _LATEST:
        raise ValueError(f"{where}: {value!r} is not a time")


def _limits(value: Any, where: str) -> None:
    if value is None:
        return
    _OBJECT(value, where)
    try:
        ResourceLimits(**value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


_LIST: Final = _is(list)
_OBJECT: Final = _is(dict)
_NUMBER: Final = _is(int, float)
_TEXT: Final = _is(str)
_MAYBE_TEXT: Final = _is(str, type(None))
_MAYBE_COUNT: Final = _is(int, type(None))
_NAMES: Final = _list(_TEXT)
_CONSTRAINTS: Final = _map(_TEXT)

_HISTORY: Final = _object(
    {"version": _TEXT, "outcome": _TEXT, "time": _time},
    {"sha256": _MAYBE_TEXT, "error": _MAYBE_TEXT},
)

_PLUGIN: Final = _object(
    {
        "name": _TEXT,
        "version": _TEXT,
        "state": _one_of(frozenset(s.value for s in PluginState), "a plugin state"),
        "origin": _TEXT,
        "distribution": _TEXT,
        "requires": _CONSTRAINTS,
        "optional": _CONSTRAINTS,
    },
    {
        "site_dir": _MAYBE_TEXT,
        "sha256": _MAYBE_TEXT,
        "error": _MAYBE_TEXT,
        "pinned": _is(bool),
        "entry_points": _NAMES,
        "isolation": _TEXT,
        "pid": _MAYBE_COUNT,
        "restarts": _is(int),
        "limits": _limits,
        "quarantined": _is(bool),
        "history": _list(_HISTORY),
        "backups": _NAMES,
    },
)

_REQUIREMENT: Final = _object(
    {
        "plugin": _TEXT,
        "version": _TEXT,
        "requires": _TEXT,
        "constraint": _TEXT,
        "available": _NAMES,
    },
    {"chosen": _MAYBE_TEXT},
)


def _maybe_requirement(value: Any, where: str) -> None:
    if value is not None:
        _REQUIREMENT(value, where)


_PROBLEM: Final = _object(
    {
        "kind": _one_of(frozenset(k.value for k in ProblemKind), "a kind of problem"),
        "plugin": _MAYBE_TEXT,
        "message": _TEXT,
    },
    {
        "involved": _NAMES,
        "version": _MAYBE_TEXT,
        "path": _MAYBE_TEXT,
        "requirement": _maybe_requirement,
    },
)

# doctor names the plugin of an event whose error tells of leaked modules.
_EVENT: Final = _object({"plugin": _MAYBE_TEXT}, {"error": _MAYBE_TEXT})

_DOCUMENT: Final = _object(
    {"updated": _time},
    {
        "pid": _MAYBE_COUNT,
        "load_order": _NAMES,
        "plugins": _map(_PLUGIN),
        "problems": _list(_PROBLEM),
        "events": _list(_EVENT),
    },
)
