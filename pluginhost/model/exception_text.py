"""The text of an exception raised by plugin code, safe to show, log and send.

``str()`` of a plugin's exception runs the plugin's code: its ``__str__`` may raise anything,
``SystemExit`` included, and its text may hold a lone surrogate (``os.fsdecode`` makes one of
each byte of a file name that is not UTF-8) that no UTF-8 writer takes, neither the codec to
a worker's host nor a log file. Both the host and the worker process describe exceptions
with these functions, so this module imports the standard library only: the worker must not
import what a plugin may bring its own copy of (attrs).

A plugin's classes run its code too: a metaclass may make ``__name__`` or ``__qualname__`` a
property that raises, a class may set ``__module__`` to a ``str`` whose ``__eq__`` raises, an
object's ``__repr__`` may raise anything. :func:`type_name`, :func:`builtin_type` and
:func:`safe_repr` read what they need past those, and never raise.
"""

from __future__ import annotations

__all__ = [
    "builtin_type",
    "describe_exception",
    "escaped",
    "exact_str",
    "exception_text",
    "module_name",
    "qualified_name",
    "safe_repr",
    "type_name",
]

#: ``type``'s own descriptors: read through them, a metaclass's property of the same name (or
#: its ``__getattribute__``) is never run.
_NAME = type.__dict__["__name__"]
_QUALNAME = type.__dict__["__qualname__"]
_MODULE = type.__dict__["__module__"]

#: The name of a type that could not be read at all.
UNNAMED = "<unnamed type>"


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for an exception raised by plugin code, the type alone when it has no
    text; what UTF-8 cannot encode escaped (:func:`escaped`).

    >>> describe_exception(ValueError("no file caf\\udce9"))
    'ValueError: no file caf\\\\udce9'
    >>> describe_exception(KeyboardInterrupt())
    'KeyboardInterrupt'
    """
    text = exception_text(exc)
    name = _plain(_NAME, type(exc)) or UNNAMED
    return f"{name}: {text}" if text else name


def exception_text(exc: BaseException) -> str:
    """``str(exc)`` escaped, or ``<str() raised Type>`` when the exception's ``__str__`` raised
    (whatever it raised: the caller must hear of every error a plugin raises)."""
    try:
        text = str(exc)
    except BaseException as inner:  # plugin code, even a SystemExit from its __str__
        return f"<str() raised {_plain(_QUALNAME, type(inner)) or UNNAMED}>"
    return escaped(text)


def type_name(kind: type) -> str:
    """``kind``'s name for people: ``ValueError`` for a builtin, else ``module.Class``, as the
    class itself says it (not a metaclass's property); :data:`UNNAMED` when that cannot be read.

    >>> type_name(ValueError), type_name(type(describe_exception))
    ('ValueError', 'function')
    """
    qualname = _plain(_QUALNAME, kind)
    if qualname is None:
        return UNNAMED
    module = _plain(_MODULE, kind)
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"


def qualified_name(kind: type) -> str:
    """``module.Class`` always (``builtins.ValueError`` too), read as :func:`type_name` reads
    it: what an event's and an answer's ``error_type`` holds.

    >>> qualified_name(ValueError)
    'builtins.ValueError'
    """
    qualname = _plain(_QUALNAME, kind)
    if qualname is None:
        return UNNAMED
    return f"{_plain(_MODULE, kind) or '<unknown module>'}.{qualname}"


def module_name(kind: type) -> str | None:
    """``kind``'s ``__module__`` as the class itself holds it (past a metaclass), an exact
    ``str``; None when it has none that is text, or reading it raised."""
    return _plain(_MODULE, kind)


def builtin_type(kind: type) -> bool:
    """Whether ``kind``'s module is ``builtins`` (an exact ``str`` compared: a ``__module__``
    of the plugin's own ``str`` type is read, never asked to compare itself)."""
    return _plain(_MODULE, kind) == "builtins"


def safe_repr(value: object) -> str:
    """``repr(value)`` escaped (:func:`escaped`), or ``<repr() raised Error: text>`` when the
    ``__repr__`` raised, whatever it raised.

    >>> safe_repr("a"), safe_repr(type("Odd", (), {"__repr__": lambda self: 1 / 0})())
    ("'a'", '<repr() raised ZeroDivisionError: division by zero>')
    """
    try:
        text = repr(value)
    except BaseException as inner:  # plugin code, even a SystemExit from its __repr__
        return f"<repr() raised {describe_exception(inner)}>"
    return escaped(text)


def exact_str(value: object) -> str | None:
    """``value`` as an exact ``str`` when it is one, a subclass of ``str`` copied out without
    running its methods (it may compare or format itself with the plugin's code); else None."""
    # issubclass of two types runs no code of theirs; str.__str__ copies a subclass's text.
    return str.__str__(value) if issubclass(type(value), str) else None


def _plain(descriptor: object, kind: type) -> str | None:
    """The exact ``str`` that ``type``'s ``descriptor`` reads from ``kind`` (:func:`exact_str`,
    what UTF-8 cannot encode escaped), or None: not a str, or reading it raised."""
    try:
        text = exact_str(descriptor.__get__(kind, type(kind)))  # type: ignore[attr-defined]
    except BaseException:  # a type the plugin made past reading: it has no name to give
        return None
    return None if text is None else escaped(text)


def escaped(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (a lone surrogate) escaped as ``\\udce9``.

    >>> escaped("caf\\udce9")
    'caf\\\\udce9'
    """
    # str.encode, not text.encode: a plugin's __str__ may return a subclass with an encode of
    # its own. The result is an exact str whatever came in.
    return str.encode(text, "utf-8", "backslashreplace").decode("utf-8")
