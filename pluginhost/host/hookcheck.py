"""Hooks that no spec knows: the warnings of ``unknown_hooks="warn"``.

With ``"refuse"`` such a plugin never loads (its transition fails at the register step, see
:class:`~pluginhost.swap.transition.Transition`); with ``"warn"`` it loads, and this module
names the hooks: one ``unknown_hooks`` event when a version of it starts serving, and a problem
for as long as it serves. As with pluggy's ``check_pending``, the answer is the plugin manager's
as it is now: a spec the host adds later makes the warning go at the next change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

import pluggy

from ..model.candidate import CandidateKey
from ..model.events import Event, EventKind
from ..model.names import PluginName
from ..model.problems import Problem, ProblemKind
from ..swap.hooks import unknown_hooks, unknown_text
from ..swap.members import Active

__all__ = ["HookCheck"]

_SERVING = frozenset({EventKind.LOADED, EventKind.UPDATED, EventKind.ROLLED_BACK})


class HookCheck:
    """Finds, and remembers per version, the hooks of active plugins that no spec knows.

    :param pm: the host's plugin manager.
    :param actives: the active plugins now (the engine's ledger).
    :param emit: delivers the warnings to the host's subscribers.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        actives: Callable[[], Mapping[PluginName, Active]],
        emit: Callable[[Event], None],
    ) -> None:
        self.pm: Final = pm
        self._actives = actives
        self._emit = emit
        # Per version: the hooks the answer was found with (a spec added since makes it
        # stale), and the answer.
        self._seen: dict[CandidateKey, tuple[tuple[int, int], tuple[str, ...]]] = {}
        self._problems: dict[PluginName, Problem] = {}
        # The hooks when a change was last settled (the specs given at the start counted).
        self._settled = self._hooks_now(count_specs=True)

    def unknown(self, active: Active, hooks: tuple[int, int] | None = None) -> tuple[str, ...]:
        """The hooks ``active`` implements that no spec knows (empty when none).

        :param hooks: the hooks as :meth:`problems` found them (else :meth:`_hooks_now`).
        """
        hooks = hooks or self._hooks_now()
        key = active.candidate.key
        seen = self._seen.get(key)
        if seen is None or seen[0] != hooks:
            seen = (hooks, unknown_hooks(self.pm, active.registrations))
            self._seen[key] = seen
        return seen[1]

    def _hooks_now(self, *, count_specs: bool = False) -> tuple[int, int]:
        """The number of hook callers, and of those with a spec: a spec added changes one (a
        plugin implementing a hook no spec knows made its caller without one).

        The specs are counted only when ``count_specs`` (once a change is settled): counting
        them at each of a start's hundreds of publications cost 8 us each with 100 hooks.
        Otherwise the count of the last settled change stands.
        """
        callers = vars(self.pm.hook).values()
        if not count_specs:
            return len(callers), self._settled[1]
        return len(callers), sum(getattr(c, "spec", None) is not None for c in callers)

    def problems(
        self, changed: Iterable[PluginName] | None = None, *, settled: bool = False
    ) -> tuple[Problem, ...]:
        """A problem for each active plugin with hooks no spec knows.

        :param changed: the only plugins that may have changed since the last call (a start
            publishes once per plugin loaded: looking at every plugin each time would cost the
            square of their number); ``None`` to look at every one.
        :param settled: a change is over: every plugin is looked at if the hooks are others
            than at the last such call (a spec added may answer a plugin that did not change).
        """
        actives, now = self._actives(), self._hooks_now(count_specs=settled)
        if settled and now != self._settled:
            changed, self._settled = None, now
        for name in actives if changed is None else changed:
            active = actives.get(name)
            hooks = self.unknown(active, now) if active is not None else ()
            if hooks and active is not None:
                version = active.candidate.version_text
                text = f"{name} {version} {unknown_text(hooks)} (it loaded: a typo?)"
                problem = Problem(ProblemKind.UNKNOWN_HOOKS, name, text, version=version)
                self._problems[name] = problem
            else:
                self._problems.pop(name, None)
        if changed is None or len(self._seen) > 2 * len(actives) + 8:
            # Versions and plugins no longer active are forgotten, so the memory stays the
            # size of the active set (a change names the plugins it took out).
            keys = {a.candidate.key for a in actives.values()}
            self._seen = {k: v for k, v in self._seen.items() if k in keys}
            self._problems = {n: p for n, p in self._problems.items() if n in actives}
        return tuple(self._problems.values())

    def after(self, event: Event) -> None:
        """An event subscriber: after an event telling of a version that started serving with
        hooks no spec knows, emit the ``unknown_hooks`` event that names them."""
        if event.kind not in _SERVING or event.plugin is None:
            return
        active = self._actives().get(PluginName(event.plugin))
        if active is None or active.candidate.version_text != event.version:
            return
        hooks = self.unknown(active)
        if not hooks:
            return
        self._emit(
            Event(
                EventKind.UNKNOWN_HOOKS,
                event.plugin,
                version=event.version,
                origin=event.origin,
                error=unknown_text(hooks),
            )
        )
