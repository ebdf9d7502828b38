"""Which plugins a publication makes again (pluginhost.host.published.Published)."""

from __future__ import annotations

import gc
import weakref

import attrs
from strategies import candidate

from pluginhost.host.published import Published
from pluginhost.model.names import PluginName
from pluginhost.swap.members import Active

A, B, C = (PluginName(n) for n in ("a", "b", "c"))


def active(name: str, version: str = "1.0.0") -> Active:
    return Active(candidate(name, version), (), None, (f"{name}_plugin",))


class TestSince:
    def test_first_names_every_plugin_then_none(self) -> None:
        published = Published()
        actives = {A: active("a"), B: active("b")}
        assert published.since(actives, frozenset()) == {A, B}
        assert published.since(actives, frozenset()) == set()

    def test_another_object_is_named_even_when_equal(self) -> None:
        """Identity, not equality: an equal copy is another plugin version's object."""
        published = Published()
        actives = {A: active("a"), B: active("b")}
        published.since(actives, frozenset())
        actives[B] = attrs.evolve(actives[B])
        assert published.since(actives, frozenset()) == {B}

    def test_a_plugin_gone_is_named(self) -> None:
        published = Published()
        actives = {A: active("a"), B: active("b")}
        published.since(actives, frozenset())
        del actives[A]
        assert published.since(actives, frozenset()) == {A}

    def test_marked_now_and_marked_then_are_named(self) -> None:
        """A plugin that drained (or was pinned) at the last call is named once more, when its
        mark went: its snapshot said so."""
        published = Published()
        actives = {A: active("a"), B: active("b"), C: active("c")}
        published.since(actives, frozenset())
        assert published.since(actives, frozenset({A})) == {A}
        assert published.since(actives, frozenset({B})) == {A, B}
        assert published.since(actives, frozenset()) == {B}
        assert published.since(actives, frozenset()) == set()

    def test_keeps_no_version_alive(self) -> None:
        """A retired version's ``Active`` is freed once the ledger lets go of it."""
        published = Published()
        actives = {A: active("a")}
        published.since(actives, frozenset())
        watched = weakref.ref(actives[A])
        actives[A] = active("a", "1.1.0")
        gc.collect()
        assert watched() is None
        assert published.since(actives, frozenset()) == {A}

    def test_a_new_object_where_a_freed_one_was_is_named(self) -> None:
        """The allocator reuses a freed object's memory for the next of its size: the same
        ``id``, another version, still named."""
        published = Published()
        versions = [candidate("a", f"1.{index}.0") for index in range(50)]
        actives = {A: Active(versions[0], (), None, ())}
        published.since(actives, frozenset())
        reused = 0
        for version in versions[1:]:
            freed = id(actives[A])
            del actives[A]
            actives[A] = Active(version, (), None, ())
            reused += id(actives[A]) == freed
            assert published.since(actives, frozenset()) == {A}
        assert reused, "the allocator never reused the address: the test proved nothing"
