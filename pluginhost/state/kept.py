"""What a document's entries were made into, kept between two writes and remade only for the
entries that changed.

The registry and the status document list every plugin, and a host rewrites both after each
change. Encoding a thousand entries to change one made a commit cost what the host holds;
comparing each entry with the last one in a Python loop still did, at a smaller rate.
:class:`Kept` finds the changed entries by the identity of the values they are made of,
with :func:`operator.is_not` mapped over two lists: that runs in C, and only the changed
entries run Python code.

Identity is a sound test because the values are frozen: an entry made of the very objects of
the last write makes the same text (or record). A value equal to the last one but made anew is
made again, into an equal result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Set
from itertools import compress
from operator import is_not, or_
from typing import Generic, TypeVar, final

from ..model.pacing import paced

__all__ = ["Kept"]

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


@final
class Kept(Generic[K, V, R]):
    """What the entries of one list in a document were made into, kept from one write to the
    next.

    Owned by the writer of one document; not thread-safe (writes are serialised by the host's
    lock).
    """

    def __init__(self) -> None:
        self._keys: list[K] = []
        self._values: list[V] = []
        self._also: tuple[list[object], ...] = ()
        self._made: list[R] = []
        #: How many entries the last call made (the others were kept): for the tests.
        self.made = 0

    def forget(self) -> None:
        """Let go of what the last call was given and made: the next call makes every entry."""
        self._keys, self._values, self._also, self._made = [], [], (), []

    def results(
        self,
        keys: list[K],
        values: list[V],
        make: Callable[[K, V], R],
        again: Set[K] = frozenset(),
        *,
        also: tuple[list[object], ...] = (),
    ) -> list[R]:
        """The result of each ``(key, value)``, in order: kept, or made with ``make``.

        Give lists that nobody changes later: they are kept for the next call. When the keys
        are those of the last call, in the same order (the usual case: a swap changes a
        plugin's version, not the set of plugins), the values are compared with the last ones
        in place, in C; otherwise by key.

        :param again: keys whose result is made again whatever their value (what it is made
            of besides the value changed).
        :param also: more values per key that ``make`` reads (each list in the order of
            ``keys``): an entry is made again when one of them is not the very object of
            last time either.
        """
        sizes = [len(values), *map(len, also)]
        if any(size != len(keys) for size in sizes):
            raise ValueError(f"{len(keys)} keys for lists of {sizes} values")
        if keys == self._keys and len(also) == len(self._also):
            made = list(self._made)
            flags: Iterator[bool] = map(is_not, values, self._values)
            for column, last in zip(also, self._also, strict=True):
                flags = map(or_, flags, map(is_not, column, last))
            changed = set(compress(range(len(keys)), flags))
            if again:
                changed.update(compress(range(len(keys)), map(again.__contains__, keys)))
            for index in changed:
                made[index] = make(keys[index], values[index])
            self.made = len(changed)
        else:
            made = self._by_key(keys, values, make, again, also)
        self._keys, self._values, self._also, self._made = keys, values, also, made
        return made

    def _by_key(
        self,
        keys: list[K],
        values: list[V],
        make: Callable[[K, V], R],
        again: Set[K],
        also: tuple[list[object], ...],
    ) -> list[R]:
        index = {key: i for i, key in enumerate(self._keys)}
        same_also = len(also) == len(self._also)
        made = []
        self.made = 0
        for i, key in enumerate(paced(keys)):
            last = index.get(key)
            if (
                last is not None
                and key not in again
                and self._values[last] is values[i]
                and same_also
                and all(c[i] is o[last] for c, o in zip(also, self._also, strict=True))
            ):
                made.append(self._made[last])
            else:
                made.append(make(key, values[i]))
                self.made += 1
        return made
