"""Hook specifications that plugins declare, handed from a version to the next.

pluggy takes a hook's specification once (``set_specification`` refuses a second) and cannot
take one back, so the new version of a plugin that declares specifications of its own
(pytest-timeout and pytest-html through ``pytest_addhooks``, datasette-enrichments with
``pm.add_hookspecs`` at its import) failed its swap, and the old version served on.

While a transition runs, the manager's ``add_hookspecs`` is a :class:`Takeover`'s. A spec that
a leaving version declared (its namespace is one of that version's modules, or a class of one)
is replaced by the new version's in one attribute store, after the implementations that stay
are checked against it, so that a concurrent call sees one spec or the other, never none (a
``firstresult`` hook answered with a list meanwhile). Every other spec goes as pluggy puts it.
A failed transition puts the old specs back and drops the callers the new specs created; a
finished one withdraws the specs the leaving versions declared and their successors did not,
and an unloaded plugin's are withdrawn (:func:`withdraw`), so that no spec keeps a retired
version's module alive.

This module touches pluggy's ``_verify_hook``, ``_hookexec`` and ``_call_history`` (see
:mod:`.switch`; docs/limits.md lists them).
"""

from __future__ import annotations

import types
from collections.abc import Collection, Iterable, Sequence
from typing import Any, cast

import attrs
import pluggy

from ..model.exception_text import exact_str, module_name
from .members import Member

__all__ = ["Takeover", "declared_by", "withdraw"]


@attrs.define(eq=False)
class Takeover:
    """The specs of one transition's leaving versions, and what the new versions did to them.

    :param pm: the plugin manager.
    :param held: the callers whose spec a leaving version declared, by hook name.
    :param leaving: the plugin objects of the leaving versions (their implementations are not
        checked against a new spec: they are on their way out).
    :param members: the transition's plugins: only their namespaces' specs are taken over and
        recorded; the application's, added meanwhile, are added as the manager adds them.
    """

    pm: pluggy.PluginManager
    held: dict[str, pluggy.HookCaller]
    leaving: frozenset[int]
    members: tuple[Member, ...] = ()
    _before: dict[str, tuple[Any, Any]] = attrs.field(factory=dict, init=False)
    """Each caller a new version's spec changed: its spec and call history before."""
    _created: list[str] = attrs.field(factory=list, init=False)
    """The callers a new version's spec created."""
    _shadowed: Any = attrs.field(default=None, init=False)

    @classmethod
    def of(cls, pm: pluggy.PluginManager, members: Sequence[Member]) -> Takeover:
        """The takeover for ``members``: one that does nothing when no leaving version declared
        a spec (a start, most swaps), at the cost of one look at each hook's spec."""
        roots = {name for m in members if m.old is not None for name in m.old.top_level}
        held = declared_by(pm, roots) if roots else {}
        plugins = {id(r.plugin) for m in members if m.old for r in m.old.registrations}
        return cls(pm, held, frozenset(plugins), tuple(members))

    def _of_members(self, namespace: object) -> bool:
        """Whether ``namespace`` is one of the transition's plugins' (their modules are known
        once installed: read now)."""
        module = namespace_module(namespace)
        if module is None:
            return False
        roots = {n for m in self.members for n in m.top_level}
        roots.update(n for m in self.members if m.old is not None for n in m.old.top_level)
        return str.partition(module, ".")[0] in roots

    def __enter__(self) -> Takeover:
        if self.held:
            self._shadowed = vars(self.pm).get("add_hookspecs")
            self.pm.add_hookspecs = self._add_hookspecs  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.held:
            return
        if self._shadowed is None:
            del self.pm.add_hookspecs
        else:
            self.pm.add_hookspecs = self._shadowed  # type: ignore[method-assign]

    def settle(self) -> None:
        """After a finished transition: withdraw the leaving versions' specs that no new one
        took over (a version that declares a spec no more leaves the hook without one, as a
        fresh start with it would)."""
        withdraw(c for name, c in self.held.items() if name not in self._before)
        self._forget()

    def undo(self) -> None:
        """After a failed transition: every spec back as it was, and the callers the new
        versions' specs created gone when nothing implements them."""
        for name, (spec, history) in self._before.items():
            caller = getattr(self.pm.hook, name)
            caller.spec = spec
            caller._call_history = history
        for name in self._created:
            caller = getattr(self.pm.hook, name, None)
            if isinstance(caller, pluggy.HookCaller) and not caller.get_hookimpls():
                delattr(self.pm.hook, name)
        self._forget()

    def _forget(self) -> None:
        self.held, self._before, self._created = {}, {}, []

    def _add_hookspecs(self, module_or_class: Any) -> None:
        """``PluginManager.add_hookspecs``, a leaving version's spec replaced rather than
        refused, for the namespaces of the transition's plugins; every step is recorded as it
        is made, so that a refusal part-way leaves nothing the undo does not know.

        :raises ValueError: as pluggy's: a spec declared twice otherwise, or no spec found.
        :raises pluggy.PluginValidationError: an implementation that stays does not fit the
            new spec (nothing changed for that hook).
        """
        if not self._of_members(module_or_class):
            # The application's (or another plugin's, from a thread of its own): added as the
            # manager adds it, and never undone with this transition.
            original = self._shadowed or type(self.pm).add_hookspecs.__get__(self.pm)
            original(module_or_class)
            return
        specs = [(n, self.pm.parse_hookspec_opts(module_or_class, n)) for n in dir(module_or_class)]
        names = []
        for name, opts in specs:
            if opts is None:
                continue
            names.append(name)
            caller = getattr(self.pm.hook, name, None)
            if caller is None:
                caller = pluggy.HookCaller(name, self.pm._hookexec, module_or_class, opts)
                setattr(self.pm.hook, name, caller)
                self._created.append(name)
            elif name in self.held and name not in self._before:
                self._replace(caller, module_or_class, opts)
            else:
                before = (caller.spec, caller._call_history)
                caller.set_specification(module_or_class, opts)  # refuses a second spec
                self._before.setdefault(name, before)
                for impl in caller.get_hookimpls():
                    self.pm._verify_hook(caller, impl)
        if not names:
            project = self.pm.project_name
            raise ValueError(f"did not find any {project!r} hooks in {module_or_class!r}")

    def _replace(self, caller: pluggy.HookCaller, namespace: Any, opts: Any) -> None:
        # The new spec is built and checked on a scratch caller, then put in place in one
        # store: a call sees the old spec or the new one (a spec that turns historic, or stops
        # being so, changes the call history one store before; callers see the new version's
        # spec from here on, as they see its implementations from the switch, until an undo).
        scratch = pluggy.HookCaller(caller.name, self.pm._hookexec, namespace, opts)
        for impl in caller.get_hookimpls():
            if id(impl.plugin) not in self.leaving:
                self.pm._verify_hook(scratch, impl)
        self._before[caller.name] = (caller.spec, caller._call_history)
        if scratch._call_history is not None and caller._call_history is not None:
            # Both historic: the calls made so far stay, to be replayed to later plugins.
            scratch._call_history = caller._call_history
        caller._call_history = scratch._call_history
        caller.spec = scratch.spec


def declared_by(pm: pluggy.PluginManager, roots: Collection[str]) -> dict[str, pluggy.HookCaller]:
    """The callers whose spec comes from a module under one of the top-level names ``roots``
    (a plugin's), by hook name: one look at each hook's spec."""
    callers = [c for c in list(vars(pm.hook).values()) if isinstance(c, pluggy.HookCaller)]
    return {c.name: c for c in callers if _declared_in(c, roots)}


def withdraw(callers: Iterable[pluggy.HookCaller]) -> None:
    """Leave ``callers`` without a spec: their plugin is gone, and a spec would keep its module
    alive (the implementations other plugins give them are called as pluggy calls a hook no
    spec knows). A historic hook's calls stay, and so does ``call_historic`` for it."""
    for caller in callers:
        caller.spec = None


def _declared_in(caller: pluggy.HookCaller, roots: Collection[str]) -> bool:
    """Whether ``caller``'s spec comes from a module under one of the top-level names
    ``roots``."""
    spec = caller.spec
    module = None if spec is None else namespace_module(spec.namespace)
    return module is not None and str.partition(module, ".")[0] in roots


def namespace_module(namespace: object) -> str | None:
    """The module a spec namespace comes from, an exact ``str``, or None.

    A plugin's namespace (a class of its own, its metaclass perhaps hostile, or an object whose
    class makes ``__module__`` a property) is read through ``type``'s own descriptors: asked at
    every swap and unload, an error would fail them all.
    """
    kind = type(namespace)
    module: object
    if issubclass(kind, types.ModuleType):
        module = vars(namespace).get("__name__")
    else:
        module = module_name(cast(type, namespace) if issubclass(kind, type) else kind)
    return exact_str(module)
