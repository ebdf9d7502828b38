"""The messages between the host and a worker process, and their codec.

MessagePack through msgspec, never pickle in either direction: a worker can only send values
(``None``, booleans, numbers, strings, bytes, lists, maps), never objects that run code when
read. Each message is a tagged :class:`msgspec.Struct` encoded as an array; a frame on the
socket is a 4-byte big-endian length followed by the encoded message.

A value crosses if it is made of ``None``, ``bool``, ``int`` (64-bit), ``float``, ``str``
(that UTF-8 encodes: no lone surrogate), ``bytes``, and lists, tuples and dicts (string keys) of
those. Tuples come back as lists. :func:`uncarried` finds the part of a value that cannot cross,
so that the error names it, and :func:`only_values` tells whether a result the host decoded holds
only those (a worker writing raw frames can send more than its encoder does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Union

import msgspec

from ..model.exception_text import describe_exception, safe_repr, type_name
from ..state.frames import HEADER, MAX_FRAME, frame

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "Call",
    "Failure",
    "FrameTooLargeError",
    "Hello",
    "HookMsg",
    "LimitsMsg",
    "LoadFailed",
    "Message",
    "Ready",
    "Result",
    "SpecMsg",
    "Stopping",
    "UnencodableError",
    "decoder",
    "encoded",
    "encoder",
    "frame",
    "only_values",
    "uncarried",
]

#: Raised whenever the messages change shape: a worker of another version is refused.
PROTOCOL_VERSION = 2


class FrameTooLargeError(ValueError):
    """A message encodes past the largest frame a peer accepts."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"a message of {size} bytes is past the limit of {MAX_FRAME}")


class UnencodableError(ValueError):
    """The encoder refused a message. Its values passed :func:`uncarried` before it was
    made, so one changed since: another thread's doing (a caller's, or a plugin's own).

    :param error: what the encoder raised.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(f"the encoder refused it: {describe_exception(error)}")


class LimitsMsg(msgspec.Struct, array_like=True):
    memory_mb: int | None = None
    cpu_cores: int | None = None
    threads: int | None = None
    open_files: int | None = None
    call_timeout_s: float | None = None


class SpecMsg(msgspec.Struct, array_like=True):
    plugin: str
    project_name: str
    group: str
    entry_points: list[tuple[str, str]]
    #: File system paths go as bytes (``os.fsencode``): a home whose path is not UTF-8 gives a
    #: str with lone surrogates, which the codec cannot carry as text.
    paths: list[bytes]
    limits: LimitsMsg
    #: The cgroup v2 directory the host made for this worker, which it joins; None: rlimits.
    cgroup: bytes | None = None


class HookMsg(msgspec.Struct, array_like=True):
    name: str
    specname: str | None
    argnames: list[str]
    tryfirst: bool
    trylast: bool
    optionalhook: bool
    entry_point: str


class Hello(msgspec.Struct, tag="hello", array_like=True):
    """Host to worker first (with the spec), then worker to host (echoing the secret)."""

    version: int
    secret: bytes
    spec: SpecMsg | None = None


class Ready(msgspec.Struct, tag="ready", array_like=True):
    pid: int
    hooks: list[HookMsg]
    #: How each limit is enforced (``memory_mb: RLIMIT_AS``), for status and reports.
    enforced: list[str]


class LoadFailed(msgspec.Struct, tag="load_failed", array_like=True):
    reason: str
    traceback: str
    limit: str | None = None


class Call(msgspec.Struct, tag="call", array_like=True):
    """``op`` is ``hook``, ``ping``, ``export_state`` or ``import_state``."""

    id: int
    op: str
    name: str
    entry_point: str | None
    kwargs: dict[str, Any]


class Result(msgspec.Struct, tag="result", array_like=True):
    id: int
    value: Any


class Failure(msgspec.Struct, tag="failure", array_like=True):
    """``kind``: ``remote`` (plugin code raised), ``codec`` (the result cannot cross; then
    ``argument`` says where), ``call`` (no such hook), ``limit`` (a limit was hit: the worker
    stops after sending it; ``type_name`` is then the limit). The host makes one of kind
    ``heavy`` for a result too large to decode (:mod:`pluginhost.proc.weigh`)."""

    id: int
    kind: str
    type_name: str
    message: str
    traceback: str
    builtin: bool = False
    argument: str | None = None


class Stopping(msgspec.Struct, tag="stopping", array_like=True):
    """The worker hit a limit outside a call and is about to exit."""

    limit: str
    reason: str


Message = Union[Hello, Ready, LoadFailed, Call, Result, Failure, Stopping]  # noqa: UP007


def encoder() -> msgspec.msgpack.Encoder:
    """An encoder for :data:`Message` values (one per side, made once)."""
    return msgspec.msgpack.Encoder()


def decoder() -> msgspec.msgpack.Decoder[Any]:
    """A decoder that accepts only :data:`Message` values."""
    return msgspec.msgpack.Decoder(Message)


#: What msgspec's encoder raises for a value it cannot encode: ``TypeError`` (a type),
#: ``UnicodeEncodeError`` (a lone surrogate), ``OverflowError`` (an int past 64 bits),
#: ``RecursionError`` (too deep), ``msgspec.EncodeError``, and ``RuntimeError`` for a dict or
#: list changed while it was read.
_ENCODER_ERRORS = (TypeError, ValueError, ArithmeticError, RuntimeError, msgspec.EncodeError)


def encoded(encode: Callable[[object], bytes], message: object) -> bytes:
    """``message`` encoded with ``encode`` (an :func:`encoder`'s), checked against the
    largest frame: how each side sends.

    :raises UnencodableError: the encoder refused it.
    :raises FrameTooLargeError: it encodes past :data:`MAX_FRAME`.
    """
    try:
        payload = encode(message)
    except _ENCODER_ERRORS as e:
        raise UnencodableError(e) from e
    if len(payload) > MAX_FRAME:
        raise FrameTooLargeError(len(payload))
    return payload


_SCALARS = (type(None), bool, int, float, str, bytes)
_INT_RANGE = (-(2**63), 2**64 - 1)


def uncarried(value: object, where: str) -> tuple[str, str] | None:
    """The first part of ``value`` that cannot cross, as ``(place, type name)``; None if all can.

    A value nested past the interpreter's recursion limit, or one that holds itself, cannot
    cross either (it raised ``RecursionError`` to the hook's caller), nor can a dict that
    another thread changes as it is read. Only exact built-in types are looked into, and the
    others are named without running their code (:func:`type_name`, :func:`safe_repr`): a
    plugin's ``__repr__`` that raised ended the worker, and reached the host's caller as it was.

    :param where: the name of ``value`` (an argument's name, ``result``), the root of the place.
    """
    try:
        return _uncarried(value, where)
    except RecursionError:
        return (where, f"{type_name(type(value))} nested too deeply or holding itself")
    except RuntimeError:  # "dictionary changed size during iteration": another thread's doing
        return (where, f"{type_name(type(value))} changed by another thread as it was read")


def _uncarried(value: object, where: str) -> tuple[str, str] | None:
    kind = type(value)
    if kind is str:
        # isascii answers in constant time, and most strings are ASCII: only others are encoded.
        text: str = value  # type: ignore[assignment]
        bad = None if text.isascii() else _unencodable(text)
        return None if bad is None else (where, bad)
    if kind is float or kind is bool or value is None or kind is bytes:
        return None
    if kind is int:
        in_range = _INT_RANGE[0] <= value <= _INT_RANGE[1]  # type: ignore[operator]
        return None if in_range else (where, "int (past 64 bits)")
    if kind is list or kind is tuple:
        items: Iterable[object] = value  # type: ignore[assignment]
        return _first(_uncarried(item, f"{where}[{i}]") for i, item in enumerate(items))
    if kind is dict:
        entries: dict[object, object] = value  # type: ignore[assignment]
        return _first(_entry(key, item, where) for key, item in entries.items())
    return (where, type_name(kind))


def _entry(key: object, item: object, where: str) -> tuple[str, str] | None:
    if type(key) is not str:
        return (f"{where} key {safe_repr(key)}", type_name(type(key)))
    if not key.isascii() and (bad := _unencodable(key)) is not None:
        return (f"{where} key {key!r}", bad)
    return _uncarried(item, f"{where}[{key!r}]")


def _unencodable(text: str) -> str | None:
    """None if UTF-8 encodes ``text``; else why not, as the type that cannot cross.

    A lone surrogate cannot be encoded, and ``os.fsdecode`` (``os.listdir``, ``sys.argv``) makes
    one of each byte of a file name that is not UTF-8: routine, so named, not left to the
    encoder (its ``UnicodeEncodeError`` reached the caller, and ended the worker it escaped in).
    """
    try:
        text.encode()
    except UnicodeEncodeError as e:
        # repr escapes the surrogate, so the error that names it can cross and be printed.
        return f"str (not UTF-8: surrogate {text[e.start]!r} at index {e.start})"
    return None


def _first(found: Iterable[tuple[str, str] | None]) -> tuple[str, str] | None:
    return next((f for f in found if f is not None), None)


_PLAIN: Final = frozenset((type(None), bool, int, float, str, bytes))
#: The first bytes of a map (fixmap, map 16, map 32) and of an extension value (ext 8 to 32,
#: fixext 1 to 16; a timestamp is one): what makes the decoder build a key that is not a string,
#: an ``Ext`` or a ``datetime``. A payload without any of these bytes holds none of them.
_MAPS_OR_EXTENSIONS: Final = re.compile(rb"[\x80-\x8f\xc7-\xc9\xd4-\xd8\xde\xdf]")


def only_values(value: object, payload: bytes) -> bool:
    """Whether ``value``, decoded from ``payload`` (a message from a worker), is made only of
    what crosses, each of exactly its built-in type.

    msgspec decodes more than the worker's encoder sends, and a worker can write raw frames: an
    extension value (``msgspec.msgpack.Ext``), a timestamp (``datetime.datetime``), a map keyed
    by ints or arrays (tuples). Its typed unions can say neither "str or bytes" nor a value
    that nests, so the decoded value is looked at instead, unless a search in C finds no map
    and no extension in the payload (a scalar, a list of strings or numbers: most results).
    The look is a loop, not a recursion: whatever msgspec decoded is looked at whole.
    """
    if type(value) in _PLAIN or _MAPS_OR_EXTENSIONS.search(payload) is None:
        return True
    pending = [value]
    more, plain = pending.append, _PLAIN
    while pending:
        container = pending.pop()
        if type(container) is dict:
            for key, item in container.items():
                if type(key) is not str:
                    return False
                if type(item) not in plain:
                    more(item)
        elif type(container) is list:
            for item in container:
                if type(item) not in plain:
                    more(item)
        else:
            return False
    return True
