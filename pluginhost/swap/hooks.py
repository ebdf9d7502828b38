"""Calling one lifecycle hook of one plugin, registered or not, outside pluggy's broadcast.

A plugin of several entry points has its lifecycle hooks called on each entry point's object
that implements them, in the order the distribution declares them (deactivate in reverse);
its state goes across by entry-point name (:func:`unit_state`, :func:`state_of`).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pluggy

from hookspecs.lifecycle import HOOK_NAMES

from ..load.bounded import bounded
from ..load.guard import type_name
from ..model.errors import ActivationError
from ..model.extent import json_extent
from ..model.names import PluginName
from ..state.store import canonical
from .bookkeeping import announcer
from .switch import Implementations

logger = logging.getLogger(__name__)

__all__ = [
    "bounded_hook",
    "call_hook",
    "export_state",
    "implements",
    "json_state",
    "judge_health",
    "lifecycle_faults",
    "saved_state",
    "state_of",
    "unit_state",
    "unknown_hooks",
    "unknown_text",
]


def unknown_hooks(
    pm: pluggy.PluginManager, registrations: Sequence[Implementations]
) -> tuple[str, ...]:
    """The hooks a plugin (each of its entry points) implements that no spec of ``pm`` knows,
    as pluggy's ``check_pending`` finds them: an ``optionalhook`` is exempt, and a spec added
    to ``pm`` since the plugin loaded counts. A plugin with no hook implementation at all gets
    ``("(none)",)``: it can answer nothing; unless ``pm`` announces each plugin registered
    (:func:`~.bookkeeping.announcer`), whose listeners use more of a plugin than its hooks:
    pytest's fixture manager collects the fixtures of a plugin that has nothing else
    (pytest-datadir, pytest-tmpfs).
    """
    pairs = [pair for r in registrations for pair in r.impls]
    if not pairs:
        return () if announcer(pm) is not None else ("(none)",)
    unknown = []
    for name, impl in pairs:
        caller = getattr(pm.hook, name, None)
        known = isinstance(caller, pluggy.HookCaller) and caller.has_spec()
        if not known and not impl.optionalhook:
            unknown.append(name)
    return tuple(sorted(set(unknown)))


def unknown_text(hooks: tuple[str, ...]) -> str:
    """Why ``hooks`` (from :func:`unknown_hooks`) are worth a word, as one clause."""
    if hooks == ("(none)",):
        return "implements no hook at all"
    return f"implements hooks that no spec of the host knows: {', '.join(hooks)}"


def lifecycle_faults(impls: Implementations) -> list[str]:
    """Why the lifecycle hooks of one entry point's object cannot run as :func:`call_hook`
    calls them, one clause each: alone (not a wrapper around other implementations), at once
    (not a coroutine or a generator, whose body a call does not run) and once per object (not
    two functions under one hook name, through ``specname``). Each of these was skipped
    without a word: an ``activate`` or ``import_state`` that never ran, a state never handed
    over."""
    faults = []
    seen: dict[str, str] = {}
    for hook, impl in impls.impls:
        if hook not in HOOK_NAMES:
            continue
        function = impl.function
        name = getattr(function, "__name__", hook)
        if hook in seen:
            faults.append(f"implements {hook} twice ({seen[hook]} and {name})")
        seen.setdefault(hook, name)
        if impl.hookwrapper or impl.wrapper:
            faults.append(f"{hook} is a hook wrapper: a lifecycle hook is called alone")
        elif inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            faults.append(f"{hook} is async: a lifecycle hook is called, never awaited")
        elif inspect.isgeneratorfunction(function):
            faults.append(f"{hook} is a generator function: calling it would not run its body")
    return faults


def implements(impls: Implementations, hook: str) -> bool:
    """Whether the plugin of ``impls`` implements ``hook``."""
    return any(name == hook for name, _ in impls.impls)


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
    if not implements(impls, hook):
        return None
    call = functools.partial(call_hook, impls, hook, **kwargs)
    return bounded(call, timeout, plugin=impls.name, step=step)


def unit_state(states: Mapping[str, object], count: int) -> object:
    """The state a plugin hands over or saves, from what its entry points exported.

    A plugin of one entry point hands over that one's state as it is, as before plugins could
    have several; a plugin of several hands over ``{entry-point name: state}`` of those that
    implement ``pluginhost_export_state`` (``None`` when none does).

    :param states: the exported states, by entry-point name.
    :param count: how many entry points the plugin has.
    """
    if count == 1:
        return next(iter(states.values()), None)
    return dict(states) or None


def state_of(saved: object, name: str, count: int) -> object:
    """The part of ``saved`` (see :func:`unit_state`) that the entry point ``name`` imports.

    :param count: how many entry points the new version has.
    """
    if count == 1:
        return saved
    return saved.get(name) if isinstance(saved, dict) else None


def export_state(registrations: Sequence[Implementations]) -> object:
    """A plugin's state, exported by each of its entry points that implements the hook, in the
    calling thread (see :func:`unit_state`)."""
    states = {
        r.name: call_hook(r, "pluginhost_export_state")
        for r in registrations
        if implements(r, "pluginhost_export_state")
    }
    return unit_state(states, len(registrations))


#: The deepest nesting of lists and objects a saved state may have. The registry holding it is
#: encoded and decoded by recursive code on the host's threads, whose stacks are deeper than the
#: export's helper's: a state a few levels short of the export's limit (983 deep) was saved, and
#: then failed the commit, or was written into both copies of the registry where no start could
#: read it back.
STATE_MAX_DEPTH: Final = 100


def json_state(registrations: Sequence[Implementations]) -> object:
    """A plugin's exported state (:func:`export_state`) as the registry will hold it: encoded
    here (in the bounded step that exports it) as the registry encodes it, and decoded again,
    so that one plugin's odd state never fails the commit of the whole registry.

    The copy is the host's: the plugin's own object (a dict it goes on changing, a subclass
    whose ``items()`` blocks, keys that JSON writes but cannot sort, ``{1: "a", "b": 2}``)
    is never encoded again at a commit, on the host's thread.

    :raises TypeError, ValueError, RecursionError: when the state is not JSON, is nested deeper
        than :data:`STATE_MAX_DEPTH`, or would pass the bounds of
        :func:`~pluginhost.model.extent.json_extent` once written out.
    """
    state = export_state(registrations)
    # Measured first: a state sharing its parts (forty lists, each holding the one before
    # twice) is 2**40 lists as text, and the encoder writing it never lets the step's timeout
    # fire.
    extent = json_extent(state)
    if extent.over is not None:
        raise ValueError(f"the state cannot be saved: {extent.over}")
    if extent.depth > STATE_MAX_DEPTH:
        raise ValueError(f"the state is nested more than {STATE_MAX_DEPTH} levels deep")
    return json.loads(canonical(state))


def saved_state(
    registrations: Sequence[Implementations], version: str, *, plugin: PluginName, timeout: float
) -> dict[str, Any] | None:
    """The registry's entry for the state a plugin exports now (:func:`json_state`), with the
    version that exported it; ``None`` when it exports none, or the export failed (logged).

    Bounded like every other run of plugin code: a state export that hangs or raises
    SystemExit must not take the commit, and the host's lock, with it.
    """
    try:
        value = bounded(
            functools.partial(json_state, registrations),
            timeout,
            plugin=plugin,
            step="export_state",
        )
    except ActivationError as exc:
        logger.warning("plugin %s: state not saved: %s", plugin, exc.reason)
        return None
    return None if value is None else {"version": version, "value": value}


def judge_health(verdict: object, plugin: PluginName) -> None:
    """Refuse a ``pluginhost_health`` verdict other than True or None.

    :raises ActivationError: at ``health``.
    """
    if verdict is False:
        raise ActivationError("health check returned False", plugin=plugin, step="health")
    if verdict is not None and verdict is not True:
        # Only True, False and None have a meaning; anything else (a string, a generator
        # never run, an object whose truth is unknown) is a broken check.
        raise ActivationError(
            f"health check returned a {type_name(verdict)}, not True, False or None",
            plugin=plugin,
            step="health",
        )
