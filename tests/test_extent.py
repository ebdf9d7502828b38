"""What a value comes to once written out, measured without writing it (pluginhost.model.extent)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluginhost.model.extent import CYCLE, MAX_VALUES, json_extent


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def doubled(times: int, start: Any = None) -> Any:
    """A list holding the one before twice, ``times`` over: ``times + 1`` lists in memory,
    ``2 ** (times + 1) - 1`` written out."""
    value: Any = [] if start is None else start
    for _ in range(times):
        value = [value, value]
    return value


def counted(value: object) -> int:
    """How many values ``value`` has written out, counted by walking it as a tree."""
    if isinstance(value, dict):
        return 1 + sum(counted(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 1 + sum(counted(v) for v in value)
    return 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


class TestOrdinaryValues:
    @pytest.mark.parametrize(
        "value",
        [None, True, 0, 7, "héllo", [], {}, [1, "a", None], {"k": [1, {"x": ""}], "j": 2}],
    )
    def test_measured_whole(self, value: object) -> None:
        """A value of strings and one-digit ints comes to its compact JSON's length."""
        extent = json_extent(value)
        assert extent.over is None
        assert extent.characters == len(compact(value))
        assert extent.values == counted(value)

    @given(JSON)
    def test_a_lower_bound(self, value: object) -> None:
        """Any JSON value: every value counted, and never more characters than JSON writes."""
        extent = json_extent(value)
        assert extent.over is None
        assert extent.values == counted(value)
        assert extent.characters <= len(compact(value))
        assert extent.characters <= len(json.dumps(value))

    def test_depth(self) -> None:
        """Depth is the nesting of containers: 0 for a scalar, keys not counted."""
        assert json_extent(5).depth == 0
        assert json_extent([1, {"a": [2]}, []]).depth == 3
        deep: Any = 1
        for _ in range(100_000):
            deep = [deep]
        assert json_extent(deep).depth == 100_000  # walked without recursion

    def test_subclass_parts_as_the_encoder_reads_them(self) -> None:
        """A list subclass is measured by what its __iter__ gives, as JSON writes it."""

        class Odd(list[int]):
            def __iter__(self) -> Any:
                return iter(["more", "than", "it", "holds"])

        extent = json_extent(Odd([1]))
        assert (extent.values, extent.characters) == (5, len(compact(Odd([1]))))


class TestSharedParts:
    def test_counted_at_each_place(self) -> None:
        """A part held in several places counts each time, as JSON writes it out."""
        value = doubled(10)
        extent = json_extent(value)
        assert (extent.values, extent.depth) == (2**11 - 1, 11)
        assert extent.characters == len(compact(value))

    def test_shared_dicts(self) -> None:
        """Dicts sharing a part are counted as their JSON is written."""
        part: Any = {"leaf": "x"}
        for _ in range(8):
            part = {"l": part, "r": part, "n": 1}
        extent = json_extent({"top": part, "again": [part]})
        assert extent.over is None
        assert extent.characters == len(compact({"top": part, "again": [part]}))

    def test_exponential_value_stops_at_once(self) -> None:
        """Forty lists each holding the one before twice (2**41 once written out) are measured
        in a blink and found past the bound."""
        started = time.monotonic()
        extent = json_extent({"cache": doubled(40)})
        assert time.monotonic() - started < 1
        assert extent.over == f"it holds more than {MAX_VALUES:,} values once written out"

    def test_long_list_of_one_part_stops_early(self) -> None:
        """A list of ten million references to one list is refused by its length alone."""
        started = time.monotonic()
        extent = json_extent([[1, 2]] * 10_000_000, max_values=1000)
        assert time.monotonic() - started < 2
        assert extent.over is not None
        assert extent.values > 1000

    def test_few_values_many_characters(self) -> None:
        """One long string in a hundred places passes the bound on characters."""
        extent = json_extent(["x" * 1_000_000] * 100, max_characters=50_000_000)
        assert extent.over == "it takes more than 50,000,000 characters once written out"


class TestBounds:
    def test_values_bound_is_inclusive(self) -> None:
        """A value of exactly ``max_values`` values passes; one more does not."""
        value = list(range(9))  # ten values
        assert json_extent(value, max_values=10).over is None
        assert json_extent(value, max_values=9).over is not None

    def test_characters_bound_is_inclusive(self) -> None:
        """A value of exactly ``max_characters`` characters passes; one more does not."""
        value = "x" * 98  # 100 characters with its quotes
        assert json_extent(value, max_characters=100).over is None
        assert json_extent(value, max_characters=99).over is not None


class TestCycles:
    def test_refused_as_json(self) -> None:
        """A value that contains itself cannot be written as JSON."""
        loop: list[Any] = [1]
        loop.append({"back": loop})
        assert json_extent(loop).over == CYCLE

    def test_measured_as_repr_writes_it(self) -> None:
        """As repr, a part met inside itself is written ``[...]``."""
        loop: list[Any] = []
        loop.append(loop)
        extent = json_extent(loop, as_repr=True)
        assert (extent.over, extent.values) == (None, 2)
        assert extent.characters <= len(repr(loop))

    def test_repr_of_shared_parts_with_a_cycle_stays_bounded(self) -> None:
        """Once a cycle is met, sizes are no longer remembered; the bound still ends the walk."""
        loop: list[Any] = []
        loop.append(loop)
        extent = json_extent([loop, doubled(40)], as_repr=True)
        assert extent.over is not None

    def test_repr_walks_sets_and_keys(self) -> None:
        """As repr, sets and dict keys are written out too."""
        shared: Any = frozenset()
        for _ in range(40):
            # A frozenset keeps its hash: making this costs no hashing of the whole.
            shared = frozenset({shared, (shared,)})
        assert json_extent([shared], as_repr=True).over is not None
        assert json_extent({shared: 1}, as_repr=True).over is not None
        assert json_extent({frozenset({1, 2}): "a"}, as_repr=True).over is None

    def test_repr_reads_what_the_builtin_stores(self) -> None:
        """As repr, a subclass's parts are what its builtin type stores: no method of its own
        is called, as the builtin repr calls none."""

        class Odd(dict[str, int]):
            def items(self) -> Any:
                raise AssertionError("not called")

        class Odder(list[int]):
            def __iter__(self) -> Any:
                raise AssertionError("not called")

        assert json_extent(Odd(a=1), as_repr=True).values == 3
        assert json_extent(Odder([1, 2]), as_repr=True).values == 3
