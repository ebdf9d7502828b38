"""Values that cannot cross to or from a worker process, told as the host's
:class:`~pluginhost.CodecError`: found by the check before a call is sent, refused by the
encoder as it is sent, or a result too heavy to take.

The check (:func:`checked`) looks at the very dict that is then sent, so that a mapping read
twice cannot hand the encoder other values than it showed the check. What another thread
changes between the check and the encoder is the encoder's to find (:func:`unsent`): either
way the caller gets a ``CodecError`` naming the plugin and the hook, and the worker, which
never received the call, goes on serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.errors import CodecError
from .messages import UnencodableError, uncarried

__all__ = ["checked", "codec_error", "unsent"]

#: What crosses, as errors say it.
_CROSSES = (
    "None, bool, int of 64 bits, float, str, bytes, and lists, tuples and str-keyed dicts of them"
)


def checked(plugin: str, hook: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` copied into the dict to send, each argument checked.

    :raises CodecError: an argument, or a part of one, cannot cross.
    """
    arguments = dict(kwargs)
    for argument, value in arguments.items():
        found = uncarried(value, argument)
        if found is not None:
            raise codec_error(plugin, hook, *found)
    return arguments


def codec_error(plugin: str, hook: str, place: str, type_name: str, heavy: str = "") -> CodecError:
    """The error of a value that cannot cross, or of a result too ``heavy`` to decode.

    :param place: where the value is: an argument's name (with the place inside it), or
        ``result``.
    """
    side = "returned" if place.startswith("result") else "passed"
    reason = (
        f"hook {hook!r} {side} {place} of type {type_name}, which cannot cross to or from"
        f" a worker process ({_CROSSES} can)"
    )
    if heavy:
        reason = f"hook {hook!r} returned a result too large to take in the host: {heavy}"
    return CodecError(reason, plugin=plugin, hook=hook, argument=place, type_name=type_name)


def unsent(
    plugin: str, hook: str, arguments: dict[str, Any], error: UnencodableError
) -> CodecError:
    """The error of a call the encoder refused (``error``), though its ``arguments`` passed
    :func:`checked`: another thread changed one of them since. A second look names the place
    and the type when the change is still there."""
    found = next(filter(None, (uncarried(v, k) for k, v in arguments.items())), None)
    # Not found: the value changed back since; which one it was is not known.
    place, type_name = found or ("the arguments", "")
    passed = f"{place} of type {type_name}" if found else "an argument"
    reason = (
        f"hook {hook!r} was passed {passed}, which changed after it was checked (another"
        f" thread's doing) and cannot cross to a worker process: {error}; the call was not"
        " sent"
    )
    return CodecError(reason, plugin=plugin, hook=hook, argument=place, type_name=type_name)
