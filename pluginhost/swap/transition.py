"""Transitions: every change to the set of active plugins, all or nothing.

A transition takes a group of plugins (one new plugin; or a plugin being updated together with
the active plugins that depend on it) from their old versions, if any, to new candidates:

1. install every new candidate into its own site dir (the old versions keep serving);
2. set the old versions' modules aside and import the new ones, in dependency order, each import
   bounded by a timeout (or imported ahead: :mod:`pluginhost.load.ahead`);
3. validate every new hook implementation against its spec, registering nothing yet;
4. hand each old version's exported state to its new version;
5. activate the new versions (``pluginhost_activate``), still unseen by hook calls;
6. switch, in one step per hook, from the old implementations to the new ones (placed among the
   application's plugins as :mod:`.placement` says);
7. check the new versions' health within a timeout.

A failure at any step undoes every earlier one, in reverse: the old versions are back as they
were (modules in ``sys.modules``, hook implementations in place, state untouched). After a
successful switch, the :class:`~.retirement.Retirement` it returns drains, deactivates and
purges the old versions. :meth:`Transition.unload` takes a plugin out the same way.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pluggy

from ..load import guard
from ..load.ahead import Ahead, Imported, import_ahead
from ..load.bounded import bounded
from ..load.distributions import distribution_of
from ..load.modules import PluginFinder, import_entry_points, pop_modules, purge_modules
from ..load.reaper import Reaper
from ..model.candidate import Candidate
from ..model.errors import ActivationError, PluginHostError
from ..model.frozen import frozen
from ..model.names import PluginName
from ..model.pacing import pace
from ..state.faults import crash_point
from ..state.quarantine import Loading, Marker, unmarked
from .cleanup import deactivate, left_behind
from .collect import Collected, checked, collect
from .hooks import call_hook, implements, judge_health, state_of, unit_state
from .members import Active, Member, claim, owned_names
from .placement import Placement
from .process import Processes, stop_workers
from .registered import Owner, check_registered_names, no_owner
from .retirement import Retirement, unload
from .specs import Takeover
from .switch import Implementations, Switch, switch

__all__ = ["Checker", "Installer", "Timeouts", "Transition"]

T = TypeVar("T")

logger = logging.getLogger("pluginhost")


@frozen
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


Installer = Callable[[Candidate], tuple[Path | None, tuple[str, ...]]]
Checker = Callable[[Candidate, Sequence[str], Path | None, set[str]], tuple[str, ...]]


@attrs.define(eq=False)
class Transition:
    """Carries out one transition; see the module docstring for the steps.

    :param pm: the plugin manager.
    :param finder: the host's import finder.
    :param host: passed to ``pluginhost_activate`` and ``pluginhost_deactivate``.
    :param install: puts a candidate's files in place; returns its site dir and top-level names.
    :param check: refuses a candidate whose modules clash with others (outside ``members``);
        returns the names it is to serve (stray ones another provides left out).
    :param timeouts: the step timeouts.
    :param mark: puts a loading marker on disk while new versions' code first runs (their
        import, the state handed to them, their activate), so that a crash there is known at
        the next start (:mod:`pluginhost.state.quarantine`).
    :param owner_of: which active plugin registered a name, for the refusal of an entry
        point whose name another plugin has (see :mod:`.registered`).
    :param refuse_unknown_hooks: refuse a plugin that implements hooks no spec knows (see
        :func:`~pluginhost.swap.hooks.unknown_hooks`) at its register step.
    :param processes: which plugins run in a worker process (:mod:`.process`), started at
        their import step; nothing of them is imported, mapped or checked for clashes here.
    """

    pm: pluggy.PluginManager
    finder: PluginFinder
    host: object
    install: Installer
    check: Checker
    timeouts: Timeouts = Timeouts()
    mark: Callable[[Sequence[Loading]], Marker] = attrs.field(default=unmarked, kw_only=True)
    reaper: Reaper = attrs.field(factory=Reaper, kw_only=True)
    """Watches retired versions' modules until the collector frees them."""
    owner_of: Owner = attrs.field(default=no_owner, kw_only=True)
    refuse_unknown_hooks: bool = attrs.field(default=False, kw_only=True)
    processes: Processes = attrs.field(factory=Processes, kw_only=True)
    placement: Placement | None = attrs.field(default=None, kw_only=True)
    _ahead: dict[PluginName, Imported] = attrs.field(factory=dict, init=False, repr=False)
    """Plugins imported ahead of their transitions, by name (see :meth:`import_ahead`)."""

    def import_ahead(self, members: Sequence[Member]) -> None:
        """Import new plugins now, one after another on one helper thread, for the transitions
        that load them next (see :mod:`pluginhost.load.ahead`).

        :param members: new plugins (no old version), installed (``site_dir`` and
            ``top_level`` set), none depending on another, none sharing a top-level name.
        """
        members = [m for m in members if not self.processes.isolated(m.candidate)]
        for m in members:
            if m.site_dir is not None:
                self.finder.map(m.top_level, m.site_dir, plugin=True)
        plugins = [
            Ahead(
                m.name,
                m.candidate.key,
                m.candidate.entry_points,
                m.top_level,
                m.site_dir,
                Loading.of(m.candidate),
            )
            for m in members
        ]
        dists = {m.name: distribution_of(m.candidate, m.site_dir) for m in members}
        then = functools.partial(self._collect_ahead, dists)
        results = import_ahead(plugins, self.timeouts.import_, self.mark, then=then)
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
            released = purge_modules(plugin.top_level, roots)
            self.reaper.watch(released, plugin.name, plugin.key.version, plugin.top_level)

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
        specs = Takeover.of(self.pm, members)
        try:
            with specs:
                self._install(members)
                pace()
                with self.mark(_new_versions(members)):
                    self._import(members)
                    self._hand_over_state(members)
                    self._activate(members)
                crash_point("after_import", members[0].candidate.version_text)
                applied = switch(
                    self.pm,
                    [r for m in members if m.old for r in m.old.registrations],
                    [r for m in members if m.registrations for r in m.registrations],
                    self.placement,
                )
                crash_point("after_switch", members[0].candidate.version_text)
                self._check_health(members)
        except PluginHostError as exc:
            failure = exc
        except Exception as exc:
            # A bug (of pluginhost or a library it uses) fails this change like a failed step:
            # undone, filed under the plugin and its file, and the changes after it still run.
            failure = _unexpected(members[0], exc)
        else:
            specs.settle()
            return Retirement(self, [m.old for m in members if m.old], members, applied)
        # The failure's traceback holds the steps' frames, whose locals hold the new versions
        # (a snapshot of sys.modules, a health verdict): let go before the undo checks that
        # they are freed.
        _drop_tracebacks(failure)
        specs.undo()
        problems = self.undo(members, applied)
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
        check_registered_names(self.pm, members, self.owner_of)
        claimed: dict[str, PluginName] = {}
        for m in members:
            m.site_dir, m.top_level = self.install(m.candidate)
            # One imported ahead was checked before, when its modules were not loaded yet: now
            # they would look like the host's own. A name another member serves now is not
            # this one's to take: only the plugin's own earlier version gives its names up.
            if self.processes.isolated(m.candidate):
                m.top_level = ()  # none of its names is imported here: none to own or clash
            elif not self._is_ahead(m):
                m.top_level = self.check(m.candidate, m.top_level, m.site_dir, {m.name})
            m.top_level = claim(claimed, m)

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
                self.finder.map(m.top_level, m.site_dir, plugin=True)
        owned = owned_names(members)
        for m in members:
            if self.processes.isolated(m.candidate):
                m.registrations = self.processes.load(m, self._prepare)
                continue
            ahead = self._imported_ahead(m)
            if ahead is not None:
                m.effects += ahead.effects
                collected, ahead.value = ahead.value, None
                if ahead.error is not None:
                    raise ActivationError(ahead.error, plugin=m.name, step="import")
                m.registrations = self._checked(m, collected)
                continue
            importing = functools.partial(self._import_and_collect, m)
            collected = self._guarded(m, owned, importing, self.timeouts.import_, "import")
            m.registrations = self._checked(m, collected)

    def _import_and_collect(self, m: Member) -> Collected:
        """On the import's helper: the plugin imported, its hooks collected (see
        :mod:`.collect`), with its distribution (for ``pm.list_plugin_distinfo()``)."""
        eps, dist = m.candidate.entry_points, distribution_of(m.candidate, m.site_dir)
        objects = import_entry_points(eps, plugin=m.name, top_level=m.top_level, root=m.site_dir)
        return collect(self.pm, objects, eps, m.name, dist)

    def _collect_ahead(
        self,
        dists: dict[PluginName, importlib.metadata.Distribution | None],
        plugin: Ahead,
        objects: tuple[object, ...],
    ) -> Collected:
        """On the helper importing ahead: ``plugin``'s hooks collected right after its import."""
        return collect(self.pm, objects, plugin.entry_points, plugin.name, dists[plugin.name])

    def _prepare(self, m: Member, objects: object) -> tuple[Implementations, ...]:
        """A process plugin's proxies prepared on the host's thread: the host's own objects."""
        assert isinstance(objects, tuple)
        eps, dist = m.candidate.entry_points, distribution_of(m.candidate, m.site_dir)
        return self._checked(m, collect(self.pm, objects, eps, m.name, dist, on_helper=False))

    def _checked(self, m: Member, collected: object) -> tuple[Implementations, ...]:
        assert isinstance(collected, (tuple, ActivationError))
        return checked(self.pm, collected, m.name, refuse_unknown_hooks=self.refuse_unknown_hooks)

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
        if not implements(impls, hook):
            return None
        step = hook.removeprefix("pluginhost_")
        call = functools.partial(call_hook, impls, hook, **kwargs)
        return self._guarded(m, owned, call, timeout, step)

    def _restore(self, m: Member, before: guard.Snapshot, owned: Sequence[str]) -> list[str]:
        effects = guard.restore(before, owned)
        m.effects += effects
        return list(effects.undone)

    def _hand_over_state(self, members: Sequence[Member]) -> None:
        owned = owned_names(members)
        for m in members:
            new = m.registrations
            if new is None:
                continue
            if m.old is not None:
                states = {
                    r.name: self._guarded_hook(
                        m, owned, r, "pluginhost_export_state", self.timeouts.activate
                    )
                    for r in m.old.registrations
                    if implements(r, "pluginhost_export_state")
                }
                saved = unit_state(states, len(m.old.registrations))
                previous = m.old.candidate.version_text
            elif m.inherited is not None:
                saved, previous = m.inherited
            else:
                continue
            for r in new:
                self._guarded_hook(
                    m,
                    owned,
                    r,
                    "pluginhost_import_state",
                    self.timeouts.activate,
                    state=state_of(saved, r.name, len(new)),
                    previous_version=previous,
                )

    def _activate(self, members: Sequence[Member]) -> None:
        owned = owned_names(members)
        for m in members:
            assert m.registrations is not None
            for r in m.registrations:
                self._guarded_hook(
                    m, owned, r, "pluginhost_activate", self.timeouts.activate, host=self.host
                )
                m.activated += 1

    def _check_health(self, members: Sequence[Member]) -> None:
        owned = owned_names(members)
        for m in members:
            assert m.registrations is not None
            for r in m.registrations:
                verdict = self._guarded_hook(m, owned, r, "pluginhost_health", self.timeouts.health)
                judge_health(verdict, m.name)

    def undo(self, members: Sequence[Member], applied: Switch | None) -> list[str]:
        """Put the old versions back exactly and drop every trace of the new ones.

        :returns: what could not be cleaned up, as text (a failing deactivate, threads or
            handlers of the new versions); modules still referenced are told by the reaper.
        """
        if applied is not None:
            applied.undo()
        crash_point("while_undoing", members[0].candidate.version_text)
        problems: list[str] = []
        for m in reversed(members):
            if m.activated and m.registrations is not None:
                # Only the entry points whose activate ran through; no local keeps them, or
                # the purge below would find the new version's modules still referenced.
                errors, effects = deactivate(
                    m.registrations[: m.activated],
                    m.top_level,
                    host=self.host,
                    timeout=self.timeouts.activate,
                )
                problems += errors
                m.effects += effects
            stop_workers(m.registrations or ())  # a process plugin's, when not deactivated
            m.registrations = None
            if not m.imported:
                # Its names were never served by us: they may well be the host's own modules.
                continue
            roots = [m.site_dir] if m.site_dir else []
            problems += left_behind(m.effects, roots)
            if m.site_dir is not None:
                self.finder.unmap(m.top_level)
            released = purge_modules(m.top_level, roots)
            self.reaper.watch(released, m.name, m.candidate.version_text, m.top_level)
        for m in members:
            if m.old is not None:
                sys.modules.update(m.stash)
                m.stash = {}
                if m.old.site_dir is not None:
                    self.finder.map(m.old.top_level, m.old.site_dir, plugin=True)
        crash_point("after_undoing", members[0].candidate.version_text)
        return problems

    def unload(self, actives: dict[PluginName, Active], name: PluginName) -> list[str]:
        """Take ``name`` out of ``actives`` and out of every hook, drain, deactivate and purge it
        (see :func:`.retirement.unload`).

        :returns: what went wrong on the way, as text; unloading itself always completes.
        """
        return unload(self, actives, name)


def _new_versions(members: Sequence[Member]) -> list[Loading]:
    """The members whose version changes: a dependent re-imported at its version is not to
    blame for a crash while its dependency's new version loads."""
    return [
        Loading.of(m.candidate)
        for m in members
        if m.old is None or m.old.candidate.key != m.candidate.key
    ]


def _drop_tracebacks(exc: BaseException | None) -> None:
    """Forget the frames of ``exc`` and of the exceptions it was raised from."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _unexpected(member: Member, exc: Exception) -> ActivationError:
    """The failure of a change that raised an error no step expected, logged with its trace.

    The trace is logged as text: a kept exception would keep the frames, and with them the
    new version's modules, that the undo is about to purge.
    """
    trace = "".join(traceback.format_exception(exc))
    logger.error("changing %s failed unexpectedly, undone:\n%s", member.name, trace)
    return ActivationError(
        f"failed unexpectedly ({type(exc).__name__}: {_cut(str(exc))})",
        plugin=member.name,
        path=str(member.candidate.origin),
        step="unexpected",
    )


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
