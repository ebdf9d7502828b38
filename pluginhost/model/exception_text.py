"""The text of an exception raised by plugin code, safe to show, log and send.

``str()`` of a plugin's exception runs the plugin's code: its ``__str__`` may raise anything,
``SystemExit`` included, and its text may hold a lone surrogate (``os.fsdecode`` makes one of
each byte of a file name that is not UTF-8) that no UTF-8 writer takes, neither the codec to
a worker's host nor a log file. Both the host and the worker process describe exceptions
with these functions, so this module imports the standard library only: the worker must not
import what a plugin may bring its own copy of (attrs).
"""

from __future__ import annotations

__all__ = ["describe_exception", "escaped", "exception_text"]


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for an exception raised by plugin code, the type alone when it has no
    text; what UTF-8 cannot encode escaped (:func:`escaped`).

    >>> describe_exception(ValueError("no file caf\\udce9"))
    'ValueError: no file caf\\\\udce9'
    >>> describe_exception(KeyboardInterrupt())
    'KeyboardInterrupt'
    """
    text = exception_text(exc)
    name = escaped(type(exc).__name__)
    return f"{name}: {text}" if text else name


def exception_text(exc: BaseException) -> str:
    """``str(exc)`` escaped, or ``<str() raised Type>`` when the exception's ``__str__`` raised
    (whatever it raised: the caller must hear of every error a plugin raises)."""
    try:
        text = str(exc)
    except BaseException as inner:  # plugin code, even a SystemExit from its __str__
        return f"<str() raised {escaped(type(inner).__qualname__)}>"
    return escaped(text)


def escaped(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (a lone surrogate) escaped as ``\\udce9``.

    >>> escaped("caf\\udce9")
    'caf\\\\udce9'
    """
    # str.encode, not text.encode: a plugin's __str__ may return a subclass with an encode of
    # its own. The result is an exact str whatever came in.
    return str.encode(text, "utf-8", "backslashreplace").decode("utf-8")
