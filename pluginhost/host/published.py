"""What the view was last made from: which plugins' snapshots a publication makes again.

A plugin's snapshot (:func:`~pluginhost.host.view.active_info`) depends on its ``Active``, and
on whether it drains, was rolled back, is pinned or runs in its own process. After a swap among
a thousand plugins, one or two of them changed: asking each of the thousand cost a few
milliseconds of the worker's time at every change, with the interpreter lock held.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Mapping
from itertools import compress

from ..model.names import PluginName
from ..swap.members import Active

__all__ = ["Published"]


class Published:
    """The active plugins' identities and the plugins in a state beside their version, as of
    the last :meth:`since`.

    The identities are weak references: holding the ``Active`` of a retired version would keep
    its modules alive past its retirement (``load/reclaim.py``). A reference without a callback
    is the same object for as long as it lives, and it lives here: ``weakref.ref(active) is
    kept`` tells the same object in C, and a new ``Active`` allocated where a freed one was gets
    a reference of its own.
    """

    def __init__(self) -> None:
        self._refs: dict[PluginName, weakref.ref[Active]] = {}
        self._marked: frozenset[PluginName] = frozenset()

    def since(
        self, active: Mapping[PluginName, Active], marked: frozenset[PluginName]
    ) -> set[PluginName]:
        """The plugins whose snapshot may differ from the last call's: each whose ``Active`` is
        another object or went away, and each ``marked`` now or then.

        :param marked: the plugins whose snapshot depends on more than their ``Active``
            (draining, rolled back, pinned, process plugins).
        """
        names = list(active)
        refs = list(map(weakref.ref, active.values()))
        moved = compress(names, map(operator.is_not, refs, map(self._refs.get, names)))
        found = {*moved, *(self._refs.keys() - active.keys()), *marked, *self._marked}
        self._refs = dict(zip(names, refs, strict=True))
        self._marked = marked
        return found
