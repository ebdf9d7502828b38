"""How large a value would be once written out as JSON (or by ``repr``), told without writing it.

A plugin's value may share its parts: ``a = []`` then forty times ``a = [a, a]`` is 41 lists in
memory and 2**41 - 1 of them written out, since JSON (and ``repr``) writes a shared part in full
at each place it appears. ``json.dumps`` of it does not end, takes memory without bound, and
runs in C without ever letting another thread have the interpreter lock: a helper's timeout
could not fire, the host froze. So the host measures such a value first (:func:`json_extent`)
and refuses one that would pass :data:`MAX_VALUES` values or :data:`MAX_CHARACTERS` characters.

The walk is a loop (no recursion: the value may be deeper than any stack), visits each part once
(a shared part's size is remembered by its ``id`` and added again at each place it appears) and
stops as soon as a bound is passed: it takes at most about as many steps as the bound on values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from .frozen import frozen

__all__ = ["CYCLE", "MAX_CHARACTERS", "MAX_VALUES", "Extent", "json_extent"]

#: The most values (containers and the scalars in them) a value the host writes out whole may
#: hold once written out: its state saved in the registry, a hook's answer shown by ``repr``.
#: A state of that size already costs a commit about a second (900,000 values: 0.9 s measured,
#: 0.3 s encoded and decoded again), at every commit, in a registry rewritten whole each time.
MAX_VALUES: Final = 1_000_000
#: The most characters such a value may take once written out (32 MiB).
MAX_CHARACTERS: Final = 32 * 1024 * 1024

#: Why a walk stopped when it met a part that contains itself: JSON refuses such a value.
CYCLE: Final = "it contains itself"


@frozen
class Extent:
    """What a value comes to once written out, as far as :func:`json_extent` went.

    :param values: the containers and scalars counted, every place a shared part appears.
    :param characters: a lower bound of the text's length (escapes and spaces only add).
    :param depth: how deep containers nest in it (0 for a scalar), as far as measured.
    :param over: why the walk stopped before the end (a bound passed, :data:`CYCLE`), or
        ``None`` when it measured the whole value.
    """

    values: int
    characters: int
    depth: int
    over: str | None = None


def json_extent(
    value: object,
    *,
    max_values: int = MAX_VALUES,
    max_characters: int = MAX_CHARACTERS,
    as_repr: bool = False,
) -> Extent:
    """Measure ``value`` as ``json.dumps`` would write it out, stopping past either bound.

    Dicts, lists and tuples (and their subclasses) are walked as JSON walks them; any other
    value is one value of its own (JSON refuses what it cannot write; that is not measured here).

    :param as_repr: measure it as ``repr`` writes it out instead: sets, frozensets and dict keys
        are walked too, and a part met again inside itself is written ``[...]``, not refused.
    """
    walk = _Walk(max_values, max_characters, as_repr)
    return walk.run(value)


# A lower bound of what a scalar takes as JSON, when it is no string or int: True and None four
# characters, a float ("0.0", "nan") three, anything else (JSON refuses it) none.
_SCALAR_TEXT: Final = {bool: 4, type(None): 4, float: 3}


def _scalar_text(value: object) -> int:
    """A lower bound of the characters ``value`` (no container) takes written out. A subclass's
    own methods are not called: the encoders do not call them either."""
    if isinstance(value, str):
        return str.__len__(value) + 2
    if isinstance(value, int) and not isinstance(value, bool):
        # At least 0.3 digit a bit: an int of a million digits is measured without the
        # quadratic conversion to text that JSON would refuse anyway.
        return max(1, (int.bit_length(value) - 1) * 3 // 10 + 1)
    return _SCALAR_TEXT.get(type(value), 0)


def _stored(value: object) -> tuple[list[object], int]:
    """The parts of a container as ``repr`` writes them: what its builtin type stores (a
    subclass's methods are not called, as the builtin ``repr`` does not call them either), and
    the text around them."""
    parts: list[object]
    if isinstance(value, dict):
        parts = [part for item in dict.items(value) for part in item]
    elif isinstance(value, list):
        parts = list.copy(value)
    elif isinstance(value, tuple):
        parts = list(tuple.__iter__(value))
    elif isinstance(value, set):
        parts = list(set.__iter__(value))
    else:
        parts = list(frozenset.__iter__(value))  # type: ignore[arg-type]
    return parts, 2 + max(len(parts) - 1, 0)


class _Frame:
    """A container being walked: its containers still to come, the totals when it began, and
    the deepest nesting among its parts so far."""

    __slots__ = ("characters", "container", "deepest", "nested", "values")

    def __init__(self, container: object, nested: Iterator[object], values: int, chars: int):
        self.container = container
        self.nested = nested
        self.values = values
        self.characters = chars
        self.deepest = 0


class _Walk:
    """One measure: running totals of what the value comes to, the parts counted so far."""

    def __init__(self, max_values: int, max_characters: int, as_repr: bool) -> None:
        self.max_values = max_values
        self.max_characters = max_characters
        self.as_repr = as_repr
        self.containers: tuple[type, ...] = (
            (dict, list, tuple, set, frozenset) if as_repr else (dict, list, tuple)
        )
        self.values = 0
        self.characters = 0
        # id -> (the part, its values, characters and depth). The part is kept so that its id
        # is not reused by another object while the walk runs (a dict subclass's items() may
        # make new objects at each call).
        self.sizes: dict[int, tuple[object, int, int, int]] = {}
        self.stack: list[_Frame] = []
        self.open: set[int] = set()
        # repr writes a part met inside itself as "[...]": what a part then comes to depends on
        # the path to it, so no size is remembered once that happened.
        self.remember = True
        self.depth = 0

    def run(self, value: object) -> Extent:
        over = self._add(value)
        while over is None and self.stack:
            frame = self.stack[-1]
            part = next(frame.nested, _END)
            if part is _END:
                self._close(frame)
            else:
                over = self._add(part)
        return Extent(self.values, self.characters, self.depth, over)

    def _add(self, value: object) -> str | None:
        """Count ``value``: a scalar at once, a container's own text and scalars now and the
        containers in it later."""
        if not isinstance(value, self.containers):
            return self._count(1, _scalar_text(value))
        key = id(value)
        known = self.sizes.get(key)
        if known is not None:
            self._reached(known[3])
            return self._count(known[1], known[2])
        if key in self.open:
            if not self.as_repr:
                return CYCLE
            self.remember = False
            return self._count(1, 5)
        return self._open(value, key)

    def _open(self, value: object, key: int) -> str | None:
        """Count a container met for the first time: its own text and scalars now, and a frame
        for the containers in it, if any."""
        parts, text = self._parts(value)
        if self.values + 1 + len(parts) > self.max_values:
            # Each part is one value at least: a long list is refused before it is looked at.
            return self._count(1 + len(parts), text)
        nested = [p for p in parts if isinstance(p, self.containers)]
        if not nested:
            # Nothing below it: counted at once, without a frame (most containers of a large
            # value); met again, it is counted again, at most once per value it adds.
            self._reached(1)
            return self._count(1 + len(parts), text + sum(map(_scalar_text, parts)))
        if len(nested) < len(parts):
            scalars = [p for p in parts if not isinstance(p, self.containers)]
            text += sum(map(_scalar_text, scalars))
        self.stack.append(_Frame(value, iter(nested), self.values, self.characters))
        self.open.add(key)
        return self._count(1 + len(parts) - len(nested), text)

    def _parts(self, value: object) -> tuple[list[object], int]:
        """The parts of a container, taken at once (another thread may change it meanwhile),
        and the text it takes around them."""
        if self.as_repr:
            return _stored(value)
        if isinstance(value, dict):
            # As JSON reads a dict: by its items() (a subclass's own, if it has one).
            items = list(value.items())
            text = 2 + 2 * len(items) - (1 if items else 0)
            text += sum(map(_scalar_text, [k for k, _ in items]))
            return [v for _, v in items], text
        parts = list(value)  # type: ignore[call-overload]
        return parts, 2 + max(len(parts) - 1, 0)

    def _close(self, frame: _Frame) -> None:
        self.stack.pop()
        key = id(frame.container)
        self.open.discard(key)
        depth = frame.deepest + 1
        self._reached(depth)
        if self.remember:
            values = self.values - frame.values
            characters = self.characters - frame.characters
            self.sizes[key] = (frame.container, values, characters, depth)

    def _reached(self, depth: int) -> None:
        """Note a part of ``depth`` levels of nesting in the container being walked."""
        if self.stack:
            self.stack[-1].deepest = max(self.stack[-1].deepest, depth)
        self.depth = max(self.depth, depth)

    def _count(self, values: int, characters: int) -> str | None:
        self.values += values
        self.characters += characters
        if self.values > self.max_values:
            return f"it holds more than {self.max_values:,} values once written out"
        if self.characters > self.max_characters:
            return f"it takes more than {self.max_characters:,} characters once written out"
        return None


_END: Final = object()
