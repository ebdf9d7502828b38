"""Where the host's plugins go among the application's own, in a plugin manager it adopted.

pluggy calls a hook's implementations from the last registered to the first (tryfirst and
trylast aside). An application loads its installed plugins at one moment of its start
(``load_setuptools_entrypoints``): what it registered before that moment is called after
them, what it registers afterwards before them. pytest registers its built-in modules before,
and its capture manager and conftests after; datasette, llm and tox register their built-in
plugins after, so those answer first (datasette's cookie actor before an auth plugin's).

A host stands for that moment: the moment it is made (:meth:`Placement.of`). The plugins it
loads, and every later version of them, stay beneath (are called after) what the application
registers after that moment, and above what it registered before; with
``application_first``, beneath every plugin of the application, for an application that
registered its built-ins when it was imported, before any host could be made (datasette).
Appended to a hook's list as pluggy's ``register`` appends them, the host's plugins went on top
of all of the application's: 13 of 49 published plugins of datasette, llm and tox were called
in another order than their application calls them.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

import pluggy

from ..model.frozen import frozen

__all__ = ["Placement", "registration_order"]


@frozen
class Placement:
    """The application's plugins that the host's stay beneath.

    :param before: the names the manager held when the host was made.
    :param application_first: the host's plugins stay beneath all of the application's.
    """

    before: frozenset[str]
    application_first: bool = False

    @classmethod
    def of(cls, pm: pluggy.PluginManager, *, application_first: bool = False) -> Placement:
        """The placement of a host made now on ``pm``."""
        return cls(frozenset(name for name, _ in pm.list_name_plugin()), application_first)

    def above(self, impls: Iterable[pluggy.HookImpl], hosted: Set[str]) -> list[pluggy.HookImpl]:
        """The implementations in ``impls`` that stay above the host's, in their order.

        :param hosted: the names the host's plugins are registered under.
        """
        return [
            impl
            for impl in impls
            if impl.plugin_name not in hosted
            and (self.application_first or impl.plugin_name not in self.before)
        ]


def registration_order(impls: Iterable[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """An order to register ``impls`` in (given in a hook's list order) that puts them back in
    that order: pluggy inserts a ``trylast`` implementation first among its kind, the others
    last among theirs, so the trylast ones go in reversed."""
    listed = list(impls)
    return [i for i in reversed(listed) if i.trylast] + [i for i in listed if not i.trylast]
