"""Transitions: every change to the set of active plugins, all or nothing.

A transition takes a group of plugins (one new plugin; or a plugin being updated together with
the active plugins that depend on it) from their old versions, if any, to new candidates:

1. install every new candidate into its own site dir (the old versions keep serving);
2. set the old versions' modules aside and import the new ones, in dependency order, each import
   bounded by a timeout (a new plugin may have been imported ahead, see
   :mod:`pluginhost.load.ahead`);
3. validate every new hook implementation against its spec, registering nothing yet;
4. hand each old version's exported state to its new version;
5. activate the new versions (``pluginhost_activate``), still unseen by hook calls;
6. switch, in one step per hook, from the old implementations to the new ones;
7. check the new versions' health within a timeout.

A failure at any step undoes every earlier one, in reverse, and the old versions are back as they
were: their modules in ``sys.modules``, their hook implementations in place, their state untouched
(export does not change it). After a successful switch, :meth:`Retirement.finish` waits for calls
still running the old versions, then deactivates and purges them.
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pluggy

from ..load import guard
from ..load.ahead import Ahead, Imported, import_ahead
from ..load.bounded import bounded
from ..load.guard import Effects
from ..load.modules import PluginFinder, import_entry_point, pop_modules, purge_modules, release
from ..model.candidate import Candidate
from ..model.errors import ActivationError, PluginHostError
from ..model.names import PluginName
from ..state.faults import crash_point
from .drain import Drained, drain
from .switch import Implementations, Switch, prepare, switch

__all__ = ["Active", "Retirement", "Timeouts", "Transition", "call_hook"]

T = TypeVar("T")

logger = logging.getLogger("pluginhost")

_GRACE = 0.2
"""How long a plugin's threads may take to end after its deactivate returned (seconds)."""


@attrs.frozen
class Timeouts:
    """How long each step may take before it counts as a failure (seconds).

    :param import_: importing a plugin's entry point.
    :param activate: each lifecycle hook (activate, state export and import, deactivate).
    :param health: ``pluginhost_health``.
    :param drain: waiting for calls that started before a switch to finish.
    """

    import_: float = 30.0
    activate: float = 30.0
    health: float = 10.0
    drain: float = 30.0


@attrs.define(eq=False)
class Active:
    """An active plugin as the host keeps it."""

    candidate: Candidate
    impls: Implementations
    site_dir: Path | None
    top_level: tuple[str, ...]
    effects: Effects = Effects()
    """What its import and lifecycle hooks did that outlives them (handlers, threads)."""

    @property
    def name(self) -> PluginName:
        return self.candidate.name


@attrs.define(eq=False)
class Member:
    """One plugin of a transition while it is under way."""

    candidate: Candidate
    old: Active | None
    site_dir: Path | None = None
    top_level: tuple[str, ...] = ()
    impls: Implementations | None = None
    imported: bool = False
    """Whether the import step was reached: only then may its names be purged."""
    activated: bool = False
    stash: dict[str, types.ModuleType] = attrs.field(factory=dict)
    inherited: tuple[Any, str] | None = None
    """State saved by an earlier run of the host, and the version that saved it."""
    effects: Effects = Effects()

    @property
    def name(self) -> PluginName:
        return self.candidate.name


Installer = Callable[[Candidate], tuple[Path | None, tuple[str, ...]]]
Checker = Callable[[Candidate, Sequence[str], Path | None, set[str]], None]


def call_hook(impls: Implementations, hook: str, **kwargs: Any) -> object:
    """Call one lifecycle hook of one plugin, registered or not; ``None`` if not implemented."""
    for name, impl in impls.impls:
        if name == hook:
            return impl.function(*[kwargs[arg] for arg in impl.argnames])
    return None


def bounded_hook(
    impls: Implementations, hook: str, timeout: float, step: str, **kwargs: Any
) -> object:
    """Call one lifecycle hook of one plugin within ``timeout`` (see :func:`bounded`).

    A plugin that does not implement the hook costs no helper thread: starting one for each
    step of each plugin was most of the time a start with many plugins took.
    """
    if not any(name == hook for name, _ in impls.impls):
        return None
    call = functools.partial(call_hook, impls, hook, **kwargs)
    return bounded(call, timeout, plugin=impls.name, step=step)


@attrs.define(eq=False)
class Transition:
    """Carries out one transition; see the module docstring for the steps.

    :param pm: the plugin manager.
    :param finder: the host's import finder.
    :param host: passed to ``pluginhost_activate`` and ``pluginhost_deactivate``.
    :param install: puts a candidate's files in place; returns its site dir and top-level names.
    :param check: refuses a candidate whose modules clash with others (outside ``members``).
    :param timeouts: the step timeouts.
    """

    pm: pluggy.PluginManager
    finder: PluginFinder
    host: object
    install: Installer
    check: Checker
    timeouts: Timeouts = Timeouts()
    _ahead: dict[PluginName, Imported] = attrs.field(factory=dict, init=False, repr=False)
    """Plugins imported ahead of their transitions, by name (see :meth:`import_ahead`)."""

    def import_ahead(self, members: Sequence[Member]) -> None:
        """Import new plugins now, one after another on one helper thread, for the transitions
        that load them next (see :mod:`pluginhost.load.ahead`).

        :param members: new plugins (no old version), installed (``site_dir`` and
            ``top_level`` set), none depending on another, none sharing a top-level name.
        """
        for m in members:
            if m.site_dir is not None:
                self.finder.map(m.top_level, m.site_dir)
        plugins = [
            Ahead(m.name, m.candidate.key, m.candidate.entry_point, m.top_level, m.site_dir)
            for m in members
        ]
        results = import_ahead(plugins, self.timeouts.import_)
        for result in results:
            self._ahead[result.plugin.name] = result
        # After an import that overran, the rest are imported the usual way, if at all.
        for m in members[len(results) :]:
            if m.site_dir is not None:
                self.finder.unmap(m.top_level)

    def discard_ahead(self) -> None:
        """Drop the plugins imported ahead whose transitions did not come."""
        while self._ahead:
            _, result = self._ahead.popitem()
            plugin = result.plugin
            result.value = None
            if plugin.site_dir is not None:
                self.finder.unmap(plugin.top_level)
            roots = [plugin.site_dir] if plugin.site_dir else []
            leaked = purge_modules(plugin.top_level, roots)
            if leaked:
                logger.warning("%s, imported ahead, still referenced: %s", plugin.name, leaked)

    def is_ahead(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` is the very one imported ahead under its name."""
        result = self._ahead.get(candidate.name)
        return result is not None and result.plugin.key == candidate.key

    def _is_ahead(self, m: Member) -> bool:
        return m.old is None and self.is_ahead(m.candidate)

    def _imported_ahead(self, m: Member) -> Imported | None:
        """The import done ahead for ``m``, taken out, if there is one."""
        return self._ahead.pop(m.name) if self._is_ahead(m) else None

    def run(self, members: Sequence[Member]) -> Retirement:
        """Take ``members`` to their new candidates, or raise with everything undone.

        :raises PluginHostError: the first failure (``ActivationError`` carries the step).
        """
        applied: Switch | None = None
        try:
            self._install(members)
            self._import(members)
            self._hand_over_state(members)
            self._activate(members)
            crash_point("after_import", members[0].candidate.version_text)
            applied = switch(
                self.pm,
                [m.old.impls for m in members if m.old],
                [m.impls for m in members if m.impls],
            )
            crash_point("after_switch", members[0].candidate.version_text)
            self._check_health(members)
        except PluginHostError as exc:
            failure = exc
        else:
            return Retirement(self, [m.old for m in members if m.old], members, applied)
        # The failure's traceback holds the steps' frames, whose locals hold the new versions
        # (a snapshot of sys.modules, a health verdict): let go before the undo checks that
        # they are freed.
        _drop_tracebacks(failure)
        problems = self._undo(members, applied)
        if problems and isinstance(failure, ActivationError):
            # What undoing could not clean up belongs to the same report as the failure.
            failure = ActivationError(
                f"{failure.reason}; undoing it: {'; '.join(problems)}",
                plugin=failure.plugin,
                path=failure.path,
                step=failure.step,
            )
        try:
            raise failure
        finally:
            # Otherwise this frame, kept by the traceback, keeps the exception: a cycle that
            # holds the old versions' hook implementations, which a drain would wait for.
            del failure

    def _install(self, members: Sequence[Member]) -> None:
        names: set[str] = {m.name for m in members}
        for m in members:
            m.site_dir, m.top_level = self.install(m.candidate)
            # One imported ahead was checked before, when its modules were not loaded yet: now
            # they would look like the host's own.
            if not self._is_ahead(m):
                self.check(m.candidate, m.top_level, m.site_dir, names)

    def _import(self, members: Sequence[Member]) -> None:
        # The old versions' modules leave sys.modules (kept alive in the stash, still serving
        # calls through their functions) so that the new versions import fresh.
        for m in members:
            if m.old is not None:
                m.stash = pop_modules(m.old.top_level)
                self.finder.unmap(m.old.top_level)
        for m in members:
            m.imported = True
            if m.site_dir is not None:
                self.finder.map(m.top_level, m.site_dir)
        owned = _owned(members)
        for m in members:
            ahead = self._imported_ahead(m)
            if ahead is not None:
                m.effects += ahead.effects
                obj, ahead.value = ahead.value, None
                if ahead.error is not None:
                    raise ActivationError(ahead.error, plugin=m.name, step="import")
                m.impls = self._prepare(obj, m.name)
                continue
            value, name, tops = m.candidate.entry_point, m.name, m.top_level
            obj = self._guarded(
                m,
                owned,
                functools.partial(
                    import_entry_point, value, plugin=name, top_level=tops, root=m.site_dir
                ),
                self.timeouts.import_,
                "import",
            )
            m.impls = self._prepare(obj, name)

    def _prepare(self, obj: object, name: str) -> Implementations:
        try:
            return prepare(self.pm, obj, name)
        except pluggy.PluginValidationError as exc:
            message = f"hook validation failed: {exc}"
        except Exception as exc:
            # Collecting hooks reads the entry point object's attributes: plugin code may run.
            message = f"collecting hook implementations failed: {guard.describe_exception(exc)}"
        raise ActivationError(message, plugin=name, step="register")

    def _guarded(
        self, m: Member, owned: Sequence[str], fn: Callable[[], T], timeout: float, step: str
    ) -> T:
        """Run one step of plugin code bounded by ``timeout``, and put back what it changed in
        the import machinery; a change put back fails the step.

        :raises ActivationError: naming the step.
        """
        before = guard.snapshot()
        try:
            value = bounded(fn, timeout, plugin=m.name, step=step)
        except ActivationError as exc:
            undone = self._restore(m, before, owned)
            if not undone:
                raise
            failure = guard.failure(step, exc.reason, undone)
            raise ActivationError(failure, plugin=m.name, step=step) from None
        undone = self._restore(m, before, owned)
        if undone:
            raise ActivationError(guard.failure(step, None, undone), plugin=m.name, step=step)
        return value

    def _guarded_hook(
        self,
        m: Member,
        owned: Sequence[str],
        impls: Implementations,
        hook: str,
        timeout: float,
        **kwargs: Any,
    ) -> object:
        """One lifecycle hook of one plugin, guarded (see :meth:`_guarded`).

        A plugin that does not implement the hook runs no code: it costs neither a helper
        thread nor a snapshot, which made most of a start with many plugins.
        """
        if not any(name == hook for name, _ in impls.impls):
            return None
        step = hook.removeprefix("pluginhost_")
        call = functools.partial(call_hook, impls, hook, **kwargs)
        return self._guarded(m, owned, call, timeout, step)

    def _restore(self, m: Member, before: guard.Snapshot, owned: Sequence[str]) -> list[str]:
        effects = guard.restore(before, owned)
        m.effects += effects
        return list(effects.undone)

    def _hand_over_state(self, members: Sequence[Member]) -> None:
        owned = _owned(members)
        for m in members:
            new = m.impls
            if new is None:
                continue
            if m.old is not None:
                state = self._guarded_hook(
                    m, owned, m.old.impls, "pluginhost_export_state", self.timeouts.activate
                )
                previous = m.old.candidate.version_text
            elif m.inherited is not None:
                state, previous = m.inherited
            else:
                continue
            self._guarded_hook(
                m,
                owned,
                new,
                "pluginhost_import_state",
                self.timeouts.activate,
                state=state,
                previous_version=previous,
            )

    def _activate(self, members: Sequence[Member]) -> None:
        owned = _owned(members)
        for m in members:
            impls = m.impls
            assert impls is not None
            self._guarded_hook(
                m, owned, impls, "pluginhost_activate", self.timeouts.activate, host=self.host
            )
            m.activated = True

    def _check_health(self, members: Sequence[Member]) -> None:
        owned = _owned(members)
        for m in members:
            impls = m.impls
            assert impls is not None
            verdict = self._guarded_hook(m, owned, impls, "pluginhost_health", self.timeouts.health)
            if verdict is False:
                raise ActivationError("health check returned False", plugin=m.name, step="health")
            if verdict is not None and verdict is not True:
                # Only True, False and None have a meaning; anything else (a string, a
                # generator never run, an object whose truth is unknown) is a broken check.
                raise ActivationError(
                    f"health check returned a {_type_name(verdict)}, not True, False or None",
                    plugin=m.name,
                    step="health",
                )

    def _undo(self, members: Sequence[Member], applied: Switch | None) -> list[str]:
        """Put the old versions back exactly and drop every trace of the new ones.

        :returns: what could not be cleaned up, as text (a failing deactivate, threads or
            handlers of the new versions, modules still referenced).
        """
        if applied is not None:
            applied.undo()
        crash_point("while_undoing", members[0].candidate.version_text)
        problems: list[str] = []
        for m in reversed(members):
            if m.activated and m.impls is not None:
                errors, effects = self._deactivate(m.impls, m.top_level)
                problems += errors
                m.effects += effects
            m.impls = None
            if not m.imported:
                # Its names were never served by us: they may well be the host's own modules.
                continue
            roots = [m.site_dir] if m.site_dir else []
            problems += _left_behind(m.effects, roots)
            if m.site_dir is not None:
                self.finder.unmap(m.top_level)
            problems += _leak_report(purge_modules(m.top_level, roots), m.top_level)
        for m in members:
            if m.old is not None:
                sys.modules.update(m.stash)
                m.stash = {}
                if m.old.site_dir is not None:
                    self.finder.map(m.old.top_level, m.old.site_dir)
        crash_point("after_undoing", members[0].candidate.version_text)
        return problems

    def unload(self, actives: dict[PluginName, Active], name: PluginName) -> list[str]:
        """Take ``name`` out of ``actives`` and out of every hook, drain, deactivate and purge it.

        The plugin is popped from ``actives`` here so that no caller's reference outlives the
        purge (which checks that the plugin's modules are freed).

        :returns: what went wrong on the way (a drain timeout, a failing deactivate, threads and
            handlers left running, what it left in the import machinery, modules still
            referenced), as text; unloading itself always completes.
        """
        active = actives.pop(name)
        version = active.candidate.version_text
        switch(self.pm, [active.impls], [])
        crash_point("removal_after_unregister", version)
        problems = []
        problem = drain([active.impls], self.timeouts.drain).problem(self.timeouts.drain)
        if problem is not None:
            problems.append(problem)
        crash_point("removal_after_drain", version)
        tops, roots = active.top_level, [active.site_dir] if active.site_dir else []
        errors, effects = self._deactivate(active.impls, tops)
        problems += errors
        problems += _left_behind(active.effects + effects, roots)
        # No other version of it serves: whatever of its code remains in the import machinery
        # was left behind (possibly by a hook call, which nothing guards).
        swept = guard.sweep(tops)
        if swept:
            problems.append(f"removed what it left in the import machinery: {', '.join(swept)}")
        if active.site_dir is not None:
            self.finder.unmap(tops)
        del active
        problems += _leak_report(purge_modules(tops, roots), tops)
        return problems

    def _deactivate(
        self, impls: Implementations, owned: Sequence[str]
    ) -> tuple[list[str], Effects]:
        """Run ``pluginhost_deactivate`` (never raises) and put back what it changed in the
        import machinery.

        :returns: what went wrong, as text, and what it did that outlives it (``atexit``
            handlers unregistered count negative).
        """
        before = guard.snapshot()
        errors = []
        try:
            bounded_hook(
                impls, "pluginhost_deactivate", self.timeouts.activate, "deactivate", host=self.host
            )
        except ActivationError as exc:
            errors.append(str(exc))
        effects = guard.restore(before, owned)
        if effects.undone:
            undone = ActivationError(
                guard.failure("deactivate", None, effects.undone),
                plugin=impls.name,
                step="deactivate",
            )
            errors.append(str(undone))
        return errors, effects


@attrs.define(eq=False)
class Retirement:
    """The old versions after a successful switch, waiting to be drained and purged."""

    transition: Transition
    old: list[Active]
    members: Sequence[Member]
    applied: Switch | None = None
    outcome: Drained | None = None
    """What the drain saw, once :meth:`finish` ran."""

    def undo(self) -> None:
        """Switch the old versions back in, as if the transition had failed at its last step.

        Only before :meth:`finish`: for when what follows the switch (the commit) fails.
        """
        self.transition._undo(self.members, self.applied)
        self.old = []

    def finish(self) -> tuple[bool, list[str], list[str]]:
        """Drain, deactivate and purge the old versions.

        :returns: ``(drained, errors, leaked)``: whether no earlier call was still running at
            the drain's timeout, what went wrong (the old versions kept by something that is
            not a running call, deactivation errors, threads and handlers left running, where
            the old code is still referenced from), and modules that something still holds.
        """
        # The switch holds the old implementations for its undo: past this point there is none,
        # and its references would look like calls in flight.
        self.applied = None
        groups = [a.impls for a in self.old]
        timeout = self.transition.timeouts.drain
        self.outcome = drain(groups, timeout)
        del groups
        errors: list[str] = []
        if self.outcome is Drained.KEPT:
            errors.append(str(self.outcome.problem(timeout)))
        for m in self.members:
            if m.old is not None:
                failures, effects = self.transition._deactivate(m.old.impls, m.old.top_level)
                roots = [m.old.site_dir] if m.old.site_dir else []
                errors += failures + _left_behind(m.old.effects + effects, roots)
        # Every reference this object holds to the old versions goes before the purge, which
        # checks that their modules are freed.
        self.old = []
        leaked: list[str] = []
        for m in self.members:
            if m.old is None:
                continue
            stash, roots = m.stash, [m.old.site_dir] if m.old.site_dir else []
            m.stash, m.old = {}, None
            leaked += release(stash, roots)
        if leaked:
            errors += _holders_text(_owned(self.members))
        return self.outcome is not Drained.TIMED_OUT, errors, leaked


def _drop_tracebacks(exc: BaseException | None) -> None:
    """Forget the frames of ``exc`` and of the exceptions it was raised from."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _owned(members: Sequence[Member]) -> list[str]:
    """The top-level names of every version concerned by a transition."""
    names = {name for m in members for name in m.top_level}
    names.update(name for m in members if m.old is not None for name in m.old.top_level)
    return sorted(names)


def _left_behind(effects: Effects, roots: Sequence[Path]) -> list[str]:
    """What a deactivated plugin leaves running that cannot be undone from outside: threads
    it started or running its code (from ``roots``), ``atexit`` handlers."""
    texts = [
        f"{thread} (threads cannot be stopped: restart recommended)"
        for thread in guard.lingering(effects.threads, roots, _GRACE)
    ]
    handlers = effects.atexit
    if handlers > 0:
        texts.append(
            f"{handlers} atexit handler(s) it registered stay registered and will run at exit "
            "(they cannot be removed from outside: restart recommended)"
        )
    return texts


def _leak_report(leaked: Sequence[str], owned: Sequence[str]) -> list[str]:
    if not leaked:
        return []
    return [
        "modules still referenced after unload (restart recommended to free them): "
        + ", ".join(leaked),
        *_holders_text(owned),
    ]


def _holders_text(owned: Sequence[str]) -> list[str]:
    found = guard.holders(owned)
    return [f"its code is still referenced from {', '.join(found)}"] if found else []


def _type_name(value: object) -> str:
    kind = type(value)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
