"""``frozen``: :func:`attrs.frozen`, with equality, hashing and ``repr`` shared by every class.

attrs writes those three methods as source text for each class and compiles it. Over the
hundred value classes a host imports, that compiling was a sixth of what
``from pluginhost import PluginHost`` cost (205 ms against 174 ms with the methods shared,
medians of six interleaved runs, Python 3.11). The methods here read the same attrs field
flags when the class is made (``eq``, ``hash``, ``repr`` with its callable form) and behave
alike:

- ``==`` holds between instances of the very same class whose compared fields are equal, and
  is ``NotImplemented`` otherwise;
- the hash is that of the class's seed and the hashed fields, so equal values hash alike;
- ``repr`` is ``Name(field=value, ...)`` over the shown fields.

A class that asks for ``eq=False`` keeps identity equality, and one that asks for
``repr=False`` keeps the repr it inherits, and a class's own ``__repr__``, ``__eq__`` or
``__hash__`` stays, as with attrs. A class asking for ``cache_hash``
(its hash lives in a slot that attrs manages), ``order`` or its own hashing is attrs' alone.
For the type checker ``frozen`` *is* :func:`attrs.frozen`, so its attrs plugin types the
classes as it always did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["frozen"]

if TYPE_CHECKING:
    from attrs import frozen
else:
    from collections.abc import Callable
    from operator import attrgetter
    from typing import Any

    import attrs

    def frozen(maybe_cls: type | None = None, **options: Any) -> Any:
        """:func:`attrs.frozen` with the shared methods, bare or with options."""
        if options.keys() & _ATTRS_ALONE:
            return attrs.frozen(maybe_cls, **options)
        given = dict(options)
        eq = options.pop("eq", True)
        show = options.pop("repr", True)

        def wrap(cls: type) -> type:
            own = vars(cls)
            if "__eq__" in own or "__hash__" in own:
                # attrs keeps a class's own equality or hash and decides the rest around it.
                return attrs.frozen(cls, **given)
            made = attrs.frozen(cls, eq=False, repr=False, **options)
            fields = attrs.fields(made)
            if eq:
                _add_equality(made, fields)
            if show and "__repr__" not in own:  # a class's own repr stays, as with attrs
                made.__repr__ = _repr_of(fields)
            return made

        return wrap if maybe_cls is None else wrap(maybe_cls)

    #: Options whose methods only attrs makes.
    _ATTRS_ALONE = frozenset({"cache_hash", "order", "hash", "unsafe_hash"})

    def _values(names: list[str]) -> Callable[[object], tuple[object, ...]]:
        """The named fields of an instance as a tuple, read in C (one name is no exception)."""
        if len(names) > 1:
            return attrgetter(*names)
        if names:
            single = attrgetter(names[0])
            return lambda instance: (single(instance),)
        return lambda instance: ()

    def _add_equality(cls: type, fields: tuple[attrs.Attribute[Any], ...]) -> None:
        compared = _values([field.name for field in fields if field.eq])
        hashed = _values(
            [field.name for field in fields if field.hash or (field.hash is None and field.eq)]
        )
        # Two classes with equal fields hash apart, as attrs makes them.
        seed = hash(f"{cls.__module__}.{cls.__qualname__}")

        def equal(self: object, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return compared(self) == compared(other)

        def hash_of(self: object) -> int:
            return hash((seed, hashed(self)))

        # object.__ne__ answers from __eq__.
        cls.__eq__ = equal
        cls.__hash__ = hash_of

    def _repr_of(fields: tuple[attrs.Attribute[Any], ...]) -> Callable[[object], str]:
        shown = [
            (field.name, repr if field.repr is True else field.repr)
            for field in fields
            if field.repr is not False
        ]

        def text(self: object) -> str:
            # The qualified name past any "<locals>.", as attrs shows it.
            name = self.__class__.__qualname__.rsplit(">.", 1)[-1]
            parts = ", ".join(f"{key}={show(getattr(self, key))}" for key, show in shown)
            return f"{name}({parts})"

        return text
