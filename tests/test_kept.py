"""Kept results: remade only for the entries whose value is not the very object of last time."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from pluginhost.state.kept import Kept


def text(key: str, value: object) -> str:
    return f"{key}={value!r}"


class Value:
    """A value compared by identity, as the frozen records and snapshots are kept."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


class TestKept:
    def test_first_call_makes_every_entry(self) -> None:
        kept: Kept[str, Value, str] = Kept()
        values = [Value("a1"), Value("b1")]
        assert kept.results(["a", "b"], values, text) == ["a=a1", "b=b1"]
        assert kept.made == 2

    def test_same_objects_are_not_made_again(self) -> None:
        """Only the entry whose value is another object is made again; the others' results
        are the very strings of the last call."""
        kept: Kept[str, Value, str] = Kept()
        a, b, c = Value("a1"), Value("b1"), Value("c1")
        first = kept.results(["a", "b", "c"], [a, b, c], text)
        second = kept.results(["a", "b", "c"], [a, Value("b2"), c], text)
        assert second == ["a=a1", "b=b2", "c=c1"]
        assert kept.made == 1
        assert second[0] is first[0]
        assert second[2] is first[2]

    def test_again_makes_the_named_keys_whatever_their_value(self) -> None:
        calls: list[str] = []

        def make(key: str, value: Value) -> str:
            calls.append(key)
            return text(key, value)

        kept: Kept[str, Value, str] = Kept()
        a, b = Value("a1"), Value("b1")
        kept.results(["a", "b"], [a, b], make)
        calls.clear()
        kept.results(["a", "b"], [a, b], make, again={"b"})
        assert calls == ["b"]

    def test_other_keys_are_matched_by_key(self) -> None:
        """When plugins come, go or move, what is left of the last call is found by key."""
        kept: Kept[str, Value, str] = Kept()
        a, b = Value("a1"), Value("b1")
        kept.results(["a", "b"], [a, b], text)
        assert kept.results(["b", "c", "a"], [b, Value("c1"), a], text) == [
            "b=b1",
            "c=c1",
            "a=a1",
        ]
        assert kept.made == 1

    def test_keys_and_values_must_pair(self) -> None:
        with pytest.raises(ValueError, match=r"2 keys for lists of \[1\] values"):
            Kept[str, Value, str]().results(["a", "b"], [Value("a")], text)

    def test_a_changed_also_value_makes_its_entry_again(self) -> None:
        """An entry is made again when a value it reads beside its own (a plugin's history)
        is another object, though its own value is the same."""
        kept: Kept[str, Value, str] = Kept()
        a, b = Value("a1"), Value("b1")
        history = [Value("h"), Value("h")]
        kept.results(["a", "b"], [a, b], text, also=(list(history),))
        kept.results(["a", "b"], [a, b], text, also=([history[0], Value("h2")],))
        assert kept.made == 1

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from("abcdef"), unique=True, max_size=6),
                st.sets(st.sampled_from("abcdef")),
                st.sets(st.sampled_from("abcdef")),
                st.sets(st.sampled_from("abcdef")),
            ),
            max_size=8,
        )
    )
    def test_results_are_what_making_every_entry_gives(
        self, steps: list[tuple[list[str], set[str], set[str], set[str]]]
    ) -> None:
        """Call after call, with entries coming, going, moving and changing (their own value or
        one read beside it), the results are those of making every entry anew, and exactly the
        changed entries are made."""
        kept: Kept[str, Value, str] = Kept()
        current: dict[str, Value] = {}
        beside: dict[str, Value] = {}
        last: dict[str, tuple[Value, Value]] = {}
        serial = 0
        for keys, changed, changed_beside, again in steps:
            for key in keys:
                serial += 1
                if key not in current or key in changed:
                    current[key] = Value(f"{key}{serial}")
                if key not in beside or key in changed_beside:
                    beside[key] = Value(f"h{serial}")
            values = [current[k] for k in keys]
            also = [beside[k] for k in keys]
            expected_made = sum(
                1 for k in keys if last.get(k) != (current[k], beside[k]) or k in again
            )
            results = kept.results(list(keys), values, text, again, also=(also,))
            assert results == [text(k, current[k]) for k in keys]
            assert kept.made == expected_made
            last = {k: (current[k], beside[k]) for k in keys}
