"""``frozen``: attrs.frozen with shared methods behaves as attrs.frozen does."""

from __future__ import annotations

import attrs
import pytest

from pluginhost.model.frozen import frozen


def _pair(**options: object) -> tuple[type, type]:
    """The same class made by attrs and by ``frozen``, with the same options."""

    def body() -> dict[str, object]:
        return {
            "__annotations__": {"a": "int", "b": "str", "hidden": "int", "loose": "dict"},
            "b": attrs.field(default="x", repr=lambda value: value.upper()),
            "hidden": attrs.field(default=0, repr=False, eq=False),
            "loose": attrs.field(factory=dict, hash=False),
        }

    theirs = attrs.frozen(type("Point", (), body()), **options)  # type: ignore[call-overload]
    ours = frozen(type("Point", (), body()), **options)  # type: ignore[call-overload]
    return theirs, ours


class TestFrozen:
    def test_repr_is_the_same(self) -> None:
        """Fields shown, hidden and shown through their own callable, as attrs shows them."""
        theirs, ours = _pair()
        assert repr(ours(1, "y", 5)) == repr(theirs(1, "y", 5)) == "Point(a=1, b=Y, loose={})"

    def test_equality_follows_the_compared_fields(self) -> None:
        """Equal when the compared fields are, whatever a field left out of ``eq`` holds."""
        _, ours = _pair()
        assert ours(1, "y", 5) == ours(1, "y", 6)
        assert ours(1, "y") != ours(2, "y")
        assert ours(1, "y", loose={"k": 1}) != ours(1, "y")

    def test_another_class_is_never_equal(self) -> None:
        """The same fields in another class compare unequal, as with attrs."""
        theirs, ours = _pair()
        assert ours(1) != theirs(1)
        assert ours(1).__eq__(theirs(1)) is NotImplemented
        assert ours(1) != (1, "x", {})

    def test_hash_skips_unhashable_fields_left_out(self) -> None:
        """A field with ``hash=False`` may hold a dict; equal values hash alike."""
        _, ours = _pair()
        assert hash(ours(1, loose={"k": 1})) == hash(ours(1, loose={"k": 2}))
        assert len({ours(1), ours(1), ours(2)}) == 2

    def test_eq_false_keeps_identity(self) -> None:
        """A class asking for ``eq=False`` compares and hashes by identity."""
        _, ours = _pair(eq=False)
        first, second = ours(1), ours(1)
        assert first != second
        assert first == first  # noqa: PLR0124 (identity is the point)
        assert hash(first) == object.__hash__(first)

    def test_repr_false_keeps_the_inherited_repr(self) -> None:
        """A class asking for ``repr=False`` keeps object's repr, as with attrs."""
        _, ours = _pair(repr=False)
        assert repr(ours(1)).startswith("<")

    def test_no_method_is_compiled(self) -> None:
        """Equality, hash and repr are the shared functions, not code attrs compiled."""
        _, ours = _pair()
        for method in (ours.__eq__, ours.__hash__, ours.__repr__):
            assert method.__code__.co_filename == frozen.__code__.co_filename

    def test_still_frozen_and_slotted(self) -> None:
        """The class stays frozen, slotted and usable with attrs' functions."""
        _, ours = _pair(kw_only=True)
        value = ours(a=1)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            value.a = 2
        assert not hasattr(value, "__dict__")
        assert attrs.evolve(value, a=3) == ours(a=3)

    def test_single_and_no_field(self) -> None:
        """One compared field and none at all: still tuples underneath."""
        one = frozen(type("One", (), {"__annotations__": {"a": "int"}}))
        none = frozen(type("Empty", (), {}))
        assert one(1) == one(1) != one(2)
        assert hash(one(1)) == hash(one(1))
        assert none() == none()
        assert repr(none()) == "Empty()"

    def test_cache_hash_is_left_to_attrs(self) -> None:
        """``cache_hash`` classes are attrs' own, with its generated methods."""
        cached = frozen(cache_hash=True)(type("Cached", (), {"__annotations__": {"a": "int"}}))
        assert cached(1) == cached(1)
        assert hash(cached(1)) == hash(cached(1))
        assert "attrs generated" in cached.__eq__.__code__.co_filename

    def test_own_methods_kept(self) -> None:
        """A class's own repr, equality or hash stays, as attrs keeps them."""

        def own_repr(self: object) -> str:
            return "mine"

        def own_eq(self: object, other: object) -> bool:
            return True

        shown = frozen(type("Shown", (), {"__annotations__": {"a": "int"}, "__repr__": own_repr}))
        equal = frozen(type("Equal", (), {"__annotations__": {"a": "int"}, "__eq__": own_eq}))
        assert repr(shown(1)) == "mine"
        assert shown(1) == shown(1) != shown(2)
        assert equal(1) == equal(2)
        assert repr(equal(1)) == "Equal(a=1)"
