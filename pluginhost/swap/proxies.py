"""Proxy hook implementations: what the host's plugin manager registers for a process plugin.

Nothing of a process plugin is imported into the host. Its worker describes the plugin's hook
implementations (:class:`~pluginhost.proc.HookDescription`), and each entry point becomes one
:class:`ProcessProxy` whose attributes are functions named as the plugin's, taking the plugin's
own argument names, and marked with the host's project and the plugin's hookimpl options
(``tryfirst``, ``trylast``, ``optionalhook``, ``specname``). The manager (the host's, or an
application's own) collects and validates them as it does any plugin: pluggy reads argument
names from a function's signature, which is why each is a real function, compiled from source,
rather than a ``*args`` wrapper.

Each function hands its arguments, by name, to a ``forward`` callable (the plugin's
:class:`~pluginhost.swap.process.Link`), which calls the worker.
"""

from __future__ import annotations

import keyword
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import pluggy

from ..model.errors import ActivationError

__all__ = ["Forward", "HookLike", "ProcessProxy", "build_proxies", "check_description"]

#: The argument name of the forwarding callable inside each generated function: a plugin's
#: argument cannot take it (it is refused at load).
_FORWARD: Final = "_pluginhost_forward_"

#: Arguments of lifecycle hooks that are live objects of the host: they cannot cross to the
#: worker, which gets ``None`` in their place.
HOST_ONLY: Final = {"pluginhost_activate": "host", "pluginhost_deactivate": "host"}
#: The most hooks a worker may describe: far more than any plugin implements (pytest has about
#: a hundred hook specifications), and few enough that switching them in stays quick; each
#: one is a hook the host's manager gets.
MOST_HOOKS: Final = 1000
#: The most arguments a hook may take: hooks take a handful (pytest's take at most four).
#: Each one is compiled into its proxy, under the host's lock: a worker describing hooks of
#: 10,000 arguments each held it for seconds.
MOST_ARGUMENTS: Final = 256
#: The most arguments of all the hooks together: 1,000 hooks of 256 arguments took a second to
#: compile, 16,384 arguments of 128 characters about 0.1 s.
MOST_ARGUMENTS_IN_ALL: Final = 16_384
#: The longest name a hook, the hook it implements or an argument may have, in characters.
MOST_NAME: Final = 128


class HookLike(Protocol):
    """What a proxy needs of a hook implementation's description (the worker's)."""

    @property
    def name(self) -> str: ...
    @property
    def specname(self) -> str | None: ...
    @property
    def argnames(self) -> Sequence[str]: ...
    @property
    def tryfirst(self) -> bool: ...
    @property
    def trylast(self) -> bool: ...
    @property
    def optionalhook(self) -> bool: ...
    @property
    def entry_point(self) -> str: ...


#: ``forward(entry_point, hook name, kwargs)``: the call into the worker.
Forward = Callable[[str, str, Mapping[str, Any]], Any]


class ProcessProxy:
    """One entry point of a process plugin, as the host's plugin manager sees it.

    :param plugin: the plugin's name, for ``repr`` and errors.
    :param entry_point: the entry point's name.
    :param link: the object that carries calls to the worker (kept for the host: status,
        supervision, stopping the worker when the version is retired).
    """

    def __init__(self, plugin: str, entry_point: str, link: object) -> None:
        self._pluginhost_plugin = plugin
        self._pluginhost_entry_point = entry_point
        self._pluginhost_link = link

    @property
    def pluginhost_link(self) -> object:
        """The link to the worker that serves this proxy."""
        return self._pluginhost_link

    def __repr__(self) -> str:
        return f"<process plugin {self._pluginhost_plugin} ({self._pluginhost_entry_point})>"


def build_proxies(
    plugin: str,
    project: str,
    entry_points: Sequence[str],
    hooks: Sequence[HookLike],
    forward: Forward,
    link: object,
) -> tuple[ProcessProxy, ...]:
    """One proxy per entry point, in order, carrying the hooks the worker found on it.

    :param plugin: the plugin's name, for errors.
    :param project: the host's pluggy project: the functions carry its hookimpl marker.
    :param entry_points: the distribution's entry points in the host's group, in order.
    :param hooks: what the worker found.
    :param forward: how a call reaches the worker.
    :param link: kept on each proxy (see :class:`ProcessProxy`).
    :raises ActivationError: at ``register``, before any function is made, when the
        description is past a cap (:func:`check_description`) or a hook names an unknown entry
        point or one of the proxy's own attributes.
    """
    check_description(plugin, hooks)
    marker = pluggy.HookimplMarker(project)
    proxies = {ep: ProcessProxy(plugin, ep, link) for ep in entry_points}
    for hook in hooks:
        proxy = proxies.get(hook.entry_point)
        if proxy is None:
            reason = f"its worker named an unknown entry point {hook.entry_point!r}"
            raise ActivationError(reason, plugin=plugin, step="register")
        if hasattr(proxy, hook.name):
            # Set, it would replace what the proxy holds (its link to the worker, its repr)
            # or a hook already set: a plugin of any hook name must not reach the host's own.
            reason = f"hook {hook.name!r} has a name the host's proxy of the plugin uses"
            raise ActivationError(reason, plugin=plugin, step="register")
        function = _function(plugin, hook, forward)
        marked = marker(
            tryfirst=hook.tryfirst,
            trylast=hook.trylast,
            optionalhook=hook.optionalhook,
            specname=hook.specname,
        )(function)
        setattr(proxy, hook.name, marked)
    return tuple(proxies[ep] for ep in entry_points)


def check_description(plugin: str, hooks: Sequence[HookLike]) -> None:
    """Refuse a description that no proxy should be compiled from: more than
    :data:`MOST_HOOKS` hooks, :data:`MOST_ARGUMENTS` arguments to a hook or
    :data:`MOST_ARGUMENTS_IN_ALL` in all, a name longer than :data:`MOST_NAME` or one a function
    cannot take, an argument named twice. Every hook is checked before any is compiled, and the
    counts before any name: a refusal takes the host no longer than a count.

    :raises ActivationError: at ``register``, naming ``plugin`` and the reason.
    """
    arguments = sum(len(hook.argnames) for hook in hooks)
    reason = None
    if len(hooks) > MOST_HOOKS:
        reason = f"its worker described {len(hooks)} hooks, more than {MOST_HOOKS}"
    elif arguments > MOST_ARGUMENTS_IN_ALL:
        reason = (
            f"its worker described {arguments:,} arguments in all, more than"
            f" {MOST_ARGUMENTS_IN_ALL:,}"
        )
    for hook in hooks if reason is None else ():
        reason = _refused_hook(hook)
        if reason is not None:
            break
    if reason is not None:
        raise ActivationError(reason, plugin=plugin, step="register")


def _refused_hook(hook: HookLike) -> str | None:
    """Why no proxy function can be made of ``hook``; None when one can."""
    shown = hook.name if len(hook.name) <= MOST_NAME else f"{hook.name[:MOST_NAME]}..."
    if len(hook.argnames) > MOST_ARGUMENTS:
        return f"hook {shown!r} takes {len(hook.argnames):,} arguments, more than {MOST_ARGUMENTS}"
    names = [hook.name, *([hook.specname] if hook.specname else []), *hook.argnames]
    for name in names:
        if len(name) > MOST_NAME:
            return (
                f"hook {shown!r} has a name of {len(name):,} characters, more than {MOST_NAME}:"
                f" {name[:MOST_NAME]!r}..."
            )
        # Python reads identifiers in NFKC form: "\ufb01" and "fi" would be one argument.
        normal = unicodedata.normalize("NFKC", name) == name
        if not name.isidentifier() or keyword.iskeyword(name) or name == _FORWARD or not normal:
            return f"hook {shown!r} has a name a function cannot take: {name!r}"
    if len(set(hook.argnames)) != len(hook.argnames):
        return f"hook {shown!r} names an argument twice"
    return None


def _function(plugin: str, hook: HookLike, forward: Forward) -> Callable[..., Any]:
    """A function named ``hook.name`` taking ``hook.argnames`` that forwards them by name
    (the names passed :func:`check_description`)."""
    called = hook.specname or hook.name  # the worker finds an implementation by its hook
    local = HOST_ONLY.get(called)
    items = ", ".join(f"{a!r}: {'None' if a == local else a}" for a in hook.argnames)
    # Only identifiers checked before, and string literals, reach the source: nothing the
    # worker sends runs.
    source = (
        f"def make({_FORWARD}):\n"
        f"    def {hook.name}({', '.join(hook.argnames)}):\n"
        f"        return {_FORWARD}({hook.entry_point!r}, {called!r}, {{{items}}})\n"
        f"    return {hook.name}\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<process plugin {plugin}>", "exec"), namespace)
    made: Callable[..., Any] = namespace["make"](forward)
    return made
