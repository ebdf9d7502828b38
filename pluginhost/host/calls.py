"""Calling each implementation of a hook on its own: ``host.call_each()``, ``pluginhost call``.

pluggy's relay gives one result list (or the first result) and stops at the first exception;
an operator asking "what does each plugin answer?" wants every answer, with the plugin and the
version that gave it, and an exception as one plugin's answer rather than the end of the call.
So the implementations are called one by one, in the order pluggy would call them, outside the
host's lock (like any hook call), from the list pluggy holds at the time of the call. Wrappers
(``wrapper``/``hookwrapper``) wrap the others' answers and give none of their own: they are not
called. Lifecycle hooks (``pluginhost_*``) are the host's to call and are refused.

For the control folder, :func:`answers_json` turns the answers into JSON with bounded sizes: a
result that JSON cannot encode, or too large, is sent as its ``repr`` (cut) and its type; one too
large even for that (see :mod:`pluginhost.model.extent`) as an error, measured without being
written out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import pluggy

from ..load.bounded import bounded
from ..load.guard import type_name
from ..model.answers import HookAnswer
from ..model.errors import CallError
from ..model.exception_text import describe_exception, qualified_name, safe_repr
from ..model.extent import json_extent
from ..model.status import PluginInfo

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = ["MAX_RESULT", "answers_json", "call_each", "check_call", "remote_call", "spec_of"]

#: The largest JSON text of one result sent back through the control folder; a longer one is
#: sent as a repr cut to this length.
MAX_RESULT: Final = 16 * 1024


def spec_of(pm: pluggy.PluginManager, hook: str) -> pluggy.HookCaller:
    """The hook caller of ``hook``, when the host has a spec for it that may be called so.

    :raises CallError: naming the hook, when it is a lifecycle hook, has no spec, or is
        historic.
    """
    if hook.startswith("pluginhost_"):
        raise CallError(f"{hook} is a lifecycle hook: only the host calls it", hook=hook)
    caller = getattr(pm.hook, hook, None) if hook.isidentifier() else None
    if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
        known = sorted(
            name
            for name, c in vars(pm.hook).items()
            if isinstance(c, pluggy.HookCaller) and c.spec and not name.startswith("pluginhost_")
        )
        raise CallError(
            f"the host has no hook named {hook!r} (its hooks: {', '.join(known) or 'none'})",
            hook=hook,
        )
    if caller.spec.opts.get("historic"):
        raise CallError(f"{hook} is a historic hook: it cannot be called on demand", hook=hook)
    return caller


def check_call(pm: pluggy.PluginManager, hook: str, kwargs: Mapping[str, Any]) -> pluggy.HookCaller:
    """The hook caller of ``hook``, once ``kwargs`` are found to be its spec's arguments.

    :raises CallError: when they are not, or the hook cannot be called (:func:`spec_of`).
    """
    caller = spec_of(pm, hook)
    assert caller.spec is not None
    expected = caller.spec.argnames
    missing = [a for a in expected if a not in kwargs]
    extra = sorted(set(kwargs) - set(expected))
    if missing or extra:
        wants = ", ".join(expected) or "no argument"
        wrong = "; ".join(
            [*([f"missing: {', '.join(missing)}"] if missing else []),
             *([f"not taken: {', '.join(extra)}"] if extra else [])]
        )  # fmt: skip
        raise CallError(f"{hook} takes {wants} ({wrong})", hook=hook)
    return caller


def call_each(
    pm: pluggy.PluginManager,
    plugins: Mapping[str, PluginInfo],
    hook: str,
    kwargs: Mapping[str, Any],
) -> tuple[HookAnswer, ...]:
    """Call every implementation of ``hook`` with ``kwargs``, each on its own.

    :param plugins: the host's plugins, for the version of each implementation's plugin.
    :returns: one answer per implementation, in pluggy's call order.
    :raises CallError: when the hook cannot be called (see :func:`spec_of`) or ``kwargs`` are
        not the spec's arguments.
    """
    caller = check_call(pm, hook, kwargs)
    answers = []
    for impl in reversed(caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        info = plugins.get(impl.plugin_name)
        answers.append(_answer(impl, info.version if info else "", kwargs))
    return tuple(answers)


def _answer(impl: pluggy.HookImpl, version: str, kwargs: Mapping[str, Any]) -> HookAnswer:
    try:
        result = impl.function(*[kwargs[a] for a in impl.argnames])
    except KeyboardInterrupt:
        raise  # the caller's Ctrl-C, not an answer
    except BaseException as exc:
        # One plugin's exception is its answer, whatever it is (GeneratorExit, a class of its
        # own): the others are still asked.
        error_type = qualified_name(type(exc))
        error = describe_exception(exc)
        return HookAnswer(impl.plugin_name, version, error=error, error_type=error_type)
    return HookAnswer(impl.plugin_name, version, result)


def answers_json(answers: Sequence[HookAnswer]) -> list[dict[str, Any]]:
    """The answers as JSON values, each result bounded to :data:`MAX_RESULT` characters.

    A result is ``{"result": value}`` when JSON encodes it, else ``{"result": None, "repr":
    text, "type": qualified name}``; one that even ``repr`` would write out past the bounds of
    :func:`~pluginhost.model.extent.json_extent` is an error (``"ok": false``, ``"error"``
    saying why, ``"error_type": null``).
    """
    return [_answer_json(a) for a in answers]


def _answer_json(answer: HookAnswer) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plugin": answer.plugin,
        "version": answer.version,
        "ok": answer.ok,
        "result": None,
        "repr": None,
        "type": type_name(answer.result),
        "error": answer.error,
        "error_type": answer.error_type,
    }
    if not answer.ok:
        data["type"] = None
        return data
    try:
        return _result_json(answer.result, data)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the result's own code (a list's __iter__, a dict's items)
        why = f"its result is not sent: reading it raised {describe_exception(exc)}"
        data.update(ok=False, type=None, error=why, error_type=qualified_name(type(exc)))
        return data


def _result_json(result: object, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``result`` as JSON, or its ``repr``, or why neither is sent."""
    text = _json_text(result)
    if text is not None and len(text) <= MAX_RESULT:
        # Decoded again: plain values, which the writer of the answer encodes without asking
        # the plugin's own types a second time.
        data["result"] = json.loads(text)
        return data
    # Measured before repr() writes it out: the encoders run in C, never letting another
    # thread in, and a result sharing its parts (forty lists, each holding the one before
    # twice) would take them forever.
    too_large = json_extent(result, as_repr=True).over
    if too_large is None:
        data["repr"] = _bounded_repr(result)
    else:
        data.update(ok=False, type=None, error=f"its result is not sent: {too_large}")
    return data


def _json_text(value: object) -> str | None:
    """``value`` as JSON, or None when JSON cannot write it or it is surely longer than
    :data:`MAX_RESULT` (measured before it is written out, which is then short)."""
    try:
        if json_extent(value, max_values=MAX_RESULT, max_characters=MAX_RESULT).over is not None:
            return None
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _bounded_repr(value: object) -> str:
    # A plugin's object whose repr fails is still an answer: safe_repr says so rather than fail.
    text = safe_repr(value)
    return text if len(text) <= MAX_RESULT else f"{text[:MAX_RESULT]}... ({len(text)} characters)"


def remote_call(host: PluginHost, request: Mapping[str, Any]) -> Callable[[], list[dict[str, Any]]]:
    """The call a control request asks for, checked, ready to run.

    It runs on a helper thread bounded by the host's health timeout, so that a plugin that
    hangs costs the control folder that long, not forever.

    :raises ValueError: when ``hook`` is not a string or ``kwargs`` not an object of names.
    :raises CallError: when the host cannot call the hook with those arguments.
    """
    hook, kwargs = request["hook"], request.get("kwargs", {})
    if not isinstance(hook, str) or not isinstance(kwargs, dict):
        raise ValueError("'hook' must be a string and 'kwargs' an object")
    check_call(host.plugin_manager, hook, kwargs)  # refused now, before a thread is taken

    def call() -> list[dict[str, Any]]:
        # Written out on the helper thread too: an answer's repr() is the plugin's code.
        return answers_json(host.call_each(hook, **kwargs))

    def run() -> list[dict[str, Any]]:
        return bounded(
            call,
            host.settings.timeouts.health,
            plugin="",  # every plugin implementing the hook: the error names none
            step=f"call of {hook}",
        )

    return run
